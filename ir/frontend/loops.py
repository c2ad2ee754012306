"""Loops: ``while`` and ``for``.

A loop over a static sequence (a tuple, a ModuleList, ``enumerate``/``zip`` of them) is unrolled.
A ``while`` loop, or a ``for`` over ``range(...)``, becomes one ``loop`` node: the variables the
body assigns are carried, their types widened until they agree (:meth:`_Loops._loop`), and
``break``/``continue`` are lowered to flags first (:func:`~ir.frontend.transforms.lower_jumps`).
"""

from __future__ import annotations

import ast
from typing import Any

from ..builder import Value
from ..node import Use
from ..ops import get_op
from ..types import AnyType, join
from .budget import widen as _widen
from .mutation import mutates
from .transforms import BREAK, CONTINUE, contains, lower_jumps
from .values import _UNDEFINED, _type


def _alias_groups(names: list[str], env: dict) -> tuple[list[str], dict[str, list[str]]]:
    """``names`` with those bound to the same IR value folded into the first: (representatives,
    representative -> the others)."""
    reps: list[str] = []
    aliases: dict[str, list[str]] = {}
    for n in names:
        rep = next((r for r in reps if isinstance(env[n], Value) and env[r] is env[n]), None)
        if rep is None:
            reps.append(n)
        else:
            aliases.setdefault(rep, []).append(n)
    return reps, aliases


