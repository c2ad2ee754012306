"""A transposed weight that many small products share is copied once, contiguous.

``nn.Linear`` multiplies by ``W.T``, a transposed view of its ``(out, in)`` weight.  For a product
with few rows the numba backend then computes the transposed product ``W @ A.T`` into scratch
and copies it into place (``codegen.plan``'s ``Gemm.swap``), faster than OpenBLAS's ``A @ W.T``
there, but slower than ``A @ B`` with ``B = W.T`` stored contiguous.  An unrolled recurrence
makes dozens of such products with one weight: with ``np.copy(W.T)`` made once per call
(the numba backend's kernels write their results contiguous), each step runs the plain product.
One step of the zoo's ``rnn`` (16 rows, a ``(128, 128)`` weight), one kernel call, best of many:
6.2 us with the swapped product, 3.7 us with the copied weight, which costs 6 us once per call
(``(M, H)`` steps, hidden ``H``, ``M`` rows; gain per step / the copy's cost, us: ``H=64``:
M=16 0.6, M=64 3.7 / none (a NumPy copy); ``H=128``: M=4 0.36, M=16 2.6, M=64 9.6 / 6;
``H=256``: M=4 0.8, M=16 9.0, M=64 13 / 51; one row: no gain, NumPy's ``gemv`` either way).

:func:`copy_shared_transposes` makes the uses of a 2-d ``transpose`` that qualify read
``copy(transpose(W))`` instead, where

* the use is the right operand of a float32/float64 ``matmul`` or ``dot`` with at least
  ``MIN_ROWS`` and fewer than ``MAX_ROWS`` rows (the swapped regime: ``Gemm.swap``);
* the weight is at most ``MAX_BYTES`` (measured up to 256 KiB; the copy's cost grows faster);
* at least two uses qualify and their rows add up to at least twice the weight's rows (the
  copy moves ``K * N`` elements; each use saves at least about half a nanosecond per element of
  its ``M * N`` result);
* the product's result does not reach a float64 value (the numba backend keeps NumPy's very
  calls there, on the operands the program gives).

The values are the same (a copy is exact): only the layout the backend computes on changes.  It
is part of the numba backend's planning (``codegen.plan.plan_graph``), not a general pass: the
interpreter never runs it.
"""

from __future__ import annotations

import math

import numpy as np

from ..graph import Graph, ValueRef
from ..node import Node, Use
from ..types import TensorType
from .merge_matmuls import _concrete, _wide_values

__all__ = ["copy_shared_transposes", "MIN_ROWS", "MAX_ROWS", "MAX_BYTES"]

#: Products with fewer rows run as ``gemv`` (or gain too little); ...
MIN_ROWS = 2
#: ... from this many rows on, the backend runs ``A @ W.T`` as it is.
MAX_ROWS = 256
#: Larger weights cost more to copy than measured gains cover.
MAX_BYTES = 256 * 1024


def _is_matrix_transpose(g: Graph, nid: int) -> bool:
    node = g.node(nid)
    if node.op != "transpose" or len(g.inputs(nid)) != 1:
        return False
    t = _concrete(g.value_type(g.inputs(nid)[0]))
    if t is None or len(t.shape) != 2:
        return False
    axes = node.kwarg("axes", node.args[1] if len(node.args) > 1 else None)
    return node.args[0] == Use(0) and axes in (None, (1, 0), [1, 0])


def copy_shared_transposes(graph: Graph) -> Graph:
    """``graph`` with products of few rows by a shared ``W.T`` reading one contiguous copy of it.

    Needs concrete types (``ir.passes.infer_types`` first).  Returns ``graph`` itself when no
    transpose qualifies; see the module docstring for the rules.

    Examples
    --------
    >>> import numpy as np, tracer
    >>> from ir.passes import copy_shared_transposes
    >>> from tracer import nn
    >>> class Twice(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.lin = nn.Linear(64, 64)
    ...     def forward(self, a, b):
    ...         return self.lin(a), self.lin(b)
    >>> x = np.ones((64, 64), np.float32)
    >>> f = tracer.trace(Twice(), (x, x))
    >>> print(copy_shared_transposes(f.graph))  # doctest: +ELLIPSIS
    graph forward(%a: f32[64, 64], %b: f32[64, 64]):
      %lin.weight : f32[64, 64] = param()  # lin
      %lin.bias : f32[64] = param()  # lin
      %transpose : f32[64, 64] = transpose(%lin.weight)  # lin ...
      %copy : f32[64, 64] = copy(%transpose)  # lin ...
      %matmul : f32[64, 64] = matmul(%a, %copy)  # lin ...
      %add : f32[64, 64] = add(%matmul, %lin.bias)  # lin ...
      %matmul_1 : f32[64, 64] = matmul(%b, %copy)  # lin ...
      %add_1 : f32[64, 64] = add(%matmul_1, %lin.bias)  # lin ...
      return (%add, %add_1)
    """
    g = graph.copy()
    order = g.order()
    wide: set[int] | None = None
    changed = False
    for nid in order:
        if nid not in g or not _is_matrix_transpose(g, nid):
            continue
        t = _concrete(g.node(nid).types[0])
        if t is None or t.dtype not in (np.float32, np.float64) or math.prod(t.shape) * t.dtype.itemsize > MAX_BYTES:
            continue
        uses: list[tuple[int, int]] = []  # (product, rows)
        for user in sorted(g.users(nid)):
            node = g.node(user)
            refs = g.inputs(user)
            if node.op not in ("matmul", "dot") or node.args != (Use(0), Use(1)) or refs[1] != (nid, 0) \
                    or refs[0] == (nid, 0):
                continue
            a, out = _concrete(g.value_type(refs[0])), _concrete(node.types[0])
            if a is None or out is None or out.dtype != t.dtype or len(a.shape) < 2:
                continue
            rows = math.prod(a.shape[:-1])
            if not MIN_ROWS <= rows < MAX_ROWS:
                continue
            if wide is None:
                wide = _wide_values(g, order)
            if t.dtype == np.float32 and any(u in wide for u in g.users(user)):
                continue
            uses.append((user, rows))
        if len(uses) < 2 or sum(r for _, r in uses) < 2 * t.shape[0]:
            continue
        src = g.node(nid)
        copy = g.add(Node("copy", (Use(0),), types=(TensorType(t.dtype, t.shape),), scope=src.scope, loc=src.loc),
                     [(nid, 0)])
        for user, _ in uses:
            _redirect(g, user, (nid, 0), (copy, 0))
        changed = True
    return g if changed else graph


def _redirect(g: Graph, user: int, old: ValueRef, new: ValueRef) -> None:
    """Replace product ``user`` by the same product reading ``new`` as its right operand."""
    a, w = g.inputs(user)
    assert w == old
    node = g.node(user)
    twin = g.add(node, [a, new])
    g.replace_uses((user, 0), (twin, 0))
    g.remove(user)
