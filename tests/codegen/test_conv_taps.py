"""Convolutions that read their input in place (``codegen.mathlib_gemm_nn``: ``gemm_taps_f32`` and
``conv_taps``), alone and inside kernels."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.blas import find_blas
from codegen.mathlib_gemm import available
from codegen.mathlib_gemm_nn import NR, conv_taps, scratch_floats, taps_copy, taps_width
from codegen.plan import PlanOptions
from tests.codegen.helpers import assert_close, assert_within_spec, helper_kernel, run_both, trace_quietly
from tracer import functional as F


def _helper():
    return helper_kernel("gemm_taps_f32")


def _run(a: np.ndarray, x: np.ndarray, taps: np.ndarray, c: np.ndarray, lo: int, hi: int) -> None:
    """``c[:, lo:hi] = a @ W[:, lo:hi]`` with ``W[k, j] = x[taps[k] + j]`` (``x`` one-dimensional)."""
    m, k = a.shape
    scratch = np.full(scratch_floats(m, k) + 16, np.nan, np.float32)
    frame = np.array([a.ctypes.data, a.strides[0] // 4, x.ctypes.data, taps.ctypes.data, c.ctypes.data,
                      c.strides[0] // 4, m, k, lo, hi, scratch.ctypes.data], np.int64)
    _helper()(frame.ctypes.data)
    assert np.isnan(scratch[scratch_floats(m, k):]).all()  # nothing past the scratch it asked for


def _reference(a: np.ndarray, x: np.ndarray, taps: np.ndarray, n: int) -> np.ndarray:
    w = np.stack([x[t:t + n] for t in taps]) if len(taps) else np.zeros((0, n), np.float32)
    return (a.astype(np.float64) @ w.astype(np.float64)).astype(np.float32)


needs_avx512 = pytest.mark.skipif(not available(), reason="gemm_taps_f32 is built for AVX-512 CPUs")


@needs_avx512
@pytest.mark.parametrize("m,k,n,lo,hi", [
    (16, 27, 958, 0, 958), (32, 144, 193, 0, 193), (9, 300, 70, 0, 70), (64, 260, 50, 3, 47),
    (8, 5, 16, 0, 16), (8, 5, 17, 0, 17), (3, 9, 40, 30, 40), (20, 1, 1, 0, 1), (13, 40, 100, 37, 53),
])
def test_rows_of_w_start_where_the_table_says(m, k, n, lo, hi):
    rng = np.random.default_rng(m * 1000 + k + n)
    a = rng.standard_normal((m, k)).astype(np.float32)
    x = rng.standard_normal(3 * n + 100).astype(np.float32)
    taps = rng.integers(0, x.size - n + 1, k).astype(np.int64)  # any order, overlapping rows included
    c = np.full((m, n), -7.0, np.float32)
    _run(a, x, taps, c, lo, hi)
    assert_within_spec(c[:, lo:hi], _reference(a, x, taps, n)[:, lo:hi], f"{m}x{k}x{n} [{lo}:{hi}]")
    np.testing.assert_array_equal(c[:, :lo], -7.0)
    np.testing.assert_array_equal(c[:, hi:], -7.0)


@needs_avx512
def test_nothing_past_hi_is_read_and_empty_k_stores_zeros():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((12, 6)).astype(np.float32)
    x = np.full(200, np.nan, np.float32)
    x[:100] = rng.standard_normal(100)
    taps = np.array([0, 10, 20, 30, 40, 60], np.int64)  # the last row's column 40 is x[100]: NaN
    c = np.full((12, 45), -1.0, np.float32)
    _run(a, x, taps, c, 0, 40)
    assert not np.isnan(c[:, :40]).any()
    assert_within_spec(c[:, :40], _reference(a, x, taps, 40))
    np.testing.assert_array_equal(c[:, 40:], -1.0)
    c[:] = np.nan
    _run(np.ones((12, 0), np.float32), x, np.zeros(0, np.int64), c, 0, 45)
    np.testing.assert_array_equal(c, 0.0)


# -- which convolutions read their input in place -----------------------------------------------------


def _geometry(h, w, kh=3, kw=3, stride=1, dil=1, row=None, channel=None, o=32):
    row = w if row is None else row
    return {"o": o, "h": h, "w": w, "sh": stride, "sw": stride, "xs_w": 1, "xs_h": row,
            "xs_c": h * row if channel is None else channel,
            "xs_n": 3 * h * row, "ho": (h - dil * (kh - 1) - 1) // stride + 1,
            "wo": (w - dil * (kw - 1) - 1) // stride + 1}


def test_the_form_follows_the_strips_each_computes():
    none = ((0, 0), (0, 0))
    assert conv_taps(_geometry(32, 32), none) == "rows"  # the cnn's first: 30 strips either way
    assert conv_taps(_geometry(15, 15), none) == "wide"  # its second: 7 strips against 13
    assert -(-taps_width(13, 13, 15) // NR) == 7
    assert conv_taps(_geometry(64, 64, 5, 5, dil=2), none) == "rows"
    assert conv_taps(_geometry(6, 6), none) == "wide"
    assert conv_taps(_geometry(10, 4, kw=3), none) == "wide"  # one strip, as im2col's 16 columns
    assert conv_taps(_geometry(15, 15, row=40), none) == ""  # 13 or 16 strips against im2col's 6
    assert conv_taps(_geometry(14, 14), none) == "wide"  # 6 strips against 5, and im2col's copies
    assert conv_taps(_geometry(14, 14, o=128), none) == ""  # ... which are cheap beside 128 channels


@pytest.mark.parametrize("change", [dict(stride=2), dict(ho=0)])
def test_strides_and_empty_outputs_keep_im2col(change):
    values = _geometry(15, 15, stride=change.pop("stride", 1))
    values.update(change)
    assert conv_taps(values, ((0, 0), (0, 0))) == ""


@pytest.mark.parametrize("change", [dict(pads=((1, 1), (1, 1))), dict(pads=((0, 1), (0, 0))), dict(xs_w=2),
                                    dict(xs_h=-15)])
def test_padding_and_odd_layouts_read_a_zero_bordered_copy(change):
    values = _geometry(15, 15)
    pads = change.pop("pads", ((0, 0), (0, 0)))
    values.update(change)
    assert conv_taps(values, pads) in ("rows", "wide") and taps_copy(values, pads)
    assert not taps_copy(_geometry(15, 15), ((0, 0), (0, 0)))


# -- inside kernels ---------------------------------------------------------------------------------

needs_own = pytest.mark.skipif(find_blas() is None or not find_blas().private or not available(),
                               reason="kernels use gemm_taps only with the private BLAS on an AVX-512 CPU")


def _helpers_called(ex, *inputs) -> tuple[int, int]:
    texts = [k.text for k in ex.compiled(inputs).plan.kernels]
    return sum("gemm_taps_f32(" in t for t in texts), sum("gemm_nn_f32(" in t for t in texts)


def _conv_model(**kwargs):
    return lambda x, w, b: np.maximum(F.conv2d(x, w, b, **kwargs), 0.0).mean(axis=(2, 3))


@needs_own
@pytest.mark.parametrize("out_channels,size,kernel,kwargs,form", [
    (16, (8, 3, 32, 32), 3, {}, "rows"),  # the cnn's
    (32, (8, 16, 15, 15), 3, {}, "wide"),
    (9, (3, 4, 13, 17), 3, dict(dilation=2), "wide"),
    (40, (2, 33, 12, 40), 3, {}, "wide"),  # 297 taps: strips packed (more than one row block)
    (12, (2, 3, 9, 34), (2, 3), {}, "rows"),
    (10, (2, 3, 20, 66), (2, 3), {}, "rows"),  # two strips per output row
])
def test_convolutions_read_their_input_in_place(out_channels, size, kernel, kwargs, form):
    kh, kw = (kernel, kernel) if isinstance(kernel, int) else kernel
    rng = np.random.default_rng(out_channels)
    x = rng.standard_normal(size).astype(np.float32)
    w = rng.standard_normal((out_channels, size[1], kh, kw)).astype(np.float32)
    b = rng.standard_normal(out_channels).astype(np.float32)
    sm = trace_quietly(_conv_model(**kwargs), (x, w, b))
    for options in (PlanOptions(), PlanOptions(parallel_work=1), PlanOptions(own_gemm=False)):
        for _ in range(2):  # a second call on the same arena and scratch
            got, want, ex = run_both(sm, (x, w, b), options)
            assert_close(got, want, f"{size} {options}")
        assert _helpers_called(ex, x, w, b) == ((1, 0) if options.own_gemm else (0, 0))
        if options.own_gemm:
            text = next(k.text for k in ex.compiled((x, w, b)).plan.kernels if "gemm_taps_f32(" in k.text)
            assert ("_widep" in text) == (form == "wide"), form


@needs_own
@pytest.mark.parametrize("width", [15, 32])
def test_the_columns_between_rows_are_read_and_dropped(width):
    # the input a view whose rows are 8 floats further apart than they are long, NaN between
    # them: every output row's wide columns read those NaNs, and none may reach an output
    rng = np.random.default_rng(width)
    big = np.full((4, 6, width, width + 8), np.nan, np.float32)
    big[..., :width] = rng.standard_normal((4, 6, width, width))
    x = big[..., :width]
    w = rng.standard_normal((16, 6, 3, 3)).astype(np.float32)
    b = rng.standard_normal(16).astype(np.float32)
    sm = trace_quietly(lambda x, w, b: F.conv2d(x, w, b), (x, w, b))
    got, want, ex = run_both(sm, (x, w, b), PlanOptions(parallel_work=1))
    assert not np.isnan(got).any()
    assert_close(got, want, f"width {width}")
    assert _helpers_called(ex, x, w, b)[0] == 1


@needs_own
def test_nan_and_infinities_reach_only_the_outputs_whose_windows_hold_them():
    rng = np.random.default_rng(9)
    x = rng.standard_normal((2, 3, 15, 15)).astype(np.float32)
    x[0, 1, 4, 14] = np.nan  # the last column: in wide columns of the next row's outputs too
    x[1, 2, 14, 0] = np.inf
    w = rng.standard_normal((8, 3, 3, 3)).astype(np.float32)
    sm = trace_quietly(lambda x, w: F.conv2d(x, w), (x, w))
    got, want, ex = run_both(sm, (x, w), PlanOptions())
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want))
    finite = np.isfinite(want)
    assert_close(got[finite], want[finite])
    assert _helpers_called(ex, x, w)[0] == 1


@needs_own
@pytest.mark.parametrize("size,kernel,kwargs", [
    ((4, 16, 15, 15), 3, dict(padding=1)),  # the cnn's second, padded
    ((2, 3, 32, 32), 3, dict(padding=1)),
    ((2, 5, 9, 12), 2, dict(padding="same")),  # one more row and column after than before
    ((2, 4, 10, 11), 3, dict(padding=((0, 2), (1, 0)), dilation=2)),
    ((3, 6, 12, 13), 3, dict(view=lambda x: x[:, :, ::-1])),  # rows read backwards: a negative stride
    ((2, 6, 12, 26), 3, dict(view=lambda x: x[..., ::2])),  # columns two floats apart
])
def test_padded_and_strided_inputs_are_copied_into_a_zero_bordered_buffer(size, kernel, kwargs):
    rng = np.random.default_rng(size[1])
    x = rng.standard_normal(size).astype(np.float32)
    view = kwargs.pop("view", lambda x: x)  # a view made inside the model (inputs arrive contiguous)
    w = rng.standard_normal((12, size[1], kernel, kernel)).astype(np.float32)
    b = rng.standard_normal(12).astype(np.float32)
    sm = trace_quietly(lambda x, w, b: np.maximum(F.conv2d(view(x * 2.0), w, b, **kwargs), 0.0), (x, w, b))
    for options in (PlanOptions(), PlanOptions(parallel_work=1)):
        for _ in range(2):  # the borders are zeroed once per chunk: a second call must find them so
            got, want, ex = run_both(sm, (x, w, b), options)
            assert_close(got, want, f"{size} {kwargs} {options}")
        texts = [k.text for k in ex.compiled((x, w, b)).plan.kernels]
        assert any("gemm_taps_f32(" in t and "_padp" in t for t in texts), texts
