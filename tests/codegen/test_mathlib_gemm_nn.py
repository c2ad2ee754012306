"""``codegen.mathlib_gemm_nn``: ``A @ W`` with the weight (``(K, N)``, row-major) read in place, alone
and inside kernels."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from codegen import mathlib_gemm_nn
from codegen.blas import find_blas
from codegen.mathlib_gemm import available
from codegen.mathlib_gemm_nn import MR, NR, scratch_floats
from codegen.native import load_ir
from codegen.plan import PlanOptions
from tests.codegen.helpers import (
    assert_close,
    assert_within_spec,
    check_column_range,
    fresh_process,
    helper_kernel,
    run_both,
    trace_quietly,
)
from tracer import nn


def _helper():
    return helper_kernel("gemm_nn_f32")


def _run(a: np.ndarray, w: np.ndarray, c: np.ndarray, lo: int, hi: int) -> None:
    """``c[:, lo:hi] = a @ w[:, lo:hi]``; the arrays may be column slices of larger ones."""
    assert all(x.strides[1] == 4 or x.size == 0 for x in (a, w, c))
    k = a.shape[1]
    scratch = np.full(scratch_floats(a.shape[0], k) + 16, np.nan, np.float32)
    frame = np.array([a.ctypes.data, a.strides[0] // 4, w.ctypes.data, w.strides[0] // 4, c.ctypes.data,
                      c.strides[0] // 4, a.shape[0], k, lo, hi, scratch.ctypes.data], np.int64)
    _helper()(frame.ctypes.data)
    assert np.isnan(scratch[scratch_floats(a.shape[0], k):]).all()  # nothing past the scratch it asked for


def _reference(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (a.astype(np.float64) @ w.astype(np.float64)).astype(np.float32)


SHAPES = [  # m, k, n
    (64, 256, 768), (64, 1024, 256), (64, 256, 1024), (100, 600, 100), (8, 1, 1), (1, 1, 1), (1, 37, 1),
    (1, 1, 33), (5, 1, 70), (3, 1100, 7), (13, 70, 95), (32, 16, 8), (33, 17, 9), (47, 513, 31), (16, 2, 64),
    (130, 257, 48), (9, 64, 2048),
]


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matches_numpy_on_all_columns(m, k, n):
    rng = np.random.default_rng(m * 1000 + k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    c = np.full((m, n), np.nan, np.float32)
    _run(a, w, c, 0, n)
    assert_within_spec(c, _reference(a, w), f"{m}x{k}x{n}")


@pytest.mark.parametrize("lo,hi", [(0, 50), (50, 101), (8, 16), (7, 9), (5, 6), (64, 101), (100, 101), (7, 7),
                                   (0, 101)])
def test_column_ranges_write_only_their_columns(lo, hi):
    check_column_range(_run, _reference, (300, 101), lo, hi)


def test_leading_dimensions_and_the_last_weight_column_at_the_end_of_memory():
    m, k, n = 37, 700, 90
    rng = np.random.default_rng(3)
    big_a = rng.standard_normal((m, k + 45)).astype(np.float32)
    big_w = rng.standard_normal((k, n + 3)).astype(np.float32)
    big_c = np.full((m + 2, n + 13), -3.0, np.float32)
    # w's last row ends where its memory does: a read past column hi of that row would fault or
    # (with NaN there) show in the result
    a, w, c = big_a[:, 5:5 + k], big_w[:, 3:], big_c[1:-1, 13:]
    big_w[:, :3] = np.nan
    _run(a, w, c, 0, n)
    assert_within_spec(c, _reference(a, w))
    np.testing.assert_array_equal(big_c[:, :13], -3.0)
    np.testing.assert_array_equal(big_c[[0, -1]], -3.0)


def test_columns_past_hi_are_never_read():
    m, k, n = 20, 50, 70
    rng = np.random.default_rng(4)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    w[:, 40:] = np.nan  # a read of them would make NaN of the whole rows of the tile
    c = np.full((m, n), -1.0, np.float32)
    _run(a, w, c, 3, 40)
    assert_within_spec(c[:, 3:40], _reference(a, w)[:, 3:40])
    np.testing.assert_array_equal(c[:, 40:], -1.0)


def test_empty_k_stores_zeros_and_empty_ranges_write_nothing():
    a, w = np.ones((5, 0), np.float32), np.ones((0, 40), np.float32)
    c = np.full((5, 40), np.nan, np.float32)
    _run(a, w, c, 0, 40)
    np.testing.assert_array_equal(c, 0.0)
    c[:] = np.nan
    _run(a, w, c, 10, 10)
    _run(a[:0], w, c[:0], 0, 40)
    assert np.isnan(c).all()


def test_nan_and_infinities_propagate():
    m, k, n = 40, 600, 70
    rng = np.random.default_rng(5)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((k, n)).astype(np.float32)
    a[1, 3] = np.nan  # row 1 all NaN
    a[2, 550] = np.inf  # row 2: +-inf by the sign of w[550]
    w[7, 5] = np.inf  # column 5: inf * a[:, 7]
    a[4, 7] = 0.0  # ... and 0 * inf = NaN in row 4
    w[100, 69] = -np.inf  # the last column, in a partial strip
    a[39, 100] = np.nan  # the last row, in a partial row block
    c = np.zeros((m, n), np.float32)
    _run(a, w, c, 0, n)
    with np.errstate(invalid="ignore", over="ignore"):
        want = _reference(a, w)
    assert np.isnan(want[1]).all() and np.isnan(want[4, 5]) and np.isnan(want[39]).all()
    assert_within_spec(c, want)


def test_the_generic_build_computes_the_same():
    # where numba's internals differ, numba's JIT links kernels against this build (export_symbols)
    address = load_ir(mathlib_gemm_nn.helper_ir(), (mathlib_gemm_nn.SYMBOL,), "test-gemm_nn")[0]
    fn = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 11))(address)
    rng = np.random.default_rng(9)
    for k in (100, 300):  # strips read in place, and packed
        a, w = rng.standard_normal((64, k)).astype(np.float32), rng.standard_normal((k, 50)).astype(np.float32)
        c, scratch = np.full((64, 50), np.nan, np.float32), np.zeros(max(1, scratch_floats(64, k)), np.float32)
        fn(a.ctypes.data, k, w.ctypes.data, 50, c.ctypes.data, 50, 64, k, 3, 47, scratch.ctypes.data)
        assert_within_spec(c[:, 3:47], _reference(a, w)[:, 3:47])
        assert np.isnan(c[:, :3]).all() and np.isnan(c[:, 47:]).all()


def test_tile_constants():
    assert (MR, NR) == (8, 32) and scratch_floats(64, 300) == 300 * NR
    assert scratch_floats(8, 300) == scratch_floats(64, 255) == scratch_floats(0, 0) == 0  # read in place


# -- inside kernels ---------------------------------------------------------------------------------

needs_own = pytest.mark.skipif(find_blas() is None or not find_blas().private or not available(),
                               reason="kernels use gemm_nn only with the private BLAS on an AVX-512 CPU")


class _Dense(nn.Module):
    """``x @ w + b`` with ``w`` stored input-major (NumPy ports of GPT-2), then ``gelu``-free ReLU."""

    def __init__(self, sizes, seed=0):
        super().__init__()
        rng = np.random.default_rng(seed)
        self.ws = [(rng.standard_normal((i, o)) / np.sqrt(i)).astype(np.float32) for i, o in zip(sizes, sizes[1:])]
        for n, w in enumerate(self.ws):
            setattr(self, f"w{n}", w)

    def forward(self, x):
        for n in range(len(self.ws)):
            x = np.maximum(x @ getattr(self, f"w{n}") + 0.5, 0.0)
        return x


def _kernels_calling_it(ex, *inputs) -> int:
    return sum("gemm_nn_f32(" in k.text for k in ex.compiled(inputs).plan.kernels)


@needs_own
@pytest.mark.parametrize("rows", [64, 120, 37, 8, 3])
def test_input_major_weights_run_on_it_and_match_the_reference(rows):
    m = _Dense([200, 1024, 300, 10])
    x = np.random.default_rng(rows).standard_normal((rows, 200)).astype(np.float32)
    sm = trace_quietly(m, (x,))
    for own in (True, False):
        got, want, ex = run_both(sm, (x,), PlanOptions(own_gemm=own))
        assert_close(got, want, f"rows {rows}, own_gemm={own}")
        calls = _kernels_calling_it(ex, x)
        assert calls == (2 if own and rows >= MR else 0), calls  # the two wide ones (columns split)


@needs_own
def test_a_weight_updated_in_place_is_read_as_it_is_now():
    m = _Dense([256, 512, 8])
    x = np.random.default_rng(1).standard_normal((64, 256)).astype(np.float32)
    sm = trace_quietly(m, (x,)).set_backend("numba")
    first = sm(x)
    weight = sm._flat_state()["w0"]
    weight[:, 100:110] *= -2.0  # in place: the same array, other values
    assert_close(sm(x), m(x))
    assert not np.allclose(sm(x), first)


@needs_own
def test_fresh_processes_compile_then_load_kernels_that_call_it(tmp_path):
    prelude = """
        class D(nn.Module):
            def __init__(self):
                super().__init__()
                self.w = (np.random.default_rng(0).standard_normal((96, 640)) / 10).astype(np.float32)

            def forward(self, x):
                return np.tanh(x @ self.w)
    """
    x = "np.random.default_rng(1).standard_normal((64, 96)).astype(np.float32)"
    cold = fresh_process("D()", x, str(tmp_path), prelude)
    assert cold["compiled"] >= 1
    assert any("gemm_nn_f32(" in p.read_text() for p in tmp_path.glob("*/*.py"))
    assert_within_spec(np.array(cold["out"], np.float32), np.array(cold["want"], np.float32))
    warm = fresh_process("D()", x, str(tmp_path), prelude)
    assert warm["compiled"] == 0 and warm["loaded"] == cold["compiled"] and not warm["numba"]
    np.testing.assert_array_equal(warm["out"], cold["out"])


@pytest.mark.parametrize("shift", range(0, 16, 3))
@pytest.mark.parametrize("lo,hi", [(0, 70), (5, 64), (17, 18), (33, 70)])
def test_strips_start_on_cache_lines_whatever_the_weights_alignment(shift, lo, hi):
    # a weight NumPy allocated is often 16 or 48 bytes past a cache line: the first strip then
    # starts before column lo (before the array, for lo = 0) and reads and writes none of those
    m, k, n = 19, 40, 70
    rng = np.random.default_rng(shift * 100 + lo)
    a = rng.standard_normal((m, k)).astype(np.float32)
    raw = np.full(k * n + 32, np.nan, np.float32)
    start = (-raw.ctypes.data % 64) // 4 + shift
    w = raw[start:start + k * n].reshape(k, n)
    w[...] = rng.standard_normal((k, n))
    assert w.ctypes.data % 64 == 4 * shift
    big_c = np.full((m, n + 20), -5.0, np.float32)
    c = big_c[:, 20 - shift % 7:][:, :n]
    _run(a, w, c, lo, hi)
    assert_within_spec(c[:, lo:hi], _reference(a, w)[:, lo:hi])
    outside = np.ones(big_c.shape, bool)
    outside[:, 20 - shift % 7 + lo:20 - shift % 7 + hi] = False
    np.testing.assert_array_equal(big_c[outside], -5.0)


@needs_own
@pytest.mark.parametrize("out_channels,size,kwargs", [(16, (3, 3, 32, 32), {}), (9, (2, 4, 13, 17), dict(padding=1)),
                                                      (33, (1, 5, 9, 30), dict(stride=(2, 1))), (8, (2, 3, 7, 7), {})])
def test_convolutions_run_each_image_on_it(out_channels, size, kwargs):
    from tracer import functional as F

    rng = np.random.default_rng(out_channels)
    x = rng.standard_normal(size).astype(np.float32)
    w = rng.standard_normal((out_channels, size[1], 3, 3)).astype(np.float32)
    b = rng.standard_normal(out_channels).astype(np.float32)
    sm = trace_quietly(lambda x, w, b: np.maximum(F.conv2d(x, w, b, **kwargs), 0.0).mean(axis=(2, 3)), (x, w, b))
    for options in (PlanOptions(), PlanOptions(parallel_work=1), PlanOptions(own_gemm=False)):
        for _ in range(2):  # a second call on the same arena and scratch
            got, want, ex = run_both(sm, (x, w, b), options)
            assert_close(got, want, f"{out_channels} channels, {options}")
        texts = [k.text for k in ex.compiled((x, w, b)).plan.kernels]  # (or its in-place form, test_conv_taps)
        assert sum("gemm_nn_f32(" in t or "gemm_taps_f32(" in t for t in texts) == (1 if options.own_gemm else 0)
