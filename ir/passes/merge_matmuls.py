"""One product over a whole array instead of one per slice: ``A[i] @ W`` for many ``i``.

A recurrence written step by step multiplies each step's slice of the input by the same weight::

    for t in range(x.shape[1]):
        h = np.tanh(self.ih(x[:, t]) + self.hh(h))      # x[:, t] @ W_ih.T, 64 times

Unrolled (``ir.passes.unroll_loops``, or ``tracer.trace``), that is 64 small products with one
right operand whose left operands are basic-indexing slices of one array.  Where the slices do
not cut the contracted axis, each is a slice of one product over the whole array::

    x[:, t] @ W  ==  (x @ W)[:, t]

:func:`merge_sliced_matmuls` finds such groups (``matmul`` or ``dot`` nodes with one right
operand, left operands that are ``getitem`` of one array by literal ints and slices) and gives
them one product over the slices' bounding box, each former product becoming a ``getitem`` of
it.  With a 2-d ``W`` that product is written as one 2-d product over all the box's rows
(``reshape`` to ``(rows, K)`` and back), one BLAS call whatever the backend does with batch axes.
The input projection of the RNN leaves the recurrence: one ``(16*64, 32) @ (32, 128)`` product,
and each step keeps only the hidden-state product.

Which axes may be cut depends on the right operand ``W``:

* ``matmul`` with a 1-d or 2-d ``W``, and ``dot`` with any ``W``: every axis of ``A`` but the
  last (contracted) one, by ints or slices; the product's axes are ``A``'s leading axes followed
  by ``W``'s, so the same index picks the slice of the product.
* ``matmul`` with a batched ``W`` (3-d or more): only the row axis ``A.shape[-2]``, by a slice
  (the batch axes broadcast against ``W``, so cutting them would change the product).

The values are unchanged; only the summation order of each product may differ (another BLAS
blocking), which SPEC's tolerance allows for the numba backend: this pass is part of its
planning (``codegen.plan.plan_graph``), never of the interpreter, which stays bit-equal to
eager NumPy.  Where a float32 (or float16, complex64) product reaches a float64 value, SPEC's
float64 tolerance has no room for another summation order, so such products are left alone, as
the numba backend keeps NumPy's very calls for them.

A group is merged only when its bounding box is at most ``1 + max_extra`` times the work of
its products together (by default the merged product computes at most 25% rows nobody reads);
a group whose slices are spread too thinly stays as it is.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any

from ..graph import Graph, ValueRef
from ..node import Node, Slice, Use, map_template
from ..ops import get_op
from ..types import ScalarType, TensorType

__all__ = ["merge_sliced_matmuls", "MAX_EXTRA"]

#: A merged product may compute at most this fraction more rows than its members together.
MAX_EXTRA = 0.25

_PRODUCTS = ("matmul", "dot")
#: Per axis of the sliced array: an ``int`` index or a ``range`` of positions.
_Item = Any


@dataclass(frozen=True)
class _Member:
    nid: int  # the product node
    items: tuple[_Item, ...]  # one per axis of the sliced array but the contracted one


def _concrete(t: Any) -> TensorType | None:
    if isinstance(t, TensorType) and t.is_concrete and t.dtype.kind in "biufc":
        return t
    return None


def _axis_items(index: Any, shape: tuple[int, ...]) -> tuple[_Item, ...] | None:
    """``index`` (a literal basic index) as one int or range per axis of ``shape``; ``None``
    when it is anything else (``None`` axes, arrays, run-time values, booleans)."""
    items = index if isinstance(index, tuple) else (index,)
    n_ell = sum(1 for i in items if i is Ellipsis)
    if n_ell > 1:
        return None
    consumed = len(items) - n_ell
    if consumed > len(shape):
        return None
    if n_ell == 0:
        items = (*items, Ellipsis)
    out: list[_Item] = []
    for it in items:
        if it is Ellipsis:
            base = len(out)
            out.extend([range(shape[base + k]) for k in range(len(shape) - consumed)])
            continue
        n = shape[len(out)]
        if type(it) is int:
            if not -n <= it < n:
                return None
            out.append(it % n)
        elif isinstance(it, Slice) and all(v is None or type(v) is int for v in (it.start, it.stop, it.step)):
            if it.step == 0:
                return None
            out.append(range(*slice(it.start, it.stop, it.step).indices(n)))
        else:
            return None
    return tuple(out)


def _positions(item: _Item) -> tuple[int, int]:
    """The smallest and one past the largest position ``item`` selects."""
    if isinstance(item, int):
        return item, item + 1
    return min(item[0], item[-1]), max(item[0], item[-1]) + 1


def _relative(item: _Item, lo: int) -> Any:
    """``item`` as an index into the bounding box's axis that starts at ``lo``."""
    if isinstance(item, int):
        return item - lo
    start, last, step = item[0] - lo, item[-1] - lo, item.step
    stop = last + 1 if step > 0 else (last - 1 if last >= 1 else None)
    return Slice(start, stop, None if step == 1 else step)


