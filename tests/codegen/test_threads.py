"""Our own threads and BLAS: codegen.pool (native workers that share kernel chunks), codegen.blas
(a private single-threaded OpenBLAS), and how kernels split matmuls between them."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import threading

import numpy as np
import pytest

import tracer
from codegen.blas import find_blas
from codegen.cache import get_kernel
from codegen.plan import PlanOptions
from codegen.pool import get_pool, native_pool_available
from runtime.compiled import NumbaExecutor
from tests.codegen.helpers import assert_close, run_both, trace_quietly
from tracer import functional as F
from tracer import nn

rng = np.random.default_rng(3)
needs_pool = pytest.mark.skipif(not native_pool_available(), reason="no native worker pool on this platform")


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def private_blas() -> bool:
    blas = find_blas()
    return blas is not None and blas.private


_COUNT = """def k_count(f):
    x = ptr_int64(f[2])
    for i in range(f[0], f[1]):
        x[i] = x[i] + 1
"""


def _chunk_frames(out: np.ndarray, n_chunks: int) -> tuple[np.ndarray, np.ndarray]:
    """One 4-word frame per chunk (lo, hi, pointer, padding) covering ``out``, and their byte offsets."""
    bounds = np.linspace(0, out.size, n_chunks + 1).astype(np.int64)
    frames = np.zeros((n_chunks, 4), np.int64)
    frames[:, 0], frames[:, 1], frames[:, 2] = bounds[:-1], bounds[1:], out.ctypes.data
    return frames, np.arange(n_chunks, dtype=np.int64) * 32


@needs_pool
def test_every_chunk_runs_exactly_once():
    pool = get_pool(2)
    kernel = get_kernel(_COUNT, "k_count")
    out = np.zeros(1000, np.int64)
    frames, offsets = _chunk_frames(out, 37)
    for _ in range(300):
        pool(kernel.address, frames.ctypes.data, offsets)
    np.testing.assert_array_equal(out, 300)


@needs_pool
def test_callers_in_several_threads_each_get_all_their_chunks():
    # one caller owns the pool at a time; the others run their chunks themselves
    pool = get_pool(2)
    kernel = get_kernel(_COUNT, "k_count")
    outs = [np.zeros(4096, np.int64) for _ in range(4)]

    def work(out: np.ndarray) -> None:
        frames, offsets = _chunk_frames(out, 8)
        for _ in range(200):
            pool(kernel.address, frames.ctypes.data, offsets)

    threads = [threading.Thread(target=work, args=(out,)) for out in outs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for out in outs:
        np.testing.assert_array_equal(out, 200)


def test_numpys_openblas_and_the_environment_stay_as_they_were():
    # the private copy lives in a dlmopen namespace with an environment of its own
    script = """
import json, os, ctypes, numpy as np
from codegen.blas import _numpy_blas_paths, _openblas_function, _address, find_blas
lib = ctypes.CDLL(_numpy_blas_paths()[0])
lookup = lambda name: _address(getattr(lib, name, None))
threads = ctypes.CFUNCTYPE(ctypes.c_int)(_openblas_function(lookup, "get_num_threads"))
before, env = threads(), dict(os.environ)
blas = find_blas()
numpys = {lookup(name) for name in ("scipy_cblas_sgemm64_", "cblas_sgemm64_", "scipy_cblas_sgemm", "cblas_sgemm")}
out = {"before": before, "after": threads(), "env_same": env == dict(os.environ),
       "private": bool(blas and blas.private), "own": bool(blas) and blas.sgemm not in numpys}
print(json.dumps(out))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENBLAS")}
    env["OPENBLAS_NUM_THREADS"] = "2"
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["before"] == got["after"] == 2 and got["env_same"]
    if got["private"]:
        assert got["own"], "kernels call their own copy of OpenBLAS, not NumPy's"


@pytest.mark.skipif(not private_blas(), reason="kernels call NumPy's OpenBLAS here (no dlmopen)")
def test_wide_matmuls_split_by_columns_and_transposed_weights_run_swapped():
    m = nn.Sequential(nn.Linear(256, 1024), nn.ReLU(), nn.Linear(1024, 8)).eval()
    x = f32(16, 256)
    sm = trace_quietly(m, (x,))
    got, want, ex = run_both(sm, (x,), PlanOptions(parallel_work=1))
    assert_close(got, want)
    plan = ex.plan((x,))
    first, last = plan.kernel_steps[0], plan.kernel_steps[-1]
    assert len(first.frames) == 2 and len(last.frames) == 2
    text = plan.kernels[first.kernel].text
    assert "223 - " in text, "16 rows @ W.T runs as W @ x.T into scratch"
    assert "for i1 in range(lo, hi):" in text, "its epilogue covers the chunk's columns"
    # 16 rows, 8 columns: split by rows, not swapped
    assert "223 - " not in plan.kernels[last.kernel].text


@pytest.mark.skipif(not private_blas(), reason="kernels call NumPy's OpenBLAS here (no dlmopen)")
def test_layer_norm_after_a_wide_matmul_is_a_kernel_of_its_own():
    m = nn.Sequential(nn.Linear(64, 512), nn.LayerNorm(512)).eval()
    x = f32(8, 64)
    sm = trace_quietly(m, (x,))
    got, want, ex = run_both(sm, (x,), PlanOptions())
    assert_close(got, want)
    assert ex.plan((x,)).describe().splitlines() == ["kernel k_matmul_add", "kernel k_mean_sub_mul_add_etc"]
    tall = f32(600, 64)  # more rows than columns: the LayerNorm stays in the matmul's kernel
    got, want, ex = run_both(sm, (tall,), PlanOptions())
    assert_close(got, want)
    assert len(ex.plan((tall,)).kernel_steps) == 1


