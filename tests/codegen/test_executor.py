"""runtime.compiled.NumbaExecutor: semantics, fallback, threads, prepare() and memory reuse."""

from __future__ import annotations

import linecache
import threading
import warnings

import numpy as np
import pytest

import runtime.compiled as compiled
import tracer
from codegen.cache import STATS
from codegen.lowering import LOWER
from codegen.plan import PlanOptions
from ir import TensorType, TracerWarning
from runtime.compiled import NumbaExecutor
from runtime.interpreter import Program
from tests.codegen.fuzz_programs import spec_close
from tests.codegen.helpers import FORCED, assert_close, run_both, trace_quietly
from tracer import functional as F
from tracer import nn

rng = np.random.default_rng(11)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def _gelu_ln(x, w, b):
    h = F.layer_norm(x, 64, w, b)
    return (x + F.gelu(h, approximate="tanh")) * 0.5


def test_numba_is_the_default_backend_and_import_stays_lazy(monkeypatch):
    import subprocess
    import sys

    monkeypatch.delenv("TRACER_BACKEND", raising=False)
    code = "import sys, tracer; assert 'numba' not in sys.modules and 'llvmlite' not in sys.modules; print('ok')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "ok", out.stderr
    sm = tracer.trace(lambda x: x * 2.0, (f32(2, 3),))
    assert sm.backend == "numba"


def test_layer_norm_and_gelu_fuse_into_one_row_kernel():
    x, w, b = f32(8, 64), f32(64), f32(64)
    sm = trace_quietly(_gelu_ln, (x, w, b))
    got, want, ex = run_both(sm, (x, w, b), PlanOptions())
    assert_close(got, want)
    plan = ex.plan((x, w, b))
    assert len(plan.kernel_steps) == 1, plan.describe()
    assert {"mean", "sqrt", "tanh"} <= plan.kernel_ops
    text = plan.kernels[0].text
    assert "pairwise_sum_f32" in text and "tanh_f32" in text


def test_kernel_source_is_registered_with_linecache():
    x = f32(6, 10)
    sm = trace_quietly(lambda x: F.softmax(x, dim=-1), (x,))
    ex = NumbaExecutor(sm.graph)
    ex.run((x,), {})
    (kernel,) = ex.plan((x,)).kernels
    names = [f for f, entry in list(linecache.cache.items()) if entry[2] and kernel.text == "".join(entry[2])]
    assert names, "the generated source can be shown in tracebacks"
    assert kernel.text.startswith(f"def {kernel.name}(f):")


def test_softmax_is_one_kernel_and_matches():
    x = f32(4, 3, 33)
    sm = trace_quietly(lambda x: F.softmax(x, dim=-1), (x,))
    got, want, ex = run_both(sm, (x,), PlanOptions())
    assert_close(got, want)
    assert len(ex.plan((x,)).kernel_steps) == 1


def test_matmul_and_its_epilogue_are_one_kernel_calling_blas():
    m = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 8)).eval()
    x = f32(64, 16)
    sm = tracer.trace(m, (x,))
    np.testing.assert_allclose(sm(x), m(x), rtol=1e-5, atol=1e-6)
    plan = sm._program("forward").plan((x,))
    assert plan.describe().splitlines() == ["kernel k_matmul_add_maximum", "kernel k_matmul_add"]
    first = plan.kernels[0].text
    assert "gemm_f32" in first
    assert first.count("ptr_float32(") == 2, "bias and the matmul's buffer, overwritten in place by the epilogue"


def test_matmul_without_kernel_blas_is_a_numpy_call_into_a_planned_buffer(monkeypatch):
    monkeypatch.setenv("TRACER_KERNEL_BLAS", "0")
    m = nn.Sequential(nn.Linear(16, 32), nn.ReLU()).eval()
    x = f32(64, 16)
    sm = trace_quietly(m, (x,))
    got, want, ex = run_both(sm, (x,), PlanOptions())
    assert_close(got, want)
    assert "numpy matmul (into buffer)" in ex.plan((x,)).describe()


