"""Two textual forms of a graph.

* :func:`format_graph` - the IR listing with every value's type (what ``str(graph)`` shows).
* :func:`print_code` - the program as Python-syntax text (``ScriptModule.code``; what the archive
  stores).  It names values after the op that made them, refers to parameters as
  ``self.<qualified name>`` and to constant arrays as ``CONSTANTS.<name>``.
"""

from __future__ import annotations

import builtins
import keyword
import math
import re
from typing import Any

import numpy as np

from .graph import Graph, ValueRef
from .node import Node, Slice, Use
from .ops import get_op

__all__ = ["Namespace", "format_graph", "print_code", "format_literal"]

_NON_WORD = re.compile(r"\W")

#: Names the program text reserves for itself.
RESERVED = frozenset({"self", "np", "ops", "CONSTANTS", "math", *dir(builtins)})


class Namespace:
    """Hands out readable, unique Python identifiers.

    >>> ns = Namespace()
    >>> ns.fresh("add"), ns.fresh("add"), ns.fresh("lambda"), ns.fresh("1x")
    ('add', 'add_1', 'lambda_', '_1x')
    """

    def __init__(self, reserved: frozenset[str] | set[str] = RESERVED) -> None:
        self._used: set[str] = set(reserved)

    def fresh(self, hint: str) -> str:
        # an ASCII identifier has no \W character: skip the substitution (the planner and the
        # driver ask for hundreds of names on every load)
        base = (hint if hint.isascii() and hint.isidentifier() else _NON_WORD.sub("_", hint)).strip("_") or "v"
        if base[0].isdigit():
            base = "_" + base
        if keyword.iskeyword(base) or keyword.issoftkeyword(base):
            base += "_"
        name, n = base, 0
        while name in self._used:
            n += 1
            name = f"{base}_{n}"
        self._used.add(name)
        return name


