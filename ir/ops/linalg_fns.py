"""``np.linalg`` functions: ``norm``, ``inv``, ``solve``, ``det``, each an op whose reference is
the NumPy function (LAPACK through NumPy), so the interpreter gives NumPy's bits."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..types import TensorType
from .reduce import _reduced_shape
from .registry import OpKind, defop
from .rules import broadcast_shapes

__all__ = ["norm", "inv", "solve", "det"]

L = OpKind.LINALG


def _stand_in(t: TensorType, square: bool = False) -> np.ndarray:
    """A small array of ``t``'s dtype and rank (the last two dims 1 when ``square``)."""
    if t.dtype is None or t.shape is None:
        raise _Unknown
    return np.ones((1,) * len(t.shape), dtype=t.dtype) if not square else np.eye(1, dtype=t.dtype).reshape(
        (1,) * len(t.shape))


class _Unknown(Exception):
    pass


def _dtype(fn: Any, *stand_ins: Any) -> np.dtype | None:
    try:
        with np.errstate(all="ignore"):
            return np.result_type(fn(*(s() for s in stand_ins)))
    except _Unknown:
        return None


def _matrix(t: Any, name: str) -> TensorType:
    if not isinstance(t, TensorType):
        raise TypeError(f"linalg.{name} needs an array argument")
    if t.shape is not None:
        if len(t.shape) < 2:
            raise ValueError(f"linalg.{name}: {len(t.shape)}-dimensional array given; it needs at least 2 dimensions")
        m, n = t.shape[-2:]
        if isinstance(m, int) and isinstance(n, int) and m != n:
            raise ValueError(f"linalg.{name}: last 2 dimensions of the array must be square, got {m}x{n}")
    return t


def _norm_rule(x, ord=None, axis=None, keepdims=False):
    if not isinstance(x, TensorType):
        raise TypeError("linalg.norm needs an array argument")
    # NumPy computes in the input's float dtype, converting other dtypes to float64 first
    dtype = None if x.dtype is None else (x.dtype if x.dtype.kind == "f" else np.dtype(np.float64))
    if x.shape is None:
        return TensorType(dtype, None)
    rank = len(x.shape)
    n_axes = rank if axis is None else (len(axis) if isinstance(axis, tuple) else 1)
    if (axis is None and ord is not None and rank > 2) or n_axes > 2:
        raise ValueError("linalg.norm: improper number of dimensions to norm")
    return TensorType(dtype, _reduced_shape(x, axis, keepdims))


@defop("norm", L, infer=_norm_rule, numpy=np.linalg.norm, spelling="np.linalg.norm")
def norm(x, ord=None, axis=None, keepdims=False):
    """``np.linalg.norm(x, ord, axis, keepdims)``: vector or matrix norms."""
    return np.linalg.norm(x, ord=ord, axis=axis, keepdims=keepdims)


def _inv_rule(a):
    t = _matrix(a, "inv")
    return TensorType(_dtype(np.linalg.inv, lambda: _stand_in(t, square=True)), t.shape)


@defop("inv", L, infer=_inv_rule, numpy=np.linalg.inv, spelling="np.linalg.inv")
def inv(a):
    """``np.linalg.inv(a)``: the inverse of each square matrix in the last two axes."""
    return np.linalg.inv(a)


def _det_rule(a):
    t = _matrix(a, "det")
    shape = None if t.shape is None else t.shape[:-2]
    return TensorType(_dtype(np.linalg.det, lambda: _stand_in(t, square=True)), shape)


@defop("det", L, infer=_det_rule, numpy=np.linalg.det, spelling="np.linalg.det")
def det(a):
    """``np.linalg.det(a)``: the determinant of each square matrix in the last two axes."""
    return np.linalg.det(a)


def _solve_rule(a, b):
    ta = _matrix(a, "solve")
    if not isinstance(b, TensorType):
        raise TypeError("linalg.solve needs an array right-hand side")
    dtype = None
    if ta.dtype is not None and b.dtype is not None:
        dtype = np.result_type(np.linalg.solve(np.ones((1, 1), ta.dtype), np.ones(1, b.dtype)))
    if ta.shape is None or b.shape is None:
        return TensorType(dtype, None)
    m = ta.shape[-1]
    if len(b.shape) == 1:  # NumPy 2: a 1-d b is one vector
        if isinstance(m, int) and isinstance(b.shape[0], int) and m != b.shape[0]:
            raise ValueError(f"linalg.solve: sizes differ ({m} vs {b.shape[0]})")
        return TensorType(dtype, (*ta.shape[:-2], m))
    if len(b.shape) < 2:
        raise ValueError("linalg.solve: b must be 1-d or at least 2-d")
    k = b.shape[-2]
    if isinstance(m, int) and isinstance(k, int) and m != k:
        raise ValueError(f"linalg.solve: sizes differ ({m} vs {k})")
    return TensorType(dtype, (*broadcast_shapes(ta.shape[:-2], b.shape[:-2]), m, b.shape[-1]))


@defop("solve", L, infer=_solve_rule, numpy=np.linalg.solve, spelling="np.linalg.solve")
def solve(a, b):
    """``np.linalg.solve(a, b)``: ``x`` with ``a @ x == b`` (``b`` 1-d: one vector)."""
    return np.linalg.solve(a, b)
