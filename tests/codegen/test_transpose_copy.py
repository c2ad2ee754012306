"""``mathlib.transpose_copy_*``: how a swapped matmul's transposed block is copied into place."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.blas import find_blas
from codegen.cache import get_kernel
from codegen.plan import PlanOptions
from tests.codegen.helpers import assert_close, run_both, trace_quietly
from tracer import nn

SHAPES = [  # rows, cols, source leading dimension, destination leading dimension
    (128, 256, 128, 2048), (37, 53, 40, 60), (16, 16, 16, 16), (5, 3, 5, 3), (0, 4, 1, 4), (100, 0, 100, 1),
    (130, 600, 131, 700), (17, 257, 17, 300), (8, 24, 8, 24),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_transpose_copy_matches_numpy(dtype):
    kind = "f32" if dtype == np.float32 else "f64"
    kernel = get_kernel(f"def k_tc_{kind}(f):\n    transpose_copy_{kind}(f[0], f[1], f[2], f[3], f[4], f[5])\n",
                        f"k_tc_{kind}")
    rng = np.random.default_rng(0)
    for rows, cols, lds, ldd in SHAPES:
        src = rng.standard_normal((max(cols, 1), lds)).astype(dtype)
        dst = np.full((max(rows, 1), ldd), -7.0, dtype)
        frame = np.array([src.ctypes.data, lds, dst.ctypes.data, ldd, rows, cols], np.int64)
        kernel(frame.ctypes.data)
        want = np.full_like(dst, -7.0)
        want[:rows, :cols] = src[:cols, :rows].T
        np.testing.assert_array_equal(dst, want, err_msg=f"{rows}x{cols}")  # and nothing outside written


@pytest.mark.skipif(find_blas() is None or not find_blas().private, reason="kernels call NumPy's OpenBLAS here")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_swapped_matmuls_with_ragged_edges_match_the_reference(dtype):
    m = nn.Sequential(nn.Linear(96, 600, dtype=dtype), nn.GELU(), nn.Linear(600, 72, dtype=dtype)).eval()
    for rows in (37, 128):
        x = np.random.default_rng(rows).standard_normal((rows, 96)).astype(dtype)
        sm = trace_quietly(m, (x,))
        # own_gemm off: 128 float32 rows would run on codegen.mathlib_gemm (tests/codegen/test_gemm_wt.py)
        got, want, ex = run_both(sm, (x,), PlanOptions(parallel_work=1, own_gemm=False))
        assert_close(got, want)
        kind = "f32" if dtype == np.float32 else "f64"
        assert f"transpose_copy_{kind}(" in ex.plan((x,)).kernels[0].text, "rows @ W.T runs swapped"
