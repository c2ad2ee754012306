"""Common-subexpression elimination: one node per distinct pure computation."""

from __future__ import annotations

from collections.abc import Hashable
from typing import Any

import numpy as np

from ..graph import Graph
from ..ops import get_op
from .blocks import map_blocks

__all__ = ["cse"]


def _key(g: Graph, nid: int) -> Hashable | None:
    node = g.node(nid)
    op = get_op(node.op)
    if not op.pure or node.op in ("input", "output"):
        return None
    key: tuple[Any, ...] = (node.op, _hashable(node.args), _hashable(node.kwargs), tuple(g.inputs(nid)))
    if node.op == "constant" and node.kwarg("name") is not None:
        arr = g.tensors[node.kwarg("name")]
        key = ("constant-tensor", arr.dtype.str, arr.shape, arr.tobytes())
    return key


def _hashable(template: Any) -> Any:
    # float('nan') != itself and 0.0 == -0.0: compare literals by type and repr
    if isinstance(template, tuple):
        return tuple(_hashable(t) for t in template)
    if isinstance(template, float):
        return ("float", repr(template))
    if isinstance(template, np.dtype):
        return ("dtype", template.str)
    return (type(template).__name__, template)


def cse(graph: Graph) -> Graph:
    """Merge pure nodes with the same op, arguments and inputs (in topological order)."""
    g = map_blocks(graph.copy(), cse)
    seen: dict[Hashable, int] = {}
    for nid in g.order():
        key = _key(g, nid)
        if key is None:
            continue
        first = seen.setdefault(key, nid)
        if first != nid:
            for out in range(max(1, g.node(nid).num_outputs)):
                g.replace_uses((nid, out), (first, out))
            g.remove(nid)
            pred = g._pred  # noqa: SLF001 - skip the call for users reading each producer once (most)
            for user in g.users(first):
                if any(len(keydict) > 1 for keydict in pred[user].values()):
                    g.merge_duplicate_inputs(user)
    return g
