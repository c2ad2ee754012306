"""Shape reads, recorded as operations so a traced program follows its inputs' sizes."""

from __future__ import annotations

import math

import numpy as np

from ..types import ScalarType, TensorType
from .registry import OpKind, defop
from .rules import normalize_axis


def _dim_rule(a, axis):
    if not isinstance(a, TensorType):
        raise TypeError("dim needs an array")
    if a.shape is None:
        return ScalarType("int")
    return ScalarType("int", a.shape[normalize_axis(axis, len(a.shape))])


@defop("dim", OpKind.SHAPE, infer=_dim_rule, spelling="format:{0}.shape[{1}]")
def dim(a, axis):
    """``a.shape[axis]`` as a Python ``int`` (also what ``len(a)`` records, with axis 0)."""
    return int(np.shape(a)[axis])


def _size_rule(a):
    if not isinstance(a, TensorType):
        raise TypeError("size needs an array")
    if a.shape is not None and all(isinstance(d, int) for d in a.shape):
        return ScalarType("int", math.prod(a.shape))  # type: ignore[arg-type]
    return ScalarType("int")


@defop("size", OpKind.SHAPE, infer=_size_rule, spelling="format:{0}.size")
def size(a):
    """``a.size`` as a Python ``int``."""
    return int(np.size(a))


def _ndim_rule(a):
    if not isinstance(a, TensorType):
        raise TypeError("ndim needs an array")
    return ScalarType("int", len(a.shape)) if a.shape is not None else ScalarType("int")


@defop("ndim", OpKind.SHAPE, infer=_ndim_rule, spelling="format:{0}.ndim")
def ndim(a):
    """``a.ndim`` as a Python ``int``, read when the program runs (an argument of unknown rank)."""
    return int(np.ndim(a))


def _with_rank_rule(a, rank, *, where=""):
    if not isinstance(a, TensorType):
        raise TypeError("with_rank needs an array")
    if a.shape is not None:
        if len(a.shape) != rank:
            raise ValueError(f"an array of rank {len(a.shape)} where the program needs rank {rank}")
        return a
    return TensorType(a.dtype, (None,) * rank)


@defop("with_rank", OpKind.SHAPE, infer=_with_rank_rule, pure=False)
def with_rank(a, rank, *, where=""):
    """``a`` itself, checked to have ``rank`` dimensions: where a program that did not know its
    argument's rank fixed it (``B, T, D = x.shape`` at ``where``), or a library layer needs it."""
    if np.ndim(a) != rank:
        raise ValueError(f"the program needs an array of {rank} dimensions here ({where or 'unknown line'}), "
                         f"but it has {np.ndim(a)} (shape {np.shape(a)})")
    return a
