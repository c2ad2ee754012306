"""The op table: sample programs and error cases for every registered op.

Every test path (trace -> interpreter, type rules, printing, and later numba and save/load) is
driven from here, so a new op is one entry in :data:`SAMPLES` (and, when it can fail on bad
input, one in :data:`ERRORS`).  Each sample is NumPy code run on its inputs; the op under test
must appear in the traced graph, and the traced program must equal eager bit for bit, also at
the ``other`` inputs (different sizes) when given.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracer import functional as F
from tracer.dispatch import call_op

rng = np.random.default_rng(1234)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def f64(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape)


def pos32(*shape: int) -> np.ndarray:
    return (rng.random(shape) * 4 + 0.1).astype(np.float32)


def unit32(*shape: int) -> np.ndarray:
    return (rng.random(shape) * 1.8 - 0.9).astype(np.float32)


def i32(*shape: int, lo: int = -20, hi: int = 20) -> np.ndarray:
    return rng.integers(lo, hi, shape).astype(np.int32)


def i64(*shape: int, lo: int = -20, hi: int = 20) -> np.ndarray:
    return rng.integers(lo, hi, shape)


def nz_i32(*shape: int) -> np.ndarray:
    a = i32(*shape)
    return np.where(a == 0, 7, a).astype(np.int32)


def b(*shape: int) -> np.ndarray:
    return rng.random(shape) > 0.5


@dataclass
class Sample:
    """``fn(*inputs)`` exercises ``op``; ``other`` are inputs of other sizes for the same program."""

    op: str
    fn: Callable[..., Any]
    inputs: tuple
    other: tuple | None = None
    id: str = ""
    #: scripted with ``inputs`` as example inputs (else from annotations: ranks unknown)
    examples: bool = True


@dataclass
class ErrorSample:
    """Tracing ``fn(*inputs)`` must raise ``TracingError`` whose message contains ``match``."""

    op: str
    fn: Callable[..., Any]
    inputs: tuple
    match: str
    id: str = ""


SAMPLES: list[Sample] = []
ERRORS: list[ErrorSample] = []


def sample(op: str, fn: Callable[..., Any], *inputs: Any, other: tuple | None = None, id: str = "") -> None:
    SAMPLES.append(Sample(op, fn, inputs, other, id or f"{op}-{sum(s.op == op for s in SAMPLES)}"))


def error(op: str, fn: Callable[..., Any], *inputs: Any, match: str) -> None:
    ERRORS.append(ErrorSample(op, fn, inputs, match, f"{op}-err-{sum(e.op == op for e in ERRORS)}"))


# -- binary operators: broadcasting and NumPy 2 promotion --------------------------------------------
_BINARY = {
    "add": lambda x, y: x + y, "sub": lambda x, y: x - y, "mul": lambda x, y: x * y,
    "truediv": lambda x, y: x / y, "floordiv": lambda x, y: x // y, "mod": lambda x, y: x % y,
    "pow": lambda x, y: x ** y, "eq": lambda x, y: x == y, "ne": lambda x, y: x != y,
    "lt": lambda x, y: x < y, "le": lambda x, y: x <= y, "gt": lambda x, y: x > y,
    "ge": lambda x, y: x >= y,
}
for _op, _fn in _BINARY.items():
    _safe = _op in ("truediv", "floordiv", "mod", "pow")
    _x = pos32 if _op == "pow" else f32
    sample(_op, _fn, _x(4, 5), pos32(5) if _safe else f32(5), other=(_x(2, 5), pos32(5) if _safe else f32(5)))
    sample(_op, _fn, nz_i32(3, 4) if _op != "pow" else i32(3, 4, lo=0, hi=5),
           nz_i32(4) if _op != "pow" else i32(4, lo=0, hi=4), id=f"{_op}-int32")
    sample(_op, lambda x, _fn=_fn: _fn(x, 2.5), i32(3, 4, lo=1, hi=9), id=f"{_op}-int32-pyfloat")
    sample(_op, lambda x, _fn=_fn: _fn(x, 3), i64(6, lo=1, hi=9).astype(np.int8), id=f"{_op}-int8-pyint")
    # Python reflects comparisons: 2.0 < x runs x > 2.0
    _mirror = {"lt": "gt", "le": "ge", "gt": "lt", "ge": "le"}.get(_op, _op)
    sample(_mirror, lambda x, _fn=_fn: _fn(2.0, x), pos32(2, 3), id=f"{_op}-reflected")
    sample(_op, _fn, pos32(3, 1), pos32(1, 4).astype(np.float64), id=f"{_op}-f32-f64")
    sample(_op, _fn, pos32(2, 3), i64(3, lo=1, hi=4), id=f"{_op}-f32-i64")
    sample(_op, lambda x, _fn=_fn: _fn(x.shape[0], 2) + x, f32(4, 2), other=(f32(7, 2),), id=f"{_op}-sizes")

for _op, _fn in {"and_": lambda x, y: x & y, "or_": lambda x, y: x | y, "xor": lambda x, y: x ^ y}.items():
    sample(_op, _fn, b(3, 4), b(4))
    sample(_op, _fn, i32(3, 4), i64(3, 1), id=f"{_op}-int")
    sample(_op, lambda x, _fn=_fn: _fn(x, 6), i32(5), id=f"{_op}-pyint")

sample("neg", lambda x: -x, f32(3, 4))
sample("neg", lambda x: -x, i32(5))
sample("pos", lambda x: +x, f32(3))
sample("invert", lambda x: ~x, b(3, 3))
sample("invert", lambda x: ~x, i32(4))
sample("abs", lambda x: abs(x), f32(3, 4))
sample("abs", lambda x: np.abs(x), i32(5))
sample("abs", lambda x: np.absolute(x), f64(2, 2))

for _uf in (np.maximum, np.minimum, np.fmax, np.fmin, np.arctan2, np.hypot, np.copysign):
    sample(_uf.__name__, lambda x, y, _uf=_uf: _uf(x, y), f32(3, 4), f32(4), other=(f32(6, 4), f32(4)))
    sample(_uf.__name__, lambda x, _uf=_uf: _uf(x, 0.5), i32(3), id=f"{_uf.__name__}-int-pyfloat")
for _uf in (np.logical_and, np.logical_or, np.logical_xor):
    sample(_uf.__name__, lambda x, y, _uf=_uf: _uf(x, y), b(3, 4), f32(3, 4))

_DOMAIN = {"log": pos32, "log2": pos32, "log10": pos32, "sqrt": pos32, "reciprocal": pos32,
           "arcsin": unit32, "arccos": unit32, "arctanh": unit32, "log1p": pos32}
for _name in ("exp", "exp2", "expm1", "log", "log2", "log10", "log1p", "sqrt", "square", "reciprocal",
              "sin", "cos", "tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "tanh", "arctanh", "sign",
              "floor", "ceil", "trunc", "rint", "logical_not", "isnan", "isinf", "isfinite", "signbit"):
    _uf = getattr(np, _name)
    _gen = _DOMAIN.get(_name, f32)
    sample(_name, lambda x, _uf=_uf: _uf(x), _gen(3, 4), other=(_gen(5, 4),))
    sample(_name, lambda x, _uf=_uf: _uf(x), _gen(6).astype(np.float64), id=f"{_name}-f64")
    if _name not in ("reciprocal",):
        _ints = i32(5, lo=-3, hi=3)
        if _name in _DOMAIN:
            _ints = i32(5, lo=0, hi=1) if _gen is unit32 else i32(5, lo=1, hi=3)
        sample(_name, lambda x, _uf=_uf: _uf(x), _ints, id=f"{_name}-int")
sample("trunc_div", lambda x, y: call_op("trunc_div", x, y), i32(3, 4), nz_i32(4))
sample("trunc_div", lambda x, y: call_op("trunc_div", x, y), f32(3, 4), pos32(4), id="trunc_div-float")
sample("isnan", lambda x: np.isnan(x), np.array([np.nan, 1.0, -np.inf], np.float32), id="isnan-nan")

sample("where", lambda c, x, y: np.where(c, x, y), b(3, 4), f32(3, 4), f32(4))
sample("where", lambda x: np.where(x > 0, x, 0.0), f32(5), other=(f32(9),), id="where-scalar")
sample("where", lambda x: np.where(x > 0, x, 1), i32(2, 3), id="where-int")
sample("clip", lambda x: np.clip(x, -0.5, 0.5), f32(3, 4))
sample("clip", lambda x: x.clip(0, None), f32(6), id="clip-method")
sample("clip", lambda x, lo: np.clip(x, lo, 3), i32(4, 4), i32(4), id="clip-array")

# -- reductions ---------------------------------------------------------------------------------------
for _name in ("sum", "prod", "mean", "var", "std", "max", "min", "any", "all", "argmax", "argmin"):
    _np = getattr(np, _name)
    _gen = b if _name in ("any", "all") else f32
    sample(_name, lambda x, _np=_np: _np(x), _gen(3, 4), other=(_gen(5, 4),))
    sample(_name, lambda x, _np=_np: _np(x, axis=-1), _gen(3, 4), other=(_gen(2, 4),), id=f"{_name}-last")
    sample(_name, lambda x, _np=_np: _np(x, axis=0, keepdims=True), _gen(3, 4), id=f"{_name}-keepdims")
    sample(_name, lambda x, _name=_name: getattr(x, _name)(axis=1), _gen(2, 3, 4), id=f"{_name}-method")
    if _name not in ("argmax", "argmin"):
        sample(_name, lambda x, _np=_np: _np(x, axis=(0, 2)), _gen(2, 3, 4), id=f"{_name}-tuple-axis")
    if _name not in ("any", "all"):
        sample(_name, lambda x, _np=_np: _np(x, axis=0), i32(4, 3), id=f"{_name}-int")
sample("sum", lambda x: np.sum(x, axis=1, dtype=np.float64), f32(3, 4), id="sum-dtype")
sample("var", lambda x: x.var(axis=0, ddof=1), f32(5, 3), id="var-ddof")
sample("std", lambda x: np.std(x, ddof=1), f64(7), id="std-ddof")
sample("max", lambda x: np.amax(x, axis=1), f32(2, 5), id="max-amax")
sample("sum", lambda x: x.sum(), b(4, 4), id="sum-bool")

# -- linear algebra -----------------------------------------------------------------------------------
sample("matmul", lambda x, y: x @ y, f32(3, 4), f32(4, 5), other=(f32(7, 4), f32(4, 5)))
sample("matmul", lambda x, y: x @ y, f32(2, 3, 4), f32(4, 2), id="matmul-batched")
sample("matmul", lambda x, y: np.matmul(x, y), f32(2, 1, 3, 4), f32(5, 4, 2), id="matmul-broadcast")
sample("matmul", lambda x, y: x @ y, f32(4), f32(4, 3), id="matmul-vec")
sample("matmul", lambda x, y: x @ y, i32(3, 4), f32(4, 2), id="matmul-promote")
sample("dot", lambda x, y: np.dot(x, y), f32(3, 4), f32(4, 5))
sample("dot", lambda x, y: x.dot(y), f32(4), f32(4), id="dot-vec")
sample("dot", lambda x, y: np.dot(x, y), f32(2, 3, 4), f32(4, 5), id="dot-nd")

# -- movement -----------------------------------------------------------------------------------------
sample("reshape", lambda x: x.reshape(x.shape[0], -1), f32(4, 3, 2), other=(f32(2, 3, 2),))
sample("reshape", lambda x: np.reshape(x, (2, -1)), f32(4, 3), id="reshape-fn")
sample("reshape", lambda x: x.reshape((-1,)), i32(3, 4), id="reshape-flat")
sample("reshape", lambda x: x.reshape(len(x), x.shape[1] * x.shape[2]), f32(3, 2, 4), other=(f32(5, 2, 4),),
       id="reshape-len")
sample("ravel", lambda x: x.ravel(), f32(3, 4))
sample("ravel", lambda x: x.flatten(), f32(2, 2, 2), id="ravel-flatten")
sample("ravel", lambda x: np.ravel(x.T), f32(3, 2), id="ravel-fn")
sample("transpose", lambda x: x.T, f32(3, 4))
sample("transpose", lambda x: x.transpose(2, 0, 1), f32(2, 3, 4), id="transpose-axes")
sample("transpose", lambda x: np.transpose(x, (1, 0, 2)), f32(2, 3, 4), id="transpose-fn")
sample("swapaxes", lambda x: x.swapaxes(0, -1), f32(2, 3, 4))
sample("moveaxis", lambda x: np.moveaxis(x, 0, -1), f32(2, 3, 4))
sample("expand_dims", lambda x: np.expand_dims(x, 1), f32(3, 4))
sample("expand_dims", lambda x: np.expand_dims(x, (0, -1)), f32(3), id="expand_dims-tuple")
sample("squeeze", lambda x: np.squeeze(x, axis=1), f32(3, 1, 4))
sample("squeeze", lambda x: x.squeeze(), f32(1, 3, 1), id="squeeze-all")
sample("broadcast_to", lambda x: np.broadcast_to(x, (3, 4)), f32(4))
sample("broadcast_to", lambda x, y: np.broadcast_to(x, y.shape), f32(1, 4), f32(5, 4), other=(f32(1, 4), f32(2, 4)),
       id="broadcast_to-dynamic")
sample("concatenate", lambda x, y: np.concatenate([x, y], axis=-1), f32(3, 2), f32(3, 4), other=(f32(5, 2), f32(5, 4)))
sample("concatenate", lambda x, y: np.concatenate((x, y)), i32(2, 3), f32(1, 3), id="concatenate-promote")
sample("stack", lambda x, y: np.stack([x, y], axis=1), f32(3, 2), f32(3, 2))
sample("split", lambda x: np.split(x, 3, axis=-1)[1], f32(2, 6), other=(f32(4, 6),))
sample("split", lambda x: tuple(np.split(x, [1, 3])), f32(5, 2), id="split-indices")

# -- indexing -----------------------------------------------------------------------------------------
sample("getitem", lambda x: x[1], f32(3, 4))
sample("getitem", lambda x: x.sum(axis=0)[()] + x[()][0], f32(3, 4), id="getitem-empty-tuple")
sample("getitem", lambda x: x[:, 1:3], f32(3, 4), other=(f32(6, 4),), id="getitem-slice")
sample("getitem", lambda x: x[..., None, ::2], f32(2, 3, 4), id="getitem-ellipsis-none")
sample("getitem", lambda x: x[-1, :, 0], f32(2, 3, 4), id="getitem-negative")
sample("getitem", lambda x, i: x[i], f32(5, 3), i64(4, lo=0, hi=5), id="getitem-int-array")
sample("getitem", lambda x: x[[0, 2]], f32(3, 2), id="getitem-list")
sample("getitem", lambda x, i, j: x[i, j], f32(4, 5), i64(3, lo=0, hi=4), i64(3, lo=0, hi=5), id="getitem-two-arrays")
sample("getitem", lambda x: x[: x.shape[0] - 1], f32(4, 2), other=(f32(7, 2),), id="getitem-dynamic-slice")
sample("getitem", lambda x: x[x > 0], f32(3, 4), id="getitem-bool-mask")
sample("take", lambda w, i: np.take(w, i, axis=0), f32(10, 4), i64(2, 3, lo=0, hi=10))
sample("take", lambda x, i: x.take(i), f32(3, 3), i64(4, lo=0, hi=9), id="take-flat")
sample("astype", lambda x: x.astype(np.int32), f32(3, 4) * 10)
sample("astype", lambda x: x.astype("float64"), i32(4), id="astype-str")
sample("astype", lambda x: (x > 0).astype(x.dtype), f32(5), id="astype-dtype-attr")

# -- creation -----------------------------------------------------------------------------------------
sample("zeros", lambda x: np.zeros((x.shape[0], 3), dtype=np.float32) + x[:, :1], f32(4, 2), other=(f32(6, 2),))
sample("ones", lambda x: np.ones(x.shape) - x, f32(2, 3), other=(f32(4, 3),))
sample("full", lambda x: np.full((x.shape[0], 2), 7, dtype=np.int32), f32(3, 1), other=(f32(5, 1),))
sample("arange", lambda x: x + np.arange(x.shape[-1]), f32(2, 4), other=(f32(2, 6),))
sample("arange", lambda x: np.arange(1, x.shape[0], 2, dtype=np.float32), f32(7), id="arange-step")
sample("zeros_like", lambda x: np.zeros_like(x) + 1, f32(3, 2))
sample("ones_like", lambda x: np.ones_like(x, dtype=np.int64), f32(3, 2))
sample("full_like", lambda x: np.full_like(x, 0.25), f32(2, 2))

# -- shape reads --------------------------------------------------------------------------------------
sample("dim", lambda x: x * x.shape[1], f32(3, 4), other=(f32(3, 5),))
sample("dim", lambda x, y: x.reshape(y.shape[0], -1), f32(6, 2), f32(3), other=(f32(8, 2), f32(4)), id="dim-other")
sample("size", lambda x: x / x.size, f32(3, 4), other=(f32(5, 5),))

# -- error inputs -------------------------------------------------------------------------------------
error("add", lambda x, y: x + y, f32(3, 4), f32(5), match="broadcast")
error("matmul", lambda x, y: x @ y, f32(3, 4), f32(5, 2), match="matmul")
error("reshape", lambda x: x.reshape(5, -1), f32(3, 4), match="reshape")
error("split", lambda x: np.split(x, 3), f32(4, 2), match="split")
error("getitem", lambda x: x[5], f32(3, 2), match="index")
error("transpose", lambda x: x.transpose(0, 0), f32(3, 2), match="transpose")
error("concatenate", lambda x, y: np.concatenate([x, y]), f32(3, 2), f32(3, 4), match="concatenate")
error("sum", lambda x: np.sum(x, axis=3), f32(3, 2), match="axis")
error("sum", lambda x: np.sum(x, out=x), f32(3, 2), match="out")
error("astype", lambda x: x.astype("not-a-dtype"), f32(3), match="dtype")
error("take", lambda x, i: np.take(x, i, axis=0), f32(3, 2), i64(2, lo=5, hi=6), match="take")

# -- nn ops (what NumPy lacks; reached through tracer.functional / tracer.dispatch.call_op) ------------

sample("erf", lambda x: call_op("erf", x), f32(4, 5) * 3, other=(f32(2, 5),))
sample("erf", lambda x: F.gelu(x), f64(6), id="erf-gelu-f64")
sample("conv2d", lambda x, w, bias: F.conv2d(x, w, bias, padding=1), f32(2, 3, 8, 8), f32(4, 3, 3, 3), f32(4),
       other=(f32(5, 3, 8, 8), f32(4, 3, 3, 3), f32(4)))
sample("conv2d", lambda x, w: F.conv2d(x, w, stride=2, dilation=2, groups=2), f32(1, 4, 9, 9), f32(6, 2, 2, 2),
       id="conv2d-groups")
sample("max_pool2d", lambda x: F.max_pool2d(x, 2), f32(2, 3, 6, 6), other=(f32(1, 3, 6, 6),))
sample("max_pool2d", lambda x: F.max_pool2d(x, 3, 2, padding=1, ceil_mode=True), f32(1, 2, 7, 7), id="max_pool2d-pad")
sample("avg_pool2d", lambda x: F.avg_pool2d(x, 2), f32(2, 3, 6, 6), other=(f32(4, 3, 6, 6),))
sample("avg_pool2d", lambda x: F.avg_pool2d(x, 3, 2, padding=1, count_include_pad=False), f32(1, 2, 7, 7),
       id="avg_pool2d-pad")
# p == 0 keeps every element, so eager and traced agree without sharing random draws
sample("dropout", lambda x: call_op("dropout", x, 0.0), f32(3, 4))

error("conv2d", lambda x, w: F.conv2d(x, w), f32(1, 3, 8, 8), f32(4, 2, 3, 3), match="conv2d")
error("max_pool2d", lambda x: F.max_pool2d(x, 9), f32(1, 1, 4, 4), match="pool")


# -- ops that only tracer.script produces (control flow, Python scalars, calls) -----------------------
# These samples are compiled with tracer.script instead of traced; fn must be a def in this file.
def _if_sample(x):
    if x.sum() > 0:
        y = x * 2.0
    else:
        y = x - 1.0
    return y


def _loop_sample(x, n: int):
    for i in range(n):
        x = x + i
    return x


def _scalars_sample(x):
    k = int(x.max() * 10)
    f = float(x.sum())
    ok = bool(x.min() < 0)
    return x * k + f if not ok else x - f


def _optional_sample(x, y=None):
    if y is None:
        return x
    return x + y


def _early_return_sample(x):
    if x.sum() > 0:
        if x.max() > 1.0:
            return x * 2.0
        x = x - 1.0
    return x + 1.0


def _copy_sample(x):
    y = np.copy(x)
    y[0] = 0.0  # x stays as it was
    return y + x


def _inplace_sample(x, y):
    # writes into its argument (the caller's array changes too: writeback), idempotently, since the
    # table's harnesses run the program and eager on the same arrays
    x[0] = 2.0
    x *= 1.0
    return x + y


def _raise_sample(x):
    # raises when the program runs on other inputs (tests/tracer/test_script_errors.py); not here
    if x.shape[0] > 100:
        raise ValueError(f"at most 100 rows, got {x.shape[0]}")
    assert x.sum() < 1e6, "too large"
    return x * 2.0


def _rank_sample(x):
    B, T = x.shape  # scripted without example inputs: fixes the rank (with_rank)
    return x.reshape(T, B) * 1.0


def _ndim_sample(x):
    return x * x.ndim  # the rank is read when the program runs


SCRIPT_SAMPLES: list[Sample] = [
    Sample("if", _if_sample, (f32(3, 4),), other=(-np.abs(f32(2, 4)),), id="if-script"),
    Sample("loop", _loop_sample, (f32(3), 4), other=(f32(5), 0), id="loop-script"),
    Sample("to_int", _scalars_sample, (f32(4),), other=(np.abs(f32(3)),), id="to_int-script"),
    Sample("to_float", _scalars_sample, (np.abs(f32(4)),), id="to_float-script"),
    Sample("to_bool", _scalars_sample, (f32(6),), id="to_bool-script"),
    Sample("not_", _scalars_sample, (f32(5),), id="not_-script"),
    Sample("is_none", _optional_sample, (f32(3),), other=(f32(3), f32(3)), id="is_none-script"),
    Sample("add", _optional_sample, (f32(3), f32(3)), id="optional-given"),
    Sample("copy", _copy_sample, (f32(3, 4),), other=(f32(2, 4),), id="copy-script"),
    Sample("assign", _inplace_sample, (f32(3, 4), f32(4)), other=(f32(2, 4), f32(4)), id="assign-script"),
    Sample("writeback", _inplace_sample, (f32(3, 4), f32(4)), id="writeback-script"),
    Sample("with_rank", _rank_sample, (f32(2, 3),), other=(f32(4, 1),), id="with_rank-script", examples=False),
    # other ranks: tests/tracer/test_script_ranks.py
    Sample("ndim", _ndim_sample, (f32(2, 3),), other=(f32(5, 2),), id="ndim-script", examples=False),
    Sample("undefined", _early_return_sample, (np.abs(f32(4)) + 1.1,), other=(-np.abs(f32(3)),),
           id="undefined-script"),
    Sample("raise_error", _raise_sample, (f32(3, 4),), other=(f32(5, 2),), id="raise_error-script"),
    Sample("check", _raise_sample, (f32(3, 4),), id="check-script"),
]


# More tables, one file per group of ops; each calls sample()/error() above on import.
from tests import op_table_lists, op_table_numpy, op_table_ufuncs, op_table_update  # noqa: E402,F401
