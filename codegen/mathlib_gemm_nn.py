"""A float32 ``A @ W`` that reads the weight ``W`` in place where it is stored input-major (``(K, N)``,
the ``x @ w + b`` of NumPy ports of GPT-2), by our own AVX-512 micro-kernel written in LLVM IR.

Kernels call ``gemm_nn_f32`` for a column block ``lo:hi`` of ``C = A @ W`` where they would call
OpenBLAS's ``sgemm`` for that block (a column-split matmul, ``codegen.matmuls``).  Nothing is packed:

1. For every :data:`NR` = 32 result columns ``j0`` (a strip of ``W``: ``K`` rows of 128 bytes,
   :data:`LDW_STEP` apart), and for every :data:`MR` = 8 rows of ``A``, a micro-kernel: per ``k``,
   the strip's two zmm vectors ``W[k, j0:j0 + 32]`` (masked at the block's last columns) and each
   of the 8 values ``A[i, k]`` broadcast from its row in place, 16 fused multiply-adds into 16
   accumulators, over the whole ``K``.
2. The accumulators are ``C[i, j0:j0 + 32]`` already: stored as rows (masked; nothing past ``m``
   rows or ``hi`` is written, no weight column past ``hi`` is read).

The strip's rows are a whole weight row apart (1-4 KiB in the ``gpt``), a new page each, which the
hardware prefetchers do not follow, and with a 4 KiB stride they all fall in the same L1 sets
(reading the strip in place for every row block ran at 157 GFLOP/s instead of 227 with 1024
columns).  So the first row block reads the strip in place, prefetching it :data:`AHEAD` rows
ahead, and stores each vector it reads into the chunk's scratch (``K`` x 128 bytes); the other
row blocks read that copy, contiguous (L1 for ``K`` = 256, L2 for 1024).  Nothing outlives the
call: a weight changed in place is read as it is now.

One thread on the 2-core AMD EPYC Zen 5 (``python -m benchmarks.gemm_nn``; best of interleaved
calls, noisy host), GFLOP/s, ours / OpenBLAS ``sgemm`` (``CblasNoTrans``): the ``gpt``'s column
chunks 212-222 / 173-185 (64 rows; ``K`` 256 or 1024), its whole ``qkv`` 215 / 187, 32 rows 202 /
146, 9 rows 103 / 60, 512 rows 196 / 175, one head's ``(64, 64) @ (64, 64)`` 139 / 132.  Two
cores' FMA units peak near 2 x 235 here, so the tile runs at ~90% of it.  Other tiles
(``--sweep``: 4x64, 6x64, 12x32, 8x48) were no faster.

``gemm_taps_f32`` (``helper_ir(taps=True)``) is the same product with ``W``'s row ``k`` at an int64
table's offset: a convolution's input read by taps instead of im2col columns (:func:`conv_taps`,
``codegen.kernel_convs``).

``codegen.mathlib_native`` registers both beside ``gemm_wt_f32``; the planner reads :func:`use_nn`
and :func:`conv_taps`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .mathlib_gemm import (
    LANES,
    _accumulate,
    _broadcast_fmas,
    _const,
    _ir,
    _Loop,
    _min,
    _module_text,
    _ptr,
    _splat,
    available,
)

if TYPE_CHECKING:
    from llvmlite import ir as llir

__all__ = ["MR", "NR", "AHEAD", "PACK_K", "SYMBOL", "TAPS_SYMBOL", "IM2COL_COST", "use_nn", "conv_nn", "conv_taps",
           "taps_copy", "taps_width", "packs", "scratch_floats", "helper_ir"]

MR = 8  # rows of A per micro-kernel (broadcast): result rows of its tile
NR = 32  # columns of W per micro-kernel (two zmm): result columns of its tile
AHEAD = 32  # rows of the strip prefetched ahead of the one multiplied
#: The helper's symbol in kernel objects.
SYMBOL = "codegen.mathlib_gemm_nn.gemm_nn_f32"
#: The symbol of its form that reads a convolution's input in place (``helper_ir(taps=True)``).
TAPS_SYMBOL = "codegen.mathlib_gemm_nn.gemm_taps_f32"
#: im2col's time per image against its product's, times the output channels (:func:`conv_taps`):
#: copying an element took ~0.12 ns (the ``cnn``'s second convolution: 23 us for 8 images of 144
#: x 169), against ``O`` multiply-adds at ~250 GFLOP/s, 0.008 ns each; so about ``15 / O``.
IM2COL_COST = 15


#: Rows of ``W`` from which a strip is packed (a strip of fewer, 16 KiB at most, stays in L1 as it
#: is read in place for every row block: the ``rnn``'s ``(128, 128)`` steps, a ``cnn``'s columns).
PACK_K = 256


def packs(m: int, k: int) -> bool:
    """Whether ``gemm_nn_f32`` packs its strips for ``m`` rows of ``A`` and ``k`` of ``W``: more
    than one row block reads each strip, and the strip is :data:`PACK_K` rows or more."""
    return m > MR and k >= PACK_K


def scratch_floats(m: int, k: int) -> int:
    """Floats of scratch a chunk needs for ``m`` rows of ``A`` and ``k`` rows of ``W``: one packed
    strip of :data:`NR` columns at a time, or nothing where strips are read in place (:func:`packs`)."""
    return NR * k if packs(m, k) else 0


def conv_nn(dtype: str, out_channels: int, exact: bool) -> bool:
    """Whether a convolution's per-image product ``W (O, C*KH*KW) @ cols (C*KH*KW, H*W)`` runs on
    ``gemm_nn_f32``: float32, at least :data:`MR` output channels, not one that must make NumPy's
    own calls (``exact``), on a CPU with AVX-512F."""
    return dtype == "float32" and out_channels >= MR and not exact and available()


def taps_width(ho: int, wo: int, row: int) -> int:
    """Columns of a convolution's wide result (:func:`conv_taps`): output ``(oh, ow)`` is column
    ``oh * row + ow``, ``row`` the input's row stride in elements."""
    return (ho - 1) * row + wo


