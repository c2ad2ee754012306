"""Python-scalar operations that scripted code keeps in the program: ``int(x)``, ``not x``, ..."""

from __future__ import annotations

import math

import numpy as np

from ..errors import GuardError
from ..types import ScalarType
from .registry import OpKind, defop

S = OpKind.ELEMENTWISE


def _kind_rule(kind: str):
    def rule(x):
        return ScalarType(kind)

    return rule


@defop("to_int", S, infer=_kind_rule("int"), spelling="format:int({0})")
def to_int(x):
    """``int(x)``: a size or a 0-d/1-element array as a Python ``int``."""
    return int(x)


@defop("to_float", S, infer=_kind_rule("float"), spelling="format:float({0})")
def to_float(x):
    """``float(x)``."""
    return float(x)


@defop("to_bool", S, infer=_kind_rule("bool"), spelling="format:bool({0})")
def to_bool(x):
    """``bool(x)`` (an array must have one element, as in Python)."""
    return bool(x)


@defop("not_", S, infer=_kind_rule("bool"), spelling="format:not {0}")
def not_(x):
    """``not x``."""
    return not x


@defop("is_none", S, infer=_kind_rule("bool"), spelling="format:{0} is None")
def is_none(x):
    """``x is None`` for an ``Optional`` argument."""
    return x is None


def _guard_rule(value, expected, *, where="", what=""):
    return ScalarType("none")


@defop("guard", S, infer=_guard_rule, pure=False)
def guard(value, expected, *, where="", what=""):
    """Check that ``value`` (computed from input sizes) equals ``expected``, the value that tracing
    baked into the program (its ``what`` at ``where``, the user's file:line); else raise
    :class:`ir.errors.GuardError`, since the program would not follow the new sizes."""
    if value == expected or (value != value and expected != expected):
        return None
    raise GuardError(
        f"{what or 'a conversion of a size'} at {where or '<unknown location>'} baked the value {expected!r} "
        f"into this program while tracing, but these inputs give {value!r}: the program would not follow "
        "them. Trace again with inputs of these sizes, or use tracer.script to keep the computation in "
        "the program"
    )


def _cast_scalar_rule(x, dtype):
    from ..types import TensorType

    shape = x.shape if isinstance(x, TensorType) else ()
    return TensorType(np.dtype(dtype), shape)


@defop("cast_scalar", S, infer=_cast_scalar_rule)
def cast_scalar(x, dtype):
    """``np.float32(x)``, ``np.int64(n)``, ...: NumPy's scalar constructor of ``dtype`` (an array
    scalar for a Python number or a 0-d array, a cast array otherwise)."""
    return np.dtype(dtype).type(x)


#: The ``math`` functions of one number that traced code may apply to a size.
MATH_FUNCTIONS = ("sqrt", "log", "log2", "log10", "exp", "ceil", "floor")


def _pymath_rule(x, *, fn):
    return ScalarType("int" if fn in ("ceil", "floor") else "float")


@defop("pymath", S, infer=_pymath_rule)
def pymath(x, *, fn):
    """``math.<fn>(x)`` of a Python number (a size): ``fn`` is one of :data:`MATH_FUNCTIONS`."""
    if fn not in MATH_FUNCTIONS:
        raise ValueError(f"math.{fn} is not one of {', '.join(MATH_FUNCTIONS)}")
    return getattr(math, fn)(x)
