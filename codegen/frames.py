"""Step 5 of planning: a group becomes a kernel (its :class:`~codegen.kernels.KernelSpec` and
generated source), its chunks, and their frames (per word, a constant and a base).

Split out of ``codegen.plan``; :class:`Frames` is a part of its ``_Build``.
"""

from __future__ import annotations

import math
import struct
from dataclasses import replace
from typing import Any

import numpy as np

from ir import Graph
from ir.node import Use

from .analysis import Layout, c_strides, dtype_name, tensor_of
from .fusion import Group
from .kernels import SWAP_BLOCK, KernelSource, KernelSpec, KNode, Mem, generate
from .loops import on_domain as _on_domain
from .loops import simplify as _simplify
from .mathlib_gemm import scratch_floats
from .mathlib_gemm_nn import scratch_floats as nn_scratch_floats
from .matmuls import _swap
from .plan_types import ABSOLUTE, ARENA, OUTBLOCK, KernelStep, align_up, hint_of

__all__ = ["Frames"]


def _float_bits(value: float) -> int:
    return struct.unpack("<q", struct.pack("<d", float(value)))[0]


class Frames:
    """Kernels, chunks and frame words; ``base_of`` says where a value's memory starts."""

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
        self.step_reads: set[tuple[int, int]] = set()  # arrays NumPy calls made that this kernel reads
        self.scratch_fixups: list[tuple[int, int, int]] = []  # (frame word, chunk, offset in its scratch)
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
            key = (lay.root, lay.offset, strides, dtype_name(lay.dtype))
            if key not in mem_index:
                mem_index[key] = len(mems)
                mems.append(key)
                hints.append(hint_of(self.g.node(ref[0])))
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
            refs = self.inputs(nid)

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
                                    info["ddof"], hint_of(node)))
            else:
                args = tuple(conv(a) for a in node.args)
                kwargs = tuple((k, conv(v)) for k, v in node.kwargs)
                knodes.append(KNode(node.op, role, args, kwargs, info["out"], info["loop"], info["kinds"], stores,
                                    0, hint_of(node)))
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
        swaps = [split_cols and _swap(*g) for g in gemms]
        spec = KernelSpec(n_outer, n_inner, tuple(mem_specs), tuple(k for k, _ in scalars), tuple(knodes), name,
                          tuple(replace(g[0], cols=split_cols, swap=sw,
                                        own=self.own_gemm(*g, many=not sw),
                                        nn=not sw and self.nn_gemm(*g))
                                for g, sw in zip(gemms, swaps)))
        source = self.source_of(spec)
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
            total += align_up(max(count, 1) * np.dtype(dtype).itemsize)
        cols_offsets = {}
        swapped = 0  # the gemms run one after the other: their transposed blocks share one region
        for g, (gspec, values) in enumerate(gemms):
            if "cols" in values:
                cols_offsets[g] = total
                total += values["cols"][1]
            elif spec.gemms[g].own:  # the activations' packed panels (codegen.mathlib_gemm)
                swapped = max(swapped, align_up(scratch_floats(values["m"], values["k"]) * 4))
            elif spec.gemms[g].nn:  # the weight strip's packed copy (codegen.mathlib_gemm_nn)
                swapped = max(swapped, align_up(nn_scratch_floats(values["m"], values["k"]) * 4))
            elif spec.gemms[g].swap:
                width = min(-(-extent0 // chunks), SWAP_BLOCK)
                swapped = max(swapped, align_up(width * values["m"] * np.dtype(gspec.dtype).itemsize))
        for g, (_, values) in enumerate(gemms):
            if (spec.gemms[g].swap or spec.gemms[g].nn or spec.gemms[g].own) and "cols" not in values:
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
        if self.scratch_fixups:  # placed in the arena once every value's offset and lifetime is known
            self.scratch_requests.append((self.unit_index, chunks, total + swapped, self.scratch_fixups))
        reads = tuple(sorted({self.slot(root) for root in self.step_reads}))
        return KernelStep(kid, frames, source.name, work, blas=bool(gemms), reads=reads)

    def source_of(self, spec: KernelSpec) -> KernelSource:
        """``kernels.generate(spec)``, once per distinct spec in this plan (the layers of a model,
        the steps of an unrolled loop).  The key is the spec and its ``repr``: specs compare equal
        when their literals do (``2 == 2.0 == True``), their reprs tell the types apart."""
        try:
            key: Any = (spec, repr(spec))
            hit = self.sources.get(key)
        except TypeError:  # an unhashable literal: generate it every time
            return generate(spec)
        if hit is None:
            hit = self.sources[key] = generate(spec)
        return hit

    def work(self, grp: Group, members: list[int], gemms: list) -> int:
        """Estimated nanoseconds of a kernel on one core (measured on the 2-core AMD EPYC: about
        1 ns per element and pass, 0.1 ns per simple op, 4 ns for our float32 tanh/exp/erf, and
        100 GFLOP/s in single-threaded sgemm)."""
        fast = sum(self.candidates[n].fast for n in members)
        work = int(math.prod(grp.domain) * (1.0 + 0.1 * len(members) + 4 * fast))
        return work + sum(g[1]["flops"] for g in gemms) // 100

    def parallel_work(self) -> int:
        if self.options.parallel_work is not None:
            return self.options.parallel_work
        from .pool import native_pool_available

        return 20_000 if native_pool_available() else 400_000

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
                self.step_reads.add(root)
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
                self.step_reads.add(root)
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



def _kernel_name(g: Graph, members: list[int]) -> str:  # noqa: D103
    ops = list(dict.fromkeys(g.node(n).op for n in members))
    name = "_".join(ops[:4]) + ("_etc" if len(ops) > 4 else "")
    return f"k_{name}"

