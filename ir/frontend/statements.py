"""Statements: blocks, assignment, ``assert`` and ``if``, and the nested blocks ``if`` and loops build.

A block compiles statement by statement and reports whether it returned.  An ``if`` on a static
condition compiles only the branch taken; one on a value computed at run time compiles both
branches into blocks (:meth:`_Statements._in_block`) and joins them in an ``if`` node whose outputs
are the variables either branch changed, and the function's result under
:func:`~ir.frontend.transforms.lower_returns`.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Sequence
from typing import Any

from ..builder import Builder, Value
from ..graph import Graph, ValueRef
from ..node import Node, Use
from ..ops import get_op
from ..types import TensorType, Type, join
from .containers import _flatten, _unflatten
from .mutation import VIEW, ambiguous
from .raising import RAISED
from .transforms import RESULT, contains
from .values import _UNDEFINED, _same_static, _type


class _Statements:
    """Statements and ``if``; mixed into :class:`~ir.frontend.compiler.Compiler`."""

    def block(self, stmts: list[ast.stmt]) -> tuple[bool, Any]:
        """Compile statements; returns ``(returned, value)``."""
        for s in stmts:
            if isinstance(s, ast.Return):
                value = None if s.value is None else self.expr(s.value)
                return True, (RAISED if self._raised else value)
            if isinstance(s, ast.If):
                done, value = self.if_stmt(s)
                if done:
                    return True, value
            else:
                self.stmt(s)
            if self._raised:  # a raise, or a call that always raises: the rest is dead (raising.py)
                return True, RAISED
        return False, None

    def stmt(self, s: ast.stmt) -> None:
        if isinstance(s, ast.Assign):
            target = s.targets[0]
            if len(s.targets) == 1 and isinstance(target, (ast.Tuple, ast.List)) \
                    and isinstance(s.value, ast.Attribute) and s.value.attr == "shape" \
                    and not any(isinstance(t, ast.Starred) for t in target.elts):
                value = self.unpack_shape(s.value, len(target.elts), s)  # B, T, D = x.shape (ranks.py)
            else:
                value = self.expr(s.value)
            for target in s.targets:
                self.assign(target, value, s)
                if isinstance(target, ast.Name):
                    self.note_binding(target.id, value, s.value)
        elif isinstance(s, ast.AnnAssign):
            if s.value is None:
                return
            self.assign(s.target, self.expr(s.value), s)
        elif isinstance(s, ast.AugAssign):
            if not self.augmented_container(s):  # l += [...], d[k] += v (containers.py)
                self.augmented(s)
        elif isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant):
                return  # a docstring or a bare literal
            self.expr(s.value)
        elif isinstance(s, ast.Pass):
            return
        elif isinstance(s, ast.While):
            self.while_stmt(s)
        elif isinstance(s, ast.For):
            self.for_stmt(s)
        elif isinstance(s, (ast.Break, ast.Continue)):
            raise self.error(s, f"'{type(s).__name__.lower()}' outside a loop")
        elif isinstance(s, ast.Assert):
            self.assert_stmt(s)
        elif isinstance(s, ast.Raise):
            self.raise_stmt(s)
        else:
            raise self.unsupported(s)

    def assign(self, target: ast.expr, value: Any, node: ast.AST) -> None:
        if isinstance(target, ast.Name):
            self._check_name(target.id, target)
            self.frame.env[target.id] = value
            self.frame.dropped.pop(target.id, None)
            self.note_binding(target.id, value, None)
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = self.unpack_targets(value, target.elts, node)  # first, *rest = ... (containers.py)
            for t, v in zip(target.elts, items):
                self.assign(t.value if isinstance(t, ast.Starred) else t, v, node)
        elif isinstance(target, ast.Subscript):
            if not self.assign_container_item(target, value, node):  # d[k] = v (containers.py)
                self.assign_item(target, value, node)
        elif isinstance(target, ast.Attribute):
            raise self.error(node, "assignment to an attribute", "modules cannot be changed while running; "
                             "use a local variable")
        else:
            raise self.unsupported(target)

    def _check_name(self, name: str, node: ast.AST) -> None:
        if name.startswith("__") or name in ("self",):
            raise self.error(node, f"assignment to reserved name {name!r}")

    def condition(self, test: ast.expr) -> Any:
        cond = self.expr(test)
        if isinstance(cond, Value):
            t = cond.type
            if isinstance(t, TensorType) and t.shape and all(isinstance(d, int) for d in t.shape) \
                    and math.prod(t.shape) != 1:  # type: ignore[arg-type]
                raise self.error(test, f"the condition is an array of type {t}",
                                 "reduce it first: (...).any(), (...).all() or x.sum() > 0")
        return cond

    def if_stmt(self, s: ast.If) -> tuple[bool, Any]:
        cond = self.condition(s.test)
        if not isinstance(cond, Value):
            return self.block(s.body if cond else s.orelse)
        returns = contains(s.body, (ast.Return,)) or contains(s.orelse, (ast.Return,))
        branches = []
        for stmts in (s.body, s.orelse):
            branches.append(self._in_block(lambda stmts=stmts: self.block(stmts), node=s))
        joined = self.join_raised(s, cond, branches, returns)  # a branch that raised (raising.py)
        if joined is not None:
            return joined
        (b_then, env_then, (ret_then, val_then)), (b_else, env_else, (ret_else, val_else)) = branches
        if returns:
            if not (ret_then and ret_else):  # lift_returns guarantees this
                raise self.error(s, "internal error: a branch of a returning if falls through")
            return True, self.join_values(s, cond, (b_then, val_then), (b_else, val_else))
        env = self.frame.env
        names: list[str] = []
        result = self._join_result(s, env, (b_then, env_then), (b_else, env_else))
        for name in [*env_then, *env_else]:
            if name in names or name == RESULT:
                continue
            in_then, in_else = name in env_then, name in env_else
            if in_then and in_else:
                a, b = env_then[name], env_else[name]
                if name in env and a is env[name] and b is env[name]:
                    continue
                if not isinstance(a, Value) and not isinstance(b, Value) and _same_static(a, b):
                    env[name] = a
                    continue
                if name.endswith(VIEW):  # which array it views depends on the branch taken
                    env[name] = ambiguous(a, b)
                    continue
                names.append(name)
            elif name.endswith(VIEW):  # a view after one branch only
                env[name] = ambiguous(env_then.get(name), env_else.get(name))
            else:
                env.pop(name, None)
                self.frame.dropped[name] = "it is assigned in only one branch of the if"
        # names bound to one array in both branches stay one array after the if (mutation.py)
        reps: list[str] = []
        aliases: dict[str, list[str]] = {}
        for n in names:
            rep = next((r for r in reps if isinstance(env_then[n], Value) and env_then[r] is env_then[n]
                        and env_else[r] is env_else[n]), None)
            if rep is None:
                reps.append(n)
            else:
                aliases.setdefault(rep, []).append(n)
        names = reps
        # tuples, lists and dicts join item by item (containers.py)
        then_vals, else_vals, hints, rebuild = self.join_parts(s, names, env_then, env_else, b_then, b_else)
        n_named = len(then_vals)
        if result is not None:
            shape, leaves_then, leaves_else = result
            then_vals += leaves_then
            else_vals += leaves_else
            hints += [RESULT] * len(leaves_then)
        outs = self._region_if(s, cond, b_then, b_else, then_vals, else_vals, hints)
        for name, value in zip(names, rebuild(outs[:n_named])):
            env[name] = value
            for a in aliases.get(name, ()):
                env[a] = value
        if result is not None:
            env[RESULT] = _unflatten(result[0], outs[n_named:])
        return False, None

    def join_values(self, s: ast.AST, cond: Value, then: tuple[Builder, Any], other: tuple[Builder, Any],
                    what: str = "the branches return") -> Any:
        """The value ``then[1] if cond else other[1]``, each computed in its block, as an ``if``."""
        (leaves_then, shape), (leaves_else, shape_else) = _flatten(then[1]), _flatten(other[1])
        if shape != shape_else:
            raise self.error(s, f"{what} different structures", "return the same number of values from every branch")
        return _unflatten(shape, self._region_if(s, cond, then[0], other[0], leaves_then, leaves_else, []))

    def _join_result(self, s: ast.If, env: dict, then: tuple[Builder, dict], other: tuple[Builder, dict]) -> Any:
        """The function's result after an ``if`` under :func:`lower_returns`: ``(structure, then
        leaves, else leaves)``, or None when neither branch changed it.  A branch that has not
        returned passes ``ops.undefined()`` in the place of each value the other one returned (the
        ``returned$`` flag guards every read)."""
        sides = [env_.get(RESULT, _UNDEFINED) for _, env_ in (then, other)]
        if all(v is env.get(RESULT, _UNDEFINED) for v in sides):
            return None
        if _UNDEFINED in sides:
            known = sides[1] if sides[0] is _UNDEFINED else sides[0]
            missing = sides.index(_UNDEFINED)
            builder = (then, other)[missing][0]
            leaves, shape = _flatten(known)
            saved = self.builder
            self.builder = builder
            try:
                sides[missing] = _unflatten(shape, [self.emit(get_op("undefined"), (), {}, s) if isinstance(v, Value)
                                                    else v for v in leaves])
            finally:
                self.builder = saved
        (leaves_then, shape), (leaves_else, shape_else) = _flatten(sides[0]), _flatten(sides[1])
        if shape != shape_else:
            raise self.error(s, "the branches return different structures",
                             "return the same number of values from every branch")
        return shape, leaves_then, leaves_else

    def _in_block(self, compile_body: Any, own_inputs: Sequence[tuple[str, Type]] = (),
                  node: ast.AST | None = None) -> tuple[Builder, dict, Any]:
        """Compile ``compile_body()`` into a new block; returns (builder, env after, result)."""
        parent = self.builder
        assert parent is not None
        if self._block_depth >= self.MAX_BLOCK_DEPTH:
            raise self.error(node, f"if and loop bodies nest more than {self.MAX_BLOCK_DEPTH} deep "
                             "(each if that may return early holds the rest of the function)",
                             "return once, at the end, or split the function")
        graph = Graph("block")
        b = Builder(graph, parent)
        saved_env = self.frame.env
        saved_dropped = dict(self.frame.dropped)
        self.frame.env = dict(saved_env)
        self.builder = b
        self._block_depth += 1
        saved_raised, self._raised = self._raised, False
        try:
            for name, t in own_inputs:
                self.frame.env[name] = b.add_input(name, t)
            result = compile_body()
            env = self.frame.env
        finally:
            self._raised = saved_raised
            self._block_depth -= 1
            self.builder = parent
            self.frame.env = saved_env
            self.frame.dropped = saved_dropped
        return b, env, result

    def _block_output(self, b: Builder, values: Sequence[Any], node: ast.AST) -> None:
        saved = self.builder
        self.builder = b
        try:
            refs: list[Value] = []
            template = tuple(self._template(self.materialize(v, node), refs, node) for v in values)
            b.graph.add(Node("output", (template,)), [b.local(v) for v in refs])
        finally:
            self.builder = saved

    def _captures(self, blocks: Sequence[Builder]) -> list[ValueRef]:
        parent = self.builder
        refs = {outer for b in blocks for outer, _ in b.captured}
        order = {nid: i for i, nid in enumerate(parent.graph.order())}
        ordered = sorted(refs, key=lambda r: (order[r[0]], r[1]))
        for b in blocks:
            b.finish_inputs(ordered)
        return ordered

    def _region_if(self, s: ast.AST, cond: Value, b_then: Builder, b_else: Builder, then_vals: list, else_vals: list,
                   names: list[str]) -> list[Any]:
        static = [not isinstance(a, Value) and not isinstance(b, Value) and _same_static(a, b)
                  for a, b in zip(then_vals, else_vals)]
        keep = [i for i, st in enumerate(static) if not st]
        self._block_output(b_then, [then_vals[i] for i in keep], s)
        self._block_output(b_else, [else_vals[i] for i in keep], s)
        captured = self._captures([b_then, b_else])
        parent = self.builder
        inputs = [cond] + [Value(parent, r, parent.graph.value_type(r)) for r in captured]
        types = [join(_type(then_vals[i]), _type(else_vals[i])) for i in keep]
        hints = tuple(names[i] for i in keep) if names else ()
        self.budget.spend_nodes(1 + len(inputs), s)
        outs = parent.emit(get_op("if"), tuple(Use(i) for i in range(len(inputs))), (), inputs, types=types,
                           scope=self.frame.source.scope, loc=self.loc(s),
                           blocks=(b_then.graph, b_else.graph), hints=hints)
        result: list[Any] = []
        it = iter(outs)
        for i, st in enumerate(static):
            result.append(then_vals[i] if st else next(it))
        return result

