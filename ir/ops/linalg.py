"""Matrix products."""

from __future__ import annotations

import operator

import numpy as np

from ..types import TensorType
from .registry import OpKind, defop
from .rules import broadcast_shapes


def _matmul_rule(a, b):
    if not (isinstance(a, TensorType) and isinstance(b, TensorType)):
        raise TypeError("matmul needs two arrays")
    dtype = None
    if a.dtype is not None and b.dtype is not None:
        dtype = np.result_type(np.matmul(np.ones((1, 1), a.dtype), np.ones((1, 1), b.dtype)))
    if a.shape is None or b.shape is None:
        return TensorType(dtype, None)
    sa, sb = list(a.shape), list(b.shape)
    if not sa or not sb:
        raise ValueError("matmul does not accept 0-d arrays")
    squeeze_a, squeeze_b = len(sa) == 1, len(sb) == 1
    if squeeze_a:
        sa = [1, *sa]
    if squeeze_b:
        sb = [*sb, 1]
    k1, k2 = sa[-1], sb[-2]
    if isinstance(k1, int) and isinstance(k2, int) and k1 != k2:
        raise ValueError(f"matmul: inner dimensions differ ({k1} vs {k2})")
    batch = broadcast_shapes(tuple(sa[:-2]), tuple(sb[:-2]))
    shape = [*batch, sa[-2], sb[-1]]
    if squeeze_a:
        del shape[-2]
    if squeeze_b:
        del shape[-1]
    return TensorType(dtype, tuple(shape))


@defop("matmul", OpKind.LINALG, infer=_matmul_rule, numpy=np.matmul, spelling="infix:@")
def matmul(a, b):
    """``a @ b`` with NumPy's batching rules."""
    return operator.matmul(a, b)


def _dot_rule(a, b):
    if not (isinstance(a, TensorType) and isinstance(b, TensorType)):
        raise TypeError("dot needs two arrays")
    dtype = None
    if a.dtype is not None and b.dtype is not None:
        dtype = np.result_type(np.dot(np.ones(1, a.dtype), np.ones(1, b.dtype)))
    if a.shape is None or b.shape is None:
        return TensorType(dtype, None)
    if not a.shape or not b.shape:
        return TensorType(dtype, broadcast_shapes(a.shape, b.shape))
    k2 = b.shape[0] if len(b.shape) == 1 else b.shape[-2]
    k1 = a.shape[-1]
    if isinstance(k1, int) and isinstance(k2, int) and k1 != k2:
        raise ValueError(f"dot: shapes {a} and {b} not aligned ({k1} vs {k2})")
    tail = () if len(b.shape) == 1 else (*b.shape[:-2], b.shape[-1])
    return TensorType(dtype, (*a.shape[:-1], *tail))


@defop("dot", OpKind.LINALG, infer=_dot_rule, numpy=np.dot, methods="dot")
def dot(a, b):
    """``np.dot(a, b)``."""
    return np.dot(a, b)
