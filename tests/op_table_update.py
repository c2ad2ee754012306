"""Op-table entries for item assignment and in-place operators (the functional update op), guards, scalar constructors.

Each entry is one ``sample(...)`` (or ``error(...)``) call, as in :mod:`tests.op_table`.
"""

from __future__ import annotations

from tests.op_table import error, sample  # noqa: F401
