"""Shape-changing operators: reshape, transpose, concatenation, splitting, ..."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..types import Dim, TensorType
from .registry import OpKind, defop
from .rules import broadcast_shapes, normalize_axis, shape_arg

M = OpKind.MOVEMENT


def _tensor(t: Any, op: str) -> TensorType:
    if not isinstance(t, TensorType):
        raise TypeError(f"{op} needs an array argument, got {t}")
    return t


def _infer_minus_one(in_shape: tuple[Dim, ...], out: list[Dim]) -> Dim:
    """The size that ``-1`` stands for, cancelling equal symbolic dims on both sides."""
    num = list(in_shape)
    den = [d for d in out if d != -1]
    for d in list(den):
        if isinstance(d, str) and d in num:
            num.remove(d)
            den.remove(d)
    if all(isinstance(d, int) for d in num) and all(isinstance(d, int) for d in den):
        total, rest = math.prod(num), math.prod(den)  # type: ignore[arg-type]
        if rest == 0 or total % rest:
            raise ValueError(f"cannot reshape array of shape {in_shape} into {tuple(out)}")
        return total // rest
    return None


def _reshape_rule(a, shape):
    a = _tensor(a, "reshape")
    out = list(shape_arg(shape))
    if a.shape is None:
        return TensorType(a.dtype, tuple(None if d == -1 else d for d in out))
    if out.count(-1) > 1:
        raise ValueError("reshape: only one dimension can be -1")
    if -1 in out:
        out[out.index(-1)] = _infer_minus_one(a.shape, out)
    elif all(isinstance(d, int) for d in (*a.shape, *out)) and math.prod(a.shape) != math.prod(out):  # type: ignore[arg-type]
        raise ValueError(f"cannot reshape array of shape {a.shape} into {tuple(out)}")
    return TensorType(a.dtype, tuple(out))


@defop("reshape", M, infer=_reshape_rule, numpy=np.reshape)
def reshape(a, shape):
    """``np.reshape(a, shape)``; entries of ``shape`` may be sizes read from other arrays."""
    return np.reshape(a, shape)


def _ravel_rule(a):
    a = _tensor(a, "ravel")
    if a.shape is None:
        return TensorType(a.dtype, (None,))
    size = math.prod(a.shape) if all(isinstance(d, int) for d in a.shape) else None  # type: ignore[arg-type]
    if len(a.shape) == 1:
        size = a.shape[0]
    return TensorType(a.dtype, (size,))


@defop("ravel", M, infer=_ravel_rule, numpy=np.ravel, methods=("ravel", "flatten"))
def ravel(a):
    """The elements of ``a`` as a 1-d array (``x.flatten()`` traces here too)."""
    return np.ravel(a)


def _transpose_rule(a, axes=None):
    a = _tensor(a, "transpose")
    if a.shape is None:
        return a
    if axes is None:
        return TensorType(a.dtype, a.shape[::-1])
    axes = tuple(normalize_axis(x, len(a.shape)) for x in axes)
    if sorted(axes) != list(range(len(a.shape))):
        raise ValueError(f"transpose: axes {axes} are not a permutation of {len(a.shape)} axes")
    return TensorType(a.dtype, tuple(a.shape[i] for i in axes))


@defop("transpose", M, infer=_transpose_rule, numpy=np.transpose)
def transpose(a, axes=None):
    """``np.transpose(a, axes)``; ``x.T`` and ``x.transpose(...)`` trace here."""
    return np.transpose(a, axes)


def _swapaxes_rule(a, axis1, axis2):
    a = _tensor(a, "swapaxes")
    if a.shape is None:
        return a
    s = list(a.shape)
    i, j = normalize_axis(axis1, len(s)), normalize_axis(axis2, len(s))
    s[i], s[j] = s[j], s[i]
    return TensorType(a.dtype, tuple(s))


@defop("swapaxes", M, infer=_swapaxes_rule, numpy=np.swapaxes, methods="swapaxes")
def swapaxes(a, axis1, axis2):
    """``np.swapaxes(a, axis1, axis2)``."""
    return np.swapaxes(a, axis1, axis2)


def _moveaxis_rule(a, source, destination):
    a = _tensor(a, "moveaxis")
    if a.shape is None:
        return a
    rank = len(a.shape)
    src = [normalize_axis(x, rank) for x in (source if isinstance(source, tuple) else (source,))]
    dst = [normalize_axis(x, rank) for x in (destination if isinstance(destination, tuple) else (destination,))]
    order = [n for n in range(rank) if n not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return TensorType(a.dtype, tuple(a.shape[i] for i in order))


@defop("moveaxis", M, infer=_moveaxis_rule, numpy=np.moveaxis)
def moveaxis(a, source, destination):
    """``np.moveaxis(a, source, destination)``."""
    return np.moveaxis(a, source, destination)


def _expand_dims_rule(a, axis):
    a = _tensor(a, "expand_dims")
    if a.shape is None:
        return a
    axes = axis if isinstance(axis, tuple) else (axis,)
    rank = len(a.shape) + len(axes)
    norm = {normalize_axis(x, rank) for x in axes}
    it = iter(a.shape)
    return TensorType(a.dtype, tuple(1 if i in norm else next(it) for i in range(rank)))


@defop("expand_dims", M, infer=_expand_dims_rule, numpy=np.expand_dims)
def expand_dims(a, axis):
    """``np.expand_dims(a, axis)``; ``x[:, None]`` traces to ``getitem`` instead."""
    return np.expand_dims(a, axis)


def _squeeze_rule(a, axis=None):
    a = _tensor(a, "squeeze")
    if a.shape is None:
        return a
    if axis is None:
        if any(not isinstance(d, int) for d in a.shape):
            return TensorType(a.dtype, None)
        return TensorType(a.dtype, tuple(d for d in a.shape if d != 1))
    axes = {normalize_axis(x, len(a.shape)) for x in (axis if isinstance(axis, tuple) else (axis,))}
    for i in axes:
        if isinstance(a.shape[i], int) and a.shape[i] != 1:
            raise ValueError(f"cannot squeeze axis {i} of size {a.shape[i]}")
    return TensorType(a.dtype, tuple(d for i, d in enumerate(a.shape) if i not in axes))


@defop("squeeze", M, infer=_squeeze_rule, numpy=np.squeeze, methods="squeeze")
def squeeze(a, axis=None):
    """``np.squeeze(a, axis)``."""
    return np.squeeze(a, axis)


def _broadcast_to_rule(a, shape):
    target = shape_arg(shape)
    a_shape = a.shape if isinstance(a, TensorType) else ()
    broadcast_shapes(a_shape, target)
    dtype = a.dtype if isinstance(a, TensorType) else np.result_type(a.kind if hasattr(a, "kind") else a)
    return TensorType(dtype, target)


@defop("broadcast_to", M, infer=_broadcast_to_rule, numpy=np.broadcast_to)
def broadcast_to(a, shape):
    """``np.broadcast_to(a, shape)`` (a read-only view)."""
    return np.broadcast_to(a, shape)


def _join_dims(dims: list[Dim]) -> Dim:
    return dims[0] if all(d == dims[0] for d in dims) else None


def _sum_dims(dims: list[Dim]) -> Dim:
    return sum(dims) if all(isinstance(d, int) for d in dims) else None  # type: ignore[arg-type]


def _concat_dtype(arrays: tuple) -> np.dtype | None:
    dts = [t.dtype for t in arrays]
    return None if any(d is None for d in dts) else np.result_type(*dts)


def _concatenate_rule(arrays, axis=0):
    arrays = tuple(_tensor(t, "concatenate") for t in arrays)
    dtype = _concat_dtype(arrays)
    if any(t.shape is None for t in arrays):
        return TensorType(dtype, None)
    rank = len(arrays[0].shape)
    if any(len(t.shape) != rank for t in arrays):
        raise ValueError("concatenate: all arrays must have the same rank")
    if axis is None:
        sizes = [math.prod(t.shape) if all(isinstance(d, int) for d in t.shape) else None for t in arrays]
        return TensorType(dtype, (_sum_dims(sizes),))
    ax = normalize_axis(axis, rank)
    shape = [
        _sum_dims([t.shape[i] for t in arrays]) if i == ax else _join_dims([t.shape[i] for t in arrays])
        for i in range(rank)
    ]
    return TensorType(dtype, tuple(shape))


@defop("concatenate", M, infer=_concatenate_rule, numpy=np.concatenate)
def concatenate(arrays, axis=0):
    """``np.concatenate(arrays, axis)``."""
    return np.concatenate(arrays, axis=axis)


def _stack_rule(arrays, axis=0):
    arrays = tuple(_tensor(t, "stack") for t in arrays)
    dtype = _concat_dtype(arrays)
    if any(t.shape is None for t in arrays):
        return TensorType(dtype, None)
    shape = broadcast_shapes(*(t.shape for t in arrays))
    rank = len(shape) + 1
    ax = normalize_axis(axis, rank)
    return TensorType(dtype, (*shape[:ax], len(arrays), *shape[ax:]))


@defop("stack", M, infer=_stack_rule, numpy=np.stack)
def stack(arrays, axis=0):
    """``np.stack(arrays, axis)``."""
    return np.stack(arrays, axis=axis)


def _split_rule(ary, indices_or_sections, axis=0):
    a = _tensor(ary, "split")
    if a.shape is None:
        raise TypeError("split needs an array of known rank")
    ax = normalize_axis(axis, len(a.shape))
    n = a.shape[ax]
    if isinstance(indices_or_sections, int):
        k = indices_or_sections
        if isinstance(n, int) and n % k:
            raise ValueError(f"array split does not result in an equal division ({n} by {k})")
        sizes: list[Dim] = [n // k if isinstance(n, int) else None] * k
    else:
        bounds = [0, *indices_or_sections, n]
        sizes = []
        for lo, hi in zip(bounds, bounds[1:]):
            if isinstance(lo, int) and isinstance(hi, int):
                sizes.append(max(0, min(hi, n) - lo) if isinstance(n, int) else (hi - lo if hi is not n else None))
            else:
                sizes.append(None)
    return tuple(TensorType(a.dtype, (*a.shape[:ax], s, *a.shape[ax + 1:])) for s in sizes)


def _split_count(ary, indices_or_sections, axis=0):
    if isinstance(indices_or_sections, int):
        return indices_or_sections
    return len(indices_or_sections) + 1


@defop("split", M, infer=_split_rule, numpy=np.split, multi_output=True, count=_split_count)
def split(ary, indices_or_sections, axis=0):
    """``np.split(ary, indices_or_sections, axis)``: one output per piece."""
    return np.split(ary, indices_or_sections, axis=axis)