def test_batched_and_transposed_matmuls_through_blas():
    def f(q, k, v):
        s = (q @ np.swapaxes(k, -1, -2)) * 0.25
        return F.softmax(s, dim=-1) @ v

    q, k, v = f32(2, 3, 7, 4), f32(2, 3, 6, 4), f32(1, 3, 6, 5)
    sm = trace_quietly(f, (q, k, v))
    for options in (PlanOptions(), PlanOptions(parallel_work=1)):
        got, want, ex = run_both(sm, (q, k, v), options)
        assert_close(got, want)
    assert sum("gemm_f32" in k.text for k in ex.plan((q, k, v)).kernels) == 2


def test_batch_sizes_share_compiled_kernels():
    x = f32(8, 64)
    w, b = f32(64), f32(64)
    sm = tracer.trace(_gelu_ln, (x, w, b))
    sm(x, w, b)
    before = STATS.compiled
    for n in (1, 3, 17):
        xs = f32(n, 64)
        np.testing.assert_allclose(sm(xs, w, b), _gelu_ln(xs, w, b), rtol=1e-5, atol=1e-6)
    assert STATS.compiled == before, "a new batch size reuses the kernel"


def test_prepare_builds_everything_ahead_of_time():
    x = f32(5, 40)
    sm = trace_quietly(lambda x: np.tanh(x) * x.sum(axis=-1, keepdims=True), (x,))
    ex = NumbaExecutor(sm.graph)
    ex.prepare([TensorType(np.dtype(np.float32), (7, 40))])
    before = (STATS.compiled, STATS.loaded, STATS.memory_hits)
    got = ex.run((f32(7, 40),), {})
    assert (STATS.compiled, STATS.loaded, STATS.memory_hits) == before, "the first call built nothing"
    assert got.shape == (7, 40)


