"""The transposing copy's LLVM IR (``codegen.mathlib_native.transpose_copy_*``).

``dst[r * ldd + j] = src[j * lds + r]`` for ``r < rows``, ``j < cols``: a swapped matmul's block
(``C.T``, computed ``kernels.SWAP_BLOCK`` columns at a time) copied into place.  ``lanes`` rows
of the source at a time: square tiles are loaded as vectors and transposed in registers by
``log2(lanes)`` rounds of interleaving row ``i`` with row ``i + lanes / 2`` (``shufflevector``),
stored into a staging block on the stack, and each staged row is then copied into place in one
run (storing tiles straight into a destination whose rows are a power of two apart writes
``lanes`` lines of one cache set at once: 8x slower).  The edges go element by element.

Split out of ``codegen.mathlib_native`` (which builds, registers and calls it); hashed into the
kernel cache's environment key with the other ``mathlib*.py``.
"""

from __future__ import annotations

__all__ = ["transpose_ir"]

_STAGE = 256  # columns of the staging rows: a swapped matmul's block (``kernels.SWAP_BLOCK``)


def transpose_ir(name: str, ty: str, lanes: int) -> str:
    """The IR text of function ``name``: the transposing copy of ``ty`` elements (``float``,
    ``double``) in square tiles of ``lanes``."""
    vec = f"<{lanes} x {ty}>"
    ld = _STAGE + lanes  # not a power of two: the staging rows fall in different cache sets
    half = lanes // 2
    lo = ", ".join(f"i32 {k // 2 + (k % 2) * lanes}" for k in range(lanes))
    hi = ", ".join(f"i32 {half + k // 2 + (k % 2) * lanes}" for k in range(lanes))
    tile = []
    for k in range(lanes):  # load the tile's rows: src[(c0 + j0 + k) * lds + r0 ...]
        tile.append(f"  %tro{k} = mul i64 %lds, {k}\n  %tri{k} = add i64 %tbase, %tro{k}\n"
                    f"  %trp{k} = getelementptr {ty}, {ty}* %s, i64 %tri{k}\n"
                    f"  %trv{k} = bitcast {ty}* %trp{k} to {vec}*\n  %v0_{k} = load {vec}, {vec}* %trv{k}, align 1")
    names = [f"%v0_{k}" for k in range(lanes)]
    for r in range(lanes.bit_length() - 1):  # rounds of interleaving row i with row i + lanes / 2
        out = []
        for i in range(half):
            a, b = names[i], names[i + half]
            tile.append(f"  %v{r + 1}_{2 * i} = shufflevector {vec} {a}, {vec} {b}, <{lanes} x i32> <{lo}>")
            tile.append(f"  %v{r + 1}_{2 * i + 1} = shufflevector {vec} {a}, {vec} {b}, <{lanes} x i32> <{hi}>")
            out += [f"%v{r + 1}_{2 * i}", f"%v{r + 1}_{2 * i + 1}"]
        names = out
    for k, v in enumerate(names):  # store row k of the transposed tile: buf[k * ld + j0 ...]
        tile.append(f"  %two{k} = add i64 %j0, {k * ld}\n  %twp{k} = getelementptr {ty}, {ty}* %buf, i64 %two{k}\n"
                    f"  %twv{k} = bitcast {ty}* %twp{k} to {vec}*\n  store {vec} {v}, {vec}* %twv{k}, align 1")
    tile_text = "\n".join(tile)
    return f"""
; dst[r * ldd + j] = src[j * lds + r] for r < rows, j < cols (addresses; leading dimensions in elements)
define weak_odr void @"{name}"(i64 %src, i64 %lds, i64 %dst, i64 %ldd, i64 %rows, i64 %cols) {{
entry:
  %stage = alloca [{lanes * ld} x {ty}], align 64
  %buf = bitcast [{lanes * ld} x {ty}]* %stage to {ty}*
  %s = inttoptr i64 %src to {ty}*
  %d = inttoptr i64 %dst to {ty}*
  %rrem = srem i64 %rows, {lanes}
  %rt = sub i64 %rows, %rrem
  br label %cloop
cloop:
  %c0 = phi i64 [ 0, %entry ], [ %c0n, %cnext ]
  %cmore = icmp slt i64 %c0, %cols
  br i1 %cmore, label %cbody, label %tail
cbody:
  %cleft = sub i64 %cols, %c0
  %cfull = icmp sgt i64 %cleft, {_STAGE}
  %cw = select i1 %cfull, i64 {_STAGE}, i64 %cleft
  %cwr = srem i64 %cw, {lanes}
  %jt = sub i64 %cw, %cwr
  br label %rloop
rloop:
  %r0 = phi i64 [ 0, %cbody ], [ %r0n, %wdone ]
  %rmore = icmp slt i64 %r0, %rt
  br i1 %rmore, label %tloop, label %cnext
tloop:
  ; whole tiles of this block of rows into the staging rows
  %j0 = phi i64 [ 0, %rloop ], [ %j0n, %tbody ]
  %tmore = icmp slt i64 %j0, %jt
  br i1 %tmore, label %tbody, label %eloop
tbody:
  %tcol = add i64 %c0, %j0
  %tcl = mul i64 %tcol, %lds
  %tbase = add i64 %tcl, %r0
{tile_text}
  %j0n = add i64 %j0, {lanes}
  br label %tloop
eloop:
  ; the columns after the last whole tile, element by element
  %ej = phi i64 [ %jt, %tloop ], [ %ej1, %eidone ]
  %emore = icmp slt i64 %ej, %cw
  br i1 %emore, label %eiloop, label %wloop
eiloop:
  %ei = phi i64 [ 0, %eloop ], [ %ei1, %eibody ]
  %eimore = icmp slt i64 %ei, {lanes}
  br i1 %eimore, label %eibody, label %eidone
eibody:
  %ecol = add i64 %c0, %ej
  %ecl = mul i64 %ecol, %lds
  %erow = add i64 %r0, %ei
  %eidx = add i64 %ecl, %erow
  %esp = getelementptr {ty}, {ty}* %s, i64 %eidx
  %ev = load {ty}, {ty}* %esp, align 1
  %ebi0 = mul i64 %ei, {ld}
  %ebi = add i64 %ebi0, %ej
  %ebp = getelementptr {ty}, {ty}* %buf, i64 %ebi
  store {ty} %ev, {ty}* %ebp, align 1
  %ei1 = add i64 %ei, 1
  br label %eiloop
eidone:
  %ej1 = add i64 %ej, 1
  br label %eloop
wloop:
  ; each staged row into place in one run: whole vectors, then element by element
  %wi = phi i64 [ 0, %eloop ], [ %wi1, %wsdone ]
  %wmore = icmp slt i64 %wi, {lanes}
  br i1 %wmore, label %wrow, label %wdone
wrow:
  %wrr = add i64 %r0, %wi
  %wdrow0 = mul i64 %wrr, %ldd
  %wdrow = add i64 %wdrow0, %c0
  %wbrow = mul i64 %wi, {ld}
  br label %wvloop
wvloop:
  %wj = phi i64 [ 0, %wrow ], [ %wj1, %wvbody ]
  %wjend = add i64 %wj, {lanes}
  %wvmore = icmp sle i64 %wjend, %cw
  br i1 %wvmore, label %wvbody, label %wsloop
wvbody:
  %wbi = add i64 %wbrow, %wj
  %wbp = getelementptr {ty}, {ty}* %buf, i64 %wbi
  %wbv = bitcast {ty}* %wbp to {vec}*
  %wv = load {vec}, {vec}* %wbv, align 1
  %wdi = add i64 %wdrow, %wj
  %wdp = getelementptr {ty}, {ty}* %d, i64 %wdi
  %wdv = bitcast {ty}* %wdp to {vec}*
  store {vec} %wv, {vec}* %wdv, align 1
  %wj1 = add i64 %wj, {lanes}
  br label %wvloop
wsloop:
  %wsj = phi i64 [ %wj, %wvloop ], [ %wsj1, %wsbody ]
  %wsmore = icmp slt i64 %wsj, %cw
  br i1 %wsmore, label %wsbody, label %wsdone
wsbody:
  %wsbi = add i64 %wbrow, %wsj
  %wsbp = getelementptr {ty}, {ty}* %buf, i64 %wsbi
  %wsv = load {ty}, {ty}* %wsbp, align 1
  %wsdi = add i64 %wdrow, %wsj
  %wsdp = getelementptr {ty}, {ty}* %d, i64 %wsdi
  store {ty} %wsv, {ty}* %wsdp, align 1
  %wsj1 = add i64 %wsj, 1
  br label %wsloop
wsdone:
  %wi1 = add i64 %wi, 1
  br label %wloop
wdone:
  %r0n = add i64 %r0, {lanes}
  br label %rloop
cnext:
  %c0n = add i64 %c0, {_STAGE}
  br label %cloop
tail:
  ; the last rows % lanes rows, element by element
  %tr = phi i64 [ %rt, %cloop ], [ %tr1, %tjdone ]
  %trmore = icmp slt i64 %tr, %rows
  br i1 %trmore, label %tjloop, label %out
tjloop:
  %tj = phi i64 [ 0, %tail ], [ %tj1, %tjbody ]
  %tjmore = icmp slt i64 %tj, %cols
  br i1 %tjmore, label %tjbody, label %tjdone
tjbody:
  %tsi0 = mul i64 %tj, %lds
  %tsi = add i64 %tsi0, %tr
  %tsp = getelementptr {ty}, {ty}* %s, i64 %tsi
  %tv = load {ty}, {ty}* %tsp, align 1
  %tdi0 = mul i64 %tr, %ldd
  %tdi = add i64 %tdi0, %tj
  %tdp = getelementptr {ty}, {ty}* %d, i64 %tdi
  store {ty} %tv, {ty}* %tdp, align 1
  %tj1 = add i64 %tj, 1
  br label %tjloop
tjdone:
  %tr1 = add i64 %tr, 1
  br label %tail
out:
  ret void
}}
"""
