"""``verify(graph)``: check every IR invariant, naming the broken node and its neighbours."""

from __future__ import annotations

from .errors import VerificationError
from .graph import Graph
from .node import Node, Use, iter_uses
from .ops import OpKind, get_op, has_op
from .types import AnyType, DictType, ListType, NeverType, ScalarType, TensorType, TupleType

__all__ = ["verify"]


def _window(g: Graph, nid: int, radius: int = 2) -> str:
    """The node with ``radius`` producers and consumers around it, in program order."""
    near = {nid}
    frontier = {nid}
    for _ in range(radius):
        frontier = {m for n in frontier for m in (*g.producers(n), *g.users(n))} - near
        near |= frontier
    lines = []
    for n in g.order() if g.is_acyclic() else sorted(g.node_ids()):
        if n in near:
            node = g.node(n)
            mark = ">>" if n == nid else "  "
            loc = f"  # {node.loc}" if node.loc else ""
            lines.append(f"{mark} %{n} = {node.op}(inputs={g.inputs(n)}) -> {', '.join(map(str, node.types))}{loc}")
    return "\n".join(lines)


def _fail(g: Graph, nid: int, message: str) -> None:
    raise VerificationError(f"graph {g.name!r}, node %{nid}: {message}\n{_window(g, nid)}")


def _verify_control(graph: Graph, nid: int, node: Node, n_inputs: int) -> None:
    from .ops.control import N_BLOCKS

    if len(node.blocks) != N_BLOCKS[node.op]:
        _fail(graph, nid, f"{node.op} needs {N_BLOCKS[node.op]} blocks, has {len(node.blocks)}")
    if not node.args or not isinstance(node.args[0], Use) or node.args[0].index != 0:
        _fail(graph, nid, f"{node.op}: the condition must be its first input")
    n_carried = node.kwarg("n_carried", 0) if node.op == "loop" else 0
    if node.op == "loop" and not 0 <= n_carried <= n_inputs - 1:
        _fail(graph, nid, f"loop carries {n_carried} of {n_inputs - 1} values")
    n_results = len(node.types) + (1 if node.op == "loop" else 0)
    for i, block in enumerate(node.blocks):
        if not isinstance(block, Graph):
            _fail(graph, nid, f"block {i} of {node.op} is not a Graph")
        try:
            verify(block)
        except VerificationError as exc:
            _fail(graph, nid, f"block {i} of {node.op} is broken: {exc}")
        if len(block.input_nodes) != n_inputs - 1:
            _fail(graph, nid, f"block {i} has {len(block.input_nodes)} inputs, the {node.op} passes {n_inputs - 1}")
        result = block.node(block.output_node).args[0]
        if not isinstance(result, tuple) or len(result) != n_results:
            _fail(graph, nid, f"block {i} must return a tuple of {n_results} values")
    if node.op == "loop" and len(node.types) != n_carried:
        _fail(graph, nid, f"loop has {len(node.types)} output types for {n_carried} carried values")


def verify(graph: Graph) -> Graph:
    """Check the invariants of ``graph``; returns it unchanged, raises ``VerificationError``.

    Checked: the graph is a DAG; every node has a payload of a registered op; the ``Use``
    placeholders of a node are exactly ``0..n-1`` and each is filled by exactly one edge; every
    edge reads an existing output of its producer; types are types; there is one ``output`` node,
    inputs are numbered ``0..k-1``; constants refer to existing tensors.
    """
    if not graph.is_acyclic():
        import networkx as nx  # only to name the cycle

        cycle = nx.find_cycle(graph.nx)
        _fail(graph, cycle[0][0], f"the graph has a cycle through nodes {[e[0] for e in cycle]}")
    outputs = []
    input_indices = []
    for nid in graph.node_ids():
        node = graph.payload(nid)
        if not isinstance(node, Node):
            raise VerificationError(f"graph {graph.name!r}, node %{nid}: no Node payload")
        if not has_op(node.op):
            _fail(graph, nid, f"unknown op {node.op!r}")
        op = get_op(node.op)
        uses = [u.index for u in iter_uses((node.args, node.kwargs))]
        in_edges = graph.in_edges(nid)
        edges = sorted(arg for _, arg, _ in in_edges)
        if sorted(set(uses)) != list(range(len(edges))) or edges != list(range(len(edges))):
            _fail(graph, nid, f"placeholders {sorted(set(uses))} do not match input edges {edges}")
        for u, _, out in in_edges:
            producer = graph.node(u)
            if not 0 <= out < max(1, producer.num_outputs):
                _fail(graph, nid, f"reads output {out} of %{u} ({producer.op}), which has {producer.num_outputs}")
            if producer.op == "output":
                _fail(graph, nid, "reads the output node")
        for t in node.types:
            if not isinstance(t, (TensorType, ScalarType, TupleType, ListType, DictType, AnyType, NeverType)):
                _fail(graph, nid, f"output type {t!r} is not an ir.types type")
        if op.multi_output is False and node.op != "output" and len(node.types) > 1:
            _fail(graph, nid, f"{node.op} has one output but {len(node.types)} types")
        if node.op == "output":
            outputs.append(nid)
        elif node.op == "input":
            input_indices.append(node.kwarg("index"))
        elif node.op == "constant":
            name = node.kwarg("name")
            if name is not None and name not in graph.tensors:
                _fail(graph, nid, f"constant refers to missing tensor {name!r}")
        elif node.op == "param":
            if not isinstance(node.kwarg("name"), str):
                _fail(graph, nid, "param without a name")
        elif op.kind is OpKind.GRAPH:
            _fail(graph, nid, f"unexpected graph op {node.op}")
        elif op.kind is OpKind.CONTROL:
            _verify_control(graph, nid, node, len(edges))
        elif node.blocks:
            _fail(graph, nid, f"{node.op} is not a control-flow op but has blocks")
    if len(outputs) != 1:
        raise VerificationError(f"graph {graph.name!r} has {len(outputs)} output nodes, expected 1")
    if graph.users(outputs[0]):
        _fail(graph, outputs[0], "the output node has consumers")
    if sorted(input_indices) != list(range(len(input_indices))):
        raise VerificationError(f"graph {graph.name!r}: input indices {sorted(input_indices)} are not 0..n-1")
    return graph
