"""Regressions of the numba backend found outside the test models (issue 13, part 1).

Each test runs a program the way a new user would (trace or script, maybe save and load with
``_restore_shapes=True``) and compares the numba backend with NumPy eager / the interpreter.
Programs run twice with garbage allocated in between, so that a frame word pointing at freed
memory shows up as a wrong number instead of luck.
"""

from __future__ import annotations

import io
import warnings

import numpy as np
import pytest

import tracer
from codegen.plan import ABSOLUTE, PlanOptions
from runtime.compiled import NumbaExecutor
from tests.codegen.fuzz_programs import scribble
from tests.codegen.helpers import FORCED, assert_close, run_both, trace_quietly
from tracer import nn

rng = np.random.default_rng(13)
EPS = np.float32(1e-5)  # a module-level NumPy scalar constant


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


def run_twice(sm: tracer.ScriptModule, *args: object) -> list:
    """Two calls with garbage allocated before each (and the garbage kept alive meanwhile)."""
    out = []
    for _ in range(2):
        junk = scribble(repeats=64)
        out.append(sm(*args))
        del junk
    return out


def roundtrip(sm: tracer.ScriptModule, restore: bool = True) -> tracer.ScriptModule:
    buf = io.BytesIO()
    tracer.save(sm, buf)
    buf.seek(0)
    return tracer.load(buf, _restore_shapes=restore)


class RMSNorm(nn.Module):
    def __init__(self, how: str) -> None:
        super().__init__()
        self.how = how

    def forward(self, x):
        if self.how == "module":
            eps = EPS
        else:
            eps = np.float32(1e-5)
        return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps)


@pytest.mark.parametrize("how", ["module", "local"])
def test_float32_scalar_constant_in_a_reduction_kernel_is_read_from_live_memory(how):
    m = RMSNorm(how)
    x = f32(8, 64)
    sm = tracer.trace(m, (x,), check_trace=False)
    assert sm.backend == "numba"
    want = m(x)
    for got in run_twice(sm, x):
        assert_close(got, want)


def test_constant_addresses_in_frames_point_into_arrays_the_plan_owns():
    x = f32(8, 64)
    sm = trace_quietly(lambda x: x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + EPS), (x,))
    ex = NumbaExecutor(sm.graph, PlanOptions())
    plan = ex.plan((x,))
    owned = [(a.__array_interface__["data"][0], a.nbytes) for a in plan.owned]
    assert owned and all(isinstance(a, np.ndarray) for a in plan.owned)
    absolute = plan.frame_const[plan.frame_base == ABSOLUTE]
    assert any(lo <= w < lo + max(n, 1) for w in absolute for lo, n in owned)


@pytest.mark.parametrize("fn", [lambda x: x / np.sqrt(x.shape[-1]) + np.float64(1.5),
                                lambda x: x / np.sqrt(x.shape[-1]),  # an np.float64: the result is float64
                                lambda x: x * np.float64(0.125)], ids=["both", "sqrt_size", "f64"])
@pytest.mark.parametrize("restore", [None, False, True])
def test_float64_scalar_constant_and_sqrt_of_a_size_run_on_numba(fn, restore):
    x = f32(64, 300)
    sm = tracer.trace(fn, (x,), check_trace=False)
    if restore is not None:
        sm = roundtrip(sm, restore)
    assert sm.backend == "numba"
    for got in run_twice(sm, x):
        assert_close(got, fn(x))


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.int8, np.uint8, np.bool_])
def test_numpy_scalar_constants_of_every_dtype_as_driver_statics(dtype):
    """A NumPy scalar constant that a NumPy call (not a kernel) receives."""
    c = dtype(3)

    def fn(x):
        return np.concatenate([x, x], axis=0) * c

    x = f32(3, 5)
    sm = trace_quietly(fn, (x,))
    got, want, _ = run_both(sm, (x,), PlanOptions())
    assert_close(got, want)


@pytest.mark.parametrize("value", [0.5, 1.0, 0.0, "size"])
@pytest.mark.parametrize("restore", [None, True])
def test_comparison_with_a_float32_constant_after_restore_shapes(value, restore):
    def fn(x):
        return (x < 0) == (np.float32(x.shape[0] - 255) if value == "size" else np.float32(value))

    x = f32(256, 128)
    sm = tracer.trace(fn, (x,), check_trace=False)
    if restore is not None:
        sm = roundtrip(sm)
    for got in run_twice(sm, x):
        assert_close(got, fn(x))


def test_float32_constant_with_a_cast_result_reads_live_memory():
    def fn(x):
        return (x < 0).astype(np.float32) + np.float32(0.25)

    x = f32(256, 128)
    sm = tracer.trace(fn, (x,), check_trace=False)
    for got in run_twice(sm, x):
        assert_close(got, fn(x))


class Scaled(nn.Module):
    def forward(self, x, scale: float = 2.0):
        return x * scale + 1.0


