"""Scalar helpers that generated kernels call (compiled with numba; imported only to compile).

* Raw memory access: ``ptr_<dtype>(address)`` turns an integer address into a typed pointer that
  indexes without bounds checks or wrap-around, so one kernel serves any strides and offsets.
* Vectorizable float32 ``exp``, ``tanh`` and ``erf``: polynomials with range reduction and no
  branches, so LLVM turns a loop that calls them into SIMD code.  The llvmlite here has no SVML,
  so ``np.exp``/``np.tanh`` in a numba loop are scalar libm calls, slower than NumPy's own loops.
  ``exp_f32`` and ``tanh_f32`` stay within 2 ulp of NumPy over the whole float32 range
  (``tests/codegen/test_mathlib.py``); ``erf_f32`` within 2 ulp of ``ir.ops`` ``erf``.
* NumPy's semantics where numba's differ: floor division and remainder (``npy_divmod``),
  integer division by zero (0), integer powers, NaN-propagating ``maximum``/``minimum``, ``sign``.
* ``pairwise_sum_*``: NumPy's pairwise summation, in NumPy's exact order, so sums and means over a
  contiguous axis give NumPy's bits.

Kernels must never raise (they run as C functions), so nothing here raises.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir as llir
from numba import njit, types
from numba.core.extending import intrinsic

__all__ = [
    "DTYPES", "erf_f32", "exp_f32", "tanh_f32", "floordiv_f32", "mod_f32", "floordiv_f64", "mod_f64", "floordiv_int",
    "mod_int", "ipow", "maximum", "minimum", "fmax", "fmin", "sign", "pairwise_sum_f32", "pairwise_sum_f64",
    "transpose_copy_f32", "transpose_copy_f64", "max_nonnan", "min_nonnan", "NAMESPACE", "compile_helpers",
]

#: dtype name -> numba type of how it is stored in memory (bool is one byte).
DTYPES = {
    "float32": types.float32, "float64": types.float64,
    "int8": types.int8, "int16": types.int16, "int32": types.int32, "int64": types.int64,
    "uint8": types.uint8, "uint16": types.uint16, "uint32": types.uint32, "uint64": types.uint64,
    "bool": types.uint8,
}


# -- intrinsics -----------------------------------------------------------------------------------


def _pointer_intrinsic(nbtype: types.Type):
    @intrinsic
    def as_ptr(typingctx, address):
        if not isinstance(address, types.Integer):
            return None
        sig = types.CPointer(nbtype)(address)

        def codegen(context, builder, signature, args):
            return builder.inttoptr(args[0], context.get_value_type(signature.return_type))

        return sig, codegen

    return as_ptr


_PTRS = {f"ptr_{name}": _pointer_intrinsic(nb) for name, nb in DTYPES.items()}


def _fmuladd(nbtype: types.Type):
    """``a * b + c``, fused where the CPU can (``llvm.fmuladd``)."""

    @intrinsic
    def fma(typingctx, a, b, c):
        sig = nbtype(nbtype, nbtype, nbtype)

        def codegen(context, builder, signature, args):
            ty = context.get_value_type(nbtype)
            fn = builder.module.declare_intrinsic("llvm.fmuladd", [ty], llir.FunctionType(ty, [ty, ty, ty]))
            return builder.call(fn, args)

        return sig, codegen

    return fma


def _bitcast(source: types.Type, target: types.Type):
    """Reinterpret the bits of a ``source`` scalar as a ``target`` scalar of the same size."""

    @intrinsic
    def cast(typingctx, x):
        sig = target(source)

        def codegen(context, builder, signature, args):
            return builder.bitcast(args[0], context.get_value_type(target))

        return sig, codegen

    return cast


def _select_intrinsic(cmp: str):
    """``b if b <cmp> a else a`` for floats ``a`` and ``b`` that are not NaN (a NaN makes the result
    undefined): the compare and select carry LLVM's ``nnan nsz`` flags, so that LLVM vectorizes a
    max or min reduction over it (``vmaxps``), which it never does for the plain select.  A kernel
    uses it only where a NaN flag of its own decides the result when a NaN was seen."""

    @intrinsic
    def op(typingctx, a, b):
        if not isinstance(a, types.Float) or a != b:
            return None

        def codegen(context, builder, signature, args):
            flags = ("nnan", "nsz")
            return builder.select(builder.fcmp_ordered(cmp, args[1], args[0], flags=flags), args[1], args[0],
                                  flags=flags)

        return a(a, b), codegen

    return op


max_nonnan, min_nonnan = _select_intrinsic(">"), _select_intrinsic("<")
_fma32, _fma64 = _fmuladd(types.float32), _fmuladd(types.float64)
_f32_as_i32, _i32_as_f32 = _bitcast(types.float32, types.int32), _bitcast(types.int32, types.float32)
_i64_as_f64 = _bitcast(types.int64, types.float64)


# -- BLAS calls through a function pointer --------------------------------------------------------


def _gemm_intrinsic(double: bool, ilp64: bool):
    """``gemm(fn, trans_a, trans_b, m, n, k, a, lda, b, ldb, c, ldc)``: C = A @ B, row-major.

    ``fn`` is the address of ``cblas_sgemm``/``cblas_dgemm`` (from ``codegen.blas``), pointers are
    integer addresses; ``ilp64`` selects 64-bit BLAS integers.
    """

    @intrinsic
    def gemm(typingctx, fn, ta, tb, m, n, k, a, lda, b, ldb, c, ldc):
        sig = types.void(*([types.int64] * 12))

        def codegen(context, builder, signature, args):
            i32 = llir.IntType(32)
            iN = llir.IntType(64 if ilp64 else 32)
            fl = llir.DoubleType() if double else llir.FloatType()
            ptr = llir.IntType(8).as_pointer()
            fnty = llir.FunctionType(llir.VoidType(), [i32, i32, i32, iN, iN, iN, fl, ptr, iN, ptr, iN, fl, ptr, iN])
            f = builder.inttoptr(args[0], fnty.as_pointer())

            def integer(v):
                return v if ilp64 else builder.trunc(v, iN)

            call = [llir.Constant(i32, 101), builder.trunc(args[1], i32), builder.trunc(args[2], i32),
                    integer(args[3]), integer(args[4]), integer(args[5]), llir.Constant(fl, 1.0),
                    builder.inttoptr(args[6], ptr), integer(args[7]), builder.inttoptr(args[8], ptr),
                    integer(args[9]), llir.Constant(fl, 0.0), builder.inttoptr(args[10], ptr), integer(args[11])]
            builder.call(f, call)
            return context.get_dummy_value()

        return sig, codegen

    return gemm


_GEMMS = {f"gemm_{t}_{abi}": _gemm_intrinsic(t == "f64", abi == "ilp64")
          for t in ("f32", "f64") for abi in ("ilp64", "lp64")}


# -- float32 transcendental functions -------------------------------------------------------------
#
# exp and tanh compute in float32 (8 SIMD lanes on AVX2) and are within 1 ulp of the correctly
# rounded result.  erf evaluates its polynomials in float64 and rounds once (within 1 ulp too).
# Measured on the 2-core AMD EPYC (Zen 1) dev machine, per element in cache: exp 2.2 ns against
# NumPy's 4.2 ns, tanh 4.0 ns against 7.6 ns, erf 5.7 ns against ir.ops' NumPy erf 56 ns.  A float64
# exp that rounds correctly everywhere costs 3.6-4.3 ns here (float64 SIMD is half as wide), no
# faster than NumPy, so the float32 versions are what kernels use.

_F = np.float32
_LOG2E = _F(1.442695040888963)
_LN2_HI = _F(0.693145751953125)
_LN2_LO = _F(1.428606765330187045e-06)
_ROUNDER = _F(12582912.0)  # 1.5 * 2**23: adding it rounds to an integer kept in the low mantissa bits
_ROUNDER_BITS = 0x4B400000


@njit(inline="always")
def exp_f32(x):
    """``exp`` of a float32: Cody-Waite reduction by ln 2, degree-6 polynomial, ``2**q`` from bits.

    ``inf`` above 88.72, 0 (through the subnormals) below -103.97, NaN stays NaN.
    """
    d = min(max(x, _F(-104.0)), _F(104.0))
    t = d * _LOG2E + _ROUNDER
    q = t - _ROUNDER  # round(d / ln 2) without a float-to-int conversion
    qi = _f32_as_i32(t) - _ROUNDER_BITS
    s = _fma32(q, -_LN2_HI, d)
    s = _fma32(q, -_LN2_LO, s)
    u = _F(0.000198527617612853646278381)
    u = _fma32(u, s, _F(0.00139304355252534151077271))
    u = _fma32(u, s, _F(0.00833336077630519866943359))
    u = _fma32(u, s, _F(0.0416664853692054748535156))
    u = _fma32(u, s, _F(0.166666671633720397949219))
    u = _fma32(u, s, _F(0.5))
    u = _F(1.0) + _fma32(s * s, u, s)
    h = qi >> 1  # 2**q in two factors so that q down to -150 (subnormal results) works
    u = u * _i32_as_f32((h + 127) << 23) * _i32_as_f32((qi - h + 127) << 23)
    if x > _F(88.72284):
        u = _F(np.inf)
    if x != x:
        u = x
    return u


@njit(inline="always")
def tanh_f32(x):
    """``tanh`` of a float32: an odd polynomial below 0.625, ``1 - 2 / (exp(2|x|) + 1)`` above."""
    a = abs(x)
    big = _F(1.0) - _F(2.0) / (exp_f32(min(a + a, _F(20.0))) + _F(1.0))
    z = x * x
    p = _F(-5.70498872745e-3)
    p = _fma32(p, z, _F(2.06390887954e-2))
    p = _fma32(p, z, _F(-5.37397155531e-2))
    p = _fma32(p, z, _F(1.33314422036e-1))
    p = _fma32(p, z, _F(-3.33332819422e-1))
    small = _fma32(p * z, x, x)
    r = math.copysign(big if a >= _F(0.625) else small, x)  # also keeps the sign of zero
    if x != x:
        r = x
    return r


# erf(x)/x on 0 <= x < 2 as a polynomial in u = x*x/2 - 1, and 1 - erf(x) on 2 <= x < 4 as one in
# v = x - 3 (Chebyshev fits to ir.ops.nn's float64 erf; errors 2e-9 relative and 7e-10 absolute).
_S0, _S1, _S2, _S3, _S4, _S5, _S6, _S7, _S8, _S9, _S10 = (
    0.6749332360174978, -0.26111186430749167, 0.11947914033520146, -0.048662704471708174,
    0.01712832305310323, -0.005235312136042963, 0.0014051886492846956, -0.00033409024954832894,
    7.160418534901889e-05, -1.5044866224600531e-05, 2.6574629180634135e-06,
)
_B0, _B1, _B2, _B3, _B4, _B5, _B6, _B7, _B8, _B9, _B10, _B11, _B12 = (
    2.2090535082577747e-05, -0.00013925173217276855, 0.00041775515066946856, -0.0007891395024951584,
    0.0010444661129803278, -0.001016225587151167, 0.0007376079918460795, -0.00039168699584928886,
    0.00013608095889714703, -1.2103384267340156e-05, -1.7624392607987044e-05, 9.547915057613102e-06,
    -1.5013369954228913e-06,
)


@njit(inline="always")
def erf_f32(x):
    """The error function of a float32; both branches are evaluated and one selected."""
    d = np.float64(x)
    a = min(abs(d), 4.0)
    u = _fma64(a, a * 0.5, -1.0)
    # Estrin's scheme: the two polynomials in a few independent steps, not two Horner chains of 10
    # and 12 dependent FMAs (which left the SIMD loop waiting on latency: 0.83 -> 0.6 ns per element)
    u2 = u * u
    u4 = u2 * u2
    p = _fma64(_fma64(_fma64(_S7, u, _S6), u2, _fma64(_S5, u, _S4)), u4,
               _fma64(_fma64(_S3, u, _S2), u2, _fma64(_S1, u, _S0)))
    p = _fma64(_fma64(_S10, u2, _fma64(_S9, u, _S8)), u4 * u4, p)
    v = a - 3.0
    v2 = v * v
    v4 = v2 * v2
    q = _fma64(_fma64(_fma64(_B7, v, _B6), v2, _fma64(_B5, v, _B4)), v4,
               _fma64(_fma64(_B3, v, _B2), v2, _fma64(_B1, v, _B0)))
    q = _fma64(_fma64(_B12, v4, _fma64(_fma64(_B11, v, _B10), v2, _fma64(_B9, v, _B8))), v4 * v4, q)
    r = p * a if a < 2.0 else 1.0 - q
    r = np.float32(math.copysign(r, d))
    if x != x:
        r = x
    return r


# -- NumPy's arithmetic semantics -----------------------------------------------------------------


def _make_divmod(ftype):
    zero = ftype(0.0)
    one = ftype(1.0)
    half = ftype(0.5)

    @njit(inline="always")
    def divmod_(a, b):
        """NumPy's ``npy_divmod`` in ``ftype``: floor quotient and Python-signed remainder."""
        mod = np.fmod(a, b)
        if b == zero:
            return a / b, mod
        div = (a - mod) / b
        if mod != zero:
            if (b < zero) != (mod < zero):
                mod += b
                div -= one
        else:
            mod = np.copysign(zero, b)
        if div != zero:
            floordiv = np.floor(div)
            if div - floordiv > half:
                floordiv += one
        else:
            floordiv = np.copysign(zero, a / b)
        return floordiv, mod

    @njit(inline="always")
    def floordiv(a, b):
        return divmod_(a, b)[0]

    @njit(inline="always")
    def mod(a, b):
        return divmod_(a, b)[1]

    return floordiv, mod


