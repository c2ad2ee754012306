"""Windows for generated kernels: a convolution's im2col row, and one vector of a max pooling's outputs.

Part of the helper library every kernel may call (``codegen.mathlib.NAMESPACE``); its text is
hashed into the kernel cache's environment key with ``mathlib.py``'s.
"""

from __future__ import annotations

from llvmlite import ir as llir
from numba import types
from numba.core import cgutils
from numba.core.extending import intrinsic

__all__ = ["row_copy_f32", "row_copy_f64", "pool_max_f32", "pool_max_f64"]


# -- rows padded with zeros (a convolution's im2col rows) ------------------------------------------


def _row_copy(nbtype: types.Type, lanes: int):
    """``row(dst, i, src, j, lo, hi, n, whole)``: ``dst[i + k] = src[j + k]`` for ``lo <= k < hi``
    and ``0`` for the other ``k < n`` (``dst`` and ``src`` typed pointers, ``ptr_<dtype>``).

    With ``whole`` true, ``[lo, hi)`` is copied in whole vectors of ``lanes`` elements (one vector
    load, then one vector store, element-aligned), the last of which reads and writes up to
    ``lanes - 1`` elements past ``hi``: the caller makes sure those may be read, and writes what
    lies there afterwards (the zeros from ``hi`` to ``n`` are written after the copy).  Else
    element by element.

    A convolution's im2col (``codegen.kernel_convs``) calls it once per row.  Written as Python
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


#: rows copied in 64-byte vectors (``kernel_convs.im2col_block`` elements)
row_copy_f32 = _row_copy(types.float32, 16)
row_copy_f64 = _row_copy(types.float64, 8)


# -- window maxima (max pooling) -------------------------------------------------------------------


def _pool_max(nbtype: types.Type, lanes: int):
    """``pool(dst, i, src, j, ld, kh, kw, sw, dh, dw)``: for ``k < lanes``, ``dst[i + k]`` = the
    NaN-propagating maximum (``mathlib.maximum``, taps in row-major order from the first) of
    ``src[j + ti * dh * ld + tj * dw + k * sw]`` over taps ``ti < kh``, ``tj < kw`` (``dst`` and
    ``src`` typed pointers, ``ptr_<dtype>``; ``kh`` .. ``dw`` literal integers).

    Each tap is ``sw`` vector loads from its first element, whose every ``sw``-th element a
    shuffle keeps: it reads up to ``sw - 1`` elements past the last window's tap, and writes
    ``lanes`` outputs; the caller makes sure both may be touched (``kernel_calls.Calls.pool``).
    Written as Python, the same window loop left LLVM to vectorize a loop of strided loads behind
    run-time alias checks for every output row (the ``cnn``'s rows are 15 windows: one vector).
    """

    @intrinsic(prefer_literal=True)
    def pool(typingctx, dst, i, src, j, ld, kh, kw, sw, dh, dw):
        geometry = (kh, kw, sw, dh, dw)
        if not (isinstance(dst, types.CPointer) and dst.dtype == nbtype and isinstance(src, types.CPointer)
                and src.dtype == nbtype and all(isinstance(a, types.Integer) for a in (i, j, ld))
                and all(isinstance(g, types.IntegerLiteral) and g.literal_value >= 1 for g in geometry)):
            return None
        n_kh, n_kw, n_sw, n_dh, n_dw = (g.literal_value for g in geometry)
        i64 = types.int64
        sig = types.void(dst, i64, src, i64, i64, *geometry)

        def codegen(context, builder, signature, args):
            dst, i, src, j, ld = args[:5]
            item = context.get_value_type(nbtype)
            align = context.get_abi_sizeof(item)
            vec = llir.VectorType(item, lanes)
            i32 = llir.IntType(32)
            wide = 1 << (n_sw - 1).bit_length()  # the sw vectors of a tap, padded to a power of two

            def tap(ti: int, tj: int):
                start = builder.add(j, builder.add(builder.mul(ld, llir.Constant(ld.type, ti * n_dh)),
                                                   llir.Constant(ld.type, tj * n_dw)))
                parts = []
                for s in range(n_sw):
                    p = builder.gep(src, [builder.add(start, llir.Constant(ld.type, s * lanes))], inbounds=True)
                    parts.append(builder.load(builder.bitcast(p, vec.as_pointer()), align=align))
                if n_sw == 1:
                    return parts[0]
                parts += [llir.Constant(vec, None)] * (wide - n_sw)
                while len(parts) > 1:  # concatenate pairwise up to one vector of wide * lanes
                    size = 2 * parts[0].type.count
                    mask = llir.Constant(llir.VectorType(i32, size), list(range(size)))
                    parts = [builder.shuffle_vector(parts[q], parts[q + 1], mask) for q in range(0, len(parts), 2)]
                whole = parts[0]
                keep = llir.Constant(llir.VectorType(i32, lanes), [k * n_sw for k in range(lanes)])
                return builder.shuffle_vector(whole, llir.Constant(whole.type, None), keep)

            acc = None
            for t in range(n_kh * n_kw):
                value = tap(*divmod(t, n_kw))
                if acc is None:
                    acc = value
                    continue
                keep = builder.or_(builder.fcmp_ordered(">=", acc, value), builder.fcmp_unordered("uno", acc, acc))
                acc = builder.select(keep, acc, value)  # maximum(acc, value): acc if acc >= value or acc is NaN
            out = builder.gep(dst, [i], inbounds=True)
            builder.store(acc, builder.bitcast(out, vec.as_pointer()), align=align)
            return context.get_dummy_value()

        return sig, codegen

    return pool


#: one 64-byte vector of outputs (``kernel_calls.pool_block`` windows)
pool_max_f32 = _pool_max(types.float32, 16)
pool_max_f64 = _pool_max(types.float64, 8)
