"""The reference interpreter: runs a graph with each op's NumPy reference.

Each op is called exactly as it was recorded, so results equal NumPy eager bit for bit.  A
:class:`Program` is built once per graph (a flat list of steps) and is safe to run from many
threads at once: all per-call state lives in the call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ir import Graph, TracingError
from ir.node import Node, Slice, Use, map_template
from ir.ops import get_op

__all__ = ["Program", "run_graph", "python_method_key"]


@dataclass(frozen=True, slots=True)
class _Step:
    slot: int
    fn: Callable[..., Any]
    args: tuple
    kwargs: tuple
    inputs: tuple[tuple[int, int], ...]  # (slot, output index or -1 for single-output producers)
    op: str
    control: bool = False  # fn(state, *inputs): a control-flow op that runs its blocks


def _if_runner(node: Node) -> Callable[..., Any]:
    then_p, else_p = (Program(b) for b in node.blocks)

    def run(state: Mapping[str, Any], cond: Any, *inputs: Any) -> Any:
        return (then_p if cond else else_p).run(inputs, state)

    return run


def _loop_runner(node: Node) -> Callable[..., Any]:
    (body,) = (Program(b) for b in node.blocks)
    n = node.kwarg("n_carried", 0)

    def run(state: Mapping[str, Any], cond: Any, *inputs: Any) -> Any:
        carried, invariant = inputs[:n], inputs[n:]
        while cond:
            cond, *new = body.run((*carried, *invariant), state)
            carried = tuple(new)
        return tuple(carried)

    return run


def _python_call_runner(node: Node) -> Callable[..., Any]:
    key = python_method_key(node.kwarg("name"))

    def run(state: Mapping[str, Any], *args: Any) -> Any:
        return state[key](*args)

    return run


def _unused_call_runner(node: Node) -> Callable[..., Any]:
    name = node.kwarg("name")

    def run(state: Mapping[str, Any], *args: Any) -> Any:
        raise RuntimeError(f"method {name!r} is marked @tracer.unused; the program cannot call it")

    return run


def python_method_key(name: str) -> str:
    """The key under which the executor's ``state`` holds the Python method ``name``."""
    return f"{name}()"


#: Ops whose execution needs the module state or blocks: op -> (node -> runner(state, *inputs)).
_CONTROL_RUNNERS = {"if": _if_runner, "loop": _loop_runner, "python_call": _python_call_runner,
                    "unused_call": _unused_call_runner}


def _resolve(env: list[Any], ref: tuple[int, int]) -> Any:
    slot, out = ref
    value = env[slot]
    return value if out < 0 else value[out]


def _needs_map(template: Any) -> bool:
    return isinstance(template, (Use, Slice, tuple))


class Program:
    """A graph lowered to a list of NumPy calls.

    Parameters
    ----------
    graph : ir.Graph
    """

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        order = graph.order()
        slot_of = {nid: i for i, nid in enumerate(order)}
        self.n_slots = len(order)
        self.inputs: list[tuple[int, str, Any, bool]] = []  # slot, name, default, has_default
        self.params: list[tuple[int, str]] = []
        self.constants: list[tuple[int, Any]] = []
        self.steps: list[_Step] = []
        self.output: tuple[Any, tuple[tuple[int, int], ...]] | None = None
        for nid in order:
            node = graph.node(nid)
            multi = {src: graph.node(src).num_outputs > 1 or get_op(graph.node(src).op).multi_output
                     for src, _ in graph.inputs(nid)}
            refs = tuple((slot_of[src], out if multi[src] else -1) for src, out in graph.inputs(nid))
            slot = slot_of[nid]
            if node.op == "input":
                continue
            elif node.op == "param":
                self.params.append((slot, node.kwarg("name")))
            elif node.op == "constant":
                name = node.kwarg("name")
                self.constants.append((slot, graph.tensors[name] if name is not None else node.kwarg("value")))
            elif node.op == "output":
                self.output = (node.args[0], refs)
            elif node.op in _CONTROL_RUNNERS:
                runner = _CONTROL_RUNNERS[node.op](node)
                self.steps.append(_Step(slot, runner, node.args, node.kwargs, refs, node.op, control=True))
            else:
                self.steps.append(_Step(slot, get_op(node.op).impl, node.args, node.kwargs, refs, node.op))
        for nid in graph.input_nodes:
            kw = graph.node(nid).kwargs_dict
            self.inputs.append((slot_of[nid], kw["name"], kw.get("default"), "default" in kw))
        if self.output is None:
            raise ValueError(f"graph {graph.name!r} has no output node")

    def bind(self, args: Sequence[Any]) -> list[Any]:
        """Match call arguments to the graph's inputs, filling defaults."""
        n = len(self.inputs)
        if len(args) > n:
            raise TypeError(f"{self.graph.name}() takes {n} argument(s) but {len(args)} were given")
        values = list(args)
        for _, name, default, has_default in self.inputs[len(args):]:
            if not has_default:
                names = ", ".join(i[1] for i in self.inputs)
                raise TypeError(f"{self.graph.name}({names}) missing argument {name!r}")
            values.append(default)
        return values

    def prepare(self, input_types: Sequence[Any]) -> None:
        """Nothing to build ahead of time: the interpreter runs any types."""

    def run(self, args: Sequence[Any], state: Mapping[str, Any]) -> Any:
        """Run with positional ``args`` and parameter values ``state`` (qualified name -> array)."""
        env: list[Any] = [None] * self.n_slots
        for (slot, *_), value in zip(self.inputs, self.bind(args)):
            env[slot] = value
        for slot, name in self.params:
            try:
                env[slot] = state[name]
            except KeyError:
                raise TracingError(
                    f"parameter {name!r} used by {self.graph.name}() is missing from the module"
                ) from None
        for slot, value in self.constants:
            env[slot] = value
        for step in self.steps:
            vals = [_resolve(env, r) for r in step.inputs]
            fetch = lambda u, vals=vals: vals[u.index]  # noqa: E731
            args_ = map_template(step.args, fetch) if step.inputs else step.args
            if step.control:
                env[step.slot] = step.fn(state, *args_)
            elif step.kwargs:
                kwargs = {k: (map_template(v, fetch) if _needs_map(v) else v) for k, v in step.kwargs}
                env[step.slot] = step.fn(*args_, **kwargs)
            else:
                env[step.slot] = step.fn(*args_)
        template, refs = self.output  # type: ignore[misc]
        vals = [_resolve(env, r) for r in refs]
        return map_template(template, lambda u: vals[u.index])


def run_graph(graph: Graph, args: Sequence[Any], state: Mapping[str, Any] | None = None) -> Any:
    """Interpret ``graph`` once (builds a throwaway :class:`Program`)."""
    return Program(graph).run(args, state or {})
