"""Helpers for passes over graphs whose control-flow nodes own blocks."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from ..graph import Graph

__all__ = ["map_blocks"]


def map_blocks(graph: Graph, fn: Callable[[Graph], Graph]) -> Graph:
    """``graph`` (modified in place; pass a copy) with every block ``b`` replaced by ``fn(b)``."""
    for nid, node in list(graph.nodes()):
        if node.blocks:
            graph.set_node(nid, dataclasses.replace(node, blocks=tuple(fn(b) for b in node.blocks)))
    return graph
