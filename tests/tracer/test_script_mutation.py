"""Item assignment and in-place operators in scripted code, with NumPy's semantics (SPEC "Capturing")."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tracer
from tracer import nn

rng = np.random.default_rng(8)
X = rng.standard_normal((3, 4)).astype(np.float32)


def _copies(args):
    return [a.copy() if isinstance(a, np.ndarray) else a for a in args]


def _as_tuple(v):
    return v if isinstance(v, tuple) else (v,)


def check(fn, *args, example=False):
    """Scripted with and without example inputs, on both backends and loaded from an archive:
    the results and the caller's arrays afterwards equal eager's."""
    sm = tracer.script(fn, tuple(args) if example else None)
    buf = io.BytesIO()
    sm.save(buf)
    loaded = tracer.load(io.BytesIO(buf.getvalue()))
    for module in (sm, loaded):
        for backend in ("interpreter", "numba"):
            mine, theirs = _copies(args), _copies(args)
            got = _as_tuple(module.set_backend(backend)(*mine))
            want = _as_tuple(fn(*theirs))
            for g, w in zip((*got, *mine), (*want, *theirs)):
                if backend == "interpreter":
                    np.testing.assert_array_equal(g, w)
                else:
                    np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)
    return sm


def divide_in_place(a, b):
    a /= b
    return a.sum()


def alias_written_in_a_branch(x, c: int):
    y = x
    if c > 0:
        y[0] = 7.0
    return x * 1.0


def alias_written_in_a_loop(x):
    y = x
    for i in range(x.shape[0]):
        y[i, 0] = float(i)
    return x + 0.0


def _bump(a):
    a[1] = 100.0
    return a.sum()


def callee_writes_its_argument(x):
    s = _bump(x)
    return x * 2.0, s


def view_then_base(x):
    row = x[0]
    x[0, 1] = 9.0  # the row sees it
    row[2] = -1.0  # and x sees this
    return row * 1.0, x.sum()


def rope_by_slices(x):
    out = np.zeros_like(x)
    out[..., 0::2] = x[..., 1::2]
    out[..., 1::2] = -x[..., 0::2]
    return out


def one_hot(idx):
    oh = np.zeros((idx.shape[0], 5), np.float32)
    oh[np.arange(idx.shape[0]), idx] = 1.0
    return oh


def item_in_place(x, y):
    x[np.arange(x.shape[0]), y] -= 1.0  # the CS231n softmax gradient's dx[np.arange(N), y] -= 1
    x[:, 1] *= 2.0
    return x


def copies_are_other_arrays(x):
    y = x.copy()
    y[0] = 1.0
    z = np.copy(x)
    z += 2.0
    return y, z, x.sum()


CASES = [
    ("copies", copies_are_other_arrays, (X,)),
    ("divide_in_place", divide_in_place, (X, np.full(4, 2.0, np.float32))),
    ("alias_in_branch_taken", alias_written_in_a_branch, (X, 1)),
    ("alias_in_branch_not_taken", alias_written_in_a_branch, (X, 0)),
    ("alias_in_loop", alias_written_in_a_loop, (X,)),
    ("callee", callee_writes_its_argument, (X,)),
    ("views", view_then_base, (X,)),
    ("rope", rope_by_slices, (X,)),
    ("one_hot", one_hot, (np.array([0, 3, 4, 1]),)),
    ("item_in_place", item_in_place, (X, np.array([3, 0, 2]))),
]


@pytest.mark.parametrize("example", [False, True], ids=["annotations", "example_inputs"])
@pytest.mark.parametrize("name, fn, args", CASES, ids=[c[0] for c in CASES])
def test_in_place_code_equals_numpy_results_and_caller_arrays(name, fn, args, example):
    check(fn, *args, example=example)


def test_arguments_not_written_are_not_written_back():
    sm = tracer.script(alias_written_in_a_loop)
    assert sum(n.op == "writeback" for _, n in sm.graph.nodes()) == 1
    code = tracer.script(rope_by_slices).code
    assert "writeback" not in code, "writing into a local array changes no argument"


def test_integer_in_place_division_raises_as_numpy_does():
    sm = tracer.script(divide_in_place).set_backend("interpreter")
    a, b = np.arange(4), np.full(4, 2)
    with pytest.raises(TypeError, match="same_kind"):
        sm(a, b)
    with pytest.raises(TypeError):
        divide_in_place(a.copy(), b)
    np.testing.assert_array_equal(a, np.arange(4)), "nothing written when it fails"


def test_what_the_program_cannot_follow_is_refused_at_its_line():
    def reshaped(x):
        y = x.reshape(-1)
        y[0] = 1.0  # a view NumPy would write through
        return x

    with pytest.raises(tracer.ScriptError, match=r"view of 'x' \(reshape\).*\n.*y\[0\] = 1.0"):
        tracer.script(reshaped)

    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = np.ones(3, np.float32)

        def forward(self, x):
            self.w[0] = 2.0
            return x

    with pytest.raises(tracer.ScriptError, match="module's array"):
        tracer.script(M())

    def ambiguous(x, c: int):
        y = x * 1.0
        if c > 0:
            y = x[0]
        y[0] = 5.0
        return x

    with pytest.raises(tracer.ScriptError, match="views another array after one branch"):
        tracer.script(ambiguous)

    def ambiguous_base(x, c: int):
        y = x * 1.0
        if c > 0:
            y = x[0]
        x[0, 0] = 5.0  # y may see this or not
        return y

    with pytest.raises(tracer.ScriptError, match="while 'y' may or may not view it"):
        tracer.script(ambiguous_base)


def test_a_module_writing_into_its_input_in_a_fresh_process(tmp_path):
    class Normalize(nn.Module):
        def forward(self, x):
            x -= x.mean(axis=-1, keepdims=True)
            x /= x.std(axis=-1, keepdims=True) + 1e-5
            return x.sum()

    sm = tracer.script(Normalize())
    sm.save(tmp_path / "m.pt")
    np.save(tmp_path / "x.npy", X)
    child = textwrap.dedent("""
        import sys, numpy as np, tracer
        m = tracer.load(sys.argv[1])
        x = np.load(sys.argv[2])
        s = m(x)
        np.save(sys.argv[3], x)
        np.save(sys.argv[4], np.asarray(s))
    """)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    files = [str(tmp_path / f) for f in ("m.pt", "x.npy", "x_after.npy", "s.npy")]
    done = subprocess.run([sys.executable, "-c", child, *files], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    x = X.copy()
    s = Normalize()(x)
    np.testing.assert_allclose(np.load(tmp_path / "x_after.npy"), x, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(np.load(tmp_path / "s.npy"), s, rtol=1e-4, atol=1e-5)


def test_an_array_a_loop_puts_into_a_list_and_writes_into_is_refused():
    def same_array_every_pass(x):
        h = np.zeros(x.shape[1])
        outs = []
        for t in range(x.shape[0]):
            outs.append(h)
            h += x[t]  # NumPy: every item of outs is this one array
        return np.stack(outs)

    with pytest.raises(tracer.ScriptError, match=r"writing into 'h', which this loop also puts into a list"):
        tracer.script(same_array_every_pass)

    def new_array_every_pass(x):
        h = np.zeros(x.shape[1])
        outs = []
        for t in range(x.shape[0]):
            h = h + x[t]
            outs.append(h)
        return np.stack(outs)

    check(new_array_every_pass, rng.standard_normal((3, 2)))
