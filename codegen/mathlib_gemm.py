"""A float32 ``A @ W.T`` that reads the weight ``W`` in place (a ``Linear`` layer with few rows),
computed transposed, ``C.T = W @ A.T``, by our own AVX-512 micro-kernel written in LLVM IR.

Kernels call ``gemm_wt_f32`` for a column block ``lo:hi`` of ``C = A @ W.T`` (``W``: ``(N, K)``)
where they would call OpenBLAS for the transposed product into scratch and copy it into place
(``Gemm.swap``, ``codegen.matmuls``).  Per chunk, for every :data:`AR` = 32 rows of ``A``:

1. Those rows are packed transposed into the chunk's scratch, ``P[k, r] = A[q + r, k]`` (16x16
   tiles transposed in registers; zeros below the last row): 6 us for 32 x 1024 floats.
2. For every :data:`WR` = 8 weight rows (result columns), a micro-kernel: per ``k``, ``P``'s 32
   floats as two zmm vectors, each of the 8 weights ``W[j, k]`` broadcast from its row in place,
   16 fused multiply-adds into 16 accumulators, over the whole ``K`` (``P`` stays in L2; each
   weight row is read from start to end, which the prefetchers follow).
3. The 8 x 32 block of ``C.T`` is transposed in registers (three rounds of shuffles) and stored
   as 32 rows of 8 floats of ``C`` with masked stores (nothing past ``m`` rows or ``hi`` is
   written; weight rows past ``hi`` are never read).

Nothing is packed once and kept, so the weight needs no check that it is unchanged (validating a
kept copy of the mlp's 7.2 MB of weights costs a 0.16 ms ``memcmp`` per call, about what the faster
product saves; ``codegen.gemm_f32`` has that form).  Tried and dropped: packing ``A`` in blocks
of 256 columns (``C`` accumulated over them) ran at 190 instead of 220 GFLOP/s with 64 rows (each
weight row read in 1 KiB pieces a page apart); all panels at once ran as fast, with more scratch;
a dot-product form (both operands read along ``K``, 4x6 tiles, horizontal sums) at 150-200.

One thread on the 2-core AMD EPYC Zen 5 (``python -m benchmarks.gemm_f32``, column ``W``; best of
many calls interleaved, packing ``A`` included; noisy host), GFLOP/s, ours / OpenBLAS's ``C.T = W
@ A.T`` (without the copy kernels add to it): ``(64, 784) @ W.T`` with 1024 columns 224 / 192,
half of them 240 / 203; ``(64, 1024)``, 1024 columns 222 / 184, half 223 / 185; ``(128, 512)`` by
2048 columns 223 / 193; ``(128, 2048)`` by 512 219 / 178.  Padding rows to a multiple of 32 costs:
16 rows ran at 108 against 139, 48 at 166 against 177, 100 at 171 against 188, hence
:func:`worth`.  With 512 rows it runs at OpenBLAS's speed (kernels use OpenBLAS there).

``codegen.mathlib_native`` registers it with its own helpers: kernels call it through the intrinsic
there, and it is made assembly once per process (0.13-0.17 s) and assembled into the kernels
calling it (``codegen.prebuilt``).  The planner imports this module
(:func:`use_own`): llvmlite and numba are imported only where the helper is built.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llvmlite import ir as llir

__all__ = ["AR", "WR", "SYMBOL", "available", "worth", "scratch_floats", "use_own", "helper_ir"]

# -- the planner's side (imports neither numba nor llvmlite) ------------------------------------------
AR = 32  # activation rows per packed panel (two zmm): result rows of a micro-kernel's tile
WR = 8  # weight rows per micro-kernel (broadcast): result columns of its tile

_AVX512: list[bool] = []


def available() -> bool:
    """Whether LLVM compiles kernels here for a CPU with AVX-512F (its 16-lane vectors would be
    split into pairs of AVX2 registers and spill elsewhere).  The CPU's features come from
    ``codegen.environment`` (kept in the cache's host stamp, so no ``llvmlite.binding`` import)."""
    if not _AVX512:
        from .environment import _llvm_host

        _AVX512.append("+avx512f" in _llvm_host()["features"].split(","))
    return _AVX512[0]


def worth(m: int) -> bool:
    """Whether ``m`` rows fill their panels well enough: at least one panel, padding at most 1/8
    of the rows computed (16 rows ran at 108 GFLOP/s against OpenBLAS's 139, 48 rows at 166
    against 177, 100 rows at 171 against 188; 64 and 128 rows 10-20% faster)."""
    rows = -(-m // AR) * AR
    return m >= AR and 8 * (rows - m) <= rows


def scratch_floats(m: int, k: int) -> int:
    """Floats of scratch a chunk needs for ``k`` columns of ``A``: one packed panel of :data:`AR`
    rows at a time (``m``: its rows, for the record; any number of panels reuse it)."""
    return AR * max(k, 1)


#: Rows a product by a ``Linear`` weight that is not swapped needs to run on ``gemm_wt_f32``: with
#: 512 rows it ran at 225 GFLOP/s against OpenBLAS's 209-220 (``python -m benchmarks.gemm_f32``);
#: a row block of two chunks then has 128 or more, its panels of 32 rows well filled.
MANY_ROWS = 256


def use_own(spec: Any, values: dict, many: bool = False) -> bool:
    """Whether matmul ``spec`` by a ``Linear`` weight ``W`` stored ``(out, in)``, read as ``W.T``, runs
    on ``gemm_wt_f32``: float32, ``A`` row-major, not batched, enough rows, on a CPU with AVX-512F.
    Swapped (``Gemm.swap``: few rows, column blocks), or with ``many`` not swapped, with at least
    :data:`MANY_ROWS` rows (row or column blocks); not one that must make NumPy's own calls
    (``exact``)."""
    from .blas import CBLAS_NO_TRANS, CBLAS_TRANS

    return (spec.dtype == "float32" and not spec.n_batch and not spec.conv and not spec.pool
            and not values.get("exact") and values.get("ta") == CBLAS_NO_TRANS
            and values.get("tb") == CBLAS_TRANS and worth(values["m"])
            and (not many or values["m"] >= MANY_ROWS) and available())


# -- the helper, in LLVM IR -------------------------------------------------------------------------
LANES = 16  # float32 lanes of a zmm register
#: The helper's symbol in kernel objects.
SYMBOL = "codegen.mathlib_gemm.gemm_wt_f32"



def _ir() -> tuple:
    """``llvmlite.ir`` (imported on first use: the planner imports this module too) and the types
    the helper uses: float, i32, i64, a vector of :data:`LANES` floats."""
    from llvmlite import ir

    f32 = ir.FloatType()
    return ir, f32, ir.IntType(32), ir.IntType(64), ir.VectorType(f32, LANES)


def _const(v: int) -> llir.Constant:
    llir, _, _, i64, _ = _ir()
    return llir.Constant(i64, v)


def _splat(builder: llir.IRBuilder, value: Any, lanes: int) -> Any:
    llir, _, i32, _, _ = _ir()
    vty = llir.VectorType(value.type, lanes)
    v = builder.insert_element(llir.Constant(vty, llir.Undefined), value, llir.Constant(i32, 0))
    return builder.shuffle_vector(v, llir.Constant(vty, llir.Undefined),
                                  llir.Constant(llir.VectorType(i32, lanes), [0] * lanes))


def _min(builder: llir.IRBuilder, a: Any, b: Any) -> Any:
    return builder.select(builder.icmp_signed("<", a, b), a, b)


def _ptr(builder: llir.IRBuilder, base: Any, index: Any, ty: Any = None) -> Any:
    """A ``ty*`` to float element ``index`` of the floats at integer address ``base``."""
    ty = _ir()[1] if ty is None else ty
    at = builder.add(base, builder.mul(index, _const(4)))
    return builder.inttoptr(at, ty.as_pointer())


class _Loop:
    """``for i in range(start, stop, step)`` (``step > 0``) as LLVM blocks: ``with _Loop(...) as i:``."""

    def __init__(self, builder: llir.IRBuilder, start: Any, stop: Any, step: int, name: str) -> None:
        self.b, self.start, self.stop, self.step, self.name = builder, start, stop, step, name

    def __enter__(self) -> Any:
        i64 = _ir()[3]
        b = self.b
        self.pre = b.block
        self.head = b.append_basic_block(f"{self.name}.head")
        self.body = b.append_basic_block(f"{self.name}.body")
        self.done = b.append_basic_block(f"{self.name}.done")
        b.branch(self.head)
        b.position_at_end(self.head)
        self.i = b.phi(i64, name=self.name)
        self.i.add_incoming(self.start, self.pre)
        b.cbranch(b.icmp_signed("<", self.i, self.stop), self.body, self.done)
        b.position_at_end(self.body)
        return self.i

    def __exit__(self, *exc: Any) -> None:
        b = self.b
        nxt = b.add(self.i, _const(self.step))
        self.i.add_incoming(nxt, b.block)
        b.branch(self.head)
        b.position_at_end(self.done)


def _accumulate(b: llir.IRBuilder, kdim: Any, rows: int, vectors: int, step: Any) -> list[list[Any]]:
    """The loop ``for k in range(kdim)`` of a micro-kernel over ``rows x vectors`` accumulators of
    :data:`LANES` floats, zero at first: ``step(k, accs)`` emits the loop's body (no blocks of its
    own) and returns the new accumulators.  Their values after the loop (zeros where ``kdim <= 0``);
    the builder is left after the loop."""
    llir, _, _, i64, vec = _ir()
    zero = llir.Constant(vec, None)
    entry = b.block
    loop = b.append_basic_block("k")
    done = b.append_basic_block("store")
    b.cbranch(b.icmp_signed(">", kdim, _const(0)), loop, done)
    b.position_at_end(loop)
    k = b.phi(i64)
    accs = [[b.phi(vec) for _ in range(vectors)] for _ in range(rows)]
    new = step(k, accs)
    k1 = b.add(k, _const(1))
    k.add_incoming(_const(0), entry)
    k.add_incoming(k1, loop)
    for i in range(rows):
        for j in range(vectors):
            accs[i][j].add_incoming(zero, entry)
            accs[i][j].add_incoming(new[i][j], loop)
    b.cbranch(b.icmp_signed("<", k1, kdim), loop, done)
    b.position_at_end(done)
    totals = [[b.phi(vec) for _ in range(vectors)] for _ in range(rows)]
    for i in range(rows):
        for j in range(vectors):
            totals[i][j].add_incoming(zero, entry)
            totals[i][j].add_incoming(new[i][j], loop)
    return totals


def _broadcast_fmas(b: llir.IRBuilder, fma: Any, rows: list, k: Any, vectors: list, accs: list) -> list[list[Any]]:
    """One ``k`` of a micro-kernel: each row's element ``rows[i][k]`` broadcast, times each of
    ``vectors``, added to ``accs[i][j]`` by ``fma``; the new accumulators."""
    lanes = vectors[0].type.count
    new = []
    for row, acc in zip(rows, accs):
        s = _splat(b, b.load(b.gep(row, [k]), align=4), lanes)
        new.append([b.call(fma, [s, v, a]) for v, a in zip(vectors, acc)])
    return new


def _module_text(module: llir.Module) -> str:
    """``module``'s IR text without its target and module lines (``codegen.prebuilt`` adds the
    process's target)."""
    return "\n".join(line for line in str(module).splitlines()
                     if not line.startswith(("target ", "; ModuleID", "source_filename")))


def _transpose_plan(rows: int, lanes: int) -> tuple[list, list]:
    """How ``rows`` vectors ``r_i`` of ``lanes`` lanes are transposed in registers: ``log2(rows)``
    rounds, each a list of ``(x, y, mask)`` (a new vector: ``shufflevector`` of vectors ``x`` and
    ``y``), interleaving groups of 1, 2, 4... lanes of two vectors that hold the same ``t`` for
    different ``i``; then, per ``t``, the vector holding all of ``r_0[t] .. r_{rows-1}[t]`` and
    their lanes in it (a last shuffle picks them out as ``rows`` lanes, in order)."""
    labels = [[(i, t) for t in range(lanes)] for i in range(rows)]
    rounds = []
    group = 1
    while group < rows:
        out, ops = [], []
        used = set()
        for x in range(len(labels)):
            if x in used:
                continue
            ts = {t for _, t in labels[x]}
            y = next(y for y in range(x + 1, len(labels)) if y not in used and {t for _, t in labels[y]} == ts
                     and not {i for i, _ in labels[x]} & {i for i, _ in labels[y]})
            used.update((x, y))
            for half in (0, 1):
                mask = []
                for q in range(lanes // (2 * group)):
                    start = (half * lanes // 2) + q * group
                    mask += [start + e for e in range(group)] + [lanes + start + e for e in range(group)]
                ops.append((x, y, mask))
                out.append([(labels[x] + labels[y])[m] for m in mask])
        rounds.append(ops)
        labels = out
        group *= 2
    where = {}
    for v, lab in enumerate(labels):
        for lane, (i, t) in enumerate(lab):
            where[(i, t)] = (v, lane)
    picks = []
    for t in range(lanes):
        v = where[(0, t)][0]
        assert all(where[(i, t)][0] == v for i in range(rows))
        picks.append((v, [where[(i, t)][1] for i in range(rows)]))
    return rounds, picks


def _micro(module: llir.Module) -> llir.Function:
    """``micro(w, ldw, nw, p, c, ldc, na, kdim)``: ``C[t, i] = sum_k P[k, t] * W[i, k]`` for ``t <
    na`` (rows of the packed panel ``P``, :data:`AR` of them) and ``i < nw`` (weight rows, at most
    :data:`WR`).  ``w``: address of the first weight row (``ldw`` floats apart); ``c``: of the
    tile's ``C[0, 0]``.  Weight rows past ``nw`` are never read (their pointers are row 0's) and
    nothing outside ``na x nw`` is written.  The ``WR x AR`` accumulators are transposed in
    registers and stored as rows of ``WR`` floats (masked)."""
    llir, _F32, _I32, _I64, _VEC = _ir()
    wr, nv, lanes = WR, AR // LANES, LANES
    rounds, picks = _transpose_plan(wr, lanes)
    narrow, mask_t = llir.VectorType(_F32, wr), llir.VectorType(llir.IntType(1), wr)
    fn = llir.Function(module, llir.FunctionType(llir.VoidType(), [_I64] * 8), "micro")
    fn.linkage = "internal"
    w, ldw, nw, p, c, ldc, na, kdim = fn.args
    b = llir.IRBuilder(fn.append_basic_block("entry"))
    fma = llir.Function(module, llir.FunctionType(_VEC, [_VEC] * 3), f"llvm.fmuladd.v{lanes}f32")
    mstore = llir.Function(module, llir.FunctionType(llir.VoidType(), [narrow, narrow.as_pointer(), _I32, mask_t]),
                           f"llvm.masked.store.v{wr}f32.p0")
    rows = []
    for i in range(wr):
        at = b.add(w, b.mul(ldw, _const(4 * i)))
        rows.append(b.inttoptr(b.select(b.icmp_signed("<", _const(i), nw), at, w), _F32.as_pointer()))
    bp = b.inttoptr(p, _F32.as_pointer())

    def step(k: Any, accs: list) -> list:  # P's 32 floats of row k times each weight row's W[i, k]
        base = b.mul(k, _const(nv * lanes))
        bv = [b.load(b.bitcast(b.gep(bp, [b.add(base, _const(j * lanes))]), _VEC.as_pointer()), align=4)
              for j in range(nv)]
        return _broadcast_fmas(b, fma, rows, k, bv, accs)

    totals = _accumulate(b, kdim, wr, nv, step)
    col_mask = b.icmp_signed("<", llir.Constant(llir.VectorType(_I64, wr), list(range(wr))), _splat(b, nw, wr))
    none = llir.Constant(mask_t, [0] * wr)
    for j in range(nv):
        vecs = [totals[i][j] for i in range(wr)]
        for ops in rounds:
            vecs = [b.shuffle_vector(vecs[x], vecs[y], llir.Constant(llir.VectorType(_I32, lanes), m))
                    for x, y, m in ops]
        for t, (v, lanes_of) in enumerate(picks):
            row = j * lanes + t
            out = b.shuffle_vector(vecs[v], llir.Constant(_VEC, llir.Undefined),
                                   llir.Constant(llir.VectorType(_I32, wr), lanes_of))
            mask = b.select(b.icmp_signed("<", _const(row), na), col_mask, none)
            ptr = _ptr(b, c, b.mul(ldc, _const(row)), narrow)
            b.call(mstore, [out, ptr, llir.Constant(_I32, 4), mask])
    b.ret_void()
    return fn


def _pack(module: llir.Module) -> llir.Function:
    """``pack(a, lda, rows, kdim, dst)``: ``dst[k * AR + r] = A[r, k]`` for ``r < rows <= AR``,
    ``k < kdim``, zeros for ``rows <= r < AR``: 16x16 tiles transposed in registers (rounds of
    interleaving row ``i`` with row ``i + 8``), the edges element by element."""
    llir, _F32, _I32, _I64, _VEC = _ir()
    fn = llir.Function(module, llir.FunctionType(llir.VoidType(), [_I64] * 5), "pack")
    fn.linkage = "internal"
    fn.attributes.add("optsize")  # its edge loops need not be vectorized or unrolled
    a, lda, rows, kdim, dst = fn.args
    b = llir.IRBuilder(fn.append_basic_block("entry"))
    lanes, half = LANES, LANES // 2
    lo = llir.Constant(llir.VectorType(_I32, lanes), [t // 2 + (t % 2) * lanes for t in range(lanes)])
    hi = llir.Constant(llir.VectorType(_I32, lanes), [half + t // 2 + (t % 2) * lanes for t in range(lanes)])
    rt = b.sub(rows, b.srem(rows, _const(lanes)))
    kt = b.sub(kdim, b.srem(kdim, _const(lanes)))

    def element(r: Any, k: Any) -> None:
        value = b.load(_ptr(b, a, b.add(b.mul(r, lda), k)), align=4)
        b.store(value, _ptr(b, dst, b.add(b.mul(k, _const(AR)), r)), align=4)

    with _Loop(b, _const(0), rt, lanes, "r0") as r0:
        with _Loop(b, _const(0), kt, lanes, "k0") as k0:
            src = b.add(b.mul(r0, lda), k0)
            vs = [b.load(_ptr(b, a, b.add(src, b.mul(lda, _const(i))), _VEC), align=4) for i in range(lanes)]
            for _ in range(lanes.bit_length() - 1):
                vs = [v for i in range(half) for v in (b.shuffle_vector(vs[i], vs[i + half], lo),
                                                       b.shuffle_vector(vs[i], vs[i + half], hi))]
            out = b.add(b.mul(k0, _const(AR)), r0)
            for i, v in enumerate(vs):
                b.store(v, _ptr(b, dst, b.add(out, _const(i * AR)), _VEC), align=4)
        with _Loop(b, kt, kdim, 1, "kr") as k:
            with _Loop(b, r0, b.add(r0, _const(lanes)), 1, "rr") as r:
                element(r, k)
    with _Loop(b, _const(0), kdim, 1, "ke") as k:
        with _Loop(b, rt, rows, 1, "re") as r:
            element(r, k)
        with _Loop(b, rows, _const(AR), 1, "rz") as r:
            b.store(llir.Constant(_F32, 0.0), _ptr(b, dst, b.add(b.mul(k, _const(AR)), r)), align=4)
    b.ret_void()
    return fn


def helper_ir() -> str:
    """The LLVM IR text defining ``gemm_wt_f32(a, lda, w, ldw, c, ldc, m, kdim, lo, hi, scratch)``:
    ``C[:m, lo:hi] = A[:m, :kdim] @ W[lo:hi, :kdim].T`` (integer addresses of ``A[0, 0]``,
    ``W[0, 0]``, ``C[0, 0]`` and of ``scratch``, room for ``mathlib_gemm.scratch_floats(m, kdim)``
    floats; leading dimensions in elements, rows contiguous)."""
    llir, _F32, _I32, _I64, _VEC = _ir()
    module = llir.Module()
    micro, pack = _micro(module), _pack(module)
    fn = llir.Function(module, llir.FunctionType(llir.VoidType(), [_I64] * 11), SYMBOL)
    fn.linkage = "weak_odr"
    fn.attributes.add("optsize")  # its edge loops need not be vectorized or unrolled
    a, lda, w, ldw, c, ldc, m, kdim, lo, hi, scratch = fn.args
    b = llir.IRBuilder(fn.append_basic_block("entry"))
    with _Loop(b, _const(0), m, AR, "q") as q:
        rows = _min(b, _const(AR), b.sub(m, q))
        b.call(pack, [b.add(a, b.mul(b.mul(q, lda), _const(4))), lda, rows, kdim, scratch])
        with _Loop(b, lo, hi, WR, "j0") as j0:
            nw = _min(b, _const(WR), b.sub(hi, j0))
            wrow = b.add(w, b.mul(b.mul(j0, ldw), _const(4)))
            corner = b.add(c, b.mul(b.add(b.mul(q, ldc), j0), _const(4)))
            b.call(micro, [wrow, ldw, nw, scratch, corner, ldc, rows, kdim])
    b.ret_void()
    return _module_text(module)
