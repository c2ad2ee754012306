"""Constant folding: evaluate pure ops whose inputs are all constants."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GuardError
from ..graph import Graph
from ..node import Node, map_template
from ..ops import OpKind, get_op
from ..types import type_of
from .blocks import map_blocks

__all__ = ["fold", "fold_node", "MAX_FOLDED_ELEMENTS"]

#: Larger results stay computed at run time instead of growing the program's constant table.
MAX_FOLDED_ELEMENTS = 4096


def _constant_value(g: Graph, nid: int) -> Any:
    node = g.node(nid)
    name = node.kwarg("name")
    return g.tensors[name] if name is not None else node.kwarg("value")


def _foldable(g: Graph, nid: int, node: Node) -> bool:
    op = get_op(node.op)
    if not op.pure or op.kind is OpKind.GRAPH or op.multi_output:
        return False
    inputs = g.inputs(nid)
    return bool(inputs) and all(g.node(src).op == "constant" for src, _ in inputs)


def fold(graph: Graph) -> Graph:
    """Replace each pure single-output op over constants by a constant holding its result.

    Uses the op's NumPy reference, so folded values are exactly what running would give.
    """
    g = map_blocks(graph.copy(), fold)
    for nid in g.order():
        node = g.node(nid)
        if node.op == "guard":  # a check proven true by constants is dropped; a failing one stays
            inputs = g.inputs(nid)
            if inputs and all(g.node(src).op == "constant" for src, _ in inputs):
                fetch = [_constant_value(g, src) for src, _ in inputs].__getitem__
                args = map_template(node.args, lambda use: fetch(use.index))  # noqa: B023
                try:
                    get_op("guard").impl(*args, **dict(node.kwargs))
                except GuardError:  # it fails whatever the inputs: keep it to raise when run
                    continue
                if not g.users(nid):
                    g.remove(nid)
            continue
        if _foldable(g, nid, node):
            fold_node(g, nid)
    return g


def fold_node(g: Graph, nid: int) -> int | None:
    """Replace node ``nid`` of ``g`` (in place; a pure single-output op whose inputs are all
    constants) by a constant holding its result; the constant's id, or ``None`` where the result
    is too large (:data:`MAX_FOLDED_ELEMENTS`) or not an array or Python scalar (``nid`` stays)."""
    node = g.node(nid)
    inputs = g.inputs(nid)
    fetch = [_constant_value(g, src) for src, _ in inputs].__getitem__
    args = map_template(node.args, lambda use: fetch(use.index))
    kwargs = dict(map_template(node.kwargs, lambda use: fetch(use.index)))
    result = get_op(node.op).impl(*args, **kwargs)
    if isinstance(result, (np.ndarray, np.generic)):
        if np.size(result) > MAX_FOLDED_ELEMENTS:
            return None
        name = f"c{len(g.tensors)}"
        while name in g.tensors:
            name += "_"
        g.tensors[name] = np.asarray(result) if isinstance(result, np.ndarray) else result
        payload_kwargs: tuple = (("name", name),)
    elif isinstance(result, (bool, int, float)):
        payload_kwargs = (("value", result),)
    else:
        return None
    payload = Node("constant", kwargs=payload_kwargs, types=(type_of(result),), scope=node.scope, loc=node.loc)
    new = g.add(payload)
    g.replace_uses((nid, 0), (new, 0))
    g.remove(nid)
    return new