floordiv_f32, mod_f32 = _make_divmod(np.float32)
floordiv_f64, mod_f64 = _make_divmod(np.float64)


@njit(inline="always")
def floordiv_int(a, b):
    """Python's floor division; 0 for a zero divisor and ``-a`` for ``-1`` (no overflow trap)."""
    if b == 0:
        return a - a
    if b == -1:
        return -a
    q = a // b
    return q


@njit(inline="always")
def mod_int(a, b):
    """Python's remainder (sign of the divisor); 0 for a zero divisor."""
    if b == 0 or b == -1:
        return a - a
    return a % b


@njit(inline="always")
def ipow(a, b):
    """``a ** b`` for integers by squaring, wrapping like NumPy; callers ensure ``b >= 0``."""
    result = a - a + 1
    base = a
    e = b
    while e > 0:
        if e & 1:
            result = result * base
        base = base * base
        e >>= 1
    return result


@njit(inline="always")
def maximum(a, b):
    """``np.maximum``: NaN if either is NaN."""
    return a if (a >= b or a != a) else b


@njit(inline="always")
def minimum(a, b):
    """``np.minimum``: NaN if either is NaN."""
    return a if (a <= b or a != a) else b


@njit(inline="always")
def fmax(a, b):
    """``np.fmax``: ignores a NaN operand."""
    return a if (a >= b or b != b) else b


