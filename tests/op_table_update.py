"""Op-table entries for item assignment and in-place operators (the functional update op), guards, scalar constructors.

Each entry is one ``sample(...)`` (or ``error(...)``) call, as in :mod:`tests.op_table`.  Samples
write into copies (``y = x.copy()``) or into arrays made in the sample, so running them eagerly
leaves the table's inputs as they were.
"""

from __future__ import annotations

import math

import numpy as np

from tests.op_table import b, error, f32, f64, i32, i64, sample
from tracer.dispatch import call_op


def _set(index, value):
    """``y = x.copy(); y[index] = value(x)``, the sample shape of most setitem entries."""

    def fn(x, *rest):
        y = x.copy()
        y[index] = value(x, *rest) if callable(value) else value
        return y

    return fn


# -- setitem: every kind of index, casting and broadcasting ------------------------------------------
sample("setitem", _set(1, 5.0), f32(3, 4), other=(f32(6, 4),))
sample("setitem", _set((slice(None), slice(0, None, 2)), lambda x: x[:, 1::2] * 2), f32(3, 6),
       other=(f32(5, 6),), id="setitem-step-slice")
sample("setitem", _set(slice(None, None, -2), 0.5), f32(7, 2), other=(f32(4, 2),), id="setitem-negative-step")
sample("setitem", _set(Ellipsis, lambda x: x[::-1]), f32(4, 3), other=(f32(2, 3),), id="setitem-overlap")
sample("setitem", _set((Ellipsis, -1), lambda x: x[..., 0]), f32(2, 3, 4), id="setitem-ellipsis")
sample("setitem", _set(-1, lambda x, v: v), i32(3, 4), f32(4) * 10, id="setitem-cast-float-to-int")
sample("setitem", _set(slice(1, 3), lambda x, v: v), f32(5, 3), f64(1, 3), id="setitem-broadcast")
sample("setitem", lambda x, i: _set(i, 0.0)(x), f32(6, 2), i64(4, lo=0, hi=6), id="setitem-int-array")
sample("setitem", lambda x, i: _set(i, lambda x: x[i] * 3)(x), f32(6), i64(3, lo=-6, hi=6),
       id="setitem-int-array-values")
sample("setitem", lambda x: _set(x > 0, 0.0)(x), f32(3, 4), other=(f32(5, 4),), id="setitem-bool-mask")
sample("setitem", lambda x, m: _set(m, lambda x: -x[m])(x), f32(3, 4), b(3, 4), id="setitem-bool-mask-values")
sample("setitem", lambda x: _set(slice(None, x.shape[0] - 1), lambda x: x[1:])(x), f32(4, 2),
       other=(f32(7, 2),), id="setitem-dynamic-slice")
sample("setitem", _set((0, 1), True), b(2, 3), id="setitem-bool-array")


def _one_hot(idx):
    n = len(idx)
    z = np.zeros((n, 6), dtype=np.float32)
    z[np.arange(n), idx] = 1
    return z


def _rope(x):
    out = np.empty_like(x)
    out[..., 0::2] = x[..., 0::2] * 0.5 - x[..., 1::2] * 0.25
    out[..., 1::2] = x[..., 1::2] * 0.5 + x[..., 0::2] * 0.25
    return out


def _fresh_constant(x):
    z = np.zeros((3, 4), dtype=np.float32)
    z[1] = x[0]
    z[:, 0] += 1
    return z * z.shape[0]


def _inplace(x, y):
    x = x.copy()
    v = x[1:]
    x += y
    x *= 2
    x -= 1
    x /= 3
    return x, v


def _inplace_int(x):
    x = x.copy()
    x //= 3
    x %= 4
    x **= 2
    x |= 1
    x &= 7
    x ^= 2
    return x


def _views(x):
    x = x.copy()
    row = x[0]
    t = x.T
    flat = x.reshape(-1)
    x[0, 1] = 5  # the views see it
    x[1][2] = -1  # a write through a view reaches the base
    v = x[:, :2]
    v[...] = 0
    t[-1] = 7  # through a transpose
    flat[3] = 9  # through a reshape
    return x, row, t, flat, v


sample("setitem", _one_hot, i64(5, lo=0, hi=6), other=(i64(8, lo=0, hi=6),), id="setitem-one-hot")
sample("setitem", _rope, f32(2, 3, 8), other=(f32(1, 5, 8),), id="setitem-rope")
sample("setitem", _fresh_constant, f32(2, 4), other=(f32(5, 4),), id="setitem-into-np-zeros")
sample("setitem", _inplace, f32(4, 3), f32(3), other=(f32(2, 3), f32(3)), id="setitem-inplace-ops")
sample("setitem", _inplace_int, i32(3, 4, lo=1, hi=50), id="setitem-inplace-int")
sample("setitem", _views, f32(3, 4), other=(f32(5, 4),), id="setitem-views")

error("setitem", _set(5, 1.0), f32(3, 2), match="index")
error("setitem", _set(slice(None), lambda x: x[:, :1].repeat(3, axis=0)), f32(2, 3), match="broadcast")

# -- guard: a size baked in while tracing, checked when the program runs -------------------------------
sample("guard", lambda x: (call_op("guard", x.shape[0], 3, where="op_table_update.py", what="a sample"), x + 1)[1],
       f32(3, 2), other=(f32(3, 5),))

# -- NumPy scalar constructors and math functions of traced sizes ------------------------------------
sample("cast_scalar", lambda x: x * np.float32(x.shape[-1]), f32(3, 4), other=(f32(2, 7),))
sample("cast_scalar", lambda x: x + np.int64(len(x)), i32(3, 2), other=(i32(5, 2),), id="cast_scalar-int64")
sample("cast_scalar", lambda x: x / np.float64(x.size), f32(2, 3), other=(f32(4, 4),), id="cast_scalar-float64")
sample("cast_scalar", lambda x: np.float16(x.sum()), f32(4), id="cast_scalar-array")
sample("pymath", lambda x: x / math.sqrt(x.shape[-1]), f32(3, 8), other=(f32(2, 5),))
sample("pymath", lambda x: x * math.log(len(x)), f64(4, 2), other=(f64(9, 2),), id="pymath-log")
sample("pymath", lambda x: x * math.ceil(len(x) / 2), f32(5, 2), other=(f32(8, 2),), id="pymath-ceil")