def _full(item: _Item, n: int) -> bool:
    return isinstance(item, range) and item == range(n)


def _wide_values(g: Graph, order: list[int]) -> set[int]:
    """Nodes from which a float64 (or complex128) array or a Python float is reached."""
    users: dict[int, set[int]] = {nid: g.users(nid) for nid in order}
    wide: set[int] = set()
    for nid in reversed(order):  # consumers come later in the order
        node = g.node(nid)
        here = any((isinstance(t, TensorType) and t.dtype is not None and t.dtype.kind in "fc"
                    and t.dtype.itemsize >= (8 if t.dtype.kind == "f" else 16))
                   or (isinstance(t, ScalarType) and t.kind in ("float", "complex") and t.value is None)
                   for t in node.types)
        if here or any(u in wide for u in users[nid]):
            wide.add(nid)
    return wide


class ProductRewrite:
    """A rewrite of a graph's products that finds the wide values (``_wide_values``) once, if
    it asks at all."""

    def __init__(self, g: Graph) -> None:
        self.g = g
        self.order = g.order()
        self._wide: set[int] | None = None

    def wide(self) -> set[int]:
        if self._wide is None:
            self._wide = _wide_values(self.g, self.order)
        return self._wide


class _Merger(ProductRewrite):
    def __init__(self, g: Graph, max_extra: float) -> None:
        super().__init__(g)
        self.max_extra = max_extra

    def member(self, nid: int) -> tuple[Hashable, _Member] | None:
        """The group key and slice of product ``nid``, or ``None`` when it cannot join a group."""
        g = self.g
        node = g.node(nid)
        if node.op not in _PRODUCTS or node.kwargs or node.args != (Use(0), Use(1)) or len(node.types) != 1:
            return None
        refs = g.inputs(nid)
        if len(refs) != 2:
            return None
        a_ref, w_ref = refs
        item = g.node(a_ref[0])
        if item.op != "getitem" or len(item.args) != 2 or item.args[0] != Use(0) or item.kwargs:
            return None
        src = g.inputs(a_ref[0])[0]
        a, w, out = _concrete(g.value_type(src)), _concrete(g.value_type(w_ref)), _concrete(node.types[0])
        if a is None or w is None or out is None or len(a.shape) < 2 or not w.shape or not out.shape:
            return None
        items = _axis_items(item.args[1], a.shape)
        if items is None or not _full(items[-1], a.shape[-1]) or any(len(i) == 0 for i in items
                                                                          if isinstance(i, range)):
            return None
        items = items[:-1]
        if node.op == "matmul" and len(w.shape) > 2:
            # batched W: only the rows may be cut, and only by a slice (the rank stays)
            if not isinstance(items[-1], range) or not all(_full(i, n) for i, n in zip(items[:-1], a.shape)):
                return None
        dt = out.dtype
        if dt.kind in "fc" and dt.itemsize < (8 if dt.kind == "f" else 16) and \
                any(u in self.wide() for u in g.users(nid)):
            return None  # its result reaches float64: NumPy's own summation order is kept there
        return (node.op, src, w_ref), _Member(nid, items)

    def run(self) -> bool:
        groups: dict[Hashable, list[_Member]] = {}
        for nid in self.order:
            found = self.member(nid)
            if found is not None:
                groups.setdefault(found[0], []).append(found[1])
        changed = False
        for (op, src, w_ref), members in groups.items():
            if len(members) > 1:
                changed |= self.merge(op, src, w_ref, members)
        return changed

    def merge(self, op: str, src: ValueRef, w_ref: ValueRef, members: list[_Member]) -> bool:
        g = self.g
        shape = g.value_type(src).shape
        ndim = len(members[0].items)
        lo = [min(_positions(m.items[k])[0] for m in members) for k in range(ndim)]
        hi = [max(_positions(m.items[k])[1] for m in members) for k in range(ndim)]
        box = math.prod(h - low for h, low in zip(hi, lo))
        work = sum(math.prod(1 if isinstance(i, int) else len(i) for i in m.items) for m in members)
        if box > (1.0 + self.max_extra) * work:
            return False
        # the new nodes and their types, checked before the graph changes
        box_index = None
        if any((low, h) != (0, n) for low, h, n in zip(lo, hi, shape)):
            box_index = tuple(Slice(None) if (low, h) == (0, n) else Slice(low, h) for low, h, n in zip(lo, hi, shape))
        a_type = g.value_type(src) if box_index is None else _infer("getitem", (Use(0), box_index), [g.value_type(src)])
        whole_type = _infer(op, (Use(0), Use(1)), [a_type, g.value_type(w_ref)])
        batched_w = op == "matmul" and len(g.value_type(w_ref).shape) > 2
        picks: list[Any] = []  # per member: its index into the whole product, or None for all of it
        for m in members:
            rel = tuple(Slice(None) if r == Slice(0, h - low) else r
                        for r, low, h in ((_relative(i, low), low, h) for i, low, h in zip(m.items, lo, hi)))
            if all(r == Slice(None) for r in rel):
                index, t = None, whole_type
            else:
                index = (Ellipsis, rel[-1], Slice(None)) if batched_w else rel
                t = _infer("getitem", (Use(0), index), [whole_type])
            if t != g.node(m.nid).types[0]:
                return False  # not expected; the graph stays as it was
            picks.append(index)
        first = g.node(members[0].nid)
        a_ref = src
        if box_index is not None:
            a_ref = (g.add(Node("getitem", (Use(0), box_index), types=(a_type,), scope=first.scope, loc=first.loc),
                           [src]), 0)
        w_rank = len(g.value_type(w_ref).shape)
        if w_rank == 2 and len(a_type.shape) > 2:
            # one 2-d product over all rows, shaped back: one BLAS call however the plan treats batch axes
            rows = (math.prod(a_type.shape[:-1]), a_type.shape[-1])
            a_ref = (g.add(Node("reshape", (Use(0), rows), types=(_infer("reshape", (Use(0), rows), [a_type]),),
                                scope=first.scope, loc=first.loc), [a_ref]), 0)
        whole = (g.add(Node(op, (Use(0), Use(1)), types=(_infer(op, (Use(0), Use(1)), [g.value_type(a_ref),
                                                                                     g.value_type(w_ref)]),),
                            scope=first.scope, loc=first.loc), [a_ref, w_ref]), 0)
        if g.value_type(whole) != whole_type:
            whole = (g.add(Node("reshape", (Use(0), whole_type.shape), types=(whole_type,), scope=first.scope,
                                loc=first.loc), [whole]), 0)
        for m, index in zip(members, picks):
            node = g.node(m.nid)
            new = whole
            if index is not None:
                new = (g.add(Node("getitem", (Use(0), index), types=node.types, scope=node.scope, loc=node.loc,
                                  hints=node.hints), [whole]), 0)
            g.replace_uses((m.nid, 0), new)
            a_item = g.inputs(m.nid)[0][0]
            g.remove(m.nid)
            if not g.users(a_item):
                g.remove(a_item)
        return True


