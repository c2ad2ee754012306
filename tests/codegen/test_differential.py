"""Differential testing: hypothesis builds random small programs over the op registry and the numba
backend must equal the interpreter (integers and bools exactly, floats within the SPEC tolerance).

A program is a list of steps over a growing list of values: elementwise ops with broadcasting
and NumPy 2 promotion between any of the input dtypes, Python literals, reductions over random
axes with and without ``keepdims``, ``where`` and ``astype``.  Every op is compiled
(``force_kernels``), and the ordinary planner (fusion, NumPy for small lone ops) runs too.
Inputs are drawn from a coarse grid so that float arithmetic is mostly exact and the comparison
tests the lowering, not rounding luck; examples are derandomized so CI sees the same programs.
"""

from __future__ import annotations

import io
import os
import warnings
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import tracer
from codegen.plan import PlanOptions
from ir import TracingError
from tests.codegen import fuzz_programs as fz
from tests.codegen.helpers import FORCED, run_both, trace_quietly
from tracer.dispatch import call_op

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_, np.int8, np.uint8]
BINARY = {
    "add": lambda a, b: a + b, "sub": lambda a, b: a - b, "mul": lambda a, b: a * b,
    "truediv": lambda a, b: a / b, "floordiv": lambda a, b: a // b, "mod": lambda a, b: a % b,
    "maximum": np.maximum, "minimum": np.minimum, "fmax": np.fmax, "lt": lambda a, b: a < b,
    "ge": lambda a, b: a >= b, "eq": lambda a, b: a == b, "logical_and": np.logical_and,
    "and": lambda a, b: a & b, "xor": lambda a, b: a ^ b, "arctan2": np.arctan2, "copysign": np.copysign,
}
UNARY = {
    "neg": lambda a: -a, "abs": np.abs, "exp": np.exp, "tanh": np.tanh, "sqrt_abs": lambda a: np.sqrt(np.abs(a)),
    "square": np.square, "floor": np.floor, "sign": np.sign, "isnan": np.isnan, "not": np.logical_not,
    "erf": lambda a: call_op("erf", a), "log1p_abs": lambda a: np.log1p(np.abs(a)), "sin": np.sin,
    "rint": np.rint, "invert": lambda a: ~a, "sigmoid_like": lambda a: 1.0 / (1.0 + np.exp(-a)),
}
LITERAL = {
    "add": lambda a, v: a + v, "rmul": lambda a, v: v * a, "rsub": lambda a, v: v - a, "gt": lambda a, v: a > v,
    "pow2": lambda a, v: a ** 2, "pow3": lambda a, v: a ** 3, "half_pow": lambda a, v: np.abs(a) ** 0.5,
    "clip": lambda a, v: np.clip(a, -v, v), "floordiv": lambda a, v: a // v,
}
REDUCE = ["sum", "mean", "max", "min", "prod", "argmax", "any", "var", "std", "all", "argmin"]


@st.composite
def programs(draw: Any) -> tuple[list[np.ndarray], list[tuple]]:
    rank = draw(st.integers(1, 3))
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=rank, max_size=rank)))
    inputs = []
    for _ in range(draw(st.integers(1, 3))):
        # a shape broadcastable to `shape`: drop leading axes, set some to 1
        drop = draw(st.integers(0, rank - 1))
        s = tuple(1 if draw(st.booleans()) and draw(st.booleans()) else d for d in shape[drop:])
        dtype = draw(st.sampled_from(DTYPES))
        grid = np.asarray(draw(st.lists(st.integers(-12, 12), min_size=int(np.prod(s)), max_size=int(np.prod(s)))))
        values = (grid / 4.0).reshape(s)
        inputs.append((values if np.dtype(dtype).kind == "f" else grid.reshape(s) if dtype != np.bool_
                       else grid.reshape(s) > 0).astype(dtype))
    steps = []
    for _ in range(draw(st.integers(1, 6))):
        kind = draw(st.sampled_from(["binary", "binary", "unary", "literal", "reduce", "where", "astype"]))
        pick = st.integers(0, 20)
        if kind == "binary":
            steps.append(("binary", draw(st.sampled_from(sorted(BINARY))), draw(pick), draw(pick)))
        elif kind == "unary":
            steps.append(("unary", draw(st.sampled_from(sorted(UNARY))), draw(pick)))
        elif kind == "literal":
            value = draw(st.sampled_from([2, 3, 0.5, 1.25, -1.5, True]))
            steps.append(("literal", draw(st.sampled_from(sorted(LITERAL))), draw(pick), value))
        elif kind == "reduce":
            steps.append(("reduce", draw(st.sampled_from(REDUCE)), draw(pick), draw(st.integers(-3, 3)),
                          draw(st.booleans()), draw(st.booleans())))
        elif kind == "where":
            steps.append(("where", draw(pick), draw(pick), draw(pick)))
        else:
            steps.append(("astype", draw(pick), draw(st.sampled_from(DTYPES))))
    return inputs, steps


