"""Fusion planning: which operations share one loop nest.

Works on a graph whose values have concrete types.  The caller says which nodes a kernel can
compute (:class:`Candidate`); this module groups them greedily in topological order:

* an elementwise op joins the group of one of its producers when its result has the group's
  domain shape (broadcasting inputs is fine) - elementwise chains become one loop;
* a reduction over the trailing axes of a group member closes the group's *rows*: later members
  may use the reduced value (broadcast back over the reduced axes) and ops on reduced values run
  once per row - LayerNorm and softmax become one row kernel;
* an op never joins a group that one of its other inputs depends on (no cycles).

A matmul or convolution result feeding an elementwise chain is an ordinary group input: the group
is the matmul's epilogue, and ``codegen.plan`` lets it overwrite the matmul's buffer in place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ir import Graph

__all__ = ["Candidate", "Group", "fuse"]


@dataclass(frozen=True)
class Candidate:
    """A node a kernel can compute.

    ``shape`` is its result's shape; for a reduction ``domain`` is its input's shape, ``k`` the
    number of trailing axes it folds and ``keepdims`` whether they stay as size-1 axes.
    """

    nid: int
    kind: str  # "elementwise" | "reduce" | "gemm" (a matmul done through BLAS, then its epilogue)
    shape: tuple[int, ...]
    domain: tuple[int, ...] = ()
    axes: tuple[int, ...] = ()  # reduced axes of ``domain``
    keepdims: bool = True
    fast: bool = False  # uses one of our vectorized transcendentals

    @property
    def k(self) -> int:
        return len(self.axes)


@dataclass
class Group:
    """Nodes computed by one kernel; ``roles[nid]`` is ``"full"``, ``"row"`` or ``"reduce"``.

    ``axes`` are the domain axes that reductions fold; the kernel loops over the other axes
    ("rows") outside and these inside.
    """

    id: int
    domain: tuple[int, ...]
    axes: tuple[int, ...] = ()
    members: list[int] = field(default_factory=list)
    roles: dict[int, str] = field(default_factory=dict)

    @property
    def k(self) -> int:
        return len(self.axes)

    @property
    def has_gemm(self) -> bool:
        return "gemm" in self.roles.values()

    @property
    def row_shape(self) -> tuple[int, ...]:
        return tuple(1 if i in self.axes else d for i, d in enumerate(self.domain))

    @property
    def loop_order(self) -> tuple[int, ...]:
        """Domain axes in loop order: the kept ones, then the reduced ones."""
        return (*(i for i in range(len(self.domain)) if i not in self.axes), *self.axes)

    def add(self, nid: int, role: str) -> None:
        self.members.append(nid)
        self.roles[nid] = role


def fuse(graph: Graph, order: Sequence[int], candidates: Mapping[int, Candidate], *,
         enabled: bool = True, split_columns: bool = False) -> list[Group]:
    """Groups of candidate nodes; every candidate is in exactly one group.

    With ``enabled=False`` each candidate is a group of its own (a kernel per op).  With
    ``split_columns`` (kernels may split a matmul by columns over threads, ``codegen.plan``), a
    reduction over the rows of a 2-d matmul with fewer rows than columns starts a kernel of its
    own instead of joining the matmul's: the matmul then splits by columns (LayerNorm after a
    ``(64, 1024) @ (1024, 256)`` projection: 93 us a half by columns, 123 us by rows).
    """
    groups: list[Group] = []
    group_of: dict[int, int] = {}
    merged: dict[int, int] = {}  # group id -> the group it was merged into
    rows: dict[int, int] = {}  # column-split matmul group -> the group of the reductions over its rows
    detached: set[int] = set()
    ancestors: dict[int, frozenset[int]] = {}  # groups that a node depends on, itself included

    def find(gid: int) -> int:
        while gid in merged:
            gid = merged[gid]
        return gid

    absorbed: dict[int, set[int]] = {}  # group id -> the ids merged into it (itself included)

    def depends(u: int, gid: int) -> bool:
        """Whether node ``u`` depends on group ``gid`` (a group no other was merged into)."""
        below = ancestors.get(u)
        return below is not None and not below.isdisjoint(absorbed.get(gid, (gid,)))

    for nid in order:
        producers = [src for src, _ in graph.inputs(nid)]
        below = frozenset().union(*(ancestors.get(u, frozenset()) for u in producers))
        cand = candidates.get(nid)
        if cand is not None:
            chosen = None
            if enabled and cand.kind != "gemm":  # a matmul starts a group: its epilogue joins it
                tried = [find(group_of[u]) for u in producers if u in group_of]
                # the reductions over a column-split matmul's rows share one group (mean and var)
                tried += [find(rows[gid]) for gid in tried if gid in rows]
                for gid in dict.fromkeys(tried):
                    g = groups[gid]
                    role = _fits(g, cand, graph, nid, group_of, find, candidates, split_columns)
                    if role is None and cand.kind == "reduce" and g.id in detached and cand.domain == g.domain \
                            and cand.axes == g.axes:
                        role = "reduce"  # its operand is the matmul group's result, read from memory
                    if role is None:
                        continue
                    if any(depends(u, gid) for u in producers if find(group_of.get(u, -1)) != gid):
                        continue  # another input depends on this group: joining would make a cycle
                    chosen = (g, role)
                    break
            if chosen is None:
                g = Group(len(groups), cand.domain if cand.kind == "reduce" else cand.shape,
                          cand.axes if cand.kind == "reduce" else ())
                groups.append(g)
                chosen = (g, {"reduce": "reduce", "gemm": "gemm"}.get(cand.kind, "full"))
                if cand.kind == "reduce" and split_columns:
                    for u in producers:
                        owner = find(group_of[u]) if u in group_of else None
                        if owner is not None and owner not in rows and _splits_columns(groups[owner], graph):
                            rows[owner] = g.id
                            detached.add(g.id)
            g, role = chosen
            if role == "reduce" and g.k == 0:
                g.axes = cand.axes
            g.add(nid, role)
            group_of[nid] = g.id
            below = below | {g.id}
            if enabled and role == "full":
                _merge_siblings(g, nid, graph, producers, group_of, groups, merged, find, depends, absorbed)
        ancestors[nid] = below
    position = {nid: i for i, nid in enumerate(order)}
    for g in groups:
        g.members.sort(key=position.__getitem__)
    return [g for g in groups if g.id not in merged]


def _merge_siblings(g: Group, nid: int, graph: Graph, producers: list[int], group_of: dict[int, int],
                    groups: list[Group], merged: dict[int, int], find, depends,
                    absorbed: dict[int, set[int]]) -> None:
    """Fold other elementwise groups feeding ``nid`` with the same domain into ``g``
    (``(x @ a + b) + (h @ c + d)``: both bias adds and the sum become one loop)."""
    for u in producers:
        if u not in group_of:
            continue
        other = groups[find(group_of[u])]
        if other.id == g.id or other.k or g.k or other.domain != g.domain:
            continue
        # merging must not close a cycle through a node outside both groups
        outside = [v for m in (*g.members, *other.members) for v, _ in graph.inputs(m)
                   if find(group_of.get(v, -1)) not in (g.id, other.id)]
        if any(depends(v, g.id) or depends(v, other.id) for v in outside):
            continue
        if _gemm_reads(g, other, graph, group_of, find) or _gemm_reads(other, g, graph, group_of, find):
            continue  # a BLAS call must see its operands in memory before the kernel starts
        for m in other.members:
            g.add(m, other.roles[m])
            group_of[m] = g.id
        merged[other.id] = g.id
        absorbed.setdefault(g.id, {g.id}).update(absorbed.pop(other.id, (other.id,)))


def _gemm_reads(g: Group, other: Group, graph: Graph, group_of: dict[int, int], find) -> bool:
    """Whether a matmul of ``g`` reads a value that ``other`` computes."""
    return any(find(group_of.get(v, -1)) == other.id
               for m, r in g.roles.items() if r == "gemm" for v, _ in graph.inputs(m))


def _splits_columns(g: Group, graph: Graph) -> bool:
    """Whether ``g`` is a matmul by a 2-d right operand (a weight; leading axes of the left one are
    rows, ``codegen.plan`` folds them) and its epilogue, with fewer rows than columns."""
    if not g.has_gemm or g.k or len(g.domain) < 2 or math.prod(g.domain[:-1]) >= g.domain[-1]:
        return False
    for m, role in g.roles.items():
        if role == "gemm":
            right = graph.value_type(graph.inputs(m)[1])
            if graph.node(m).op != "matmul" or len(getattr(right, "shape", None) or ()) != 2:
                return False
    return True


def _fits(g: Group, cand: Candidate, graph: Graph, nid: int, group_of: dict[int, int], find,
          candidates: Mapping[int, Candidate], split_columns: bool = False) -> str | None:
    inside = [src for src, _ in graph.inputs(nid) if src in group_of and find(group_of[src]) == g.id]
    roles = [g.roles[src] for src in inside]
    if cand.kind == "gemm":
        return None
    if cand.kind == "reduce" and split_columns and _splits_columns(g, graph):
        return None
    if cand.kind == "reduce" and g.has_gemm and (
            cand.axes != tuple(range(len(g.domain) - cand.k, len(g.domain))) or 0 in cand.axes):
        return None  # after a BLAS call only trailing axes, and not the first, are reduced
    if cand.kind == "reduce":
        if cand.domain != g.domain or not all(r in ("full", "gemm") for r in roles) or not inside:
            return None
        if (g.k and g.axes != cand.axes) or (g.k == 0 and any(r not in ("full", "gemm") for r in g.roles.values())):
            return None  # one set of reduced axes per group
        return "reduce"
    # a reduction that drops its axes cannot be broadcast back over them inside the group
    if any(r == "reduce" and not candidates[src].keepdims for src, r in zip(inside, roles)):
        return None
    if cand.shape == g.domain:
        return "full"
    if g.k and cand.shape == g.row_shape and all(r in ("row", "reduce") for r in roles):
        return "row"
    return None
