"""Compile-time budgets: bounds on the work the frontend does for one program.

Program text can come from a hostile archive, and the frontend evaluates some of it while
compiling (sizes, loops over static tuples, constant expressions).  Each kind of work is counted
where it happens, and going past a limit raises :class:`BudgetExceeded` (a ``ScriptError``; the
archive reader turns it into a ``SerializationError`` naming the entry) before the work is done.

The limits are far above what real programs need (a 100-layer transformer is ~10,000 nodes; a
scripted loop is one ``loop`` node whatever its trip count) and low enough that a program at the
limit compiles in seconds and well under 1 GiB.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..errors import ScriptError
from ..types import ScalarType, Type

__all__ = ["Limits", "LIMITS", "Budget", "BudgetExceeded", "bounded_static", "widen"]


@dataclass(frozen=True, slots=True)
class Limits:
    """The budgets of one compile (one program text, or one scripted function and its callees).

    Attributes
    ----------
    work : int
        Expressions compiled plus elements of static containers built (every unrolled iteration,
        every inlined or re-compiled statement counts again).
    nodes : int
        Graph nodes emitted.
    unrolled : int
        Iterations of loops unrolled at compile time (``for m in self.layers``, over tuples).
    container : int
        Length of one static tuple/list/range built while compiling.
    outputs : int
        Outputs of one multi-output op (``np.split(x, n)``), checked on its int arguments.
    int_bits : int
        Bits of a static integer (sizes, constant expressions).
    """

    work: int = 1_000_000
    nodes: int = 200_000
    unrolled: int = 100_000
    container: int = 1_000_000
    outputs: int = 10_000
    int_bits: int = 63


#: The default limits.
LIMITS = Limits()


class BudgetExceeded(ScriptError):
    """A program needs more compile-time work than a limit of :class:`Limits` allows."""

    def __init__(self, message: str, limit: str = "") -> None:
        super().__init__(message)
        self.limit = limit


class Budget:
    """Counters against :class:`Limits`; one is shared by every method of one program."""

    __slots__ = ("limits", "work", "nodes", "unrolled", "where", "locate")

    def __init__(self, limits: Limits = LIMITS, where: str = "the program") -> None:
        self.limits = limits
        self.work = 0
        self.nodes = 0
        self.unrolled = 0
        self.where = where
        #: ``node -> "file:line"`` where the compiler knows it (the function being compiled may
        #: be another file's); else ``where`` and the node's own line are shown.
        self.locate: Callable[[ast.AST], str | None] | None = None

    def _exceeded(self, name: str, what: str, node: ast.AST | None) -> BudgetExceeded:
        line = getattr(node, "lineno", None)
        at = self.locate(node) if self.locate is not None and node is not None else None
        if at is None:
            at = f"{self.where}:{line}" if line else self.where
        return BudgetExceeded(
            f"compile budget exceeded at {at}: {what}, more than the limit {name}={getattr(self.limits, name):,}; "
            "programs this large are refused (see docs/ARCHIVE.md, 'Budgets')", name)

    def spend_work(self, n: int = 1, node: ast.AST | None = None) -> None:
        self.work += n
        if self.work > self.limits.work:
            raise self._exceeded("work", "too much compile-time work (expressions and static elements)", node)

    def spend_nodes(self, n: int = 1, node: ast.AST | None = None) -> None:
        self.nodes += n
        if self.nodes > self.limits.nodes:
            raise self._exceeded("nodes", "too many graph nodes", node)

    def spend_unrolled(self, n: int, node: ast.AST | None = None) -> None:
        self.unrolled += n
        if self.unrolled > self.limits.unrolled:
            raise self._exceeded("unrolled", "too many loop iterations unrolled while compiling", node)
        self.spend_work(n, node)

    def check_length(self, n: int, node: ast.AST | None = None) -> None:
        """Refuse a static container of ``n`` elements (call before building it)."""
        if n > self.limits.container:
            raise self._exceeded("container", f"a static sequence of {n:,} elements", node)
        self.spend_work(n, node)

    def check_outputs(self, args: object, node: ast.AST | None = None) -> None:
        """Refuse a multi-output op whose int arguments ask for too many outputs."""
        stack = [args]
        while stack:
            a = stack.pop()
            if isinstance(a, (tuple, list)):
                if len(a) > self.limits.outputs:
                    raise self._exceeded("outputs", f"an operation with {len(a):,} outputs", node)
                stack.extend(a)
            elif isinstance(a, int) and not isinstance(a, bool) and a > self.limits.outputs:
                raise self._exceeded("outputs", f"an operation with {a:,} outputs", node)

    def check_int(self, value: object, node: ast.AST | None = None) -> None:
        if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > self.limits.int_bits:
            raise self._exceeded("int_bits", "a constant integer that is too large", node)


def bounded_static(fn: object, args: tuple, int_bits: int) -> bool:
    """Whether ``fn(*args)`` on static numbers gives a result small enough to compute at all
    (checked before computing it: ``n ** 10**9`` would take minutes)."""
    import operator

    ints = [int(a) for a in args if isinstance(a, (int, np.integer)) and not isinstance(a, bool)]
    if len(ints) != len(args):
        if fn is operator.pow and len(args) == 2 and isinstance(args[1], (int, np.integer)) \
                and abs(int(args[1])) > 4 * int_bits and isinstance(args[0], (float, np.floating)):
            return abs(float(args[0])) <= 1.0 or int(args[1]) < 0
        return True
    if any(abs(v).bit_length() > 4 * int_bits for v in ints):
        return False
    if fn is operator.pow:
        base, exp = ints
        return abs(base) <= 1 or exp < 0 or abs(base).bit_length() * exp <= 2 * int_bits
    if fn is operator.mul:
        return sum(abs(v).bit_length() for v in ints) <= 4 * int_bits
    return True


def widen(t: Type) -> Type:
    """``t`` without a known scalar value (a loop-carried value changes from one iteration to
    the next, so its first-iteration value must not be compiled into the body)."""
    if isinstance(t, ScalarType) and t.value is not None:
        return ScalarType(t.kind)
    return t
