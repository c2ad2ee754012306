"""Step 4 of planning: which values get memory, and where (the per-thread arena or the call's
output block).

Split out of ``codegen.plan``; :class:`Memory` is a part of its ``_Build`` and works on the
analysis' state (``g``, ``layout``, ``kind``) and the groups and units ``_Build.run`` made.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ir.ops import get_op

from .analysis import Layout, tensor_of
from .loops import buffer_strides as _buffer_strides
from .loops import first_fit as _first_fit
from .lowering import LOWER, Host
from .plan_types import align_up

__all__ = ["Memory", "FRESH_RESULTS"]

#: NumPy calls whose result never shares memory with their arguments (copies and products), so
#: an argument's buffer is free once the call has read it.  Any other call may return one of its
#: arguments or a view of one, which then keeps that buffer alive as long as the result.
FRESH_RESULTS = frozenset({"concatenate", "stack", "matmul", "zeros", "ones", "full", "arange"})


class Memory:
    """Buffers for the values kernels write: offsets from liveness, first fit, in place over a
    dying input where an elementwise kernel allows it."""

    def assign_memory(self) -> None:
        """Buffers for materialized group results and matmul outputs: arena or output block."""
        self.buffers: dict[tuple[int, int], tuple[str, int]] = {}  # root -> ("arena"|"outblock", offset)
        unit_nodes = {u: (self.group_by_id[u[1]].members if u[0] == "group" else [u[1]]) for u in self.units}
        # which values need buffers, and views' layouts, in step order
        produced_at: dict[tuple[int, int], int] = {}
        # views' geometry was computed for C order: results that are viewed, and the convolutions
        # whose buffer their kernel's epilogue may take over, stay C order
        self.viewed = {lay.root for r, lay in self.layout.items() if r != lay.root}
        viewed_nodes = {root[0] for root in self.viewed}
        for i, u in enumerate(self.units):
            viewed = not viewed_nodes.isdisjoint(unit_nodes[u])
            for nid in unit_nodes[u]:
                node = self.g.node(nid)
                t = tensor_of(node.types[0]) if node.types else None
                if (u[0] == "group" and (nid, 0) in self.materialized) or (
                        self.kind[nid] == "host" and t is not None and _out_fn(node.op) is not None
                        and len(node.types) == 1):
                    ref = (nid, 0)
                    produced_at[ref] = i
                    self.layout[ref] = Layout(ref, 0, tuple(t.shape), _buffer_strides(node.op, t, not viewed),
                                              t.dtype)
        # buffers each value may share memory with: its own; a view's base's; and for what a NumPy
        # call returned, any buffer among that call's inputs (it may return one of them, or a view)
        derived: dict[tuple[int, int], frozenset] = {}
        for u in self.units:
            for nid in unit_nodes[u]:
                node = self.g.node(nid)
                n_out = max(1, node.num_outputs) if get_op(node.op).multi_output else 1
                below = frozenset().union(*(derived.get(r, frozenset()) for r in self.inputs(nid)))
                for k in range(n_out):
                    ref = (nid, k)
                    if ref in produced_at:
                        derived[ref] = frozenset({ref})
                    elif self.kind[nid] == "host" and node.op in FRESH_RESULTS:
                        derived[ref] = frozenset()  # a new array: its inputs' buffers may die first
                    elif self.kind[nid] in ("host", "interp", "view"):
                        derived[ref] = below
        # escaping roots: returned (directly, through views, or through NumPy calls) -> output block
        out_node = self.g.output_node
        self.escaping: set[tuple[int, int]] = set()
        for ref in self.inputs(out_node):
            self.escaping.update(derived.get(ref, ()))
        # last use of each root, by step position
        last: dict[tuple[int, int], int] = {}
        for i, u in enumerate(self.units):
            for nid in unit_nodes[u]:
                for ref in self.inputs(nid):
                    if u[0] == "group" and self.group_of.get(ref[0]) == u[1] \
                            and self.group_by_id[u[1]].roles[ref[0]] != "gemm":
                        continue  # computed inside the kernel, never in memory
                    for root in derived.get(ref, ()):
                        last[root] = max(last.get(root, -1), i)
        # views extend their roots to their own uses (done above through layouts); assign offsets
        live: list[tuple[int, int, tuple[int, int]]] = []  # (offset, size, root)
        alias: dict[tuple[int, int], tuple[int, int]] = {}
        outblock = 0
        arena_end = 0
        by_step: dict[int, list[tuple[int, int]]] = {}
        for ref, i in produced_at.items():
            by_step.setdefault(i, []).append(ref)
        owners: list[tuple[int, tuple[int, int], int, int]] = []  # (step, root, offset, size) of arena buffers
        for i, u in enumerate(self.units):
            live = [b for b in live if last.get(alias.get(b[2], b[2]), -1) >= i]
            # a group's matmul results first (BLAS writes them first), so that its epilogue's
            # result may take one over (``donor``) whatever the node numbering
            roles = self.group_by_id[u[1]].roles if u[0] == "group" else {}
            for ref in sorted(by_step.get(i, []), key=lambda r, roles=roles: (roles.get(r[0]) != "gemm", r)):
                t = tensor_of(self.vtype(ref))
                size = align_up(max(int(math.prod(t.shape)) * t.dtype.itemsize, 1))
                if ref in self.escaping:
                    self.buffers[ref] = ("outblock", outblock)
                    outblock += size
                    continue
                donor = None
                if u[0] == "group" and self.group_by_id[u[1]].roles[ref[0]] != "gemm":  # BLAS writes first
                    donor = self.donor(u, ref, live, last, i)
                if donor is not None:
                    alias[ref] = donor
                    self.buffers[ref] = self.buffers[donor]
                    self.layout[ref] = Layout(donor, 0, self.layout[ref].shape, self.layout[donor].strides,
                                              self.layout[ref].dtype)
                    last[donor] = max(last.get(donor, -1), last.get(ref, i))
                    continue
                offset = _first_fit(live, size)
                live.append((offset, size, ref))
                owners.append((i, ref, offset, size))
                arena_end = max(arena_end, offset + size)
                self.buffers[ref] = ("arena", offset)
            # re-root views made from aliased buffers
        for ref, lay in list(self.layout.items()):
            root = alias.get(lay.root)
            if root is not None and ref != lay.root:
                self.layout[ref] = Layout(root, lay.offset, lay.shape, lay.strides, lay.dtype)
        self.alias = alias
        self.values_bytes = align_up(arena_end)
        # the steps during which each arena buffer holds a value (from its first write to its
        # last reader, in-place successors included): kernels' scratch goes around them
        self.occupied = [(i, max(i, last.get(ref, -1)), offset, size) for i, ref, offset, size in owners]
        self.outblock_bytes = outblock

    def place_scratch(self) -> int:
        """Put each kernel's scratch (per chunk: row buffers, im2col columns, transposed matmul
        blocks) where no value is live during that kernel, first fit, and set the frame words
        that point into it.  Returns the arena's size."""
        end = self.values_bytes
        for unit, chunks, per_chunk, fixups in self.scratch_requests:
            busy = [(offset, size, None) for first, last, offset, size in self.occupied if first <= unit <= last]
            start = _first_fit(busy, chunks * per_chunk)
            for word, chunk, offset in fixups:
                self.frame_const[word] = start + chunk * per_chunk + offset
            end = max(end, start + chunks * per_chunk)
        return end

    def donor(self, unit: Any, ref: tuple[int, int], live: list, last: dict, i: int) -> tuple[int, int] | None:
        """An input buffer that an elementwise kernel may overwrite with ``ref``."""
        grp = self.group_by_id[unit[1]]
        if grp.k:
            return None
        lay = self.layout[ref]
        if lay.shape != grp.domain:
            return None
        # chunks of a matmul read all of its right operand, and with a column split all of its
        # left one too: no chunk may overwrite them with its part of the result (a row split
        # reads only its own rows of the left operand)
        wide = grp.has_gemm and math.prod(grp.domain[:-1]) < grp.domain[-1]
        for nid in grp.members:
            matmul = grp.roles[nid] == "gemm" and self.g.node(nid).op == "matmul"
            for position, src in enumerate(self.inputs(nid)):
                if self.group_of.get(src[0]) == grp.id and grp.roles[src[0]] != "gemm":
                    continue
                if matmul and (wide or position == 1):
                    continue
                slay = self.layout.get(src)
                if slay is None or slay.root != src or src not in self.buffers:
                    continue
                if self.buffers[src][0] != "arena" or last.get(src, -1) != i:
                    continue
                if slay.shape == lay.shape and slay.dtype == lay.dtype and slay.offset == 0 \
                        and (slay.strides == lay.strides or ref not in self.viewed) \
                        and any(b[2] == src for b in live):
                    return src  # the output takes over the input's memory, and its strides
        return None


def _out_fn(op: str) -> Any:
    rule = LOWER.get(op) if op in LOWER else None
    if isinstance(rule, Host) and rule.out and op == "matmul":
        return np.matmul
    return None

