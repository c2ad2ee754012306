"""Sizes known from the input types become constants, and what is computed from them alone is
folded: a plan for those types computes ``np.tri(len(x))`` or ``np.arange(n)`` once, when it is
planned, instead of on every call (a causal mask per attention layer, in the NumPy ports of GPT-2).

Only for a graph typed for the plan's inputs (``infer_types``): a size such a type holds is what
every call of that plan has.  What folds is bounded as in :func:`fold`
(:data:`~ir.passes.fold.MAX_FOLDED_ELEMENTS`); larger results stay computed at run time, once per
distinct computation (:func:`cse`: the same mask in every layer).
"""

from __future__ import annotations

from ..graph import Graph
from ..node import Node
from ..ops import OpKind, get_op
from ..types import ScalarType
from .cse import cse
from .dce import dce
from .fold import fold

__all__ = ["fold_sizes", "creates_arrays"]


def creates_arrays(graph: Graph) -> bool:
    """Whether ``graph`` has an op that makes an array from sizes (``arange``, ``tri``, ``ones``...):
    only then can :func:`fold_sizes` change what a call computes."""
    return any(get_op(node.op).kind is OpKind.CREATION for _, node in graph.nodes())


def _known_size(node: Node) -> int | None:
    t = node.types[0] if node.types else None
    if not isinstance(t, ScalarType) or t.kind != "int" or isinstance(t.value, bool) or not isinstance(t.value, int):
        return None
    return t.value


def fold_sizes(typed: Graph) -> Graph:
    """``typed`` with each pure int scalar whose type holds its value (a size, or arithmetic on
    sizes) replaced by a constant, then :func:`fold`, :func:`cse` and :func:`dce`; ``typed`` itself
    when it has no such scalar."""
    g = typed.copy()
    changed = False
    for nid in g.order():
        node = g.node(nid)
        op = get_op(node.op)
        if op.kind is OpKind.GRAPH or node.blocks or not op.pure or op.multi_output:
            continue
        value = _known_size(node)
        if value is None:
            continue
        const = g.add(Node("constant", kwargs=(("value", value),), types=node.types[:1], scope=node.scope,
                           loc=node.loc))
        g.replace_uses((nid, 0), (const, 0))
        changed = True
    return dce(cse(fold(g))) if changed else typed
