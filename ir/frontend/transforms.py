"""AST rewrites that put Python control flow into the shapes the compiler builds regions from.

* :func:`lift_returns`: an early ``return`` inside an ``if`` takes the statements after the ``if``
  into the branch that does not return, so every ``return`` ends a statement list and every
  ``if`` containing one returns from both branches.  Used when no statement would be placed
  twice (:func:`lifting_copies` is 0): ``if c: return a`` then ``return b``.
* :func:`lower_returns`: otherwise (a branch that may return inside a branch that may fall
  through), returns become assignments to a hidden result and a hidden flag, the statements after
  an ``if`` that may have returned are guarded by ``if not returned``, and the function ends in
  one ``return``: one exit, and every statement is compiled once.
* :func:`lower_jumps`: ``break``/``continue`` in a loop body become assignments to hidden flags,
  with the statements after a jump guarded by ``if not (flags)``.

A ``raise`` ends a path like a ``return`` (:data:`EXITS`): what follows it is dead, and an
``if`` whose branch raises joins only what the other branch leaves.

Hidden names contain ``$`` so they can never collide with the user's names.
"""

from __future__ import annotations

import ast
import copy

__all__ = ["lift_returns", "lifting_copies", "lower_returns", "lower_jumps", "always_returns", "BREAK", "CONTINUE",
           "RETURNED", "RESULT", "EXITS", "contains"]

BREAK = "break$"
CONTINUE = "continue$"
RETURNED = "returned$"
RESULT = "result$"
#: Statements that end a path: nothing after them runs.
EXITS = (ast.Return, ast.Raise)


def contains(stmts: list[ast.stmt], kinds: tuple[type, ...], *, into_loops: bool = False) -> bool:
    """Whether ``stmts`` contain a statement of ``kinds`` (not looking into nested loops)."""
    for s in stmts:
        if isinstance(s, kinds):
            return True
        if isinstance(s, ast.If) and (contains(s.body, kinds, into_loops=into_loops)
                                      or contains(s.orelse, kinds, into_loops=into_loops)):
            return True
        if into_loops and isinstance(s, (ast.For, ast.While)) and contains(s.body, kinds, into_loops=True):
            return True
    return False


def _at(node: ast.AST, like: ast.AST) -> ast.AST:
    return ast.copy_location(node, like)


def always_returns(stmts: list[ast.stmt]) -> bool:
    """Whether every path through ``stmts`` ends in a ``return`` or a ``raise`` (loops aside: they
    may not return)."""
    for s in stmts:
        if isinstance(s, EXITS):
            return True
        if isinstance(s, ast.If) and always_returns(s.body) and always_returns(s.orelse):
            return True
    return False


def lifting_copies(stmts: list[ast.stmt], limit: int = 1) -> int:
    """How many statements :func:`lift_returns` would place a second time in live code, counted up
    to ``limit`` (the walk stops there: this decides, it does not measure).

    The rest of a list goes into both branches of a returning ``if``; it is a copy only when both
    branches may fall through.
    """
    total = 0

    def walk(stmts: list[ast.stmt]) -> bool:  # False once the limit is reached
        nonlocal total
        for i, s in enumerate(stmts):
            if isinstance(s, EXITS):
                return True
            if isinstance(s, ast.If) and contains([s], EXITS):
                rest = stmts[i + 1:]
                if rest and not always_returns(s.body) and not always_returns(s.orelse or []):
                    total += len(rest)
                    if total >= limit:
                        return False
                return walk(s.body + rest) and walk((s.orelse or []) + rest)
        return True

    walk(stmts)
    return total


def lift_returns(stmts: list[ast.stmt]) -> list[ast.stmt]:
    """Move what follows an ``if`` that may return into its non-returning branches.

    The statements moved are shared, not copied (nothing downstream mutates the tree); callers
    use this only where :func:`lifting_copies` is 0, so nothing is compiled twice.
    """
    out: list[ast.stmt] = []
    for i, s in enumerate(stmts):
        if isinstance(s, EXITS):
            out.append(s)
            return out  # anything after a return or a raise is dead
        if isinstance(s, ast.If) and contains([s], EXITS):
            rest = stmts[i + 1:]
            new = copy.copy(s)
            new.body = lift_returns(s.body + rest)
            new.orelse = lift_returns((s.orelse or []) + rest)
            out.append(new)
            return out
        out.append(s)
    return out


def _assign(name: str, value: ast.expr, like: ast.AST) -> ast.stmt:
    return _at(ast.Assign(targets=[ast.Name(name, ast.Store())], value=value), like)


def lower_returns(stmts: list[ast.stmt]) -> list[ast.stmt]:
    """One exit: ``return v`` becomes ``result$ = v; returned$ = True`` and the statements after
    an ``if`` that may return run under ``if not returned$``.  ``stmts`` must end in a ``return``
    on every path (the compiler appends ``return None``); the caller binds ``returned$ = False``
    first and returns ``result$`` last."""
    out: list[ast.stmt] = []
    for i, s in enumerate(stmts):
        if isinstance(s, ast.Return):
            value = s.value if s.value is not None else _at(ast.Constant(None), s)
            out += [_assign(RESULT, value, s), _assign(RETURNED, _at(ast.Constant(True), s), s)]
            return out
        if isinstance(s, ast.Raise):
            out.append(s)
            return out  # the rest is dead
        if isinstance(s, ast.If) and contains([s], (ast.Return,)):
            new = copy.copy(s)
            new.body = lower_returns(s.body)
            new.orelse = lower_returns(s.orelse or [])
            out.append(new)
            if always_returns([s]):
                return out  # the rest is dead
            rest = lower_returns(stmts[i + 1:])
            if rest:
                test = _at(ast.UnaryOp(ast.Not(), _at(ast.Name(RETURNED, ast.Load()), s)), s)
                out.append(_at(ast.If(test=test, body=rest, orelse=[]), rest[0]))
            return out
        out.append(s)
    return out


def _flag(name: str, value: bool, like: ast.AST) -> ast.stmt:
    return _at(ast.Assign(targets=[ast.Name(name, ast.Store())], value=ast.Constant(value)), like)


def _not_jumped(flags: list[str], like: ast.AST) -> ast.expr:
    names: list[ast.expr] = [ast.Name(f, ast.Load()) for f in flags]
    test = names[0] if len(names) == 1 else ast.BoolOp(ast.Or(), names)
    return _at(ast.UnaryOp(ast.Not(), test), like)


def lower_jumps(stmts: list[ast.stmt], flags: list[str]) -> list[ast.stmt]:
    """Replace ``break``/``continue`` (not inside nested loops) by flag assignments."""
    out: list[ast.stmt] = []
    for i, s in enumerate(stmts):
        if isinstance(s, ast.Break):
            out.append(_flag(BREAK, True, s))
            return out
        if isinstance(s, ast.Continue):
            out.append(_flag(CONTINUE, True, s))
            return out
        if isinstance(s, ast.If) and contains([s], (ast.Break, ast.Continue)):
            new = copy.copy(s)
            new.body = lower_jumps(s.body, flags)
            new.orelse = lower_jumps(s.orelse or [], flags)
            out.append(new)
            rest = lower_jumps(stmts[i + 1:], flags)
            if rest:
                out.append(_at(ast.If(test=_not_jumped(flags, s), body=rest, orelse=[]), rest[0]))
            return out
        out.append(s)
    return out
