"""Static values and IR values: what the compiler computes while compiling and what it records.

A value in the compiler is either static (a Python or NumPy object it evaluated itself: literals,
sizes of known dimensions, module constants) or a :class:`~ir.builder.Value` of the graph being
built.  This room turns static values into ``constant`` nodes, reads parameters, builds argument
templates and records ops (:meth:`_Values.emit`), evaluates operators on static numbers under the
budget (:meth:`_Values._static`), and holds the small helpers every room uses on such values.
"""

from __future__ import annotations

import ast
import operator
from typing import Any

import numpy as np

from ..builder import Value
from ..node import LITERAL_TYPES, Node, Slice, Use
from ..ops import OpDef, normalize_call
from ..types import DictType, ListType, Type, type_of
from .budget import bounded_static as _bounded_static

_STATIC_NUMBERS = (bool, int, float, np.bool_, np.integer, np.floating)
_MAX_STATIC_INT = 2**63


class _Sentinel:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Sentinel()
_UNDEFINED: Any = _Sentinel()


def _is_literal(v: Any) -> bool:
    if isinstance(v, tuple):
        return all(_is_literal(x) for x in v)
    return isinstance(v, LITERAL_TYPES) and not isinstance(v, (np.generic,))


def _type(v: Any) -> Type:
    if isinstance(v, (list, dict)):  # a static list or dict: the type of the value it becomes
        from .containers import container_type

        return container_type(v)
    return v.type if isinstance(v, Value) else type_of(v)


def _holds_dict(v: Any) -> bool:
    if isinstance(v, dict):
        return True
    return isinstance(v, (tuple, list)) and any(_holds_dict(x) for x in v)


def _same_static(a: Any, b: Any) -> bool:
    return type(a) is type(b) and not isinstance(a, (np.ndarray,)) and a == b


