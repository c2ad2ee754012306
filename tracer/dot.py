"""Drawing a program: Graphviz DOT text from an ``ir.Graph``, and SVG through Graphviz's ``dot``.

Nodes are operations (inputs and the output as ovals, parameters and constants as grey boxes,
control flow as diamonds); edges are values, labelled with their types (``f32[8, 64]``).  The
blocks of a control-flow operation (``if``: then, else; ``loop``: body) are clusters drawn under
it: a dashed edge enters each block and a dashed edge brings its results back.  Nodes carry the
module path and source line as a tooltip.  The text is deterministic: the same graph always gives
the same DOT.

>>> import numpy as np, tracer
>>> sf = tracer.trace(lambda x: np.tanh(x) * 2.0, np.ones((2, 3), dtype=np.float32))
>>> print(to_dot(sf.graph))  # doctest: +ELLIPSIS
digraph "forward" {
...
  n1 [label="tanh", ...];
...
  n0 -> n1 [label="f32[2, 3]"];
...
"""

from __future__ import annotations

import shutil
import subprocess
from typing import Any

from ir import Graph
from ir.node import Node, Slice, Use
from ir.printer import format_literal

__all__ = ["to_dot", "render", "GraphvizNotFound", "INSTALL_HINT"]

#: How to get Graphviz, for messages.
INSTALL_HINT = "install Graphviz: `sudo apt-get install graphviz` (Debian/Ubuntu) or `brew install graphviz` (macOS)"

_STYLE = {  # op -> node attributes; everything else is a plain box
    "input": 'shape=oval, style=filled, fillcolor="#d8ecd8"',
    "output": 'shape=oval, style=filled, fillcolor="#f3dcc4"',
    "param": 'shape=box, style="filled,rounded", fillcolor="#e8e8e8", fontsize=9',
    "constant": 'shape=box, style="filled,rounded", fillcolor="#f4f4f4", fontsize=9',
    "if": 'shape=diamond, style=filled, fillcolor="#dde6f6"',
    "loop": 'shape=diamond, style=filled, fillcolor="#dde6f6"',
}
_BLOCK_NAMES = {"if": ("then", "else"), "loop": ("body",)}
_MAX_LABEL = 48


class GraphvizNotFound(RuntimeError):
    """Graphviz's ``dot`` program is not installed (or not on ``PATH``)."""


