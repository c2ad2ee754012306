"""Reductions with ``axis`` and ``keepdims``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..types import TensorType
from .registry import OpKind, defop
from .rules import dtype_by_example, normalize_axis

R = OpKind.REDUCE


def _reduced_shape(t: TensorType, axis: Any, keepdims: bool) -> tuple | None:
    if t.shape is None:
        return None
    rank = len(t.shape)
    if axis is None:
        axes = set(range(rank))
    else:
        axes = {normalize_axis(a, rank) for a in (axis if isinstance(axis, tuple) else (axis,))}
    if keepdims:
        return tuple(1 if i in axes else d for i, d in enumerate(t.shape))
    return tuple(d for i, d in enumerate(t.shape) if i not in axes)


def _reduce_rule(impl: Callable[..., Any]) -> Callable[..., TensorType]:
    def rule(a, axis=None, keepdims=False, **kwargs):
        if not isinstance(a, TensorType):
            raise TypeError("reductions need an array argument")
        # dtype by example on a rank-1 stand-in reduced over its only axis (``impl`` itself, not a
        # lambda made per call: dtype_by_example remembers its answer)
        dtype = dtype_by_example(impl, a, axis=0, **kwargs)
        return TensorType(dtype, _reduced_shape(a, axis, keepdims))

    return rule


def _def_reduction(name: str, np_fn: Callable[..., Any], aliases: tuple = (), *, ddof: bool = False,
                   dtype: bool = True) -> None:
    if ddof:
        def impl(a, axis=None, dtype=None, keepdims=False, ddof=0):
            return np_fn(a, axis=axis, dtype=dtype, keepdims=keepdims, ddof=ddof)
    elif dtype:
        def impl(a, axis=None, dtype=None, keepdims=False):
            return np_fn(a, axis=axis, dtype=dtype, keepdims=keepdims)
    else:
        def impl(a, axis=None, keepdims=False):
            return np_fn(a, axis=axis, keepdims=keepdims)
    impl.__name__ = name
    impl.__doc__ = f"``np.{np_fn.__name__}`` over ``axis`` (an int, a tuple or ``None``)."
    defop(name, R, infer=_reduce_rule(impl), numpy=(np_fn, *aliases), methods=name)(impl)


_def_reduction("sum", np.sum)
_def_reduction("prod", np.prod)
_def_reduction("mean", np.mean)
_def_reduction("var", np.var, ddof=True)
_def_reduction("std", np.std, ddof=True)
_def_reduction("max", np.max, (np.amax,), dtype=False)
_def_reduction("min", np.min, (np.amin,), dtype=False)
_def_reduction("any", np.any, dtype=False)
_def_reduction("all", np.all, dtype=False)


def _arg_rule(a, axis=None, keepdims=False):
    if not isinstance(a, TensorType):
        raise TypeError("argmax/argmin need an array argument")
    return TensorType(np.dtype(np.intp), _reduced_shape(a, axis, keepdims))


@defop("argmax", R, infer=_arg_rule, numpy=np.argmax, methods="argmax")
def argmax(a, axis=None, keepdims=False):
    """Index of the largest element along ``axis`` (flattened when ``None``)."""
    return np.argmax(a, axis=axis, keepdims=keepdims)


@defop("argmin", R, infer=_arg_rule, numpy=np.argmin, methods="argmin")
def argmin(a, axis=None, keepdims=False):
    """Index of the smallest element along ``axis`` (flattened when ``None``)."""
    return np.argmin(a, axis=axis, keepdims=keepdims)
