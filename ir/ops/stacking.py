"""Joining and splitting, written over ``concatenate``, ``getitem``, ``reshape`` and ``broadcast_to``:
``hstack vstack dstack column_stack array_split atleast_1d atleast_2d atleast_3d broadcast_arrays
meshgrid``.

Each function follows NumPy's own Python implementation step by step, so it gives NumPy's result
bit for bit, and it keeps sizes read from ``x.shape`` as values of the program.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.lib.array_utils import normalize_axis_index

from .arraylike import asarray, broadcast_to, is_static_int
from .registry import defdecomp

__all__ = ["hstack", "vstack", "dstack", "column_stack", "array_split", "atleast_1d", "atleast_2d",
           "atleast_3d", "broadcast_arrays", "meshgrid"]


def _one_or_tuple(result: list) -> Any:
    return result[0] if len(result) == 1 else tuple(result)


@defdecomp(np.atleast_1d)
def atleast_1d(*arys: Any) -> Any:
    """``np.atleast_1d(*arys)``: 0-d arrays become 1-d."""
    result = []
    for ary in arys:
        a = asarray(ary)
        result.append(a.reshape(1) if a.ndim == 0 else a)
    return _one_or_tuple(result)


@defdecomp(np.atleast_2d)
def atleast_2d(*arys: Any) -> Any:
    """``np.atleast_2d(*arys)``: a 1-d array ``a`` becomes ``a[None, :]``."""
    result = []
    for ary in arys:
        a = asarray(ary)
        if a.ndim == 0:
            a = a.reshape(1, 1)
        elif a.ndim == 1:
            a = a[None, :]
        result.append(a)
    return _one_or_tuple(result)


@defdecomp(np.atleast_3d)
def atleast_3d(*arys: Any) -> Any:
    """``np.atleast_3d(*arys)``: 1-d ``a`` becomes ``a[None, :, None]``, 2-d ``a[:, :, None]``."""
    result = []
    for ary in arys:
        a = asarray(ary)
        if a.ndim == 0:
            a = a.reshape(1, 1, 1)
        elif a.ndim == 1:
            a = a[None, :, None]
        elif a.ndim == 2:
            a = a[:, :, None]
        result.append(a)
    return _one_or_tuple(result)


def _as_tuple(arrs: Any) -> tuple:
    return arrs if isinstance(arrs, tuple) else (arrs,)


def _concatenate(arrs: tuple, axis: int, dtype: Any, casting: str) -> Any:
    """``np.concatenate(arrs, axis, dtype=dtype, casting=casting)``: each array is cast first."""
    if dtype is not None:
        dtype = np.dtype(dtype)
        cast: dict[int, Any] = {}  # an array given twice is cast once
        for a in arrs:
            if not np.can_cast(a.dtype, dtype, casting=casting):
                raise TypeError(f"Cannot cast array data from {a.dtype!r} to {dtype!r} according to the rule "
                                f"{casting!r}")
            if id(a) not in cast:
                cast[id(a)] = a if a.dtype == dtype else a.astype(dtype)
        arrs = tuple(cast[id(a)] for a in arrs)
    return np.concatenate(arrs, axis)


@defdecomp(np.hstack)
def hstack(tup: Any, *, dtype: Any = None, casting: str = "same_kind") -> Any:
    """``np.hstack(tup)``: concatenation along the second axis (the first for 1-d arrays)."""
    arrs = _as_tuple(atleast_1d(*tup))
    if arrs and arrs[0].ndim == 1:
        return _concatenate(arrs, 0, dtype, casting)
    return _concatenate(arrs, 1, dtype, casting)


@defdecomp(np.vstack)
def vstack(tup: Any, *, dtype: Any = None, casting: str = "same_kind") -> Any:
    """``np.vstack(tup)``: concatenation along the first axis of the arrays made at least 2-d."""
    return _concatenate(_as_tuple(atleast_2d(*tup)), 0, dtype, casting)


@defdecomp(np.dstack)
def dstack(tup: Any) -> Any:
    """``np.dstack(tup)``: concatenation along the third axis of the arrays made at least 3-d."""
    return np.concatenate(_as_tuple(atleast_3d(*tup)), 2)


@defdecomp(np.column_stack)
def column_stack(tup: Any) -> Any:
    """``np.column_stack(tup)``: 1-d arrays become columns, then concatenation along axis 1."""
    arrays = []
    for v in tup:
        arr = asarray(v)
        if arr.ndim < 2:
            arr = arr.reshape(1, -1).T
        arrays.append(arr)
    return np.concatenate(arrays, 1)


@defdecomp(np.array_split)
def array_split(ary: Any, indices_or_sections: Any, axis: int = 0) -> list:
    """``np.array_split(ary, indices_or_sections, axis)``: pieces that need not be equal.

    With a number of sections, the piece boundaries are computed from the (possibly traced) size
    of the axis, so the program splits other sizes as NumPy would; the number of pieces is fixed.
    """
    a = asarray(ary)
    axis_index = normalize_axis_index(axis, a.ndim)
    total = a.shape[axis_index]
    if isinstance(indices_or_sections, (list, tuple, np.ndarray)):
        points: list[Any] = [0, *list(indices_or_sections), None]
    else:
        if not is_static_int(indices_or_sections):
            raise TypeError("array_split: the number of sections must be an int")
        sections = int(indices_or_sections)
        if sections <= 0:
            raise ValueError("number sections must be larger than 0.")
        each, extras = total // sections, total % sections
        # boundary i is i * each + min(i, extras), written without a comparison of traced sizes
        points = [0]
        for i in range(1, sections + 1):
            if is_static_int(extras):
                points.append(i * each + min(i, extras))
            else:
                points.append(i * each + i - (i - extras) * (extras < i))
    lead = (slice(None),) * axis_index
    return [a[(*lead, slice(points[i], points[i + 1]))] for i in range(len(points) - 1)]


def _broadcast_dim(d1: Any, d2: Any) -> Any:
    """The broadcast of two sizes that broadcast (checked when the arrays are broadcast)."""
    if is_static_int(d1) and is_static_int(d2):
        return d2 if d1 == 1 else d1
    if is_static_int(d2) and d2 == 1:
        return d1
    if is_static_int(d1) and d1 == 1:
        return d2
    return d1 + (d2 - d1) * (d1 == 1)


@defdecomp(np.broadcast_arrays)
def broadcast_arrays(*args: Any, subok: bool = False) -> tuple:
    """``np.broadcast_arrays(*args)``: every array broadcast to their common shape (read-only views)."""
    arrays = [asarray(a) for a in args]
    rank = max((a.ndim for a in arrays), default=0)
    shape: list[Any] = [1] * rank
    for a in arrays:
        dims = a.shape
        for i, d in enumerate(dims):
            j = rank - len(dims) + i
            shape[j] = _broadcast_dim(shape[j], d)
    return tuple(broadcast_to(a, tuple(shape)) for a in arrays)


@defdecomp(np.meshgrid)
def meshgrid(*xi: Any, copy: bool = True, sparse: bool = False, indexing: str = "xy") -> tuple:
    """``np.meshgrid(*xi, copy, sparse, indexing)`` with ``indexing='xy'`` or ``'ij'``."""
    if indexing not in ("xy", "ij"):
        raise ValueError("Valid values for `indexing` are 'xy' and 'ij'.")
    ndim = len(xi)
    s0 = (1,) * ndim
    flat = [asarray(x).reshape(-1) for x in xi]
    shapes = [s0[:i] + (-1,) + s0[i + 1:] for i in range(ndim)]
    if indexing == "xy" and ndim > 1:
        shapes[0] = (1, -1) + s0[2:]
        shapes[1] = (-1, 1) + s0[2:]
    output = [x.reshape(s) for x, s in zip(flat, shapes)]
    if not sparse:
        sizes = [x.shape[0] for x in flat]
        if indexing == "xy" and ndim > 1:
            sizes[0], sizes[1] = sizes[1], sizes[0]
        output = [broadcast_to(x, tuple(sizes)) for x in output]
    if copy:
        output = [x.copy() for x in output]
    return output if sparse and not copy else tuple(output)  # NumPy's return types
