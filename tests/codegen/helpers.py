"""Comparing the numba backend with the interpreter (SPEC tolerances) and running programs on it."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

import tracer
from codegen.plan import PlanOptions
from runtime.compiled import NumbaExecutor
from runtime.interpreter import Program

#: Relative and absolute tolerance per float dtype (SPEC: rtol 1e-5 for float32, 1e-12 for float64).
TOLERANCE = {np.dtype(np.float32): (1e-5, 1e-6), np.dtype(np.float64): (1e-12, 1e-12),
             np.dtype(np.float16): (1e-3, 1e-3)}

#: Every lowerable op through a kernel, one kernel per fusion group: what the op-table tests use.
FORCED = PlanOptions(force_kernels=True)


def assert_close(got: Any, want: Any, where: str = "") -> None:
    """Same structure, types, dtypes and shapes; integers and bools equal; floats within tolerance."""
    if isinstance(want, (tuple, list)):
        assert isinstance(got, tuple) and len(got) == len(want), f"{where}: {type(got)} vs {len(want)} values"
        for i, (g, w) in enumerate(zip(got, want)):
            assert_close(g, w, f"{where}[{i}]")
        return
    if isinstance(want, (np.ndarray, np.generic)):
        assert isinstance(got, (np.ndarray, np.generic)), f"{where}: {type(got)}"
        assert got.dtype == want.dtype, f"{where}: dtype {got.dtype} != {want.dtype}"
        assert np.shape(got) == np.shape(want), f"{where}: shape {np.shape(got)} != {np.shape(want)}"
        if want.dtype.kind in "fc":
            rtol, atol = TOLERANCE[want.dtype]
            np.testing.assert_allclose(got, want, rtol=rtol, atol=atol, equal_nan=True, err_msg=where)
        else:
            np.testing.assert_array_equal(got, want, err_msg=where)
        return
    assert type(got) is type(want) and (got == want or got != got and want != want), f"{where}: {got!r} != {want!r}"


def trace_quietly(fn: Any, inputs: tuple) -> tracer.ScriptModule:
    """Trace on the interpreter (no compiling while tracing), without TracerWarnings."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracer.TracerWarning)
        return tracer.trace(fn, inputs, check_trace=False).set_backend("interpreter")


def run_both(sm: tracer.ScriptModule, inputs: tuple, options: PlanOptions = FORCED) -> tuple[Any, Any, NumbaExecutor]:
    """(numba result, interpreter result, executor) for ``inputs``."""
    state = sm._flat_state()
    ex = NumbaExecutor(sm.graph, options)
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore", RuntimeWarning)
        want = Program(sm.graph).run(inputs, state)
        got = ex.run(inputs, state)
    return got, want, ex
