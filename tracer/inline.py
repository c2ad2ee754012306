"""Inline a loaded ScriptModule's graph into a program being compiled (as a submodule)."""

from __future__ import annotations

import ast
from typing import Any

from ir import Graph, Use, map_template
from ir.frontend import Compiler
from ir.ops import get_op

__all__ = ["inline_graph", "trace_call"]


def inline_graph(c: Compiler, graph: Graph, args: list, prefix: str, node: ast.AST) -> Any:
    """Copy ``graph``'s nodes into ``c``'s current block, reading ``args`` for its inputs and its
    parameters under ``prefix`` (``"enc"`` turns ``fc.weight`` into ``enc.fc.weight``)."""
    values: dict[tuple[int, int], Any] = {}
    inputs = graph.input_nodes
    if len(args) > len(inputs):
        raise c.error(node, f"the loaded module takes {len(inputs)} arguments, got {len(args)}")
    for k, nid in enumerate(inputs):
        n = graph.node(nid)
        if k < len(args):
            values[(nid, 0)] = args[k]
        elif "default" in n.kwargs_dict:
            values[(nid, 0)] = n.kwarg("default")
        else:
            raise c.error(node, f"the loaded module needs argument {n.kwarg('name')!r}")
    result = None
    for nid, n in graph.nodes():
        if n.op == "input":
            continue
        refs = graph.inputs(nid)
        fetch = lambda use, refs=refs: values[refs[use.index]]  # noqa: E731
        if n.op == "param":
            name = n.kwarg("name")
            values[(nid, 0)] = c.param(f"{prefix}.{name}" if prefix else name, n.types[0], prefix)
        elif n.op == "constant":
            name = n.kwarg("name")
            values[(nid, 0)] = c.constant(graph.tensors[name] if name is not None else n.kwarg("value"), node)
        elif n.op == "output":
            result = map_template(n.args[0], fetch)
        elif n.blocks:
            raise c.error(node, "inlining a loaded module with control flow is not supported yet",
                          "call it from a traced module, or script the original module")
        else:
            args_ = map_template(n.args, fetch)
            kwargs = {k: map_template(v, fetch) for k, v in n.kwargs}
            out = c.emit(get_op(n.op), args_, kwargs, node)
            outs = out if get_op(n.op).multi_output else (out,)
            for i, o in enumerate(outs):
                values[(nid, i)] = o
    assert not isinstance(result, Use)
    return result


def trace_call(sm: Any, args: tuple) -> Any:
    """``ScriptModule.__call__`` while tracing: record its program's ops on the traced values."""
    from . import _state
    from .proxy import Proxy

    tracer = _state.current()
    if tracer is None or not tracer.concrete or not any(isinstance(a, Proxy) for a in args):
        return NotImplemented
    path = tracer.paths.get(id(sm))
    if path is None:
        raise tracer.error("a loaded module is called in forward but is not a submodule of the traced module; "
                           "assign it as an attribute in __init__")
    graph = sm.graph
    values: dict[tuple[int, int], Any] = {}
    inputs = graph.input_nodes
    for k, nid in enumerate(inputs):
        n = graph.node(nid)
        values[(nid, 0)] = args[k] if k < len(args) else n.kwarg("default")
    owners = {p: m for p, m in sm.named_modules()}
    result = None
    tracer.scopes.append(path)
    try:
        for nid, n in graph.nodes():
            if n.op == "input":
                continue
            refs = graph.inputs(nid)
            fetch = lambda use, refs=refs: values[refs[use.index]]  # noqa: E731
            if n.op == "param":
                owner_path, _, leaf = n.kwarg("name").rpartition(".")
                owner = owners[owner_path]
                array = owner._parameters.get(leaf, owner._buffers.get(leaf))
                values[(nid, 0)] = tracer.state_value(owner, leaf, array) if id(owner) in tracer.paths \
                    else tracer.state_value(sm, n.kwarg("name"), array)
            elif n.op == "constant":
                name = n.kwarg("name")
                values[(nid, 0)] = graph.tensors[name] if name is not None else n.kwarg("value")
            elif n.op == "output":
                result = map_template(n.args[0], fetch)
            elif n.blocks:
                raise tracer.error("tracing through a loaded module with control flow is not supported; "
                                   "use tracer.script for the outer module")
            else:
                out = tracer.record_call(get_op(n.op), map_template(n.args, fetch),
                                         {k: map_template(v, fetch) for k, v in n.kwargs})
                outs = out if get_op(n.op).multi_output else (out,)
                for i, o in enumerate(outs):
                    values[(nid, i)] = o
    finally:
        tracer.scopes.pop()
    return result
