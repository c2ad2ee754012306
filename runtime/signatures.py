"""Signatures of the numba backend's calls: which compiled plan a call's arguments select.

A plan is made for the arguments' dtypes and shapes (``runtime.compiled``); Python scalars
select a plan by their kind only, never their value (a loop counter changes every call), and a
NumPy scalar is told apart from a 0-d array (operations keep one a scalar).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ir import ScalarType, Type, type_of

__all__ = ["signature_key"]


def signature_key(types: Sequence[Type]) -> tuple:
    """The cache key of a list of concrete input types."""
    return tuple(str(t) if not hasattr(t, "dtype") else (t.dtype.str if t.dtype is not None else None, t.shape)
                 for t in types)


def _dynamic(t: Type) -> Type:
    """``t`` without a known value: plans must not bake in Python scalars passed as arguments
    (a loop counter changes every iteration)."""
    return ScalarType(t.kind) if isinstance(t, ScalarType) else t


_PY_KEYS = {int: "int", float: "float", bool: "bool", type(None): "none"}


def _value_key(v: Any) -> Any:
    py = _PY_KEYS.get(type(v))
    if py is not None:
        return py
    if isinstance(v, np.ndarray):
        return (v.dtype.str, v.shape)
    if isinstance(v, np.generic):  # a NumPy scalar: ops such as astype keep it a scalar (a 0-d array stays one)
        return (v.dtype.str, (), "scalar")
    return str(type_of(v))


def _fast_key(args: Sequence[Any]) -> tuple | None:
    """A key that determines ``_value_key`` of each argument (dtype objects, not their names:
    ``dtype.str`` builds a string), or None for an argument other than an array or a Python scalar."""
    key = []
    for a in args:
        t = type(a)
        if t is np.ndarray:
            key.append((a.dtype, a.shape))
        else:
            py = _PY_KEYS.get(t)
            if py is None:
                return None
            key.append(py)
    return tuple(key)
