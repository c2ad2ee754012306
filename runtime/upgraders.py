"""Upgraders: keep the saved behaviour of operators whose semantics changed.

Every op has a version (``ir.ops``).  An archive records the version of each op it uses.  When
it recorded an older version than this release's, the upgraders registered for that op rewrite
each call, one version step at a time, into ops of this release that behave exactly as the old
op did; old files keep their numbers forever, and saving the upgraded module writes the upgraded
program.

History:

* ``truediv`` v1 divided two integer arrays with truncation toward zero (C-style ``/``), like
  early array libraries; v2 is NumPy's true division (``int / int -> float``).  v1 calls become
  ``ops.trunc_div``, which keeps the v1 behaviour.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ir import Graph
from ir.node import Node
from ir.ops import MissingRuleError, get_op

__all__ = ["UPGRADERS", "register_upgrader", "upgrade"]

#: op name -> {old version: rewrite of a node saved at that version into the next version}
UPGRADERS: dict[str, dict[int, Callable[[Node], Node]]] = {}


def register_upgrader(op: str, from_version: int) -> Callable[[Callable[[Node], Node]], Callable[[Node], Node]]:
    """Register ``fn(node) -> node`` that rewrites a call of ``op`` saved at ``from_version``."""

    def deco(fn: Callable[[Node], Node]) -> Callable[[Node], Node]:
        get_op(op)
        steps = UPGRADERS.setdefault(op, {})
        if from_version in steps:
            raise ValueError(f"op {op!r} already has an upgrader from version {from_version}")
        steps[from_version] = fn
        return fn

    return deco


@register_upgrader("truediv", 1)
def _truediv_v1(node: Node) -> Node:
    return dataclasses.replace(node, op="trunc_div")


def upgrade(graph: Graph, saved: dict[str, int], current: dict[str, int]) -> tuple[Graph, bool]:
    """``graph`` with every call of an op saved at an older version upgraded (blocks too).

    Returns the graph and whether anything changed.  An op without the needed upgrader raises
    :class:`ir.ops.MissingRuleError` naming the op and version.
    """
    stale = {op: v for op, v in saved.items() if op in current and v < current[op]}
    if not stale:
        return graph, False
    g = graph.copy()
    changed = False
    for nid, node in list(g.nodes()):
        if node.blocks:
            blocks = []
            for b in node.blocks:
                nb, ch = upgrade(b, saved, current)
                blocks.append(nb)
                changed |= ch
            node = dataclasses.replace(node, blocks=tuple(blocks))
            g.set_node(nid, node)
        version = stale.get(node.op)
        if version is None:
            continue
        name = node.op
        while node.op == name and version < current[name]:
            fn = UPGRADERS.get(name, {}).get(version)
            if fn is None:
                raise MissingRuleError(f"op {name!r} has no entry in the upgrader table for version {version}")
            node = fn(node)
            version += 1
        g.set_node(nid, node)
        changed = True
    return g, changed
