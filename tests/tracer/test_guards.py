"""Values baked from sizes become guards: run-time checks that raise tracer.GuardError instead of
returning a wrong result at other sizes; they survive save/load and run on every backend."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tracer
from ir import Graph, Node, Use
from ir.passes import dce, fold
from tests.helpers import line_of

rng = np.random.default_rng(3)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)




def _trace_baking(fn, *inputs, backend="interpreter"):
    with pytest.warns(tracer.TracerWarning, match="GuardError"):
        sm = tracer.trace(fn, inputs)
    return sm.set_backend(backend)


def _guarded(sm, fn, same, other, marker, traced, actual):
    """Equal to eager at ``same`` sizes; GuardError naming the line and both values at ``other``."""
    for ins in same:
        np.testing.assert_array_equal(sm(*ins), fn(*ins))
    with pytest.raises(tracer.GuardError) as info:
        sm(*other)
    text = str(info.value)
    assert f"test_guards.py:{line_of(__file__, marker)}" in text
    assert f"baked the value {traced!r}" in text and f"give {actual!r}" in text
    assert isinstance(info.value, tracer.TracerError) and isinstance(info.value, RuntimeError)


def _loop(x):
    acc = np.zeros_like(x[0])
    for t in range(len(x)):  # LOOP-LINE
        acc = acc * 0.5 + x[t]
    return acc


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_a_loop_over_range_len_is_baked_and_guarded(backend, tmp_path):
    sm = _trace_baking(_loop, f32(4, 3), backend=backend)
    assert sum(n.op == "guard" for _, n in sm.graph.nodes()) == 1
    _guarded(sm, _loop, [(f32(4, 3),), (f32(4, 7),)], (f32(6, 3),), "LOOP-LINE", 4, 6)
    path = tmp_path / "loop.pt"
    tracer.save(sm, path)
    loaded = tracer.load(path).set_backend(backend)
    assert "ops.guard(" in loaded.code
    _guarded(loaded, _loop, [(f32(4, 2),)], (f32(2, 3),), "LOOP-LINE", 4, 2)


def test_scalar_conversions_of_sizes_are_guarded():
    def f(x):
        n = int(x.shape[0])  # INT-LINE
        d = float(x.shape[1])
        return x.reshape(n, -1) / d

    sm = _trace_baking(f, f32(3, 4))
    assert {n.kwarg("what") for _, n in sm.graph.nodes() if n.op == "guard"} == {"int()", "float()"}
    _guarded(sm, f, [(f32(3, 4),)], (f32(5, 4),), "INT-LINE", 3, 5)

    def index(x):
        pad = [0.0] * len(x)  # INDEX-LINE
        return x + np.array(pad, dtype=np.float32)

    sm = _trace_baking(index, f32(3))
    _guarded(sm, index, [(f32(3),)], (f32(4),), "INDEX-LINE", 3, 4)

    def branch(x):
        if len(x) > 3:  # BOOL-LINE
            return x * 2
        return x

    sm = _trace_baking(branch, f32(5))
    _guarded(sm, branch, [(f32(4),), (f32(9),)], (f32(2),), "BOOL-LINE", True, False)


def test_a_dict_keyed_by_a_size_works_and_is_guarded():
    def f(x):
        hs = {2: x * 2, 3: x * 3}
        return hs[len(x) - 1]  # DICT-LINE

    sm = _trace_baking(f, f32(3, 2))
    _guarded(sm, f, [(f32(3, 5),)], (f32(4, 2),), "DICT-LINE", 2, 3)

    def unhashable(x):
        return {x: 1}

    with pytest.raises(TypeError, match="unhashable"):
        tracer.trace(unhashable, (f32(2),))


def test_range_of_a_size_as_an_index_is_recorded_not_baked():
    def f(ids, w):
        return w[range(len(ids))] * ids[:, None]

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sm = tracer.trace(f, (np.arange(3.0), f32(6, 2))).set_backend("interpreter")
    assert not any(n.op == "guard" for _, n in sm.graph.nodes())
    for n in (3, 5, 1):
        ins = (np.arange(float(n)), f32(6, 2))
        np.testing.assert_array_equal(sm(*ins), f(*ins))


def test_sizes_through_math_and_numpy_scalar_constructors_are_recorded():
    def f(x):
        d = x.shape[-1]
        return x / math.sqrt(d) * np.float32(d) + np.int64(len(x)) - math.log(d)

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sm = tracer.trace(f, (f32(2, 4),)).set_backend("interpreter")
    for shape in ((2, 4), (3, 9), (1, 16)):
        x = f32(*shape)
        got, want = sm(x), f(x)
        assert got.dtype == want.dtype and np.array_equal(got, want)


def test_data_bakes_warn_without_a_guard_and_constant_sizes_need_neither():
    def data(x):
        return x * x.sum().item()

    with pytest.warns(tracer.TracerWarning) as record:
        sm = tracer.trace(data, (f32(3),))
    assert "GuardError" not in str(record[0].message)
    assert not any(n.op == "guard" for _, n in sm.graph.nodes())

    def constant(x):
        z = np.zeros((3, 2), dtype=np.float32)
        for i in range(len(z)):  # a size of an array made from constants: exact, no warning
            z[i] = x[i]
        return z

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        sm = tracer.trace(constant, (f32(4, 2),)).set_backend("interpreter")
    assert not any(n.op == "guard" for _, n in sm.graph.nodes())
    x = f32(6, 2)
    np.testing.assert_array_equal(sm(x), constant(x))


def test_guards_fold_away_when_proven_and_dce_keeps_them():
    def graph(value):
        g = Graph()
        c = g.add(Node("constant", kwargs=(("value", value),)))
        g.add(Node("guard", (Use(0), 3), (("what", "len()"), ("where", "m.py:1"))), [(c, 0)])
        x = g.add(Node("input", kwargs=(("name", "x"), ("index", 0))))
        g.add(Node("output", (Use(0),)), [(x, 0)])
        return g

    assert not fold(graph(3)).find("guard")
    kept = fold(graph(4))
    assert kept.find("guard") and dce(kept).find("guard")
    with pytest.raises(tracer.GuardError, match="m.py:1"):
        tracer.runtime_run = None  # noqa: B018 - only the graph matters below
        from runtime.interpreter import run_graph

        run_graph(kept, (np.ones(2),))
