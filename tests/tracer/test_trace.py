"""tracer.trace: shape reads, baking warnings, checks, strictness, hierarchy, errors."""

from __future__ import annotations

import builtins
import concurrent.futures
import warnings

import networkx as nx
import numpy as np
import pytest

import tracer
from ir import SourceLoc, verify
from tests.helpers import line_of
from tracer import _state, nn

rng = np.random.default_rng(0)
X = rng.standard_normal((8, 16)).astype(np.float32)


class Inner(nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = rng.standard_normal((16, 4)).astype(np.float32)
        self.scale = 2.0

    def forward(self, x):
        return np.tanh(x @ self.weight) * self.scale  # INNER-LINE


class Outer(nn.Module):
    def __init__(self):
        super().__init__()
        self.inner = Inner()
        self.bias = np.ones(4, dtype=np.float32)
        self.register_buffer("offset", np.full(4, 0.5, dtype=np.float32))
        self.name = "outer"

    def forward(self, x):
        h = self.inner(x)
        return h.reshape(x.shape[0], -1) + self.bias - self.offset




def test_module_hierarchy_survives_and_nodes_know_scope_and_line():
    m = Outer()
    sm = tracer.trace(m, (X,))
    assert sm.inner.weight is m.inner.weight
    assert sm.inner.scale == 2.0 and sm.name == "outer"
    assert dict(sm.named_parameters()).keys() == {"bias", "inner.weight"}
    assert list(sm.state_dict()) == list(m.state_dict()) == ["bias", "offset", "inner.weight"]  # Module's order
    assert [n for n, _ in sm.named_modules()] == ["", "inner"]
    tanh = [n for _, n in sm.graph.nodes() if n.op == "tanh"][0]
    assert tanh.scope == "inner"
    assert tanh.loc == SourceLoc(__file__, line_of(__file__, "INNER-LINE"))
    np.testing.assert_array_equal(sm.set_backend("interpreter")(X), m(X))  # bit for bit: the interpreter


def test_state_changes_take_effect_and_shapes_are_enforced():
    m = Outer()
    sm = tracer.trace(m, (X,)).set_backend("interpreter")  # compared bit for bit below
    sm.bias = np.zeros(4, dtype=np.float32)
    m.bias = np.zeros(4, dtype=np.float32)
    np.testing.assert_array_equal(sm(X), m(X))
    with pytest.raises(TypeError, match="shape"):
        sm.bias = np.zeros(5, dtype=np.float32)


def test_shape_reads_are_recorded_so_other_batch_sizes_run():
    def f(x):
        n = len(x)
        return x.reshape(x.shape[0], 2, -1).sum(axis=-1) / n

    sf = tracer.trace(f, (X,))
    assert isinstance(sf, tracer.ScriptFunction)
    ops = [n.op for _, n in sf.graph.nodes()]
    assert ops.count("dim") == 1, "len(x) and x.shape[0] read the same size once (CSE)"
    for b in (1, 3, 8, 33):
        x = rng.standard_normal((b, 16)).astype(np.float32)
        np.testing.assert_array_equal(sf(x), f(x))


def test_conversion_to_python_scalars_bakes_with_a_warning_naming_the_line():
    def f(x):
        if x.sum() > 0:  # BAKE-LINE
            return x * 2
        return x

    with pytest.warns(tracer.TracerWarning, match="bool") as record:
        sf = tracer.trace(f, (np.ones(3, np.float32),))
    w = record[0]
    assert w.filename == __file__ and w.lineno == line_of(__file__, "BAKE-LINE")
    # the branch is baked: a negative input still takes the traced branch
    np.testing.assert_array_equal(sf(-np.ones(3, np.float32)), -2 * np.ones(3, np.float32))


@pytest.mark.parametrize("convert", [int, float, lambda v: v.item(), lambda v: list(range(v))])
def test_every_scalar_conversion_warns(convert):
    def f(x):
        convert(x.shape[0] if convert is not float else x.sum())
        return x + 1

    with pytest.warns(tracer.TracerWarning, match="bakes"):
        tracer.trace(f, (np.ones(3, np.float32),))


def test_check_inputs_catch_a_baked_branch_with_the_largest_difference():
    def f(x):
        return x * 2 if x.sum() > 0 else x - 1

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracer.TracerWarning)
        with pytest.raises(tracer.TracingCheckError, match="largest difference 2 ") as info:
            tracer.trace(f, (np.ones(3, np.float32),), check_inputs=[(np.full(3, -3, np.float32),)])
    assert isinstance(info.value, ValueError)