def format_literal(value: Any) -> str:
    """A template literal as Python source."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "np.nan"
        if math.isinf(value):
            return "np.inf" if value > 0 else "-np.inf"
        return repr(value)
    if isinstance(value, int):
        return repr(value)
    if value is Ellipsis:
        return "..."
    if isinstance(value, np.dtype):
        return f"np.{value.name}"
    if isinstance(value, str):
        return repr(value)
    raise TypeError(f"cannot print literal {value!r}")


class _Printer:
    def __init__(self, graph: Graph, names: dict[ValueRef, str]) -> None:
        self.g = graph
        self.names = names

    def value(self, nid: int, template: Any, inputs: list[ValueRef]) -> str:
        if isinstance(template, Use):
            return self.names[inputs[template.index]]
        if isinstance(template, tuple):
            inner = ", ".join(self.value(nid, t, inputs) for t in template)
            return f"({inner},)" if len(template) == 1 else f"({inner})"
        if isinstance(template, Slice):  # outside a subscript: the call slice(start, stop, step)
            parts = [self.value(nid, p, inputs) for p in (template.start, template.stop, template.step)]
            return f"slice({', '.join(parts)})"
        return format_literal(template)

    def _slice(self, nid: int, s: Slice, inputs: list[ValueRef]) -> str:
        parts = ["" if p is None else self.value(nid, p, inputs) for p in (s.start, s.stop, s.step)]
        text = f"{parts[0]}:{parts[1]}"
        return text + (f":{parts[2]}" if s.step is not None else "")

    def index(self, nid: int, index: Any, inputs: list[ValueRef]) -> str:
        if index == ():
            return "()"
        items = index if isinstance(index, tuple) else (index,)
        text = ", ".join(self._slice(nid, i, inputs) if isinstance(i, Slice) else self.value(nid, i, inputs)
                         for i in items)
        return text + "," if isinstance(index, tuple) and len(index) == 1 else text

    def call(self, nid: int, node: Node) -> str:
        op = get_op(node.op)
        inputs = self.g.inputs(nid)
        args = [self.value(nid, a, inputs) for a in node.args]
        kwargs = [f"{k}={self.value(nid, v, inputs)}" for k, v in node.kwargs]
        spell = op.spelling
        if spell.startswith("infix:"):
            return f"{_operand(args[0])} {spell[6:]} {_operand(args[1])}"
        if spell.startswith("prefix:"):
            return f"{spell[7:]}{_operand(args[0])}"
        if spell.startswith("method:"):
            return f"{args[0]}.{spell[7:]}({', '.join(args[1:] + kwargs)})"
        if spell.startswith("format:"):
            return spell[7:].format(*args)
        if spell == "pycall":
            return f"self.{node.kwarg('name')}({', '.join(args)})"
        if spell == "getitem":
            return f"{args[0]}[{self.index(nid, node.args[1], inputs)}]"
        return f"{spell}({', '.join(args + kwargs)})"


def state_path(qualified: str) -> str:
    """``self.layers[0].weight`` for the parameter ``layers.0.weight``."""
    parts = ["self"]
    for part in qualified.split("."):
        parts.append(f"[{part}]" if part.isdigit() else f".{part}")
    return "".join(parts)


def _operand(text: str) -> str:
    """Parenthesise negative literals so ``-2 ** x`` cannot misparse."""
    return f"({text})" if text.startswith("-") else text


def _constant_text(g: Graph, node: Node) -> str:
    name = node.kwarg("name")
    if name is not None:
        return f"CONSTANTS.{name}"
    return format_literal(node.kwarg("value"))


class _CodeWriter:
    """Prints one graph (and, recursively, the blocks of its control-flow nodes)."""

    def __init__(self, ns: Namespace, lines: list[str]) -> None:
        self.ns = ns
        self.lines = lines

    def name_values(self, g: Graph, names: dict[ValueRef, str]) -> None:
        for nid, node in g.nodes():
            if node.op == "param":
                names[(nid, 0)] = state_path(node.kwarg("name"))
            elif node.op == "constant":
                names[(nid, 0)] = _constant_text(g, node)
            elif node.op not in ("input", "output"):
                for out in range(node.num_outputs if get_op(node.op).multi_output else 1):
                    hint = node.hints[out] if out < len(node.hints) else node.op
                    names[(nid, out)] = self.ns.fresh(hint)

    def block(self, g: Graph, names: dict[ValueRef, str], indent: str) -> Any:
        """Print ``g``'s statements; returns its output template and the names to read it with."""
        self.name_values(g, names)
        p = _Printer(g, names)
        result = None
        for nid, node in g.nodes():
            if node.op in ("input", "param", "constant"):
                continue
            if node.op == "output":
                result = (p, nid, node)
                continue
            if node.op == "if":
                self.if_(g, nid, node, names, indent)
                continue
            if node.op == "loop":
                self.loop(g, nid, node, names, indent)
                continue
            outs = [names[(nid, i)] for i in range(max(1, node.num_outputs))]
            if get_op(node.op).multi_output:
                target = ", ".join(outs) + ("," if len(outs) == 1 else "")
            else:
                target = outs[0]
            self.lines.append(f"{indent}{target} = {p.call(nid, node)}")
        return result

    def _bind_inputs(self, block: Graph, outer_names: list[str], names: dict[ValueRef, str]) -> None:
        for nid in block.input_nodes:
            names[(nid, 0)] = outer_names[block.node(nid).kwarg("index")]

    def _assign_results(self, block: Graph, names: dict[ValueRef, str], targets: list[str], indent: str,
                        skip: int = 0) -> None:
        p, nid, node = self.block(block, names, indent)
        values = [p.value(nid, t, block.inputs(nid)) for t in node.args[0]][skip:]
        if targets:
            self.lines.append(f"{indent}{', '.join(targets)} = {', '.join(values)}")
        return p.value(nid, node.args[0][0], block.inputs(nid)) if skip else None

    def if_(self, g: Graph, nid: int, node: Node, names: dict[ValueRef, str], indent: str) -> None:
        inputs = [names[ref] for ref in g.inputs(nid)]
        targets = [names[(nid, i)] for i in range(node.num_outputs)]
        self.lines.append(f"{indent}if {inputs[0]}:")
        for i, block in enumerate(node.blocks):
            if i == 1:
                self.lines.append(f"{indent}else:")
            mark = len(self.lines)
            block_names: dict[ValueRef, str] = {}
            self._bind_inputs(block, inputs[1:], block_names)
            self._assign_results(block, block_names, targets, indent + "    ")
            if len(self.lines) == mark:
                self.lines.append(f"{indent}    pass")

    def loop(self, g: Graph, nid: int, node: Node, names: dict[ValueRef, str], indent: str) -> None:
        inputs = [names[ref] for ref in g.inputs(nid)]
        n = node.kwarg("n_carried", 0)
        targets = [names[(nid, i)] for i in range(n)]
        cond = self.ns.fresh("cond")
        if targets:
            self.lines.append(f"{indent}{', '.join(targets)} = {', '.join(inputs[1:1 + n])}")
        self.lines.append(f"{indent}{cond} = {inputs[0]}")
        self.lines.append(f"{indent}while {cond}:")
        (body,) = node.blocks
        block_names: dict[ValueRef, str] = {}
        self._bind_inputs(body, targets + inputs[1 + n:], block_names)
        new_cond = self._assign_results(body, block_names, targets, indent + "    ", skip=1)
        self.lines.append(f"{indent}    {cond} = {new_cond}")


