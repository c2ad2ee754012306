"""Read program text (what the printer writes and archives store) back into graphs.

This is the only way stored program text comes back: it is parsed with ``ast`` and compiled by
:class:`~ir.frontend.compiler.Compiler` with a resolver that knows nothing but ``np`` (registered
functions only), ``ops``, the module's own parameters under ``self``, and ``CONSTANTS``.  Nothing
in the text is ever executed.
"""

from __future__ import annotations

import ast
import math
import os
import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import ScriptError
from ..graph import Graph
from ..ops import get_op
from ..types import Type
from .astwalk import deeper_than
from .budget import Budget
from .compiler import OPS, Compiler, Source
from .names import check_member_name

__all__ = ["parse_program", "parse_method", "ProgramResolver", "parse_source"]

MAX_PROGRAM_CHARS = 16 * 2**20
#: ``ast.parse`` takes ~300 bytes of memory per token, so tokens are counted before parsing.
MAX_PROGRAM_TOKENS = 1_000_000
MAX_NESTING = 100

# CPython 3.11's parser is not thread-safe under concurrent parses ("AST constructor recursion
# depth mismatch"): every parse of program text holds this lock.
_PARSE_LOCK = threading.Lock()
#: The file name ``ast.parse`` is given (see :func:`parse_source`).
PARSE_FILENAME = os.path.join(os.devnull, "program.py")
_TOKEN = re.compile(r"[A-Za-z_0-9.]+|[^\sA-Za-z_0-9.]")


def parse_source(text: str, filename: str) -> ast.Module:
    """``ast.parse(text)``, one parse at a time, after checking the size and token count."""
    if len(text) > MAX_PROGRAM_CHARS:
        raise ScriptError(f"program text in {filename} has {len(text)} characters, more than the limit "
                          f"{MAX_PROGRAM_CHARS}")
    tokens = 0
    for _ in _TOKEN.finditer(text):
        tokens += 1
        if tokens > MAX_PROGRAM_TOKENS:
            raise ScriptError(f"program text in {filename} has more than {MAX_PROGRAM_TOKENS:,} tokens, the limit "
                              "MAX_PROGRAM_TOKENS")
    with _PARSE_LOCK:
        try:
            # CPython opens the file named here to quote the line of a SyntaxError: give it a
            # path that can never be opened (a name under a device file), never the entry name
            return ast.parse(text, filename=PARSE_FILENAME)
        except SyntaxError as exc:
            raise ScriptError(f"program text in {filename} is not valid Python: {exc.msg} (line {exc.lineno})") \
                from None
        except (ValueError, RecursionError, MemoryError, OverflowError) as exc:
            raise ScriptError(f"program text in {filename} is not valid Python: {exc}") from None


