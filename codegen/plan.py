"""Planning one program for concrete input types: kernels, views, buffers and the step list.

:func:`plan_graph` turns a graph plus input types into a :class:`Plan` that ``runtime.compiled``
executes.  Nothing here imports numba; compiling the plan's kernels is ``codegen.cache``'s job.

1. Types (``codegen.analysis``): ``ir.passes.infer_types`` gives every value its concrete type
   for these inputs; Python scalars whose values are known (sizes read from shapes, literals,
   arithmetic on them) are evaluated now.
2. Each node is a kernel candidate (an elementwise op, or a reduction over trailing axes, with a
   ``Scalar``/``Reduce`` lowering, over supported dtypes), a *view* (a movement op whose result is
   a strided view: its geometry is computed here by running NumPy on a stand-in array that owns
   no memory), a *host* call (the op's NumPy reference; BLAS matmul writes into a planned
   buffer), or *interpreted* (no lowering, control flow: the reference interpreter runs it).
3. :func:`codegen.fusion.fuse` groups candidates; a lone cheap op on a small array runs on NumPy
   (a kernel would not pay for itself).
4. Steps are ordered; values that kernels write get buffers: a per-thread *arena* reused across
   calls (offsets from liveness, first fit; an elementwise kernel overwrites a dying input in
   place, e.g. a matmul's bias-and-activation epilogue) and, for values the call returns, one
   fresh *output block* per call.
5. Each kernel becomes a :class:`~codegen.kernels.KernelSpec` (loops after dropping size-1 axes
   and merging contiguous ones, so one compiled kernel fits many shapes) and a frame: per word,
   ``(constant, base)``; the executor adds the base's address (0 for absolute values,
   :data:`ARENA`, :data:`OUTBLOCK`, or a per-call pointer such as an input's data).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from ir import Graph, ScalarType, TensorType, Type
from ir.node import Node, Use
from ir.ops import get_op
from ir.passes import copy_shared_transposes, cse, dce, infer_types, merge_sliced_matmuls, unroll_loops
from ir.toposort import lexicographical_topological_sort

from .analysis import Analysis, Layout, c_strides, tensor_of
from .fusion import Group, fuse
from .kernels import SWAP_BLOCK, Gemm, KernelSource, KernelSpec, KNode, Mem, generate
from .loops import buffer_strides as _buffer_strides
from .loops import first_fit as _first_fit
from .loops import on_domain as _on_domain
from .loops import simplify as _simplify
from .loops import window_consts as _window_consts
from .lowering import LOWER, Host

__all__ = ["PlanOptions", "Plan", "KernelStep", "HostStep", "InterpStep", "plan_graph", "ABSOLUTE", "ARENA",
           "OUTBLOCK", "Layout"]

ABSOLUTE, ARENA, OUTBLOCK = 0, 1, 2
_ALIGN = 64


@dataclass(frozen=True)
class PlanOptions:
    """Knobs of the planner (defaults measured on the 2-core development machine).

    Attributes
    ----------
    fuse : bool
        Group operations into kernels (``False``: one kernel per operation).
    force_kernels : bool
        Compile every operation that has a lowering, however small (tests use it so that every
        op runs through numba).
    min_elements : int
        A lone cheap operation on fewer elements runs on NumPy: a kernel call costs the same.
    threads : int
        Split a kernel's outermost loop (rows, images, or a matmul's columns) over this many
        threads...
    parallel_work : int or None
        ...when its estimated single-thread time in nanoseconds exceeds this.  ``None``: 20 us
        where ``codegen.pool``'s native workers run the chunks (a hand-off costs about a
        microsecond while they spin), 400 us where Python threads do (tens of microseconds).
    unroll : int
        Loops whose trip count is known from constants and input shapes, up to this many
        iterations, are planned as straight-line code (``ir.passes.unroll_loops``); 0 keeps
        every loop a loop (its body compiled, the loop itself run from Python).
    merge : bool
        Products of one right operand with slices of one array become one product and slices
        of it (``ir.passes.merge_sliced_matmuls``: an RNN's input projection leaves its loop).
    copy_transposes : bool
        A ``W.T`` shared by small products is copied contiguous once per call, so that they run
        ``A @ B`` instead of the swapped product (``ir.passes.copy_shared_transposes``).
    """

    fuse: bool = True
    force_kernels: bool = False
    min_elements: int = 1 << 14
    threads: int = 2
    parallel_work: int | None = None
    unroll: int = 256
    merge: bool = True
    copy_transposes: bool = True


@dataclass
class KernelStep:
    """Run kernel ``kernel`` once per chunk; ``frames`` are word offsets into the frame array."""

    kernel: int
    frames: list[int]
    name: str
    work: int
    blas: bool = False  # starts with BLAS calls (each chunk calls gemm for its rows)


@dataclass
class HostStep:
    """``outs = fn(*args, **kwargs)`` on Python objects; ``out_kw`` passes a planned buffer."""

    fn: Any
    args: tuple
    kwargs: tuple
    ins: tuple[int, ...]  # env slot of each Use
    outs: tuple[int, ...]  # env slot of each output (several for multi-output ops)
    multi: bool
    op: str
    out_kw: str | None = None
    out_slot: int | None = None
    publish: tuple = ()  # (env slot, base index, dtype, shape, frame words): arrays kernels read later


@dataclass
class InterpStep:
    """Run one node through the reference interpreter (control flow, ops without a lowering)."""

    node: Node
    ins: tuple[int, ...]
    outs: tuple[int, ...]
    publish: tuple = ()


@dataclass
class Plan:
    """A program planned for one input signature (see the module docstring)."""

    graph: Graph
    input_types: tuple[Type, ...]
    n_slots: int
    inputs: list[tuple[int, int | None]]  # (env slot, base index or None) per graph input
    params: list[tuple[int, str, int | None]]  # (env slot, qualified name, base index or None)
    statics: list[tuple[int, Any]]
    steps: list[Any]
    output: tuple[Any, tuple[int, ...], tuple[bool, ...]]  # template, env slots, "0-d: as a scalar"
    kernels: list[KernelSource]
    frame_const: np.ndarray
    frame_base: np.ndarray
    scalar_patches: list[tuple[int, int, str]]  # (frame word, env slot, kind) per dynamic scalar
    n_bases: int
    arena_bytes: int
    scratch_offset: int
    scratch_bytes: int  # per chunk
    outblock_bytes: int
    arena_objects: list[tuple[int, int, tuple, np.dtype, tuple]]  # (slot, offset, shape, dtype, strides)
    outblock_objects: list[tuple[int, int, tuple, np.dtype, tuple]]
    fallbacks: tuple[str, ...] = ()
    interpreted: tuple[str, ...] = ()
    owned: list = field(default_factory=list)  # arrays whose addresses the frames hold
    kernel_ops: frozenset[str] = frozenset()  # ops computed inside kernels
    slot_names: dict[int, str] = field(default_factory=dict)  # readable names for the driver
    scalar_slots: frozenset[int] = frozenset()  # 0-d kernel results that NumPy calls see as scalars

    def describe(self) -> str:
        """The step list, one line per step (for people and tests)."""
        lines = []
        for s in self.steps:
            if isinstance(s, KernelStep):
                lines.append(f"kernel {s.name}" + (f" ({len(s.frames)} threads)" if len(s.frames) > 1 else ""))
            elif isinstance(s, HostStep):
                lines.append(f"numpy {s.op}" + (" (into buffer)" if s.out_kw else ""))
            else:
                lines.append(f"interpreter {s.node.op}")
        return "\n".join(lines)

    @property
    def kernel_steps(self) -> list[KernelStep]:
        return [s for s in self.steps if isinstance(s, KernelStep)]


def _align(n: int) -> int:
    return (n + _ALIGN - 1) // _ALIGN * _ALIGN


def _float_bits(value: float) -> int:
    return struct.unpack("<q", struct.pack("<d", float(value)))[0]


class _Build(Analysis):
    def __init__(self, graph: Graph, input_types: Sequence[Type], options: PlanOptions) -> None:
        super().__init__(graph, input_types)
        self.options = options
        self.slots: dict[tuple[int, int], int] = {}
        self.owned: list = []
        self.constant_arrays: dict[int, int] = {}  # constant node -> address of its owned array
        self.exact: set[int] | None = None  # BLAS candidates that make the reference's calls (blas_for)

    def slot(self, ref: tuple[int, int]) -> int:
        s = self.slots.get(ref)
        if s is None:
            s = self.slots[ref] = len(self.slots)
        return s

    # -- 1-3: what each node becomes --------------------------------------------------------------
    def run(self) -> Plan:
        self.fold_scalars()
        self.layouts()
        self.classify()
        groups = fuse(self.g, self.order, self.candidates, enabled=self.options.fuse,
                      split_columns=self.options.threads > 1 and self.splittable([(None, {"lda": 0})]))
        self.groups = [grp for grp in groups if self.worth(grp)]
        for grp in groups:
            if grp not in self.groups:
                for nid in grp.members:
                    self.kind[nid] = "host"
        self.group_of = {nid: grp.id for grp in self.groups for nid in grp.members}
        self.group_by_id = {grp.id: grp for grp in self.groups}
        self.consumers = {nid: [] for nid in self.order}
        for nid in self.order:
            for src, out in self.g.inputs(nid):
                self.consumers[src].append((nid, out))
        self.root_layouts()
        self.materialized = self.materialize()
        self.units = self.schedule()
        self.assign_memory()
        return self.build()

    def worth(self, grp: Group) -> bool:
        if self.options.force_kernels or len(grp.members) > 1 or grp.has_gemm:
            return True
        cand = self.candidates[grp.members[0]]
        n = math.prod(grp.domain)
        return n >= self.options.min_elements or (cand.fast and n >= 1024)

    def root_layouts(self) -> None:
        for nid in self.order:
            node = self.g.node(nid)
            t = tensor_of(node.types[0]) if node.types else None
            if node.op in ("input", "param") and t is not None:
                self.layout[(nid, 0)] = Layout((nid, 0), 0, tuple(t.shape), c_strides(tuple(t.shape), t.dtype.itemsize),
                                               t.dtype)
            elif node.op == "constant" and node.kwarg("name") is not None and t is not None:
                self.layout[(nid, 0)] = Layout((nid, 0), 0, tuple(t.shape), c_strides(tuple(t.shape), t.dtype.itemsize),
                                               t.dtype)

    def materialize(self) -> set[tuple[int, int]]:
        """Group results that leave their group (used elsewhere or returned): they get memory."""
        out = set()
        for grp in self.groups:
            for nid in grp.members:
                if grp.roles[nid] == "gemm" or any(self.group_of.get(c) != grp.id for c, _ in self.consumers[nid]):
                    out.add((nid, 0))  # a matmul's result is always written to memory (by BLAS)
        return out

    # -- 4: order and memory ----------------------------------------------------------------------
    def schedule(self) -> list[Any]:
        """Units (a group, or a single node) in a dependency order."""
        unit_of: dict[int, Any] = {}
        for nid in self.order:
            kind = self.kind[nid]
            if nid in self.group_of:
                unit_of[nid] = ("group", self.group_of[nid])
            elif kind in ("host", "interp", "view"):
                unit_of[nid] = ("node", nid)
        succ: dict[Any, dict[Any, None]] = {}  # unit -> the units reading it (a dict: ordered, no repeats)
        first: dict[Any, int] = {}
        for nid in self.order:
            u = unit_of.get(nid)
            if u is None:
                continue
            succ.setdefault(u, {})
            first[u] = min(first.get(u, nid), nid)
            for src, _ in self.g.inputs(nid):
                v = unit_of.get(src)
                if v is not None and v != u:
                    succ.setdefault(v, {})[u] = None
        return lexicographical_topological_sort(succ, key=first.__getitem__)

    def assign_memory(self) -> None:
        """Buffers for materialized group results and matmul outputs: arena or output block."""
        self.buffers: dict[tuple[int, int], tuple[str, int]] = {}  # root -> ("arena"|"outblock", offset)
        unit_nodes = {u: (self.group_by_id[u[1]].members if u[0] == "group" else [u[1]]) for u in self.units}
        # which values need buffers, and views' layouts, in step order
        produced_at: dict[tuple[int, int], int] = {}
        # views' geometry was computed for C order: results that are viewed, and the convolutions
        # whose buffer their kernel's epilogue may take over, stay C order
        self.viewed = {lay.root for r, lay in self.layout.items() if r != lay.root}
        for i, u in enumerate(self.units):
            viewed = any(root[0] in unit_nodes[u] for root in self.viewed)
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
                below = frozenset().union(*(derived.get(r, frozenset()) for r in self.g.inputs(nid)))
                for k in range(n_out):
                    ref = (nid, k)
                    if ref in produced_at:
                        derived[ref] = frozenset({ref})
                    elif self.kind[nid] in ("host", "interp", "view"):
                        derived[ref] = below
        # escaping roots: returned (directly, through views, or through NumPy calls) -> output block
        out_node = self.g.output_node
        self.escaping: set[tuple[int, int]] = set()
        for ref in self.g.inputs(out_node):
            self.escaping.update(derived.get(ref, ()))
        # last use of each root, by step position
        last: dict[tuple[int, int], int] = {}
        for i, u in enumerate(self.units):
            for nid in unit_nodes[u]:
                for ref in self.g.inputs(nid):
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
        for i, u in enumerate(self.units):
            live = [b for b in live if last.get(alias.get(b[2], b[2]), -1) >= i]
            for ref in sorted(by_step.get(i, [])):
                t = tensor_of(self.vtype(ref))
                size = _align(max(int(math.prod(t.shape)) * t.dtype.itemsize, 1))
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
                arena_end = max(arena_end, offset + size)
                self.buffers[ref] = ("arena", offset)
            # re-root views made from aliased buffers
        for ref, lay in list(self.layout.items()):
            root = alias.get(lay.root)
            if root is not None and ref != lay.root:
                self.layout[ref] = Layout(root, lay.offset, lay.shape, lay.strides, lay.dtype)
        self.alias = alias
        self.values_bytes = _align(arena_end)
        self.outblock_bytes = outblock

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
            for position, src in enumerate(self.g.inputs(nid)):
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

    # -- 5: steps, kernels, frames ----------------------------------------------------------------
    def build(self) -> Plan:
        self.frame_const: list[int] = []
        self.frame_base: list[int] = []
        self.scalar_patches: list[tuple[int, int, str]] = []
        self.kernel_sources: list[KernelSource] = []
        self.kernel_index: dict[str, int] = {}
        self.bases: dict[tuple[int, int], int] = {}  # dynamic root -> base index
        self.next_base = 3
        self.pending_publish: dict[tuple[int, int], list[int]] = {}  # host root -> frame words
        self.scratch_bytes = 0
        self.scratch_fixups: list[tuple[int, int, int]] = []
        self.max_chunks = 1
        steps: list[Any] = []
        kernel_reads: set[tuple[int, int]] = set()
        need_obj = self.objects_needed()
        for u in self.units:
            if u[0] == "group":
                steps.append(self.kernel_step(self.group_by_id[u[1]], kernel_reads))
            else:
                nid = u[1]
                step = self.node_step(nid, need_obj)
                if step is not None:
                    steps.append(step)
        for word, chunk, offset in self.scratch_fixups:
            self.frame_const[word] = self.values_bytes + chunk * self.scratch_bytes + offset
        # publish host-produced arrays that kernels read (their pointers are known only at run time)
        for s in steps:
            if isinstance(s, (HostStep, InterpStep)):
                pubs = []
                for k, slot in enumerate(s.outs):
                    ref = s.refs[k]  # type: ignore[attr-defined]
                    if ref in self.pending_publish:
                        t = tensor_of(self.vtype(ref))
                        pubs.append((slot, self.bases[ref], t.dtype, tuple(t.shape),
                                     np.array(self.pending_publish[ref], np.int64)))
                s.publish = tuple(pubs)
        inputs = []
        for nid in self.g.input_nodes:
            ref = (nid, 0)
            inputs.append((self.slot(ref), self.bases.get(ref)))
        params = []
        for nid in self.order:
            node = self.g.node(nid)
            if node.op == "param":
                params.append((self.slot((nid, 0)), node.kwarg("name"), self.bases.get((nid, 0))))
        statics = []
        for nid in self.order:
            node = self.g.node(nid)
            if node.op == "constant":
                value = self.constant_value(nid)
                statics.append((self.slot((nid, 0)), value))
            elif (nid, 0) in self.static and self.kind.get(nid) == "static":
                statics.append((self.slot((nid, 0)), self.static[(nid, 0)]))
        out_node = self.g.output_node
        out_refs = self.g.inputs(out_node)
        # 0-d values kernels compute that the reference would have as NumPy scalars: NumPy calls
        # and the caller get scalars (``np.abs(x).T`` of a 0-d ``x`` is a scalar, ``np.where``'s a 0-d array)
        scalar_refs = {ref for ref in self.buffers if getattr(tensor_of(self.vtype(ref)), "shape", None) == ()
                       and self.zero_d_is_scalar(ref[0])}
        scalarize = tuple(ref in scalar_refs for ref in out_refs)
        output = (self.g.node(out_node).args[0], tuple(self.slot(r) for r in out_refs), scalarize)
        arena_objects, outblock_objects = [], []
        for ref in sorted(need_obj):
            if ref in self.buffers and self.layout[ref].root in self.buffers:
                where, off = self.buffers[self.layout[ref].root]
                lay = self.layout[ref]
                entry = (self.slot(ref), off + lay.offset, lay.shape, lay.dtype, lay.strides)
                (arena_objects if where == "arena" else outblock_objects).append(entry)
        return Plan(
            graph=self.source_graph, input_types=self.input_types, n_slots=len(self.slots),
            inputs=inputs, params=params, statics=statics, steps=steps, output=output,
            kernels=self.kernel_sources,
            frame_const=np.array(self.frame_const, np.int64), frame_base=np.array(self.frame_base, np.int64),
            scalar_patches=self.scalar_patches, n_bases=self.next_base,
            arena_bytes=self.values_bytes + self.scratch_bytes * self.max_chunks,
            scratch_offset=self.values_bytes, scratch_bytes=self.scratch_bytes,
            outblock_bytes=self.outblock_bytes, arena_objects=arena_objects, outblock_objects=outblock_objects,
            fallbacks=tuple(dict.fromkeys(self.fallbacks)), interpreted=tuple(dict.fromkeys(self.interpreted)),
            owned=self.owned,
            kernel_ops=frozenset(self.g.node(n).op for grp in self.groups for n in grp.members),
            slot_names={slot: _hint(self.g.node(ref[0])) for ref, slot in self.slots.items()},
            scalar_slots=frozenset(self.slot(ref) for ref in scalar_refs),
        )

    def constant_value(self, nid: int) -> Any:
        node = self.g.node(nid)
        name = node.kwarg("name")
        if name is None:
            return node.kwarg("value")
        value = self.g.tensors[name]
        if isinstance(value, np.ndarray) and not (value.flags.c_contiguous and value.flags.aligned):
            value = np.ascontiguousarray(value)
        return value

    def constant_address(self, nid: int) -> int:
        """Address of constant ``nid``'s data in an array the plan owns (``Plan.owned`` keeps it
        alive as long as the frames that hold the address).  A NumPy scalar (``np.float32(1e-5)``)
        has no buffer of its own: ``__array_interface__`` would hand out a temporary's, freed at
        once, so it gets a 0-d array."""
        hit = self.constant_arrays.get(nid)
        if hit is None:
            value = self.constant_value(nid)
            arr = value if isinstance(value, np.ndarray) else np.array(value)
            if not arr.dtype.isnative:
                arr = arr.astype(arr.dtype.newbyteorder("="))
            if not (arr.flags.c_contiguous and arr.flags.aligned):
                arr = np.array(arr, order="C")
            self.owned.append(arr)
            hit = self.constant_arrays[nid] = arr.__array_interface__["data"][0]
        return hit

    def kernel_made(self, ref: tuple[int, int]) -> bool:
        return ref in self.buffers

    def objects_needed(self) -> set[tuple[int, int]]:
        """Values some NumPy call or the caller sees as Python objects."""
        need = set()
        for nid in self.order:
            kind = self.kind[nid]
            if kind in ("host", "interp", "output") or (kind == "view" and self.view_needs_object(nid)):
                need.update(self.g.inputs(nid))
            if kind == "host" and (nid, 0) in self.buffers:
                need.add((nid, 0))  # NumPy writes it through out=
        return need

    def view_needs_object(self, nid: int) -> bool:
        stack = [nid]
        seen = set()
        while stack:
            n = stack.pop()
            if n in seen:
                continue
            seen.add(n)
            for c, _ in self.consumers[n]:
                kind = self.kind[c]
                if kind in ("host", "interp", "output"):
                    return True
                if kind == "view" and (c, 0) not in self.layout:
                    return True
                if kind == "view":
                    stack.append(c)
        return False

    def node_step(self, nid: int, need_obj: set) -> Any:
        node = self.g.node(nid)
        kind = self.kind[nid]
        refs = self.g.inputs(nid)
        n_out = max(1, node.num_outputs) if get_op(node.op).multi_output else 1
        outs = tuple(self.slot((nid, k)) for k in range(n_out))
        ins = tuple(self.slot(r) for r in refs)
        if kind == "view" and not any((nid, k) in need_obj for k in range(n_out)):
            return None  # kernels read it through its layout; nobody needs the object
        if kind == "interp":
            step = InterpStep(node, ins, outs)
            step.refs = [(nid, k) for k in range(n_out)]  # type: ignore[attr-defined]
            return step
        op = get_op(node.op)
        out_kw = out_slot = None
        fn = op.impl
        if (nid, 0) in self.buffers and _out_fn(node.op) is not None:
            fn, out_kw = _out_fn(node.op), "out"
            out_slot = self.slot((nid, 0))
        step = HostStep(fn, node.args, node.kwargs, ins, outs, op.multi_output, node.op, out_kw, out_slot)
        step.refs = [(nid, k) for k in range(n_out)]  # type: ignore[attr-defined]
        return step

    # -- kernels ----------------------------------------------------------------------------------
    def base_of(self, root: tuple[int, int]) -> tuple[int, int]:
        """(base index, constant) for the start of ``root``'s memory."""
        if root in self.buffers:
            where, off = self.buffers[root]
            return (ARENA if where == "arena" else OUTBLOCK), off
        node = self.g.node(root[0])
        if node.op == "constant":
            return ABSOLUTE, self.constant_address(root[0])
        if root not in self.bases:
            self.bases[root] = self.next_base
            self.next_base += 1
        return self.bases[root], 0

    def kernel_step(self, grp: Group, kernel_reads: set) -> KernelStep:
        rank = len(grp.domain)
        outer_n = rank - grp.k
        mems: list[tuple] = []  # (layout key, dtype, element strides on the domain)
        mem_index: dict[tuple, int] = {}
        hints: list[str] = []

        def mem_for(ref: tuple[int, int], align: str) -> int:
            lay = self.layout.get(ref)
            if lay is None:  # an array some NumPy call produced: published contiguous at run time
                t = tensor_of(self.vtype(ref))
                lay = Layout(ref, 0, tuple(t.shape), c_strides(tuple(t.shape), t.dtype.itemsize), t.dtype)
                self.layout[ref] = lay
            varying = self.g.node(lay.root[0]).op not in ("param", "constant")
            strides = _on_domain(lay, grp, align, varying)
            key = (lay.root, lay.offset, strides, lay.dtype.name)
            if key not in mem_index:
                mem_index[key] = len(mems)
                mems.append(key)
                hints.append(_hint(self.g.node(ref[0])))
            return mem_index[key]

        members = [nid for nid in grp.members if grp.roles[nid] != "gemm"]
        gemm_members = [nid for nid in grp.members if grp.roles[nid] == "gemm"]
        index = {nid: j for j, nid in enumerate(members)}
        scalars: list[tuple[str, Any]] = []  # (kind, (static value) | ("dyn", slot))
        knodes = []
        gemms = [self.gemm_spec(nid, grp, fold=True) for nid in gemm_members]
        for nid in members:
            node = self.g.node(nid)
            role = grp.roles[nid]
            refs = self.g.inputs(nid)

            def conv(t: Any, refs: list = refs) -> Any:
                if not isinstance(t, Use):
                    if isinstance(t, (bool, int, float)):
                        return ("lit", t)
                    return t
                ref = refs[t.index]
                if ref[0] in index:
                    return ("node", index[ref[0]])
                tt = tensor_of(self.vtype(ref))
                if tt is not None and ref not in self.static:
                    kernel_reads.add(ref)
                    return ("mem", mem_for(ref, "right"))
                if ref in self.static:
                    value = self.static[ref]
                    if self.g.node(ref[0]).op == "constant":
                        return ("lit", value)
                    kind = "bool" if isinstance(value, bool) else ("int" if isinstance(value, int) else "float")
                    scalars.append((kind, value))
                    return ("scalar", len(scalars) - 1)
                kind = self.scalar_kind[ref]
                scalars.append((kind, ("dyn", self.slot(ref))))
                return ("scalar", len(scalars) - 1)

            stores = ()
            if (nid, 0) in self.materialized:
                align = "outer" if role == "reduce" and not self.candidates[nid].keepdims else "right"
                stores = (mem_for((nid, 0), align),)
            info = self.kinfo[nid]
            if role == "reduce":
                src_ref = info["src"]
                arg = ("node", index[src_ref[0]]) if src_ref[0] in index else conv(node.args[0])
                knodes.append(KNode(node.op, "reduce", (arg,), (), info["out"], info["out"], (), stores,
                                    info["ddof"], _hint(node)))
            else:
                args = tuple(conv(a) for a in node.args)
                kwargs = tuple((k, conv(v)) for k, v in node.kwargs)
                knodes.append(KNode(node.op, role, args, kwargs, info["out"], info["loop"], info["kinds"], stores,
                                    0, _hint(node)))
        # loop structure: drop size-1 axes, merge contiguous neighbours
        extents = [grp.domain[a] for a in grp.loop_order]
        table = [list(m[2]) for m in mems]
        folded = bool(gemms) and all(values.get("folded") for _, values in gemms)
        outer_dims, inner_dims = _simplify(extents, table, outer_n, keep_first=bool(gemms) and not folded)
        if folded and (not outer_dims or outer_dims[0][0] != gemms[0][1]["m"]):
            # the epilogue does not step through the batch like rows: one gemm per batch index
            gemms = [self.gemm_spec(nid, grp) for nid in gemm_members]
            outer_dims, inner_dims = _simplify(extents, table, outer_n, keep_first=True)
            folded = False
        skip = self.batch_of_one(gemms, grp) if gemms and not folded else 0
        if skip:  # chunks split the next batch axis (the heads of one sequence's attention)
            gemms = [self.gemm_spec(nid, grp, skip=skip) for nid in gemm_members]
            outer_dims, inner_dims = _simplify(extents, table, outer_n, keep_first=True, skip=skip)
        n_outer, n_inner = len(outer_dims), len(inner_dims)
        if n_outer == 0:
            outer_dims = [(1, [0] * len(mems))]
            n_outer = 1
        if grp.k and n_inner == 0:
            inner_dims = [(1, [0] * len(mems))]
            n_inner = 1
        dims = outer_dims + inner_dims
        last = len(dims) - 1
        mem_specs = []
        for i, (key, hint) in enumerate(zip(mems, hints)):
            kinds = []
            for d, (_, strides) in enumerate(dims):
                s = strides[i]
                kinds.append("0" if s == 0 else ("1" if s == 1 and d == last else "s"))
            mem_specs.append(Mem(key[3], tuple(kinds), hint))
        name = _kernel_name(self.g, grp.members)
        split_cols = self.column_split(gemms, grp, dims, n_outer, n_inner)
        spec = KernelSpec(n_outer, n_inner, tuple(mem_specs), tuple(k for k, _ in scalars), tuple(knodes), name,
                          tuple(replace(g[0], cols=split_cols, swap=split_cols and _swap(*g)) for g in gemms))
        source = generate(spec)
        kid = self.kernel_index.get(source.text)
        if kid is None:
            kid = self.kernel_index[source.text] = len(self.kernel_sources)
            self.kernel_sources.append(source)
        # chunks
        work = self.work(grp, members, gemms)
        extent0 = dims[1][0] if split_cols else dims[0][0]
        chunks = 1
        if work >= self.parallel_work() and extent0 >= self.options.threads > 1 and self.splittable(gemms):
            chunks = self.options.threads
        self.max_chunks = max(self.max_chunks, chunks)
        # scratch layout of this kernel (per chunk)
        count = math.prod(e for e, _ in inner_dims) if grp.k else 0
        scratch_offsets = []
        total = 0
        for dtype in source.scratch:
            scratch_offsets.append(total)
            total += _align(max(count, 1) * np.dtype(dtype).itemsize)
        cols_offsets = {}
        swapped = 0  # the gemms run one after the other: their transposed blocks share one region
        for g, (gspec, values) in enumerate(gemms):
            if "cols" in values:
                cols_offsets[g] = total
                total += values["cols"][1]
            elif spec.gemms[g].swap:
                width = min(-(-extent0 // chunks), SWAP_BLOCK)
                swapped = max(swapped, _align(width * values["m"] * np.dtype(gspec.dtype).itemsize))
        for g in range(len(gemms)):
            if spec.gemms[g].swap:
                cols_offsets[g] = total
        self.scratch_bytes = max(self.scratch_bytes, total + swapped)
        frames = []
        for c in range(chunks):
            lo, hi = extent0 * c // chunks, extent0 * (c + 1) // chunks
            frames.append(len(self.frame_const))
            for slot_desc in source.frame:
                if slot_desc[0].startswith("gemm"):
                    self.gemm_word(slot_desc, gemms, c, cols_offsets)
                else:
                    self.frame_word(slot_desc, lo, hi, dims, n_outer, count, mems, scalars, scratch_offsets, c)
        return KernelStep(kid, frames, source.name, work, blas=bool(gemms))

    def work(self, grp: Group, members: list[int], gemms: list) -> int:
        """Estimated nanoseconds of a kernel on one core (measured on the 2-core AMD EPYC: about
        1 ns per element and pass, 0.1 ns per simple op, 4 ns for our float32 tanh/exp/erf, and
        100 GFLOP/s in single-threaded sgemm)."""
        fast = sum(self.candidates[n].fast for n in members)
        work = int(math.prod(grp.domain) * (1.0 + 0.1 * len(members) + 4 * fast))
        return work + sum(g[1]["flops"] for g in gemms) // 100

    def column_split(self, gemms: list, grp: Group, dims: list, n_outer: int, n_inner: int) -> bool:
        """Whether a kernel's chunks are column blocks of its matmuls (rows otherwise).

        Measured with one-threaded SkylakeX sgemm: ``(64, 1024) @ (1024, 1024)`` runs at 180
        GFLOP/s on half its columns, 144 on half its rows (each thread packs only its half of the
        weights); with hundreds of rows both halves run alike.  So matmuls with fewer rows than
        columns, without batch axes, whose epilogue is elementwise over ``(rows, columns)``, split
        by columns."""
        if not gemms or grp.k or n_inner or n_outer != 2 or not self.splittable(gemms):
            return False
        for spec, values in gemms:
            if "lda" not in values or spec.n_batch or values["m"] >= values["n"] or dims[1][0] != values["n"]:
                return False
        return True

    def parallel_work(self) -> int:
        if self.options.parallel_work is not None:
            return self.options.parallel_work
        from .pool import native_pool_available

        return 20_000 if native_pool_available() else 400_000

    @staticmethod
    def splittable(gemms: list) -> bool:
        """Whether a kernel's BLAS calls may be split over our threads: only with our private,
        single-threaded BLAS (``codegen.blas``); NumPy's OpenBLAS threads each call itself, and
        two concurrent callers only contend (measured: the mlp 3.9 ms with one call per matmul,
        4.5 ms with each split in halves over two threads)."""
        from .blas import find_blas

        if not any("cols" in g[1] or "lda" in g[1] for g in gemms):
            return True
        if any(g[1].get("exact") for g in gemms):
            return False
        blas = find_blas()
        return blas is not None and blas.private

    def blas_for(self, nid: int) -> Any:
        """The BLAS matmul or convolution ``nid`` calls: ours, or NumPy's own with the reference's
        very calls (one per matrix or image, its threads) when its float32 result flows into a
        float64 value.  SPEC's float64 tolerance (1e-12) leaves no room for the float32
        rounding differences of another summation order, so such programs (the public ``gpt2``,
        float32 weights, a float64 ``np.sqrt`` scalar in its attention) keep NumPy's bits there."""
        from .blas import find_blas, numpy_blas

        if self.exact is None:
            self.exact = self.exact_gemms()
        return numpy_blas() if nid in self.exact else find_blas()

    def exact_gemms(self) -> set[int]:
        """Float32 BLAS candidates (matmuls, convolutions) whose results reach a float64 value."""
        wide: dict[int, bool] = {}
        for nid in reversed(self.order):  # consumers come later in the order
            node = self.g.node(nid)
            # float64 arrays, and Python floats computed from data (a size's sqrt is known here)
            here = any((isinstance(t, TensorType) and t.dtype == np.float64)
                       or (isinstance(t, ScalarType) and t.kind == "float" and (nid, k) not in self.static)
                       for k, t in enumerate(node.types))
            wide[nid] = here or any(wide.get(c, False) for c, _ in self.consumers.get(nid, ()))
        out = set()
        for nid, cand in self.candidates.items():
            node = self.g.node(nid)
            t = tensor_of(node.types[0]) if node.types else None
            if cand.kind == "gemm" and t is not None and t.dtype == np.float32 and \
                    any(wide.get(c, False) for c, _ in self.consumers.get(nid, ())):
                out.add(nid)
        return out

    def pool_spec(self, nid: int) -> tuple[Gemm, dict]:
        """The window loop of max pooling ``nid`` and its frame values."""
        info = self.kinfo[nid]
        x, c = self.layout[info["x"]], self.layout[(nid, 0)]
        item = c.dtype.itemsize
        geo = info["pool"]
        n, ch, ho, wo = c.shape
        values: dict[Any, Any] = {
            "c_in": ch, "h": x.shape[2], "w": x.shape[3], "kh": geo["k"][0], "kw": geo["k"][1],
            "sh": geo["s"][0], "sw": geo["s"][1], "dil_h": geo["d"][0], "dil_w": geo["d"][1],
            "pt": geo["p"][0], "pl": geo["p"][1], "ho": ho, "wo": wo,
            "x": ("root", x.root, x.offset), "out": ("root", c.root, c.offset),
        }
        for key, stride in zip(("xs_n", "xs_c", "xs_h", "xs_w"), x.strides):
            values[key] = stride // item
        values["flops"] = n * ch * ho * wo * geo["k"][0] * geo["k"][1] * 10  # loads and compares, not BLAS-fast
        return Gemm(c.dtype.name, False, hint=_hint(self.g.node(nid)), pool=True, consts=_window_consts(values)), values

    def conv_spec(self, nid: int) -> tuple[Gemm, dict]:
        """The im2col + BLAS + bias of convolution ``nid`` and its frame values."""
        blas = self.blas_for(nid)
        assert blas is not None
        info = self.kinfo[nid]
        x, w, c = self.layout[info["x"]], self.layout[info["w"]], self.layout[(nid, 0)]
        item = c.dtype.itemsize
        geo = info["conv"]
        (pt, _), (pl, _) = geo["pads"]
        n, o, ho, wo = c.shape
        ckk = x.shape[1] * w.shape[2] * w.shape[3]
        img, ldc = c.strides[0] // item, c.strides[1] // item
        assert c.strides[2:] == (wo * item, item), c.strides
        values: dict[Any, Any] = {
            "fn": (ABSOLUTE, blas.address(c.dtype.name)), "c_in": x.shape[1], "h": x.shape[2], "w": x.shape[3],
            "o": o, "kh": w.shape[2], "kw": w.shape[3], "sh": geo["stride"][0], "sw": geo["stride"][1],
            "dil_h": geo["dilation"][0], "dil_w": geo["dilation"][1], "pt": pt, "pl": pl, "ho": ho, "wo": wo,
            "x": ("root", x.root, x.offset), "weight": ("root", w.root, w.offset), "out": ("root", c.root, c.offset),
            "cols": ("cols", _align(ckk * ho * wo * item)), "img": img, "ldc": ldc,
        }
        for key, stride in zip(("xs_n", "xs_c", "xs_h", "xs_w"), x.strides):
            values[key] = stride // item
        if info["bias"] is not None:
            b = self.layout[info["bias"]]
            values["bias"] = ("root", b.root, b.offset)
            values["bs"] = b.strides[0] // item
        values["flops"] = 2 * n * o * ho * wo * ckk
        values["exact"] = not blas.private
        spec = Gemm(c.dtype.name, blas.ilp64, hint=_hint(self.g.node(nid)), conv=True, bias=info["bias"] is not None,
                    consts=_window_consts(values))
        return spec, values

    @staticmethod
    def batch_of_one(gemms: list, grp: Group) -> int:
        """Leading size-1 batch axes of a group's batched matmuls that chunks should step over (all
        but the last batch axis): ``(1, 8, 128, 64) @ (1, 8, 64, 128)`` splits its 8 heads."""
        if any("lda" not in values or not spec.n_batch for spec, values in gemms):
            return 0
        n_batch = min(spec.n_batch for spec, _ in gemms)
        lead = 0
        while lead < n_batch - 1 and grp.domain[lead] == 1:
            lead += 1
        return lead

    def gemm_spec(self, nid: int, grp: Group, fold: bool = False, skip: int = 0) -> tuple[Gemm, dict]:
        """The BLAS call of matmul ``nid`` and its frame values (pointers, dims, strides).

        With ``fold``, batch axes over which the right operand is broadcast (a ``Linear`` on
        ``(batch, tokens, features)``) become rows of one 2-d matmul when the left operand and the
        result step through them like rows (``values["folded"]``): one big ``gemm`` instead of one
        per batch index, split like any 2-d matmul (the ``transformer4``'s batch of one, too)."""
        from .analysis import blas_matrix
        from .blas import CBLAS_NO_TRANS

        if self.g.node(nid).op == "conv2d":
            return self.conv_spec(nid)
        if self.g.node(nid).op == "max_pool2d":
            return self.pool_spec(nid)
        blas = self.blas_for(nid)
        assert blas is not None
        fold = fold and blas.private
        a_ref, b_ref = self.g.inputs(nid)
        a, b, c = self.layout[a_ref], self.layout[b_ref], self.layout[(nid, 0)]
        ta, lda, a_rs = blas_matrix(a)  # type: ignore[misc]
        tb, ldb, _ = blas_matrix(b)  # type: ignore[misc]
        item = c.dtype.itemsize
        m, k, n = a.shape[-2], a.shape[-1], b.shape[-1]
        full = len(c.shape) - 2
        batch = c.shape[skip:-2]  # without ``skip`` leading axes of size 1
        kinds: dict[str, tuple[str, ...]] = {}
        values: dict[str, Any] = {"fn": (ABSOLUTE, blas.address(c.dtype.name)), "ta": ta, "tb": tb, "m": m, "n": n,
                                  "k": k, "lda": lda, "ldb": ldb, "ldc": n, "a_rs": a_rs,
                                  "b_cs": 1 if tb == CBLAS_NO_TRANS else ldb, "exact": not blas.private}
        for which, lay in (("a", a), ("b", b), ("c", c)):
            values[which] = ("root", lay.root, lay.offset)
            strides = []
            nb = len(lay.shape) - 2
            for d in range(len(batch)):
                i = d + skip - (full - nb)
                stride = lay.strides[i] // item if 0 <= i < nb and lay.shape[i] != 1 else 0
                strides.append(stride)
                values[("bs", which, d)] = stride
            kinds[which] = tuple("0" if st == 0 else "s" for st in strides)
        for d in range(1, len(batch)):
            values[("bn", d)] = batch[d]
        values["flops"] = 2 * m * n * k * math.prod(batch)
        if fold and batch and ta == CBLAS_NO_TRANS:
            rows_a, rows_c, foldable = m * a_rs, m * n, True
            for d in reversed(range(len(batch))):
                if batch[d] != 1 and (values[("bs", "b", d)] != 0 or values[("bs", "a", d)] != rows_a
                                      or values[("bs", "c", d)] != rows_c):
                    foldable = False
                rows_a, rows_c = rows_a * batch[d], rows_c * batch[d]
            if foldable:
                values.update(m=m * math.prod(batch), folded=True)
                return Gemm(c.dtype.name, blas.ilp64, hint=_hint(self.g.node(nid))), values
        spec = Gemm(c.dtype.name, blas.ilp64, len(batch), kinds["a"], kinds["b"], kinds["c"], _hint(self.g.node(nid)))
        return spec, values

    def gemm_word(self, desc: tuple, gemms: list, chunk: int, cols_offsets: dict) -> None:
        values = gemms[desc[1]][1]
        key = desc[2] if desc[0] == "gemm" else (("bs", desc[2], desc[3]) if desc[0] == "gemm_bs" else ("bn", desc[2]))
        value = values.get(key, 0)
        base, const = ABSOLUTE, value
        if desc[0] == "gemm" and desc[2] == "ct":  # a swapped matmul's block: this chunk's scratch
            base, const = ARENA, 0
            self.scratch_fixups.append((len(self.frame_const), chunk, cols_offsets[desc[1]]))
        elif isinstance(value, tuple) and value[0] == "cols":  # the im2col buffer: this chunk's scratch
            base, const = ARENA, 0
            self.scratch_fixups.append((len(self.frame_const), chunk, cols_offsets[desc[1]]))
        elif isinstance(value, tuple) and value[0] == "root":
            _, root, offset = value
            base, start = self.base_of(root)
            const = start + offset
            if base >= 3 and self.kind.get(root[0]) in ("host", "interp"):
                self.pending_publish.setdefault(root, []).append(len(self.frame_const))
        elif isinstance(value, tuple):
            base, const = value
        self.frame_const.append(int(const))
        self.frame_base.append(base)

    def frame_word(self, desc: tuple, lo: int, hi: int, dims: list, n_outer: int, count: int, mems: list,
                   scalars: list, scratch_offsets: list, chunk: int) -> None:
        kind = desc[0]
        base, const = ABSOLUTE, 0
        if kind == "lo":
            const = lo
        elif kind == "hi":
            const = hi
        elif kind == "outer":
            const = dims[desc[1]][0]
        elif kind == "inner":
            const = dims[n_outer + desc[1]][0]
        elif kind == "count":
            const = count
        elif kind == "ptr":
            root, offset = mems[desc[1]][0], mems[desc[1]][1]
            base, start = self.base_of(root)
            const = start + offset
            if base >= 3 and self.kind.get(root[0]) in ("host", "interp"):
                self.pending_publish.setdefault(root, []).append(len(self.frame_const))
        elif kind == "stride":
            const = dims[desc[2]][1][desc[1]]
        elif kind == "scalar":
            skind, value = scalars[desc[1]]
            if isinstance(value, tuple):
                self.scalar_patches.append((len(self.frame_const), value[1], skind))
            else:
                const = _float_bits(value) if skind == "float" else int(value)
        elif kind == "scratch":
            # scratch lives after the values, one region per chunk: sized once every kernel is known
            base = ARENA
            self.scratch_fixups.append((len(self.frame_const), chunk, scratch_offsets[desc[1]]))
        self.frame_const.append(const)
        self.frame_base.append(base)


#: A matmul with fewer rows than this whose right operand is stored transposed (a ``Linear``
#: weight, ``(out, in)``) of at least SWAP_BYTES runs as ``C.T = B.T @ A.T``; see :func:`_swap`.
SWAP_ROWS = 256
SWAP_BYTES = 1 << 14


def _swap(spec: Gemm, values: dict) -> bool:
    """Whether a column-split matmul computes its transposed block ``C.T = op(B).T @ op(A).T``
    (``kernels.SWAP_BLOCK`` columns at a time, into scratch, then copied into place).

    OpenBLAS's one-threaded SkylakeX sgemm, ``A @ W.T`` with ``W`` a ``(1024, 1024)`` weight:
    103 GFLOP/s with 64 rows as one call; 170 as the transposed product; with 512 rows both run
    at ~190 (``python -m benchmarks.blas_cores``).  With 16 rows and a ``(128, 128)`` weight (the
    ``rnn``): 9.9 us against 3.9.  Tiny weights (under SWAP_BYTES) gain nothing and would pay for
    the copy and its scratch."""
    from .blas import CBLAS_TRANS

    item = 4 if spec.dtype == "float32" else 8
    return values["tb"] == CBLAS_TRANS and values["m"] < SWAP_ROWS and values["n"] * values["k"] * item >= SWAP_BYTES


def _out_fn(op: str) -> Any:
    rule = LOWER.get(op) if op in LOWER else None
    if isinstance(rule, Host) and rule.out and op == "matmul":
        return np.matmul
    return None


def _hint(node: Node) -> str:
    if node.op in ("input", "param"):
        return node.kwarg("name").split(".")[-1]
    if node.hints:
        return node.hints[0]
    return node.op


def _kernel_name(g: Graph, members: list[int]) -> str:  # noqa: D103
    ops = list(dict.fromkeys(g.node(n).op for n in members))
    name = "_".join(ops[:4]) + ("_etc" if len(ops) > 4 else "")
    return f"k_{name}"


def plan_graph(graph: Graph, input_types: Sequence[Type], options: PlanOptions | None = None, *,
               scalar_inputs: frozenset[int] = frozenset()) -> Plan:
    """Plan ``graph`` for concrete ``input_types``.

    Parameters
    ----------
    graph : ir.Graph
    input_types : sequence of ir.Type
        One concrete type per graph input (``TensorType`` with known dtype and shape, or
        ``ScalarType``).
    options : PlanOptions, optional
    scalar_inputs : frozenset of int, optional
        Positions of 0-d inputs passed as NumPy scalars rather than 0-d arrays (``astype`` of a
        scalar is a scalar, of a 0-d array a 0-d array).

    Returns
    -------
    Plan

    Examples
    --------
    >>> import numpy as np, tracer
    >>> from ir import type_of
    >>> from tracer import functional as F
    >>> x = np.ones((4, 8), np.float32)
    >>> sf = tracer.trace(lambda x: F.softmax(x * 2.0, dim=-1) + 1.0, x)
    >>> print(plan_graph(sf.graph, [type_of(x)]).describe())
    kernel k_mul_max_sub_exp_etc
    """
    options = options or PlanOptions()
    typed = None
    if options.unroll and any(node.blocks for _, node in graph.nodes()):
        typed = infer_types(graph, list(input_types))
        unrolled = unroll_loops(typed, max_iterations=options.unroll)
        if unrolled is not typed:
            graph = typed = dce(cse(unrolled))
    if (options.merge or options.copy_transposes) and any(node.op in ("matmul", "dot") for _, node in graph.nodes()):
        typed = typed if typed is not None else infer_types(graph, list(input_types))
        merged = merge_sliced_matmuls(typed) if options.merge else typed
        merged = copy_shared_transposes(merged) if options.copy_transposes else merged
        graph = graph if merged is typed else merged
    build = _Build(graph, input_types, options)
    build.scalar_inputs = scalar_inputs
    return build.run()
