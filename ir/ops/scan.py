"""Scans, sorting and rounding: ops whose reference is the NumPy function itself.

``np.cumsum``/``np.cumprod`` (``axis=None`` flattens), ``np.sort``/``np.argsort`` (``kind``,
``stable``) and ``np.round``/``np.around`` (``decimals``).  Their results depend on the order
NumPy computes in, so they are primitives rather than decompositions.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..types import TensorType
from .registry import OpKind, defop
from .rules import dtype_by_example, normalize_axis, prod

__all__ = ["cumsum", "cumprod", "sort", "argsort", "round_"]

R = OpKind.REDUCE


def _tensor(t: Any, name: str) -> TensorType:
    if not isinstance(t, TensorType):
        raise TypeError(f"{name} needs an array argument")
    return t


def _along(t: TensorType, axis: Any) -> tuple | None:
    """The result shape of an op along ``axis`` that keeps sizes (``None``: flattened first)."""
    if t.shape is None:
        return None
    if axis is None:
        return (prod(t.shape),)
    if not isinstance(axis, int):
        raise TypeError(f"axis must be an int or None, got {axis!r}")
    normalize_axis(axis, max(len(t.shape), 1))
    return t.shape


def _scan_rule(impl: Callable[..., Any], name: str) -> Callable[..., TensorType]:
    def rule(a, axis=None, dtype=None):
        t = _tensor(a, name)
        return TensorType(dtype_by_example(lambda x: impl(x, axis=0, dtype=dtype), t), _along(t, axis))

    return rule


@defop("cumsum", R, infer=_scan_rule(np.cumsum, "cumsum"), numpy=np.cumsum, methods="cumsum")
def cumsum(a, axis=None, dtype=None):
    """``np.cumsum(a, axis, dtype)``: running sums along ``axis`` (of the flattened array for ``None``)."""
    return np.cumsum(a, axis=axis, dtype=dtype)


@defop("cumprod", R, infer=_scan_rule(np.cumprod, "cumprod"), numpy=np.cumprod, methods="cumprod")
def cumprod(a, axis=None, dtype=None):
    """``np.cumprod(a, axis, dtype)``: running products along ``axis`` (flattened for ``None``)."""
    return np.cumprod(a, axis=axis, dtype=dtype)


def _sort_rule(result_dtype: Callable[[TensorType], Any], name: str) -> Callable[..., TensorType]:
    def rule(a, axis=-1, kind=None, order=None, stable=None):
        t = _tensor(a, name)
        if order is not None:
            raise TypeError(f"{name}(order=...) sorts structured arrays, which programs do not hold")
        if t.shape is not None and len(t.shape) == 0 and axis is not None:
            raise ValueError(f"{name}: axis {axis} is out of bounds for a 0-d array")
        return TensorType(result_dtype(t), _along(t, axis))

    return rule


@defop("sort", R, infer=_sort_rule(lambda t: t.dtype, "sort"), numpy=np.sort)
def sort(a, axis=-1, kind=None, order=None, stable=None):
    """``np.sort(a, axis, kind, stable=stable)``: a sorted copy (flattened first for ``axis=None``)."""
    return np.sort(a, axis=axis, kind=kind, order=order, stable=stable)


@defop("argsort", R, infer=_sort_rule(lambda t: np.dtype(np.intp), "argsort"), numpy=np.argsort,
       methods="argsort")
def argsort(a, axis=-1, kind=None, order=None, stable=None):
    """``np.argsort(a, axis, kind, stable=stable)``: the indices that sort ``a`` along ``axis``."""
    return np.argsort(a, axis=axis, kind=kind, order=order, stable=stable)


def _round_rule(a, decimals=0):
    t = _tensor(a, "round")
    if not isinstance(decimals, int) or isinstance(decimals, bool):
        raise TypeError(f"round: decimals must be an int literal, got {decimals!r}")
    return TensorType(dtype_by_example(lambda x: np.round(x, decimals), t), t.shape)


@defop("round", OpKind.ELEMENTWISE, infer=_round_rule, numpy=(np.round, np.around), methods="round")
def round_(a, decimals=0):
    """``np.round(a, decimals)``: half to even, at ``decimals`` digits (negative: left of the point)."""
    return np.round(a, decimals=decimals)
