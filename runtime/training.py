"""``self.training`` read when a program runs.

A scripted program reads a module's ``training`` flag as a parameter node named
``<path>.training`` (``training`` for the module itself) of type ``bool``: ``if self.training:``
becomes an ``if`` on it, and library layers whose behaviour depends on it (``Dropout``,
``BatchNorm2d``, ``MultiheadAttention``) are compiled for both modes under such an ``if``.

The flags are not arrays, so they are not state: before a program runs, :func:`specialize`
replaces each flag by a constant holding the module's current mode.  A module keeps one
executor per combination of the flags its program reads, so each backend plans the program with
the branch known (the numba backend folds it away: two plans, not a test per call), and
``train()``/``eval()`` only pick another executor.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from ir import Graph, ScalarType
from ir.node import Node

__all__ = ["FLAG", "flag_name", "is_flag", "flags_read", "specialize"]

#: The attribute name a flag is read under.
FLAG = "training"
_BOOL = ScalarType("bool")


def flag_name(path: str) -> str:
    """The parameter name of module ``path``'s flag (``""``: the module itself)."""
    return f"{path}.{FLAG}" if path else FLAG


def is_flag(node: Node) -> bool:
    """Whether ``node`` reads a ``training`` flag."""
    if node.op != "param":
        return False
    name = node.kwarg("name")
    return (name == FLAG or name.endswith("." + FLAG)) and node.types[:1] in ((), (_BOOL,))


def flags_read(graph: Graph) -> tuple[str, ...]:
    """The flags ``graph`` (and its blocks) reads, sorted."""
    names: set[str] = set()

    def visit(g: Graph) -> None:
        for _, node in g.nodes():
            if is_flag(node):
                names.add(node.kwarg("name"))
            for block in node.blocks:
                visit(block)

    visit(graph)
    return tuple(sorted(names))


def specialize(graph: Graph, flags: Mapping[str, bool]) -> Graph:
    """A copy of ``graph`` whose flag reads are constants from ``flags`` (name -> mode)."""
    if not flags:
        return graph

    def rewrite(g: Graph) -> Graph:
        g = g.copy()
        for nid, node in list(g.nodes()):
            if is_flag(node):
                value = bool(flags[node.kwarg("name")])
                g.set_node(nid, Node("constant", kwargs=(("value", value),), types=(_BOOL,), loc=node.loc,
                                     scope=node.scope))
            elif node.blocks:
                g.set_node(nid, dataclasses.replace(node, blocks=tuple(rewrite(b) for b in node.blocks)))
        return g

    return rewrite(graph)
