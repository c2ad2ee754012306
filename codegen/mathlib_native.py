"""Helpers written in LLVM IR: NumPy's pairwise sum and the transposing copy, for generated kernels.

Kernels call ``pairwise_sum_f32``/``_f64`` (a row's sum in ``np.add.reduce``'s order, bit for bit)
and ``transpose_copy_f32``/``_f64`` (a swapped matmul's block copied into place).  Written as
numba functions they were typed, optimized and turned into machine code by numba in every
process that compiled a kernel calling them: about 0.75 s (the sum, mostly numba's typing) and
1.0 s (the copy, mostly LLVM on the 3,800 instructions its loops unrolled into) of CPU per
process, on a cold start's critical path (``codegen.schedule``).  Here each is a short LLVM IR
function, made assembly once per process in milliseconds (:func:`prebuilt_for`) and assembled
into the object of each kernel that calls it (``codegen.prebuilt``); numba sees only an
intrinsic that calls the symbol.

The sum recurses as NumPy's does (blocks of at most 128 summed with 8 accumulators, longer runs
split at ``n2 = n // 2 - (n // 2) % 8``); real recursion is fine here, in native code, where a
numba function could not recurse without numba's runtime.  The 8 accumulators are one vector of
8 lanes, loaded whole where the stride is 1; lanes add without reassociation (no fast-math
flags), so each lane's sum is the scalar one.  The copy transposes square tiles in registers into
a staging block on the stack, then copies each staged row into place in one run.

Part of the helper library every kernel may call (``codegen.mathlib.NAMESPACE``); its text is
hashed into the kernel cache's environment key with ``mathlib.py``'s.
"""

from __future__ import annotations

import threading
from typing import Any

from llvmlite import ir as llir
from numba import types
from numba.core.extending import intrinsic

__all__ = ["pairwise_sum_f32", "pairwise_sum_f64", "transpose_copy_f32", "transpose_copy_f64", "SYMBOLS",
           "helper_ir", "prebuilt_for", "compile_helpers", "export_symbols"]

_STAGE = 256  # columns of the staging rows: a swapped matmul's block (``kernels.SWAP_BLOCK``)
_TYPES = {"f32": ("float", 4, 16), "f64": ("double", 8, 8)}  # IR type, bytes, lanes of a tile

#: The symbol of each helper, by its name in kernels.
SYMBOLS = {f"{kind}_{t}": f"codegen.mathlib_native.{kind}_{t}" for kind in ("pairwise_sum", "transpose_copy")
           for t in _TYPES}


