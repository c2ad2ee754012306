"""Full unrolling of loops whose trip count follows from constants.

``for t in range(self.steps)`` in a scripted module becomes a ``loop`` node whose condition is
Python arithmetic on constants (``t + 1 < 64``).  :func:`unroll_loops` runs that arithmetic now
and replaces the loop by one copy of its body per iteration, with ``t`` a literal in each copy:
``x[:, t]`` becomes a fixed view, and a backend plans the whole program as straight-line code
(what tracing the same module would have recorded).  An ``if`` on a known condition becomes
the block it takes.

Only Python scalars (``bool``, ``int``, ``float``) are evaluated, by the ops' own references,
so the program computes exactly what it did before.  A loop whose condition stops being known,
or that would run more than ``max_iterations`` times or grow the program past ``max_nodes``,
keeps running as a loop from where the copies stop.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from ..graph import Graph, ValueRef
from ..node import Node, Slice, Use, map_template
from ..ops import OpKind, get_op
from ..types import ScalarType, type_of

__all__ = ["unroll_loops", "MAX_ITERATIONS", "MAX_NODES"]

#: Loops that run longer stay loops (their copies would only cost compile time).
MAX_ITERATIONS = 256
#: Nor may unrolling grow a program past this many nodes.
MAX_NODES = 20_000

_SCALARS = (bool, int, float)


@dataclass(frozen=True)
class _Known:
    """A Python scalar known while unrolling."""

    value: Any


def _known_type(t: Any) -> _Known | None:
    if isinstance(t, ScalarType) and type(t.value) in _SCALARS:
        return _Known(t.value)
    return None


class _Unroller:
    def __init__(self, source: Graph, max_iterations: int, max_nodes: int) -> None:
        self.source = source
        self.out = Graph(source.name)
        self.max_iterations = max_iterations
        self.max_nodes = max_nodes
        self.shared: dict[tuple, ValueRef] = {}  # parameters and named tensors: one node each
        self.changed = False

    # -- values -----------------------------------------------------------------------------------
    def _ref(self, value: Any) -> ValueRef:
        """A ref in the output graph for ``value`` (known scalars become ``constant`` nodes)."""
        if isinstance(value, _Known):
            key = ("constant", type(value.value), value.value)
            hit = self.shared.get(key)
            if hit is None:
                nid = self.out.add(Node("constant", kwargs=(("value", value.value),), types=(type_of(value.value),)))
                hit = self.shared[key] = (nid, 0)
            return hit
        return value

    def _emit(self, node: Node, values: Sequence[Any]) -> int:
        """Copy ``node`` reading ``values``: known scalars become literals in its arguments."""
        new_refs: list[ValueRef] = []
        index: dict[int, Any] = {}
        for k, v in enumerate(values):
            if isinstance(v, _Known) and not node.blocks:
                index[k] = v.value
            else:
                index[k] = Use(len(new_refs))
                new_refs.append(self._ref(v))
        remap = lambda use: index[use.index]  # noqa: E731
        args = map_template(node.args, remap, Slice)
        kwargs = tuple((key, map_template(v, remap, Slice)) for key, v in node.kwargs)
        return self.out.add(replace(node, args=args, kwargs=kwargs), new_refs)

    # -- graphs -----------------------------------------------------------------------------------
    def run(self) -> Graph:
        self._replay(self.source, None)
        return self.out

    def _replay(self, g: Graph, args: Sequence[Any] | None) -> Any:
        """Copy ``g``'s nodes; ``args`` are a block's input values (``None``: the top-level graph,
        whose inputs and output are copied).  Returns a block's output values."""
        env: dict[ValueRef, Any] = {}
        for nid, node in g.nodes():
            refs = g.inputs(nid)
            values = [env[r] for r in refs]
            if node.op == "input":
                if args is None:
                    env[(nid, 0)] = (self.out.add(node), 0)
                else:
                    env[(nid, 0)] = args[node.kwarg("index")]
                continue
            if node.op == "output":
                if args is None:
                    self._emit(node, values)
                    return None
                fetch = lambda use, values=values: values[use.index]  # noqa: E731
                return map_template(node.args[0], fetch)
            if node.op == "param":
                key = ("param", node.kwarg("name"), node.types)
                hit = self.shared.get(key)
                if hit is None:
                    hit = self.shared[key] = (self.out.add(node), 0)
                env[(nid, 0)] = hit
                continue
            if node.op == "constant" and node.kwarg("name") is not None:
                env[(nid, 0)] = (self._tensor(g, node), 0)
                continue
            if node.op == "constant":
                value = node.kwarg("value")
                env[(nid, 0)] = _Known(value) if type(value) in _SCALARS else (self.out.add(node), 0)
                continue
            if node.op in ("if", "loop") and isinstance(values[0], _Known):
                outs = self._control(node, values)
                if outs is not None:
                    for k, v in enumerate(outs):
                        env[(nid, k)] = v
                    continue
            folded = self._evaluate(node, values)
            if folded is not None:
                env[(nid, 0)] = folded
                continue
            new = self._emit(node, values)
            n_out = max(1, len(node.types))
            for k in range(n_out):
                env[(nid, k)] = (new, k)
        raise ValueError(f"graph {g.name!r} has no output node")

    def _tensor(self, g: Graph, node: Node) -> int:
        """A named constant of ``g`` (a block's or the program's) in the output graph."""
        array = g.tensors[node.kwarg("name")]
        key = ("tensor", id(array))
        hit = self.shared.get(key)
        if hit is not None:
            return hit[0]
        name = node.kwarg("name")
        while name in self.out.tensors:
            name += "_"
        self.out.tensors[name] = array
        kwargs = tuple((k, name if k == "name" else v) for k, v in node.kwargs)
        nid = self.out.add(replace(node, kwargs=kwargs))
        self.shared[key] = (nid, 0)
        return nid

    def _evaluate(self, node: Node, values: Sequence[Any]) -> _Known | None:
        """Run a pure single-output op on known scalars by its reference."""
        op = get_op(node.op)
        if not op.pure or op.multi_output or op.kind in (OpKind.GRAPH, OpKind.CONTROL) or node.blocks:
            return None
        if not values or not all(isinstance(v, _Known) for v in values):
            return _known_type(node.types[0]) if node.types and len(node.types) == 1 else None
        fetch = lambda use: values[use.index].value  # noqa: E731
        try:
            result = op.impl(*map_template(node.args, fetch), **{k: map_template(v, fetch) for k, v in node.kwargs})
        except Exception:  # noqa: BLE001 - running it later raises the same error where it belongs
            return None
        return _Known(result) if type(result) in _SCALARS else None

    def _control(self, node: Node, values: list[Any]) -> list[Any] | None:
        cond, *inputs = values
        if node.op == "if":
            self.changed = True
            return list(self._replay(node.blocks[0 if cond.value else 1], inputs))
        n_carried = node.kwarg("n_carried", 0)
        carried, invariant = list(inputs[:n_carried]), list(inputs[n_carried:])
        body = node.blocks[0]
        iterations = 0
        while isinstance(cond, _Known) and cond.value:
            if iterations >= self.max_iterations or len(self.out) + len(body) > self.max_nodes:
                break
            cond, *carried = self._replay(body, [*carried, *invariant])
            iterations += 1
            self.changed = True
        if isinstance(cond, _Known) and not cond.value:
            return carried
        if iterations == 0:
            return None  # emit the loop unchanged
        # the rest runs as a loop, starting from the copies' results
        rest = [cond, *carried, *invariant]
        new = self.out.add(node, [self._ref(v) for v in rest])
        return [(new, k) for k in range(max(1, len(node.types)))]


def unroll_loops(graph: Graph, *, max_iterations: int = MAX_ITERATIONS, max_nodes: int = MAX_NODES) -> Graph:
    """``graph`` with loops of known trip count unrolled and ``if``s on known conditions resolved.

    Returns ``graph`` itself when it has no such control flow.  Run ``ir.passes.infer_types``
    with concrete input types first: shape reads (``x.shape[1]``) are then known too.  Values
    shared by the copies (``W.T`` of a parameter in every iteration) are left for ``cse``.
    """
    if not any(node.blocks for _, node in graph.nodes()):
        return graph
    unroller = _Unroller(graph, max_iterations, max_nodes)
    out = unroller.run()
    return out if unroller.changed else graph
