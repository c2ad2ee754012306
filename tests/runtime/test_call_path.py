"""The per-call path of the numba backend: what it skips between calls, and that it still sees changes.

``runtime.flat_state`` keeps a module's state mapping, ``NumbaExecutor.run`` finds a signature by
the arguments' dtypes and shapes, ``_Compiled.load_params`` skips unchanged parameters and the
driver rewrites only the frame words whose addresses moved (``runtime.frame_words``).  Each test
changes what one of those shortcuts relies on and checks the result against NumPy eager.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

import tracer
from runtime import flat_state as fs
from runtime.compiled import _MAX_SIGNATURES, NumbaExecutor
from runtime.frame_words import base_words
from tracer import nn

RNG = np.random.default_rng(0)


class Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(8, 8)

    def forward(self, x):
        return np.tanh(self.fc(x) * 2.0 + 1.0)


def _pair() -> tuple[Net, tracer.ScriptModule]:
    m = Net().eval()
    sm = tracer.trace(m, (np.ones((4, 8), np.float32),)).set_backend("numba")
    return m, sm


def _x(rows: int = 4) -> np.ndarray:
    return RNG.standard_normal((rows, 8)).astype(np.float32)


def test_state_mapping_is_kept_until_a_table_changes():
    _, sm = _pair()
    first = sm._flat_state()
    assert sm._flat_state() is first
    assert set(first) == {"fc.weight", "fc.bias"} and first["fc.weight"] is sm.fc.weight
    new = np.zeros_like(sm.fc.weight)
    sm.fc.weight = new  # a submodule's table: the root's mapping is rebuilt
    again = sm._flat_state()
    assert again is not first and again["fc.weight"] is new


@pytest.mark.parametrize("change", ["setitem", "delitem", "pop", "popitem", "setdefault", "update", "clear", "ior",
                                    "move_to_end"])
def test_every_change_of_a_state_table_stamps_a_new_generation(change):
    table = fs.StateTable(a=1, b=2)
    before = fs.generation
    {"setitem": lambda: table.__setitem__("c", 3), "delitem": lambda: table.__delitem__("a"),
     "pop": lambda: table.pop("a"), "popitem": table.popitem, "setdefault": lambda: table.setdefault("c", 3),
     "update": lambda: table.update(c=3), "clear": table.clear, "ior": lambda: table.__ior__({"c": 3}),
     "move_to_end": lambda: table.move_to_end("a")}[change]()
    assert fs.generation != before


def test_reassigned_and_in_place_updated_parameters_are_seen():
    m, sm = _pair()
    x = _x()
    np.testing.assert_allclose(sm(x), m(x), rtol=1e-5, atol=1e-6)
    for _ in range(2):  # twice: the second call takes every shortcut
        sm.fc.weight = (sm.fc.weight * -0.5).astype(np.float32)
        m.fc.weight = np.array(sm.fc.weight)
        np.testing.assert_allclose(sm(x), m(x), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(sm(x), m(x), rtol=1e-5, atol=1e-6)
    sm.fc.bias[:] += 1.0  # in place: the same object, the same buffer
    m.fc.bias = np.array(sm.fc.bias)
    np.testing.assert_allclose(sm(x), m(x), rtol=1e-5, atol=1e-6)
    sm.load_state_dict({"fc.weight": np.full((8, 8), 0.25, np.float32), "fc.bias": np.zeros(8, np.float32)})
    m.fc.weight, m.fc.bias = np.full((8, 8), 0.25, np.float32), np.zeros(8, np.float32)
    np.testing.assert_allclose(sm(x), m(x), rtol=1e-5, atol=1e-6)


def test_a_parameter_that_needs_a_copy_is_copied_on_every_call():
    m, sm = _pair()
    x = _x()
    sm.fc.weight = np.asfortranarray(sm.fc.weight)  # kernels read C order: a copy per call
    sm(x)
    sm.fc.weight[0, :] = 3.0  # in place, into the Fortran-ordered array: the next copy has it
    m.fc.weight = np.array(sm.fc.weight)
    np.testing.assert_allclose(sm(x), m(x), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(sm(x), m(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kind", ["fresh", "strided", "readonly", "big-endian", "alternating"])
def test_inputs_in_other_buffers_each_call(kind):
    m, sm = _pair()
    base = [_x() for _ in range(3)]
    for i in range(6):
        x = base[i % 3]
        if kind == "fresh":
            x = x.copy()
        elif kind == "strided":
            x = np.repeat(x, 2, axis=1)[:, ::2]
        elif kind == "readonly":
            x = x.copy()
            x.flags.writeable = False
        elif kind == "big-endian":
            x = x.astype(">f4")
        elif kind == "alternating":
            x = base[i % 2]
        np.testing.assert_allclose(sm(x), m(np.array(x, np.float32)), rtol=1e-5, atol=1e-6)


def test_bad_arguments_raise_the_same_errors_after_fast_calls():
    _, sm = _pair()
    x = _x()
    bad = [(x, x), (), (np.ones((4, 8), np.float32), 1.0)]
    errors = []
    for _ in range(2):
        for args in bad:
            with pytest.raises(TypeError) as info:
                sm(*args)
            errors.append(str(info.value))
        sm(x)  # fills the fast tables
    assert errors[:3] == errors[3:]
    assert "takes 1 argument(s) but 2 were given" in errors[0] and "missing argument" in errors[1]


def test_scalar_arguments_take_the_keyed_path_and_keep_their_kinds():
    def f(x, scale: float, n: int, flag: bool):
        return x * scale + n if flag else x - n

    sm = tracer.script(f, (_x(), 2.0, 3, True)).set_backend("numba")
    x = _x()
    for scale, n, flag in [(2.0, 3, True), (0.5, 1, False), (1.5, 2, True), (0.5, 1, False)]:
        np.testing.assert_allclose(sm(x, scale, n, flag), f(x, scale, n, flag), rtol=1e-6)
    ex = sm._program("forward")
    assert len(ex._fast) >= 1 and not ex._fast1


def test_many_signatures_evict_and_still_run():
    m, sm = _pair()
    for rows in list(range(1, _MAX_SIGNATURES + 4)) + [1, 2]:
        x = _x(rows)
        np.testing.assert_allclose(sm(x), m(x), rtol=1e-5, atol=1e-6)
    ex = sm._program("forward")
    assert len(ex._compiled) <= _MAX_SIGNATURES and len(ex._fast1) <= 2 * _MAX_SIGNATURES


def test_threads_with_their_own_inputs_and_a_parameter_reassigned_meanwhile():
    m, sm = _pair()
    xs = [_x() for _ in range(4)]
    want = [m(x) for x in xs]
    errors: list = []

    def worker(k: int) -> None:
        try:
            for _ in range(200):
                np.testing.assert_allclose(sm(xs[k]), want[k], rtol=1e-5, atol=1e-6)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for _ in range(50):  # the same values in new arrays: every thread must follow the new objects
        sm.fc.weight = np.array(sm.fc.weight)
        sm.fc.bias = np.array(sm.fc.bias)
    for t in threads:
        t.join()
    assert not errors, errors[0]


def test_a_loaded_module_keeps_its_mapping_and_sees_assignments():
    m, sm = _pair()
    buf = io.BytesIO()
    tracer.save(sm, buf)
    buf.seek(0)
    loaded = tracer.load(buf).set_backend("numba")
    x = _x()
    np.testing.assert_allclose(loaded(x), m(x), rtol=1e-5, atol=1e-6)
    assert loaded._flat_state() is loaded._flat_state()
    loaded.fc.weight = np.eye(8, dtype=np.float32)
    m.fc.weight = np.eye(8, dtype=np.float32)
    np.testing.assert_allclose(loaded(x), m(x), rtol=1e-5, atol=1e-6)


def test_frame_words_of_each_base_cover_the_frames_once():
    _, sm = _pair()
    x = _x()
    sm(x)
    compiled = sm._program("forward").compiled((x,))
    plan = compiled.plan
    table = base_words(plan)
    words = np.concatenate([t.words for t in table])
    assert sorted(words.tolist()) == list(range(len(plan.frame_const)))
    for b, t in enumerate(table):
        assert (plan.frame_base[t.words] == b).all() and (plan.frame_const[t.words] == t.consts).all()
    ts = compiled.state()
    # after a call, every word holds its constant plus the address its base was last pointed at
    for b, t in enumerate(table):
        if len(t.words) and ts.last[b] is not None:
            assert (ts.frames[t.words] == t.consts + ts.last[b]).all()


def test_executor_without_a_module():
    ex = NumbaExecutor(tracer.trace(lambda a, b: np.tanh(a) * b, (_x(), _x())).graph)
    a, b = _x(), _x()
    for _ in range(3):
        np.testing.assert_allclose(ex.run((a, b), {}), np.tanh(a) * b, rtol=1e-6)
        a, b = b, a.copy()


@pytest.mark.slow
def test_the_call_overhead_benchmark_runs_against_a_second_tree(kernel_cache_dir):
    # a fresh process: it imports the packages twice (this tree as both A and B here)
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, PYTHONPATH=str(root), TRACER_CACHE_DIR=str(kernel_cache_dir))
    env.pop("TRACER_BACKEND", None)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.call_overhead", "tiny", "--nokernels", "--fresh",
                           "--against", str(root)], cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("tiny")]
    assert len(line) == 1 and " A " in line[0] and " B " in line[0] and "best A - B" in line[0], proc.stdout
