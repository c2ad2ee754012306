"""Matmuls, convolutions and max pooling inside kernels: the BLAS each calls, its frame values,
and how its chunks split (rows, images, batch indices or columns; transposed column blocks).

Split out of ``codegen.plan``; :class:`Matmuls` is a part of its ``_Build``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ir import ScalarType, TensorType

from .analysis import tensor_of
from .fusion import Group
from .kernel_convs import IM2COL_SLACK
from .kernels import Gemm
from .loops import window_consts as _window_consts
from .mathlib_gemm_nn import conv_nn, conv_taps, taps_copy, taps_width
from .mathlib_gemm_nn import scratch_floats as nn_scratch_floats
from .plan_types import ABSOLUTE, align_up, hint_of

__all__ = ["Matmuls", "SWAP_ROWS", "SWAP_BYTES"]


class Matmuls:
    """The BLAS calls of a kernel (``gemm_spec``) and whether its chunks may split them."""

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

    def own_gemm(self, spec: Gemm, values: dict, many: bool = False) -> bool:
        """Whether matmul ``spec`` by a ``Linear`` weight runs on ``codegen.mathlib_gemm``
        (``PlanOptions.own_gemm``; ``codegen.mathlib_gemm.use_own`` says which qualify): a swapped
        one (few rows), or with ``many`` one of many rows (its chunks row or column blocks)."""
        from .mathlib_gemm import use_own

        return self.options.own_gemm and use_own(spec, values, many)

    def nn_gemm(self, spec: Gemm, values: dict) -> bool:
        """Whether matmul ``spec`` by a weight stored input-major (``W`` not transposed; its chunks
        row or column blocks) runs on ``codegen.mathlib_gemm_nn`` (``PlanOptions.own_gemm``;
        ``codegen.mathlib_gemm_nn.use_nn`` says which qualify)."""
        from .mathlib_gemm_nn import use_nn

        return self.options.own_gemm and use_nn(spec, values)

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
        spec = Gemm(c.dtype.name, False, hint=hint_of(self.g.node(nid)), pool=True, consts=_window_consts(values))
        return spec, values

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
            "cols": ("cols", align_up(ckk * (ho * wo + IM2COL_SLACK) * item)), "img": img, "ldc": ldc,
        }
        for key, stride in zip(("xs_n", "xs_c", "xs_h", "xs_w"), x.strides):
            values[key] = stride // item
        taps, copy = "", False
        if self.options.own_gemm and conv_nn(c.dtype.name, o, not blas.private):
            taps = conv_taps(values, geo["pads"])
            copy = bool(taps) and taps_copy(values, geo["pads"])
            row = values["xs_h"]
            if taps:  # the input read by taps: their offsets (int64), then any copy and wide result
                values["cols"] = ("cols", align_up(ckk * 8))
            if copy:  # each image copied into a zero-bordered buffer, rows `wp` floats
                (_, pb), (_, pr) = geo["pads"]
                values["hp"], values["wp"] = x.shape[2] + pt + pb, x.shape[3] + pl + pr
                row = values["wp"]
                values["pad_off"] = values["cols"][1]
                values["cols"] = ("cols", values["pad_off"] + align_up(x.shape[1] * values["hp"] * row * item))
            if taps == "wide":
                values["pitch"] = align_up(taps_width(ho, wo, row) * item) // item
                values["wide_off"] = values["cols"][1]
                values["cols"] = ("cols", values["wide_off"] + align_up(o * values["pitch"] * item))
            # each image's product on gemm_nn_f32; its packed strip after the columns (or wide result)
            values["nn_off"] = values["cols"][1]
            values["cols"] = ("cols", values["cols"][1] + align_up(nn_scratch_floats(o, ckk) * item))
        if info["bias"] is not None:
            b = self.layout[info["bias"]]
            values["bias"] = ("root", b.root, b.offset)
            values["bs"] = b.strides[0] // item
        values["flops"] = 2 * n * o * ho * wo * ckk
        values["exact"] = not blas.private
        spec = Gemm(c.dtype.name, blas.ilp64, hint=hint_of(self.g.node(nid)), conv=True, bias=info["bias"] is not None,
                    taps=taps, copy=copy, consts=_window_consts(values))
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
        a_ref, b_ref = self.inputs(nid)
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
                return Gemm(c.dtype.name, blas.ilp64, hint=hint_of(self.g.node(nid))), values
        spec = Gemm(c.dtype.name, blas.ilp64, len(batch), kinds["a"], kinds["b"], kinds["c"], hint_of(self.g.node(nid)))
        return spec, values


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