def test_ops_without_a_lowering_fall_back_with_one_warning(monkeypatch):
    monkeypatch.delitem(LOWER._rules, "tanh")
    monkeypatch.setattr(compiled, "_WARNED", set())
    x = f32(4, 8)
    sm = trace_quietly(lambda x: np.tanh(x * 2.0) + 1.0, (x,))
    with pytest.warns(TracerWarning, match="'tanh' has no entry in the numba lowering table"):
        got = NumbaExecutor(sm.graph).run((x,), {})
    assert_close(got, np.tanh(x * 2.0) + 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        NumbaExecutor(sm.graph).run((f32(3, 8),), {})  # said once per process


def test_control_flow_runs_through_the_interpreter_without_warnings():
    class Gate(nn.Module):
        def forward(self, x):
            if x.sum() > 0:
                return np.exp(x) * 2.0
            return x - 1.0

    m = Gate().eval()
    sm = tracer.script(m, (f32(3, 4),))
    assert "if" in {n.op for _, n in sm.graph.nodes()}
    for x in (np.abs(f32(3, 4)), -np.abs(f32(3, 4))):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            assert_close(sm(x), m(x))


def test_many_threads_share_one_module():
    m = nn.Sequential(nn.LayerNorm(32), nn.Linear(32, 32), nn.GELU(), nn.Softmax(-1)).eval()
    sm = tracer.trace(m, (f32(4, 32),))
    inputs = [f32(n, 32) for n in (1, 2, 3, 4, 5, 6, 7, 8) * 4]
    want = [m(x) for x in inputs]
    results: dict[int, np.ndarray] = {}
    errors: list[BaseException] = []

    def work(i: int) -> None:
        try:
            for _ in range(5):
                results[i] = sm(inputs[i])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for i, w in enumerate(want):
        np.testing.assert_allclose(results[i], w, rtol=1e-5, atol=1e-6)


def test_results_do_not_share_memory_between_calls():
    sm = trace_quietly(lambda x: (x * 2.0 + 1.0, (x * 3.0).sum(axis=-1)), (f32(50, 400),))
    ex = NumbaExecutor(sm.graph)
    a = f32(50, 400)
    first = ex.run((a,), {})
    snapshot = [r.copy() for r in first]
    ex.run((f32(50, 400),), {})
    for r, s in zip(first, snapshot):
        np.testing.assert_array_equal(r, s)


def test_views_strides_and_broadcasts_feed_kernels():
    def f(x, y):
        a = x.T[::-1, 1:] * 2.0  # transposed, reversed, sliced
        b = np.broadcast_to(y[:, None], (y.shape[0], 5))
        return np.tanh(a[:3] + b) + x[1:4, :5].swapaxes(0, 1).T

    x, y = f32(6, 7), f32(3)
    sm = trace_quietly(f, (x, y))
    got, want, _ = run_both(sm, (x, y))
    assert_close(got, want)
    xt = np.asfortranarray(f32(6, 7))  # a non-contiguous input
    got, want, _ = run_both(sm, (xt, y))
    assert_close(got, want)


def test_python_scalar_arguments_reach_kernels():
    def f(x, scale: float, shift: int, flag: bool):
        return np.where(flag, x * scale + shift, x - scale)

    x = f32(4, 6)
    sm = trace_quietly(f, (x, 0.5, 3, True))
    for args in ((x, 0.5, 3, True), (x, -2.25, 7, False), (f32(2, 6), 1e-3, -1, True)):
        got, want, _ = run_both(sm, args)
        assert_close(got, want)


def test_scalar_results_are_numpy_scalars():
    sm = trace_quietly(lambda x: (x.sum(), np.float32(2) * x.max()), (f32(3, 4),))
    got, want, _ = run_both(sm, (f32(3, 4),))
    assert isinstance(got[0], np.generic) and isinstance(got[1], np.generic)
    assert_close(got, want)


def test_parallel_kernels_split_rows_across_threads():
    x = f32(512, 256)
    sm = trace_quietly(lambda x: np.tanh(x - x.mean(axis=-1, keepdims=True)), (x,))
    got, want, ex = run_both(sm, (x,), PlanOptions(parallel_work=1))
    assert_close(got, want)
    assert len(ex.plan((x,)).kernel_steps[0].frames) == 2


def test_planner_failure_falls_back_to_the_interpreter_with_a_warning(monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("planner bug")

    monkeypatch.setattr(compiled, "plan_graph", broken)
    x = f32(2, 3)
    sm = trace_quietly(lambda x: x + 1.0, (x,))
    with pytest.warns(TracerWarning, match="could not plan"):
        got = NumbaExecutor(sm.graph).run((x,), {})
    np.testing.assert_array_equal(got, x + 1.0)


def test_missing_parameter_is_reported_like_the_interpreter():
    m = nn.Linear(3, 2).eval()
    sm = tracer.trace(m, (f32(2, 3),))
    ex = NumbaExecutor(sm.graph)
    with pytest.raises(tracer.TracingError, match="weight"):
        ex.run((f32(2, 3),), {})
    with pytest.raises(tracer.TracingError, match="weight"):
        Program(sm.graph).run((f32(2, 3),), {})


def test_forced_plan_compiles_even_tiny_ops():
    sm = trace_quietly(lambda x: x + 1.0, (f32(2, 2),))
    assert NumbaExecutor(sm.graph).plan((f32(2, 2),)).kernel_steps == []
    assert len(NumbaExecutor(sm.graph, FORCED).plan((f32(2, 2),)).kernel_steps) == 1


@pytest.mark.parametrize("kwargs", [dict(padding=1), dict(stride=(2, 1), padding=((0, 1), (2, 0))),
                                    dict(dilation=2), dict(padding="same")])
def test_convolution_kernels_match_the_reference(kwargs):
    def f(x, w, b):
        return np.maximum(F.conv2d(x, w, b, **kwargs), 0.0) * 0.5

    x, w, b = f32(3, 4, 9, 8), f32(5, 4, 3, 3), f32(5)
    sm = trace_quietly(f, (x, w, b))
    for options in (PlanOptions(), PlanOptions(parallel_work=1)):
        got, want, ex = run_both(sm, (x, w, b), options)
        assert_close(got, want)
    assert "k_conv2d_maximum_mul" in ex.plan((x, w, b)).describe()


def test_convolutions_through_blas_are_within_the_spec_bound():
    # the backend chooses its BLAS calls (our single-threaded OpenBLAS, images split over threads),
    # so its sums differ from the reference's; SPEC bounds that by rtol (|r| + max|r|) per output,
    # also where 144 terms cancel
    x, w, b = f32(2, 16, 8, 8), f32(64, 16, 3, 3), f32(64)
    sm = trace_quietly(lambda x, w, b: np.maximum(F.conv2d(x, w, b), 0.0), (x, w, b))
    for options in (PlanOptions(), PlanOptions(parallel_work=1)):
        got, want, _ = run_both(sm, (x, w, b), options)
        spec_close(got, want)


def test_window_geometry_is_written_into_the_kernel_source():
    # kernel size, stride, dilation and padding are literals, and so is a unit innermost input
    # stride; a strided view as input keeps its stride a frame value
    def f(x, w):
        return (F.max_pool2d(F.conv2d(x, w, stride=(1, 2)), 2), F.conv2d(x[..., ::2], w, padding=1),
                F.max_pool2d(x[..., ::2], 2))

    x, w = f32(2, 3, 10, 12), f32(4, 3, 3, 2)
    sm = trace_quietly(f, (x, w))
    got, want, ex = run_both(sm, (x, w), FORCED)
    assert_close(got, want)
    text = "\n".join(k.text for k in ex.plan((x, w)).kernels)
    assert "conv2d_xp[xo + ow * 2 * 1]" in text, text  # stride 2, unit input stride
    # a vector of windows inside the input, the geometry (kh, kw, sw, dil_h, dil_w) literals
    assert ("pool_max_f32(max_pool2d_outp, o + ow, max_pool2d_xp, xb + ih * max_pool2d_xs_h + ow * 2 - 0, "
            "max_pool2d_xs_h, 2, 2, 2, 1, 1)") in text, text
    # x[..., ::2]: a window inside the input, its taps written out, the column stride from the frame
    assert "xo = xb + ih * max_pool2d_xs_h + (ow * 2 - 0) * max_pool2d_xs_w" in text, text
    assert "max_pool2d_xp[xo + 1 * 1 * max_pool2d_xs_h + 1 * 1 * max_pool2d_xs_w]" in text, text
    assert "conv2d_xp[xo + ow * 1 * conv2d_xs_w]" in text, text  # x[..., ::2]: its stride from the frame
    assert "conv2d_kh" not in text and "max_pool2d_sw" not in text


def test_convolution_result_is_stored_channel_major_and_still_reads_as_nchw():
    x, w = f32(4, 3, 6, 6), f32(2, 3, 3, 3)
    sm = trace_quietly(lambda x, w: (F.conv2d(x, w), F.conv2d(x, w).sum(axis=1)), (x, w))
    got, want, ex = run_both(sm, (x, w), PlanOptions())
    assert_close(got, want)
    assert got[0].strides == (16 * 4, 4 * 16 * 4, 4 * 4, 4), "(O, N, H, W) in memory, indexed as (N, O, H, W)"


def test_viewed_convolution_results_stay_in_c_order():
    # a reshape's geometry is NumPy's for C order: neither the convolution's buffer nor the
    # epilogue that takes it over may switch to channel-major storage under it
    def f(x, w, b, fc):
        h = np.maximum(F.conv2d(x, w, b, stride=2), 0.0)
        flat = h.reshape(h.shape[0], -1)
        return flat @ fc, F.conv2d(x, w).reshape(x.shape[0], -1) * 2.0

    x, w, b, fc = f32(3, 4, 6, 6), f32(5, 4, 3, 3), f32(5), f32(20, 7)
    sm = trace_quietly(f, (x, w, b, fc))
    for options in (PlanOptions(), FORCED):
        got, want, ex = run_both(sm, (x, w, b, fc), options)
        assert_close(got, want)
    assert "k_conv2d_maximum" in ex.plan((x, w, b, fc)).describe()


def test_convolution_without_bias_and_pooling_windows():
    def f(x, w):
        h = F.conv2d(x, w)
        return F.max_pool2d(h, 3, 2, padding=1, ceil_mode=True), F.max_pool2d(h, 2, dilation=2)

    x, w = f32(2, 3, 11, 12), f32(4, 3, 2, 2)
    x[0, 0, 3, 3] = np.nan  # NaN propagates through max pooling as in NumPy
    sm = trace_quietly(f, (x, w))
    got, want, ex = run_both(sm, (x, w), PlanOptions())
    assert_close(got, want)
    assert ex.plan((x, w)).describe().count("kernel") == 3
    pooled = trace_quietly(lambda h: F.max_pool2d(h, 3, 2, padding=1, ceil_mode=True), (x,))
    got, want, _ = run_both(pooled, (x,), PlanOptions(force_kernels=True))
    np.testing.assert_array_equal(got, want)  # max is exact: pooling equals the reference bit for bit


def test_matmuls_numpy_runs_without_gemm_give_numpys_bits():
    # one row (batch 1), one column, or x @ x.T: NumPy calls gemv/syrk, not gemm, so these stay
    # np.matmul calls (gemm's sums differed from gemv's by 4e-5 relative at 1024 terms)
    rng = np.random.default_rng(5)
    cases = [
        (lambda a, b: np.maximum(a @ b, 0.0), ((1, 1024), (1024, 64))),
        (lambda a, b: np.maximum(a @ b, 0.0), ((64, 1024), (1024, 1))),
        (lambda a, b: np.maximum(a @ b, 0.0), ((3, 1, 512), (512, 32))),
        (lambda a, b: (a @ a.T) * 2.0 + b.sum(), ((48, 256), (1, 1))),
        (lambda x, w: np.maximum(F.conv2d(x, w), 0.0), ((2, 64, 6, 6), (1, 64, 3, 3))),  # one channel
        (lambda x, w: np.maximum(F.conv2d(x, w), 0.0), ((2, 64, 3, 3), (8, 64, 3, 3))),  # one pixel
    ]
    for fn, shapes in cases:
        inputs = tuple(rng.standard_normal(s).astype(np.float32) for s in shapes)
        sm = trace_quietly(fn, inputs)
        got, want, _ = run_both(sm, inputs, FORCED)
        np.testing.assert_array_equal(got, want)


def test_matmul_layouts_and_dtypes_through_blas():
    a64, b64 = np.asarray(f32(5, 7), np.float64), np.asarray(f32(7, 3), np.float64)

    cases = [
        (lambda a, b: a @ b + 1.0, (f32(5, 7), f32(7, 3))),
        (lambda a, b: a.T @ b.T, (f32(7, 5), f32(3, 7))),  # both transposed
        (lambda a, b: (a @ b) * 2.0, (a64, b64)),  # float64: dgemm
        (lambda a, b: np.tanh(a @ b), (f32(2, 1, 5, 7), f32(3, 7, 4))),  # broadcast batch axes
        (lambda a, b: a[:, 1:6] @ b[::2], (f32(4, 8), f32(10, 6))),  # strided views
        (lambda a, b: (a @ b).sum(axis=-1), (f32(2, 7), f32(7, 3))),  # a reduction joins (one row: gemv, tested above)
    ]
    for fn, inputs in cases:
        sm = trace_quietly(fn, inputs)
        for options in (PlanOptions(), PlanOptions(parallel_work=1)):
            got, want, ex = run_both(sm, inputs, options)
            assert_close(got, want)
        assert any("gemm_" in k.text for k in ex.plan(inputs).kernels)


def test_data_address_reads_the_array_pointer():
    from runtime.driver import data_address

    base = np.arange(60, dtype=np.float64).reshape(3, 4, 5)
    for arr in (base, base[1:, ::2, 3:], base.T, np.array(7, np.int8), np.ones(3, bool)[1:]):
        assert data_address(arr) == arr.__array_interface__["data"][0]


def test_value_names_never_clash_with_the_drivers_own():
    def f(a, b, state, values, p, raw, block, keep):
        c = np.concatenate([a, b], axis=1)
        return c[:, :3] * 2 + state + values + p + raw + block + keep

    xs = tuple(np.full((2, 3), i, np.float32) for i in range(8))
    sm = trace_quietly(f, xs).set_backend("numba")
    np.testing.assert_array_equal(sm(*xs), f(*xs))
    assert "_H0((a_1, b), axis=1)" in sm._program("forward").compiled(xs).driver.source