def test_split_convolutions_and_pooling_match_the_reference():
    def f(x, w1, b1, w2):
        h = F.max_pool2d(np.maximum(F.conv2d(x, w1, b1), 0.0), 2)
        return np.maximum(F.conv2d(h, w2, padding=1), 0.0).mean(axis=(2, 3))

    x, w1, b1, w2 = f32(6, 3, 17, 16), f32(8, 3, 3, 3), f32(8), f32(5, 8, 3, 3)
    x[1, 2, 4, 4] = np.nan
    sm = trace_quietly(f, (x, w1, b1, w2))
    for options in (PlanOptions(), PlanOptions(parallel_work=1)):
        got, want, ex = run_both(sm, (x, w1, b1, w2), options)
        assert_close(got, want)
    assert all(len(s.frames) == 2 for s in ex.plan((x, w1, b1, w2)).kernel_steps)


def test_max_and_min_reductions_propagate_nan_and_infinities():
    x = f32(6, 40)
    x[1, 7] = np.nan
    x[2, :] = -np.inf
    x[3, 0] = np.inf
    x[4, 39] = np.nan
    x[4, 0] = np.inf
    sm = trace_quietly(lambda x: (x.max(axis=-1), x.min(axis=-1, keepdims=True) * 2.0, F.softmax(x, dim=-1)),
                       (f32(6, 40),))
    got, want, _ = run_both(sm, (x,), PlanOptions(force_kernels=True))
    assert_close(got, want)
    assert np.isnan(got[0][[1, 4]]).all() and got[0][3] == np.inf and got[0][2] == -np.inf


def test_cubes_are_products_within_the_spec_bound():
    x = f32(64, 300) * 10.0
    x[0, :4] = [np.inf, -np.inf, np.nan, 0.0]
    sm = trace_quietly(lambda x: 0.5 * x * (1.0 + np.tanh(0.79788456 * (x + 0.044715 * x**3))), (f32(64, 300),))
    got, want, ex = run_both(sm, (x,), PlanOptions())
    assert_close(got, want)
    assert "** " not in ex.plan((x,)).kernels[0].text


class _Scale(nn.Module):
    def __init__(self, w: np.ndarray) -> None:
        super().__init__()
        self.w = w

    def forward(self, x):
        return x * self.w + 1.0


def test_a_parameter_replaced_by_another_array_is_read_in_the_next_call():
    # the driver writes a parameter's address only when the object changed since the thread's last call
    w, x = f32(64, 300), f32(64, 300)
    sm = trace_quietly(_Scale(w), (x,))
    ex = NumbaExecutor(sm.graph, PlanOptions(force_kernels=True))
    state = {"w": w}
    assert_close(ex.run((x,), state), x * w + 1.0)
    state["w"] = w2 = f32(64, 300)
    assert_close(ex.run((x,), state), x * w2 + 1.0)
    state["w"] = w
    assert_close(ex.run((x,), state), x * w + 1.0)
    with pytest.raises(tracer.TracingError, match="'w'"):
        ex.run((x,), {})


def test_float32_matmuls_feeding_float64_results_make_numpys_calls():
    # SPEC's float64 tolerance leaves no room for float32 rounding differences: such matmuls run
    # on NumPy's own OpenBLAS with the reference's calls (the public gpt2's float64 attention)
    x, w, v, u = f32(64, 256), f32(256, 512), f32(256, 512), f32(256, 512)

    def f(x, w, v, u):  # math.sqrt of a size is a Python float known when planning: no float64 data
        return (x @ w) / np.sqrt(64), np.tanh(x @ v), (x @ u) / math.sqrt(x.shape[-1])

    sm = trace_quietly(f, (x, w, v, u))
    got, want, ex = run_both(sm, (x, w, v, u), PlanOptions(parallel_work=1))
    assert [g.dtype for g in got] == [np.float64, np.float32, np.float32]
    np.testing.assert_array_equal(got[0], want[0])
    assert_close(got, want)
    steps = ex.plan((x, w, v, u)).kernel_steps
    assert sorted(len(s.frames) for s in steps) == [1, 2, 2], "the float64 one is one call, the float32 ones split"


@pytest.mark.skipif(not private_blas(), reason="kernels call NumPy's OpenBLAS here (no dlmopen)")
def test_a_column_split_matmul_never_overwrites_its_left_operand():
    # every column chunk reads all of tanh(x): no chunk may store its part of the result there,
    # though tanh(x) dies at the matmul and has the result's shape
    x, w, b = f32(8, 256), f32(256, 256), f32(256)
    sm = trace_quietly(lambda x, w, b: np.tanh(np.tanh(x) @ w.T + b) @ w, (x, w, b))
    for options in (PlanOptions(), PlanOptions(parallel_work=1)):
        got, want, ex = run_both(sm, (x, w, b), options)
        assert_close(got, want)
    assert [len(s.frames) for s in ex.plan((x, w, b)).kernel_steps] == [2, 2, 2]


def test_a_row_split_matmul_never_overwrites_its_right_operand():
    # every row chunk reads all of tanh(y), which dies at the matmul with the result's shape
    a, y, w = f32(128, 128), f32(128, 64), f32(64, 8)
    sm = trace_quietly(lambda a, y, w: np.tanh(a @ np.tanh(y)) @ w, (a, y, w))
    for options in (PlanOptions(), PlanOptions(parallel_work=1)):
        got, want, ex = run_both(sm, (a, y, w), options)
        assert_close(got, want)
    assert [len(s.frames) for s in ex.plan((a, y, w)).kernel_steps][:2] == [2, 2]
