"""A float32 matmul over a weight packed once: ``C[:, lo:hi] = A @ B[:, lo:hi]`` (AVX-512).

OpenBLAS packs both operands on every call.  When the right operand is a weight (a ``Linear``
layer's ``W.T``), its packing can be done once and kept (a prepacked value, ``codegen.prepack``),
as ONNX Runtime's MLAS does at load time.  For few rows (the zoo's ``mlp``: 64) repacking the
weight is a large share of OpenBLAS's call: it reads and writes all of the weight's bytes for
``2 * 64`` flops per element.

Layout (:func:`pack`, :func:`pack_linear`): ``B`` (``K x N``) as ``ceil(N / NR)`` panels of
:data:`NR` columns; panel ``p`` holds ``B[k, p*NR : p*NR + NR]`` for ``k = 0..K-1``, one row of
``NR`` floats after another (``K * NR`` floats; the last panel's missing columns are zeros).
Packing is a NumPy function of the weight alone, so a plan keeps its result across calls.

Compute (:data:`gemm_f32`): an outer-product micro-kernel of :data:`MR` rows by :data:`NR`
columns (``MR * NR / 16 = 16`` zmm accumulators), written as LLVM vector IR through a numba
intrinsic: per ``k``, the ``NR`` floats of the panel's row are loaded as vectors, each of the
``MR`` elements of ``A[i, k]`` broadcast, and ``MR * NR / 16`` fused multiply-adds accumulate; at
the end of a ``K`` block the accumulators are added to (first block: stored into) ``C`` with
masked stores, so any column range works, and the panel's padding columns are never written.
``A`` is read in place, row-major with any ``lda``; the ``K`` loop runs in blocks of :data:`KC`
so a panel's slice (``KC * NR * 4`` bytes = 64 KiB) stays in L1/L2 while every row block uses it.
Rows left over after the ``MR`` blocks go through micro-kernels of 4, 2 and 1 rows.  Summation
order: ``k`` ascending within a block, blocks added in order (any order is allowed by SPEC).

Measured one thread on the 2-core AMD EPYC Zen 5 (AVX-512; a noisy shared host), GFLOP/s, best
of many calls interleaved with OpenBLAS's (``python -m benchmarks.gemm_f32``; two runs, the
second on a busier machine), the packed weight made beforehand; OpenBLAS's best of its three forms
(``W`` transposed, a contiguous ``W.T``, the transposed product ``C.T = W @ A.T``):

=========================  ============  ==============
``A @ W.T``                ours          OpenBLAS best
=========================  ============  ==============
(64,784)@(784,1024)        202 / 183     186 / 158
(64,784)@(784,512) cols/2  233 / 203     196 / 189
(64,1024)@(1024,1024)      206 / 196     198 / 164
(64,1024)@(1024,512)       226 / 199     194 / 186
(512,256)@(256,768)        242 / 221     224 / 213
(512,1024)@(1024,256)      225 / 214     204 / 197
(128,512)@(512,2048)       220 / 207     188 / 174
(128,2048)@(2048,512)      218 / 208     192 / 182
=========================  ============  ==============

On ``(64,1024)@(1024,512)`` (one of the mlp's two column chunks), 3 s interleaved four times: 225,
251, 252, 229 against OpenBLAS's ``C.T`` 184, 199, 193, 185 (+22% to +30%).  Packing costs the
weight's bytes read and written once (NumPy, 0.5-3 ms for these weights): done on every call it
would lose (``+pack`` in the benchmark).  Micro-kernel shapes tried: 8x32 (16 accumulators), 6x64,
12x32, 8x48 (24) and 4x32 all ran within the noise of each other except 4x32 (10-20% slower); K
blocks of 256, 512 and 1024 likewise.  Compiling the driver and its four micro-kernels takes ~0.45 s
(numba, once per process).
The vectors are 16 lanes wide: on a CPU without AVX-512 LLVM would split them into pairs of AVX2
registers and spill; :func:`available` says whether this CPU has AVX-512F (callers keep calling
BLAS elsewhere).  Kernels do not call it: see ``codegen.mathlib_gemm`` for the form they use, which needs no
packed copy of the weight.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir as llir
from numba import njit, types
from numba.core import cgutils
from numba.core.extending import intrinsic

from .mathlib_gemm import _accumulate, _broadcast_fmas, _splat, available

__all__ = ["MR", "NR", "KC", "LANES", "available", "pack", "pack_linear", "packed_size", "gemm_f32", "make_driver"]

LANES = 16  # float32 lanes of a zmm register
MR = 8  # rows of the micro-kernel
NR = 32  # columns of a packed panel (two zmm)
KC = 512  # rows of B per block of the k loop


# -- packing (NumPy) --------------------------------------------------------------------------------


def packed_size(k: int, n: int) -> int:
    """Floats of a packed ``K x N`` operand."""
    return -(-n // NR) * NR * k


def pack_linear(w: np.ndarray) -> np.ndarray:
    """``pack(w.T)`` for a ``Linear`` weight ``w`` of shape ``(N, K)``, without the transposed copy."""
    n, k = w.shape
    full, rest = divmod(n, NR)
    out = np.zeros((full + (rest > 0), k, NR), np.float32)
    out[:full] = w[:full * NR].reshape(full, NR, k).transpose(0, 2, 1)
    if rest:
        out[full, :, :rest] = w[full * NR:].T
    return out.reshape(-1)


def pack(b: np.ndarray) -> np.ndarray:
    """``b`` (``K x N``, any strides) as a flat float32 array of ``NR``-column panels (module
    docstring)."""
    return pack_linear(b.T)


# -- the micro-kernel (LLVM vector IR) --------------------------------------------------------------


def _micro_kernel(mr: int, nv: int, lanes: int = LANES):
    """``kernel(a, lda, b, c, ldc, kc, first, last, accumulate)``: for ``i < mr`` and panel
    columns ``first <= j < last``: ``C[i, j] (+)= sum_k A[i, k] * P[k, j]``, ``k < kc``.

    ``a``, ``b``, ``c`` are addresses (of ``A[0, 0]``, the panel's row 0, ``C``'s column of the
    panel's column 0); ``lda``/``ldc`` in elements; the panel is ``nv * lanes`` floats a row.
    ``accumulate`` nonzero adds to ``C``, zero stores (columns outside ``first:last`` are
    untouched either way: masked loads and stores).
    """
    nr = nv * lanes

    @intrinsic
    def kernel(typingctx, a, lda, b, c, ldc, kc, first, last, accumulate):
        sig = types.void(*([types.int64] * 9))

        def codegen(context, builder, signature, args):
            a, lda, b, c, ldc, kc, first, last, acc_flag = args
            f32, i32, i64 = llir.FloatType(), llir.IntType(32), llir.IntType(64)
            vec, mask_t = llir.VectorType(f32, lanes), llir.VectorType(llir.IntType(1), lanes)
            fptr, vptr = f32.as_pointer(), vec.as_pointer()
            module = builder.module
            fma = cgutils.get_or_insert_function(module, llir.FunctionType(vec, [vec, vec, vec]),
                                                 f"llvm.fmuladd.v{lanes}f32")
            mload = cgutils.get_or_insert_function(module, llir.FunctionType(vec, [vptr, i32, mask_t, vec]),
                                                   f"llvm.masked.load.v{lanes}f32.p0")
            store_t = llir.FunctionType(llir.VoidType(), [vec, vptr, i32, mask_t])
            mstore = cgutils.get_or_insert_function(module, store_t,
                                                    f"llvm.masked.store.v{lanes}f32.p0")

            def const(v):
                return llir.Constant(i64, v)

            def row(base, ld, i):
                return builder.inttoptr(builder.add(base, builder.mul(ld, const(4 * i))), fptr)

            rows = [row(a, lda, i) for i in range(mr)]
            bp = builder.inttoptr(b, fptr)
            zero = llir.Constant(vec, None)

            def step(k, accs):  # the panel's row k times each row's A[i, k]
                base = builder.mul(k, const(nr))
                bv = [builder.load(builder.bitcast(builder.gep(bp, [builder.add(base, const(j * lanes))]), vptr),
                                   align=4) for j in range(nv)]
                return _broadcast_fmas(builder, fma, rows, k, bv, accs)

            totals = _accumulate(builder, kc, mr, nv, step)
            lane_t = llir.VectorType(i64, lanes)
            lo, hi = _splat(builder, first, lanes), _splat(builder, last, lanes)
            masks = []
            for j in range(nv):
                col = llir.Constant(lane_t, [j * lanes + t for t in range(lanes)])
                masks.append(builder.and_(builder.icmp_signed(">=", col, lo), builder.icmp_signed("<", col, hi)))
            is_acc = builder.icmp_signed("!=", acc_flag, const(0))
            align = llir.Constant(i32, 4)
            for i in range(mr):
                cp = row(c, ldc, i)
                for j in range(nv):
                    ptr = builder.bitcast(builder.gep(cp, [const(j * lanes)]), vptr)
                    old = builder.call(mload, [ptr, align, masks[j], zero])
                    value = builder.select(is_acc, builder.fadd(old, totals[i][j]), totals[i][j])
                    builder.call(mstore, [value, ptr, align, masks[j]])
            return context.get_dummy_value()

        return sig, codegen

    return kernel


def make_driver(mr: int = MR, kc_block: int = KC):
    """The driver :data:`gemm_f32` with another micro-kernel height ``mr`` (a multiple of 4) or
    ``K`` block (for ``python -m benchmarks.gemm_f32 --sweep``)."""
    top, k4, k2, k1 = (_micro_kernel(r, NR // LANES) for r in (mr, 4, 2, 1))

    @njit
    def gemm(a, lda, packed, kdim, c, ldc, m, lo, hi):
        """``C[:m, lo:hi] = A[:m, :kdim] @ B[:, lo:hi]`` with ``B`` packed by :func:`pack`.

        Addresses (integers) of ``A[0, 0]``, of the packed ``B`` (all of its columns) and of
        ``C[0, 0]``; ``lda``/``ldc`` in elements.  Any ``0 <= lo <= hi <= N``; ``kdim == 0``
        stores zeros.  Never raises (a kernel helper).
        """
        if m <= 0 or hi <= lo:
            return
        for p in range(lo // NR, (hi + NR - 1) // NR):
            col = p * NR
            first = max(lo - col, 0)
            last = min(hi - col, NR)
            cc = c + col * 4
            for k0 in range(0, max(kdim, 1), kc_block):
                kc = min(kc_block, kdim - k0)
                acc = 1 if k0 > 0 else 0
                bb = packed + (p * kdim + k0) * NR * 4
                i0 = 0
                while i0 + mr <= m:
                    top(a + (i0 * lda + k0) * 4, lda, bb, cc + i0 * ldc * 4, ldc, kc, first, last, acc)
                    i0 += mr
                while m - i0 >= 4:
                    k4(a + (i0 * lda + k0) * 4, lda, bb, cc + i0 * ldc * 4, ldc, kc, first, last, acc)
                    i0 += 4
                if m - i0 >= 2:
                    k2(a + (i0 * lda + k0) * 4, lda, bb, cc + i0 * ldc * 4, ldc, kc, first, last, acc)
                    i0 += 2
                if m - i0 >= 1:
                    k1(a + (i0 * lda + k0) * 4, lda, bb, cc + i0 * ldc * 4, ldc, kc, first, last, acc)

    return gemm


#: ``gemm_f32(a, lda, packed, kdim, c, ldc, m, lo, hi)``: ``C[:m, lo:hi] = A @ B[:, lo:hi]``
gemm_f32 = make_driver()