def build(steps: list[tuple]):
    """The program as a function of the inputs; it returns the last two values."""

    def program(*xs: Any) -> Any:
        values = list(xs)

        def get(i: int) -> Any:
            return values[i % len(values)]

        for step in steps:
            kind = step[0]
            if kind == "binary":
                values.append(BINARY[step[1]](get(step[2]), get(step[3])))
            elif kind == "unary":
                values.append(UNARY[step[1]](get(step[2])))
            elif kind == "literal":
                values.append(LITERAL[step[1]](get(step[2]), step[3]))
            elif kind == "reduce":
                a = get(step[2])
                axis = None if step[5] else step[3] % a.ndim
                if step[1] in ("argmax", "argmin"):
                    values.append(getattr(np, step[1])(a, axis=axis))
                else:
                    values.append(getattr(np, step[1])(a, axis=axis, keepdims=step[4]))
            elif kind == "where":
                values.append(np.where(get(step[1]) > 0, get(step[2]), get(step[3])))
            else:
                a = get(step[1])
                if a.dtype.kind == "f" and np.dtype(step[2]).kind in "iub":
                    a = np.clip(a, -100, 100)  # float -> int of out-of-range values is undefined in C
                values.append(a.astype(step[2]))
        return values[-1], values[-2]

    return program


def _scaled_close(got: Any, want: Any) -> None:
    """SPEC tolerances; for floats the absolute part scales with the result's magnitude, since a
    program may subtract nearly equal values (any two correct summation orders then differ)."""
    for g, w in zip(got, want):
        assert type(g) is type(w) or (isinstance(g, np.generic) and isinstance(w, np.generic))
        assert g.dtype == w.dtype and np.shape(g) == np.shape(w)
        if w.dtype.kind == "f":
            finite = np.abs(np.asarray(w, np.float64))[np.isfinite(w)]
            scale = max(1.0, float(finite.max())) if finite.size else 1.0
            rtol = 1e-5 if w.dtype == np.float32 else 1e-12
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * 10 * scale, equal_nan=True)
        else:
            np.testing.assert_array_equal(g, w)


def _traced(program, inputs, untraceable: type[Exception] | tuple = ()):
    """``program`` traced on ``inputs``; the example is skipped when NumPy refuses the program
    (bitwise on floats, ...) or tracing raises ``untraceable`` (outside what tracing captures,
    reported by the tracer's own tests)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        try:
            program(*inputs)
        except Exception:  # not a program
            assume(False)
        try:
            return trace_quietly(program, tuple(inputs))
        except untraceable:
            assume(False)


@settings(max_examples=45, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(programs())
def test_random_programs_match_the_interpreter(case):
    inputs, steps = case
    sm = _traced(build(steps), inputs)
    for options in (FORCED, PlanOptions()):
        got, want, _ = run_both(sm, tuple(inputs), options)
        _scaled_close(got, want)


# -- the wide fuzzer (tests/codegen/fuzz_programs.py): most of the registry, NumPy scalar constants
# of every dtype, sizes, 0-d, empty and non-contiguous arrays, NaN/inf, integer overflow; each
# program run twice with garbage in between.  A few dozen programs in CI; ``pytest -m fuzz`` runs
# TRACER_FUZZ_EXAMPLES of them (default 400), drawn afresh each run.

FUZZ_EXAMPLES = int(os.environ.get("TRACER_FUZZ_EXAMPLES", "400"))


def _check_case(case: tuple) -> None:
    inputs, steps, how = case
    sm = _traced(fz.build(steps), inputs, untraceable=TracingError)
    fz.check_program(sm, tuple(inputs), how)
    if how["restore"]:  # save, load with _restore_shapes=True (planned during load), run on numba
        buf = io.BytesIO()
        tracer.save(sm, buf)
        buf.seek(0)
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            loaded = tracer.load(buf, _restore_shapes=True)
            assert loaded.backend == "numba"
            want = sm(*inputs)
            got = loaded(*(fz.fresh(x) for x in inputs))
        fz.spec_close(got, want, "loaded with _restore_shapes=True")


@settings(max_examples=50, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(fz.programs())
def test_wide_random_programs_match_the_interpreter(case):
    _check_case(case)


@pytest.mark.fuzz
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(fz.programs())
def test_wide_random_programs_match_the_interpreter_fuzz(case):
    _check_case(case)
