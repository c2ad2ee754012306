"""How an array value lives in memory for the planner: its :class:`Layout` (root buffer, offset,
shape, strides), C strides, concrete tensor types, and how BLAS reads a matrix in place.

Split out of ``codegen.analysis`` (which re-exports these names).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ir import TensorType

__all__ = ["Layout", "c_strides", "tensor_of", "dtype_name", "blas_matrix"]


@dataclass(frozen=True)
class Layout:
    """Where an array value lives: ``root`` value's memory plus ``offset`` bytes, with strides."""

    root: tuple[int, int]
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    dtype: np.dtype


def tensor_of(t: Any) -> TensorType | None:
    """``t`` when it is a concrete ``TensorType`` (``TensorType.is_concrete``, written out: the
    planner asks this tens of thousands of times per plan), else ``None``."""
    if isinstance(t, TensorType) and t.dtype is not None and t.shape is not None:
        for d in t.shape:
            if not isinstance(d, int):
                return None
        return t
    return None


_DTYPE_NAMES: dict[np.dtype, str] = {}


def dtype_name(dtype: np.dtype) -> str:
    """``dtype.name``, remembered (NumPy computes it in Python each time, ~1 us)."""
    name = _DTYPE_NAMES.get(dtype)
    if name is None:
        name = _DTYPE_NAMES[dtype] = dtype.name
    return name


def c_strides(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    strides = []
    acc = itemsize
    for d in reversed(shape):
        strides.append(acc)
        acc *= max(d, 1)
    return tuple(reversed(strides))


def blas_matrix(lay: Layout) -> tuple[int, int, int] | None:
    """(transpose flag, leading dimension, row stride) of the matrix in ``lay``'s last two axes,
    in elements, or ``None`` when BLAS cannot read it in place."""
    from .blas import CBLAS_NO_TRANS, CBLAS_TRANS

    item = lay.dtype.itemsize
    rows, cols = lay.shape[-2], lay.shape[-1]
    rs, cs = lay.strides[-2], lay.strides[-1]
    if rs % item or cs % item or lay.offset % item or rs < 0 or cs < 0:
        return None
    rs, cs = rs // item, cs // item
    if (cols == 1 or cs == 1) and (rows == 1 or rs >= cols):
        return CBLAS_NO_TRANS, (rs if rows > 1 else cols), rs
    if (rows == 1 or rs == 1) and (cols == 1 or cs >= rows):
        return CBLAS_TRANS, (cs if cols > 1 else rows), 1
    return None
