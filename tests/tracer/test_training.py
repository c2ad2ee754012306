"""``self.training`` read when a scripted program runs (SPEC "Capturing"), recorded by trace."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tracer
from tests.helpers import assert_same
from tracer import functional as F
from tracer import nn

rng = np.random.default_rng(5)
X = rng.standard_normal((4, 3, 8, 8)).astype(np.float32)
P = 0.5


class TrainEval(nn.Module):
    """BatchNorm2d, Dropout and the user's own ``if self.training:``."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.drop = nn.Dropout(P)

    def forward(self, x):
        h = self.drop(self.bn(self.conv(x)))
        if self.training:
            h = h * 2.0
        return h


def _model() -> TrainEval:
    m = TrainEval()
    m.bn.running_mean[:] = rng.standard_normal(4).astype(np.float32)
    m.bn.running_var[:] = (rng.random(4) + 0.5).astype(np.float32)
    return m


def _batch_stats(m: TrainEval, x: np.ndarray) -> np.ndarray:
    """What training mode computes before dropout: batch statistics, then the branch's * 2."""
    h = m.conv(x)
    return F.batch_norm(h, None, None, m.bn.weight, m.bn.bias, training=True, eps=m.bn.eps) * 2.0


def _assert_training_output(out: np.ndarray, m: TrainEval, x: np.ndarray) -> None:
    want = _batch_stats(m, x) / (1.0 - P)
    kept = out != 0
    assert 0.3 < 1.0 - kept.mean() < 0.7, "dropout is active"
    np.testing.assert_allclose(out[kept], want[kept], rtol=1e-5, atol=1e-5)


def _close(got, want, backend):
    if backend == "interpreter":
        assert_same(got, want)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def scripted():
    m = _model()
    assert m.training, "a new Module is in training mode"
    return m, tracer.script(m, (X,))


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_scripted_in_train_mode_then_eval_equals_eager_eval(scripted, backend):
    m, sm = scripted
    sm.set_backend(backend)
    sm.train()
    _assert_training_output(sm(X), m, X)
    sm.eval()
    _close(sm(X), m.eval()(X), backend)
    sm.train()
    _assert_training_output(sm(X), m, X)  # batch statistics again
    m.train()


def test_the_flags_stay_reads_in_the_program_and_numba_plans_each_mode_once(scripted):
    m, sm = scripted
    code = sm.code
    assert "if self.bn.training:" in code and "if self.drop.training:" in code and "if self.training:" in code
    sm.set_backend("numba")
    for mode in (True, False, True, False):
        sm.train(mode)
        sm(X)
    assert len(sm.__dict__["_programs"]) == 2, "one executor per mode"
    plan = sm._program("forward").plan((X,))
    assert plan is not None and not any(n.op == "if" for _, n in plan.graph.nodes()), \
        "the eval plan has the branches folded away"
    sm.train()


def test_save_load_keeps_the_flag_and_switches_after_loading(scripted):
    m, sm = scripted
    sm.eval()
    buf = io.BytesIO()
    sm.save(buf)
    sm.train()
    loaded = tracer.load(io.BytesIO(buf.getvalue()))
    assert loaded.training is False and loaded.bn.training is False
    np.testing.assert_allclose(loaded(X), m.eval()(X), rtol=1e-5, atol=1e-6)
    loaded.train()
    _assert_training_output(loaded(X), m, X)
    assert tracer.inspect(io.BytesIO(buf.getvalue())).version == 4
    m.train()


CHILD = textwrap.dedent(
    """
    import sys, numpy as np, tracer
    m = tracer.load(sys.argv[1], _restore_shapes=True)
    x = np.load(sys.argv[2])
    assert m.training is False
    np.save(sys.argv[3], m(x))
    np.save(sys.argv[4], m.train()(x))
    assert not any(name.startswith("tests") for name in sys.modules)
    """
)


@pytest.mark.slow
def test_loaded_in_a_fresh_process_eval_then_train(scripted, tmp_path):
    m, sm = scripted
    sm.eval()
    sm.save(tmp_path / "m.pt")
    sm.train()
    np.save(tmp_path / "x.npy", X)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    files = [str(tmp_path / f) for f in ("m.pt", "x.npy", "e.npy", "t.npy")]
    done = subprocess.run([sys.executable, "-c", CHILD, *files], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    np.testing.assert_allclose(np.load(tmp_path / "e.npy"), m.eval()(X), rtol=1e-5, atol=1e-6)
    _assert_training_output(np.load(tmp_path / "t.npy"), m, X)
    m.train()


def test_scripted_without_example_inputs_switches_too():
    m = _model()
    sm = tracer.script(m)  # Conv2d and BatchNorm2d fix the input's rank at 4 (checked when run)
    for backend in ("interpreter", "numba"):
        sm.set_backend(backend).train()
        _assert_training_output(sm(X), m, X)
        _close(sm.eval()(X), m.eval()(X), backend)
        m.train()


def test_functional_calls_with_the_flag_branch_on_it():
    class Fn(nn.Module):
        def forward(self, x):
            return F.dropout(x, 0.5, self.training) + 1.0

    m = Fn()
    x = np.ones((64, 64), np.float32)
    sm = tracer.script(m, (x,)).set_backend("interpreter")
    assert (sm(x) == 1.0).mean() > 0.3
    assert_same(sm.eval()(x), m.eval()(x))


def test_a_traced_program_records_its_mode_through_save_and_load():
    m = _model().eval()
    sm = tracer.trace(m, (X,))
    buf = io.BytesIO()
    sm.save(buf)
    loaded = tracer.load(io.BytesIO(buf.getvalue()))
    with pytest.warns(tracer.TracerWarning, match="traced in eval mode"):
        loaded.train()
    # its program is eval's whatever the flag says
    np.testing.assert_allclose(loaded(X), m(X), rtol=1e-5, atol=1e-6)
    loaded.eval()  # the traced mode: no warning (warnings are errors in the tests)
    assert tracer.inspect(io.BytesIO(buf.getvalue())).version < 4, "no flags read: readable by older releases"