class _Values:
    """Making and recording values; mixed into :class:`~ir.frontend.compiler.Compiler`."""

    def constant(self, value: Any, node: ast.AST | None = None) -> Value:
        """A constant node for a static value (a literal, a NumPy scalar or array)."""
        b = self.builder
        assert b is not None
        if isinstance(value, (np.ndarray, np.generic)):
            name = f"c{len(self._tensor_names)}"
            while name in self._tensor_names or name in b.graph.tensors:
                name += "_"
            self._tensor_names.add(name)
            b.graph.tensors[name] = value
            kwargs: tuple = (("name", name),)
        elif _is_literal(value) and not isinstance(value, tuple):
            kwargs = (("value", value),)
        else:
            raise self.error(node, f"a {type(value).__name__} cannot be a value in a program")
        nid = b.graph.add(Node("constant", kwargs=kwargs, types=(type_of(value),), loc=self.loc(node)))
        return Value(b, (nid, 0), type_of(value))

    def named_constant(self, name: str, array: np.ndarray) -> Value:
        """A constant node for the program's constant table entry ``name`` (archive text)."""
        b = self.builder
        assert b is not None
        b.graph.tensors[name] = array
        self._tensor_names.add(name)
        nid = b.graph.add(Node("constant", kwargs=(("name", name),), types=(type_of(array),)))
        return Value(b, (nid, 0), type_of(array))

    def param(self, qualified: str, type_: Type, scope: str = "") -> Value:
        """The value of parameter/buffer ``qualified`` (one ``param`` node per graph)."""
        b = self.builder
        assert b is not None
        key = (id(b), qualified)
        hit = self._params.get(key)
        if hit is None:
            nid = b.graph.add(Node("param", kwargs=(("name", qualified),), types=(type_,), scope=scope))
            hit = self._params[key] = Value(b, (nid, 0), type_)
        return hit

    def materialize(self, v: Any, node: ast.AST | None = None) -> Value:
        if isinstance(v, (list, dict)):  # a static list or dict becomes a run-time one (containers.py)
            return self.container_value(v, node)
        return v if isinstance(v, Value) else self.constant(v, node)

    def _template(self, v: Any, refs: list[Value], node: ast.AST | None, materialize: bool = False) -> Any:
        """``v`` as an argument template; values become ``Use`` of ``refs`` (deduplicated)."""
        if isinstance(v, Value):
            for i, r in enumerate(refs):
                if r is v or (r.builder is v.builder and r.ref == v.ref):
                    return Use(i)
            refs.append(v)
            return Use(len(refs) - 1)
        if materialize and isinstance(v, (list, dict)):  # a list or dict the program returns
            return self._template(self.container_value(v, node), refs, node)
        if isinstance(v, (tuple, list)):
            return tuple(self._template(x, refs, node, materialize) for x in v)
        if isinstance(v, dict):  # its values (what results read: writebacks)
            return tuple(self._template(x, refs, node, materialize) for x in v.values())
        if isinstance(v, slice):
            return Slice(*(self._template(x, refs, node, materialize) for x in (v.start, v.stop, v.step)))
        if isinstance(v, (np.ndarray, np.generic)):
            return self._template(self.constant(v, node), refs, node)
        if isinstance(v, type) and issubclass(v, (np.generic, bool, int, float)):
            return np.dtype(v)
        if isinstance(v, LITERAL_TYPES):
            return v
        raise self.error(node, f"a {type(v).__name__} ({v!r}) cannot be passed to an operation")

    def emit(self, op: OpDef, args: tuple, kwargs: dict, node: ast.AST | None, hints: tuple = ()) -> Any:
        """Record ``op(*args, **kwargs)``; values may be static or IR values."""
        self.budget.spend_nodes(1, node)
        if op.multi_output:
            self.budget.check_outputs(args, node)
        if _holds_dict(args) or _holds_dict(tuple(kwargs.values())):
            raise self.error(node, f"a dict passed to {op.spelling}()", "pass its values: list(d.values())")
        refs: list[Value] = []
        targs = tuple(self._template(a, refs, node) for a in args)
        tkwargs = {k: self._template(v, refs, node) for k, v in kwargs.items()}
        try:
            pos, kws = normalize_call(op, targs, tkwargs)
        except TypeError as exc:
            raise self.error(node, f"bad call of {op.spelling}(): {exc}") from None
        try:
            outs = self.builder.emit(op, pos, kws, refs, scope=self.frame.source.scope, loc=self.loc(node),
                                     hints=hints)
        except (TypeError, ValueError, IndexError) as exc:
            if any(isinstance(r.type, (ListType, DictType)) for r in refs):
                raise self.error(node, f"{op.spelling}() of a list or dict built when the program runs ({exc})",
                                 "np.stack or np.concatenate a list first, or index it") from None
            raise self.error(node, f"{op.name}: {exc}") from None
        return tuple(outs) if op.multi_output else outs[0]

    def _static(self, fn: Any, args: tuple, e: ast.AST) -> Any:
        """Evaluate an operator on static numbers, refusing what could blow up (huge ints)."""
        if not all(isinstance(a, _STATIC_NUMBERS) or a is None for a in args):
            if fn in (operator.add,) and all(isinstance(a, tuple) for a in args):
                self.budget.check_length(sum(len(a) for a in args), e)
                return fn(*args)  # tuple concatenation (its length is budgeted)
            if fn in (operator.eq, operator.ne):
                return fn(*args)
            raise self.error(e, f"operator on {', '.join(type(a).__name__ for a in args)} values")
        if not _bounded_static(fn, args, self.budget.limits.int_bits):
            raise self.error(e, "a constant expression that is too large")
        if fn is operator.mul and any(isinstance(a, (str, tuple)) for a in args):
            raise self.error(e, "repeating a sequence in a constant expression")
        try:
            out = fn(*args)
        except (ArithmeticError, ValueError, TypeError, RuntimeWarning) as exc:
            raise self.error(e, f"constant expression fails: {exc}") from None
        if isinstance(out, (int, np.integer)) and abs(int(out)) >= _MAX_STATIC_INT:
            raise self.error(e, "a constant expression that is too large")
        return out
