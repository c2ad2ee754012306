"""AST rewrites that put Python control flow into the shapes the compiler builds regions from.

* :func:`lift_returns`: an early ``return`` inside an ``if`` takes the statements after the ``if``
  into the branch that does not return, so every ``return`` ends a statement list and every
  ``if`` containing one returns from both branches.
* :func:`lower_jumps`: ``break``/``continue`` in a loop body become assignments to hidden flags,
  with the statements after a jump guarded by ``if not (flags)``.

Hidden names contain ``$`` so they can never collide with the user's names.
"""

from __future__ import annotations

import ast
import copy
from collections.abc import Callable

__all__ = ["lift_returns", "lower_jumps", "BREAK", "CONTINUE", "contains"]

BREAK = "break$"
CONTINUE = "continue$"


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


def lift_returns(stmts: list[ast.stmt], spend: Callable[[int, ast.AST], None] | None = None) -> list[ast.stmt]:
    """Move what follows an ``if`` that may return into its non-returning branches.

    The statements moved are shared, not copied (nothing downstream mutates the tree), and
    ``spend(n, node)`` is told about every statement placed a second time, so that a budget can
    stop the doubling of nested returning ``if``s.
    """
    out: list[ast.stmt] = []
    for i, s in enumerate(stmts):
        if isinstance(s, ast.Return):
            out.append(s)
            return out  # anything after a return is dead
        if isinstance(s, ast.If) and contains([s], (ast.Return,)):
            rest = stmts[i + 1:]
            if spend is not None and rest:
                spend(len(rest), s)
            new = copy.copy(s)
            new.body = lift_returns(s.body + rest, spend)
            new.orelse = lift_returns((s.orelse or []) + rest, spend)
            out.append(new)
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
