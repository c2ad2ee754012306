"""Prepacked values (``codegen.prepack``, ``runtime.prepacked``): computed from parameters once,
kept while the parameters hold the same bytes, recomputed the moment they do not."""

from __future__ import annotations

import threading

import numpy as np
import pytest

import tracer
from benchmarks.run import peak_bytes
from codegen.plan import PlanOptions
from runtime.prepacked import Prepacked
from tests.codegen.helpers import assert_close, trace_quietly
from tracer import nn


class Recurrent(nn.Module):
    """An Elman step unrolled sixteen times: ``W.T`` of both weights read by products of 16 rows."""

    def __init__(self) -> None:
        super().__init__()
        self.ih = nn.Linear(32, 128)
        self.hh = nn.Linear(128, 128)

    def forward(self, x):
        h = np.zeros((x.shape[0], 128), dtype=np.float32)
        for t in range(16):
            h = np.tanh(self.ih(x[:, t]) + self.hh(h))
        return h


X = np.random.default_rng(0).standard_normal((16, 16, 32)).astype(np.float32)


@pytest.fixture(scope="module")
def recurrent():
    m = Recurrent().eval()
    return m, trace_quietly(m, (X,)).set_backend("numba")


def _prepacked_steps(sm, x):
    return [s for s in sm._program("forward").plan((x,)).steps if getattr(s, "prepacked", None) is not None]


def _caches(sm, x):
    compiled = sm._program("forward").compiled((x,))
    return [v for k, v in compiled.driver.__globals__.items() if k.startswith("_PP")]


def test_shared_transposed_weights_are_prepacked_and_kept(recurrent):
    m, sm = recurrent
    assert len(_prepacked_steps(sm, X)) == 2  # W_ih.T and W_hh.T, each copied once
    for _ in range(3):
        assert_close(sm(X), m(X))
    caches = _caches(sm, X)
    assert len(caches) == 2 and all(c.misses == 1 and c.hits >= 2 for c in caches)
    kept = caches[0].entry[2]
    assert not kept.flags.writeable and kept.flags.c_contiguous and kept.ctypes.data % 64 == 0
    plain = sm._program("forward").options
    assert plain.prepack and "(prepacked)" in sm._program("forward").plan((X,)).describe()


@pytest.mark.parametrize("how", ["in place", "assigned", "one element"])
def test_a_changed_parameter_is_never_read_stale(how):
    m = Recurrent().eval()
    sm = trace_quietly(m, (X,)).set_backend("numba")
    sm(X)
    sm(X)
    w = sm.hh.weight
    if how == "in place":
        w *= 0.5  # a training step updates the very array
    elif how == "assigned":
        sm.hh.weight = (w * -1.0).astype(np.float32)
    else:
        w[3, 7] += 1.0  # one element of 16384: the bytes differ, the object is the same
    m.hh.weight = np.array(sm.hh.weight)
    assert_close(sm(X), m(X))
    assert_close(sm(X), m(X))
    assert all(c.misses == 2 for c in _caches(sm, X) if c.entry[0][0] is sm.hh.weight)


def test_prepacking_lowers_the_memory_each_call_takes(recurrent):
    _, sm = recurrent
    state = sm._flat_state()
    from runtime.compiled import NumbaExecutor

    on, off = NumbaExecutor(sm.graph, PlanOptions()), NumbaExecutor(sm.graph, PlanOptions(prepack=False))
    for ex in (on, off):
        ex.run((X,), state)
    total = {name: peak_bytes(lambda e=ex: e.run((X,), state)) + ex.workspace_bytes()
             for name, ex in (("on", on), ("off", off))}
    assert total["on"] + 64 * 1024 <= total["off"], total  # W_hh.T (64 KiB) is no longer made per call
    np.testing.assert_array_equal(on.run((X,), state), off.run((X,), state))


def test_a_returned_copy_of_a_weight_is_the_callers_own():
    class Export(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.lin = nn.Linear(8, 8)

        def forward(self, x):
            return self.lin(x), np.copy(self.lin.weight.T)

    x = np.ones((4, 8), np.float32)
    sm = trace_quietly(Export().eval(), (x,)).set_backend("numba")
    _, w1 = sm(x)
    _, w2 = sm(x)
    assert w1 is not w2 and w1.flags.writeable
    w1[:] = 0  # the caller may write into what it got back
    np.testing.assert_array_equal(sm(x)[1], sm.lin.weight.T)


def test_prepacked_checks_every_root_and_skips_what_it_cannot_check():
    calls = []

    def make(a, b):
        calls.append(1)
        return np.concatenate([a, b])

    a, b = np.arange(4.0), np.arange(3.0)
    pp = Prepacked()
    first = pp((a, b), make, a, b)
    assert pp((a, b), make, a, b) is first and len(calls) == 1
    b[0] = np.nan  # bytes compare: NaN against NaN is a hit after the recompute
    again = pp((a, b), make, a, b)
    assert again is not first and np.isnan(again[4]) and len(calls) == 2
    assert pp((a, b), make, a, b) is again and len(calls) == 2
    assert pp((a, b.copy()), make, a, b) is not again and len(calls) == 3  # another object
    f = np.asfortranarray(np.ones((3, 3)))
    pp((f,), make, f, f)
    pp((f,), make, f, f)
    assert len(calls) == 5  # no C-contiguous bytes to compare: computed on every call


def test_threads_share_one_kept_value(recurrent):
    m, sm = recurrent
    want = m(X)
    assert_close(sm(X), want)  # kept once, before the threads share it
    errors = []

    def run():
        try:
            for _ in range(20):
                assert_close(sm(X), want)
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert all(c.misses == 1 for c in _caches(sm, X))


def test_saved_and_loaded_modules_prepack_too(tmp_path, recurrent):
    m, sm = recurrent
    sm.save(tmp_path / "r.pt")
    loaded = tracer.load(tmp_path / "r.pt")
    assert_close(loaded(X), m(X))
    assert len(_prepacked_steps(loaded, X)) == 2
