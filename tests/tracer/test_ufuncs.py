"""Tracing ufunc calls beyond the op table: every NumPy ufunc is covered, ``out=`` into traced
arrays, and the calls that cannot be recorded raise a TracingError whose advice keeps the result."""

from __future__ import annotations

import numpy as np
import pytest

import tracer
from ir.ops import op_for_numpy
from ir.ops.ufuncs import UNSUPPORTED_UFUNCS
from tests.helpers import assert_same, trace_quiet

rng = np.random.default_rng(7)
X = rng.standard_normal((3, 4)).astype(np.float32)






def test_every_numpy_ufunc_traces_to_an_op_or_says_why_not():
    ufuncs = {n: u for n, u in vars(np).items() if isinstance(u, np.ufunc)}
    missing = sorted(n for n, u in ufuncs.items() if op_for_numpy(u) is None and u.__name__ not in UNSUPPORTED_UFUNCS)
    assert not missing, f"ufuncs without an op: {missing}"


def test_out_into_a_traced_array_is_an_assignment():
    def f(x):
        y = x.astype(np.float64)
        np.multiply(x, 3, out=y)  # NumPy's loop runs in float32, then casts into y
        z = x * 0
        np.maximum.reduce(x, axis=0, out=z[0])
        return y, np.exp(x, out=(None,)), z

    sm = trace_quiet(f, X)
    assert_same(sm(X), f(X))
    x2 = rng.standard_normal((5, 4)).astype(np.float32)
    assert_same(sm(x2), f(x2))


def test_divmod_of_a_size_stays_python_ints():
    def f(x):
        n, r = divmod(x.shape[0], 2)
        return x * n + r

    sm = trace_quiet(f, X)
    x2 = rng.standard_normal((7, 4)).astype(np.float32)
    assert_same(sm(x2), f(x2))


def _raises(fn, match, *inputs):
    with pytest.raises(tracer.TracingError, match=match) as info:
        tracer.trace(fn, inputs or (X,))
    assert "test_ufuncs.py:" in str(info.value)
    return str(info.value)


def test_out_into_a_constant_advises_the_result_with_its_dtype():
    buf = np.zeros((3, 4), np.float64)
    message = _raises(lambda x: np.add(x, 1, out=buf), "out=")
    assert "y = np.add(...).astype(np.float64)" in message  # out's dtype: the same values


def test_in_place_methods_and_masks_are_refused_with_exact_advice():
    assert "x = np.sort(x)" in _raises(lambda x: x.sort(), "in place")
    _raises(lambda x: np.add.at(x, [0, 0], 1.0), r"np\.add\.at .*in place")
    _raises(lambda x: np.add.reduceat(x, [0, 2]), r"np\.add\.reduceat is not supported")
    _raises(lambda x: np.add(x, 1, where=x > 0), "where=")
    _raises(lambda x: np.matmul(x, x.T, axes=[(0, 1), (0, 1), (0, 1)]), "axes=")
    _raises(lambda x: np.maximum.reduce(x, initial=None), "initial=None")


def test_no_message_advises_dropping_keywords():
    message = _raises(lambda x: np.add(x, x, dtype=np.int8), "cast")
    assert "drop" not in message
