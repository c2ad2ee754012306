"""Small helpers shared by the tracer tests."""

from __future__ import annotations

import warnings

import numpy as np

import tracer


def line_of(path: str, marker: str) -> int:
    """The line of ``path`` holding the comment ``marker`` (where an error must point)."""
    with open(path) as f:
        for i, line in enumerate(f, 1):
            if marker in line and "line_of" not in line:
                return i
    raise AssertionError(marker)


def trace_quiet(fn, *inputs):
    """``tracer.trace(fn, inputs)`` on the interpreter, any warning an error (nothing is baked)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        return tracer.trace(fn, inputs).set_backend("interpreter")


def trace_loosely(fn, *inputs):
    """``tracer.trace(fn, inputs)`` on the interpreter, neither checked nor strict, its
    ``TracerWarning``s silenced: for tests of graph passes over whatever the trace recorded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracer.TracerWarning)
        return tracer.trace(fn, inputs, check_trace=False, strict=False).set_backend("interpreter")


def assert_same(got, want) -> None:
    """Equal dtypes, shapes and bits (NaN where eager has NaN), for one value or a tuple."""
    got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
    assert len(got) == len(want)
    for g, w in zip(got, want):
        g, w = np.asarray(g), np.asarray(w)
        assert g.dtype == w.dtype and g.shape == w.shape, (g, w)
        assert np.array_equal(g, w, equal_nan=w.dtype.kind in "fc"), (g, w)


def eager(fn, inputs):
    """``fn`` on copies of ``inputs`` (the model may write into them), NumPy's warnings silenced."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        return fn(*(a.copy() if isinstance(a, np.ndarray) else a for a in inputs))
