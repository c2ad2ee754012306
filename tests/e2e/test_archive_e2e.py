"""Save in this process, load in a fresh one that never imports the model's code, compare with eager."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tracer
from tests.script_models import Acceptance, ElmanRNN, EncoderBlock, TwoInTwoOut, f32
from tracer import nn

CHILD = textwrap.dedent(
    """
    import sys, numpy as np
    import tracer
    path, inputs_path, out_path = sys.argv[1:4]
    m = tracer.load(path, map_location="cpu", _restore_shapes=True)
    data = np.load(inputs_path)
    args = [data[k] for k in sorted(data.files, key=lambda s: int(s[3:]))]
    out = m(*args)
    outs = out if isinstance(out, tuple) else (out,)
    np.savez(out_path, *outs)
    assert not any(name.startswith("tests") for name in sys.modules), "the model's code was imported"
    print("backend", m.backend)
    """
)


def run_fresh(tmp_path, sm, args) -> tuple:
    path = tmp_path / "model.pt"
    sm.save(path)
    np.savez(tmp_path / "in.npz", **{f"arg{i}": a for i, a in enumerate(args)})
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", CHILD, str(path), str(tmp_path / "in.npz"), str(tmp_path / "out.npz")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    out = np.load(tmp_path / "out.npz")
    return tuple(out[f"arr_{i}"] for i in range(len(out.files)))


def _close(got, want):
    want = want if isinstance(want, tuple) else (want,)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_traced_multi_input_multi_output_module(tmp_path):
    m = TwoInTwoOut().eval()
    x, y = f32(5, 6), f32(5, 3)
    sm = tracer.trace(m, (x, y))
    x2, y2 = f32(9, 6), f32(9, 3)
    _close(run_fresh(tmp_path, sm, (x2, y2)), m(x2, y2))


@pytest.mark.slow
def test_scripted_module_with_control_flow(tmp_path):
    m = Acceptance().eval()
    sm = tracer.script(m)
    x = -np.abs(f32(3, 8))
    _close(run_fresh(tmp_path, sm, (x, np.int64(3))), m(x, 3))


@pytest.mark.slow
def test_scripted_rnn_and_encoder(tmp_path):
    rnn = ElmanRNN(8, 16).eval()
    x = f32(2, 6, 8)
    xs = f32(3, 4, 8)
    _close(run_fresh(tmp_path, tracer.script(rnn, (x,)), (xs,)), rnn(xs))
    enc = EncoderBlock(16, 2).eval()
    xe = f32(2, 5, 16)
    xe2 = f32(1, 7, 16)
    _close(run_fresh(tmp_path, tracer.script(enc, (xe,)), (xe2,)), enc(xe2))


@pytest.mark.slow
def test_function(tmp_path):
    def f(x, y):
        return np.tanh(x) * y + x.reshape(x.shape[0], -1).mean(axis=1, keepdims=True)

    x, y = f32(4, 3), f32(3)
    sf = tracer.trace(f, (x, y))
    x2 = f32(6, 3)
    _close(run_fresh(tmp_path, sf, (x2, y)), f(x2, y))


@pytest.mark.slow
def test_loaded_module_as_submodule_traced_saved_and_loaded_in_a_fresh_process(tmp_path):
    inner = TwoInTwoOut().eval()
    x, y = f32(5, 6), f32(5, 3)
    tracer.trace(inner, (x, y)).save(tmp_path / "inner.pt")
    loaded = tracer.load(tmp_path / "inner.pt")

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = loaded
            self.head = nn.Linear(4, 2)

        def forward(self, x, y):
            p, s = self.inner(x, y)
            return self.head(p) * s.reshape(s.shape[0], 1)

    outer = Outer().eval()
    so = tracer.trace(outer, (x, y))
    sub = tmp_path / "sub"
    sub.mkdir()
    x2, y2 = f32(2, 6), f32(2, 3)
    _close(run_fresh(sub, so, (x2, y2)), outer(x2, y2))
