"""Rearranging elements: ``flip fliplr flipud roll tile diff take_along_axis`` written over
``getitem``, ``concatenate``, ``reshape`` and ``broadcast_to``, and the ``repeat`` primitive.

The decompositions follow NumPy's own implementations, so they give NumPy's result bit for bit,
and sizes read from ``x.shape`` stay values of the program.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index, normalize_axis_tuple

from ..types import TensorType
from .arraylike import asarray, broadcast_to, is_static_int
from .registry import OpKind, defdecomp, defop
from .rules import static_int

__all__ = ["flip", "fliplr", "flipud", "roll", "tile", "diff", "take_along_axis", "repeat"]


@defdecomp(np.flip)
def flip(m: Any, axis: Any = None) -> Any:
    """``np.flip(m, axis)``: ``m`` indexed with ``::-1`` along ``axis`` (every axis when ``None``)."""
    m = asarray(m)
    if axis is None:
        index = (slice(None, None, -1),) * m.ndim
    else:
        axes = normalize_axis_tuple(axis, m.ndim)
        index = tuple(slice(None, None, -1) if i in axes else slice(None) for i in range(m.ndim))
    return m[index]


@defdecomp(np.fliplr)
def fliplr(m: Any) -> Any:
    """``np.fliplr(m)``: ``m[:, ::-1]``."""
    m = asarray(m)
    if m.ndim < 2:
        raise ValueError("Input must be >= 2-d.")
    return m[:, ::-1]


@defdecomp(np.flipud)
def flipud(m: Any) -> Any:
    """``np.flipud(m)``: ``m[::-1, ...]``."""
    m = asarray(m)
    if m.ndim < 1:
        raise ValueError("Input must be >= 1-d.")
    return m[::-1, ...]


def _roll_axis(a: Any, offset: Any, axis: int) -> Any:
    """``a`` rolled by ``offset`` (already reduced modulo the size) along ``axis``."""
    n = a.shape[axis]
    lead = (slice(None),) * axis
    return np.concatenate([a[(*lead, slice(n - offset, None))], a[(*lead, slice(None, n - offset))]], axis)


@defdecomp(np.roll)
def roll(a: Any, shift: Any, axis: Any = None) -> Any:
    """``np.roll(a, shift, axis)``: two slices joined per rolled axis.

    The shift is reduced modulo the (possibly traced) size of the axis, as NumPy does; a traced
    size of zero fails when the program runs, where NumPy returns the empty array.
    """
    a = asarray(a)
    if axis is None:
        return roll(a.reshape(-1), shift, 0).reshape(a.shape)
    axes = normalize_axis_tuple(axis, a.ndim, allow_duplicate=True)
    shifts = shift if isinstance(shift, (tuple, list)) else (shift,) * len(axes)
    if len(axes) == 1 and len(shifts) > 1:
        axes = axes * len(shifts)
    if len(shifts) != len(axes):
        raise ValueError("'shift' and 'axis' should be scalars or 1D sequences")
    total: dict[int, Any] = {}
    for sh, ax in zip(shifts, axes):
        total[ax] = total.get(ax, 0) + sh
    for ax, sh in total.items():
        n = a.shape[ax]
        if is_static_int(n) and is_static_int(sh):
            offset = int(sh) % (n or 1)
            if offset:
                a = _roll_axis(a, offset, ax)
        else:
            a = _roll_axis(a, sh % n, ax)
    return a


@defdecomp(np.tile)
def tile(A: Any, reps: Any) -> Any:
    """``np.tile(A, reps)``: ``A`` with a new axis before each of its axes, broadcast to the
    repetitions and reshaped (the elements NumPy's repeat-by-axis loop writes)."""
    tup = tuple(reps) if isinstance(reps, (tuple, list, np.ndarray)) else (reps,)
    c = asarray(A)
    d = len(tup)
    if d > c.ndim:
        c = c.reshape((1,) * (d - c.ndim) + tuple(c.shape))
    elif d < c.ndim:
        tup = (1,) * (c.ndim - d) + tup
    shape = tuple(c.shape)
    expanded = c[tuple(x for _ in shape for x in (None, slice(None)))]
    wide = np.broadcast_to(expanded, tuple(x for t, s in zip(tup, shape) for x in (t, s)))
    return wide.reshape(tuple(s * t for s, t in zip(shape, tup)))


@defdecomp(np.diff)
def diff(a: Any, n: int = 1, axis: int = -1, prepend: Any = np._NoValue, append: Any = np._NoValue) -> Any:
    """``np.diff(a, n, axis, prepend, append)``: ``n`` times ``a[1:] - a[:-1]`` along ``axis``
    (``!=`` for booleans)."""
    if n == 0:
        return a
    if n < 0:
        raise ValueError("order must be non-negative but got " + repr(n))
    a = asarray(a)
    nd = a.ndim
    if nd == 0:
        raise ValueError("diff requires input that is at least one dimensional")
    axis = normalize_axis_index(axis, nd)
    combined = []
    if prepend is not np._NoValue:
        combined.append(_edge(prepend, a, axis))
    combined.append(a)
    if append is not np._NoValue:
        combined.append(_edge(append, a, axis))
    if len(combined) > 1:
        a = np.concatenate(combined, axis)
    lead = (slice(None),) * axis
    upper, lower = (*lead, slice(1, None)), (*lead, slice(None, -1))
    for _ in range(n):
        a = a[upper] != a[lower] if a.dtype == np.bool_ else a[upper] - a[lower]
    return a


def _edge(value: Any, a: Any, axis: int) -> Any:
    value = asarray(value)
    if value.ndim == 0:
        shape = list(a.shape)
        shape[axis] = 1
        value = broadcast_to(value, tuple(shape))
    return value


@defdecomp(np.take_along_axis)
def take_along_axis(arr: Any, indices: Any, axis: Any = -1) -> Any:
    """``np.take_along_axis(arr, indices, axis)``: integer indexing with ``arange`` over the other axes."""
    arr, indices = asarray(arr), asarray(indices)
    if axis is None:
        if indices.ndim != 1:
            raise ValueError("when axis=None, `indices` must have a single dimension.")
        arr = arr.reshape(-1)
        axis = 0
    elif arr.ndim != indices.ndim:
        raise ValueError("`indices` and `arr` must have the same number of dimensions")
    axis = normalize_axis_index(axis, arr.ndim)
    if indices.dtype.kind not in "iu":
        raise IndexError("`indices` must be an integer array")
    ones = (1,) * indices.ndim
    fancy = []
    for dim, size in enumerate(arr.shape):
        if dim == axis:
            fancy.append(indices)
        else:
            fancy.append(np.arange(size).reshape(ones[:dim] + (-1,) + ones[dim + 1:]))
    return arr[tuple(fancy)]


# -- repeat: a primitive (its output size is a sum of the repeats) ---------------------------------
def _repeat_rule(a: Any, repeats: Any, axis: Any = None) -> TensorType:
    if not isinstance(a, TensorType):
        raise TypeError("repeat needs an array")
    shape = a.shape
    if isinstance(repeats, TensorType):
        if repeats.shape is not None and len(repeats.shape) > 1:
            raise ValueError("repeat: repeats must be 0-d or 1-d")
        r = None  # the output size is the sum of the repeats: known only from the data
    else:
        r = static_int(repeats)
        r = r if isinstance(r, int) else None
    if shape is None:
        return TensorType(a.dtype, None if axis is not None else (None,))
    if axis is None:
        size = math.prod(shape) if all(isinstance(d, int) for d in shape) else None  # type: ignore[arg-type]
        return TensorType(a.dtype, (size * r if size is not None and r is not None else None,))
    ax = normalize_axis_index(axis, len(shape))
    d = shape[ax]
    new = d * r if isinstance(d, int) and r is not None else None
    return TensorType(a.dtype, (*shape[:ax], new, *shape[ax + 1:]))


@defop("repeat", OpKind.MOVEMENT, infer=_repeat_rule, numpy=np.repeat, methods="repeat")
def repeat(a, repeats, axis=None):
    """``np.repeat(a, repeats, axis)``: each element repeated, ``repeats`` an int or an array."""
    return np.repeat(a, repeats, axis=axis)
