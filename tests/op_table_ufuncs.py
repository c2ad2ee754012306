"""Op-table entries for every NumPy ufunc, its methods (reduce, accumulate, outer) and its keyword arguments (dtype=).

Each entry is one ``sample(...)`` (or ``error(...)``) call, as in :mod:`tests.op_table`.  Also
the scans, sorting, rounding and ``np.linalg`` ops (``ir/ops/scan.py``, ``ir/ops/linalg_fns.py``).
Numba compiles a kernel per sample of a Scalar-lowered op, so those get one sample each and a
representative few get dtype and broadcasting variants.
"""

from __future__ import annotations

import numpy as np

from tests.op_table import b, error, f32, f64, i32, i64, nz_i32, pos32, sample, unit32


def _ge1(*shape: int) -> np.ndarray:
    return pos32(*shape) + 1.0


# -- unary ufuncs (Scalar lowerings: one sample each, a few variants) --------------------------------
for _name, _gen in (("fabs", f32), ("conjugate", f32), ("cbrt", f32), ("arcsinh", f32), ("arccosh", _ge1),
                    ("deg2rad", f32), ("rad2deg", f32), ("degrees", f32), ("radians", f32)):
    _uf = getattr(np, _name)
    sample(_name, lambda x, _uf=_uf: _uf(x), _gen(3, 4), other=(_gen(5, 4),))
sample("fabs", lambda x: np.fabs(x), i32(5), id="fabs-int")
sample("cbrt", lambda x: np.cbrt(x), f64(6) * 10, id="cbrt-f64")
sample("conjugate", lambda x: np.conj(x), i32(4), id="conjugate-conj-int")
sample("arcsinh", lambda x: np.asinh(x), f64(5), id="arcsinh-asinh-f64")
sample("arccosh", lambda x: np.acosh(x), np.array([1.0, np.inf, 1.5, np.nan]), id="arccosh-special")
sample("spacing", lambda x: np.spacing(x), f32(3, 4), other=(f32(2, 4),))
sample("spacing", lambda x: np.spacing(x), np.array([0.0, -1.0, np.inf, 1e300]), id="spacing-f64")
sample("bitwise_count", lambda x: np.bitwise_count(x), i32(3, 4, lo=-1000, hi=1000))
sample("bitwise_count", lambda x: np.bitwise_count(x), i64(5, lo=-(2**40), hi=2**40), id="bitwise_count-i64")

# -- binary ufuncs ---------------------------------------------------------------------------------
sample("logaddexp", lambda x, y: np.logaddexp(x, y), f32(3, 4), f32(4), other=(f32(6, 4), f32(4)))
sample("logaddexp", lambda x: np.logaddexp(x, 0.5), f64(6), id="logaddexp-f64-pyfloat")
sample("logaddexp", lambda x, y: np.logaddexp(x, y), np.array([-np.inf, np.inf, 1.0, 3.0], np.float32),
       np.array([-np.inf, np.inf, 1.0, 2.0], np.float32), id="logaddexp-special")
sample("logaddexp2", lambda x, y: np.logaddexp2(x, y), f32(3, 4), f32(3, 1), other=(f32(2, 4), f32(2, 1)))
sample("heaviside", lambda x: np.heaviside(x, 0.5), np.array([-1.5, 0.0, 2.0, np.nan, -0.0], np.float32))
sample("heaviside", lambda x, h: np.heaviside(x, h), i32(4, lo=-1, hi=2), f64(4), id="heaviside-int-f64")
sample("float_power", lambda x, y: np.float_power(x, y), pos32(3, 4), f32(4), other=(pos32(2, 4), f32(4)))
sample("float_power", lambda x: np.float_power(x, 2), i32(5), id="float_power-int")
sample("fmod", lambda x, y: np.fmod(x, y), f32(3, 4), pos32(4), other=(f32(5, 4), pos32(4)))
sample("fmod", lambda x, y: np.fmod(x, y), i32(3, 4), nz_i32(4), id="fmod-int")
sample("gcd", lambda x, y: np.gcd(x, y), i32(3, 4, lo=-30, hi=30), i64(4, lo=-30, hi=30),
       other=(i32(2, 4), i64(4)))