def _infer(op: str, args: tuple, types: list[Any]) -> Any:
    """The type ``op`` gives its output for inputs of ``types`` (its rule)."""
    fetch = lambda use: types[use.index]  # noqa: E731
    try:
        return get_op(op).infer(*map_template(args, fetch))
    except (TypeError, ValueError, IndexError):
        return None


def merge_sliced_matmuls(graph: Graph, *, max_extra: float = MAX_EXTRA) -> Graph:
    """``graph`` with products of one right operand and slices of one array merged.

    Needs concrete types (run ``ir.passes.infer_types`` with the input types first); values
    whose shapes or dtypes are unknown are left alone.  Returns ``graph`` itself when nothing
    merges.  See the module docstring for the rules.

    Parameters
    ----------
    graph : ir.Graph
    max_extra : float
        How much more work than its members together a merged product may do (rows nobody reads).

    Examples
    --------
    >>> import numpy as np, tracer
    >>> from ir.passes import merge_sliced_matmuls
    >>> w = np.ones((4, 3), np.float32)
    >>> f = tracer.trace(lambda x: x[:, 0] @ w + x[:, 1] @ w, np.ones((2, 2, 4), np.float32))
    >>> print(merge_sliced_matmuls(f.graph))  # doctest: +ELLIPSIS
    graph forward(%x: f32[2, 2, 4]):
      %constant : f32[4, 3] = constant(name='c0')  # ...
      %reshape : f32[4, 4] = reshape(%x, (4, 4))  # ...
      %matmul : f32[4, 3] = matmul(%reshape, %constant)  # ...
      %reshape_1 : f32[2, 2, 3] = reshape(%matmul, (2, 2, 3))  # ...
      %getitem : f32[2, 3] = getitem(%reshape_1, (:, 0))  # ...
      %getitem_1 : f32[2, 3] = getitem(%reshape_1, (:, 1))  # ...
      %add : f32[2, 3] = add(%getitem, %getitem_1)  # ...
      return %add
    """
    g = graph.copy()
    changed = False
    for nid, node in list(g.nodes()):
        if node.blocks:
            blocks = tuple(merge_sliced_matmuls(b, max_extra=max_extra) for b in node.blocks)
            if any(new is not old for new, old in zip(blocks, node.blocks)):
                g.set_node(nid, dataclasses.replace(node, blocks=blocks))
                changed = True
    changed |= _Merger(g, max_extra).run()
    return g if changed else graph
