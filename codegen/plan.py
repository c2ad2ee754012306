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

This module runs the steps (``_Build.run``) and assembles the :class:`Plan`; the parts live in
``codegen.plan_types`` (the plan's data types, all re-exported here), ``codegen.memory`` (step 4's
buffers), ``codegen.frames`` (step 5: kernels, chunks and frame words) and ``codegen.matmuls``
(BLAS calls, convolutions and pooling inside kernels, and how they split over threads).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ir import Graph, Type
from ir.ops import get_op
from ir.passes import (
    copy_shared_transposes,
    cse,
    dce,
    infer_types,
    merge_sliced_matmuls,
    merge_split_products,
    unroll_loops,
)
from ir.passes.merge_split_products import has_split_products
from ir.toposort import lexicographical_topological_sort

from .analysis import Analysis, Layout, c_strides, tensor_of
from .frames import Frames
from .fusion import Group, fuse
from .kernels import KernelSource
from .matmuls import SWAP_BYTES, SWAP_ROWS, Matmuls
from .memory import Memory, _out_fn
from .plan_types import ABSOLUTE, ARENA, OUTBLOCK, HostStep, InterpStep, KernelStep, Plan, PlanOptions, hint_of
from .prepack import mark_prepacked, prepack_roots

__all__ = ["PlanOptions", "Plan", "KernelStep", "HostStep", "InterpStep", "plan_graph", "ABSOLUTE", "ARENA",
           "OUTBLOCK", "Layout", "SWAP_ROWS", "SWAP_BYTES"]


class _Build(Memory, Frames, Matmuls, Analysis):
    """One planning: the analysis (``codegen.analysis``), then fusion, order, memory
    (``codegen.memory``), kernels and frames (``codegen.frames``, ``codegen.matmuls``)."""

    def __init__(self, graph: Graph, input_types: Sequence[Type], options: PlanOptions) -> None:
        super().__init__(graph, input_types, fold_sizes=not options.force_kernels)
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
        self.prepacked = mark_prepacked(self) if self.options.prepack else set()
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
            for src, out in self.inputs(nid):
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
            for src, _ in self.inputs(nid):
                v = unit_of.get(src)
                if v is not None and v != u:
                    succ.setdefault(v, {})[u] = None
        return lexicographical_topological_sort(succ, key=first.__getitem__)

    # -- 5: steps, kernels, frames ----------------------------------------------------------------
    def build(self) -> Plan:
        self.frame_const: list[int] = []
        self.frame_base: list[int] = []
        self.scalar_patches: list[tuple[int, int, str]] = []
        self.kernel_sources: list[KernelSource] = []
        self.sources: dict[Any, KernelSource] = {}  # generated source per distinct spec (Frames.source_of)
        self.kernel_index: dict[str, int] = {}
        self.bases: dict[tuple[int, int], int] = {}  # dynamic root -> base index
        self.next_base = 3
        self.pending_publish: dict[tuple[int, int], list[int]] = {}  # host root -> frame words
        self.scratch_bytes = 0
        self.scratch_requests: list[tuple[int, int, int, list]] = []  # (unit, chunks, bytes per chunk, fixups)
        self.max_chunks = 1
        steps: list[Any] = []
        kernel_reads: set[tuple[int, int]] = set()
        need_obj = self.objects_needed()
        for i, u in enumerate(self.units):
            self.unit_index = i  # the step kernel_step plans (its scratch is placed by lifetimes)
            if u[0] == "group":
                steps.append(self.kernel_step(self.group_by_id[u[1]], kernel_reads))
            else:
                nid = u[1]
                step = self.node_step(nid, need_obj)
                if step is not None:
                    steps.append(step)
        arena_bytes = self.place_scratch()
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
        out_refs = self.inputs(out_node)
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
            arena_bytes=arena_bytes,
            scratch_offset=self.values_bytes, scratch_bytes=self.scratch_bytes,
            outblock_bytes=self.outblock_bytes, arena_objects=arena_objects, outblock_objects=outblock_objects,
            fallbacks=tuple(dict.fromkeys(self.fallbacks)), interpreted=tuple(dict.fromkeys(self.interpreted)),
            owned=self.owned,
            kernel_ops=frozenset(self.g.node(n).op for grp in self.groups for n in grp.members),
            slot_names={slot: hint_of(self.g.node(ref[0])) for ref, slot in self.slots.items()},
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
                need.update(self.inputs(nid))
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
        refs = self.inputs(nid)
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
        if nid in self.prepacked and out_kw is None and (nid, 0) not in self.escaping:
            step.prepacked = prepack_roots(self, nid)
        step.refs = [(nid, k) for k in range(n_out)]  # type: ignore[attr-defined]
        return step


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
    splits = options.merge_splits and has_split_products(graph)
    if splits or ((options.merge or options.copy_transposes) and _shared_right_operands(graph)):
        typed = typed if typed is not None else infer_types(graph, list(input_types))
        merged = merge_split_products(typed) if splits else typed
        merged = merge_sliced_matmuls(merged) if options.merge else merged
        merged = copy_shared_transposes(merged) if options.copy_transposes else merged
        graph = graph if merged is typed else merged
    build = _Build(graph, input_types, options)
    build.scalar_inputs = scalar_inputs
    return build.run()


def _shared_right_operands(graph: Graph) -> bool:
    """Whether two products (``matmul``/``dot``) read one right operand, or transposes of one
    array: only then can ``merge_sliced_matmuls`` or ``copy_shared_transposes`` change anything,
    and only then are their types inferred (a tenth of a model's planning)."""
    seen = set()
    for nid, node in graph.nodes():
        if node.op not in ("matmul", "dot"):
            continue
        ins = graph.inputs(nid)
        if len(ins) < 2:
            continue
        root = ins[1]
        producer = graph.node(root[0]) if root[0] in graph else None
        if producer is not None and producer.op == "transpose":
            up = graph.inputs(root[0])
            root = up[0] if up else root
        if root in seen:
            return True
        seen.add(root)
    return False