def test_scripted_default_argument_plans_with_restore_shapes():
    m = Scaled()
    x = f32(64, 300)
    sm = tracer.script(m, (x,))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "could not plan ... running it on the interpreter" is a failure
        loaded = roundtrip(sm)
        ex = loaded._program("forward")
        assert isinstance(ex, NumbaExecutor) and len(ex._compiled) == 1  # planned during load
        for got in run_twice(loaded, x):
            assert_close(got, m(x))
        assert_close(loaded(x, 3.0), m(x, 3.0))
    assert len(ex._compiled) == 1 and ex.plan((x,)) is not None  # the load's plan served every call


def test_forced_kernels_read_numpy_scalar_constants_of_every_dtype():
    consts = [np.float32(0.5), np.float64(-1.25), np.int8(-3), np.int16(300), np.int32(-7), np.int64(1 << 40),
              np.uint8(200), np.bool_(True)]

    def fn(x, i):
        out = ()
        for c in consts:
            out += (x * c, i + c, i < c)
        return out

    x, i = f32(4, 6), rng.integers(-50, 50, (4, 6)).astype(np.int32)
    sm = trace_quietly(fn, (x, i))
    for _ in range(2):
        junk = scribble(repeats=64)
        got, want, _ = run_both(sm, (x, i), FORCED)
        assert_close(got, want)
        del junk


class Affine(nn.Module):
    def __init__(self, w: np.ndarray) -> None:
        super().__init__()
        self.w = w

    def forward(self, x):
        return x * self.w + 1.0


def test_non_contiguous_parameter_updated_in_place_is_read_fresh():
    w = f32(300, 64).T  # a transposed view: kernels read a contiguous copy of it
    x = f32(64, 300)
    sm = trace_quietly(Affine(w), (x,))
    state = {"w": w}
    ex = NumbaExecutor(sm.graph, FORCED)
    assert ex.plan((x,)) is not None
    assert_close(ex.run((x,), state), x * w + 1.0)
    w[...] = 3.0  # e.g. load_state_dict copies into the existing arrays
    junk = scribble(repeats=64)
    assert_close(ex.run((x,), state), x * np.float32(3.0) + 1.0)
    del junk


def test_parameter_of_another_shape_or_dtype_is_refused_not_read_out_of_bounds():
    w = f32(64, 300)
    x = f32(64, 300)
    sm = trace_quietly(Affine(w), (x,))
    ex = NumbaExecutor(sm.graph, FORCED)
    assert_close(ex.run((x,), {"w": w}), x * w + 1.0)
    with pytest.raises(RuntimeError, match="parameter 'w' is float64"):
        ex.run((x,), {"w": w.astype(np.float64)})
    with pytest.raises(RuntimeError, match=r"compiled for float32\[64, 300\]"):
        ex.run((x,), {"w": f32(64, 3)})


@pytest.mark.parametrize("fn", [lambda a: np.where(a > 0, a, 0), lambda a: a.astype(np.float64),
                                lambda a: -a, lambda a: np.clip(a, 0, 1), lambda a: np.abs(a).T,
                                lambda a: (a * 2).astype(np.float64) + 1, lambda a: np.where(a > 0, a, 0).T,
                                lambda a: (np.abs(a).astype(np.float32), np.abs(a) + 1)],
                         ids=["where", "astype", "neg", "clip", "abs_T", "mul_astype", "where_T", "abs_astype"])
@pytest.mark.parametrize("options", [FORCED, PlanOptions()], ids=["forced", "default"])
def test_0d_kernel_results_are_scalars_only_where_numpy_gives_scalars(fn, options):
    a = np.array(0.5, np.float32)
    sm = trace_quietly(fn, (a,))
    got, want, _ = run_both(sm, (a,), options)
    for g, w in zip(got if isinstance(want, tuple) else (got,), want if isinstance(want, tuple) else (want,)):
        assert type(g) is type(w), (g, w)
    assert_close(got, want)


def test_big_endian_inputs_parameters_and_constants_are_read_by_value():
    x = f32(100, 200).astype(">f4")
    w = f32(100, 200).astype(">f4")
    c = np.linspace(-1, 1, 200).astype(">f8")
    sm = trace_quietly(Affine(w), (x,))
    ex = NumbaExecutor(sm.graph, FORCED)
    assert_close(ex.run((x,), {"w": w}), (x * w + 1.0).astype(np.float32))
    sm = trace_quietly(lambda x: x * c - 1.0, (x,))
    got, want, _ = run_both(sm, (x,), FORCED)
    assert_close(got, want)


@pytest.mark.parametrize("fn", [lambda x: x.astype(np.float64), lambda x: (x * 2).T, lambda x: np.where(x > 0, x, 1)],
                         ids=["astype", "mul_T", "where"])
def test_numpy_scalar_and_0d_array_inputs_keep_numpy_result_types(fn):
    for x in (np.float32(0.5), np.array(0.5, np.float32)):
        sm = trace_quietly(fn, (x,))
        got, want, _ = run_both(sm, (x,), FORCED)
        assert type(got) is type(want), (type(x), got, want)
        assert_close(got, want)
