"""Expressions: names, attributes, indexing and operators.

Each ``ast`` expression node ``X`` is compiled by ``_e_X``.  Operators on static values are
evaluated while compiling; on values computed at run time they become ops.  ``x.shape`` stays lazy
(:class:`_Shape`) until it is indexed, so ``x.shape[0]`` reads one size of an array whose rank is
unknown.  Names and attributes the compiler does not know itself go to the
:class:`~ir.frontend.compiler.Resolver`.
"""

from __future__ import annotations

import ast
import builtins
import math
import operator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..builder import Value
from ..ops import get_op, op_for_method
from ..types import AnyType, ScalarType, TensorType
from .calls import _SAFE_BUILTINS, _VALUE_METHODS, _Method
from .containers import PyList, _contains_value, _flatten, _unflatten, is_container
from .lambdas import Lambda
from .numpy_table import NOT_ADMITTED, numpy_attribute
from .values import _MISSING, _is_literal

if TYPE_CHECKING:
    from .compiler import Compiler


class _OpsNamespace:
    """``ops.<name>`` in program text: every registered op by name."""

    def __repr__(self) -> str:
        return "ops"


OPS = _OpsNamespace()


class _Shape:
    """``x.shape`` before it is used: indexing reads one size, anything else reads them all."""

    def __init__(self, compiler: Compiler, value: Value, rank: int, node: ast.AST) -> None:
        self.compiler, self.value, self.rank, self.node = compiler, value, rank, node

    def dims(self, indices: Any = None) -> tuple:
        if self.rank is None:
            if isinstance(indices, int) and not isinstance(indices, bool):  # x.shape[i], x.shape[-1]: no rank
                return (self.compiler.emit(get_op("dim"), (self.value, indices), {}, self.node),)
            raise self.compiler.error(self.node, "x.shape of an array whose rank is unknown",
                                      "unpack it first (B, T, D = x.shape fixes the rank), read sizes with "
                                      "x.shape[i], or pass example_inputs to tracer.script")
        picked = range(self.rank) if indices is None else range(self.rank)[indices]
        if isinstance(picked, int):
            picked = [picked]
        return tuple(self.compiler.emit(get_op("dim"), (self.value, i), {}, self.node) for i in picked)


_BIN_OPS: dict[type, str] = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv", ast.FloorDiv: "floordiv",
    ast.Mod: "mod", ast.Pow: "pow", ast.MatMult: "matmul", ast.BitAnd: "and_", ast.BitOr: "or_",
    ast.BitXor: "xor",
}
_CMP_OPS: dict[type, str] = {
    ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge",
}
_STATIC_BIN = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
               "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow, "and_": operator.and_,
               "or_": operator.or_, "xor": operator.xor, "matmul": operator.matmul}
_STATIC_CMP = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
               "ge": operator.ge}
_UNARY_OPS: dict[type, str] = {ast.USub: "neg", ast.UAdd: "pos", ast.Invert: "invert", ast.Not: "not_"}

_MATH_CONSTANTS = frozenset({"pi", "e", "tau", "inf", "nan"})


def _concrete(v: Any) -> Any:
    return v.dims() if isinstance(v, _Shape) else v


def _index_arg(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_index_arg(i) for i in index)
    return index


