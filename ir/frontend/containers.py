"""Containers: tuples and lists in programs, and unpacking them.

Tuples and lists are static containers of values (a list is compiled as a tuple); ``a, b = x``
unpacks a static container, a tuple-typed value or the first axis of an array of known size.  The
helpers flatten a nested tuple into its leaves and back, for ``if`` branches and results that must
agree in structure.
"""

from __future__ import annotations

import ast
from typing import Any

from ..builder import Value
from ..ops import get_op
from ..types import TensorType, TupleType


def _contains_value(v: Any) -> bool:
    if isinstance(v, Value):
        return True
    if isinstance(v, (tuple, list)):
        return any(_contains_value(x) for x in v)
    if isinstance(v, slice):
        return any(_contains_value(x) for x in (v.start, v.stop, v.step))
    return False


def _flatten(v: Any) -> tuple[list[Any], Any]:
    if isinstance(v, tuple):
        leaves: list[Any] = []
        shapes = []
        for x in v:
            sub, shape = _flatten(x)
            leaves.extend(sub)
            shapes.append(shape)
        return leaves, tuple(shapes)
    return [v], None


def _unflatten(shape: Any, leaves: list[Any]) -> Any:
    it = iter(leaves)

    def build(s: Any) -> Any:
        if s is None:
            return next(it)
        return tuple(build(x) for x in s)

    return build(shape)


class _Containers:
    """Tuple and list expressions and unpacking; mixed into :class:`~ir.frontend.compiler.Compiler`."""

    def _e_Tuple(self, e: ast.Tuple) -> Any:
        return tuple(self.expr(x) for x in e.elts)

    def _e_List(self, e: ast.List) -> Any:
        return tuple(self.expr(x) for x in e.elts)

    def unpack(self, value: Any, n: int, node: ast.AST) -> list[Any]:
        if isinstance(value, (tuple, list)):
            if len(value) != n:
                raise self.error(node, f"cannot unpack {len(value)} values into {n} names")
            return list(value)
        if isinstance(value, Value) and isinstance(value.type, TupleType):
            if len(value.type.elements) != n:
                raise self.error(node, f"cannot unpack {len(value.type.elements)} values into {n} names")
            return [self.emit(get_op("getitem"), (value, i), {}, node) for i in range(n)]
        if isinstance(value, Value) and isinstance(value.type, TensorType) and value.type.shape:
            size = value.type.shape[0]
            if size == n:
                return [self.emit(get_op("getitem"), (value, i), {}, node) for i in range(n)]
        raise self.error(node, f"cannot unpack this value into {n} names", "unpack tuples or x.shape")