sample("gcd", lambda x: np.gcd(x, 12), i32(6, lo=-30, hi=30), id="gcd-pyint")
sample("lcm", lambda x, y: np.lcm(x, y), i32(3, 4, lo=-30, hi=30), i32(4, lo=-30, hi=30))
sample("left_shift", lambda x, y: np.left_shift(x, y), i32(3, 4), i32(4, lo=0, hi=31))
sample("left_shift", lambda x: x << 3, i64(5), id="left_shift-operator")
sample("left_shift", lambda x: np.bitwise_left_shift(x, 2), i64(5).astype(np.uint8), id="left_shift-uint8")
sample("right_shift", lambda x, y: np.right_shift(x, y), i32(3, 4, lo=-1000, hi=1000), i32(4, lo=0, hi=31))
sample("right_shift", lambda x: x >> 2, i64(5, lo=-100, hi=100), id="right_shift-operator")
sample("right_shift", lambda x: 1024 >> x, i64(5, lo=0, hi=10), id="right_shift-reflected")
sample("ldexp", lambda x, e: np.ldexp(x, e), f32(3, 4), i32(4, lo=-5, hi=5), other=(f32(6, 4), i32(4)))
sample("ldexp", lambda x: np.ldexp(x, 3), f64(4), id="ldexp-pyint")
sample("nextafter", lambda x, y: np.nextafter(x, y), f32(3, 4), f32(4))
sample("nextafter", lambda x: np.nextafter(x, np.inf), f64(4), id="nextafter-f64")

# -- two outputs -----------------------------------------------------------------------------------
sample("divmod", lambda x, y: np.divmod(x, y), i32(3, 4), nz_i32(4), other=(i32(5, 4), nz_i32(4)))
sample("divmod", lambda x: divmod(x, 0.75), f32(3, 4), id="divmod-builtin")
sample("divmod", lambda x: divmod(7, x), nz_i32(5), id="divmod-builtin-reflected")
sample("divmod", lambda x: np.divmod(x, 3)[1], f64(4) * 10, id="divmod-index")
sample("modf", lambda x: np.modf(x), f32(3, 4) * 5, other=(f32(2, 4),))
sample("modf", lambda x: np.modf(x)[0] + 1, np.array([-2.5, np.inf, -0.0, np.nan]), id="modf-special")
sample("frexp", lambda x: np.frexp(x), f32(3, 4) * 100, other=(f32(1, 4),))
sample("frexp", lambda x: np.frexp(x)[1], f64(5), id="frexp-f64")

# -- generalized ufuncs ----------------------------------------------------------------------------
if hasattr(np, "vecdot"):
    sample("vecdot", lambda x, y: np.vecdot(x, y), f32(3, 4), f32(4), other=(f32(5, 4), f32(4)))
    sample("vecdot", lambda x, y: np.vecdot(x, y), i32(2, 1, 3), f64(4, 3), id="vecdot-broadcast")
if hasattr(np, "matvec"):
    sample("matvec", lambda a, v: np.matvec(a, v), f32(2, 3, 4), f32(4), other=(f32(5, 3, 4), f32(4)))
    sample("vecmat", lambda v, a: np.vecmat(v, a), f32(3), f32(2, 3, 4))
    error("matvec", lambda a, v: np.matvec(a, v), f32(3, 4), f32(5), match="matvec")

# -- ufunc keywords: dtype=, signature=, casting=, order= ------------------------------------------
sample("add", lambda x, y: np.add(x, y, dtype=np.float64), f32(3, 4), f32(4), other=(f32(2, 4), f32(4)),
       id="add-dtype")
sample("mul", lambda x: np.multiply(x, x, dtype=np.float32), i32(3, 4, lo=-3000, hi=3000), id="mul-dtype-int")
sample("astype", lambda x: np.add(x, 2.5, dtype="float64"), i32(4), id="astype-ufunc-dtype-str")
sample("exp", lambda x: np.exp(x, dtype=np.float32), i32(5, lo=-3, hi=3), id="exp-dtype")
sample("add", lambda x: np.add(x, x, dtype=np.int16, casting="unsafe"), f32(6) * 100, id="add-dtype-unsafe")
sample("lt", lambda x: np.less(x, 0.5, dtype=bool), f32(5), id="lt-dtype-bool")
sample("ldexp", lambda x, e: np.ldexp(x, e, dtype=np.float64), f32(4), i32(4, lo=-3, hi=3), id="ldexp-dtype")
sample("divmod", lambda x: np.divmod(x, 4, dtype=np.int64), i32(5), id="divmod-dtype")
sample("add", lambda x, y: np.add(x, y, signature=(None, None, np.float64)), i32(3), f32(3), id="add-signature")
sample("add", lambda x, y: np.add(x, y, casting="no", order="C"), f32(3), f32(3), id="add-casting-no")
error("add", lambda x: np.add(x, x, dtype=np.int32), f32(3), match="cast")
error("add", lambda x, y: np.add(x, y, casting="no"), f32(3), f64(3), match="casting")
error("isnat", lambda x: np.isnat(x), f32(3), match="datetime64")
error("gcd", lambda x: np.gcd(x, 2), f32(3), match="gcd")

