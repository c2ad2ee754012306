"""NumPy functions written as decompositions (``ir.ops.defdecomp``) under ``tracer.trace`` and
``tracer.script``: the program holds only registered ops, equals eager bit for bit, and follows
sizes read from the inputs.  Per-function samples live in tests/op_table_numpy.py."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracer
from ir.ops import all_ops, decomposition_for, numpy_surface

rng = np.random.default_rng(3)


def gpt_style(x):
    """What public NumPy model code writes: a causal mask from np.tri, per-head splits and stacks."""
    t = x.shape[0]
    mask = np.tri(t, dtype=bool)
    h1, h2 = np.split(x, 2, axis=-1)
    o1 = np.where(mask, h1 @ h1.T, -1e9) @ h1
    o2 = np.where(mask, h2 @ h2.T, -1e9) @ h2
    pos = np.linspace(0.0, 1.0, t)
    return np.hstack([o1, o2]) + pos[:, None]


def shapes_and_padding(x):
    a, b, c = np.array_split(x, 3)
    y = np.vstack([c, b, a])
    y = np.pad(y, ((1, 1), (0, 2)), mode="reflect")
    grid_x, grid_y = np.meshgrid(np.arange(x.shape[1]), np.arange(x.shape[0]))
    return y, np.diff(x, axis=0, prepend=0.0), np.roll(x, 1, axis=1) * grid_x + grid_y, np.eye(x.shape[0]) @ x


FUNCTIONS = [gpt_style, shapes_and_padding]


def _same(got, want):
    got = got if isinstance(got, tuple) else (got,)
    want = want if isinstance(want, tuple) else (want,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        np.testing.assert_array_equal(g, w)


@pytest.mark.parametrize("fn", FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("capture", ["trace", "script"])
def test_decompositions_follow_sizes(fn, capture):
    x = rng.standard_normal((6, 4)).astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sm = getattr(tracer, capture)(fn, (x,)).set_backend("interpreter")
    names = {node.op for _, node in sm.graph.nodes()}
    assert names <= set(all_ops()), names - set(all_ops())
    for shape in ((6, 4), (9, 4), (3, 8)):
        xx = rng.standard_normal(shape).astype(np.float32)
        _same(sm(xx), fn(xx))


def test_program_text_names_only_primitives():
    sm = tracer.trace(lambda x: np.tril(np.outer(x, x)), (rng.standard_normal(3),))
    assert "tril" not in sm.code and "outer" not in sm.code
    assert "np.where" in sm.code


def test_allclose_is_a_traced_boolean():
    def f(x, y):
        return np.where(np.allclose(x, y), x, y)

    x = rng.standard_normal(4)
    sm = tracer.trace(f, (x, x.copy())).set_backend("interpreter")
    _same(sm(x, x + 1.0), f(x, x + 1.0))  # decided when the program runs, not baked


def test_functions_outside_the_surface_still_raise():
    assert "kron" not in numpy_surface() and decomposition_for(np.kron) is None
    with pytest.raises(tracer.TracingError, match="kron"):
        tracer.trace(lambda x: np.kron(x, x), (rng.standard_normal(3),))


def _stack_twice(x):
    return np.hstack([x, x])


def test_script_error_in_a_decomposition_names_the_function():
    with pytest.raises(tracer.ScriptError, match=r"np\.hstack: .*rank.*example_inputs") as info:
        tracer.script(_stack_twice)
    assert "test_numpy_functions.py:" in str(info.value)
