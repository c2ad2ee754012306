"""tracer.script: control flow on array values, calls, decorators, and the issue's acceptance models."""

from __future__ import annotations

import numpy as np
import pytest

import tracer
from ir import verify
from tests.script_models import CASES, EXAMPLES, Acceptance, ElmanRNN, EncoderBlock, WithMethods, f32
from tracer import nn

_CASES = {name: (make, inputs) for name, make, inputs in CASES}


def _eager(obj):
    return obj.eval() if isinstance(obj, nn.Module) else obj


def assert_equal(got, want):
    if isinstance(want, tuple):
        assert isinstance(got, tuple) and len(got) == len(want)
        for g, w in zip(got, want):
            assert_equal(g, w)
        return
    if isinstance(want, (int, float)) and not isinstance(want, np.generic):
        assert got == want
        return
    assert np.asarray(got).dtype == np.asarray(want).dtype
    np.testing.assert_array_equal(got, want)


@pytest.fixture(scope="module")
def scripted():
    out = {}
    for name, make, _ in CASES:
        obj = _eager(make())
        # bit-for-bit with eager is the interpreter's contract (the numba backend is within tolerance)
        out[name] = (obj, tracer.script(obj, EXAMPLES.get(name)).set_backend("interpreter"))
    return out


@pytest.mark.parametrize("name", list(_CASES))
def test_scripted_program_equals_eager_on_every_input(name, scripted):
    obj, sm = scripted[name]
    for g in sm.graphs.values():
        verify(g)
    for args in _CASES[name][1]:
        assert_equal(sm(*args), obj(*args))


def test_acceptance_control_flow_stays_in_the_program(scripted):
    obj, sm = scripted["acceptance"]
    ops = [n.op for _, n in sm.graph.nodes()]
    assert ops.count("if") == 1 and ops.count("loop") == 2, "if on x.sum(), range(n), while k < 3"
    assert "self.layers[0].weight" in sm.code and "while" in sm.code and "if " in sm.code
    x_pos, x_neg = np.abs(f32(3, 8)), -np.abs(f32(3, 8))
    for x in (x_pos, x_neg):  # both branches, n = 0, 1, 3 and omitted
        for n in (0, 1, 3):
            assert_equal(sm(x, n), obj(x, n))
        assert_equal(sm(x), obj(x))


def test_rnn_and_transformer_block_script_and_equal_eager():
    rnn = ElmanRNN(32, 128).eval()
    x = f32(4, 64, 32)
    sm = tracer.script(rnn, (x,)).set_backend("interpreter")  # bit for bit: the interpreter
    assert [n.op for _, n in sm.graph.nodes()].count("loop") == 1
    np.testing.assert_array_equal(sm(x), rnn(x))
    np.testing.assert_array_equal(sm(x[:, :7]), rnn(x[:, :7]))
    enc = EncoderBlock(32, 4).eval()
    xe = f32(2, 10, 32)
    se = tracer.script(enc, (xe,)).set_backend("interpreter")  # bit for bit: the interpreter
    for shape in ((2, 10, 32), (3, 4, 32)):
        xs = f32(*shape)
        np.testing.assert_array_equal(se(xs), enc(xs))


def test_export_ignore_and_unused():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.w = np.full(3, 2.0, np.float32)

        def forward(self, x):
            return self.debug(x) * self.w

        @tracer.ignore
        def debug(self, x):
            return x + 1  # stays Python

        @tracer.unused
        def legacy(self, x):
            return np.fft.fft(x)  # never compiled

        @tracer.export
        def twice(self, x):
            if x.sum() > 0:
                return self.legacy(x)
            return x * 2

    m = M()
    sm = tracer.script(m)
    x = np.ones(3, np.float32)
    np.testing.assert_array_equal(sm(x), m(x))
    assert "self.debug(x)" in sm.code
    assert set(sm.graphs) == {"forward", "twice"}
    np.testing.assert_array_equal(sm.twice(-x), -2 * x)
    with pytest.raises(RuntimeError, match="legacy"):
        sm.twice(x)


def test_methods_call_each_other_and_submodules_script_recursively():
    m = WithMethods()
    sm = tracer.script(m)
    x = f32(6)
    np.testing.assert_array_equal(sm.predict(x), m.predict(x))
    np.testing.assert_array_equal(sm.predict(x, 0), m.predict(x, 0))


def test_loaded_module_works_as_a_submodule():
    inner = tracer.trace(nn.Linear(4, 4).eval(), (f32(2, 4),))

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, x):
            if x.mean() > 0:
                return self.inner(x)
            return x

    outer = Outer()
    sm = tracer.script(outer)
    assert "inner.weight" in dict(sm.named_parameters())
    for x in (np.abs(f32(3, 4)), -np.abs(f32(3, 4))):
        np.testing.assert_array_equal(sm(x), outer(x))
    with pytest.warns(tracer.TracerWarning, match="bool"):
        traced = tracer.trace(outer, (np.abs(f32(3, 4)),))
    assert "inner.weight" in traced.code, "the loaded module's weights stay parameters, not constants"
    x = np.abs(f32(2, 4)) + 1
    np.testing.assert_array_equal(traced(x), outer(x))


def test_types_differ_across_branches_join_to_less_specific():
    def f(x, flag: bool):
        if flag:
            y = x.astype(np.float64)
        else:
            y = x[:2]
        return y

    sf = tracer.script(f, (f32(4), True))
    (if_node,) = [n for _, n in sf.graph.nodes() if n.op == "if"]
    assert str(if_node.types[0]) == "?[?]", "f64[4] joined with f32[2] keeps only the rank"
    assert sf(f32(4), True).dtype == np.float64 and sf(f32(4), False).shape == (2,)


def test_unknown_rank_is_fixed_by_unpacking_the_shape():
    rnn = ElmanRNN(4, 4).eval()
    sm = tracer.script(rnn)  # no example inputs: B, T, _ = x.shape fixes the rank, checked when run
    for backend in ("interpreter", "numba"):
        for x in (f32(2, 5, 4), f32(1, 3, 4)):
            np.testing.assert_allclose(sm.set_backend(backend)(x), rnn(x), rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="needs an array of 3 dimensions"):
        sm(f32(5, 4))


def test_script_errors_are_script_errors_and_value_errors():
    def f(x):
        return [v for v in x]

    with pytest.raises(ValueError):
        tracer.script(f)
    with pytest.raises(tracer.ScriptError, match="pass an instance"):
        tracer.script(Acceptance)


def test_list_of_arrays_argument_with_and_without_example_inputs():
    def total(xs: list[np.ndarray], w: float = 1.0):
        acc = xs[0] * 0.0
        for k in range(len(xs)):
            acc = acc + xs[k] * w
        return acc

    xs = [f32(3), f32(3), f32(3)]
    for sf in (tracer.script(total, (xs,)), tracer.script(total)):  # a tuple of known length, a run-time list
        sf.set_backend("interpreter")
        np.testing.assert_array_equal(sf(xs), total(xs))
        np.testing.assert_array_equal(sf(xs, 2.0), total(xs, 2.0))
    assert "ops.list_len(xs)" in tracer.script(total).code