# -- ufunc.reduce ----------------------------------------------------------------------------------
sample("sum", lambda x: np.add.reduce(x), f32(3, 4), other=(f32(6, 4),), id="sum-add-reduce")
sample("sum", lambda x: np.add.reduce(x, axis=None, dtype=np.float64), f32(3, 4), id="sum-add-reduce-dtype")
sample("sum", lambda x: np.add.reduce(x, axis=1), i32(3, 4).astype(np.int8), id="sum-add-reduce-int8")
sample("prod", lambda x: np.multiply.reduce(x, axis=-1, keepdims=True), f32(3, 4), id="prod-multiply-reduce")
sample("max", lambda x: np.maximum.reduce(x, axis=1), f32(3, 4), other=(f32(5, 4),), id="max-maximum-reduce")
sample("min", lambda x: np.minimum.reduce(x, (0, 1)), f32(3, 4), id="min-minimum-reduce")
sample("all", lambda x: np.logical_and.reduce(x, axis=0), np.array([[0.0, 1.5], [np.nan, 2.0]]),
       id="all-logical_and-reduce")
sample("any", lambda x: np.logical_or.reduce(x, axis=1), b(3, 4), id="any-logical_or-reduce")
sample("ufunc_reduce", lambda x: np.logaddexp.reduce(x, axis=-1), f32(3, 4), other=(f32(5, 4),))
sample("ufunc_reduce", lambda x: np.maximum.reduce(x, axis=None, initial=0.5), f32(3, 4), id="ufunc_reduce-initial")
sample("ufunc_reduce", lambda x: np.bitwise_or.reduce(x, axis=0, keepdims=True), i32(4, 3), id="ufunc_reduce-or")
sample("ufunc_reduce", lambda x: np.subtract.reduce(x, axis=1), i64(3, 5), id="ufunc_reduce-subtract")
sample("ufunc_reduce", lambda x: np.logical_and.reduce(x, dtype=bool), f32(4, 2), id="ufunc_reduce-dtype")
error("ufunc_reduce", lambda x: np.logaddexp.reduce(x, axis=2), f32(3, 4), match="axis")

# -- ufunc.accumulate and the scans ----------------------------------------------------------------
sample("cumsum", lambda x: np.cumsum(x), f32(3, 4), other=(f32(5, 4),))
sample("cumsum", lambda x: x.cumsum(axis=1), f32(3, 4), other=(f32(2, 4),), id="cumsum-method")
sample("cumsum", lambda x: np.cumsum(x, axis=0, dtype=np.float64), f32(5, 2), id="cumsum-dtype")
sample("cumsum", lambda x: np.cumsum(x, 0), i32(6), id="cumsum-int32")
sample("cumsum", lambda x: x.cumsum(), b(5), id="cumsum-bool")
sample("cumsum", lambda x: np.add.accumulate(x, axis=1), i32(3, 4), id="cumsum-add-accumulate")
sample("cumprod", lambda x: np.cumprod(x, axis=-1), unit32(3, 4), other=(unit32(6, 4),))
sample("cumprod", lambda x: x.cumprod(), i64(6, lo=-3, hi=3), id="cumprod-method")
sample("cumprod", lambda x: np.multiply.accumulate(x), f64(4, 2), id="cumprod-multiply-accumulate")
sample("ufunc_accumulate", lambda x: np.maximum.accumulate(x, axis=1), f32(3, 4), other=(f32(5, 4),))
sample("ufunc_accumulate", lambda x: np.logaddexp.accumulate(x), f64(5, 2), id="ufunc_accumulate-logaddexp")
sample("ufunc_accumulate", lambda x: np.subtract.accumulate(x, dtype=np.float32), i32(6), id="ufunc_accumulate-dtype")
error("cumsum", lambda x: np.cumsum(x, axis=2), f32(3, 4), match="axis")

