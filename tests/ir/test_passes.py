"""Passes: DCE, CSE, constant folding, type propagation; each pure, each verified."""

from __future__ import annotations

import numpy as np
import pytest

from ir import Graph, Node, TensorType, Use, VerificationError, run_passes, verify
from ir.ops import get_op
from ir.passes import PASSES, cse, dce, fold, infer_types
from ir.types import ScalarType

X = np.random.default_rng(0).standard_normal((4, 3)).astype(np.float32)
TABLE = np.arange(6, dtype=np.float32).reshape(2, 3)


def raw_graph(fn, *inputs):
    from tracer.trace import record

    return record(fn, None, inputs)[0]


def ops(g: Graph) -> list[str]:
    return [n.op for _, n in g.nodes()]


def test_dce_removes_unused_pure_nodes_and_tensors():
    def f(x):
        np.exp(x)  # unused
        _ = x + TABLE[0]  # unused, uses a constant
        return x * 2

    g = raw_graph(f, X)
    out = dce(g)
    assert "exp" in ops(g) and "exp" not in ops(out)
    assert out.tensors == {}
    assert ops(out) == ["input", "mul", "output"]


def test_cse_merges_identical_computations_only():
    def f(x):
        return np.tanh(x) + np.tanh(x) + np.tanh(x * 1.0) + np.tanh(x * 1)

    g = raw_graph(f, X)
    out = cse(g)
    assert ops(g).count("tanh") == 4
    assert ops(out).count("tanh") == 3, "x*1.0 and x*1 are different calls"
    np.testing.assert_array_equal(_run(dce(out), X), f(X))


def _run(g, *args):
    from runtime.interpreter import run_graph

    return run_graph(g, args)


def test_fold_evaluates_constant_subexpressions_with_the_reference():
    def f(x):
        return x + np.exp(TABLE).sum(axis=0)

    g = raw_graph(f, X)
    out = fold(g)
    assert "exp" not in ops(out) and "sum" not in ops(out)
    np.testing.assert_array_equal(_run(dce(out), X), f(X))


def test_passes_are_pure_and_verified():
    def f(x):
        return np.tanh(x) + np.tanh(x) + np.exp(TABLE).sum(axis=0)

    g = raw_graph(f, X)
    before = [(nid, n) for nid, n in g.nodes()]
    for name in PASSES:
        verify(PASSES[name](g))
    assert [(nid, n) for nid, n in g.nodes()] == before
    run_passes(g, ("fold", "cse", "dce", "infer_types"), check=True)


def test_infer_types_with_symbolic_batch():
    def f(x):
        h = x.reshape(x.shape[0], -1) @ np.ones((3, 5), np.float32)
        return h.sum(axis=-1, keepdims=True)

    g = run_passes(raw_graph(f, X))
    out = infer_types(g, [TensorType.of("float32", ("B", 3))])
    types = {n.op: n.types[0] for _, n in out.nodes() if n.types}
    assert types["dim"] == ScalarType("int", "B")
    assert str(types["reshape"]) == "f32[B, 3]"
    assert str(types["matmul"]) == "f32[B, 5]"
    assert str(types["sum"]) == "f32[B, 1]"


def test_verify_reports_the_broken_node_with_neighbours():
    g = Graph()
    x = g.add(Node("input", kwargs=(("name", "x"), ("index", 0))))
    y = g.add(Node("neg", (Use(0), Use(1))), [(x, 0)])  # Use(1) has no edge
    g.add(Node("output", (Use(0),)), [(y, 0)])
    with pytest.raises(VerificationError, match="placeholders") as info:
        verify(g)
    assert ">> %1 = neg" in str(info.value) and "%0 = input" in str(info.value)


def test_verify_rejects_unknown_ops_and_missing_output():
    g = Graph()
    g.add(Node("input", kwargs=(("name", "x"), ("index", 0))))
    with pytest.raises(VerificationError, match="output"):
        verify(g)
    g.add(Node("frobnicate"))
    with pytest.raises(VerificationError, match="unknown op"):
        verify(g)


def test_registry_rejects_duplicates_and_names_missing_rules():
    from ir.ops import OpKind, RuleTable, defop

    with pytest.raises(ValueError, match="already registered"):
        defop("add", OpKind.ELEMENTWISE)(lambda x, y: x + y)
    with pytest.raises(KeyError, match="did you mean"):
        get_op("tanhh")
    table = RuleTable("test lowering")
    with pytest.raises(KeyError, match="'exp' has no entry in the test lowering table"):
        table.get("exp")
