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
a staging block on the stack, then copies each staged row into place in one run (its IR is
``codegen.mathlib_transpose``).

Part of the helper library every kernel may call (``codegen.mathlib.NAMESPACE``); its text is
hashed into the kernel cache's environment key with ``mathlib.py``'s.
"""

from __future__ import annotations

import threading
from typing import Any

from llvmlite import ir as llir
from numba import types
from numba.core.extending import intrinsic

from . import mathlib_gemm, mathlib_gemm_nn

__all__ = ["pairwise_sum_f32", "pairwise_sum_f64", "transpose_copy_f32", "transpose_copy_f64", "SYMBOLS",
           "gemm_wt_f32", "gemm_nn_f32", "gemm_taps_f32", "helper_ir", "prebuilt_for", "compile_helpers",
           "export_symbols"]

_TYPES = {"f32": ("float", 4, 16), "f64": ("double", 8, 8)}  # IR type, bytes, lanes of a tile

#: The symbol of each helper, by its name in kernels (``gemm_wt_f32``'s IR is ``codegen.mathlib_gemm``'s).
SYMBOLS = {f"{kind}_{t}": f"codegen.mathlib_native.{kind}_{t}" for kind in ("pairwise_sum", "transpose_copy")
           for t in _TYPES}
SYMBOLS["gemm_wt_f32"] = mathlib_gemm.SYMBOL
SYMBOLS["gemm_nn_f32"] = mathlib_gemm_nn.SYMBOL
SYMBOLS["gemm_taps_f32"] = mathlib_gemm_nn.TAPS_SYMBOL


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


def helper_ir(name: str) -> str:
    """The LLVM IR text defining helper ``name`` (``pairwise_sum_f32``, ``transpose_copy_f64``...)."""
    if name == "gemm_wt_f32":
        return mathlib_gemm.helper_ir()
    if name == "gemm_nn_f32":
        return mathlib_gemm_nn.helper_ir()
    if name == "gemm_taps_f32":
        return mathlib_gemm_nn.helper_ir(symbol=mathlib_gemm_nn.TAPS_SYMBOL, taps=True)
    kind, t = name.rsplit("_", 1)
    if kind == "pairwise_sum":
        return _pairwise_ir(t)
    from .mathlib_transpose import transpose_ir

    ty, _, lanes = _TYPES[t]
    return transpose_ir(SYMBOLS[name], ty, lanes)


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


def _gemm_intrinsic(name: str, doc: str):
    @intrinsic
    def gemm(typingctx, a, lda, w, ldw, c, ldc, m, kdim, lo, hi, scratch):
        given = (a, lda, w, ldw, c, ldc, m, kdim, lo, hi, scratch)
        if not all(isinstance(x, (types.Integer, types.IntegerLiteral)) for x in given):
            return None
        sig = types.void(*given)

        def codegen(context, builder, signature, args):
            ints = [context.cast(builder, v, ty, types.int64) for v, ty in zip(args, signature.args)]
            _call(name, llir.VoidType(), [llir.IntType(64)] * 11, builder, ints)
            return context.get_dummy_value()

        return sig, codegen

    gemm.__doc__ = doc
    return gemm


gemm_wt_f32 = _gemm_intrinsic("gemm_wt_f32", """``gemm_wt_f32(a, lda, w, ldw, c, ldc, m, kdim, lo, hi, scratch)``:
    ``C[:m, lo:hi] = A[:m, :kdim] @ W[lo:hi, :kdim].T`` (``codegen.mathlib_gemm.helper_ir``; integer
    addresses and sizes).""")
gemm_nn_f32 = _gemm_intrinsic("gemm_nn_f32", """``gemm_nn_f32(a, lda, w, ldw, c, ldc, m, kdim, lo, hi, scratch)``:
    ``C[:m, lo:hi] = A[:m, :kdim] @ W[:kdim, lo:hi]`` (``codegen.mathlib_gemm_nn.helper_ir``; integer
    addresses and sizes).""")
gemm_taps_f32 = _gemm_intrinsic("gemm_taps_f32", """``gemm_taps_f32(a, lda, x, taps, c, ldc, m, kdim, lo, hi,
    scratch)``: ``C[:m, lo:hi] = A[:m, :kdim] @ W[:kdim, lo:hi]`` where ``W[k, j] = x[taps[k] + j]`` (``taps``: the
    address of ``kdim`` int64; ``codegen.mathlib_gemm_nn.helper_ir`` with ``taps``).""")
pairwise_sum_f32 = _pairwise_intrinsic("f32", types.float32)
pairwise_sum_f64 = _pairwise_intrinsic("f64", types.float64)
transpose_copy_f32 = _transpose_intrinsic("f32")
transpose_copy_f64 = _transpose_intrinsic("f64")


def compile_helpers(texts: Any, min_users: int = 1) -> None:
    """Build the assembly of the helpers that at least ``min_users`` of kernel sources ``texts``
    call, so that processes forked afterwards (``codegen.parallel``) inherit it."""
    texts = list(texts)
    prebuilt_for({s for n, s in SYMBOLS.items() if sum(f"{n}(" in text for text in texts) >= min_users})