class _Expressions:
    """Expressions; mixed into :class:`~ir.frontend.compiler.Compiler`."""

    def expr(self, e: ast.expr) -> Any:
        """Compile an expression; ``x.shape`` stays lazy only as the target of an index."""
        value = self.expr_lazy(e)
        return value.dims() if isinstance(value, _Shape) else value

    def expr_lazy(self, e: ast.expr) -> Any:
        self.budget.spend_work(1, e)
        method = getattr(self, f"_e_{type(e).__name__}", None)
        if method is None:
            raise self.unsupported(e)
        return method(e)

    def _e_Constant(self, e: ast.Constant) -> Any:
        if not _is_literal(e.value) and not isinstance(e.value, bytes):
            raise self.unsupported(e)
        if isinstance(e.value, bytes):
            raise self.error(e, "bytes literals are not values in programs")
        return e.value

    def _e_Name(self, e: ast.Name) -> Any:
        return self.name(e)

    def name(self, e: ast.Name) -> Any:
        n = e.id
        if n.startswith("__"):
            raise self.error(e, f"access to dunder name {n!r} is not allowed")
        env = self.frame.env
        if n in env:
            return env[n]
        if n in self.frame.dropped:
            raise self.error(e, f"{n!r} is not defined here: {self.frame.dropped[n]}")
        try:
            return self.frame.source.resolver.lookup(n)
        except KeyError:
            pass
        value = self._lookup_builtin(n)
        if value is not _MISSING:
            return value
        raise self.error(e, f"unknown name {n!r}", "only arguments, local variables, registered NumPy "
                         "functions, module attributes and supported builtins can be used")

    @staticmethod
    def _lookup_builtin(n: str) -> Any:
        if n in _SAFE_BUILTINS:
            return getattr(builtins, n)
        if n in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[n]
        value = getattr(builtins, n, None)
        if isinstance(value, type) and issubclass(value, BaseException):
            return value  # for raise (raising.py), which admits only a closed set of them
        return _MISSING

    def _e_Attribute(self, e: ast.Attribute) -> Any:
        if e.attr.startswith("__"):
            raise self.error(e, f"access to dunder attribute {e.attr!r} is not allowed")
        obj = self.expr(e.value)
        return self.attribute(obj, e.attr, e)

    def attribute(self, obj: Any, name: str, e: ast.AST) -> Any:
        if is_container(obj):  # l.append, d.get, ... (container_calls.py)
            return self.container_attribute(obj, name, e)
        if isinstance(obj, Value):
            return self._value_attribute(obj, name, e)
        value = numpy_attribute(obj, name)
        if value is not NotImplemented:
            if value is NOT_ADMITTED:
                raise self.error(e, f"np.{name} is not available in programs",
                                 "use the NumPy functions that have registered ops (ir.ops.numpy_surface())")
            return value
        if obj is OPS:
            try:
                return get_op(name)
            except KeyError as exc:
                raise self.error(e, str(exc.args[0])) from None
        if obj is math and name in _MATH_CONSTANTS:
            return getattr(math, name)
        if isinstance(obj, np.dtype) and name in ("name", "itemsize", "kind"):
            return getattr(obj, name)
        if isinstance(obj, tuple) and name in ("count", "index"):
            return getattr(obj, name)
        if isinstance(obj, np.ufunc) and name in ("reduce", "accumulate", "outer"):
            return getattr(obj, name)  # np.add.reduce(x, axis) (ufunc_calls.py)
        result = self.frame.source.resolver.attribute(self, obj, name, e)
        if result is NotImplemented:
            raise self.error(e, f"attribute {name!r} of a {type(obj).__name__} is not available in programs")
        return result

    def _value_attribute(self, v: Value, name: str, e: ast.AST) -> Any:
        t = v.type
        if name == "shape":
            return _Shape(self, v, t.rank if isinstance(t, TensorType) else None, e)
        if name == "ndim":
            if isinstance(t, TensorType) and t.rank is None:
                return self.run_time_ndim(v, e)
            if not isinstance(t, TensorType):
                raise self.error(e, f"x.ndim of a {t}", "ndim is an array's")
            return t.rank
        if name == "dtype":
            if not isinstance(t, TensorType) or t.dtype is None:
                raise self.error(e, "x.dtype of an array whose dtype is unknown",
                                 "pass example_inputs to tracer.script")
            return t.dtype
        if name == "size":
            return self.emit(get_op("size"), (v,), {}, e)
        if name == "T":
            return self.emit(get_op("transpose"), (v,), {}, e)
        if name in _VALUE_METHODS or op_for_method(name) is not None:
            return _Method(v, name)
        raise self.error(e, f"arrays have no attribute {name!r} in programs")

    def _e_Lambda(self, e: ast.Lambda) -> Any:
        if not getattr(self.frame.source.resolver, "user_code", True):
            raise self.unsupported(e)  # program text never holds one (the printer writes none)
        return Lambda(e, self.frame)  # called where it is used (lambdas.py)

    def _e_Subscript(self, e: ast.Subscript) -> Any:
        obj = self.expr_lazy(e.value)
        index = self._index(e.slice)
        if isinstance(obj, _Shape) and isinstance(index, (int, slice)) and not _contains_value(index):
            try:
                picked = obj.dims(index)
            except (IndexError, TypeError) as exc:
                raise self.error(e, f"bad index into x.shape: {exc}") from None
            return picked if isinstance(index, slice) else picked[0]
        obj = _concrete(obj)
        if is_container(obj):  # lists and dicts (containers.py)
            return self.container_getitem(obj, index, e)
        if isinstance(obj, Value):
            if isinstance(index, list):
                index = tuple(index)
            result = self.emit(get_op("getitem"), (obj, _index_arg(index)), {}, e)
            self._last_index = (result, _index_arg(index))  # y = x[...] may make y a view (mutation.py)
            return result
        if isinstance(obj, (tuple, list)) and not isinstance(index, Value) and not _contains_value(index):
            try:
                return obj[index]
            except (IndexError, TypeError) as exc:
                raise self.error(e, f"bad index: {exc}") from None
        if isinstance(obj, (tuple, list)):
            raise self.error(e, "indexing a tuple with a value computed at run time", "use a constant index")
        result = self.frame.source.resolver.attribute(self, obj, "__getitem_static__", e)
        if result is NotImplemented:
            raise self.error(e, f"indexing a {type(obj).__name__}")
        return result(index)

    def _index(self, s: ast.expr) -> Any:
        if isinstance(s, ast.Slice):
            parts = [None if p is None else self.expr(p) for p in (s.lower, s.upper, s.step)]
            return slice(*parts)
        if isinstance(s, ast.Tuple):
            return tuple(self._index(x) for x in s.elts)
        index = self.expr(s)
        return self.list_index(index, s) if isinstance(index, PyList) else index

    def _e_BinOp(self, e: ast.BinOp) -> Any:
        return self.binop(type(e.op), self.expr(e.left), self.expr(e.right), e)

    def binop(self, kind: type, a: Any, b: Any, e: ast.AST) -> Any:
        name = _BIN_OPS.get(kind)
        if name is None:
            raise self.error(e, f"operator {kind.__name__}")
        if is_container(a) or is_container(b):  # l1 + l2, [0] * n, d1 | d2 (containers.py)
            return self.container_binop(kind, a, b, e)
        if not isinstance(a, Value) and not isinstance(b, Value):
            return self._static(_STATIC_BIN[name], (a, b), e)
        return self.emit(get_op(name), (a, b), {}, e)

    def _e_UnaryOp(self, e: ast.UnaryOp) -> Any:
        return self.unary(type(e.op), self.expr(e.operand), e)

    def unary(self, kind: type, v: Any, e: ast.AST) -> Any:
        if not isinstance(v, Value):
            if kind is ast.Not:
                return not v
            return self._static({ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}[kind],
                                (v,), e)
        return self.emit(get_op(_UNARY_OPS[kind]), (v,), {}, e)

    def _e_Compare(self, e: ast.Compare) -> Any:
        left = self.expr(e.left)
        result: Any = True
        for op_node, right_node in zip(e.ops, e.comparators):
            right = self.expr(right_node)
            if isinstance(op_node, (ast.Is, ast.IsNot)):
                value = self._identity(left, right, e)
                if isinstance(op_node, ast.IsNot):
                    value = self.unary(ast.Not, value, e)
            elif isinstance(op_node, (ast.In, ast.NotIn)) and is_container(right):  # containers.py
                value = self.container_contains(left, right, isinstance(op_node, ast.NotIn), e)
            elif isinstance(op_node, (ast.In, ast.NotIn)):
                if isinstance(left, Value) or isinstance(right, Value) or _contains_value(right):
                    raise self.error(e, "'in' on values computed at run time", "compare explicitly")
                value = left in right if isinstance(op_node, ast.In) else left not in right
            else:
                value = self.compare(_CMP_OPS[type(op_node)], left, right, e)
            result = value if result is True else self.logical_and(result, value, e)
            left = right
        return result

    def compare(self, name: str, a: Any, b: Any, e: ast.AST) -> Any:
        """``a <op> b`` for the comparison op ``name`` (``"lt"``, ...)."""
        if not isinstance(a, Value) and not isinstance(b, Value):
            return self._static(_STATIC_CMP[name], (a, b), e)
        return self.emit(get_op(name), (a, b), {}, e)

    def _identity(self, a: Any, b: Any, e: ast.AST) -> Any:
        if b is not None and a is not None:
            if isinstance(a, Value) or isinstance(b, Value):
                raise self.error(e, "'is' between values", "use == to compare values, 'is' only with None")
            return a is b
        other = a if b is None else b
        if not isinstance(other, Value):
            return other is None
        if isinstance(other.type, AnyType) or (isinstance(other.type, ScalarType) and other.type.kind == "none"):
            return self.emit(get_op("is_none"), (other,), {}, e)
        return False  # an array or a number is never None

    def _e_BoolOp(self, e: ast.BoolOp) -> Any:
        values = [self.expr(v) for v in e.values]
        result = values[0]
        for v in values[1:]:
            result = self.logical_and(result, v, e) if isinstance(e.op, ast.And) else self.logical_or(result, v, e)
        return result

    def logical_and(self, a: Any, b: Any, e: ast.AST) -> Any:
        if not isinstance(a, Value):
            return b if a else a
        if not isinstance(b, Value):
            return a if b else False
        return self.emit(get_op("and_"), (self._as_bool(a, e), self._as_bool(b, e)), {}, e)

    def logical_or(self, a: Any, b: Any, e: ast.AST) -> Any:
        if not isinstance(a, Value):
            return a if a else b
        if not isinstance(b, Value):
            return True if b else a
        return self.emit(get_op("or_"), (self._as_bool(a, e), self._as_bool(b, e)), {}, e)

    def _as_bool(self, v: Value, e: ast.AST) -> Value:
        if isinstance(v.type, ScalarType) and v.type.kind == "bool":
            return v
        return self.emit(get_op("to_bool"), (v,), {}, e)

    def _e_IfExp(self, e: ast.IfExp) -> Any:
        cond = self.condition(e.test)
        if not isinstance(cond, Value):
            return self.expr(e.body if cond else e.orelse)
        b_then, _, v_then = self._in_block(lambda: self.expr(e.body), node=e)
        b_else, _, v_else = self._in_block(lambda: self.expr(e.orelse), node=e)
        leaves_then, shape = _flatten(v_then)
        leaves_else, shape_else = _flatten(v_else)
        if shape != shape_else:
            raise self.error(e, "the two sides of 'x if c else y' have different structures")
        return _unflatten(shape, self._region_if(e, cond, b_then, b_else, leaves_then, leaves_else, []))