def _pairwise_ir(t: str) -> str:
    ty, _, _ = _TYPES[t]
    vec = f"<8 x {ty}>"
    name = SYMBOLS[f"pairwise_sum_{t}"]
    gather = "\n".join(
        f"  %g{k}p = getelementptr {ty}, {ty}* %p, i64 %gi{k}\n"
        f"  %g{k} = load {ty}, {ty}* %g{k}p, align 1\n"
        f"  %gv{k + 1} = insertelement {vec} {'undef' if k == 0 else f'%gv{k}'}, {ty} %g{k}, i32 {k}"
        for k in range(8))
    offsets = "\n".join(f"  %go{k} = mul i64 %stride, {k}\n  %gi{k} = add i64 %at, %go{k}" for k in range(8))
    extract = "\n".join(f"  %e{k} = extractelement {vec} %acc, i32 {k}" for k in range(8))
    return f"""
; sum of p[start + i * stride] for i < n in NumPy's pairwise order
define weak_odr {ty} @"{name}"({ty}* %p, i64 %start, i64 %n, i64 %stride) {{
entry:
  %big = icmp sgt i64 %n, 128
  br i1 %big, label %split, label %leaf
split:
  %h = sdiv i64 %n, 2
  %hr = srem i64 %h, 8
  %n2 = sub i64 %h, %hr
  %a = call {ty} @"{name}"({ty}* %p, i64 %start, i64 %n2, i64 %stride)
  %off = mul i64 %n2, %stride
  %s2 = add i64 %start, %off
  %n3 = sub i64 %n, %n2
  %b = call {ty} @"{name}"({ty}* %p, i64 %s2, i64 %n3, i64 %stride)
  %sum = fadd {ty} %a, %b
  ret {ty} %sum
leaf:
  %few = icmp slt i64 %n, 8
  br i1 %few, label %short, label %first
short:
  ; fewer than 8: one accumulator from 0
  %si = phi i64 [ 0, %leaf ], [ %si1, %short_body ]
  %sres = phi {ty} [ 0.0, %leaf ], [ %sres1, %short_body ]
  %smore = icmp slt i64 %si, %n
  br i1 %smore, label %short_body, label %short_done
short_body:
  %sidx0 = mul i64 %si, %stride
  %sidx = add i64 %start, %sidx0
  %sp = getelementptr {ty}, {ty}* %p, i64 %sidx
  %sv = load {ty}, {ty}* %sp, align 1
  %sres1 = fadd {ty} %sres, %sv
  %si1 = add i64 %si, 1
  br label %short
short_done:
  ret {ty} %sres
first:
  %contig = icmp eq i64 %stride, 1
  %nr = srem i64 %n, 8
  %m = sub i64 %n, %nr
  br label %load8
load8:
  ; the 8 elements from index %i (the first 8 start the accumulators, later ones add to them)
  %i = phi i64 [ 0, %first ], [ %i8, %added ]
  %acc0 = phi {vec} [ zeroinitializer, %first ], [ %acc, %added ]
  %istride = mul i64 %i, %stride
  %at = add i64 %start, %istride
  br i1 %contig, label %vload, label %gload
vload:
  %vp0 = getelementptr {ty}, {ty}* %p, i64 %at
  %vp = bitcast {ty}* %vp0 to {vec}*
  %vv = load {vec}, {vec}* %vp, align 1
  br label %loaded
gload:
{offsets}
{gather}
  br label %loaded
loaded:
  %x = phi {vec} [ %vv, %vload ], [ %gv8, %gload ]
  %isfirst = icmp eq i64 %i, 0
  br i1 %isfirst, label %start_acc, label %add_acc
start_acc:
  br label %added
add_acc:
  %sumv = fadd {vec} %acc0, %x
  br label %added
added:
  %acc = phi {vec} [ %x, %start_acc ], [ %sumv, %add_acc ]
  %i8 = add i64 %i, 8
  %again = icmp slt i64 %i8, %m
  br i1 %again, label %load8, label %combine
combine:
{extract}
  %c01 = fadd {ty} %e0, %e1
  %c23 = fadd {ty} %e2, %e3
  %c45 = fadd {ty} %e4, %e5
  %c67 = fadd {ty} %e6, %e7
  %c03 = fadd {ty} %c01, %c23
  %c47 = fadd {ty} %c45, %c67
  %res0 = fadd {ty} %c03, %c47
  br label %rest
rest:
  ; the last n % 8, one by one
  %ri = phi i64 [ %m, %combine ], [ %ri1, %rest_body ]
  %res = phi {ty} [ %res0, %combine ], [ %res1, %rest_body ]
  %rmore = icmp slt i64 %ri, %n
  br i1 %rmore, label %rest_body, label %done
rest_body:
  %ridx0 = mul i64 %ri, %stride
  %ridx = add i64 %start, %ridx0
  %rp = getelementptr {ty}, {ty}* %p, i64 %ridx
  %rv = load {ty}, {ty}* %rp, align 1
  %res1 = fadd {ty} %res, %rv
  %ri1 = add i64 %ri, 1
  br label %rest
done:
  ret {ty} %res
}}
"""


def _transpose_ir(t: str) -> str:
    ty, item, lanes = _TYPES[t]
    vec = f"<{lanes} x {ty}>"
    name = SYMBOLS[f"transpose_copy_{t}"]
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


def helper_ir(name: str) -> str:
    """The LLVM IR text defining helper ``name`` (``pairwise_sum_f32``, ``transpose_copy_f64``...)."""
    kind, t = name.rsplit("_", 1)
    return (_pairwise_ir if kind == "pairwise_sum" else _transpose_ir)(t)


_LOCK = threading.Lock()
_BUILT: dict[str, Any] = {}  # symbol -> codegen.prebuilt.Prebuilt, once per process


