"""One product by a whole weight instead of one per piece of it: ``x @ W_i.T`` for every ``W_i``
of ``np.split(W, n)``.

Attention computes its query, key and value projections from one ``(3E, E)`` weight cut in three
(PyTorch's ``in_proj_weight``; ``tracer.nn.MultiheadAttention`` does the same)::

    w_q, w_k, w_v = np.split(in_proj_weight, 3)
    b_q, b_k, b_v = np.split(in_proj_bias, 3)
    q = x @ w_q.T + b_q;  k = x @ w_k.T + b_k;  v = x @ w_v.T + b_v

The pieces lie side by side in ``W``, so the three products are the column blocks of one::

    x @ W_i.T  ==  (x @ W.T)[..., lo_i:hi_i]

:func:`merge_split_products` finds such groups (``matmul`` nodes with one left operand whose right
operands are ``transpose`` of the pieces of one 2-d ``split`` along axis 0, or the pieces
themselves of a ``split`` along axis 1, every piece used by exactly one product) and gives them
one product over the whole weight, each former product becoming a ``getitem`` of its columns.
When every product's only use adds the same piece of one split 1-d bias (``+ b_i``, in the same
operand order), the bias is added once to the whole product too.  The numba backend then makes
one BLAS call (and one kernel, the bias its epilogue) where it made three: the zoo's
``transformer`` multiplies ``(512, 256)`` by a ``(256, 768)`` weight instead of three ``(256, 256)``
ones, and the query, key and value are strided views of that result.

The values are unchanged but for the summation order of each product (another BLAS blocking),
which SPEC's tolerance allows for the numba backend: this pass is part of its planning
(``codegen.plan.plan_graph``), never of the interpreter, which stays bit-equal to eager NumPy.
Where a float32 product reaches a float64 value, SPEC's float64 tolerance has no room for another
summation order, so such groups are left alone (the backend keeps NumPy's very calls there).
Memory: the merged result holds what the pieces held (``3 * (rows, E)``), as one block.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

from ..graph import Graph, ValueRef
from ..node import Node, Slice, Use
from ..types import TensorType
from .merge_matmuls import ProductRewrite, _concrete, _infer

__all__ = ["merge_split_products", "has_split_products"]


@dataclass(frozen=True)
class _Member:
    nid: int  # the product
    piece: int  # which output of the split its right operand is
    right: int  # the node that feeds the product (the transpose, or the split itself)


def _split_axis(g: Graph, nid: int) -> int | None:
    """The axis of ``split`` node ``nid`` over a 2-d array, normalized; ``None`` otherwise."""
    node = g.node(nid)
    if node.op != "split" or not node.args or node.args[0] != Use(0) or len(g.inputs(nid)) != 1:
        return None
    t = _concrete(g.value_type(g.inputs(nid)[0]))
    if t is None or len(t.shape) not in (1, 2):
        return None
    axis = node.kwarg("axis", node.args[2] if len(node.args) > 2 else 0)
    if type(axis) is not int or not -len(t.shape) <= axis < len(t.shape):
        return None
    return axis % len(t.shape)


def _bounds(g: Graph, nid: int, axis: int) -> list[tuple[int, int]] | None:
    """The ``[lo, hi)`` of each piece of split ``nid`` along ``axis``, when the pieces are all
    non-empty and together the whole array (so they lie side by side, in order)."""
    t = _concrete(g.value_type(g.inputs(nid)[0]))
    sizes = []
    for out in g.node(nid).types:
        c = _concrete(out)
        if c is None or len(c.shape) != len(t.shape) or c.shape[axis] < 1:
            return None
        sizes.append(c.shape[axis])
    if sum(sizes) != t.shape[axis]:
        return None
    bounds, lo = [], 0
    for s in sizes:
        bounds.append((lo, lo + s))
        lo += s
    return bounds


def _is_matrix_transpose(g: Graph, nid: int) -> bool:
    node = g.node(nid)
    if node.op != "transpose" or len(g.inputs(nid)) != 1 or not node.args or node.args[0] != Use(0):
        return False
    axes = node.kwarg("axes", node.args[1] if len(node.args) > 1 else None)
    return axes in (None, (1, 0), [1, 0])


def _piece_of(g: Graph, ref: ValueRef) -> tuple[int, int, int, bool] | None:
    """``(split node, piece, feeding node, transposed)`` when product operand ``ref`` is a piece
    of a 2-d ``split`` along axis 1 or the ``transpose`` of one along axis 0."""
    nid, out = ref
    if _is_matrix_transpose(g, nid):
        (src, piece) = g.inputs(nid)[0]
        if _split_axis(g, src) == 0 and len(g.node(src).types[piece].shape) == 2:
            return src, piece, nid, True
        return None
    if g.node(nid).op == "split" and _split_axis(g, nid) == 1:
        return nid, out, nid, False
    return None


def has_split_products(graph: Graph) -> bool:
    """Whether two products read one left operand and (transposes of) two pieces of one split:
    only then can :func:`merge_split_products` change anything (a cheap test before typing)."""
    seen: set[tuple[ValueRef, int]] = set()
    for nid, node in graph.nodes():
        if node.op != "matmul":
            continue
        ins = graph.inputs(nid)
        if len(ins) != 2:
            continue
        right = graph.node(ins[1][0])
        src = graph.inputs(ins[1][0])[0][0] if right.op == "transpose" and graph.inputs(ins[1][0]) else ins[1][0]
        if graph.node(src).op != "split":
            continue
        if (ins[0], src) in seen:
            return True
        seen.add((ins[0], src))
    return False


class _Merger(ProductRewrite):
    def groups(self) -> dict[tuple, list[_Member]]:
        g = self.g
        groups: dict[tuple, list[_Member]] = {}
        for nid in self.order:
            node = g.node(nid)
            if node.op != "matmul" or node.kwargs or node.args != (Use(0), Use(1)) or len(node.types) != 1:
                continue
            a_ref, w_ref = g.inputs(nid)
            found = _piece_of(g, w_ref)
            a, out = _concrete(g.value_type(a_ref)), _concrete(node.types[0])
            if found is None or a is None or out is None or len(a.shape) < 2:
                continue
            split, piece, right, transposed = found
            groups.setdefault((a_ref, split, transposed), []).append(_Member(nid, piece, right))
        return groups

    def run(self) -> bool:
        changed = False
        for (a_ref, split, transposed), members in self.groups().items():
            changed |= self.merge(a_ref, split, transposed, members)
        return changed

    def bias_of(self, members: list[_Member], bounds: list[tuple[int, int]]) -> tuple[int, int] | None:
        """``(split node, operand position)`` of the 1-d bias every member's only use adds."""
        g = self.g
        found = set()
        for m in members:
            users = g.users(m.nid)
            if len(users) != 1:
                return None
            (user,) = users
            node = g.node(user)
            ins = g.inputs(user)
            if node.op != "add" or node.kwargs or node.args != (Use(0), Use(1)) or len(ins) != 2 \
                    or node.types[0] != g.node(m.nid).types[0]:
                return None
            pos = 0 if ins[0] == (m.nid, 0) else 1
            if ins[pos] != (m.nid, 0) or ins[1 - pos] == (m.nid, 0):
                return None
            src, piece = ins[1 - pos]
            if _split_axis(g, src) != 0 or piece != m.piece or _bounds(g, src, 0) != bounds:
                return None
            b = _concrete(g.value_type(g.inputs(src)[0]))
            if b is None or len(b.shape) != 1:
                return None
            found.add((src, pos))
        return found.pop() if len(found) == 1 else None

    def merge(self, a_ref: ValueRef, split: int, transposed: bool, members: list[_Member]) -> bool:
        g = self.g
        axis = 0 if transposed else 1
        bounds = _bounds(g, split, axis)
        pieces = sorted(m.piece for m in members)
        if bounds is None or len(members) < 2 or pieces != list(range(len(bounds))):
            return False  # every piece exactly once: the whole product is all read
        out_t = g.node(members[0].nid).types[0]
        if out_t.dtype.kind in "fc" and out_t.dtype.itemsize < (8 if out_t.dtype.kind == "f" else 16) and \
                any(u in self.wide() for m in members for u in g.users(m.nid)):
            return False  # its result reaches float64: NumPy's own summation order is kept there
        w_ref = g.inputs(split)[0]
        w_t = g.value_type(w_ref)
        first = g.node(members[0].nid)
        right = w_ref
        if transposed:
            right_t = TensorType(w_t.dtype, tuple(w_t.shape[::-1]))
            right = (g.add(Node("transpose", (Use(0),), types=(right_t,), scope=first.scope, loc=first.loc),
                           [w_ref]), 0)
        whole_t = _infer("matmul", (Use(0), Use(1)), [g.value_type(a_ref), g.value_type(right)])
        bias = self.bias_of(members, bounds)
        finals = [m.nid if bias is None else next(iter(g.users(m.nid))) for m in members]
        if bias is not None:
            b_ref = g.inputs(bias[0])[0]
            refs = [("whole", 0), b_ref] if bias[1] == 0 else [b_ref, ("whole", 0)]
            whole_t = _infer("add", (Use(0), Use(1)), [whole_t if r[0] == "whole" else g.value_type(r) for r in refs])
        picks = []
        for m, final in zip(members, finals):
            lo, hi = bounds[m.piece]
            index = (Ellipsis, Slice(lo, hi))
            t = _infer("getitem", (Use(0), index), [whole_t]) if whole_t is not None else None
            if t is None or t != g.node(final).types[0]:
                if transposed:
                    g.remove(right[0])
                return False  # not expected; the graph stays as it was
            picks.append(index)
        whole = (g.add(Node("matmul", (Use(0), Use(1)), types=(_infer("matmul", (Use(0), Use(1)),
                                                                       [g.value_type(a_ref), g.value_type(right)]),),
                            scope=first.scope, loc=first.loc, hints=first.hints), [a_ref, right]), 0)
        if bias is not None:
            add = g.node(finals[0])
            refs = [whole if r[0] == "whole" else r for r in refs]
            whole = (g.add(Node("add", (Use(0), Use(1)), types=(whole_t,), scope=add.scope, loc=add.loc), refs), 0)
        for final, index in zip(finals, picks):
            node = g.node(final)
            new = g.add(Node("getitem", (Use(0), index), types=node.types, scope=node.scope, loc=node.loc,
                             hints=node.hints), [whole])
            g.replace_uses((final, 0), (new, 0))
        # what only the former products read goes, users before what they read
        for nid in (*finals, *(m.nid for m in members), *(m.right for m in members), split,
                    *([bias[0]] if bias is not None else [])):
            if nid in g and not g.users(nid):
                g.remove(nid)
        return True