class _State:
    """``self`` and ``self.<submodule>`` in program text."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix


class _Constants:
    """``CONSTANTS`` in program text."""


class _Unused:
    """``self.<name>`` for a method saved as an ``@tracer.unused`` stub."""

    def __init__(self, name: str) -> None:
        self.name = name


class ProgramResolver:
    """Resolves program text names: ``np``, ``ops``, ``math`` constants, ``self.<state>``, ``CONSTANTS``.

    Parameters
    ----------
    state : mapping of qualified name -> Type
        The module's parameters and buffers (``fc.weight``) and their types.
    constants : mapping of name -> np.ndarray
        The program's constant table.
    """

    #: Program text is what the printer writes, not user code: no ``lambda`` (expressions.py).
    user_code = False

    def __init__(self, state: Mapping[str, Type], constants: Mapping[str, np.ndarray],
                 unused: Sequence[str] = ()) -> None:
        self.state = dict(state)
        self.unused = set(unused)
        self.constants = dict(constants)
        self._prefixes = {name.rsplit(".", i)[0] + "." for name in state for i in range(1, name.count(".") + 1)}
        self.globals = {"np": np, "ops": OPS, "math": math, "CONSTANTS": _Constants()}

    def lookup(self, name: str) -> Any:
        return self.globals[name]

    def attribute(self, compiler: Compiler, obj: Any, name: str, node: ast.AST) -> Any:
        if isinstance(obj, _State) and name == "__getitem_static__":
            return lambda index: self._item(compiler, obj, index, node)
        if isinstance(obj, _State):
            qualified = obj.prefix + name
            if qualified in self.unused:
                return _Unused(qualified)
            if qualified in self.state:
                return compiler.param(qualified, self.state[qualified])
            if qualified + "." in self._prefixes:
                return _State(qualified + ".")
            raise compiler.error(node, f"the module has no parameter or submodule {qualified!r}")
        if isinstance(obj, _Constants):
            if name not in self.constants:
                raise compiler.error(node, f"unknown constant {name!r}")
            return compiler.named_constant(name, self.constants[name])
        return NotImplemented

    def _item(self, compiler: Compiler, obj: _State, index: Any, node: ast.AST) -> Any:
        if not isinstance(index, int) or isinstance(index, bool) or index < 0:
            raise compiler.error(node, f"submodules are indexed by non-negative constants, not {index!r}")
        return self.attribute(compiler, obj, str(index), node)

    def call(self, compiler: Compiler, callee: Any, args: list, kwargs: dict, node: ast.AST) -> Any:
        if isinstance(callee, _Unused):
            return compiler.emit(get_op("unused_call"), tuple(args), {**kwargs, "name": callee.name}, node)
        return NotImplemented


def _check_depth(tree: ast.AST) -> None:
    if deeper_than(tree, MAX_NESTING):
        raise ScriptError(f"program text nests deeper than {MAX_NESTING} levels")


def parse_program(
    text: str,
    state: Mapping[str, Type],
    constants: Mapping[str, np.ndarray] | None = None,
    input_types: Mapping[str, Sequence[Type] | None] | None = None,
    filename: str = "<program>",
    unused: Sequence[str] = (),
) -> dict[str, Graph]:
    """Compile program text into one graph per method (``def name(self, ...)`` at top level).

    Raises :class:`~ir.errors.ScriptError` for anything that is not a well-formed program of
    registered ops over this module's state.

    Examples
    --------
    >>> from ir.types import TensorType
    >>> graphs = parse_program("def forward(self, x):\\n    return np.exp(x) + self.b\\n",
    ...                        {"b": TensorType.of("float32", (3,))})
    >>> [n.op for _, n in graphs["forward"].nodes()]
    ['input', 'exp', 'param', 'add', 'output']
    """
    tree = parse_source(text, filename)
    _check_depth(tree)
    budget = Budget(where=filename)
    resolver = ProgramResolver(state, constants or {}, unused)
    lines = text.splitlines()
    graphs: dict[str, Graph] = {}
    for stmt in tree.body:
        if not isinstance(stmt, ast.FunctionDef):
            raise ScriptError(f"{filename}:{getattr(stmt, 'lineno', '?')}: only method definitions may appear at "
                              f"the top level of program text, found {type(stmt).__name__}")
        if stmt.name in graphs:
            raise ScriptError(f"{filename}:{stmt.lineno}: method {stmt.name!r} is defined twice")
        check_member_name(stmt.name, f"{filename}:{stmt.lineno}: method")
        if not stmt.args.args or stmt.args.args[0].arg != "self":
            raise ScriptError(f"{filename}:{stmt.lineno}: method {stmt.name!r} must take self first")
        graphs[stmt.name] = parse_method(stmt, resolver, lines, filename,
                                         (input_types or {}).get(stmt.name), budget)
    return graphs


def parse_method(fn: ast.FunctionDef, resolver: ProgramResolver, lines: list[str], filename: str,
                 input_types: Sequence[Type] | None = None, budget: Budget | None = None) -> Graph:
    """Compile one method of program text."""
    source = Source(filename, 0, lines, fn.name, resolver, self_obj=_State(""))
    for arg in fn.args.args:
        if arg.annotation is not None:
            raise ScriptError(f"{filename}:{fn.lineno}: program text carries no annotations")
    try:
        return Compiler(budget).compile_method(fn, source, input_types=input_types)
    except RecursionError:
        raise ScriptError(f"{filename}:{fn.lineno}: program text nests too deeply") from None
