"""Lowering rules for the other ufuncs (``ir/ops/ufuncs.py``), scans, sorting and ``np.linalg``.

Filled into :data:`codegen.lowering.LOWER` like the rules there: ``Scalar`` where a kernel gives
NumPy's numbers within SPEC's tolerance, ``Host`` (the NumPy reference) for the rest.
"""

from __future__ import annotations

import math

from .lowering import Emit, Host, Scalar, _fast_or_libm, _float_only, _reg

_reg("fabs", Scalar(lambda c, x: f"abs({x})"))
_reg("conjugate", Scalar(lambda c, x: x, accepts=lambda c, x: not c.is_bool))
for _fn in ("cbrt", "arcsinh", "arccosh"):
    _reg(_fn, _fast_or_libm(None, _fn))
_reg("deg2rad radians", Scalar(lambda c, x: f"{x} * {c.lit(math.pi / 180.0)}", accepts=lambda c, x: c.is_float))
_reg("rad2deg degrees", Scalar(lambda c, x: f"{x} * {c.lit(180.0 / math.pi)}", accepts=lambda c, x: c.is_float))
_reg("float_power", Scalar(lambda c, x, y: f"{x} ** {y}", accepts=lambda c, x, y: c.is_float))
_reg("fmod", _float_only("fmod"))


def _logaddexp(log1p_of: str, same: float, scale: float = 1.0) -> Scalar:
    # npy_logaddexp / npy_logaddexp2 (numpy/_core/src/npymath): equal inputs (also infinities of
    # one sign) add log(2); otherwise the larger plus log1p(exp(-|x - y|)); NaN stays NaN
    def emit(c: Emit, x: str, y: str) -> str:
        d = f"({x} - {y})"
        k = "" if scale == 1.0 else f"{c.lit(scale)} * "
        return (f"({x} + {c.lit(same)} if {x} == {y} else ({x} + {k}np.log1p({log1p_of.format(f'-{d}')}) "
                f"if {d} > 0 else ({y} + {k}np.log1p({log1p_of.format(d)}) if {d} <= 0 else {d})))")

    return Scalar(emit, accepts=lambda c, x, y: c.is_float)


_reg("logaddexp", _logaddexp("np.exp({})", math.log(2.0)))
_reg("logaddexp2", _logaddexp("np.exp2({})", 1.0, 1.0 / math.log(2.0)))
_reg("heaviside", Scalar(lambda c, x, h: f"({x} if {x} != {x} else ({h} if {x} == 0 else "
                                         f"({c.lit(0)} if {x} < 0 else {c.lit(1)})))",
                         accepts=lambda c, x, h: c.is_float))
_reg("gcd lcm left_shift right_shift ldexp nextafter spacing bitwise_count",
     Host(why="integer corner cases (shifts past the width, gcd/lcm signs) and bit-level float functions"))
_reg("divmod modf frexp", Host(why="two results per element"))
_reg("vecdot matvec vecmat", Host(why="generalized ufuncs over the last axes, NumPy's loops"))
_reg("ufunc_reduce ufunc_accumulate cumsum cumprod", Host(why="NumPy's reduce/accumulate loops, in NumPy's order"))
_reg("sort argsort", Host(why="NumPy's sorts (introsort, radix and timsort for kind='stable')"))
_reg("round", Host(why="NumPy scales by 10**decimals, rounds half to even and scales back"))
_reg("norm inv solve det", Host(why="LAPACK through NumPy"))
