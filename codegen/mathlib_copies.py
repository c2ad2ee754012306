"""Copies for generated kernels: a row padded with zeros (a convolution's im2col rows), and a
swapped matmul's block transposed into place.

Part of the helper library every kernel may call (``codegen.mathlib.NAMESPACE``); its text is
hashed into the kernel cache's environment key with ``mathlib.py``'s.
"""

from __future__ import annotations

from llvmlite import ir as llir
from numba import njit, types
from numba.core import cgutils
from numba.core.extending import intrinsic

from .mathlib import _PTRS
from .mathlib_sums import _local_array

__all__ = ["row_copy_f32", "row_copy_f64", "transpose_copy_f32", "transpose_copy_f64"]


# -- rows padded with zeros (a convolution's im2col rows) ------------------------------------------


def _row_copy(nbtype: types.Type, lanes: int):
    """``row(dst, i, src, j, lo, hi, n, whole)``: ``dst[i + k] = src[j + k]`` for ``lo <= k < hi``
    and ``0`` for the other ``k < n`` (``dst`` and ``src`` typed pointers, ``ptr_<dtype>``).

    With ``whole`` true, ``[lo, hi)`` is copied in whole vectors of ``lanes`` elements (one vector
    load, then one vector store, element-aligned), the last of which reads and writes up to
    ``lanes - 1`` elements past ``hi``: the caller makes sure those may be read, and writes what
    lies there afterwards (the zeros from ``hi`` to ``n`` are written after the copy).  Else
    element by element.

    A convolution's im2col (``codegen.kernel_calls``) calls it once per row.  Written as Python
    in the kernel's source, a row was some 60 statements (a vector as ``lanes`` scalar loads and
    stores for LLVM to combine, the zero runs, the element-wise fallback), which numba typed in
    every kernel: ~0.5 s of a convolution kernel's compile.  This call types in constant time.
    """

    @intrinsic
    def row(typingctx, dst, i, src, j, lo, hi, n, whole):
        ints = (i, j, lo, hi, n)
        if not (isinstance(dst, types.CPointer) and dst.dtype == nbtype and isinstance(src, types.CPointer)
                and src.dtype == nbtype and all(isinstance(a, types.Integer) for a in ints)
                and isinstance(whole, types.Boolean)):
            return None
        i64 = types.int64
        sig = types.void(dst, i64, src, i64, i64, i64, i64, types.boolean)

        def codegen(context, builder, signature, args):
            dst, i, src, j, lo, hi, n, whole = args
            item = context.get_value_type(nbtype)
            align = context.get_abi_sizeof(item)
            one, step = (llir.Constant(i.type, k) for k in (1, lanes))
            vec = llir.VectorType(item, lanes).as_pointer()

            def at(base, offset, k, ty=None):
                p = builder.gep(base, [builder.add(offset, k)], inbounds=True)
                return p if ty is None else builder.bitcast(p, ty)

            def zeros(start, stop):
                with cgutils.for_range_slice(builder, start, stop, one) as (k, _):
                    builder.store(llir.Constant(item, 0), at(dst, i, k), align=align)

            zeros(llir.Constant(i.type, 0), lo)
            with builder.if_else(whole) as (vectors, elements):
                with vectors:
                    with cgutils.for_range_slice(builder, lo, hi, step) as (k, _):
                        builder.store(builder.load(at(src, j, k, vec), align=align), at(dst, i, k, vec), align=align)
                with elements:
                    with cgutils.for_range_slice(builder, lo, hi, one) as (k, _):
                        builder.store(builder.load(at(src, j, k), align=align), at(dst, i, k), align=align)
            zeros(builder.select(builder.icmp_signed("<", hi, lo), lo, hi), n)
            return context.get_dummy_value()

        return sig, codegen

    return row


#: rows copied in 64-byte vectors (``kernel_calls.im2col_block`` elements)
row_copy_f32 = _row_copy(types.float32, 16)
row_copy_f64 = _row_copy(types.float64, 8)


# -- transposing copies (a swapped matmul's block into place) --------------------------------------


