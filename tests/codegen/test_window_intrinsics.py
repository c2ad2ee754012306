"""The intrinsics of convolutions and max pooling: ``row_copy_*`` (an im2col row, a run of the input
between zeros, copied in whole vectors or element by element; ``codegen.mathlib_windows``) and
``pool_max_*`` (a vector of window maxima; ``codegen.mathlib_windows``)."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.cache import get_kernel

CASES = [  # source offset, lo, hi, n
    (0, 0, 30, 30), (3, 0, 13, 13), (0, 2, 15, 15), (5, 1, 14, 17), (0, 0, 16, 16), (0, 0, 17, 20),
    (7, 4, 4, 9), (0, 0, 0, 5), (0, 0, 0, 0), (2, 3, 40, 42), (0, 1, 1, 1),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("whole", [True, False])
def test_row_copy_writes_the_run_and_zeros(dtype, whole):
    kind = "f32" if dtype == np.float32 else "f64"
    lanes = 16 if dtype == np.float32 else 8
    name = f"k_row_{kind}_{int(whole)}"
    kernel = get_kernel(f"def {name}(f):\n    row_copy_{kind}(ptr_{np.dtype(dtype).name}(f[0]), f[1], "
                        f"ptr_{np.dtype(dtype).name}(f[2]), f[3], f[4], f[5], f[6], {whole})\n", name)
    rng = np.random.default_rng(1)
    src = rng.standard_normal(128).astype(dtype)
    for j, lo, hi, n in CASES:
        dst = np.full(128, -7.0, dtype)
        i = 5
        frame = np.array([dst.ctypes.data, i, src.ctypes.data, j, lo, hi, n], np.int64)
        kernel(frame.ctypes.data)
        want = np.full_like(dst, -7.0)
        want[i:i + n] = 0
        want[i + lo:i + hi] = src[j + lo:j + hi]
        end = i + n
        if whole and hi > lo:  # the last vector may write past the row: what it wrote is the source's
            end = max(end, i + lo + -(-(hi - lo) // lanes) * lanes)
            want[i + n:end] = src[j + n:j + end - i]
        np.testing.assert_array_equal(dst, want, err_msg=f"{(j, lo, hi, n)}")  # nothing else written


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("geometry", [(2, 2, 2, 1, 1), (3, 3, 1, 1, 1), (1, 4, 3, 1, 1), (2, 2, 2, 2, 2),
                                      (3, 2, 3, 1, 2), (1, 1, 5, 1, 1), (4, 4, 4, 1, 1)])
def test_pool_max_takes_the_maximum_of_every_window(dtype, geometry):
    # mathlib.maximum's rule, as the scalar window loop: the first unless the second is larger (or
    # the first is NaN), so of two zeros the first
    kh, kw, sw, dh, dw = geometry
    kind = "f32" if dtype == np.float32 else "f64"
    lanes = 16 if dtype == np.float32 else 8
    name = f"k_pool_{kind}_{'_'.join(map(str, geometry))}"
    ptr = f"ptr_{np.dtype(dtype).name}"
    kernel = get_kernel(f"def {name}(f):\n    pool_max_{kind}({ptr}(f[0]), f[1], {ptr}(f[2]), f[3], f[4], "
                        f"{kh}, {kw}, {sw}, {dh}, {dw})\n", name)
    rng = np.random.default_rng(2)
    ld = lanes * sw + (kw - 1) * dw + 3
    src = rng.standard_normal(ld * ((kh - 1) * dh + 1) + 8).astype(dtype)
    src[[5, (ld + 9) % len(src), (2 * ld + 1) % len(src)]] = np.nan  # NaN propagates
    src[[7, 11]] = -np.inf
    src[[12, 14]] = [0.0, -0.0]
    src[[13, (ld + 12) % len(src)]] = [-0.0, 0.0]
    j = 2
    dst = np.full(lanes + 6, -7.0, dtype)
    frame = np.array([dst.ctypes.data, 3, src.ctypes.data, j, ld], np.int64)
    kernel(frame.ctypes.data)
    want = np.full_like(dst, -7.0)
    for k in range(lanes):
        taps = [src[j + ti * dh * ld + tj * dw + k * sw] for ti in range(kh) for tj in range(kw)]
        acc = taps[0]
        for t in taps[1:]:
            acc = acc if (acc >= t or acc != acc) else t
        want[3 + k] = acc
    np.testing.assert_array_equal(dst, want)  # bit for bit (NaN where NaN), nothing else written
    assert np.array_equal(np.signbit(dst), np.signbit(want))
