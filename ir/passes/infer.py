"""Type propagation: give every value the type its op's rule derives from the input types."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from ..graph import Graph
from ..node import map_template
from ..ops import get_op
from ..types import AnyType, Type, type_of

__all__ = ["infer_types"]


def infer_types(graph: Graph, input_types: Sequence[Type] | None = None) -> Graph:
    """Recompute every node's types from the input types (default: the inputs' current types).

    Parameters keep their recorded types, constants their values' types.  An op without a rule,
    or whose rule fails, gets ``AnyType`` for its outputs (never a wrong type).
    """
    g = graph.copy()
    if input_types is not None:
        ins = g.input_nodes
        if len(input_types) != len(ins):
            raise ValueError(f"{len(ins)} inputs but {len(input_types)} input types")
        for nid, t in zip(ins, input_types):
            g.set_node(nid, dataclasses.replace(g.node(nid), types=(t,)))
    for nid in g.order():
        node = g.node(nid)
        op = get_op(node.op)
        if node.op in ("input", "param", "output"):
            continue
        if node.op == "constant":
            name = node.kwarg("name")
            value = g.tensors[name] if name is not None else node.kwarg("value")
            g.set_node(nid, dataclasses.replace(node, types=(type_of(value),)))
            continue
        in_types = [g.value_type(ref) for ref in g.inputs(nid)]
        fetch = lambda use, in_types=in_types: in_types[use.index]  # noqa: E731
        n_out = max(1, node.num_outputs)
        try:
            if op.infer is None:
                raise TypeError(f"op {op.name!r} has no type rule")
            result = op.infer(*map_template(node.args, fetch), **dict(map_template(node.kwargs, fetch)))
        except (TypeError, ValueError, IndexError):
            result = tuple(AnyType() for _ in range(n_out)) if op.multi_output else AnyType()
        types = tuple(result) if op.multi_output else (result,)
        g.set_node(nid, dataclasses.replace(node, types=types))
    return g
