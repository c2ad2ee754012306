"""Sizes known from the input types become constants, and what is computed from them alone is
folded: a plan for those types computes ``np.tri(len(x))`` or ``np.arange(n)`` once, when it is
planned, instead of on every call (a causal mask per attention layer, in the NumPy ports of GPT-2).

Only for a graph typed for the plan's inputs (``infer_types``): a size such a type holds is what
every call of that plan has, so this is no pass of ``PASSES`` (on a traced graph it would bake the
example's sizes in).  What folds is bounded as in :func:`~ir.passes.fold.fold`
(:data:`~ir.passes.fold.MAX_FOLDED_ELEMENTS`); a larger result stays computed at run time, once
per distinct computation (the same mask in every layer).

It touches only what the sizes reach (planning the ``gpt`` for a new signature, on the warm
start's path: a few milliseconds, where ``fold``, ``cse`` and ``dce`` over its ~700 nodes and a
second type inference took ~90), and the types stay valid: a constant has the type of the value
it replaces (the graph's types are not inferred again).
"""

from __future__ import annotations

from ..graph import Graph
from ..node import Node
from ..ops import OpKind, get_op
from ..types import ScalarType
from .cse import _key
from .fold import fold_node

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


def _plain(g: Graph, nid: int) -> bool:
    """A pure, single-output op owning no blocks (what may be folded or merged)."""
    node = g.node(nid)
    op = get_op(node.op)
    return op.kind is not OpKind.GRAPH and not node.blocks and op.pure and not op.multi_output


def fold_sizes(typed: Graph) -> Graph:
    """``typed`` with each pure int scalar whose type holds its value (a size, or arithmetic on
    sizes) replaced by a constant, what those constants (and other constants) alone compute
    folded into constants, the same such computations merged, and what nothing reads any more
    removed; ``typed`` itself when it has no such scalar.  Top level only (a loop's body is
    left as it is)."""
    g = typed.copy()
    order = g.order()
    touched: set[int] = set()  # the new constants and what is computed from them alone
    for nid in order:
        value = _known_size(g.node(nid)) if _plain(g, nid) else None
        if value is None:
            continue
        node = g.node(nid)
        const = g.add(Node("constant", kwargs=(("value", value),), types=node.types[:1], scope=node.scope,
                           loc=node.loc))
        g.replace_uses((nid, 0), (const, 0))
        touched.add(const)
    if not touched:
        return typed
    seen: dict = {}  # cse's key -> the first node computing it
    for nid in order:
        if nid not in g or not _plain(g, nid):
            continue
        ins = g.inputs(nid)
        if not ins or not all(src in touched or g.node(src).op == "constant" for src, _ in ins):
            continue
        if all(g.node(src).op == "constant" for src, _ in ins):
            try:
                new = fold_node(g, nid)
            except Exception:  # noqa: BLE001 - it raises when the program runs, where it belongs
                new = None
            if new is not None:
                nid = new
        key = _key(g, nid)  # a folded table by its bytes: the layers' masks become one
        first = seen.setdefault(key, nid) if key is not None else nid
        if first != nid:
            g.replace_uses((nid, 0), (first, 0))
            g.remove(nid)
        touched.add(first)
    _drop_unread(g)
    return g


def _drop_unread(g: Graph) -> None:
    """Remove pure nodes nothing reads (the replaced sizes and what only they read), and the
    constant tensors no node names any more."""
    work = [nid for nid, node in g.nodes() if not g.users(nid) and node.op not in ("input", "output")]
    while work:
        nid = work.pop()
        if nid not in g or g.users(nid):
            continue
        node = g.node(nid)
        if node.op in ("input", "output", "param") or not get_op(node.op).pure or node.blocks:
            continue
        producers = [src for src, _ in g.inputs(nid)]
        g.remove(nid)
        work.extend(producers)
    used = {g.node(n).kwarg("name") for n in g.find("constant")}
    g.tensors = {k: v for k, v in g.tensors.items() if k in used}
