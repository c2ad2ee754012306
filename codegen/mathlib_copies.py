"""Transposing copies for generated kernels: a swapped matmul's block copied into place.

Part of the helper library every kernel may call (``codegen.mathlib.NAMESPACE``); its text is
hashed into the kernel cache's environment key with ``mathlib.py``'s.
"""

from __future__ import annotations

from llvmlite import ir as llir
from numba import njit, types
from numba.core.extending import intrinsic

from .mathlib import _PTRS
from .mathlib_sums import _local_array

__all__ = ["transpose_copy_f32", "transpose_copy_f64"]


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
