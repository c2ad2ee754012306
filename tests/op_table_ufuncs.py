"""Op-table entries for every NumPy ufunc, its methods (reduce, accumulate, outer) and its keyword arguments (dtype=).

Each entry is one ``sample(...)`` (or ``error(...)``) call, as in :mod:`tests.op_table`.
"""

from __future__ import annotations

from tests.op_table import error, sample  # noqa: F401
