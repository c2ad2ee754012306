"""Array creation: ``zeros ones full arange`` and their ``_like`` forms."""

from __future__ import annotations

import math

import numpy as np

from ..types import ScalarType, TensorType
from .registry import OpKind, defop
from .rules import dtype_by_example, example_of, shape_arg, static_int

C = OpKind.CREATION


def _filled_rule(shape, dtype=float):
    return TensorType(np.dtype(dtype), shape_arg(shape))


@defop("zeros", C, infer=_filled_rule, numpy=np.zeros)
def zeros(shape, dtype=float):
    """``np.zeros(shape, dtype)``."""
    return np.zeros(shape, dtype=dtype)


@defop("ones", C, infer=_filled_rule, numpy=np.ones)
def ones(shape, dtype=float):
    """``np.ones(shape, dtype)``."""
    return np.ones(shape, dtype=dtype)


def _full_rule(shape, fill_value, dtype=None):
    if dtype is None:
        dtype = np.full((), example_of(fill_value)).dtype
    return TensorType(np.dtype(dtype), shape_arg(shape))


@defop("full", C, infer=_full_rule, numpy=np.full)
def full(shape, fill_value, dtype=None):
    """``np.full(shape, fill_value, dtype)``."""
    return np.full(shape, fill_value, dtype=dtype)


def _arange_rule(start, stop=None, step=None, dtype=None):
    out_dtype = dtype_by_example(arange.impl, start, stop, step, dtype=dtype)
    start, stop, step = static_int(start), static_int(stop), static_int(step)
    lo, hi, st = (0, start, 1) if stop is None else (start, stop, 1 if step is None else step)
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (lo, hi, st)):
        n = max(0, math.ceil((hi - lo) / st))
    elif isinstance(hi, ScalarType) and isinstance(hi.value, str) and lo == 0 and st == 1:
        n = hi.value
    else:
        n = None
    return TensorType(out_dtype, (n,))


@defop("arange", C, infer=_arange_rule, numpy=np.arange)
def arange(start, stop=None, step=None, dtype=None):
    """``np.arange(start, stop, step, dtype)``."""
    if stop is None:
        return np.arange(start, dtype=dtype) if step is None else np.arange(0, start, step, dtype=dtype)
    return np.arange(start, stop, step, dtype=dtype)


def _like_rule(a, dtype=None):
    if not isinstance(a, TensorType):
        raise TypeError("*_like needs an array")
    return TensorType(a.dtype if dtype is None else np.dtype(dtype), a.shape)


@defop("zeros_like", C, infer=_like_rule, numpy=np.zeros_like)
def zeros_like(a, dtype=None):
    """``np.zeros_like(a, dtype)``."""
    return np.zeros_like(a, dtype=dtype)


@defop("ones_like", C, infer=_like_rule, numpy=np.ones_like)
def ones_like(a, dtype=None):
    """``np.ones_like(a, dtype)``."""
    return np.ones_like(a, dtype=dtype)


def _full_like_rule(a, fill_value, dtype=None):
    return _like_rule(a, dtype)


@defop("full_like", C, infer=_full_like_rule, numpy=np.full_like)
def full_like(a, fill_value, dtype=None):
    """``np.full_like(a, fill_value, dtype)``."""
    return np.full_like(a, fill_value, dtype=dtype)