def print_code(graph: Graph) -> str:
    """The graph as a Python function definition (``def forward(self, x): ...``).

    Control flow prints as ``if``/``else`` and ``while`` whose blocks end by assigning the
    values that flow out; :mod:`ir.frontend` reads this text back into an equal graph.

    Examples
    --------
    >>> from ir.node import Node, Use
    >>> g = Graph()
    >>> x = g.add(Node("input", kwargs=(("name", "x"), ("index", 0))))
    >>> y = g.add(Node("exp", (Use(0),)), [(x, 0)])
    >>> z = g.add(Node("add", (Use(0), 1.5)), [(y, 0)])
    >>> _ = g.add(Node("output", (Use(0),)), [(z, 0)])
    >>> print(print_code(g))
    def forward(self, x):
        exp = np.exp(x)
        add = exp + 1.5
        return add
    <BLANKLINE>
    """
    ns = Namespace()
    names: dict[ValueRef, str] = {}
    params = []
    for nid in graph.input_nodes:
        node = graph.node(nid)
        names[(nid, 0)] = ns.fresh(node.kwarg("name"))
        text = names[(nid, 0)]
        if "default" in node.kwargs_dict:
            text += f"={format_literal(node.kwarg('default'))}"
        params.append(text)
    lines = [f"def {graph.name}({', '.join(['self', *params])}):"]
    writer = _CodeWriter(ns, lines)
    p, nid, node = writer.block(graph, names, "    ")
    lines.append(f"    return {p.value(nid, node.args[0], graph.inputs(nid))}")
    return "\n".join(lines) + "\n"


def _type_text(node: Node) -> str:
    if not node.types:
        return ""
    return ", ".join(str(t) for t in node.types)


def format_graph(graph: Graph) -> str:
    """The IR listing: one line per node with its output types, scope and source line.

    Blocks of control-flow nodes are listed under their node, indented.
    """
    ns = Namespace(frozenset())
    lines: list[str] = []
    _format_block(graph, ns, {}, lines, "", header=f"graph {graph.name}")
    return "\n".join(lines)


def _format_block(graph: Graph, ns: Namespace, names: dict[ValueRef, str], lines: list[str], indent: str,
                  header: str) -> None:
    for nid, node in graph.nodes():
        if node.op == "param":
            names[(nid, 0)] = "%" + node.kwarg("name")
        elif node.op == "input":
            names[(nid, 0)] = "%" + ns.fresh(node.kwarg("name") or (node.hints[0] if node.hints else "in"))
        else:
            for out in range(max(1, node.num_outputs)):
                names[(nid, out)] = "%" + ns.fresh(node.hints[out] if out < len(node.hints) else node.op)
    head = ", ".join(f"{names[(n, 0)]}: {_type_text(graph.node(n))}" for n in graph.input_nodes)
    lines.append(f"{indent}{header}({head}):")
    for nid, node in graph.nodes():
        if node.op == "input":
            continue
        inputs = graph.inputs(nid)
        args = [_ir_arg(a, inputs, names) for a in node.args]
        args += [f"{k}={_ir_arg(v, inputs, names)}" for k, v in node.kwargs if node.op != "param"]
        where = "  ".join(x for x in (node.scope, str(node.loc) if node.loc else "") if x)
        comment = f"  # {where}" if where else ""
        if node.op == "output":
            lines.append(f"{indent}  return {', '.join(args)}")
            continue
        outs = ", ".join(names[(nid, i)] for i in range(max(1, node.num_outputs)))
        lines.append(f"{indent}  {outs} : {_type_text(node)} = {node.op}({', '.join(args)}){comment}")
        for i, block in enumerate(node.blocks):
            _format_block(block, ns, dict(names), lines, indent + "    ", header=f"block {i}")


def _ir_arg(template: Any, inputs: list[ValueRef], names: dict[ValueRef, str]) -> str:
    if isinstance(template, Use):
        return names[inputs[template.index]]
    if isinstance(template, tuple):
        inner = ", ".join(_ir_arg(t, inputs, names) for t in template)
        return f"({inner},)" if len(template) == 1 else f"({inner})"
    if isinstance(template, Slice):
        parts = ["" if x is None else _ir_arg(x, inputs, names) for x in (template.start, template.stop, template.step)]
        return ":".join(parts) if template.step is not None else ":".join(parts[:2])
    return format_literal(template)
