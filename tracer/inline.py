"""A loaded ScriptModule used as a submodule: its program is replayed into the caller's program.

Scripting copies its ops into the program being compiled; tracing records them on the traced
values.  Either way its parameters stay parameters (under the submodule's path), not constants.
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

from ir import Graph, map_template
from ir.frontend import Compiler
from ir.ops import OpDef, get_op

__all__ = ["inline_graph", "trace_call"]


def _replay(graph: Graph, args: tuple | list, *, param: Callable[[str, Any], Any], constant: Callable[[Any], Any],
            call: Callable[[OpDef, Any, dict], Any], error: Callable[[str], Exception]) -> Any:
    """Walk ``graph`` on ``args``; ``param``/``constant``/``call`` make the caller's values."""
    values: dict[tuple[int, int], Any] = {}
    inputs = graph.input_nodes
    if len(args) > len(inputs):
        raise error(f"the loaded module takes {len(inputs)} arguments, got {len(args)}")
    for k, nid in enumerate(inputs):
        n = graph.node(nid)
        if k < len(args):
            values[(nid, 0)] = args[k]
        elif "default" in n.kwargs_dict:
            values[(nid, 0)] = n.kwarg("default")
        else:
            raise error(f"the loaded module needs argument {n.kwarg('name')!r}")
    result = None
    for nid, n in graph.nodes():
        if n.op == "input":
            continue
        refs = graph.inputs(nid)
        fetch = lambda use, refs=refs: values[refs[use.index]]  # noqa: E731
        if n.op == "param":
            values[(nid, 0)] = param(n.kwarg("name"), n.types[0])
        elif n.op == "constant":
            name = n.kwarg("name")
            values[(nid, 0)] = constant(graph.tensors[name] if name is not None else n.kwarg("value"))
        elif n.op == "output":
            result = map_template(n.args[0], fetch)
        elif n.blocks:
            raise error("a loaded module with control flow cannot be inlined here yet; "
                        "script the original module, or call the loaded module outside the traced code")
        else:
            op = get_op(n.op)
            out = call(op, map_template(n.args, fetch), {k: map_template(v, fetch) for k, v in n.kwargs})
            for i, o in enumerate(out if op.multi_output else (out,)):
                values[(nid, i)] = o
    return result


def inline_graph(c: Compiler, graph: Graph, args: list, prefix: str, node: ast.AST) -> Any:
    """Copy ``graph``'s nodes into ``c``'s current block, reading ``args`` for its inputs and its
    parameters under ``prefix`` (``"enc"`` turns ``fc.weight`` into ``enc.fc.weight``)."""
    return _replay(
        graph, args,
        param=lambda name, t: c.param(f"{prefix}.{name}" if prefix else name, t, prefix),
        constant=lambda value: c.constant(value, node),
        call=lambda op, a, k: c.emit(op, a, k, node),
        error=lambda message: c.error(node, message),
    )


def trace_call(sm: Any, args: tuple) -> Any:
    """``ScriptModule.__call__`` while tracing: record its program's ops on the traced values."""
    from . import _state

    tracer = _state.current()
    if tracer is None or not tracer.concrete:
        return NotImplemented  # not tracing (a loaded model's first call need not import the tracer)
    from .proxy import Proxy

    if not any(isinstance(a, Proxy) for a in args):
        return NotImplemented
    path = tracer.paths.get(id(sm))
    if path is None:
        raise tracer.error("a loaded module is called in forward but is not a submodule of the traced module; "
                           "assign it as an attribute in __init__")
    owners = dict(sm.named_modules())

    def param(name: str, _type: Any) -> Any:
        owner_path, _, leaf = name.rpartition(".")
        owner = owners[owner_path]
        return tracer.state_value(owner, leaf, owner._parameters.get(leaf, owner._buffers.get(leaf)))

    tracer.scopes.append(path)
    try:
        return _replay(sm.graph, args, param=param, constant=lambda value: value, call=tracer.record_call,
                       error=tracer.error)
    finally:
        tracer.scopes.pop()
