"""Dead-code elimination: drop pure nodes whose values never reach the output."""

from __future__ import annotations

import networkx as nx

from ..graph import Graph
from ..ops import get_op
from .blocks import map_blocks

__all__ = ["dce"]


def dce(graph: Graph) -> Graph:
    """Remove every pure node that the output does not depend on (inputs always stay).

    Constant tensors no longer referenced are dropped from ``graph.tensors`` too.
    """
    g = map_blocks(graph.copy(), dce)
    live = nx.ancestors(g.nx, g.output_node) | {g.output_node}
    for nid, node in list(g.nodes()):
        if nid in live or node.op == "input" or not get_op(node.op).pure:
            continue
        g.remove(nid)
    used = {g.node(n).kwarg("name") for n in g.find("constant")}
    g.tensors = {k: v for k, v in g.tensors.items() if k in used}
    return g
