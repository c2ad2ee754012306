"""Dead-code elimination: drop pure nodes whose values never reach the output."""

from __future__ import annotations

from ..graph import Graph
from ..ops import get_op
from .blocks import map_blocks

__all__ = ["dce"]


def dce(graph: Graph) -> Graph:
    """Remove every pure node that neither the output nor an impure node (a guard) depends on.

    Inputs always stay.

    Constant tensors no longer referenced are dropped from ``graph.tensors`` too.
    """
    g = map_blocks(graph.copy(), dce)
    roots = [g.output_node] + [nid for nid, node in g.nodes() if not get_op(node.op).pure]  # guards, calls
    live = set(roots).union(*(g.ancestors(r) for r in roots))
    for nid, node in list(g.nodes()):
        if nid in live or node.op == "input" or not get_op(node.op).pure:
            continue
        g.remove(nid)
    used = {g.node(n).kwarg("name") for n in g.find("constant")}
    g.tensors = {k: v for k, v in g.tensors.items() if k in used}
    return g
