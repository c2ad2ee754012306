"""The graph's boundary ops: ``input``, ``param``, ``constant`` and ``output``.

Their values come from outside the op (the caller's arguments, the module's state, the graph's
constant table), so their references are never called by the interpreter; they document the op.
"""

from __future__ import annotations

from typing import Any

from .registry import OpKind, defop

G = OpKind.GRAPH


@defop("input", G, spelling="graph")
def input_(*, name: str, index: int, default: Any = None):
    """The ``index``-th argument of the method, called ``name``."""
    raise RuntimeError("input nodes are bound by the caller")


@defop("param", G, spelling="graph")
def param(*, name: str):
    """A parameter or buffer of the module, by qualified name (``fc.weight``)."""
    raise RuntimeError("param nodes are bound from the module state")


@defop("constant", G, spelling="graph")
def constant(*, name: str | None = None, value: Any = None):
    """A constant: a literal ``value``, or the array ``name`` in the graph's tensor table."""
    raise RuntimeError("constant nodes are bound from the graph")


@defop("output", G, spelling="graph", pure=False)
def output(*values):
    """The method's result: one value, or a tuple of them."""
    return values