def merge_split_products(graph: Graph) -> Graph:
    """``graph`` with the products of one left operand by the pieces of one split weight merged.

    Needs concrete types (run ``ir.passes.infer_types`` with the input types first); values whose
    shapes or dtypes are unknown are left alone.  Returns ``graph`` itself when nothing merges.
    See the module docstring for the rules.

    Examples
    --------
    >>> import numpy as np, tracer
    >>> from ir.passes import merge_split_products
    >>> from tracer import nn
    >>> class QKV(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w, self.b = np.ones((6, 4), np.float32), np.ones(6, np.float32)
    ...     def forward(self, x):
    ...         (wq, wk, wv), (bq, bk, bv) = np.split(self.w, 3), np.split(self.b, 3)
    ...         return (x @ wq.T + bq) * (x @ wk.T + bk) - (x @ wv.T + bv)
    >>> f = tracer.trace(QKV(), np.ones((5, 4), np.float32))
    >>> print(merge_split_products(f.graph))  # doctest: +ELLIPSIS
    graph forward(%x: f32[5, 4]):
      %w : f32[6, 4] = param()
      %b : f32[6] = param()
      %transpose : f32[4, 6] = transpose(%w)  # ...
      %matmul : f32[5, 6] = matmul(%x, %transpose)  # ...
      %add : f32[5, 6] = add(%matmul, %b)  # ...
      %getitem : f32[5, 2] = getitem(%add, (..., 0:2))  # ...
      %getitem_1 : f32[5, 2] = getitem(%add, (..., 2:4))  # ...
      %mul : f32[5, 2] = mul(%getitem, %getitem_1)  # ...
      %getitem_2 : f32[5, 2] = getitem(%add, (..., 4:6))  # ...
      %sub : f32[5, 2] = sub(%mul, %getitem_2)  # ...
      return %sub
    """
    g = graph.copy()
    changed = False
    for nid, node in list(g.nodes()):
        if node.blocks:
            blocks = tuple(merge_split_products(b) for b in node.blocks)
            if any(new is not old for new, old in zip(blocks, node.blocks)):
                g.set_node(nid, dataclasses.replace(node, blocks=blocks))
                changed = True
    changed |= _Merger(g).run()
    return g if changed else graph
