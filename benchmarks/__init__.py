"""Benchmarks: python -m benchmarks (model zoo), python -m benchmarks.archive (save/load)."""