def test_check_tolerance_is_used():
    def drifting():
        calls = []

        def f(x):
            calls.append(1)
            return x + 1e-3 * (len(calls) > 1)  # eager drifts after the first (traced) call

        return f

    tracer.trace(drifting(), (np.ones(3),), check_inputs=[(np.ones(3),)], check_tolerance=1e-2)
    with pytest.raises(tracer.TracingCheckError, match="largest difference 0.001"):
        tracer.trace(drifting(), (np.ones(3),), check_inputs=[(np.ones(3),)], check_tolerance=1e-6)


def test_check_trace_allows_specs_numerics_relative_to_the_largest_value():
    def drifting(scale):
        calls = []

        def f(x):
            calls.append(1)
            return x * np.array([scale, 0.1]) + np.array([0.0, 5e-3]) * (len(calls) > 1)

        return f

    # 5e-3 at a value of 0.1 beside 1000: within 1e-5 * (|r| + max|r|), a summation-order difference
    tracer.trace(drifting(1000.0), (np.ones(2),), check_inputs=[(np.ones(2),)])
    with pytest.raises(tracer.TracingCheckError, match="largest difference 0.005"):
        tracer.trace(drifting(1.0), (np.ones(2),), check_inputs=[(np.ones(2),)])


def test_strict_refuses_lists_and_dicts_but_accepts_tuples():
    with pytest.raises(tracer.TracingError, match="list"):
        tracer.trace(lambda x: [x, x + 1], (X,))
    with pytest.raises(tracer.TracingError, match="dict"):
        tracer.trace(lambda x: {"a": x}, (X,), strict=False)
    out = tracer.trace(lambda x: [x, x + 1], (X,), strict=False)(X)
    assert isinstance(out, tuple) and len(out) == 2
    a, (b, c) = tracer.trace(lambda x: (x, (x * 2, 3)), (X,))(X)
    assert c == 3 and np.array_equal(b, X * 2)


def test_multiple_inputs_scalars_and_constant_outputs():
    table = np.arange(4, dtype=np.float32)

    def f(x, y, k):
        return x[:, :4] * y + table * k, table

    sf = tracer.trace(f, (X, np.float32(3.0), 2.5))
    got = sf(X, np.float32(3.0), 2.5)
    want = f(X, np.float32(3.0), 2.5)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and np.array_equal(g, w)


def test_graph_is_a_multidigraph_dag_and_text_forms_parse():
    import ast

    sm = tracer.trace(Outer(), (X,))
    assert isinstance(sm.graph.nx, nx.MultiDiGraph) and nx.is_directed_acyclic_graph(sm.graph.nx)
    text = str(sm.graph)
    assert "%x: f32[8, 16]" in text and "f32[8, 4]" in text
    ast.parse(sm.code)
    assert "self.inner.weight" in sm.code


@pytest.mark.parametrize(
    "obj, inputs, match",
    [
        (42, (X,), "Module or a function"),
        (Outer, (X,), "pass an instance"),
        (lambda x, y: x + y, (X,), "cannot take 1 example input"),
        (lambda x: x, (X, X), "cannot take 2 example input"),
        (lambda x: x, ("text",), "example input 0 is a str"),
        (lambda x: x, (np.array(["a"]),), "dtype"),
        (lambda x: np.fft.fft(x), (X,), "fft"),
        (lambda x: np.linalg.eig(x), (X,), "eig"),  # np.linalg.norm and np.add.reduce trace (issue 11)
        (lambda x: np.add.reduceat(x, [0, 1]), (X,), "np.add.reduceat"),
        (lambda x: np.asarray(x, like=x) + 1, (X,), "np.asarray"),
    ],
)
def test_bad_input_gets_a_clear_error_and_leaves_nothing_behind(obj, inputs, match):
    len_before, zeros_before = builtins.len, np.zeros
    with pytest.raises(tracer.TracingError, match=match):
        tracer.trace(obj, inputs)
    assert builtins.len is len_before and np.zeros is zeros_before
    assert _state.current() is None


