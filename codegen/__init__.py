"""Lowering the IR to numba (not part of this release yet)."""
