"""Comparing the numba backend with the interpreter (SPEC tolerances) and running programs on it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path
from typing import Any

import numpy as np

import tracer
from codegen.plan import PlanOptions
from runtime.compiled import NumbaExecutor
from runtime.interpreter import Program

#: Relative tolerance per float dtype (SPEC: rtol 1e-5 for float32, 1e-12 for float64), and an
#: absolute one for tests that compare with other libraries (``np.testing.assert_allclose``).
TOLERANCE = {np.dtype(np.float32): (1e-5, 1e-6), np.dtype(np.float64): (1e-12, 1e-12),
             np.dtype(np.float16): (1e-3, 1e-3)}

#: Every lowerable op through a kernel, one kernel per fusion group: what the op-table tests use.
FORCED = PlanOptions(force_kernels=True)


def assert_close(got: Any, want: Any, where: str = "") -> None:
    """Same structure, types, dtypes and shapes; integers and bools equal; floats within the SPEC
    bound (:func:`assert_within_spec`)."""
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
            assert_within_spec(got, want, where)
        else:
            np.testing.assert_array_equal(got, want, err_msg=where)
        return
    assert type(got) is type(want) and (got == want or got != got and want != want), f"{where}: {got!r} != {want!r}"


def assert_within_spec(got: Any, want: Any, where: str = "") -> None:
    """SPEC "Numerics" for float results: per element ``|y - r| <= rtol * (|r| + max |r|)`` (the
    error another summation order, blocking or thread split gives), NaN and infinities exactly
    where the reference has them."""
    rtol = TOLERANCE[want.dtype][0]
    y, r = np.asarray(got).astype(np.complex128), np.asarray(want).astype(np.complex128)
    y, r = np.atleast_1d(y), np.atleast_1d(r)
    nan_y, nan_r = np.isnan(y), np.isnan(r)
    assert np.array_equal(nan_y, nan_r), f"{where}: NaN at other places\n{got}\n{want}"
    special = ~np.isfinite(r)
    assert np.array_equal(y[special & ~nan_r], r[special & ~nan_r]), f"{where}: infinities differ\n{got}\n{want}"
    assert np.isfinite(y[~special]).all(), f"{where}: infinities at other places\n{got}\n{want}"
    finite = r[~special]
    if finite.size:
        bound = rtol * (np.abs(finite) + np.abs(finite).max())
        err = np.abs(y[~special] - finite)
        worst = int(np.argmax(err - bound))
        assert (err <= bound).all(), (f"{where}: |y - r| = {err[worst]:.3g} over the SPEC bound {bound[worst]:.3g} "
                                      f"at flat index {worst} (y = {y[~special][worst]}, r = {finite[worst]})")


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


_FRESH = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tracer
    from tracer import nn
    from codegen.cache import STATS
    {prelude}
    m = {model}.eval()
    x = {x}
    want = m(x)
    out = tracer.trace(m, (x,))(x)
    print(json.dumps({{"compiled": STATS.compiled, "loaded": STATS.loaded, "numba": "numba" in sys.modules,
                      "out": out.tolist(), "want": want.tolist()}}))
""")


def fresh_process(model: str, x: str, cache_dir: str, prelude: str = "") -> dict:
    """Trace and run ``model`` (source text, e.g. ``nn.Linear(4, 2)``) on ``x`` (source text) in a
    new Python process with the compile cache in ``cache_dir``: what it compiled and loaded,
    whether it imported numba, its output and NumPy eager's (as lists).  ``prelude``: source run
    before (a model class the expression names)."""
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, TRACER_CACHE_DIR=cache_dir, PYTHONPATH=str(root))
    env.pop("TRACER_BACKEND", None)
    script = _FRESH.format(model=model, x=x, prelude=textwrap.dedent(prelude).strip())
    proc = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def check_column_range(run: Any, reference: Any, weight_shape: tuple[int, int], lo: int, hi: int) -> None:
    """One of our gemms (``run(a, w, c, lo, hi)``: ``c[:, lo:hi]`` of ``reference(a, w)``, ``a`` 45 x
    300, ``c`` 45 x 101, ``w`` of ``weight_shape``) writes those columns, within SPEC's bound, and no
    others."""
    m, n = 45, 101
    rng = np.random.default_rng(lo * 7 + hi)
    a = rng.standard_normal((m, 300)).astype(np.float32)
    w = rng.standard_normal(weight_shape).astype(np.float32)
    c = np.full((m, n), -7.0, np.float32)
    run(a, w, c, lo, hi)
    want = np.full((m, n), -7.0, np.float32)
    want[:, lo:hi] = reference(a, w)[:, lo:hi]
    np.testing.assert_array_equal(c[:, :lo], want[:, :lo])
    np.testing.assert_array_equal(c[:, hi:], want[:, hi:])
    assert_within_spec(c[:, lo:hi], want[:, lo:hi])


_HELPER_KERNELS: dict[str, Any] = {}


def helper_kernel(helper: str) -> Any:
    """A kernel that calls our native ``helper`` (``gemm_wt_f32``...) with the 11 words of its frame,
    as kernels call it: ``helper_kernel(name)(frame_address)``; compiled once per session."""
    if helper not in _HELPER_KERNELS:
        from codegen.cache import get_kernel

        args = ", ".join(f"f[{i}]" for i in range(11))
        _HELPER_KERNELS[helper] = get_kernel(f"def k_test_{helper}(f):\n    {helper}({args})\n", f"k_test_{helper}")
    return _HELPER_KERNELS[helper]
