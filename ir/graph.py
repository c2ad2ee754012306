"""The program graph: a thin, documented wrapper over ``networkx.MultiDiGraph``.

Nodes are operations (integer ids; the payload is a frozen :class:`~ir.node.Node` under the
``"node"`` key); edges are values flowing from the producer to the consumer.  An edge carries
``arg`` (which :class:`~ir.node.Use` placeholder of the consumer it fills) and ``out`` (which
output of the producer it reads).  Every graph has ``input`` nodes, ``param``/``constant`` nodes,
and exactly one ``output`` node.

Graphs are mutated only while they are being built; passes copy (:meth:`Graph.copy`) and return
the new graph.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import Any

import networkx as nx
import numpy as np

from .node import Node, Use, iter_uses, map_template

__all__ = ["Graph", "ValueRef", "structurally_equal"]

#: A value in the graph: (producer node id, output index).
ValueRef = tuple[int, int]


class Graph:
    """A typed dataflow program over ``networkx.MultiDiGraph``.

    Parameters
    ----------
    name : str
        The method this graph implements (``"forward"``).

    Examples
    --------
    >>> from ir.node import Node, Use
    >>> g = Graph()
    >>> x = g.add(Node("input", kwargs=(("name", "x"), ("index", 0))))
    >>> y = g.add(Node("neg", (Use(0),)), [(x, 0)])
    >>> out = g.add(Node("output", (Use(0),)), [(y, 0)])
    >>> [g.node(n).op for n in g.order()]
    ['input', 'neg', 'output']
    """

    def __init__(self, name: str = "forward") -> None:
        self.name = name
        self._g = nx.MultiDiGraph()
        self.tensors: dict[str, np.ndarray] = {}
        self._next = 0
        self._order: list[int] | None = None

    # -- construction ---------------------------------------------------------------------------
    def add(self, node: Node, inputs: Iterable[ValueRef] = ()) -> int:
        """Add ``node`` whose ``Use(k)`` placeholders read ``inputs[k]``; returns its id."""
        inputs = list(inputs)
        nid = self._next
        self._next += 1
        self._g.add_node(nid, node=node)
        for k, (src, out) in enumerate(inputs):
            if src not in self._g:
                raise KeyError(f"input {k} of {node.op} refers to missing node {src}")
            self._g.add_edge(src, nid, arg=k, out=out)
        self._order = None
        return nid

    def set_node(self, nid: int, node: Node) -> None:
        """Replace the payload of ``nid`` (its inputs stay)."""
        self._g.nodes[nid]["node"] = node

    def remove(self, nid: int) -> None:
        self._g.remove_node(nid)
        self._order = None

    def replace_uses(self, old: ValueRef, new: ValueRef) -> None:
        """Make every consumer of value ``old`` read ``new`` instead."""
        src, out = old
        moved = [
            (v, data) for _, v, data in self._g.out_edges(src, data=True) if data["out"] == out
        ]
        for v, data in moved:
            for key, d in list(self._g.get_edge_data(src, v).items()):
                if d is data:
                    self._g.remove_edge(src, v, key)
                    break
            self._g.add_edge(new[0], v, arg=data["arg"], out=new[1])
        self._order = None

    def merge_duplicate_inputs(self, nid: int) -> None:
        """Give each distinct value ``nid`` reads one placeholder, as the builder does (after
        :meth:`replace_uses` two placeholders may read the same value).  Nodes with blocks keep
        their placeholders: those are positional (a block's inputs)."""
        refs = self.inputs(nid)
        node = self.node(nid)
        if len(set(refs)) == len(refs) or node.blocks:
            return
        first: dict[ValueRef, int] = {}
        remap = [first.setdefault(ref, len(first)) for ref in refs]
        fn = lambda u: Use(remap[u.index])  # noqa: E731
        self.set_node(nid, dataclasses.replace(
            node, args=map_template(node.args, fn), kwargs=tuple((k, map_template(v, fn)) for k, v in node.kwargs)))
        for u, _, key in list(self._g.in_edges(nid, keys=True)):
            self._g.remove_edge(u, nid, key)
        for k, (src, out) in enumerate(first):
            self._g.add_edge(src, nid, arg=k, out=out)
        self._order = None

    def copy(self) -> Graph:
        g = Graph(self.name)
        g._g = self._g.copy()
        g.tensors = dict(self.tensors)
        g._next = self._next
        return g

    # -- queries --------------------------------------------------------------------------------
    @property
    def nx(self) -> nx.MultiDiGraph:
        """The underlying ``networkx.MultiDiGraph`` (nodes: operations; edges: values)."""
        return self._g

    def node(self, nid: int) -> Node:
        return self._g.nodes[nid]["node"]

    def __contains__(self, nid: int) -> bool:
        return nid in self._g

    def __len__(self) -> int:
        return self._g.number_of_nodes()

    def inputs(self, nid: int) -> list[ValueRef]:
        """The values read by ``nid``, ordered by placeholder index."""
        edges = sorted((d["arg"], u, d["out"]) for u, _, d in self._g.in_edges(nid, data=True))
        return [(u, out) for _, u, out in edges]

    def users(self, nid: int) -> set[int]:
        return set(self._g.successors(nid))

    def order(self) -> list[int]:
        """Node ids in a deterministic topological order (cached)."""
        if self._order is None:
            self._order = list(nx.lexicographical_topological_sort(self._g))
        return list(self._order)

    def nodes(self) -> Iterator[tuple[int, Node]]:
        """``(id, payload)`` in topological order."""
        for nid in self.order():
            yield nid, self.node(nid)

    def find(self, op: str) -> list[int]:
        return [nid for nid, n in self.nodes() if n.op == op]

    @property
    def input_nodes(self) -> list[int]:
        return sorted(self.find("input"), key=lambda n: self.node(n).kwarg("index"))

    @property
    def output_node(self) -> int:
        outs = self.find("output")
        if len(outs) != 1:
            raise ValueError(f"graph {self.name!r} has {len(outs)} output nodes, expected 1")
        return outs[0]

    def value_type(self, ref: ValueRef) -> Any:
        types = self.node(ref[0]).types
        return types[ref[1]] if ref[1] < len(types) else None

    def num_uses(self, nid: int) -> int:
        return sum(1 for _ in iter_uses((self.node(nid).args, self.node(nid).kwargs)))

    def __str__(self) -> str:
        from .printer import format_graph

        return format_graph(self)

    def __repr__(self) -> str:
        return f"<ir.Graph {self.name!r}: {len(self)} nodes>"


def _canonical(g: Graph) -> tuple[list[int], dict[ValueRef, Any]]:
    """Operations in order, and a key for every value: leaves (inputs, parameters, constants)
    are keyed by what they are, other values by the position of the operation making them."""
    keys: dict[ValueRef, Any] = {}
    ops: list[int] = []
    for nid, node in g.nodes():
        if node.op == "input":
            keys[(nid, 0)] = ("input", node.kwarg("index"))
        elif node.op == "param":
            keys[(nid, 0)] = ("param", node.kwarg("name"))
        elif node.op == "constant":
            name = node.kwarg("name")
            if name is None:
                keys[(nid, 0)] = ("value", type(node.kwarg("value")).__name__, repr(node.kwarg("value")))
            else:
                t = g.tensors[name]
                keys[(nid, 0)] = ("tensor", t.dtype.str, t.shape, t.tobytes())
        else:
            for out in range(max(1, node.num_outputs)):
                keys[(nid, out)] = ("op", len(ops), out)
            ops.append(nid)
    return ops, keys


def structurally_equal(a: Graph, b: Graph) -> bool:
    """Whether ``a`` and ``b`` are the same program: the same operations (op, arguments, types,
    blocks) in the same order reading the same values; inputs, parameters and constants are
    matched by index, name and value.  Node ids, names, scopes and source lines may differ."""
    ops_a, keys_a = _canonical(a)
    ops_b, keys_b = _canonical(b)
    if len(ops_a) != len(ops_b):
        return False
    for na, nb in zip(ops_a, ops_b):
        x, y = a.node(na), b.node(nb)
        if x != y or len(x.blocks) != len(y.blocks):
            return False
        if [keys_a[r] for r in a.inputs(na)] != [keys_b[r] for r in b.inputs(nb)]:
            return False
        if not all(structurally_equal(ba, bb) for ba, bb in zip(x.blocks, y.blocks)):
            return False
    return True
