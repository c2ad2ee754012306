"""Array creation: ``zeros ones full arange`` and their ``_like`` forms; ``tri tril triu eye identity
empty empty_like linspace`` written over them."""

from __future__ import annotations

import math
import operator
from typing import Any

import numpy as np

from ..types import ScalarType, TensorType
from .arraylike import asarray, is_static_int
from .registry import OpKind, defdecomp, defop
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


# -- decompositions: NumPy's creation functions written over the ops above ------------------------
def _tri_mask(N: Any, M: Any = None, k: Any = 0) -> Any:
    """``np.tri(N, M, k, dtype=bool)``: ``i >= j - k`` from two ``arange``s."""
    if M is None:
        M = N
    return np.arange(N)[:, None] >= np.arange(M)[None, :] - k


@defdecomp(np.tri)
def tri(N: Any, M: Any = None, k: Any = 0, dtype: Any = float, *, like: Any = None) -> Any:
    """``np.tri(N, M, k, dtype)``: ones at and below the ``k``-th diagonal; sizes may be traced."""
    return _tri_mask(N, M, k).astype(dtype)


@defdecomp(np.tril)
def tril(m: Any, k: Any = 0) -> Any:
    """``np.tril(m, k)``: ``np.where(np.tri(..., dtype=bool), m, 0)`` over the last two axes."""
    m = asarray(m)
    mask = _tri_mask(*m.shape[-2:], k=k)
    return np.where(mask, m, np.zeros(1, m.dtype))


@defdecomp(np.triu)
def triu(m: Any, k: Any = 0) -> Any:
    """``np.triu(m, k)``: ``np.where(np.tri(..., k - 1, dtype=bool), 0, m)`` over the last two axes."""
    m = asarray(m)
    mask = _tri_mask(*m.shape[-2:], k=k - 1)
    return np.where(mask, np.zeros(1, m.dtype), m)


@defdecomp(np.eye)
def eye(N: Any, M: Any = None, k: Any = 0, dtype: Any = float, order: str = "C", *, device: Any = None,
        like: Any = None) -> Any:
    """``np.eye(N, M, k, dtype)``: ``i + k == j`` from two ``arange``s; sizes may be traced."""
    if M is None:
        M = N
    return (np.arange(N)[:, None] + k == np.arange(M)[None, :]).astype(dtype)


@defdecomp(np.identity)
def identity(n: Any, dtype: Any = None, *, like: Any = None) -> Any:
    """``np.identity(n, dtype)``: ``np.eye(n, dtype=dtype)``."""
    return eye(n, dtype=float if dtype is None else dtype)


@defdecomp(np.empty)
def empty(shape: Any, dtype: Any = None, order: str = "C", *, device: Any = None, like: Any = None) -> Any:
    """``np.empty(shape, dtype)`` is recorded as ``np.zeros``: a program reads only what it wrote,
    and zeros make its results reproducible."""
    return np.zeros(shape, dtype=float if dtype is None else dtype)


@defdecomp(np.empty_like)
def empty_like(prototype: Any, dtype: Any = None, order: str = "K", subok: bool = True, shape: Any = None, *,
               device: Any = None) -> Any:
    """``np.empty_like(prototype, dtype, shape=...)`` is recorded as ``np.zeros_like`` (see :func:`empty`)."""
    if shape is not None:
        return np.zeros(shape, dtype=asarray(prototype).dtype if dtype is None else dtype)
    return np.zeros_like(prototype, dtype=dtype)


def _is_array(v: Any) -> bool:
    """Whether ``v`` is an array (NumPy's or traced), not a Python scalar (literal or traced)."""
    if isinstance(v, (bool, int, float, complex)):
        return False
    if isinstance(v, (np.ndarray, np.generic)):
        return True
    try:
        v.dtype  # noqa: B018 - a traced Python scalar has no dtype
    except (AttributeError, ValueError):
        return False
    return True


def _is_static(v: Any) -> bool:
    return isinstance(v, (bool, int, float, complex, np.ndarray, np.generic))


def _linspace_operands(start: Any, stop: Any) -> tuple[Any, Any, np.dtype]:
    """``start`` and ``stop`` as NumPy's ``linspace`` converts them, and the inexact result dtype."""
    if not (_is_array(start) or _is_array(stop)):
        # Python scalars become arrays of the default dtypes; traced sizes stay (weak) Python ints
        start, stop = (np.asarray(v) if _is_static(v) else v for v in (start, stop))
        known = [v.dtype for v in (start, stop) if isinstance(v, np.ndarray)]
        dt = np.result_type(*known, 1.0)
        return start, stop, dt
    dt = np.result_type(*(v.dtype if _is_array(v) else (v if _is_static(v) else 0) for v in (start, stop)))
    if dt.kind not in "fc":
        dt = np.result_type(dt, 1.0)
    return start, stop, dt


def _to(v: Any, dt: np.dtype) -> Any:
    """``v`` converted to ``dt`` the way a ufunc with ``dtype=dt`` converts its inputs."""
    if _is_array(v):
        return v if v.dtype == dt else v.astype(dt)
    if _is_static(v):
        return dt.type(v)
    return np.full((), v, dtype=dt)  # a traced Python scalar, converted as NumPy converts it


@defdecomp(np.linspace)
def linspace(start: Any, stop: Any, num: Any = 50, endpoint: bool = True, retstep: bool = False, dtype: Any = None,
             axis: int = 0, *, device: Any = None) -> Any:
    """``np.linspace(start, stop, num, endpoint, retstep, dtype, axis)``, NumPy's algorithm step by step.

    ``num`` may be a traced size: the branches NumPy takes on ``num`` become selections with
    ``np.where``, so the program follows other sizes.
    """
    static_num = is_static_int(num)
    if static_num:
        num = operator.index(num)
        if num < 0:
            raise ValueError(f"Number of samples, {num}, must be non-negative.")
    div = (num - 1) if endpoint else num
    start, stop, dt = _linspace_operands(start, stop)
    integer_dtype = dtype is not None and np.issubdtype(dtype, np.integer)
    if dtype is None:
        dtype = dt
    start_dt, stop_dt = _to(start, dt), _to(stop, dt)
    delta = stop_dt - start_dt
    y = np.arange(0, num, dtype=dt).reshape((-1,) + (1,) * np.ndim(delta))
    if static_num and div > 0:
        step = delta / div
        any_zero = np.any(step == 0)
        if _is_static(any_zero):
            y = y / div * delta if any_zero else y * step
        else:
            y = np.where(any_zero, y / div * delta, y * step)
    elif static_num:
        step = np.nan
        y = y * delta
    else:
        positive = div > 0
        safe = div + (1 - div) * (div < 1)  # div where positive, else 1 (never divides by zero)
        step = delta / safe
        scaled = np.where(np.any(step == 0), y / safe * delta, y * step)
        y = np.where(positive, scaled, y * delta)
        step = np.where(positive, step, np.nan)
    y = y + start
    if endpoint:
        last = np.arange(num) == num - 1
        if not static_num:
            last = last & (num > 1)
        if not static_num or num > 1:
            y = np.where(last.reshape((-1,) + (1,) * (np.ndim(y) - 1)), stop_dt, y)
    if y.dtype != dt:
        y = y.astype(dt)
    if axis != 0:
        y = np.moveaxis(y, 0, axis)
    if integer_dtype:
        y = np.floor(y)
    y = y.astype(dtype)
    return (y, step) if retstep else y