def prebuilt_for(declared: set[str]) -> list[Any]:
    """The helpers among symbols ``declared`` (a kernel module's declarations) as assembly
    (``codegen.prebuilt.Prebuilt``), built on first use in this process."""
    wanted = [n for n, s in SYMBOLS.items() if s in declared]
    if not wanted:
        return []
    from .prebuilt import build_ir

    with _LOCK:
        for name in wanted:
            if SYMBOLS[name] not in _BUILT:
                _BUILT[SYMBOLS[name]] = build_ir(helper_ir(name), frozenset({SYMBOLS[name]}))
    return [_BUILT[SYMBOLS[n]] for n in wanted]


_EXPORTED: list[bool] = []


def export_symbols() -> None:
    """Give the helpers' symbols addresses in LLVM's symbol table (machine code linked into the
    process, ``codegen.native.load_ir``), for code numba's own JIT links."""
    import llvmlite.binding as llvm

    from .native import load_ir

    with _LOCK:
        if _EXPORTED:
            return
        for name, symbol in SYMBOLS.items():
            llvm.add_symbol(symbol, load_ir(helper_ir(name), (symbol,), f"helper-{name}")[0])
        _EXPORTED.append(True)


# -- what kernels call -----------------------------------------------------------------------------


def _call(name: str, ret: Any, args: list[Any], builder: Any, values: list[Any]) -> Any:
    from numba.core import cgutils

    fnty = llir.FunctionType(ret, args)
    fn = cgutils.get_or_insert_function(builder.module, fnty, SYMBOLS[name])
    return builder.call(fn, values)


def _pairwise_intrinsic(t: str, nbtype: types.Type):
    name = f"pairwise_sum_{t}"

    @intrinsic
    def pairwise_sum(typingctx, p, start, n, stride):
        """``pairwise_sum_*(p, start, n, stride)``: the sum of ``p[start + i * stride]``, ``i < n``."""
        if not (isinstance(p, types.CPointer) and p.dtype == nbtype):
            return None
        if not all(isinstance(a, (types.Integer, types.IntegerLiteral)) for a in (start, n, stride)):
            return None
        sig = nbtype(p, start, n, stride)

        def codegen(context, builder, signature, args):
            i64 = llir.IntType(64)
            ints = [context.cast(builder, v, ty, types.int64) for v, ty in zip(args[1:], signature.args[1:])]
            ty = context.get_value_type(nbtype)
            return _call(name, ty, [ty.as_pointer(), i64, i64, i64], builder, [args[0], *ints])

        return sig, codegen

    return pairwise_sum


def _transpose_intrinsic(t: str):
    name = f"transpose_copy_{t}"

    @intrinsic
    def transpose_copy(typingctx, src, lds, dst, ldd, rows, cols):
        """``transpose_copy_*(src, lds, dst, ldd, rows, cols)``: ``dst[r * ldd + j] = src[j * lds
        + r]`` for ``r < rows``, ``j < cols`` (integer addresses; leading dimensions in elements)."""
        given = (src, lds, dst, ldd, rows, cols)
        if not all(isinstance(a, (types.Integer, types.IntegerLiteral)) for a in given):
            return None
        sig = types.void(*given)

        def codegen(context, builder, signature, args):
            i64 = llir.IntType(64)
            ints = [context.cast(builder, v, ty, types.int64) for v, ty in zip(args, signature.args)]
            _call(name, llir.VoidType(), [i64] * 6, builder, ints)
            return context.get_dummy_value()

        return sig, codegen

    return transpose_copy


pairwise_sum_f32 = _pairwise_intrinsic("f32", types.float32)
pairwise_sum_f64 = _pairwise_intrinsic("f64", types.float64)
transpose_copy_f32 = _transpose_intrinsic("f32")
transpose_copy_f64 = _transpose_intrinsic("f64")


def compile_helpers(texts: Any, min_users: int = 1) -> None:
    """Build the assembly of the helpers that at least ``min_users`` of kernel sources ``texts``
    call, so that processes forked afterwards (``codegen.parallel``) inherit it."""
    texts = list(texts)
    prebuilt_for({s for n, s in SYMBOLS.items() if sum(f"{n}(" in text for text in texts) >= min_users})
