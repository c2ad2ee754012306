"""Public-style NumPy models (tests/public_models.py) trace and script unchanged.

Each model: traced (and scripted, with example inputs) at one size, equal to eager there (the
interpreter bit for bit, the numba backend within SPEC's tolerance); at another size it gives
eager's result or raises ``GuardError`` where a size was baked, never a wrong result; it saves,
and loads in a fresh process that never imports the model's code.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracer
from tests.e2e.test_archive_e2e import run_fresh
from tests.public_models import GPT2, CharLSTM, Im2colCNN, LlamaBlock, MinCharRNN, TwoLayerNet

rng = np.random.default_rng(99)


def _f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def _ids(n, vocab):
    return rng.integers(0, vocab, n)


# name -> (model factory, inputs at the traced size, inputs at another size)
MODELS = {
    "gpt2": (lambda: GPT2(n_head=2, vocab=64, ctx=32, d=16, layers=2), (_ids(10, 64),), (_ids(17, 64),)),
    "llama": (lambda: LlamaBlock(), (_f32(9, 32),), (_f32(14, 32),)),
    "char_lstm": (lambda: CharLSTM(), (_ids(6, 12), _f32(16, 1), _f32(16, 1)),
                  (_ids(9, 12), _f32(16, 1), _f32(16, 1))),
    "im2col_cnn": (lambda: Im2colCNN(), (_f32(2, 3, 8, 8),), (_f32(5, 3, 8, 8),)),
    "min_char_rnn": (lambda: MinCharRNN(), (_ids(5, 10), _ids(5, 10), np.zeros((16, 1))),
                     (_ids(8, 10), _ids(8, 10), np.zeros((16, 1)))),
    "two_layer_net": (lambda: TwoLayerNet(), (rng.standard_normal((5, 3, 4, 4)), _ids(5, 10)),
                      (rng.standard_normal((9, 3, 4, 4)), _ids(9, 10))),
}
#: Models whose code bakes a length (a Python loop over the sequence): another length is a GuardError.
GUARDED = {"char_lstm", "min_char_rnn"}


def _trace(m, inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracer.TracerWarning)  # baked sizes warn (and become guards)
        return tracer.trace(m, inputs)


def _eager(m, inputs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # exp(-inf) in masked softmax rows
        return m(*(a.copy() for a in inputs))


def _as_tuple(v):
    return v if isinstance(v, tuple) else (v,)


def _assert_tolerance(got, want):
    """SPEC's numerics: |y - r| <= rtol * (|r| + max|r|) per output, integers exactly."""
    for g, w in zip(_as_tuple(got), _as_tuple(want), strict=True):
        g, w = np.asarray(g), np.asarray(w)
        assert g.shape == w.shape and g.dtype == w.dtype
        if w.dtype.kind != "f":
            np.testing.assert_array_equal(g, w)
            continue
        rtol = 1e-5 if w.dtype == np.float32 else 1e-12
        bound = rtol * (np.abs(w) + np.max(np.abs(w), initial=0))
        assert np.all(np.abs(g.astype(np.float64) - w) <= bound), np.max(np.abs(g - w))


@pytest.fixture(scope="module", params=[(name, how) for name in sorted(MODELS) for how in ("trace", "script")],
                ids=lambda p: f"{p[0]}-{p[1]}")
def traced(request):
    name, how = request.param
    make, inputs, other = MODELS[name]
    m = make().eval()
    # scripted unchanged too (with example inputs): its loops stay loops, so another length follows
    captured = _trace(m, inputs) if how == "trace" else tracer.script(m, inputs)
    return (name if how == "trace" else f"{name}-script"), m, captured, inputs, other


def test_interpreter_equals_eager_bit_for_bit_at_the_traced_size(traced):
    _, m, sm, inputs, _ = traced
    sm.set_backend("interpreter")
    try:
        for g, w in zip(_as_tuple(sm(*inputs)), _as_tuple(_eager(m, inputs)), strict=True):
            np.testing.assert_array_equal(g, w)
    finally:
        sm.set_backend("numba")


def test_numba_within_tolerance_at_the_traced_size(traced):
    _, m, sm, inputs, _ = traced
    assert sm.backend == "numba"
    _assert_tolerance(sm(*inputs), _eager(m, inputs))


def test_another_size_gives_eager_or_guard_error(traced):
    name, m, sm, _, other = traced
    want = _eager(m, other)
    try:
        got = sm(*other)
    except tracer.GuardError as exc:
        assert name in GUARDED, f"{name} should follow the size, not guard: {exc}"
        assert "public_models.py" in str(exc)  # names the baked line
        return
    _assert_tolerance(got, want)


@pytest.mark.slow
def test_saves_and_loads_in_a_fresh_process(traced, tmp_path):
    _, m, sm, inputs, _ = traced
    _assert_tolerance(run_fresh(tmp_path, sm, inputs), _eager(m, inputs))
