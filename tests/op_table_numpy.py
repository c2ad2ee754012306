"""Op-table entries for NumPy functions outside the ufuncs: stacking, padding, tiling,
triangles, products, scans, sorting, linalg (decompositions and their primitives).

Each entry is one ``sample(...)`` (or ``error(...)``) call, as in :mod:`tests.op_table`.
"""

from __future__ import annotations

from tests.op_table import error, sample  # noqa: F401
