"""Random NumPy programs for the differential tests of the numba backend (hypothesis strategies).

A program is a list of steps over a growing list of values (the inputs first); each step applies
one NumPy operation to earlier values and the program returns the last two.  The steps cover
most of the op registry: elementwise ufuncs (unary and binary, with broadcasting between any of
the dtypes), NumPy scalar constants of every dtype and Python scalars on either side, reductions
(``axis=None``, negative and tuple axes, ``keepdims``, empty axes), views that make operands
non-contiguous (transposes, reversed and strided slices, ``broadcast_to``), NumPy calls whose
results kernels read (``concatenate``, ``cumsum``, ``sort``, matmuls with a constant matrix),
and host-only scalar code on sizes (``x / np.sqrt(x.shape[-1])``, ``np.float32(x.shape[0])``).
Inputs may be 0-d, empty, transposed or strided, and hold NaN, infinities, signed zeros and the
extreme integers (so integer arithmetic wraps).

:func:`check_program` compares the numba backend with the interpreter the way SPEC.md says
("Numerics"): integers and bools exactly; floats ``|y - r| <= rtol * (|r| + max|r|)`` with rtol
1e-5 (float32) or 1e-12 (float64), NaN and infinities exactly where the interpreter has them.
Each program runs twice on one executor, on fresh copies of the inputs with garbage allocated in
between, so that a frame pointing at freed or stale memory shows up as a wrong number.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from hypothesis import strategies as st

from codegen.plan import PlanOptions
from ir.ops import has_op
from runtime.compiled import NumbaExecutor
from runtime.interpreter import Program
from tests.codegen.helpers import FORCED
from tracer.dispatch import call_op

DTYPES = [np.float32, np.float64, np.int8, np.int16, np.int32, np.int64, np.uint8, np.bool_]
FLOATS = [np.float32, np.float64]
RTOL = {np.dtype(np.float16): 1e-3, np.dtype(np.float32): 1e-5, np.dtype(np.float64): 1e-12}


def _no_nan(a: Any) -> Any:
    """``a`` with NaN replaced: the sign bit of a NaN is not part of SPEC's numerics (NumPy's own
    SIMD and scalar loops give NaNs of either sign), so ``copysign``/``signbit`` never see one."""
    return np.where(np.isnan(a), 1, a)


def _ops(table: dict[str, Any]) -> dict[str, Any]:
    """The entries whose registry op exists (ops still being added elsewhere are left out)."""
    return {name: fn for name, fn in table.items() if has_op(name.split(":")[0])}


UNARY = _ops({
    "neg": lambda a: -a, "pos": lambda a: +a, "abs": np.abs, "fabs": np.fabs, "exp": np.exp, "exp2": np.exp2,
    "expm1": np.expm1, "log": np.log, "log2": np.log2, "log10": np.log10, "log1p": np.log1p, "sqrt": np.sqrt,
    "cbrt": np.cbrt, "sin": np.sin, "cos": np.cos, "tan": np.tan, "arcsin": np.arcsin, "arccos": np.arccos,
    "arctan": np.arctan, "sinh": np.sinh, "cosh": np.cosh, "tanh": np.tanh, "arcsinh": np.arcsinh,
    "arccosh": np.arccosh, "arctanh": np.arctanh, "erf": lambda a: call_op("erf", a), "square": np.square,
    "reciprocal": np.reciprocal, "sign": np.sign, "floor": np.floor, "ceil": np.ceil, "trunc": np.trunc,
    "rint": np.rint, "isnan": np.isnan, "isinf": np.isinf, "isfinite": np.isfinite,
    "signbit": lambda a: np.signbit(_no_nan(a)),
    "logical_not": np.logical_not, "invert": lambda a: ~a, "deg2rad": np.deg2rad, "rad2deg": np.rad2deg,
    "conjugate": np.conjugate, "spacing": np.spacing, "round": lambda a: np.round(a, 1),
    "cumsum": lambda a: np.cumsum(a, axis=-1 if a.ndim else None), "sort": lambda a: np.sort(a, axis=-1),
})
BINARY = _ops({
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / b, "floordiv": lambda a, b: a // b, "mod": lambda a, b: a % b,
    "pow": lambda a, b: a ** b, "maximum": np.maximum, "minimum": np.minimum, "fmax": np.fmax, "fmin": np.fmin,
    "arctan2": np.arctan2, "hypot": np.hypot, "copysign": lambda a, b: np.copysign(a, _no_nan(b)),
    "logaddexp": np.logaddexp,
    "logaddexp2": np.logaddexp2, "heaviside": np.heaviside, "fmod": np.fmod, "float_power": np.float_power,
    "nextafter": np.nextafter, "eq": lambda a, b: a == b, "ne": lambda a, b: a != b, "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b, "gt": lambda a, b: a > b, "ge": lambda a, b: a >= b,
    "logical_and": np.logical_and, "logical_or": np.logical_or, "logical_xor": np.logical_xor,
    "and_": lambda a, b: a & b, "or_": lambda a, b: a | b, "xor": lambda a, b: a ^ b,
    "left_shift": np.left_shift, "right_shift": np.right_shift, "gcd": np.gcd,
})
#: Operations with a scalar on one side (the scalar's type decides NumPy 2's promotion).
WITH_SCALAR = ["add", "sub", "mul", "truediv", "floordiv", "mod", "maximum", "minimum", "eq", "lt", "ge", "pow",
               "and_", "where"]
REDUCE = [r for r in ("sum", "mean", "max", "min", "prod", "argmax", "argmin", "any", "all", "var", "std")
          if has_op(r)]
VIEWS = {
    "T": lambda a: a.T, "rev": lambda a: a[::-1], "step": lambda a: a[..., ::2], "expand": lambda a: a[None],
    "ravel": lambda a: a.reshape(-1), "swap": lambda a: np.swapaxes(a, 0, -1),
    "bcast": lambda a: np.broadcast_to(a, (2, *a.shape)), "first": lambda a: a[0], "squeeze": np.squeeze,
    "last_col": lambda a: a[..., -1:],
}
SIZES = {  # host-only scalar code on sizes
    "sqrt_last": lambda a: a / np.sqrt(a.shape[-1]), "div_first": lambda a: a / a.shape[0],
    "add_ndim": lambda a: a + a.ndim, "f32_last": lambda a: a * np.float32(a.shape[-1]),
    "i64_size": lambda a: a - np.int64(a.size), "len": lambda a: a * len(a),
    "pow_half": lambda a: a * a.shape[-1] ** 0.5, "floordiv_last": lambda a: a // a.shape[-1],
    "math_sqrt": lambda a: a + math.sqrt(a.shape[-1]),
}
OTHER = ["concat", "stack", "matmul_const", "matmul_t", "where", "clip", "astype", "reduce_then_bcast"]

_SCALAR_VALUES = [0, 1, 2, 3, -2, 200, 0.5, -1.25, 1e-5, float("inf"), float("nan"), -0.0, True]


@st.composite
def scalars(draw: Any) -> Any:
    """A Python scalar or a NumPy scalar of any dtype (values that dtype can hold)."""
    value = draw(st.sampled_from(_SCALAR_VALUES))
    kind = draw(st.sampled_from(["python", "numpy", "numpy"]))
    if kind == "python":
        return value
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    if dtype.kind in "iu":
        if isinstance(value, float) and not value.is_integer():
            value = 3
        value = int(value) if not (isinstance(value, float) and not math.isfinite(value)) else 7
        info = np.iinfo(dtype)
        value = min(max(value, info.min), info.max)
    return dtype.type(value)


_FLOAT_SPECIALS = np.array([np.nan, np.inf, -np.inf, -0.0, 1e4, -3e3])


@st.composite
def arrays(draw: Any, shape: tuple[int, ...]) -> Any:
    """An input array of a random dtype, with special values, in a random memory layout (or, for
    a 0-d shape, maybe a NumPy scalar).

    Values come from a coarse grid (float arithmetic on them is mostly exact, so the comparison
    tests the lowering, not rounding luck) plus, at a drawn rate, NaN, infinities, signed zeros
    and the extreme integers of the dtype.
    """
    dtype = np.dtype(draw(st.sampled_from(DTYPES)))
    n = int(np.prod(shape))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    special = rng.random(n) < draw(st.sampled_from([0.0, 0.0, 0.1, 0.5]))
    if dtype.kind == "f":
        values = rng.integers(-12, 13, n) / 4.0
        values[special] = rng.choice(_FLOAT_SPECIALS, int(special.sum()))
    elif dtype.kind in "iu":
        info = np.iinfo(dtype)
        values = rng.integers(max(-12, int(info.min)), 13, n).astype(object)
        values[special] = rng.choice([int(info.min), int(info.max), int(info.max) - 1], int(special.sum()))
    else:
        values = rng.random(n) > 0.5
    arr = np.array(values).astype(dtype).reshape(shape)
    layout = draw(st.sampled_from(["c", "c", "f", "strided"]))
    if arr.ndim == 0 and layout != "c":
        return arr[()]  # a NumPy scalar (np.float32(0.5)) instead of a 0-d array
    if layout == "f" and arr.ndim >= 2:
        return np.asfortranarray(arr)  # the same values, transposed memory
    if layout == "strided" and arr.ndim >= 1:
        return np.repeat(arr, 2, axis=-1)[..., ::2]  # every other element of a larger buffer
    return arr


@st.composite
def programs(draw: Any) -> tuple[list[np.ndarray], list[tuple], dict]:
    """(inputs, steps, how to run it)."""
    rank = draw(st.integers(0, 3))
    shape = tuple(draw(st.lists(st.sampled_from([1, 2, 3, 5, 0, 4, 9, 33, 130]), min_size=rank, max_size=rank)))
    while math.prod(shape) > 5000:  # large enough for pairwise sums and thread splits, small enough to compile
        shape = tuple(3 if d == max(shape) else d for d in shape)
    if 0 in shape and draw(st.booleans()):
        shape = tuple(d or 2 for d in shape)  # empty arrays in about half the programs that drew a 0
    inputs = []
    for _ in range(draw(st.integers(1, 3))):
        drop = draw(st.integers(0, rank))  # a shape broadcastable to `shape`: fewer axes, some 1
        s = tuple(1 if draw(st.integers(0, 3)) == 0 else d for d in shape[drop:])
        inputs.append(draw(arrays(s)))
    pick = st.integers(0, 30)
    steps = []
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "scalar", "scalar", "reduce", "view", "view",
                                     "size", "other"]))
        if kind == "unary":
            steps.append(("unary", draw(st.sampled_from(sorted(UNARY))), draw(pick)))
        elif kind == "binary":
            steps.append(("binary", draw(st.sampled_from(sorted(BINARY))), draw(pick), draw(pick)))
        elif kind == "scalar":
            steps.append(("scalar", draw(st.sampled_from(WITH_SCALAR)), draw(pick), draw(scalars()),
                          draw(st.booleans())))
        elif kind == "reduce":
            axis = draw(st.one_of(st.none(), st.integers(-3, 2), st.sampled_from([(0, -1), (-2, -1)])))
            steps.append(("reduce", draw(st.sampled_from(REDUCE)), draw(pick), axis, draw(st.booleans())))
        elif kind == "view":
            steps.append(("view", draw(st.sampled_from(sorted(VIEWS))), draw(pick)))
        elif kind == "size":
            steps.append(("size", draw(st.sampled_from(sorted(SIZES))), draw(pick)))
        else:
            steps.append(("other", draw(st.sampled_from(OTHER)), draw(pick), draw(pick), draw(scalars()),
                          draw(st.sampled_from(DTYPES))))
    how = {"options": draw(st.sampled_from(sorted(OPTIONS))), "restore": draw(st.integers(0, 5)) == 0}
    steps.append(("return", draw(st.sampled_from(["last two", "last two", "all"]))))
    return inputs, steps, how


#: Planner settings a program runs under: every op a kernel; the ordinary planner; no fusion;
#: every kernel's outer loop split over two threads.
OPTIONS = {"forced": FORCED, "default": PlanOptions(), "unfused": PlanOptions(fuse=False, force_kernels=True),
           "threads": PlanOptions(force_kernels=True, parallel_work=0)}

_CONST = np.linspace(-1.0, 1.0, 5 * 3).reshape(5, 3)  # the constant matrix of matmul_const


def _reduce(op: str, a: Any, axis: Any, keepdims: bool) -> Any:
    if isinstance(axis, tuple) and a.ndim < 2:
        axis = -1
    if isinstance(axis, int):
        # NumPy takes axis=0 on a 0-d array; the type rules refuse it when an archive is loaded
        # (reported: a traced program that cannot be loaded), so the fuzzer does not write it
        axis = axis % a.ndim if a.ndim else None
    if op in ("argmax", "argmin"):
        return getattr(np, op)(a, axis=axis if not isinstance(axis, tuple) else -1)
    return getattr(np, op)(a, axis=axis, keepdims=keepdims)


def _other(op: str, a: Any, b: Any, c: Any, dtype: Any) -> Any:
    if op == "concat":
        return np.concatenate([a, b], axis=0)
    if op == "stack":
        return np.stack([a, a], axis=-1)
    if op == "matmul_const":
        return a @ _CONST[:a.shape[-1]].astype(a.dtype if a.dtype.kind == "f" else np.float64)
    if op == "matmul_t":
        return a @ np.swapaxes(a, -1, -2)
    if op == "where":
        return np.where(a > 0, b, c)
    if op == "clip":
        return np.clip(a, -c, c) if not isinstance(c, (bool, np.bool_)) else np.clip(a, 0, 1)
    if op == "astype":
        if a.dtype.kind == "f" and np.dtype(dtype).kind in "iub":
            a = np.clip(np.where(np.isnan(a), 0, a), -100, 100)  # float -> int of NaN or huge values: undefined
        return a.astype(dtype)
    return a - np.max(a, axis=-1 if a.ndim else None, keepdims=True)  # reduce_then_bcast


def build(steps: list[tuple]) -> Any:
    """The program as a function of its inputs; it returns its last two values (or, as the final
    ``("return", "all")`` step says, every value it computed: then no step is dead code)."""

    def program(*xs: Any) -> Any:
        values = list(xs)

        def get(i: int) -> Any:
            return values[i % len(values)]

        for step in steps:
            kind, op = step[0], step[1]
            if kind == "return":
                if op == "all" and len(values) > len(xs):
                    return tuple(values[len(xs):])
                break
            if kind == "unary":
                out = UNARY[op](get(step[2]))
            elif kind == "binary":
                out = BINARY[op](get(step[2]), get(step[3]))
            elif kind == "scalar":
                a, c = get(step[2]), step[3]
                if op == "where":
                    out = np.where(a > 0, a, c) if step[4] else np.where(a > 0, c, a)
                else:
                    out = BINARY[op](c, a) if step[4] else BINARY[op](a, c)
            elif kind == "reduce":
                out = _reduce(op, get(step[2]), step[3], step[4])
            elif kind == "view":
                out = VIEWS[op](get(step[2]))
            elif kind == "size":
                out = SIZES[op](get(step[2]))
            else:
                out = _other(op, get(step[2]), get(step[3]), step[4], step[5])
            values.append(out)
        return values[-1], values[-2]

    return program


def scribble(repeats: int = 16) -> list:
    """Allocate and fill blocks of many sizes (reusing what was freed); keep the list alive."""
    junk = []
    for n in (1, 2, 4, 8, 16, 64, 256, 1024, 8192):
        for _ in range(repeats):
            junk.append(np.full(n, 1e30, np.float32))
            junk.append(np.full(n, -7.5e300))
    return junk


def fresh(x: Any) -> Any:
    """A copy of ``x`` at another address, with the same memory layout."""
    if isinstance(x, np.ndarray):
        if x.flags.f_contiguous and not x.flags.c_contiguous:
            return np.asfortranarray(x.copy())
        if not x.flags.c_contiguous:
            return np.repeat(x, 2, axis=-1)[..., ::2]
        return x.copy()
    return x


def spec_close(got: Any, want: Any, where: str = "out") -> None:
    """SPEC "Numerics": the numba result ``got`` against the interpreter's ``want``."""
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want), where
        for i, (g, w) in enumerate(zip(got, want)):
            spec_close(g, w, f"{where}[{i}]")
        return
    assert isinstance(got, np.ndarray) == isinstance(want, np.ndarray), f"{where}: {type(got)} vs {type(want)}"
    assert isinstance(got, (np.ndarray, np.generic)), f"{where}: {type(got)}"
    assert got.dtype == want.dtype and np.shape(got) == np.shape(want), \
        f"{where}: {got.dtype}{np.shape(got)} vs {want.dtype}{np.shape(want)}"
    if want.dtype.kind != "f":
        np.testing.assert_array_equal(got, want, err_msg=where, strict=True)
        return
    y, r = np.asarray(got, np.float64), np.asarray(want, np.float64)
    special = ~np.isfinite(r)
    assert np.array_equal(np.isnan(y), np.isnan(r)), f"{where}: NaN at other places\n{y}\n{r}"
    assert np.array_equal(y[special & ~np.isnan(r)], r[special & ~np.isnan(r)]) and np.isfinite(y[~special]).all(), \
        f"{where}: infinities at other places\n{y}\n{r}"
    finite = r[~special]
    if finite.size:
        bound = RTOL[want.dtype] * (np.abs(finite) + np.abs(finite).max())
        err = np.abs(y[~special] - finite)
        assert (err <= bound).all(), f"{where}: max error {err.max()} over the bound\n{y}\n{r}"


def check_program(sm: Any, inputs: tuple, how: dict) -> None:
    """Run ``sm``'s graph on the numba backend twice and compare each result with the interpreter."""
    state = sm._flat_state()
    options = OPTIONS[how["options"]]
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        want = Program(sm.graph).run(inputs, state)
        ex = NumbaExecutor(sm.graph, options)
        first = ex.run(inputs, state)
        spec_close(first, want, "first call")
        junk = scribble()
        again = tuple(fresh(x) for x in inputs)
        second = ex.run(again, state)
        del junk
        spec_close(second, want, "second call, inputs elsewhere, garbage in between")
