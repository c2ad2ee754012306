"""Elementwise operators: arithmetic, comparisons, logic and the common ufuncs.

Each op is one row of a table below.  Operators use Python's ``operator`` functions as their
reference, which is exactly what eager NumPy runs for ``x + y`` (and what Python runs for
``B * T`` on shape sizes); the NumPy ufuncs of the same meaning trace to the same op.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import numpy as np

from ..types import TensorType
from .registry import OpKind, defop
from .rules import broadcast_shapes, dtype_by_example, elementwise_rule

E = OpKind.ELEMENTWISE


def _unary_impl(fn: Callable[[Any], Any], name: str) -> Callable[[Any], Any]:
    def impl(x):
        return fn(x)

    impl.__name__ = name
    impl.__doc__ = f"Elementwise ``{getattr(fn, '__name__', name)}``."
    return impl


def _binary_impl(fn: Callable[[Any, Any], Any], name: str) -> Callable[[Any, Any], Any]:
    def impl(x, y):
        return fn(x, y)

    impl.__name__ = name
    impl.__doc__ = f"Elementwise ``{getattr(fn, '__name__', name)}`` with broadcasting."
    return impl


# name, reference, NumPy aliases, ndarray dunder methods, printer spelling
_BINARY_OPERATORS = [
    ("add", operator.add, (np.add,), "infix:+"),
    ("sub", operator.sub, (np.subtract,), "infix:-"),
    ("mul", operator.mul, (np.multiply,), "infix:*"),
    ("truediv", operator.truediv, (np.true_divide,), "infix:/"),  # v2: see runtime/upgraders.py
    ("floordiv", operator.floordiv, (np.floor_divide,), "infix://"),
    ("mod", operator.mod, (np.remainder,), "infix:%"),
    ("pow", operator.pow, (np.power,), "infix:**"),
    ("eq", operator.eq, (np.equal,), "infix:=="),
    ("ne", operator.ne, (np.not_equal,), "infix:!="),
    ("lt", operator.lt, (np.less,), "infix:<"),
    ("le", operator.le, (np.less_equal,), "infix:<="),
    ("gt", operator.gt, (np.greater,), "infix:>"),
    ("ge", operator.ge, (np.greater_equal,), "infix:>="),
    ("and_", operator.and_, (np.bitwise_and,), "infix:&"),
    ("or_", operator.or_, (np.bitwise_or,), "infix:|"),
    ("xor", operator.xor, (np.bitwise_xor,), "infix:^"),
]

_UNARY_OPERATORS = [
    ("neg", operator.neg, (np.negative,), "prefix:-"),
    ("pos", operator.pos, (np.positive,), "prefix:+"),
    ("invert", operator.invert, (np.invert,), "prefix:~"),
    ("abs", operator.abs, (np.absolute,), "np.abs"),
]

_BINARY_UFUNCS = [
    np.maximum, np.minimum, np.fmax, np.fmin, np.arctan2, np.hypot,
    np.logical_and, np.logical_or, np.logical_xor, np.copysign,
]

_UNARY_UFUNCS = [
    np.exp, np.exp2, np.expm1, np.log, np.log2, np.log10, np.log1p, np.sqrt, np.square,
    np.reciprocal, np.sin, np.cos, np.tan, np.arcsin, np.arccos, np.arctan, np.sinh, np.cosh,
    np.tanh, np.arctanh, np.sign, np.floor, np.ceil, np.trunc, np.rint, np.logical_not,
    np.isnan, np.isinf, np.isfinite, np.signbit,
]

#: Ops whose saved behaviour changed; old versions are upgraded on load (runtime/upgraders.py).
_VERSIONS = {"truediv": 2}

for _name, _fn, _aliases, _spell in _BINARY_OPERATORS:
    defop(_name, E, infer=elementwise_rule(_fn), numpy=_aliases, spelling=_spell, version=_VERSIONS.get(_name, 1))(
        _binary_impl(_fn, _name)
    )

for _name, _fn, _aliases, _spell in _UNARY_OPERATORS:
    defop(_name, E, infer=elementwise_rule(_fn), numpy=_aliases, spelling=_spell)(
        _unary_impl(_fn, _name)
    )

for _uf in _BINARY_UFUNCS:
    defop(_uf.__name__, E, infer=elementwise_rule(_uf), numpy=_uf)(_binary_impl(_uf, _uf.__name__))

for _uf in _UNARY_UFUNCS:
    defop(_uf.__name__, E, infer=elementwise_rule(_uf), numpy=_uf)(_unary_impl(_uf, _uf.__name__))


def _where_rule(condition, x, y):
    shapes = [a.shape if isinstance(a, TensorType) else () for a in (condition, x, y)]
    return TensorType(dtype_by_example(np.where, condition, x, y), broadcast_shapes(*shapes))


@defop("where", E, infer=_where_rule, numpy=np.where)
def where(condition, x, y):
    """``np.where(condition, x, y)`` (the three-argument form only)."""
    return np.where(condition, x, y)


def _clip_rule(a, a_min=None, a_max=None):
    shapes = [t.shape if isinstance(t, TensorType) else () for t in (a, a_min, a_max)]
    return TensorType(dtype_by_example(clip.impl, a, a_min, a_max), broadcast_shapes(*shapes))


@defop("clip", E, infer=_clip_rule, numpy=np.clip, methods="clip")
def clip(a, a_min=None, a_max=None):
    """``np.clip(a, a_min, a_max)``; either bound may be ``None``."""
    return np.clip(a, a_min, a_max)


def _trunc_div(x, y):
    a, b = np.asarray(x), np.asarray(y)
    if a.dtype.kind in "biu" and b.dtype.kind in "biu":
        with np.errstate(divide="ignore", invalid="ignore"):
            q = np.trunc(np.true_divide(x, y))
        return q.astype(np.result_type(x, y))
    return np.true_divide(x, y)


@defop("trunc_div", E, infer=elementwise_rule(_trunc_div))
def trunc_div(x, y):
    """``x / y``, truncating toward zero when both are integers: ``truediv`` as saved by its
    version 1 (upgraded programs call this; see ``runtime.upgraders``)."""
    return _trunc_div(x, y)