def test_unsupported_function_error_names_the_user_line():
    def f(x):
        return np.fft.fft(x)  # FFT-LINE

    with pytest.raises(tracer.TracingError) as info:
        tracer.trace(f, (X,))
    assert f"test_trace.py:{line_of(__file__, 'FFT-LINE')}" in str(info.value)


def test_submodule_not_in_hierarchy_is_refused():
    helper = Inner()

    class Bad(nn.Module):
        def forward(self, x):
            return helper(x)

    with pytest.raises(tracer.TracingError, match="not a submodule"):
        tracer.trace(Bad(), (X,))


def test_item_assignment_and_augmented_ops_write_as_numpy_does():
    def good(x):
        x[0] = 1.0  # recorded as a functional update (tests/tracer/test_item_assignment.py)
        y = x * 1
        z = y
        y += 2
        y *= x
        return y, z

    sm = tracer.trace(good, (X.copy(),)).set_backend("interpreter")
    for got, want in zip(sm(X.copy()), good(X.copy())):
        np.testing.assert_array_equal(got, want)


def test_concurrent_calls_from_many_threads():
    sm = tracer.trace(Outer(), (X,))
    inputs = [rng.standard_normal((b, 16)).astype(np.float32) for b in range(1, 33)]
    expected = [sm(x) for x in inputs]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        results = list(pool.map(sm, inputs * 4))
    for i, r in enumerate(results):
        np.testing.assert_array_equal(r, expected[i % len(inputs)])


def test_traces_from_many_threads_do_not_interfere():
    def f(x):
        return np.zeros((x.shape[0], 2)) + len(x)

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        sfs = list(pool.map(lambda _: tracer.trace(f, (X,)), range(8)))
    for sf in sfs:
        verify(sf.graph)
        np.testing.assert_array_equal(sf(X[:3]), f(X[:3]))


def test_backend_attribute_and_environment(monkeypatch):
    monkeypatch.delenv("TRACER_BACKEND", raising=False)
    assert tracer.trace(Outer(), (X,)).backend == "numba"  # the default when numba imports
    monkeypatch.setenv("TRACER_BACKEND", "bogus")
    with pytest.raises(ValueError, match="TRACER_BACKEND"):
        tracer.trace(Outer(), (X,))
    monkeypatch.setenv("TRACER_BACKEND", "interpreter")
    sm = tracer.trace(Outer(), (X,))
    assert sm.backend == "interpreter"
    with pytest.raises(ValueError, match="unknown backend"):
        sm.set_backend("cuda-magic")


def test_train_eval_flags_and_stored_inputs():
    m = Outer().eval()
    sm = tracer.trace(m, (X,))
    assert sm.training is False and sm.inner.training is False
    with pytest.warns(tracer.TracerWarning, match=r"traced in eval mode .*\(Outer, Inner\).*tracer.script"):
        assert sm.train().inner.training is True
    with pytest.warns(tracer.TracerWarning):
        sm.train()  # asking again still warns: the program still has eval's behaviour
    sm.eval()  # back to the traced mode: nothing to warn about (warnings are errors here)
    assert sm.example_inputs["forward"][0] is X or np.array_equal(sm.example_inputs["forward"][0], X)
    assert tracer.trace(m, (X,), _store_inputs=False).example_inputs == {}


def test_none_parameters_stay_none_while_tracing():
    class MaybeBias(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_parameter("bias", None)

        def forward(self, x):
            return x if self.bias is None else x + self.bias

    sm = tracer.trace(MaybeBias(), (X,))
    assert [n.op for _, n in sm.graph.nodes()] == ["input", "output"]


def test_dropout_in_training_mode_is_recorded_and_random():
    from tracer import functional as F

    sf = tracer.trace(lambda x: F.dropout(x, 0.5, training=True), (np.ones((64, 64), np.float32),), check_trace=False)
    assert "dropout" in [n.op for _, n in sf.graph.nodes()]
    a, b = sf(np.ones((64, 64), np.float32)), sf(np.ones((64, 64), np.float32))
    assert set(np.unique(a)) <= {0.0, 2.0} and not np.array_equal(a, b)
    assert 0.4 < (a == 0).mean() < 0.6
