"""Python-scalar operations that scripted code keeps in the program: ``int(x)``, ``not x``, ..."""

from __future__ import annotations

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
