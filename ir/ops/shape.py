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