@njit(inline="always")
def fmin(a, b):
    """``np.fmin``: ignores a NaN operand."""
    return a if (a <= b or b != b) else b


@njit(inline="always")
def sign(a):
    """``np.sign``: -1, 0 or 1 in ``a``'s type, NaN for NaN."""
    one = a - a + 1
    if a > 0:
        return one
    if a < 0:
        return -one
    return a - a if a == a else a


from .mathlib_native import (  # noqa: E402
    compile_helpers,
    gemm_nn_f32,
    gemm_taps_f32,
    gemm_wt_f32,
    pairwise_sum_f32,
    pairwise_sum_f64,
    transpose_copy_f32,
    transpose_copy_f64,
)
from .mathlib_windows import pool_max_f32, pool_max_f64, row_copy_f32, row_copy_f64  # noqa: E402

#: Every name a generated kernel may use, for the namespace it is compiled in.
NAMESPACE: dict[str, object] = {
    "np": np, "math": math, "exp_f32": exp_f32, "tanh_f32": tanh_f32, "erf_f32": erf_f32,
    "floordiv_f32": floordiv_f32, "mod_f32": mod_f32, "floordiv_f64": floordiv_f64, "mod_f64": mod_f64,
    "floordiv_int": floordiv_int, "mod_int": mod_int, "ipow": ipow,
    "maximum": maximum, "minimum": minimum, "fmax": fmax, "fmin": fmin, "sign": sign,
    "pairwise_sum_f32": pairwise_sum_f32, "pairwise_sum_f64": pairwise_sum_f64, "gemm_wt_f32": gemm_wt_f32,
    "gemm_nn_f32": gemm_nn_f32, "gemm_taps_f32": gemm_taps_f32,
    "bits_to_f64": _i64_as_f64, "pool_max_f32": pool_max_f32, "pool_max_f64": pool_max_f64,
    "transpose_copy_f32": transpose_copy_f32, "transpose_copy_f64": transpose_copy_f64,
    "max_nonnan": max_nonnan, "min_nonnan": min_nonnan, "row_copy_f32": row_copy_f32, "row_copy_f64": row_copy_f64,
    **_PTRS,
    **_GEMMS,
}