def _quote(text: str) -> str:
    """A DOT double-quoted string (newlines become DOT's centred line breaks)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _literal(template: Any) -> str:
    """A call template as short text, each runtime value written ``_``."""
    if isinstance(template, Use):
        return "_"
    if isinstance(template, tuple):
        inner = ", ".join(_literal(t) for t in template)
        return f"({inner},)" if len(template) == 1 else f"({inner})"
    if isinstance(template, Slice):
        parts = ["" if p is None else _literal(p) for p in (template.start, template.stop, template.step)]
        return ":".join(parts if template.step is not None else parts[:2])
    try:
        return format_literal(template)
    except TypeError:
        return repr(template)


def _has_literal(template: Any) -> bool:
    if isinstance(template, Use):
        return False
    if isinstance(template, tuple):
        return any(_has_literal(t) for t in template)
    return True


def _label(node: Node) -> str:
    """What a node shows: the op, then its literal arguments (runtime values written ``_``)."""
    if node.op == "input":
        name = node.kwarg("name")
        return f"input {name}" if name else f"in {node.kwarg('index')}"
    if node.op == "param":
        return f"param\n{node.kwarg('name')}"
    if node.op == "constant":
        name = node.kwarg("name")
        return f"constant\n{'CONSTANTS.' + name if name is not None else _literal(node.kwarg('value'))}"
    lines = [node.op]
    if node.op != "output" and _has_literal(node.args):
        lines.append(_literal(node.args))
    lines += [f"{k}={_literal(v)}" for k, v in node.kwargs]
    return "\n".join(line if len(line) <= _MAX_LABEL else line[:_MAX_LABEL - 3] + "..." for line in lines)


def _tooltip(node: Node) -> str:
    return "  ".join(x for x in (node.scope, str(node.loc) if node.loc else "") if x)


class _Writer:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def graph(self, g: Graph, prefix: str, indent: str) -> None:
        """Nodes and edges of ``g``; node ``nid`` is named ``{prefix}n{nid}``."""
        for nid, node in g.nodes():
            attrs = [f"label={_quote(_label(node))}", _STYLE.get(node.op, "shape=box")]
            tip = _tooltip(node)
            if tip:
                attrs.append(f"tooltip={_quote(tip)}")
            self.lines.append(f"{indent}{prefix}n{nid} [{', '.join(attrs)}];")
        for nid, _node in g.nodes():
            for src, out in g.inputs(nid):
                producer = g.node(src)
                t = g.value_type((src, out))
                label = "" if t is None else str(t)
                if producer.num_outputs > 1:
                    label = f"#{out}: {label}" if label else f"#{out}"
                attrs = f" [label={_quote(label)}]" if label else ""
                self.lines.append(f"{indent}{prefix}n{src} -> {prefix}n{nid}{attrs};")
        for nid, node in g.nodes():
            names = _BLOCK_NAMES.get(node.op, ())
            for i, block in enumerate(node.blocks):
                self.block(block, f"{prefix}n{nid}", i, names[i] if i < len(names) else f"block {i}", indent)

    def block(self, block: Graph, owner: str, i: int, title: str, indent: str) -> None:
        """A cluster for block ``i`` of node ``owner``, with dashed edges in and out."""
        prefix = f"{owner}b{i}_"
        self.lines.append(f"{indent}subgraph cluster_{prefix.rstrip('_')} {{")
        inner = indent + "  "
        self.lines.append(f'{inner}label={_quote(title)}; style="rounded,dashed"; color="#7f8fa6";')
        self.graph(block, prefix, inner)
        self.lines.append(f"{indent}}}")
        for nid in block.input_nodes:
            t = block.node(nid).types
            label = str(t[0]) if t else ""
            self.lines.append(f"{indent}{owner} -> {prefix}n{nid} [style=dashed, label={_quote(label)}];")
        out = block.find("output")
        if out:
            self.lines.append(f'{indent}{prefix}n{out[0]} -> {owner} [style=dashed, color="#9aa5b8", '
                              'arrowhead=empty, constraint=false];')


def to_dot(graph: Graph) -> str:
    """The program ``graph`` as Graphviz DOT text.

    Parameters
    ----------
    graph : ir.Graph
        A method's graph (``module.graph``, ``module.graphs["name"]``).

    Returns
    -------
    str
        A ``digraph`` named after the method, titled with its signature.  Node names are
        ``n<id>`` for the graph's nodes and ``<owner>b<i>_n<id>`` inside control-flow blocks.
    """
    inputs = [graph.node(n) for n in graph.input_nodes]
    signature = ", ".join(f"{n.kwarg('name')}: {n.types[0]}" if n.types else str(n.kwarg("name")) for n in inputs)
    w = _Writer()
    w.lines += [
        f"digraph {_quote(graph.name)} {{",
        f'  graph [label={_quote(f"{graph.name}({signature})")}, labelloc=t, fontname="Helvetica", '
        'fontsize=12, rankdir=TB, nodesep=0.3, ranksep=0.35];',
        '  node [fontname="Helvetica", fontsize=10, height=0.3, margin="0.12,0.04"];',
        '  edge [fontname="Helvetica", fontsize=8, color="#555555"];',
    ]
    w.graph(graph, "", "  ")
    w.lines.append("}")
    return "\n".join(w.lines) + "\n"


def render(dot_text: str, fmt: str = "svg", *, timeout: float | None = 300) -> bytes:
    """Lay out DOT text with Graphviz's ``dot`` and return the drawing.

    Parameters
    ----------
    dot_text : str
        What :func:`to_dot` returns.
    fmt : str
        A Graphviz output format (``"svg"``, ``"png"``, ``"pdf"``).
    timeout : float, optional
        Seconds to wait for ``dot``.

    Returns
    -------
    bytes
        The drawing.

    Raises
    ------
    GraphvizNotFound
        ``dot`` is not on ``PATH``; the message says how to install it.
    RuntimeError
        ``dot`` failed; the message holds its first line of errors.
    """
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFound(f"Graphviz's `dot` program is not installed; {INSTALL_HINT} "
                               "(or use --format dot and draw it elsewhere)")
    try:
        done = subprocess.run([exe, f"-T{fmt}"], input=dot_text.encode("utf-8"), capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise RuntimeError(f"Graphviz's `dot` took more than {timeout:g} s to draw the graph") from None
    if done.returncode != 0:
        first = (done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"])[0]
        raise RuntimeError(f"Graphviz's `dot -T{fmt}` failed (exit {done.returncode}): {first}")
    return done.stdout
