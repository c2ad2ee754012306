"""``Builder``: appends typed operations to a graph, and to the blocks nested in it.

Both frontends record through a builder: the tracer (with the concrete types it observed) and
the script compiler (types from each op's rule).  A builder for a control-flow block knows its
parent; reading a value of an enclosing block *captures* it: the block gets an ``input`` node
for it, and the region op that owns the block receives the outer value as an input.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .graph import Graph, ValueRef
from .node import Node, SourceLoc, map_template
from .ops import OpDef
from .types import AnyType, Type, is_known

__all__ = ["Builder", "Value"]


@dataclass(frozen=True, slots=True, eq=False)
class Value:
    """A value produced in ``builder``'s graph: ``ref`` = (node id, output index)."""

    builder: Builder
    ref: ValueRef
    type: Type


class Builder:
    """Adds nodes to ``graph``; ``parent`` is the builder of the enclosing block, if any."""

    def __init__(self, graph: Graph, parent: Builder | None = None) -> None:
        self.graph = graph
        self.parent = parent
        self.n_own_inputs = 0
        self._captures: dict[tuple[int, ValueRef], ValueRef] = {}
        self.captured: list[tuple[ValueRef, ValueRef]] = []  # (ref in parent, ref here)

    # -- values ---------------------------------------------------------------------------------
    def local(self, value: Value) -> ValueRef:
        """The ref of ``value`` inside this builder's graph, capturing it from outer blocks."""
        if value.builder is self:
            return value.ref
        key = (id(value.builder), value.ref)
        hit = self._captures.get(key)
        if hit is not None:
            return hit
        if self.parent is None:
            raise ValueError("a value from another program was used; values cannot cross programs")
        outer = self.parent.local(value)
        nid = self.graph.add(
            Node("input", kwargs=(("name", ""), ("index", -1)), types=(value.type,))
        )
        self._captures[key] = (nid, 0)
        self.captured.append((outer, (nid, 0)))
        return (nid, 0)

    def add_input(self, name: str, type_: Type, default: Any = dataclasses.MISSING) -> Value:
        """A new input of this graph (the method's arguments, or a block's own inputs).

        A block's inputs are nameless (their names are only hints): blocks read values by position.
        """
        kwargs: tuple = (("name", name if self.parent is None else ""), ("index", self.n_own_inputs))
        if default is not dataclasses.MISSING:
            kwargs += (("default", default),)
        nid = self.graph.add(Node("input", kwargs=kwargs, types=(type_,), hints=(name,)))
        self.n_own_inputs += 1
        return Value(self, (nid, 0), type_)

    def emit(
        self,
        op: OpDef,
        args: tuple,
        kwargs: tuple[tuple[str, Any], ...],
        inputs: Sequence[Value],
        *,
        types: Sequence[Type] | None = None,
        scope: str = "",
        loc: SourceLoc | None = None,
        blocks: tuple = (),
        hints: tuple[str, ...] = (),
    ) -> list[Value]:
        """Append ``op(*args, **kwargs)`` whose ``Use(k)`` placeholders read ``inputs[k]``.

        Without ``types`` the op's type rule derives them from the inputs' types; a rule that
        rejects its arguments raises ``TypeError``/``ValueError``/``IndexError``.
        """
        refs = [self.local(v) for v in inputs]
        if types is None:
            types = self.infer(op, args, kwargs, [v.type for v in inputs])
        node = Node(op.name, args, kwargs, tuple(types), scope, loc, blocks, hints)
        nid = self.graph.add(node, refs)
        return [Value(self, (nid, i), t) for i, t in enumerate(node.types)]

    @staticmethod
    def infer(op: OpDef, args: tuple, kwargs: tuple, in_types: Sequence[Type]) -> tuple[Type, ...]:
        """Output types by the op's rule.  A rule that fails on inputs whose types are not fully
        known gives ``AnyType`` (unknown, never wrong); on known types its error propagates."""
        if op.infer is None:
            return (AnyType(),)
        fetch = lambda use: in_types[use.index]  # noqa: E731
        try:
            result = op.infer(*map_template(args, fetch), **{k: map_template(v, fetch) for k, v in kwargs})
        except (TypeError, ValueError, IndexError):
            if all(is_known(t) for t in in_types):
                raise
            if op.multi_output and op.count is not None:
                return tuple(AnyType() for _ in range(op.count(*map_template(args, fetch),
                                                                 **{k: map_template(v, fetch) for k, v in kwargs})))
            return (AnyType(),)
        return tuple(result) if op.multi_output else (result,)

    def finish_inputs(self, parent_refs: Sequence[ValueRef]) -> None:
        """Number this block's inputs: own inputs first, then one per ``parent_refs`` entry
        (adding inputs for outer values this block did not read), in that order."""
        mine = {outer: local for outer, local in self.captured}
        for k, outer in enumerate(parent_refs):
            local = mine.get(outer)
            if local is None:
                t = self.parent.graph.value_type(outer) if self.parent else AnyType()
                nid = self.graph.add(Node("input", kwargs=(("name", ""), ("index", -1)), types=(t,)))
                local = (nid, 0)
            node = self.graph.node(local[0])
            kw = tuple((key, self.n_own_inputs + k if key == "index" else v) for key, v in node.kwargs)
            self.graph.set_node(local[0], dataclasses.replace(node, kwargs=kw))
