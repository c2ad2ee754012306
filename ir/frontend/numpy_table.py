"""The frontend's view of NumPy: a closed table of what ``np.<path>`` may name in a program.

The table is the NumPy functions that registered ops and decompositions stand for
(:func:`ir.ops.numpy_surface`, read afresh whenever a name is missing, so ops registered later
are seen), the numeric dtypes and their abstract classes, ``np.ndarray``/``np.dtype``, the
constants ``np.newaxis``, ``np.pi``, ``np.e``, ``np.inf``, ``np.nan``, and ``np.shape``/``np.ndim``,
which the compiler evaluates itself.  A name outside it is refused; the ``numpy`` module is never
asked for a name the program chose (NumPy imports submodules lazily on attribute access, and
some names warn).
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np

from ..ops import numpy_surface

__all__ = ["NOT_ADMITTED", "NumpyNamespace", "numpy_attribute", "numpy_table"]


class _NotAdmitted:
    def __repr__(self) -> str:
        return "<not admitted>"


#: What :func:`numpy_attribute` returns for a name outside the table.
NOT_ADMITTED: Any = _NotAdmitted()

_FIXED: dict[str, Any] = {
    # dtypes and the classes programs test or cast with
    **{t.__name__: t for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8, np.uint16, np.uint32,
                               np.uint64, np.float16, np.float32, np.float64)},
    "bool": np.bool_, "double": np.float64, "single": np.float32, "half": np.float16,
    "intp": np.intp, "uintp": np.uintp,
    "generic": np.generic, "number": np.number, "integer": np.integer, "signedinteger": np.signedinteger,
    "unsignedinteger": np.unsignedinteger, "floating": np.floating, "inexact": np.inexact,
    "ndarray": np.ndarray, "dtype": np.dtype,
    # constants
    "newaxis": None, "pi": np.pi, "e": np.e, "inf": np.inf, "nan": np.nan,
    # evaluated by the compiler itself
    "shape": np.shape, "ndim": np.ndim,
}


class NumpyNamespace:
    """``np.linalg`` and other sub-namespaces of the table (never the NumPy submodule itself)."""

    __slots__ = ("prefix",)

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix

    def __repr__(self) -> str:
        return f"np.{self.prefix.rstrip('.')}"


_lock = threading.Lock()
_table: dict[str, Any] = {}


def _build() -> dict[str, Any]:
    table = dict(_FIXED)
    for path, fn in numpy_surface().items():
        parts = path.split(".")
        for i in range(1, len(parts)):
            prefix = ".".join(parts[:i])
            if not isinstance(table.get(prefix), NumpyNamespace):
                table[prefix] = NumpyNamespace(prefix + ".")
        table[path] = fn
    return table


def numpy_table() -> dict[str, Any]:
    """The whole table, path -> object (a copy; rebuilt from the registry)."""
    global _table
    with _lock:
        _table = _build()
        return dict(_table)


def _lookup(path: str) -> Any:
    global _table
    hit = _table.get(path, NOT_ADMITTED)
    if hit is NOT_ADMITTED:  # perhaps registered since the table was built
        with _lock:
            _table = _build()
        hit = _table.get(path, NOT_ADMITTED)
    return hit


def numpy_attribute(obj: Any, name: str) -> Any:
    """``obj.name`` when ``obj`` is ``np`` or a table namespace: the admitted object or
    :data:`NOT_ADMITTED`; ``NotImplemented`` when ``obj`` is neither."""
    if obj is np:
        prefix = ""
    elif isinstance(obj, NumpyNamespace):
        prefix = obj.prefix
    else:
        return NotImplemented
    if not isinstance(name, str) or name.startswith("_"):
        return NOT_ADMITTED
    return _lookup(prefix + name)


_DTYPE_NAMES = frozenset({"bool", "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
                          "float16", "float32", "float64"})


def checked_dtype(compiler: Any, args: list, kwargs: dict, node: Any) -> np.dtype:
    """``np.dtype(x)`` for one numeric dtype (a dtype, an admitted scalar type or its name)."""
    if len(args) != 1 or kwargs:
        raise compiler.error(node, "np.dtype() takes one argument here")
    (x,) = args
    ok = (isinstance(x, np.dtype) or (isinstance(x, str) and x in _DTYPE_NAMES)
          or x in (bool, int, float) or (isinstance(x, type) and x in _FIXED.values()
                                         and issubclass(x, np.generic)))
    dt = np.dtype(x) if ok else None
    if dt is None or dt.name not in _DTYPE_NAMES:
        raise compiler.error(node, f"np.dtype({str(x)[:60]}) is not a numeric dtype",
                             "use np.float32, np.int64, 'float32', ...")
    return dt
