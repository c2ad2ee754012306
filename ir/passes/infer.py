"""Type propagation: give every value the type its op's rule derives from the input types."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from ..graph import Graph
from ..node import Use, map_template
from ..ops import get_op
from ..types import AnyType, ScalarType, Type, join, type_of

__all__ = ["infer_types"]


def _block_results(block: Graph) -> list[Type]:
    out = block.output_node
    refs = block.inputs(out)
    return [block.value_type(refs[t.index]) if isinstance(t, Use) else type_of(t) for t in block.node(out).args[0]]


def _if_rule(node: Any, in_types: list[Type], budget: list[int]) -> tuple[tuple[Graph, ...], tuple[Type, ...]]:
    blocks = tuple(infer_types(b, in_types[1:], _budget=budget) for b in node.blocks)
    then_t, else_t = (_block_results(b) for b in blocks)
    return blocks, tuple(join(a, b) for a, b in zip(then_t, else_t))


def _widen(t: Type) -> Type:
    # a carried scalar's first value is not its value in later iterations: without this, every
    # nested loop would infer its body twice (2**depth passes)
    return ScalarType(t.kind) if isinstance(t, ScalarType) and t.value is not None else t


def _loop_rule(node: Any, in_types: list[Type], budget: list[int]) -> tuple[tuple[Graph, ...], tuple[Type, ...]]:
    n = node.kwarg("n_carried", 0)
    carried, invariant = [_widen(t) for t in in_types[1:1 + n]], in_types[1 + n:]
    for _ in range(4):  # carried types only get less specific, so this settles quickly
        body = infer_types(node.blocks[0], carried + list(invariant), _budget=budget)
        new = [join(a, b) for a, b in zip(carried, _block_results(body)[1:])]
        if new == carried:
            return (body,), tuple(carried)
        carried = new
    carried = [AnyType() for _ in carried]
    return (infer_types(node.blocks[0], carried + list(invariant), _budget=budget),), tuple(carried)


_CONTROL_RULES = {"if": _if_rule, "loop": _loop_rule}


#: Nodes one ``infer_types`` call may visit, blocks and repeated loop passes included.
MAX_VISITS = 2_000_000


def infer_types(graph: Graph, input_types: Sequence[Type] | None = None, *, _budget: list[int] | None = None) -> Graph:
    """Recompute every node's types from the input types (default: the inputs' current types).

    Parameters keep their recorded types, constants their values' types.  An op without a rule,
    or whose rule fails, gets ``AnyType`` for its outputs (never a wrong type).

    The result depends only on the graph's operations, its parameters' and constants' types and
    ``input_types``, so inferring a graph that this function returned, unchanged since, for the
    same input types gives that graph again: it is copied instead of inferred anew (loading an
    archive with ``_restore_shapes=True`` infers, and then planning for the same types did again).
    """
    if _budget is None and input_types is not None:
        again = _stamp_matches(graph, input_types)
        if again is not None:
            return again
    g = graph.copy()
    if input_types is not None:
        ins = g.input_nodes
        if len(input_types) != len(ins):
            raise ValueError(f"{len(ins)} inputs but {len(input_types)} input types")
        for nid, t in zip(ins, input_types):
            g.set_node(nid, dataclasses.replace(g.node(nid), types=(t,)))
    budget = [0] if _budget is None else _budget
    budget[0] += len(g)
    if budget[0] > MAX_VISITS:
        raise ValueError(f"type inference visits more than {MAX_VISITS:,} nodes (MAX_VISITS): the program's "
                         "loops nest too deeply")
    for nid in g.order():
        node = g.node(nid)
        op = get_op(node.op)
        if node.op in ("input", "param", "output"):
            continue
        if node.op in _CONTROL_RULES:
            in_types = [g.value_type(ref) for ref in g.inputs(nid)]
            blocks, types = _CONTROL_RULES[node.op](node, in_types, budget)
            g.set_node(nid, dataclasses.replace(node, blocks=blocks, types=types))
            continue
        if node.op == "constant":
            name = node.kwarg("name")
            value = g.tensors[name] if name is not None else node.kwarg("value")
            g.set_node(nid, dataclasses.replace(node, types=(type_of(value),)))
            continue
        in_types = [g.value_type(ref) for ref in g.inputs(nid)]
        fetch = lambda use, in_types=in_types: in_types[use.index]  # noqa: E731
        n_out = max(1, node.num_outputs)
        try:
            if op.infer is None:
                raise TypeError(f"op {op.name!r} has no type rule")
            result = op.infer(*map_template(node.args, fetch), **dict(map_template(node.kwargs, fetch)))
        except (TypeError, ValueError, IndexError):
            result = tuple(AnyType() for _ in range(n_out)) if op.multi_output else AnyType()
        types = tuple(result) if op.multi_output else (result,)
        g.set_node(nid, dataclasses.replace(node, types=types))
    if input_types is not None:
        g._typed = _Stamp(g, input_types)
    return g


class _Stamp:
    """What ``infer_types`` gave a graph it returned: the input types (compared by type and
    ``repr``, so that ``1`` and ``1.0`` or byte orders stay apart), the tensors the constants'
    types came from (by identity), and the stamps of the graphs in its nodes' blocks (changing a
    block in place drops its own stamp).  ``Graph`` drops its stamp on every change."""

    __slots__ = ("types", "tensors", "blocks")

    def __init__(self, g: Graph, input_types: Sequence[Type]) -> None:
        self.types = _types_key(input_types)
        self.tensors = tuple(g.tensors.items())
        self.blocks = tuple((b, b._typed) for _, node in g.nodes() for b in node.blocks)

    def holds(self, g: Graph, input_types: Sequence[Type]) -> bool:
        tensors = g.tensors
        return (self.types == _types_key(input_types) and len(tensors) == len(self.tensors)
                and all(tensors.get(k, _MISSING) is v for k, v in self.tensors)
                and all(getattr(b, "_typed", None) is stamp and stamp is not None and b._nx is None
                        for b, stamp in self.blocks))


_MISSING = object()


def _types_key(types: Sequence[Type]) -> tuple:
    return tuple((type(t), repr(t)) for t in types)


def _stamp_matches(graph: Graph, input_types: Sequence[Type]) -> Graph | None:
    """A copy of ``graph`` when it is ``infer_types``'s unchanged result for ``input_types``."""
    stamp = getattr(graph, "_typed", None)  # a graph unpickled from an older version has none
    if stamp is None or graph._nx is not None or not stamp.holds(graph, input_types):
        return None
    g = graph.copy()
    g._typed = stamp
    return g
