"""Benchmarks: ``python -m benchmarks`` (the model zoo on every backend, see ``benchmarks.run``),
``python -m benchmarks.archive`` (save/load), ``python -m benchmarks.accuracy`` (float32 exp/tanh/erf)."""
