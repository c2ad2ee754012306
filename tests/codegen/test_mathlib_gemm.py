"""``codegen.mathlib_gemm``: ``A @ W.T`` with the weight read in place, alone and inside kernels."""

from __future__ import annotations

import ctypes

import numpy as np
import pytest

from codegen import mathlib_gemm
from codegen.blas import find_blas
from codegen.mathlib_gemm import AR, available, scratch_floats, worth
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
    return helper_kernel("gemm_wt_f32")


def _run(a: np.ndarray, w: np.ndarray, c: np.ndarray, lo: int, hi: int) -> None:
    """``c[:, lo:hi] = a @ w[lo:hi].T``; the arrays may be row slices of larger ones."""
    assert all(x.strides[1] == 4 or x.size == 0 for x in (a, w, c))
    k = a.shape[1]
    scratch = np.full(scratch_floats(a.shape[0], k) + 16, np.nan, np.float32)  # the zero padding is written
    frame = np.array([a.ctypes.data, a.strides[0] // 4, w.ctypes.data, w.strides[0] // 4, c.ctypes.data,
                      c.strides[0] // 4, a.shape[0], k, lo, hi, scratch.ctypes.data], np.int64)
    _helper()(frame.ctypes.data)
    assert np.isnan(scratch[scratch_floats(a.shape[0], k):]).all()  # nothing past the scratch it asked for


def _reference(a: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (a.astype(np.float64) @ w.astype(np.float64).T).astype(np.float32)


SHAPES = [  # m, k, n
    (64, 784, 1024), (64, 1024, 512), (128, 512, 200), (1, 1, 1), (1, 37, 1), (1, 1, 33), (5, 1, 70), (3, 1100, 7),
    (13, 70, 95), (32, 16, 8), (33, 17, 9), (47, 513, 31), (16, 2, 64), (100, 600, 100), (130, 257, 48),
]


@pytest.mark.parametrize("m,k,n", SHAPES)
def test_matches_numpy_on_all_columns(m, k, n):
    rng = np.random.default_rng(m * 1000 + k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    w = rng.standard_normal((n, k)).astype(np.float32)
    c = np.full((m, n), np.nan, np.float32)
    _run(a, w, c, 0, n)
    assert_within_spec(c, _reference(a, w), f"{m}x{k}x{n}")


@pytest.mark.parametrize("lo,hi", [(0, 50), (50, 101), (8, 16), (7, 9), (5, 6), (64, 101), (100, 101), (7, 7)])
def test_column_ranges_write_only_their_columns(lo, hi):
    check_column_range(_run, _reference, (101, 300), lo, hi)


def test_leading_dimensions_and_the_last_weight_row_at_the_end_of_memory():
    m, k, n = 37, 700, 90
    rng = np.random.default_rng(3)
    big_a = rng.standard_normal((m, k + 45)).astype(np.float32)
    big_w = rng.standard_normal((n, k + 3)).astype(np.float32)
    big_c = np.full((m, n + 13), -3.0, np.float32)
    a, w, c = big_a[:, 5:5 + k], big_w[:, 3:], big_c[:, 13:]  # w's last row ends where its memory does
    _run(a, w, c, 0, n)
    assert_within_spec(c, _reference(a, w))
    np.testing.assert_array_equal(big_c[:, :13], -3.0)


def test_empty_k_stores_zeros_and_empty_ranges_write_nothing():
    a, w = np.ones((5, 0), np.float32), np.ones((40, 0), np.float32)
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
    w = rng.standard_normal((n, k)).astype(np.float32)
    a[1, 3] = np.nan  # row 1 all NaN
    a[2, 550] = np.inf  # row 2: +-inf by the sign of w[:, 550]
    w[5, 7] = np.inf  # column 5: inf * a[:, 7]
    a[4, 7] = 0.0  # ... and 0 * inf = NaN in row 4
    w[69, 100] = -np.inf  # the last column, in a partial block of weight rows
    a[39, 100] = np.nan  # the last row, in a partial panel
    c = np.zeros((m, n), np.float32)
    _run(a, w, c, 0, n)
    with np.errstate(invalid="ignore", over="ignore"):
        want = _reference(a, w)
    assert np.isnan(want[1]).all() and np.isnan(want[4, 5]) and np.isnan(want[39]).all()
    assert_within_spec(c, want)


def test_the_generic_build_computes_the_same():
    # where numba's internals differ, numba's JIT links kernels against this build (export_symbols)
    address = load_ir(mathlib_gemm.helper_ir(), (mathlib_gemm.SYMBOL,), "test-gemm_wt")[0]
    fn = ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 11))(address)
    rng = np.random.default_rng(9)
    a, w = rng.standard_normal((64, 100)).astype(np.float32), rng.standard_normal((50, 100)).astype(np.float32)
    c, scratch = np.full((64, 50), np.nan, np.float32), np.zeros(scratch_floats(64, 100), np.float32)
    fn(a.ctypes.data, 100, w.ctypes.data, 100, c.ctypes.data, 50, 64, 100, 3, 47, scratch.ctypes.data)
    assert_within_spec(c[:, 3:47], _reference(a, w)[:, 3:47])
    assert np.isnan(c[:, :3]).all() and np.isnan(c[:, 47:]).all()


def test_which_row_counts_are_worth_it():
    # at least one panel; padding to a multiple of AR at most an eighth of the rows computed
    assert AR == 32
    assert [m for m in range(1, 140) if worth(m)] == [32, *range(56, 65), *range(84, 97), *range(112, 129)]


# -- inside kernels ---------------------------------------------------------------------------------

needs_own = pytest.mark.skipif(find_blas() is None or not find_blas().private or not available(),
                               reason="kernels use gemm_wt only with the private BLAS on an AVX-512 CPU")


def _kernels_calling_it(ex, x) -> int:
    return sum("gemm_wt_f32(" in k.text for k in ex.compiled((x,)).plan.kernels)


@needs_own
@pytest.mark.parametrize("rows", [64, 120, 128, 37])
def test_linear_layers_of_few_rows_run_on_it_and_match_the_reference(rows):
    m = nn.Sequential(nn.Linear(200, 1024), nn.ReLU(), nn.Linear(1024, 1000), nn.Tanh(), nn.Linear(1000, 10)).eval()
    x = np.random.default_rng(rows).standard_normal((rows, 200)).astype(np.float32)
    sm = trace_quietly(m, (x,))
    for own in (True, False):
        got, want, ex = run_both(sm, (x,), PlanOptions(own_gemm=own))
        assert_close(got, want, f"rows {rows}, own_gemm={own}")
        assert _kernels_calling_it(ex, x) == (2 if own and worth(rows) else 0)  # fc1 and fc2, not fc3 (10 columns)


@needs_own
@pytest.mark.parametrize("rows,in_row_blocks", [(512, 2), (300, 1)])
def test_many_rows_run_on_it_in_row_blocks(rows, in_row_blocks):
    # with MANY_ROWS or more, products not swapped run on it too: in row blocks, or in column
    # blocks where there are fewer rows than columns (fc1 with 300 rows)
    m = nn.Sequential(nn.Linear(200, 384), nn.ReLU(), nn.Linear(384, 100)).eval()
    x = np.random.default_rng(rows).standard_normal((rows, 200)).astype(np.float32)
    sm = trace_quietly(m, (x,))
    for own in (True, False):
        got, want, ex = run_both(sm, (x,), PlanOptions(own_gemm=own))
        assert_close(got, want, f"rows {rows}, own_gemm={own}")
        texts = [k.text for k in ex.compiled((x,)).plan.kernels]
        assert sum("gemm_wt_f32(" in t for t in texts) == (2 if own else 0)
        assert sum("gemm_wt_f32(" in t and ", hi - lo, " in t for t in texts) == (in_row_blocks if own else 0)


@needs_own
def test_a_weight_updated_in_place_is_read_as_it_is_now():
    m = nn.Sequential(nn.Linear(256, 512), nn.ReLU(), nn.Linear(512, 8)).eval()
    x = np.random.default_rng(1).standard_normal((64, 256)).astype(np.float32)
    sm = trace_quietly(m, (x,)).set_backend("numba")
    first = sm(x)
    weight = sm._flat_state()["0.weight"]
    weight[100:110] *= -2.0  # in place: the same array, other values
    assert_close(sm(x), m(x))
    assert not np.allclose(sm(x), first)


# A fresh process compiles the mlp-like model with a cold cache; another loads its kernels (no numba).
def _fresh(cache_dir: str) -> dict:
    model = "nn.Sequential(nn.Linear(96, 640), nn.ReLU(), nn.Linear(640, 300), nn.ReLU(), nn.Linear(300, 10))"
    return fresh_process(model, "np.linspace(-1, 1, 64 * 96, dtype=np.float32).reshape(64, 96)", cache_dir)


@needs_own
def test_fresh_processes_compile_then_load_kernels_that_call_it(tmp_path):
    cold = _fresh(str(tmp_path))
    assert cold["compiled"] >= 1
    assert any("gemm_wt_f32(" in p.read_text() for p in tmp_path.glob("*/*.py"))
    assert_within_spec(np.array(cold["out"], np.float32), np.array(cold["want"], np.float32))
    warm = _fresh(str(tmp_path))
    assert warm["compiled"] == 0 and warm["loaded"] == cold["compiled"] and not warm["numba"]
    np.testing.assert_array_equal(warm["out"], cold["out"])
