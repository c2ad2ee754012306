"""``infer_types`` on a graph it returned, unchanged, for the same input types copies it instead of
inferring it again; every change to the graph, its tensors or its blocks makes it infer anew."""

from __future__ import annotations

import dataclasses

import numpy as np

import tracer
from ir import Graph, structurally_equal
from ir.passes import infer as infer_module
from ir.passes import infer_types
from ir.types import ScalarType, TensorType, type_of

X = np.ones((4, 3), np.float32)


def traced() -> Graph:
    table = np.arange(3, dtype=np.float32)
    return tracer.trace(lambda x: np.tanh(x * 2.0) + table, X, check_trace=False).graph


def scripted_loop() -> Graph:
    class Steps(tracer.nn.Module):
        def forward(self, x):
            h = x[:, 0]
            for t in range(x.shape[1]):
                h = np.tanh(h + x[:, t])
            return h

    return tracer.script(Steps(), (X,)).graph


def count_inferences(monkeypatch) -> list[int]:
    """How many graphs infer_types really inferred (each does one copy() first)."""
    calls = [0]
    original = Graph.copy

    def copy(self):
        calls[0] += 1
        return original(self)

    monkeypatch.setattr(Graph, "copy", copy)
    real = infer_module._stamp_matches

    def matches(g, t):
        found = real(g, t)
        if found is not None:
            calls[0] -= 1  # the copy it made is not an inference
        return found

    monkeypatch.setattr(infer_module, "_stamp_matches", matches)
    return calls


def types_of(g: Graph) -> list:
    return [node.types for _, node in g.nodes()]


def test_inferring_a_result_again_for_the_same_types_copies_it(monkeypatch):
    g = infer_types(traced(), [type_of(X)])
    calls = count_inferences(monkeypatch)
    again = infer_types(g, [type_of(X)])
    assert again is not g and structurally_equal(again, g) and types_of(again) == types_of(g)
    assert calls[0] == 0, "copied, not inferred"
    assert infer_types(again, [type_of(X)]) is not again, "the copy carries the stamp"
    assert calls[0] == 0


def test_other_types_or_a_changed_graph_are_inferred_anew():
    g = infer_types(traced(), [type_of(X)])
    other = infer_types(g, [TensorType.of("float64", (4, 3))])
    assert other.value_type(other.inputs(other.output_node)[0]).dtype == np.float64
    # the input types are compared by type and repr: byte orders and literal types stay apart
    swapped = infer_types(g, [TensorType.of(">f4", (4, 3))])
    assert swapped._typed.types != g._typed.types
    assert infer_module._types_key([ScalarType("float", 1)]) != infer_module._types_key([ScalarType("float", 1.0)])

    h = infer_types(traced(), [type_of(X)])
    nid = next(n for n, node in h.nodes() if node.op == "tanh")
    h.set_node(nid, dataclasses.replace(h.node(nid), types=()))
    assert h._typed is None, "set_node drops the stamp"
    assert infer_types(h, [type_of(X)]).node(nid).types != ()

    k = infer_types(traced(), [type_of(X)])
    name = next(iter(k.tensors))
    k.tensors[name] = np.arange(6, dtype=np.float64)  # a constant of another type
    out = infer_types(k, [type_of(X)])
    const = next(n for n, node in out.nodes() if node.op == "constant" and node.kwarg("name") == name)
    assert out.node(const).types[0].dtype == np.float64

    m = infer_types(traced(), [type_of(X)])
    m.nx  # noqa: B018 - networkx may change it behind our back
    assert m._typed is None


def test_a_block_changed_in_place_makes_the_graph_infer_anew(monkeypatch):
    g = infer_types(scripted_loop(), [type_of(X)])
    assert g._typed is not None
    loop = next(node for _, node in g.nodes() if node.blocks)
    body = loop.blocks[0]
    nid = next(n for n, node in body.nodes() if node.op == "tanh")
    body.set_node(nid, dataclasses.replace(body.node(nid), types=()))
    calls = count_inferences(monkeypatch)
    again = infer_types(g, [type_of(X)])
    assert calls[0] > 0
    loop_again = next(node for _, node in again.nodes() if node.blocks)
    assert loop_again.blocks[0].node(nid).types != ()


def test_the_loaded_and_planned_program_is_the_same_as_before(tmp_path):
    """What tracer.load(..., _restore_shapes=True) plans equals planning a fresh inference."""
    from codegen.plan import plan_graph

    sm = tracer.trace(lambda x: np.tanh(x * 2.0) @ np.ones((3, 5), np.float32), X, check_trace=False)
    tracer.save(sm, str(tmp_path / "m.pt"))
    loaded = tracer.load(str(tmp_path / "m.pt"), _restore_shapes=True)
    g = loaded._methods["forward"]
    assert g._typed is not None
    fresh = infer_types(g.copy(), [type_of(X)])
    assert fresh._typed is not None and fresh is not g
    a, b = plan_graph(g, [type_of(X)]), plan_graph(fresh.copy(), [type_of(X)])
    assert a.describe() == b.describe() and [k.text for k in a.kernels] == [k.text for k in b.kernels]