# -- ufunc.outer: ufunc(a[..., None], b) -----------------------------------------------------------
sample("add", lambda x, y: np.add.outer(x, y), f32(3), f32(4), other=(f32(5), f32(2)), id="add-outer")
sample("sub", lambda x: np.subtract.outer(x, 2.5), f32(3, 2), id="sub-outer-pyfloat")
sample("mul", lambda x, y: np.multiply.outer(x, y), f32(2, 3), i32(2, 2), id="mul-outer-2d")
sample("maximum", lambda x, y: np.maximum.outer(x, y), i32(3), i32(4), id="maximum-outer")
sample("logaddexp", lambda x, y: np.logaddexp.outer(x, y, dtype=np.float64), f32(3), f32(2), id="logaddexp-outer")

# -- sorting and rounding --------------------------------------------------------------------------
sample("sort", lambda x: np.sort(x), f32(3, 4), other=(f32(5, 4),))
sample("sort", lambda x: np.sort(x, axis=0, kind="stable"), i32(5, 3), id="sort-axis0-stable")
sample("sort", lambda x: np.sort(x, axis=None), f32(3, 4), other=(f32(2, 4),), id="sort-flat")
sample("sort", lambda x: np.sort(x, stable=True), np.array([3.0, np.nan, -0.0, 0.0, -np.inf]), id="sort-nan")
sample("argsort", lambda x: np.argsort(x), f32(3, 4), other=(f32(2, 4),))
sample("argsort", lambda x: x.argsort(axis=0, kind="stable"), i32(6, 2, lo=0, hi=3), id="argsort-method-stable")
sample("argsort", lambda x: np.argsort(x, axis=None), f32(2, 3), id="argsort-flat")
sample("round", lambda x: np.round(x, 2), f32(3, 4) * 10, other=(f32(5, 4),))
sample("round", lambda x: np.around(x), np.array([0.5, 1.5, 2.5, -0.5, -1.5]), id="round-half-even")
sample("round", lambda x: x.round(-1), i32(5, lo=-100, hi=100), id="round-method-int")
sample("round", lambda x: x.round(decimals=1), f64(4) * 3, id="round-method-f64")
error("sort", lambda x: np.sort(x, axis=2), f32(3, 4), match="axis")
error("argsort", lambda x: np.argsort(x, axis=-3), f32(3, 4), match="axis")

# -- np.linalg --------------------------------------------------------------------------------------
sample("norm", lambda x: np.linalg.norm(x), f32(3, 4), other=(f32(5, 4),))
sample("norm", lambda x: np.linalg.norm(x, axis=-1, keepdims=True), f32(3, 4), other=(f32(2, 4),), id="norm-axis")
sample("norm", lambda x: np.linalg.norm(x, ord=1, axis=0), f64(3, 4), id="norm-ord1")
sample("norm", lambda x: np.linalg.norm(x, ord="fro"), f32(3, 4), id="norm-fro")
sample("norm", lambda x: np.linalg.norm(x, ord=np.inf), i32(5), id="norm-inf-int")
sample("norm", lambda x: np.linalg.norm(x, ord=2, axis=(1, 2)), f64(2, 3, 3), id="norm-matrix-2")
sample("inv", lambda a: np.linalg.inv(a), f64(4, 4) + 4 * np.eye(4), other=(f64(4, 4) + 4 * np.eye(4),))
sample("inv", lambda a: np.linalg.inv(a), (f32(2, 3, 3) + 3 * np.eye(3)).astype(np.float32), id="inv-batched-f32")
sample("solve", lambda a, v: np.linalg.solve(a, v), f64(3, 3) + 3 * np.eye(3), f64(3))
sample("solve", lambda a, m: np.linalg.solve(a, m), (f32(2, 3, 3) + 3 * np.eye(3)).astype(np.float32), f32(3, 2),
       id="solve-batched-matrix")
sample("det", lambda a: np.linalg.det(a), f64(3, 3), other=(f64(3, 3),))
sample("det", lambda a: np.linalg.det(a), f32(4, 2, 2), other=(f32(6, 2, 2),), id="det-batched")
sample("det", lambda a: np.linalg.det(a), i32(3, 3, lo=-3, hi=3), id="det-int")
error("inv", lambda a: np.linalg.inv(a), f32(3, 4), match="square")
error("solve", lambda a, v: np.linalg.solve(a, v), f64(3, 3), f64(4), match="solve")
error("det", lambda a: np.linalg.det(a), f32(3), match="dimension")
error("norm", lambda x: np.linalg.norm(x, ord=2), f32(2, 3, 4), match="dimensions")
