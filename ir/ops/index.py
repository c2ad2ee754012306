"""Indexing: basic and integer (``x[i, 1:3, None]``, ``x[idx]``), ``take`` and ``astype``."""

from __future__ import annotations

import functools
import operator
from typing import Any

import numpy as np

from ..types import Dim, ScalarType, TensorType, TupleType, join
from .registry import OpKind, defop
from .rules import broadcast_shapes, static_int


def _slice_len(s: slice, n: Dim) -> Dim:
    s = slice(static_int(s.start), static_int(s.stop), static_int(s.step))
    if not isinstance(n, int):
        if s.start is None and s.stop is None and s.step in (None, 1):
            return n
        return None
    if not all(isinstance(v, int) or v is None for v in (s.start, s.stop, s.step)):
        return None
    return len(range(*s.indices(n)))


def _getitem_rule(a, index):
    if isinstance(a, TupleType):
        i = static_int(index)
        if isinstance(i, int) and -len(a.elements) <= i < len(a.elements):
            return a.elements[i]
        if isinstance(index, ScalarType) and index.kind == "int" and a.elements:
            return functools.reduce(join, a.elements)  # an index known only at run time
        raise IndexError(f"tuple index {index} out of range for {a}")
    if not isinstance(a, TensorType):
        raise TypeError("indexing needs an array")
    items = index if isinstance(index, tuple) else (index,)
    if a.shape is None:
        return TensorType(a.dtype, None)
    consumed = sum(1 for i in items if i is not None and i is not Ellipsis
                   and not (isinstance(i, TensorType) and i.dtype == np.bool_))
    masks = [i for i in items if isinstance(i, TensorType) and i.dtype == np.bool_]
    if len(masks) == 1 and masks[0].shape is not None and all(
            not isinstance(i, TensorType) or i is masks[0] for i in items):
        # a boolean mask over k axes becomes one axis whose size depends on the data
        k = len(masks[0].shape)
        pos = next(n for n, i in enumerate(items) if i is masks[0])
        plain = tuple(slice(None) if i is masks[0] else i for i in items)
        rest = _getitem_rule(a, plain)
        if rest.shape is None or any(i is None or i is Ellipsis for i in items[:pos]):
            return TensorType(a.dtype, None)
        return TensorType(a.dtype, (*rest.shape[:pos], None, *rest.shape[pos + k:]))
    if any(isinstance(i, TensorType) and (i.dtype is None or i.dtype == np.bool_) for i in items):
        return TensorType(a.dtype, None)
    n_ell = sum(1 for i in items if i is Ellipsis)
    if n_ell > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if consumed > len(a.shape):
        raise IndexError(f"too many indices for array of rank {len(a.shape)}")
    if n_ell == 0:
        items = (*items, Ellipsis)
    out: list[Any] = []
    adv_shapes: list[Any] = []
    adv_pos = None
    last_adv = None
    dims = iter(a.shape)
    for pos, it in enumerate(items):
        if it is Ellipsis:
            for _ in range(len(a.shape) - consumed):
                out.append(next(dims))
        elif it is None:
            out.append(1)
        elif isinstance(it, slice):
            out.append(_slice_len(it, next(dims)))
        elif isinstance(it, (int, ScalarType)) and not isinstance(it, bool):
            d = next(dims)
            if isinstance(it, int) and isinstance(d, int) and not -d <= it < d:
                raise IndexError(f"index {it} is out of bounds for axis with size {d}")
            adv_shapes.append(())  # an int behaves like a 0-d integer array
            adv_pos = len(out) if adv_pos is None else adv_pos
            out.append(_ADV)
            last_adv = pos if last_adv is None or last_adv == pos - 1 else -1
        elif isinstance(it, TensorType):
            next(dims)
            adv_shapes.append(it.shape)
            adv_pos = len(out) if adv_pos is None else adv_pos
            out.append(_ADV)
            last_adv = pos if last_adv is None or last_adv == pos - 1 else -1
        else:
            raise TypeError(f"unsupported index {it!r}")
    has_array = any(isinstance(i, TensorType) for i in items)
    rest = [d for d in out if d is not _ADV]
    if not has_array:
        return TensorType(a.dtype, tuple(rest))
    bshape = broadcast_shapes(*adv_shapes)
    if bshape is None:
        return TensorType(a.dtype, None)
    if last_adv == -1:  # advanced indices not adjacent: their dims go first
        return TensorType(a.dtype, (*bshape, *rest))
    before = [d for d in out[:adv_pos] if d is not _ADV]
    return TensorType(a.dtype, (*before, *bshape, *rest[len(before):]))