def _assigned(stmts: list[ast.stmt]) -> list[str]:
    """Names assigned in ``stmts`` in source order (including nested blocks)."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in names:
            names.append(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    for s in stmts:
        if isinstance(s, ast.AugAssign) and isinstance(s.target, ast.Name):
            if s.target.id not in names:
                names.append(s.target.id)
            visit(s.value)
            continue
        if isinstance(s, ast.For) and isinstance(s.target, ast.Name) and s.target.id not in names:
            visit(s.iter)
            names.append(s.target.id)
            for b in s.body:
                visit(b)
            continue
        visit(s)
    return names


class _Loops:
    """``while`` and ``for``; mixed into :class:`~ir.frontend.compiler.Compiler`."""

    def while_stmt(self, s: ast.While) -> None:
        if s.orelse:
            raise self.error(s, "unsupported construct 'while ... else'", "use a flag variable")
        body = list(s.body)
        cond_var = s.test.id if isinstance(s.test, ast.Name) and s.test.id in _assigned(body) else None
        has_jumps = contains(body, (ast.Break, ast.Continue))
        if has_jumps:
            body = self._with_jump_flags(body)
            self.frame.env[BREAK] = False
        def test() -> Any:
            if cond_var is not None:
                value = self.frame.env.get(cond_var)
                if value is None:
                    raise self.error(s, f"the loop condition {cond_var!r} is not defined")
            else:
                value = self.condition(s.test)
            if has_jumps:
                value = self.logical_and(self.unary(ast.Not, self.frame.env[BREAK], s), value, s)
            return value
        self._loop(s, body, test, exclude={cond_var} if cond_var else set())

    def _with_jump_flags(self, body: list[ast.stmt]) -> list[ast.stmt]:
        flags = [BREAK]
        if contains(body, (ast.Continue,)):
            flags.append(CONTINUE)
        lowered = lower_jumps(body, flags)
        if CONTINUE in flags:
            lowered.insert(0, ast.copy_location(ast.Assign(targets=[ast.Name(CONTINUE, ast.Store())],
                                                           value=ast.Constant(False)), body[0]))
        return lowered

    def _loop(self, s: ast.AST, body: list[ast.stmt], test: Any, exclude: set[str], prologue: Any = None) -> None:
        bodies = self.__dict__.setdefault("_loop_bodies", [])
        bodies.append(body)  # what the body puts into lists (mutation.py)
        try:
            self._loop_once(s, body, test, exclude, prologue)
        finally:
            bodies.pop()

    def _loop_once(self, s: ast.AST, body: list[ast.stmt], test: Any, exclude: set[str], prologue: Any) -> None:
        env = self.frame.env
        cond0 = test()
        if not isinstance(cond0, Value) and not cond0:
            return  # statically never runs
        assigned = [n for n in _assigned(body) if n in env and n not in exclude]
        assigned += [n for n in self.mutation_carried(body, env) if n not in assigned and n not in exclude]
        assigned += [n for n in self.containers_changed(body, env) if n not in assigned and n not in exclude]
        if prologue is not None:
            assigned = [n for n in prologue[0] if n in env and n not in exclude] + \
                [n for n in assigned if n not in prologue[0]]
        # names bound to one array share one carried value while the body writes into arrays, so
        # that a write through one name is seen through the others (mutation.py)
        carried, aliases = _alias_groups(assigned, env) if mutates(body) else (assigned, {})
        init = [self.materialize(env[n], s) for n in carried]
        types = [_widen(v.type) for v in init]
        attempts = 0
        while True:
            def run_body() -> tuple[Any, list[Any]]:
                entry = [self.frame.env[n] for n in carried]
                for rep, names in aliases.items():
                    for a in names:
                        self.frame.env[a] = self.frame.env[rep]
                if prologue is not None:
                    prologue[1]()
                done, _ = self.block(body)
                split = [rep for rep, names in aliases.items()
                         if any(self.frame.env.get(a) is not self.frame.env.get(rep) for a in names)]
                return test(), [self.frame.env.get(n, _UNDEFINED) for n in carried], entry, split
            b, env_after, (cond_new, new_vals, entry, split) = self._in_block(run_body, list(zip(carried, types)), s)
            if split:  # the body rebinds one of the names: they stop being one array
                for rep in split:
                    for a in aliases.pop(rep):
                        carried.append(a)
                        init.append(init[carried.index(rep)])
                        types.append(types[carried.index(rep)])
                continue
            for n, v in zip(carried, new_vals):
                if v is _UNDEFINED:
                    raise self.error(s, f"{n!r} is not defined at the end of the loop body")
            new_types = [join(t, _type(v)) for t, v in zip(types, new_vals)]
            attempts += 1
            if new_types == types:
                break
            types = new_types
            if attempts == 4:
                types = [AnyType() for _ in types]
                break
        self._block_output(b, [cond_new, *new_vals], s)
        captured = self._captures([b])
        parent = self.builder
        inputs = [self.materialize(cond0, s), *init] + [Value(parent, r, parent.graph.value_type(r)) for r in captured]
        self.budget.spend_nodes(1 + len(inputs), s)
        outs = parent.emit(get_op("loop"), tuple(Use(i) for i in range(len(inputs))), (("n_carried", len(carried)),),
                           inputs, types=types, scope=self.frame.source.scope, loc=self.loc(s),
                           blocks=(b.graph,), hints=tuple(carried))
        for name, value, before, after, start in zip(carried, outs, entry, new_vals, init):
            # a value the body passes through unchanged stays the value it was (and an argument the
            # loop never writes into is not written back)
            env[name] = start if after is before and env[name] is start else value
            for a in aliases.get(name, ()):
                env[a] = env[name]
        for name in env_after:
            if name not in env and not name.endswith("$"):
                self.frame.dropped[name] = "it is first assigned inside a loop; assign it before the loop"
        env.pop(BREAK, None)
        env.pop(CONTINUE, None)

    def for_stmt(self, s: ast.For) -> None:
        if s.orelse:
            raise self.error(s, "unsupported construct 'for ... else'", "use a flag variable")
        it = s.iter
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and not it.keywords \
                and self.name(it.func) is range:
            return self._for_range(s, [self.expr(a) for a in it.args])
        seq = self.for_items(s, self.expr(it))  # lists, dicts, tuple values (comprehensions.py)
        if seq is None:
            return  # a loop over a run-time list, compiled
        if isinstance(seq, Value):
            raise self.error(s, "a for loop over an array", "loop over range(len(x)) or range(x.shape[0])")
        if isinstance(seq, (tuple, list, range)):
            self.budget.check_length(len(seq), s)
        try:
            items = list(seq) if isinstance(seq, (tuple, list, range, enumerate, zip, reversed)) else \
                self.frame.source.resolver.attribute(self, seq, "__iter_static__", s)
        except TypeError:
            items = NotImplemented
        if items is NotImplemented:
            raise self.error(s, f"a for loop over a {type(seq).__name__}",
                             "loop over range(...), a ModuleList/Sequential, or a tuple")
        if contains(s.body, (ast.Break, ast.Continue)):
            raise self.error(s, "break/continue in a loop over modules or a tuple", "use an if around the body")
        if len(items) > 10_000:
            raise self.error(s, f"a loop over {len(items)} static items", "loop over range(...) instead")
        for item in items:
            self.budget.spend_unrolled(1, s)
            self.assign(s.target, item, s)
            done, _ = self.block(s.body)
            if self._raised:  # an iteration always raises: the later ones are dead (raising.py)
                break

    def _for_range(self, s: ast.For, args: list[Any]) -> None:
        if not 1 <= len(args) <= 3:
            raise self.error(s, f"range() takes 1 to 3 arguments, got {len(args)}")
        start, stop, step = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], args[2] if len(args) == 3 else 1)
        if isinstance(step, Value) or step == 0:
            raise self.error(s, "range() with a step that is not a non-zero constant", "use a while loop")
        if not isinstance(s.target, ast.Name):
            raise self.error(s, "a range loop must bind one name")
        counter = f"{s.target.id}$"  # the hidden counter (printed as the loop variable's name)
        env = self.frame.env
        env[counter] = start
        body = list(s.body)
        has_jumps = contains(body, (ast.Break, ast.Continue))
        if has_jumps:
            body = self._with_jump_flags(body)
            env[BREAK] = False
        cmp = "lt" if step > 0 else "gt"

        def test() -> Any:
            value = self.compare(cmp, env_now()[counter], stop, s)
            if has_jumps:
                value = self.logical_and(self.unary(ast.Not, env_now()[BREAK], s), value, s)
            return value

        def env_now() -> dict:
            return self.frame.env

        def prologue() -> None:
            self.frame.env[s.target.id] = self.frame.env[counter]
            self.frame.env[counter] = self.binop(ast.Add, self.frame.env[counter], step, s)

        self._loop(s, body, test, exclude=set(), prologue=([counter, s.target.id], prologue))
        env.pop(counter, None)

