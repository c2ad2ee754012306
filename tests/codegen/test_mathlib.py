"""Accuracy of the kernels' own float32 exp, tanh and erf, compiled and run as kernels.

A strided sweep over every float32 bit pattern (every 1021st, plus the special values) is compared
with the correctly rounded result (float64 NumPy, rounded once) and with NumPy's own float32
functions.  ``python -m benchmarks.accuracy`` runs the same check over all 2**32 values.
"""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.accuracy import ulp_distance
from ir.ops import get_op
from runtime.compiled import NumbaExecutor
from tests.codegen.helpers import FORCED, trace_quietly
from tracer.dispatch import call_op

SPECIALS = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 1e-45, -1e-45, 1.1754944e-38, 88.72283, 88.72284, -87.33654,
                     -103.97208, -103.97209, 9.01, -9.01, 0.625, -0.625, 0.6249999, 3.92, 4.0, 2.0, 1.9999999],
                    np.float32)


def _sweep(step: int = 1021) -> np.ndarray:
    bits = np.arange(0, 2**32, step, dtype=np.uint64).astype(np.uint32)
    return np.concatenate([bits.view(np.float32), SPECIALS])


def _compiled(fn):
    sm = trace_quietly(fn, (np.ones(4, np.float32),))
    ex = NumbaExecutor(sm.graph, FORCED)
    plan = ex.plan((np.ones(4, np.float32),))
    assert plan is not None and plan.kernel_steps, "runs as a kernel"
    def run(x):
        with np.errstate(all="ignore"):
            return ex.run((x,), {})

    return run


@pytest.fixture(scope="module")
def sweep() -> np.ndarray:
    return _sweep()


# function, max ulp from the correctly rounded value, max ulp from NumPy's float32 result
CASES = {
    "exp": (np.exp, 1, 3),  # NumPy's own float32 exp is up to 2 ulp off here (AVX2 SIMD loop)
    "tanh": (np.tanh, 1, 2),
}


@pytest.mark.parametrize("name", list(CASES))
def test_float32_function_accuracy_over_the_float32_range(name, sweep):
    fn, to_truth, to_numpy = CASES[name]
    ours = _compiled(lambda x: fn(x))(sweep)
    with np.errstate(all="ignore"):
        truth = fn(sweep.astype(np.float64)).astype(np.float32)
        numpy32 = fn(sweep)
    assert ulp_distance(ours, truth).max() <= to_truth
    assert ulp_distance(ours, numpy32).max() <= to_numpy
    assert ulp_distance(numpy32, truth).max() <= to_numpy  # the reference itself, for the record


def test_erf_float32_within_one_ulp_of_the_reference(sweep):
    ours = _compiled(lambda x: call_op("erf", x))(sweep)
    with np.errstate(all="ignore"):
        want = get_op("erf").impl(sweep)
    assert ulp_distance(ours, want).max() <= 1


def test_special_values():
    exp = _compiled(lambda x: np.exp(x))(SPECIALS)
    tanh = _compiled(lambda x: np.tanh(x))(SPECIALS)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(np.isnan(exp), np.isnan(SPECIALS))
        np.testing.assert_array_equal(np.isnan(tanh), np.isnan(SPECIALS))
        np.testing.assert_array_equal(exp[np.isinf(SPECIALS)], np.exp(SPECIALS[np.isinf(SPECIALS)]))
        np.testing.assert_array_equal(tanh[np.isinf(SPECIALS)], np.tanh(SPECIALS[np.isinf(SPECIALS)]))
    assert np.signbit(tanh[1]) and not np.signbit(tanh[0]), "tanh keeps the sign of zero"
    assert exp[SPECIALS == 88.72284][0] == np.inf and np.isfinite(exp[SPECIALS == 88.72283][0])