_ADV = object()


@defop("getitem", OpKind.INDEX, infer=_getitem_rule, spelling="getitem")
def getitem(a, index):
    """``a[index]``: basic (ints, slices, ``None``, ``...``) and integer-array indexing."""
    return operator.getitem(a, index)


def _take_rule(a, indices, axis=None):
    if not isinstance(a, TensorType):
        raise TypeError("take needs an array")
    ishape = indices.shape if isinstance(indices, TensorType) else ()
    if a.shape is None or ishape is None:
        return TensorType(a.dtype, None)
    if axis is None:
        return TensorType(a.dtype, ishape)
    ax = axis % len(a.shape)
    return TensorType(a.dtype, (*a.shape[:ax], *ishape, *a.shape[ax + 1:]))


@defop("take", OpKind.INDEX, infer=_take_rule, numpy=np.take, methods="take")
def take(a, indices, axis=None):
    """``np.take(a, indices, axis)``."""
    return np.take(a, indices, axis=axis)


def _astype_rule(a, dtype):
    if isinstance(a, TensorType):
        return TensorType(np.dtype(dtype), a.shape)
    raise TypeError("astype needs an array")


@defop("astype", OpKind.ELEMENTWISE, infer=_astype_rule, spelling="method:astype")
def astype(a, dtype):
    """``a.astype(dtype)`` (always a copy)."""
    return a.astype(dtype)


def _setitem_rule(a, index, value):
    if not isinstance(a, TensorType):
        raise TypeError("item assignment needs an array")
    return a


@defop("setitem", OpKind.INDEX, infer=_setitem_rule)
def setitem(a, index, value):
    """``a[index] = value`` as a new array (JAX's ``a.at[index].set(value)``); ``a`` is unchanged.

    NumPy's assignment on a copy: ``value`` is cast to ``a``'s dtype and broadcast to the indexed
    region; basic, integer-array, boolean and slice indices (negative steps too) all work.

    >>> setitem(np.zeros(4), slice(None, None, 2), 1.0)
    array([1., 0., 1., 0.])
    """
    out = a.copy()
    out[index] = value
    return out


def _assign_rule(a, value):
    if not isinstance(a, TensorType):
        raise TypeError("an in-place operator needs an array")
    return a


@defop("assign", OpKind.INDEX, infer=_assign_rule)
def assign(a, value):
    """The array ``a op= b`` leaves in ``a``, given ``value = a op b``, as a new array: ``value`` cast
    to ``a``'s dtype under the in-place operators' rule (``same_kind``: ``int_array += 1.5``
    raises ``TypeError`` as NumPy does) and broadcast to ``a``'s shape (never the other way).

    >>> assign(np.zeros(3, np.int64), np.int64(2))
    array([2, 2, 2])
    """
    out = np.empty_like(a)
    np.copyto(out, value, casting="same_kind")
    return out


def _none_rule(*args):
    return ScalarType("none")


@defop("writeback", OpKind.INDEX, infer=_none_rule, pure=False)
def writeback(a, value, *after):
    """Copy ``value`` into the caller's array ``a``, an argument the program modified (``x[i] = v``
    or ``x += y`` in a scripted ``forward``), so the caller sees the change as in NumPy.  The
    program's results are passed as ``after`` so that it runs once they are computed: every read
    of ``a``'s old contents comes first."""
    if not isinstance(a, np.ndarray):
        raise TypeError(f"the program modifies an argument in place, so it must be an np.ndarray, not a "
                        f"{type(a).__name__}")
    np.copyto(a, value, casting="unsafe")
    return None


def _copy_rule(a):
    if not isinstance(a, TensorType):
        raise TypeError("copy needs an array")
    return a


@defop("copy", OpKind.ELEMENTWISE, infer=_copy_rule, numpy=np.copy)
def copy(a):
    """``np.copy(a)`` and ``a.copy()``: a new array with ``a``'s contents, so that writing into one
    (``x[i] = v`` in a scripted program) leaves the other as it was."""
    return np.copy(a)