def taps_copy(values: dict, pads: Any) -> bool:
    """Whether a convolution that reads its input by taps (:func:`conv_taps`) first copies each image
    into a zero-bordered buffer: where it is padded, or its rows are not contiguous runs with
    nonnegative strides.  The copy is ``C * H * W`` elements an image, im2col's ``C * KH * KW * HO
    * WO``."""
    return any(p for pair in pads for p in pair) or values["xs_w"] != 1 \
        or min(values["xs_n"], values["xs_c"], values["xs_h"]) < 0


def conv_taps(values: dict, pads: Any) -> str:
    """How a convolution whose per-image product runs on ``gemm_nn_f32`` (:func:`conv_nn`) reads
    its input in place instead of im2col columns (``gemm_taps_f32``): ``"rows"``, ``"wide"``, or
    ``""`` (im2col).

    With unit strides, the im2col row of tap ``(c, i, j)`` is the input's run from ``c * xs_c + i *
    dil_h * xs_h + j * dil_w`` (of the zero-bordered copy of the image where :func:`taps_copy`,
    whose rows are ``W + left + right`` long), read as a wide row: output ``(oh, ow)`` is its
    column ``oh * xs_h + ow`` (the columns between two output rows are not outputs; reading them
    stays inside the image: the last one read is its last element).  ``"rows"``: one product
    per output row, stored in place; ``"wide"``: one product over the whole wide row into
    scratch, whose outputs are then copied into place.  The one that computes fewer strips of
    :data:`NR` columns, ``"rows"`` on a tie (the ``cnn``'s first convolution: 30 rows of 30 outputs,
    30 strips either way; its second: 13 rows of 13, 13 strips against 7: ``"wide"``), where
    those strips take less time than im2col's (29 and 6 there) and its copies, about
    :data:`IM2COL_COST` ``/ O`` of them.  Against im2col (``python -m benchmarks.conv_taps``: conv
    + ReLU, median ms of interleaved calls): ``(8, 3, 32, 32)`` by 16 3x3 filters 0.029 against
    0.044, ``(8, 16, 15, 15)`` by 32 0.040 against 0.045, ``(1, 64, 56, 56)`` by 64 1.01 against
    1.15, ``(1, 32, 112, 112)`` by 32 2.02 against 2.91, ``(4, 16, 64, 64)`` by 32 5x5 1.55
    against 1.72.  ``(2, 128, 14, 14)`` by 128, the wide row's 6 strips against 5, ran 0.47
    against 0.43 ms: it keeps im2col.

    The im2col copies were a third of the ``cnn``'s convolutions (``k_conv2d_maximum_mean``: 23
    of 87 us for 8 images on one thread, 1872 row copies of 13 floats per image)."""
    if values["sh"] != 1 or values["sw"] != 1:
        return ""
    ho, wo = values["ho"], values["wo"]
    if ho * wo == 0:
        return ""
    row = values["w"] + pads[1][0] + pads[1][1] if taps_copy(values, pads) else values["xs_h"]
    rows, wide = ho * -(-wo // NR), -(-taps_width(ho, wo, row) // NR)
    if min(rows, wide) > (1 + IM2COL_COST / max(values["o"], 1)) * -(-ho * wo // NR):
        return ""
    return "rows" if rows <= wide else "wide"


def use_nn(spec: Any, values: dict) -> bool:
    """Whether matmul ``spec`` (``C = A @ B``, ``B`` row-major and not transposed; its chunks split
    rows or columns) runs on ``gemm_nn_f32``: float32, ``A`` row-major, not batched, at least
    :data:`MR` rows, on a CPU with AVX-512F; not one that must make NumPy's own BLAS calls
    (``exact``: its result reaches a float64 value, ``codegen.matmuls``).  A convolution's
    per-image product: :func:`conv_nn` decided it when its frame values were made."""
    from .blas import CBLAS_NO_TRANS

    if spec.conv:  # its frame values say (``conv_nn``, when the plan was made)
        return "nn_off" in values
    return (spec.dtype == "float32" and not spec.n_batch and not spec.pool
            and not values.get("exact") and values.get("ta") == CBLAS_NO_TRANS
            and values.get("tb") == CBLAS_NO_TRANS and values["m"] >= MR and available())


def _declare(module: llir.Module, name: str, fnty: Any) -> llir.Function:
    """Function ``name`` of ``module`` (an intrinsic), declared on first use."""
    llir = _ir()[0]
    found = module.globals.get(name)
    return found if found is not None else llir.Function(module, fnty, name)


def _micro(module: llir.Module, mr: int, nv: int, copies: bool, ahead: int = AHEAD,
           taps: bool = False) -> llir.Function:
    """``micro(a, lda, na, w, ldw, skip, nw, c, ldc, kdim, dst)``: ``C[i, j] = sum_k A[i, k] * W[k, j]``
    for ``i < na <= mr`` and ``skip <= j < nw <= nv * LANES``; ``a``, ``w``, ``c``: addresses of the
    tile's ``A[0, 0]``, ``W[0, 0]``, ``C[0, 0]``.  Rows of ``A`` past ``na`` are never read (their
    pointers are row 0's) and nothing outside those rows and columns is read from ``W`` or
    written to ``C`` (masked loads and stores: ``w`` and ``c`` may point before the arrays).  With ``copies``, it
    also stores the strip's vectors it reads at ``dst`` (``k * nv * LANES`` floats on; the lanes
    past ``nw`` are left as they were) for the next row blocks to read contiguously.  With ``taps``,
    ``W``'s row ``k`` starts ``ldw[k]`` floats after ``w`` (``ldw``: the address of an int64 table)
    instead of ``k * ldw``, and nothing is prefetched."""
    llir, f32, i32, i64, vec = _ir()
    fn = llir.Function(module, llir.FunctionType(llir.VoidType(), [i64] * 11),
                       f"micro_{mr}x{nv}{'_pack' if copies else ''}{'_taps' if taps else ''}")
    fn.linkage = "internal"
    fn.attributes.add("alwaysinline")  # the helper's object defines its one symbol only (codegen.prebuilt)
    a, lda, na, w, ldw, skip, nw, c, ldc, kdim, dst = fn.args
    b = llir.IRBuilder(fn.append_basic_block("entry"))
    mask_t = llir.VectorType(llir.IntType(1), LANES)
    fma = _declare(module, f"llvm.fmuladd.v{LANES}f32", llir.FunctionType(vec, [vec] * 3))
    mload = _declare(module, f"llvm.masked.load.v{LANES}f32.p0",
                     llir.FunctionType(vec, [vec.as_pointer(), i32, mask_t, vec]))
    mstore = _declare(module, f"llvm.masked.store.v{LANES}f32.p0",
                      llir.FunctionType(llir.VoidType(), [vec, vec.as_pointer(), i32, mask_t]))
    i8p = llir.IntType(8).as_pointer()
    prefetch = _declare(module, "llvm.prefetch.p0", llir.FunctionType(llir.VoidType(), [i8p, i32, i32, i32]))
    lane = llir.Constant(llir.VectorType(i64, LANES), list(range(LANES)))
    masks = []
    for j in range(nv):
        col = b.add(lane, _splat(b, _const(j * LANES), LANES))
        masks.append(b.and_(b.icmp_signed(">=", col, _splat(b, skip, LANES)),
                            b.icmp_signed("<", col, _splat(b, nw, LANES))))
    rows = []
    for i in range(mr):
        at = b.add(a, b.mul(lda, _const(4 * i)))
        rows.append(b.inttoptr(b.select(b.icmp_signed("<", _const(i), na), at, a), f32.as_pointer()))
    zero = llir.Constant(vec, None)
    stride = b.mul(ldw, _const(4))

    def step(k: Any, accs: list) -> list:  # the strip's row k times each row's A[i, k]
        if taps:
            start = b.load(b.gep(b.inttoptr(ldw, i64.as_pointer()), [k]), align=8)
            row = b.add(w, b.mul(start, _const(4)))
        else:
            row = b.add(w, b.mul(k, stride))
        if copies and not taps:
            later = b.add(row, b.mul(stride, _const(ahead)))
            for j in range(0, nv * LANES * 4, 64):  # one cache line at a time (prefetches never fault)
                b.call(prefetch, [b.inttoptr(b.add(later, _const(j)), i8p), llir.Constant(i32, 0),
                                  llir.Constant(i32, 3), llir.Constant(i32, 1)])
        wv = [b.call(mload, [b.inttoptr(b.add(row, _const(j * LANES * 4)), vec.as_pointer()),
                             llir.Constant(i32, 4), masks[j], zero]) for j in range(nv)]
        if copies:
            to = b.add(dst, b.mul(k, _const(nv * LANES * 4)))
            for j in range(nv):
                b.call(mstore, [wv[j], b.inttoptr(b.add(to, _const(j * LANES * 4)), vec.as_pointer()),
                                llir.Constant(i32, 4), masks[j]])
        return _broadcast_fmas(b, fma, rows, k, wv, accs)

    totals = _accumulate(b, kdim, mr, nv, step)
    none = llir.Constant(mask_t, [0] * LANES)
    for i in range(mr):
        live = b.icmp_signed("<", _const(i), na)
        for j in range(nv):
            total = totals[i][j]
            ptr = _ptr(b, c, b.add(b.mul(ldc, _const(i)), _const(j * LANES)), vec)
            b.call(mstore, [total, ptr, llir.Constant(i32, 4), b.select(live, masks[j], none)])
    b.ret_void()
    return fn


def helper_ir(mr: int = MR, nv: int = NR // LANES, symbol: str = SYMBOL, ahead: int = AHEAD,
              taps: bool = False) -> str:
    """The LLVM IR text defining ``gemm_nn_f32(a, lda, w, ldw, c, ldc, m, kdim, lo, hi, scratch)``:
    ``C[:m, lo:hi] = A[:m, :kdim] @ W[:kdim, lo:hi]`` (integer addresses of ``A[0, 0]``, ``W[0, 0]``,
    ``C[0, 0]`` and of ``scratch``, room for ``kdim * nv * LANES`` floats where :func:`packs`
    (:func:`scratch_floats` for the default tile); leading dimensions in elements, rows
    contiguous).  ``mr`` and ``nv`` (the tile: rows,
    vectors of columns) are parameters for ``python -m benchmarks.gemm_f32 --nn --sweep``.

    With ``taps`` (:data:`TAPS_SYMBOL`), ``ldw`` is the address of an int64 table: ``W``'s row ``k``
    starts ``ldw[k]`` floats after ``w`` (a convolution's input read in place, :func:`conv_taps`),
    and strips start at ``lo``."""
    llir, _f32, _i32, i64, _vec = _ir()
    module = llir.Module()
    first, rest = _micro(module, mr, nv, True, ahead, taps), _micro(module, mr, nv, False)
    direct = _micro(module, mr, nv, False, taps=True) if taps else rest  # strips read in place
    direct1 = _micro(module, mr, 1, False, taps=taps) if nv > 1 else direct
    nr = nv * LANES
    fn = llir.Function(module, llir.FunctionType(llir.VoidType(), [i64] * 11), symbol)
    fn.linkage = "weak_odr"
    fn.attributes.add("optsize")
    a, lda, w, ldw, c, ldc, m, kdim, lo, hi, scratch = fn.args
    b = llir.IRBuilder(fn.append_basic_block("entry"))

    def tile(micro: Any, i0: Any, j0: Any, skip: Any, nw: Any, src: Any, lds: Any) -> None:
        na = _min(b, _const(mr), b.sub(m, i0))
        arow = b.add(a, b.mul(b.mul(i0, lda), _const(4)))
        corner = b.add(c, b.mul(b.add(b.mul(i0, ldc), j0), _const(4)))
        b.call(micro, [arow, lda, na, src, lds, skip, nw, corner, ldc, kdim, scratch])

    # strips start on a cache line of W's first row (a weight NumPy allocated is often 16 or 48
    # bytes past one: unaligned strips read three lines per row instead of two); the first one
    # skips the columns before lo
    off = _const(0) if taps else b.udiv(b.and_(b.add(w, b.mul(lo, _const(4))), _const(63)), _const(4))
    packed = b.and_(b.icmp_signed(">", m, _const(mr)), b.icmp_signed(">=", kdim, _const(PACK_K)))  # packs()
    with _Loop(b, b.sub(lo, off), hi, nr, "j0") as j0:
        nw = _min(b, _const(nr), b.sub(hi, j0))
        skip = b.select(b.icmp_signed("<", j0, lo), b.sub(lo, j0), _const(0))
        strip = b.add(w, b.mul(j0, _const(4)))
        copying, in_place, next_strip = (b.append_basic_block(n) for n in ("copying", "in_place", "next_strip"))
        b.cbranch(packed, copying, in_place)
        # the first row block reads the strip in place and packs it; the others read the copy
        b.position_at_end(copying)
        tile(first, _const(0), j0, skip, nw, strip, ldw)
        with _Loop(b, _const(mr), m, mr, "i0") as i0:
            tile(rest, i0, j0, skip, nw, scratch, _const(nr))
        b.branch(next_strip)
        # a short strip, or one row block: every row block reads it in place; a strip of one
        # vector's columns or fewer (the last) by a tile of one vector (half the work)
        b.position_at_end(in_place)
        if nv > 1:
            narrow, full = b.append_basic_block("narrow"), b.append_basic_block("full")
            b.cbranch(b.icmp_signed("<=", nw, _const(LANES)), narrow, full)
            b.position_at_end(narrow)
            with _Loop(b, _const(0), m, mr, "r1") as r1:
                tile(direct1, r1, j0, skip, nw, strip, ldw)
            b.branch(next_strip)
            b.position_at_end(full)
        with _Loop(b, _const(0), m, mr, "r0") as r0:
            tile(direct, r0, j0, skip, nw, strip, ldw)
        b.branch(next_strip)
        b.position_at_end(next_strip)
    b.ret_void()
    return _module_text(module)
