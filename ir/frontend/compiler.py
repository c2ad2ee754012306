"""Compile the Python-syntax subset (an ``ast`` tree) into a graph.

The compiler evaluates what it can while compiling: literals, sizes of known dimensions, module
constants, ``None`` checks and the branches they select, loops over module lists.  Everything
that depends on array values becomes IR, control flow included (``if`` and ``loop`` nodes with
blocks).  It knows only registered ops, a few pure builtins, and the names it is handed: every
other name, attribute and call goes to a :class:`Resolver` (``tracer.script`` resolves the user's
Python objects; the archive loader resolves only the program's own state), and anything neither
knows is a :class:`~ir.errors.ScriptError` that names the construct, the file and line, and the fix.

The :class:`Compiler` is assembled from one mixin per room: :mod:`.statements` (blocks,
assignment, ``if`` and the regions it builds), :mod:`.loops` (``while`` and ``for``),
:mod:`.expressions` (names, attributes, indexing, operators), :mod:`.containers` (tuples and lists,
unpacking), :mod:`.calls` (calls, builtins and array methods) and :mod:`.values` (static values and
the IR values they become).  This module holds the compiler's state, its diagnostics and its entry
points.
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from ..builder import Builder, Value
from ..errors import ScriptError
from ..graph import Graph
from ..node import Node, SourceLoc
from ..ops import get_op
from ..types import AnyType, TensorType, Type
from .annotations import annotation_type
from .astwalk import walk
from .budget import Budget
from .calls import _Calls
from .containers import PyDict, _Containers
from .expressions import OPS, _Expressions
from .loops import _Loops
from .mutation import _is_array, _Mutation, input_cell, mutates
from .raising import RAISED, _Raising
from .ranks import _Ranks
from .statements import _Statements
from .transforms import RESULT, RETURNED, contains, lift_returns, lifting_copies, lower_returns
from .values import _MISSING, _is_literal, _Values

__all__ = ["Compiler", "Resolver", "Source", "OPS", "annotation_type"]


class Resolver(Protocol):
    """What the compiler asks about names it does not know itself."""

    def lookup(self, name: str) -> Any:
        """The object a free name refers to; ``KeyError`` if none."""

    def attribute(self, compiler: Compiler, obj: Any, name: str, node: ast.AST) -> Any:
        """``obj.name`` for an object the compiler does not know, or ``NotImplemented``."""

    def call(self, compiler: Compiler, callee: Any, args: list, kwargs: dict, node: ast.AST) -> Any:
        """Compile a call to ``callee``, or return ``NotImplemented``."""


@dataclass
class Source:
    """One function's source: where it is, and how its names resolve."""

    file: str
    line_offset: int
    lines: list[str]
    qualname: str
    resolver: Resolver
    self_obj: Any = None
    scope: str = ""


@dataclass
class _Frame:
    source: Source
    env: dict[str, Any]
    dropped: dict[str, str] = field(default_factory=dict)  # name -> why it is not defined here


#: Statements and expressions that are never supported, with what to write instead.
_UNSUPPORTED: dict[type, tuple[str, str]] = {
    ast.Try: ("try", "check conditions with if; errors cannot be caught in a program"),
    ast.With: ("with", "open resources outside the model and pass arrays in"),
    ast.AsyncWith: ("async with", "models are synchronous"),
    ast.Global: ("global", "pass the value as an argument or store it on the module"),
    ast.Nonlocal: ("nonlocal", "pass the value as an argument"),
    ast.FunctionDef: ("nested def", "define the function at module level or as a method"),
    ast.AsyncFunctionDef: ("async def", "models are synchronous"),
    ast.ClassDef: ("class definition", "define classes at module level"),
    ast.Import: ("import", "import at module level"),
    ast.ImportFrom: ("import", "import at module level"),
    ast.Delete: ("del", "let the variable go out of use instead"),
    ast.Yield: ("yield (generator)", "return a tuple of results"),
    ast.YieldFrom: ("yield from (generator)", "return a tuple of results"),
    ast.Await: ("await", "models are synchronous"),
    ast.SetComp: ("set comprehension", "use a list comprehension or a dict comprehension"),
    ast.Set: ("set", "use a tuple, a list or a dict"),
    ast.Starred: ("*args outside a call", "pass *args only in a call: f(*xs)"),
    ast.NamedExpr: ("walrus operator :=", "assign on a separate line"),
    ast.AsyncFor: ("async for", "models are synchronous"),
    ast.Match: ("match", "use if/elif/else"),
}


