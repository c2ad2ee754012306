"""The program graph: a thin, documented wrapper over networkx's multigraph layout.

Nodes are operations (integer ids; the payload is a frozen :class:`~ir.node.Node` under the
``"node"`` key); edges are values flowing from the producer to the consumer.  An edge carries
``arg`` (which :class:`~ir.node.Use` placeholder of the consumer it fills) and ``out`` (which
output of the producer it reads).  Every graph has ``input`` nodes, ``param``/``constant`` nodes,
and exactly one ``output`` node.

The graph keeps its nodes and edges in the dicts of a ``networkx.MultiDiGraph`` (node -> attribute
dict; successor and predecessor dicts of ``{neighbour: {key: edge data}}``) and updates them as
networkx's own methods do.  :attr:`Graph.nx` is a ``networkx.MultiDiGraph`` over those very dicts,
made on first use: what is changed through either is seen by both, and a program that never asks
for it (loading and running a saved model) never imports networkx.

Graphs are mutated only while they are being built; passes copy (:meth:`Graph.copy`) and return
the new graph.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from .node import Node, Use, iter_uses, map_template
from .toposort import lexicographical_topological_sort, partial_order

if TYPE_CHECKING:
    import networkx

__all__ = ["Graph", "ValueRef", "structurally_equal"]

#: A value in the graph: (producer node id, output index).
ValueRef = tuple[int, int]

#: ``{neighbour: {edge key: edge data}}``, networkx's adjacency of one node in a multigraph.
_Adjacency = dict[int, dict[int, dict[str, Any]]]


def _nx_error(message: str) -> Exception:
    import networkx as nx  # only on this failure path: the error networkx raises

    return nx.NetworkXError(message)


class Graph:
    """A typed dataflow program (a ``networkx.MultiDiGraph``, see :attr:`nx`).

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
    >>> g.nx.number_of_edges(), sorted(g.nx.successors(x))
    (2, [1])
    """

    def __init__(self, name: str = "forward") -> None:
        self.name = name
        self._node: dict[int, dict[str, Any]] = {}
        self._succ: dict[int, _Adjacency] = {}
        self._pred: dict[int, _Adjacency] = {}
        self._attrs: dict[str, Any] = {}  # the networkx graph's ``graph`` attribute dict
        self._nx: networkx.MultiDiGraph | None = None
        self.tensors: dict[str, np.ndarray] = {}
        self._next = 0
        self._order: list[int] | None = None
        #: set by ``ir.passes.infer_types`` on the graph it returns (see ``ir.passes.infer``); any
        #: change to the graph (or asking for :attr:`nx`, through which it may change) drops it
        self._typed: Any = None

    # -- storage: networkx's add_node / add_edge / remove_edge / remove_node on our dicts ----------
    def _changed(self) -> None:
        self._order = None
        self._typed = None
        if self._nx is not None and getattr(self._nx, "__networkx_cache__", None):
            self._nx.__networkx_cache__.clear()

    def _add_node(self, nid: int, node: Node) -> None:
        if nid in self._succ:
            self._node[nid]["node"] = node
            return
        self._succ[nid] = {}
        self._pred[nid] = {}
        self._node[nid] = {"node": node}

    def _add_edge(self, u: int, v: int, key: int | None = None, **data: Any) -> None:
        for n in (u, v):
            if n not in self._succ:
                self._succ[n] = {}
                self._pred[n] = {}
                self._node[n] = {}
        keydict = self._succ[u].get(v)
        if key is None:
            key = 0
            if keydict is not None:
                key = len(keydict)
                while key in keydict:
                    key += 1
        if keydict is not None:
            keydict.setdefault(key, {}).update(data)
        else:
            keydict = {key: dict(data)}
            self._succ[u][v] = keydict
            self._pred[v][u] = keydict

    def _remove_edge(self, u: int, v: int, key: int) -> None:
        keydict = self._succ[u][v]
        del keydict[key]
        if not keydict:
            del self._succ[u][v]
            del self._pred[v][u]

    # -- construction ---------------------------------------------------------------------------
    def add(self, node: Node, inputs: Iterable[ValueRef] = ()) -> int:
        """Add ``node`` whose ``Use(k)`` placeholders read ``inputs[k]``; returns its id."""
        inputs = list(inputs)
        nid = self._next
        self._next += 1
        self._add_node(nid, node)
        for k, (src, out) in enumerate(inputs):
            if src not in self._succ:
                raise KeyError(f"input {k} of {node.op} refers to missing node {src}")
            self._add_edge(src, nid, arg=k, out=out)
        self._changed()
        return nid

    def set_node(self, nid: int, node: Node) -> None:
        """Replace the payload of ``nid`` (its inputs stay)."""
        self._node[nid]["node"] = node
        self._typed = None

    def remove(self, nid: int) -> None:
        try:
            succ = self._succ[nid]
            del self._node[nid]
        except KeyError as err:
            raise _nx_error(f"The node {nid} is not in the digraph.") from err
        for v in succ:
            del self._pred[v][nid]
        del self._succ[nid]
        for u in self._pred[nid]:
            del self._succ[u][nid]
        del self._pred[nid]
        self._changed()

    def replace_uses(self, old: ValueRef, new: ValueRef) -> None:
        """Make every consumer of value ``old`` read ``new`` instead."""
        src, out = old
        moved = [
            (v, data) for v, keydict in self._succ[src].items() for data in keydict.values() if data["out"] == out
        ]
        for v, data in moved:
            for key, d in list(self._succ[src][v].items()):
                if d is data:
                    self._remove_edge(src, v, key)
                    break
            self._add_edge(new[0], v, arg=data["arg"], out=new[1])
        self._changed()

    def merge_duplicate_inputs(self, nid: int) -> None:
        """Give each distinct value ``nid`` reads one placeholder, as the builder does (after
        :meth:`replace_uses` two placeholders may read the same value).  Nodes with blocks keep
        their placeholders: those are positional (a block's inputs)."""
        pred = self._pred[nid]
        if all(len(keydict) == 1 for keydict in pred.values()):
            return  # one edge per producer: no value is read twice
        refs = self.inputs(nid)
        node = self.node(nid)
        if len(set(refs)) == len(refs) or node.blocks:
            return
        first: dict[ValueRef, int] = {}
        remap = [first.setdefault(ref, len(first)) for ref in refs]
        fn = lambda u: Use(remap[u.index])  # noqa: E731
        self.set_node(nid, dataclasses.replace(
            node, args=map_template(node.args, fn), kwargs=tuple((k, map_template(v, fn)) for k, v in node.kwargs)))
        for u, keydict in list(self._pred[nid].items()):
            for key in list(keydict):
                self._remove_edge(u, nid, key)
        for k, (src, out) in enumerate(first):
            self._add_edge(src, nid, arg=k, out=out)
        self._changed()

    def copy(self) -> Graph:
        g = Graph(self.name)
        g._attrs.update(self._attrs)
        for n, d in self._node.items():  # as networkx's copy: nodes, then edges with their keys
            g._succ[n] = {}
            g._pred[n] = {}
            g._node[n] = dict(d)
        succ, pred = g._succ, g._pred
        for u, nbrs in self._succ.items():  # what ``_add_edge`` does for each edge, in this order
            su = succ[u]
            for v, keydict in nbrs.items():
                copied = {key: dict(data) for key, data in keydict.items()}
                su[v] = copied
                pred[v][u] = copied
        g.tensors = dict(self.tensors)
        g._next = self._next
        return g

    # -- queries --------------------------------------------------------------------------------
    @property
    def nx(self) -> networkx.MultiDiGraph:
        """The ``networkx.MultiDiGraph`` over this graph's own dicts (nodes: operations; edges:
        values); made, and networkx imported, on first use."""
        self._typed = None  # changes made through networkx are not seen here
        if self._nx is None:
            import networkx as nx

            g = nx.MultiDiGraph()
            g.graph = self._attrs
            g._node = self._node
            g._succ = g._adj = self._succ
            g._pred = self._pred
            self._nx = g
        return self._nx

    def node(self, nid: int) -> Node:
        return self._node[nid]["node"]

    def payload(self, nid: int) -> Any:
        """The ``"node"`` attribute of ``nid``, ``None`` when it has none (a node added through
        :attr:`nx` without one)."""
        return self._node[nid].get("node")

    def node_ids(self) -> list[int]:
        """Every node id, in the order the nodes were added (networkx's node order)."""
        return list(self._node)

    def __contains__(self, nid: int) -> bool:
        return nid in self._node

    def __len__(self) -> int:
        return len(self._node)

    def inputs(self, nid: int) -> list[ValueRef]:
        """The values read by ``nid``, ordered by placeholder index."""
        pred = self._pred[nid]
        if len(pred) == 1:  # one producer (most nodes): its edges alone, no sort when there is one
            (u, keydict), = pred.items()
            if len(keydict) == 1:
                (d,) = keydict.values()
                return [(u, d["out"])]
        edges = sorted((d["arg"], u, d["out"]) for u, keydict in pred.items() for d in keydict.values())
        return [(u, out) for _, u, out in edges]

    def in_edges(self, nid: int) -> list[tuple[int, int, int]]:
        """``(producer, arg, out)`` for every edge into ``nid``, in networkx's ``in_edges`` order."""
        return [(u, d["arg"], d["out"]) for u, keydict in self._pred[nid].items() for d in keydict.values()]

    def users(self, nid: int) -> set[int]:
        return set(self._succ[nid])

    def producers(self, nid: int) -> set[int]:
        """The nodes ``nid`` reads from."""
        return set(self._pred[nid])

    def ancestors(self, nid: int) -> set[int]:
        """Every node ``nid`` depends on, directly or not (``nid`` itself excluded)."""
        seen: set[int] = set()
        stack = [nid]
        while stack:
            for u in self._pred[stack.pop()]:
                if u not in seen:
                    seen.add(u)
                    stack.append(u)
        seen.discard(nid)
        return seen

    def is_acyclic(self) -> bool:
        """Whether the graph is a DAG (no value feeds, directly or not, its own producer)."""
        order = partial_order(self._succ)
        if len(order) != len(self._succ):
            return False
        self._order = order
        return True

    def order(self) -> list[int]:
        """Node ids in a deterministic topological order (cached)."""
        if self._order is None:
            self._order = lexicographical_topological_sort(self._succ)
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
