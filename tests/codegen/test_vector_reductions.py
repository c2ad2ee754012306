"""Float max/min reductions compile to a compare and select LLVM may vectorize (``nnan``/``nsz``,
``mathlib.max_nonnan``); the kernel's NaN flag still makes a row holding a NaN NaN."""

from __future__ import annotations

import numpy as np
import pytest

from codegen.plan import PlanOptions
from runtime.compiled import NumbaExecutor
from tests.codegen.helpers import trace_quietly


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_min_rows_with_nans_infinities_and_zeros(dtype):
    def f(x):
        return np.max(x, axis=-1), np.min(x, axis=-1), x - np.max(x, axis=-1, keepdims=True)

    x = np.random.default_rng(0).random((8, 37)).astype(dtype)
    x[1, 5] = np.nan
    x[2, :] = -np.inf
    x[3, 36] = np.nan
    x[4, 0] = np.inf
    x[5, :] = 0.0
    x[6, 17] = -np.inf
    x[7, 1:] = np.nan
    sm = trace_quietly(f, (np.ones_like(x),))
    ex = NumbaExecutor(sm.graph, PlanOptions(force_kernels=True))
    with np.errstate(invalid="ignore"):
        got, want = ex.run((x,), {}), f(x)
    for g, w in zip(got, want):
        np.testing.assert_array_equal(g, w)  # NaNs where NumPy has them, values equal elsewhere
    assert all("_nonnan(" in k.text for k in ex.plan((x,)).kernels)