class Compiler(_Statements, _Loops, _Mutation, _Ranks, _Raising, _Expressions, _Containers, _Calls, _Values):
    """Compiles functions into one program; see the module docstring.

    The public entry points are :meth:`compile_method` (a whole method into a new graph) and
    :meth:`inline` (a function body into the graph being built, for calls).
    """

    MAX_DEPTH = 64
    #: ``if`` and loop bodies inside each other.  The printed program indents each once, and
    #: program text may nest at most ``program.MAX_NESTING`` (100) AST levels, the one-line
    #: statements inside the deepest block included.  Each early return that may fall through puts
    #: the rest of the function one level deeper (``lower_returns``).
    MAX_BLOCK_DEPTH = 80

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget if budget is not None else Budget()
        self.budget.locate = self._locate
        self.builder: Builder | None = None
        self.frames: list[_Frame] = []
        self._params: dict[tuple[int, str], Value] = {}
        self._tensor_names: set[str] = set()
        self._block_depth = 0
        #: every base name a view record (``name$view``, mutation.py) has named in this compiler
        self._view_bases: set[str] = set()

    # -- diagnostics ------------------------------------------------------------------------------
    @property
    def frame(self) -> _Frame:
        return self.frames[-1]

    def loc(self, node: ast.AST | None) -> SourceLoc | None:
        if node is None or not hasattr(node, "lineno") or not self.frames:
            return None
        return SourceLoc(self.frame.source.file, node.lineno + self.frame.source.line_offset)

    def _locate(self, node: ast.AST) -> str | None:
        loc = self.loc(node)
        return str(loc) if loc is not None else None

    def error(self, node: ast.AST | None, what: str, fix: str = "") -> ScriptError:
        """A ScriptError naming ``what`` at ``node``'s file and line, with the line's text."""
        if not self.frames:
            return ScriptError(what + (f"; {fix}" if fix else ""))
        src = self.frame.source
        line = getattr(node, "lineno", None)
        where = f"{src.file}:{line + src.line_offset}" if line else src.file
        text = ""
        if line and 0 < line + src.line_offset <= len(src.lines):
            text = "\n    " + src.lines[line + src.line_offset - 1].strip()
        return ScriptError(f"{what} at {where} in {src.qualname}:{text}" + (f"\n{fix}" if fix else ""))

    def unsupported(self, node: ast.AST) -> ScriptError:
        what, fix = _UNSUPPORTED.get(type(node), (type(node).__name__, "rewrite it with supported constructs"))
        return self.error(node, f"unsupported construct '{what}'", fix)

    # -- entry points -----------------------------------------------------------------------------
    def compile_method(
        self,
        fn: ast.FunctionDef,
        source: Source,
        *,
        input_types: Sequence[Type] | None = None,
        name: str | None = None,
        defaults: dict[str, Any] | None = None,
        annotations: dict[str, Any] | None = None,
        has_self: bool = True,
    ) -> Graph:
        """Compile method ``fn`` (its first parameter is ``self``) into a new graph.

        ``input_types`` (from example inputs) win over annotations; ``annotations``/``defaults``
        are the evaluated ones (``inspect.signature``), else the AST's literal ones are used.
        """
        graph = Graph(name or fn.name)
        self.builder = Builder(graph)
        frame = _Frame(source, {})
        self.frames.append(frame)
        try:
            self._check_signature(fn, inlined=False)
            all_params = [a.arg for a in fn.args.args]
            params = all_params[1:] if has_self else all_params
            first = 1 if has_self else 0
            ast_defaults = dict(zip(all_params[::-1], fn.args.defaults[::-1]))
            if input_types is not None and len(input_types) > len(params):
                raise self.error(fn, f"{len(input_types)} example inputs for {len(params)} arguments")
            for i, pname in enumerate(params):
                t = input_types[i] if input_types is not None and i < len(input_types) else None
                if t is None:
                    ann = (annotations or {}).get(pname, _MISSING)
                    if ann is _MISSING:
                        arg_node = fn.args.args[i + first].annotation
                        ann = self._static_annotation(arg_node) if arg_node is not None else None
                    t = annotation_type(ann)
                    if t is None and getattr(ann, "__origin__", None) is list:
                        raise self.error(fn, f"argument {pname!r} is a list of unknown length",
                                         "pass example_inputs so its length is known, or use tuple[...]")
                    if t is None:
                        raise self.error(fn, f"unsupported annotation {ann!r} of argument {pname!r}",
                                         "use np.ndarray, int, float, bool, tuple[...], list[np.ndarray], "
                                         "dict[str, np.ndarray] or Optional[...]")
                default = _MISSING
                if defaults and pname in defaults:
                    default = defaults[pname]
                elif pname in ast_defaults:
                    default = self.expr(ast_defaults[pname])
                if default is not _MISSING and not _is_literal(default):
                    raise self.error(fn, f"default value of {pname!r} is a {type(default).__name__}",
                                     "defaults must be None, bool, int, float, str or tuples of them")
                if default is None and t == TensorType(None, None):
                    t = AnyType()  # an unannotated argument that defaults to None is Optional
                value = self.builder.add_input(pname, t) if default is _MISSING else \
                    self.builder.add_input(pname, t, default)
                frame.env[pname] = value
            arrays = {p: v for p, v in frame.env.items() if _is_array(v)}
            for pname, value in arrays.items():
                frame.env[input_cell(pname)] = value  # followed through item assignment (mutation.py)
            if has_self:
                frame.env[all_params[0]] = source.self_obj
            result = self._body(fn)
            if result is RAISED:  # every path raises: the program returns nothing
                result = None
            self.writebacks(arrays, result, fn)
            refs: list[Value] = []
            template = self._template(result, refs, fn, materialize=True)
            graph.add(Node("output", (template,)), [self.builder.local(v) for v in refs])
            return graph
        finally:
            self.frames.pop()

    def inline(self, fn: ast.FunctionDef, source: Source, args: list, kwargs: dict, node: ast.AST,
               defaults: dict[str, Any] | None = None) -> Any:
        """Compile a call of ``fn`` in the current graph; returns the call's result.

        ``defaults`` are the function's evaluated default values (else the AST's are compiled).
        """
        if len(self.frames) >= self.MAX_DEPTH:
            raise self.error(node, "calls nest too deeply (recursion is not supported)",
                             "rewrite the recursion as a loop")
        self.frames.append(_Frame(source, {}))  # the callee's own constructs are reported at its lines
        try:
            self._check_signature(fn, inlined=True)
        finally:
            self.frames.pop()
        env, params, missing, ast_defaults = self._bind(fn, source, args, kwargs, node, defaults)
        if source.self_obj is not None:
            env[(*fn.args.posonlyargs, *fn.args.args)[0].arg] = source.self_obj
        arrays = {p: v for p, v in env.items() if p in params and _is_array(v)}
        for pname, value in arrays.items():
            env[input_cell(pname)] = value  # an argument the function writes into changes for the caller
        self.frames.append(_Frame(source, env))
        try:
            for pname in missing:
                if pname not in env:
                    env[pname] = self.expr(ast_defaults[pname])
            result = self._body(fn)
            if result is RAISED:  # every path raises: the caller's path ends here (self._raised), and
                result = self.emit(get_op("undefined"), (), {}, node)  # the rest of its expression is dead
            changed = [(value, self.frame.env.get(input_cell(pname))) for pname, value in arrays.items()]
        finally:
            self.frames.pop()
        for old, new in changed:
            if isinstance(new, Value) and new is not old:
                self.replace(old, new, node)
        return result

    def _bind(self, fn: ast.FunctionDef, source: Source, args: list, kwargs: dict, node: ast.AST,
              defaults: dict[str, Any] | None) -> tuple[dict[str, Any], list[str], list[str], dict[str, ast.expr]]:
        """Bind a call's arguments to ``fn``'s parameters as Python does, while compiling:
        ``*rest`` gets the tuple of the extra positional arguments, ``**kw`` the dict of the extra
        keywords.  Returns (env, named parameters, those left to their defaults, the AST defaults);
        a default still missing from env is compiled in the callee's frame."""
        a = fn.args
        names = [p.arg for p in (*a.posonlyargs, *a.args)]
        ast_defaults: dict[str, ast.expr] = dict(zip(names[::-1], a.defaults[::-1]))
        ast_defaults.update((p.arg, d) for p, d in zip(a.kwonlyargs, a.kw_defaults) if d is not None)
        skip = 1 if source.self_obj is not None else 0
        positional, posonly = names[skip:], set(names[skip:len(a.posonlyargs)])
        kwonly = [p.arg for p in a.kwonlyargs]
        name = source.qualname
        if len(args) > len(positional) and a.vararg is None:
            raise self.error(node, f"{name}() takes {len(positional)} positional arguments but {len(args)} were given")
        env: dict[str, Any] = dict(zip(positional, args))
        extra: dict[str, Any] = {}
        for key, value in kwargs.items():
            if (key in positional and key not in posonly) or key in kwonly:
                if key in env:
                    raise self.error(node, f"{name}() got multiple values for argument {key!r}")
                env[key] = value
            elif a.kwarg is not None:
                extra[key] = value
            else:
                raise self.error(node, f"{name}() got an unexpected keyword argument {key!r}")
        if a.vararg is not None:
            env[a.vararg.arg] = tuple(args[len(positional):])
        if a.kwarg is not None:
            env[a.kwarg.arg] = PyDict(extra)
        params = positional + kwonly
        missing = [p for p in params if p not in env]
        for pname in missing:
            if defaults is not None and pname in defaults:
                env[pname] = defaults[pname]
            elif pname not in ast_defaults:
                raise self.error(node, f"{name}() is missing argument {pname!r}")
        return env, params, missing, ast_defaults

    def _prescan(self, fn: ast.FunctionDef) -> None:
        """Refuse the first unsupported construct in ``fn`` before compiling anything."""
        call_args: set[int] = set()  # f(*xs): the one place a starred expression is compiled
        for stmt in fn.body:
            for node in walk(stmt):  # breadth first: a call before its arguments
                if isinstance(node, ast.Call):
                    call_args.update(id(a) for a in node.args if isinstance(a, ast.Starred))
                if isinstance(node, (ast.List, ast.Tuple)):  # [*xs, y], first, *rest = xs (containers.py)
                    call_args.update(id(a) for a in node.elts if isinstance(a, ast.Starred))
                if type(node) in _UNSUPPORTED and id(node) not in call_args:
                    raise self.unsupported(node)

    def _check_signature(self, fn: ast.FunctionDef, *, inlined: bool) -> None:
        """Refuse what ``fn`` cannot compile; an inlined function may take ``*args``, keyword-only
        arguments and ``**kwargs`` (bound while compiling, :meth:`_bind`), a compiled method's
        arguments are the program's inputs and must be plain."""
        self._prescan(fn)
        a = fn.args
        if not inlined and (a.vararg or a.kwarg):
            raise self.error(fn, "unsupported construct '*args/**kwargs' in the signature of a compiled method",
                             "list the arguments by name (a function it calls may take *args and **kwargs)")
        if not inlined and (a.kwonlyargs or a.posonlyargs):
            raise self.error(fn, "unsupported construct 'keyword-only or positional-only arguments' in the "
                             "signature of a compiled method", "use plain positional arguments")
        if fn.decorator_list and not all(self._allowed_decorator(d) for d in fn.decorator_list):
            raise self.error(fn, "unsupported decorator", "only @tracer.export and friends are understood")

    @staticmethod
    def _allowed_decorator(d: ast.expr) -> bool:
        name = d.attr if isinstance(d, ast.Attribute) else getattr(d, "id", "")
        return name in ("export", "unused", "ignore", "staticmethod")

    def _static_annotation(self, node: ast.expr) -> Any:
        try:
            value = self.expr(node)
        except ScriptError:
            return ast.unparse(node)
        return value

    def _body(self, fn: ast.FunctionDef) -> Any:
        body = list(fn.body)
        if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
            body = body[1:]  # docstring
        if contains(body, (ast.Return,), into_loops=True) and self._returns_in_loop(body):
            node = self._find(body, ast.Return)
            raise self.error(node, "unsupported construct 'return inside a loop'",
                             "assign the result to a variable, break, and return after the loop")
        body.append(ast.Return(value=None, lineno=fn.end_lineno or fn.lineno, col_offset=0))
        if not lifting_copies(body) and not mutates(body):
            return self.block(lift_returns(body))[1]
        # one exit: a flag and a result instead of copies of the rest of the function (and the
        # arrays it changed, at the end, in one place)
        env = self.frame.env
        env[RETURNED] = False
        raised = self.block(lower_returns(body))[1] is RAISED
        result = env.pop(RESULT, RAISED)
        env.pop(RETURNED, None)
        return RAISED if raised else result

    def _returns_in_loop(self, stmts: list[ast.stmt]) -> bool:
        for s in stmts:
            if isinstance(s, (ast.For, ast.While)) and contains(s.body, (ast.Return,), into_loops=True):
                return True
            if isinstance(s, ast.If) and (self._returns_in_loop(s.body) or self._returns_in_loop(s.orelse)):
                return True
        return False

    @staticmethod
    def _find(stmts: list[ast.stmt], kind: type) -> ast.AST | None:
        for s in stmts:
            for n in ast.walk(s):
                if isinstance(n, kind):
                    return n
        return None