def _tile_transpose(nbtype: types.Type, lanes: int):
    """``tile(src, lds, dst, ldd)``: ``dst[i * ldd + j] = src[j * lds + i]`` for ``i, j < lanes``.

    Addresses are integers, leading dimensions in elements.  ``lanes`` rows are loaded as vectors
    and transposed in registers by ``log2(lanes)`` rounds of interleaving row ``i`` with row
    ``i + lanes / 2`` (LLVM ``shufflevector``), then stored as vectors: a column of the source is
    never read element by element (which, at a power-of-two stride, also misses the cache).
    """

    @intrinsic
    def tile(typingctx, src, lds, dst, ldd):
        sig = types.void(types.int64, types.int64, types.int64, types.int64)

        def codegen(context, builder, signature, args):
            i32, i64 = llir.IntType(32), llir.IntType(64)
            vec = llir.VectorType(context.get_value_type(nbtype), lanes)
            size = llir.Constant(i64, context.get_abi_sizeof(context.get_value_type(nbtype)))
            half = lanes // 2

            def row(base, ld, i):
                offset = builder.mul(builder.mul(ld, llir.Constant(i64, i)), size)
                return builder.inttoptr(builder.add(base, offset), vec.as_pointer())

            rows = [builder.load(row(args[0], args[1], i), align=1) for i in range(lanes)]
            lo = llir.Constant(llir.VectorType(i32, lanes), [k // 2 + (k % 2) * lanes for k in range(lanes)])
            hi = llir.Constant(llir.VectorType(i32, lanes), [half + k // 2 + (k % 2) * lanes for k in range(lanes)])
            for _ in range(lanes.bit_length() - 1):
                rows = [v for i in range(half) for v in (builder.shuffle_vector(rows[i], rows[i + half], lo),
                                                         builder.shuffle_vector(rows[i], rows[i + half], hi))]
            for i, v in enumerate(rows):
                builder.store(v, row(args[2], args[3], i), align=1)
            return context.get_dummy_value()

        return sig, codegen

    return tile


@intrinsic
def _addr_of(typingctx, p):
    """The integer address a pointer holds."""
    if not isinstance(p, types.CPointer):
        return None

    def codegen(context, builder, signature, args):
        return builder.ptrtoint(args[0], llir.IntType(64))

    return types.int64(p), codegen


_STAGE = 256  # columns of the staging rows: a swapped matmul's block (``kernels.SWAP_BLOCK``)


def _make_transpose_copy(nbtype: types.Type, lanes: int):
    tile = _tile_transpose(nbtype, lanes)
    as_ptr = _PTRS[f"ptr_{nbtype}"]
    item = 4 if nbtype == types.float32 else 8
    ld = _STAGE + lanes  # not a power of two: the staging rows fall in different cache sets
    stage = _local_array(nbtype, lanes * ld)

    @njit
    def transpose_copy(src, lds, dst, ldd, rows, cols):
        """``dst[r * ldd + j] = src[j * lds + r]`` for ``r < rows``, ``j < cols`` (addresses, leading
        dimensions in elements).

        ``lanes`` rows at a time: square tiles transposed in registers into a staging block on the
        stack, then each staged row copied into place in one sequential run.  Storing the tiles
        straight into ``dst`` writes ``lanes`` lines of one cache set at once when ``ldd`` is a
        power of two (a ``(128, 2048)`` result): 8x slower than staging.  The edges go element by
        element.
        """
        s = as_ptr(src)
        d = as_ptr(dst)
        buf = stage()
        base = _addr_of(buf)
        rt = rows - rows % lanes
        for c0 in range(0, cols, _STAGE):
            cw = min(cols - c0, _STAGE)
            jt = cw - cw % lanes
            for r0 in range(0, rt, lanes):
                for j0 in range(0, jt, lanes):
                    tile(src + ((c0 + j0) * lds + r0) * item, lds, base + j0 * item, ld)
                for j in range(jt, cw):
                    for i in range(lanes):
                        buf[i * ld + j] = s[(c0 + j) * lds + r0 + i]
                for i in range(lanes):
                    o = (r0 + i) * ldd + c0
                    for j in range(cw):
                        d[o + j] = buf[i * ld + j]
        for r in range(rt, rows):
            for j in range(cols):
                d[r * ldd + j] = s[j * lds + r]

    return transpose_copy


transpose_copy_f32 = _make_transpose_copy(types.float32, 16)
transpose_copy_f64 = _make_transpose_copy(types.float64, 8)
