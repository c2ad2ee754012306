"""``ir.passes.unroll_loops``: loops of known trip count become straight-line code, exactly."""

from __future__ import annotations

import numpy as np

import tracer
from ir import type_of, verify
from ir.passes import cse, dce, infer_types, unroll_loops
from ir.types import ScalarType
from runtime.interpreter import Program
from tests.script_models import ElmanRNN

rng = np.random.default_rng(0)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def ops(g) -> list[str]:
    return [n.op for _, n in g.nodes()]


def unrolled(sm, *inputs, **kw):
    typed = infer_types(sm.graph, [type_of(a) for a in inputs])
    return unroll_loops(typed, **kw)


def run(g, sm, *inputs):
    return Program(g).run(inputs, sm._flat_state())


def test_rnn_over_the_sequence_length_unrolls_and_computes_the_same_bits():
    sm = tracer.script(ElmanRNN(4, 8), (f32(2, 5, 4),)).set_backend("interpreter")
    x = f32(3, 6, 4)  # the trip count is read from this input's shape
    g = dce(cse(unrolled(sm, x)))
    verify(g)
    assert "loop" in ops(sm.graph) and "loop" not in ops(g)
    assert ops(g).count("tanh") == 6
    assert ops(g).count("param") == 4, "each parameter is read once, not once per iteration"
    assert ops(g).count("transpose") == 2, "W.T of every iteration is one value after cse"
    np.testing.assert_array_equal(run(g, sm, x), sm(x))
    assert "loop" in ops(sm.graph), "the pass copies; the module's program keeps its loop"


def test_a_loop_whose_condition_depends_on_data_stays_a_loop():
    def halve(x):
        while float(np.abs(x).max()) > 1.0:
            x = x * 0.5
        return x

    sm = tracer.script(halve, (f32(3),)).set_backend("interpreter")
    x = f32(3) * 10
    g = unrolled(sm, x)
    assert ops(g).count("loop") == 1
    np.testing.assert_array_equal(run(g, sm, x), sm(x))


def test_long_loops_are_copied_up_to_the_limit_and_the_rest_stays_a_loop():
    def count(x):
        for i in range(10):
            x = x + i
        return x

    sm = tracer.script(count, (f32(2),)).set_backend("interpreter")
    x = f32(2)
    g = unrolled(sm, x, max_iterations=4)
    verify(g)
    assert ops(g).count("loop") == 1 and ops(g).count("add") == 4
    np.testing.assert_array_equal(run(g, sm, x), sm(x))
    full = unrolled(sm, x)
    assert "loop" not in ops(full) and ops(full).count("add") == 10
    np.testing.assert_array_equal(run(full, sm, x), sm(x))


def test_a_loop_counted_by_an_argument_is_not_baked_in():
    def count(x, n: int):
        for i in range(n):
            x = x + i
        return x

    sm = tracer.script(count, (f32(2), 3)).set_backend("interpreter")
    g = infer_types(sm.graph, [type_of(f32(2)), ScalarType("int")])
    assert unroll_loops(g) is g, "n is only known when called: the loop stays"


def test_if_on_a_known_condition_becomes_the_taken_block():
    def pick(x):
        if x.shape[0] > 2:
            y = x * 2.0
        else:
            y = x - 1.0
        return y

    sm = tracer.script(pick, (f32(3),)).set_backend("interpreter")
    for n in (1, 4):
        x = f32(n)
        g = unrolled(sm, x)
        assert "if" not in ops(g)
        np.testing.assert_array_equal(run(g, sm, x), sm(x))


def test_the_numba_backend_plans_a_scripted_loop_as_straight_line_kernels(monkeypatch):
    monkeypatch.delenv("TRACER_BACKEND", raising=False)
    m = ElmanRNN(4, 8)
    x = f32(3, 6, 4)
    sm = tracer.script(m, (x,))
    assert sm.backend == "numba"
    np.testing.assert_allclose(sm(x), m(x), rtol=1e-5, atol=1e-6)
    plan = sm._program("forward").plan((x,))
    assert "interpreter loop" not in plan.describe()
