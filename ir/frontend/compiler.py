"""Compile the Python-syntax subset (an ``ast`` tree) into a graph.

The compiler evaluates what it can while compiling: literals, sizes of known dimensions, module
constants, ``None`` checks and the branches they select, loops over module lists.  Everything
that depends on array values becomes IR, control flow included (``if`` and ``loop`` nodes with
blocks).  It knows only registered ops, a few pure builtins, and the names it is handed: every
other name, attribute and call goes to a :class:`Resolver` (``tracer.script`` resolves the user's
Python objects; the archive loader resolves only the program's own state), and anything neither
knows is a :class:`~ir.errors.ScriptError` that names the construct, the file and line, and the fix.
"""

from __future__ import annotations

import ast
import builtins
import math
import operator
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..builder import Builder, Value
from ..errors import ScriptError
from ..graph import Graph, ValueRef
from ..node import LITERAL_TYPES, Node, Slice, SourceLoc, Use
from ..ops import OpDef, get_op, normalize_call, op_for_method, op_for_numpy
from ..types import AnyType, ScalarType, TensorType, TupleType, Type, join, type_of
from .budget import Budget
from .budget import bounded_static as _bounded_static
from .budget import widen as _widen
from .numpy_table import NOT_ADMITTED, checked_dtype, numpy_attribute
from .transforms import (
    BREAK,
    CONTINUE,
    RESULT,
    RETURNED,
    contains,
    lift_returns,
    lifting_copies,
    lower_jumps,
    lower_returns,
)

__all__ = ["Compiler", "Resolver", "Source", "OPS", "annotation_type"]


class Resolver(Protocol):
    """What the compiler asks about names it does not know itself."""

    def lookup(self, name: str) -> Any:
        """The object a free name refers to; ``KeyError`` if none."""

    def attribute(self, compiler: Compiler, obj: Any, name: str, node: ast.AST) -> Any:
        """``obj.name`` for an object the compiler does not know, or ``NotImplemented``."""

    def call(self, compiler: Compiler, callee: Any, args: list, kwargs: dict, node: ast.AST) -> Any:
        """Compile a call to ``callee``, or return ``NotImplemented``."""


class _OpsNamespace:
    """``ops.<name>`` in program text: every registered op by name."""

    def __repr__(self) -> str:
        return "ops"


OPS = _OpsNamespace()


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


class _Shape:
    """``x.shape`` before it is used: indexing reads one size, anything else reads them all."""

    def __init__(self, compiler: Compiler, value: Value, rank: int, node: ast.AST) -> None:
        self.compiler, self.value, self.rank, self.node = compiler, value, rank, node

    def dims(self, indices: Any = None) -> tuple:
        if self.rank is None:
            if isinstance(indices, int) and indices >= 0:  # x.shape[i] needs no rank
                return (self.compiler.emit(get_op("dim"), (self.value, indices), {}, self.node),)
            raise self.compiler.error(self.node, "x.shape of an array whose rank is unknown",
                                      "pass example_inputs to tracer.script, or read sizes with x.shape[i]")
        picked = range(self.rank) if indices is None else range(self.rank)[indices]
        if isinstance(picked, int):
            picked = [picked]
        return tuple(self.compiler.emit(get_op("dim"), (self.value, i), {}, self.node) for i in picked)


class _Method:
    """``value.name`` for a method of an array, before it is called."""

    def __init__(self, value: Value, name: str) -> None:
        self.value = value
        self.name = name


_BIN_OPS: dict[type, str] = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv", ast.FloorDiv: "floordiv",
    ast.Mod: "mod", ast.Pow: "pow", ast.MatMult: "matmul", ast.BitAnd: "and_", ast.BitOr: "or_",
    ast.BitXor: "xor",
}
_CMP_OPS: dict[type, str] = {
    ast.Eq: "eq", ast.NotEq: "ne", ast.Lt: "lt", ast.LtE: "le", ast.Gt: "gt", ast.GtE: "ge",
}
_STATIC_BIN = {"add": operator.add, "sub": operator.sub, "mul": operator.mul, "truediv": operator.truediv,
               "floordiv": operator.floordiv, "mod": operator.mod, "pow": operator.pow, "and_": operator.and_,
               "or_": operator.or_, "xor": operator.xor, "matmul": operator.matmul}
_STATIC_CMP = {"eq": operator.eq, "ne": operator.ne, "lt": operator.lt, "le": operator.le, "gt": operator.gt,
               "ge": operator.ge}
_UNARY_OPS: dict[type, str] = {ast.USub: "neg", ast.UAdd: "pos", ast.Invert: "invert", ast.Not: "not_"}
_STATIC_NUMBERS = (bool, int, float, np.bool_, np.integer, np.floating)
_MAX_STATIC_INT = 2**63

#: Statements and expressions that are never supported, with what to write instead.
_UNSUPPORTED: dict[type, tuple[str, str]] = {
    ast.Lambda: ("lambda", "define a method or a function with def and call it"),
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
    ast.Raise: ("raise", "validate inputs before calling the model"),
    ast.Assert: ("assert on array values", "validate inputs before calling the model"),
    ast.Yield: ("yield (generator)", "return a tuple of results"),
    ast.YieldFrom: ("yield from (generator)", "return a tuple of results"),
    ast.Await: ("await", "models are synchronous"),
    ast.GeneratorExp: ("generator expression", "write a for loop over range(...)"),
    ast.ListComp: ("list comprehension", "write a for loop, or np.stack the results"),
    ast.SetComp: ("set comprehension", "use arrays"),
    ast.DictComp: ("dict comprehension", "use tuples"),
    ast.Dict: ("dict", "use a tuple"),
    ast.Set: ("set", "use a tuple"),
    ast.Starred: ("*args", "pass the arguments one by one"),
    ast.NamedExpr: ("walrus operator :=", "assign on a separate line"),
    ast.JoinedStr: ("f-string", "strings are not values in programs"),
    ast.AsyncFor: ("async for", "models are synchronous"),
    ast.Match: ("match", "use if/elif/else"),
}

_MATH_CONSTANTS = frozenset({"pi", "e", "tau", "inf", "nan"})
_SAFE_BUILTINS = {"range", "len", "int", "float", "bool", "abs", "min", "max", "isinstance", "tuple",
                  "enumerate", "zip", "reversed", "list", "print", "slice"}


def _is_literal(v: Any) -> bool:
    if isinstance(v, tuple):
        return all(_is_literal(x) for x in v)
    return isinstance(v, LITERAL_TYPES) and not isinstance(v, (np.generic,))


def annotation_type(ann: Any) -> Type | None:
    """The IR type an argument annotation stands for (``None``: not a supported annotation)."""
    import typing

    if ann is None or ann is np.ndarray:
        return TensorType(None, None)
    if ann is int:
        return ScalarType("int")
    if ann is float:
        return ScalarType("float")
    if ann is bool:
        return ScalarType("bool")
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is tuple and args and Ellipsis not in args:
        elems = [annotation_type(a) for a in args]
        return None if any(e is None for e in elems) else TupleType(tuple(elems))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and type(None) in args:
        return AnyType()  # Optional[...]: may be None
    return None


class Compiler:
    """Compiles functions into one program; see the module docstring.

    The public entry points are :meth:`compile_method` (a whole method into a new graph) and
    :meth:`inline` (a function body into the graph being built, for calls).
    """

    MAX_DEPTH = 64
    #: ``if`` and loop bodies inside each other; the printed program indents each once, and Python
    #: reads at most 100 levels of indentation back.  Each early return that may fall through puts
    #: the rest of the function one level deeper (``lower_returns``).
    MAX_BLOCK_DEPTH = 90

    def __init__(self, budget: Budget | None = None) -> None:
        self.budget = budget if budget is not None else Budget()
        self.builder: Builder | None = None
        self.frames: list[_Frame] = []
        self._params: dict[tuple[int, str], Value] = {}
        self._tensor_names: set[str] = set()
        self._block_depth = 0

    # -- diagnostics ------------------------------------------------------------------------------
    @property
    def frame(self) -> _Frame:
        return self.frames[-1]

    def loc(self, node: ast.AST | None) -> SourceLoc | None:
        if node is None or not hasattr(node, "lineno") or not self.frames:
            return None
        return SourceLoc(self.frame.source.file, node.lineno + self.frame.source.line_offset)

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
            self._check_signature(fn)
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
                                         "use np.ndarray, int, float, bool, tuple[...], list[np.ndarray] "
                                         "or Optional[...]")
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
            if has_self:
                frame.env[all_params[0]] = source.self_obj
            result = self._body(fn)
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
        self._check_signature(fn)
        params = [a.arg for a in fn.args.args]
        if source.self_obj is not None:
            params = params[1:]
        env: dict[str, Any] = {}
        ast_defaults = dict(zip([a.arg for a in fn.args.args][::-1], fn.args.defaults[::-1]))
        if len(args) > len(params):
            raise self.error(node, f"{source.qualname}() takes {len(params)} arguments but {len(args)} were given")
        for pname, value in zip(params, args):
            env[pname] = value
        for key, value in kwargs.items():
            if key not in params or key in env:
                raise self.error(node, f"{source.qualname}() got an unexpected or repeated argument {key!r}")
            env[key] = value
        missing = [p for p in params if p not in env]
        for pname in missing:
            if defaults is not None and pname in defaults:
                env[pname] = defaults[pname]
            elif pname not in ast_defaults:
                raise self.error(node, f"{source.qualname}() is missing argument {pname!r}")
        if source.self_obj is not None:
            env[fn.args.args[0].arg] = source.self_obj
        self.frames.append(_Frame(source, env))
        try:
            for pname in missing:
                if pname not in env:
                    env[pname] = self.expr(ast_defaults[pname])
            return self._body(fn)
        finally:
            self.frames.pop()

    def _prescan(self, fn: ast.FunctionDef) -> None:
        """Refuse the first unsupported construct in ``fn`` before compiling anything."""
        for stmt in fn.body:
            for node in ast.walk(stmt):
                if isinstance(node, ast.keyword) and node.arg is None:
                    raise self.error(node, "unsupported construct '**kwargs'", "pass the arguments by name")
                if type(node) in _UNSUPPORTED and not isinstance(node, ast.Assert):
                    raise self.unsupported(node)

    def _check_signature(self, fn: ast.FunctionDef) -> None:
        self._prescan(fn)
        a = fn.args
        if a.vararg or a.kwarg:
            raise self.error(fn, "unsupported construct '*args/**kwargs' in a signature", "list the arguments by name")
        if a.kwonlyargs or a.posonlyargs:
            raise self.error(fn, "unsupported construct 'keyword-only or positional-only arguments'",
                             "use plain positional arguments")
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
        if not lifting_copies(body):
            return self.block(lift_returns(body))[1]
        # one exit: a flag and a result instead of copies of the rest of the function
        env = self.frame.env
        env[RETURNED] = False
        self.block(lower_returns(body))
        result = env.pop(RESULT)
        env.pop(RETURNED, None)
        return result

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

    # -- values -----------------------------------------------------------------------------------
    def constant(self, value: Any, node: ast.AST | None = None) -> Value:
        """A constant node for a static value (a literal, a NumPy scalar or array)."""
        b = self.builder
        assert b is not None
        if isinstance(value, (np.ndarray, np.generic)):
            name = f"c{len(self._tensor_names)}"
            while name in self._tensor_names or name in b.graph.tensors:
                name += "_"
            self._tensor_names.add(name)
            b.graph.tensors[name] = value
            kwargs: tuple = (("name", name),)
        elif _is_literal(value) and not isinstance(value, tuple):
            kwargs = (("value", value),)
        else:
            raise self.error(node, f"a {type(value).__name__} cannot be a value in a program")
        nid = b.graph.add(Node("constant", kwargs=kwargs, types=(type_of(value),), loc=self.loc(node)))
        return Value(b, (nid, 0), type_of(value))

    def named_constant(self, name: str, array: np.ndarray) -> Value:
        """A constant node for the program's constant table entry ``name`` (archive text)."""
        b = self.builder
        assert b is not None
        b.graph.tensors[name] = array
        self._tensor_names.add(name)
        nid = b.graph.add(Node("constant", kwargs=(("name", name),), types=(type_of(array),)))
        return Value(b, (nid, 0), type_of(array))

    def param(self, qualified: str, type_: Type, scope: str = "") -> Value:
        """The value of parameter/buffer ``qualified`` (one ``param`` node per graph)."""
        b = self.builder
        assert b is not None
        key = (id(b), qualified)
        hit = self._params.get(key)
        if hit is None:
            nid = b.graph.add(Node("param", kwargs=(("name", qualified),), types=(type_,), scope=scope))
            hit = self._params[key] = Value(b, (nid, 0), type_)
        return hit

    def materialize(self, v: Any, node: ast.AST | None = None) -> Value:
        return v if isinstance(v, Value) else self.constant(v, node)

    def _template(self, v: Any, refs: list[Value], node: ast.AST | None, materialize: bool = False) -> Any:
        """``v`` as an argument template; values become ``Use`` of ``refs`` (deduplicated)."""
        if isinstance(v, Value):
            for i, r in enumerate(refs):
                if r is v or (r.builder is v.builder and r.ref == v.ref):
                    return Use(i)
            refs.append(v)
            return Use(len(refs) - 1)
        if isinstance(v, (tuple, list)):
            return tuple(self._template(x, refs, node, materialize) for x in v)
        if isinstance(v, slice):
            return Slice(*(self._template(x, refs, node, materialize) for x in (v.start, v.stop, v.step)))
        if isinstance(v, (np.ndarray, np.generic)):
            return self._template(self.constant(v, node), refs, node)
        if isinstance(v, type) and issubclass(v, (np.generic, bool, int, float)):
            return np.dtype(v)
        if isinstance(v, LITERAL_TYPES):
            return v
        raise self.error(node, f"a {type(v).__name__} ({v!r}) cannot be passed to an operation")

    def emit(self, op: OpDef, args: tuple, kwargs: dict, node: ast.AST | None, hints: tuple = ()) -> Any:
        """Record ``op(*args, **kwargs)``; values may be static or IR values."""
        self.budget.spend_nodes(1, node)
        if op.multi_output:
            self.budget.check_outputs(args, node)
        refs: list[Value] = []
        targs = tuple(self._template(a, refs, node) for a in args)
        tkwargs = {k: self._template(v, refs, node) for k, v in kwargs.items()}
        try:
            pos, kws = normalize_call(op, targs, tkwargs)
        except TypeError as exc:
            raise self.error(node, f"bad call of {op.spelling}(): {exc}") from None
        try:
            outs = self.builder.emit(op, pos, kws, refs, scope=self.frame.source.scope, loc=self.loc(node),
                                     hints=hints)
        except (TypeError, ValueError, IndexError) as exc:
            raise self.error(node, f"{op.name}: {exc}") from None
        return tuple(outs) if op.multi_output else outs[0]

    # -- statements -------------------------------------------------------------------------------
    def block(self, stmts: list[ast.stmt]) -> tuple[bool, Any]:
        """Compile statements; returns ``(returned, value)``."""
        for s in stmts:
            if isinstance(s, ast.Return):
                return True, (None if s.value is None else self.expr(s.value))
            if isinstance(s, ast.If):
                done, value = self.if_stmt(s)
                if done:
                    return True, value
                continue
            self.stmt(s)
        return False, None

    def stmt(self, s: ast.stmt) -> None:
        if isinstance(s, ast.Assign):
            value = self.expr(s.value)
            for target in s.targets:
                self.assign(target, value, s)
        elif isinstance(s, ast.AnnAssign):
            if s.value is None:
                return
            self.assign(s.target, self.expr(s.value), s)
        elif isinstance(s, ast.AugAssign):
            if not isinstance(s.target, ast.Name):
                raise self.error(s, "augmented assignment to an attribute or item",
                                 "arrays in programs are never modified; assign a new variable")
            current = self.name(s.target)
            self.assign(s.target, self.binop(type(s.op), current, self.expr(s.value), s), s)
        elif isinstance(s, ast.Expr):
            if isinstance(s.value, ast.Constant):
                return  # a docstring or a bare literal
            self.expr(s.value)
        elif isinstance(s, ast.Pass):
            return
        elif isinstance(s, ast.While):
            self.while_stmt(s)
        elif isinstance(s, ast.For):
            self.for_stmt(s)
        elif isinstance(s, (ast.Break, ast.Continue)):
            raise self.error(s, f"'{type(s).__name__.lower()}' outside a loop")
        elif isinstance(s, ast.Assert):
            test = self.expr(s.test)
            if isinstance(test, Value):
                raise self.unsupported(s)
            if not test:
                raise self.error(s, "assertion failed while compiling")
        else:
            raise self.unsupported(s)

    def assign(self, target: ast.expr, value: Any, node: ast.AST) -> None:
        if isinstance(target, ast.Name):
            self._check_name(target.id, target)
            self.frame.env[target.id] = value
            self.frame.dropped.pop(target.id, None)
        elif isinstance(target, (ast.Tuple, ast.List)):
            items = self.unpack(value, len(target.elts), node)
            for t, v in zip(target.elts, items):
                self.assign(t, v, node)
        elif isinstance(target, ast.Subscript):
            raise self.error(node, "assignment into an array (x[...] = v)",
                             "arrays in programs are never modified; build the result with np.where or np.concatenate")
        elif isinstance(target, ast.Attribute):
            raise self.error(node, "assignment to an attribute", "modules cannot be changed while running; "
                             "use a local variable")
        else:
            raise self.unsupported(target)

    def unpack(self, value: Any, n: int, node: ast.AST) -> list[Any]:
        if isinstance(value, (tuple, list)):
            if len(value) != n:
                raise self.error(node, f"cannot unpack {len(value)} values into {n} names")
            return list(value)
        if isinstance(value, Value) and isinstance(value.type, TupleType):
            if len(value.type.elements) != n:
                raise self.error(node, f"cannot unpack {len(value.type.elements)} values into {n} names")
            return [self.emit(get_op("getitem"), (value, i), {}, node) for i in range(n)]
        if isinstance(value, Value) and isinstance(value.type, TensorType) and value.type.shape:
            size = value.type.shape[0]
            if size == n:
                return [self.emit(get_op("getitem"), (value, i), {}, node) for i in range(n)]
        raise self.error(node, f"cannot unpack this value into {n} names", "unpack tuples or x.shape")

    def _check_name(self, name: str, node: ast.AST) -> None:
        if name.startswith("__") or name in ("self",):
            raise self.error(node, f"assignment to reserved name {name!r}")

    # -- if / while / for -------------------------------------------------------------------------
    def condition(self, test: ast.expr) -> Any:
        cond = self.expr(test)
        if isinstance(cond, Value):
            t = cond.type
            if isinstance(t, TensorType) and t.shape and all(isinstance(d, int) for d in t.shape) \
                    and math.prod(t.shape) != 1:  # type: ignore[arg-type]
                raise self.error(test, f"the condition is an array of type {t}",
                                 "reduce it first: (...).any(), (...).all() or x.sum() > 0")
        return cond

    def if_stmt(self, s: ast.If) -> tuple[bool, Any]:
        cond = self.condition(s.test)
        if not isinstance(cond, Value):
            return self.block(s.body if cond else s.orelse)
        returns = contains(s.body, (ast.Return,)) or contains(s.orelse, (ast.Return,))
        branches = []
        for stmts in (s.body, s.orelse):
            branches.append(self._in_block(lambda stmts=stmts: self.block(stmts), node=s))
        (b_then, env_then, (ret_then, val_then)), (b_else, env_else, (ret_else, val_else)) = branches
        if returns:
            if not (ret_then and ret_else):  # lift_returns guarantees this
                raise self.error(s, "internal error: a branch of a returning if falls through")
            leaves_then, shape = _flatten(val_then)
            leaves_else, shape_else = _flatten(val_else)
            if shape != shape_else:
                raise self.error(s, "the branches return different structures",
                                 "return the same number of values from every branch")
            outs = self._region_if(s, cond, b_then, b_else, leaves_then, leaves_else, [])
            return True, _unflatten(shape, outs)
        env = self.frame.env
        names: list[str] = []
        result = self._join_result(s, env, (b_then, env_then), (b_else, env_else))
        for name in [*env_then, *env_else]:
            if name in names or name == RESULT:
                continue
            in_then, in_else = name in env_then, name in env_else
            if in_then and in_else:
                a, b = env_then[name], env_else[name]
                if name in env and a is env[name] and b is env[name]:
                    continue
                if not isinstance(a, Value) and not isinstance(b, Value) and _same_static(a, b):
                    env[name] = a
                    continue
                names.append(name)
            else:
                env.pop(name, None)
                self.frame.dropped[name] = "it is assigned in only one branch of the if"
        then_vals, else_vals = [env_then[n] for n in names], [env_else[n] for n in names]
        hints = list(names)
        if result is not None:
            shape, leaves_then, leaves_else = result
            then_vals += leaves_then
            else_vals += leaves_else
            hints += [RESULT] * len(leaves_then)
        outs = self._region_if(s, cond, b_then, b_else, then_vals, else_vals, hints)
        for name, value in zip(names, outs):
            env[name] = value
        if result is not None:
            env[RESULT] = _unflatten(result[0], outs[len(names):])
        return False, None

    def _join_result(self, s: ast.If, env: dict, then: tuple[Builder, dict], other: tuple[Builder, dict]) -> Any:
        """The function's result after an ``if`` under :func:`lower_returns`: ``(structure, then
        leaves, else leaves)``, or None when neither branch changed it.  A branch that has not
        returned passes ``ops.undefined()`` in the place of each value the other one returned (the
        ``returned$`` flag guards every read)."""
        sides = [env_.get(RESULT, _UNDEFINED) for _, env_ in (then, other)]
        if all(v is env.get(RESULT, _UNDEFINED) for v in sides):
            return None
        if _UNDEFINED in sides:
            known = sides[1] if sides[0] is _UNDEFINED else sides[0]
            missing = sides.index(_UNDEFINED)
            builder = (then, other)[missing][0]
            leaves, shape = _flatten(known)
            saved = self.builder
            self.builder = builder
            try:
                sides[missing] = _unflatten(shape, [self.emit(get_op("undefined"), (), {}, s) if isinstance(v, Value)
                                                    else v for v in leaves])
            finally:
                self.builder = saved
        (leaves_then, shape), (leaves_else, shape_else) = _flatten(sides[0]), _flatten(sides[1])
        if shape != shape_else:
            raise self.error(s, "the branches return different structures",
                             "return the same number of values from every branch")
        return shape, leaves_then, leaves_else

    def _in_block(self, compile_body: Any, own_inputs: Sequence[tuple[str, Type]] = (),
                  node: ast.AST | None = None) -> tuple[Builder, dict, Any]:
        """Compile ``compile_body()`` into a new block; returns (builder, env after, result)."""
        parent = self.builder
        assert parent is not None
        if self._block_depth >= self.MAX_BLOCK_DEPTH:
            raise self.error(node, f"if and loop bodies nest more than {self.MAX_BLOCK_DEPTH} deep "
                             "(each if that may return early holds the rest of the function)",
                             "return once, at the end, or split the function")
        graph = Graph("block")
        b = Builder(graph, parent)
        saved_env = self.frame.env
        saved_dropped = dict(self.frame.dropped)
        self.frame.env = dict(saved_env)
        self.builder = b
        self._block_depth += 1
        try:
            for name, t in own_inputs:
                self.frame.env[name] = b.add_input(name, t)
            result = compile_body()
            env = self.frame.env
        finally:
            self._block_depth -= 1
            self.builder = parent
            self.frame.env = saved_env
            self.frame.dropped = saved_dropped
        return b, env, result

    def _block_output(self, b: Builder, values: Sequence[Any], node: ast.AST) -> None:
        saved = self.builder
        self.builder = b
        try:
            refs: list[Value] = []
            template = tuple(self._template(self.materialize(v, node), refs, node) for v in values)
            b.graph.add(Node("output", (template,)), [b.local(v) for v in refs])
        finally:
            self.builder = saved

    def _captures(self, blocks: Sequence[Builder]) -> list[ValueRef]:
        parent = self.builder
        refs = {outer for b in blocks for outer, _ in b.captured}
        order = {nid: i for i, nid in enumerate(parent.graph.order())}
        ordered = sorted(refs, key=lambda r: (order[r[0]], r[1]))
        for b in blocks:
            b.finish_inputs(ordered)
        return ordered

    def _region_if(self, s: ast.AST, cond: Value, b_then: Builder, b_else: Builder, then_vals: list, else_vals: list,
                   names: list[str]) -> list[Any]:
        static = [not isinstance(a, Value) and not isinstance(b, Value) and _same_static(a, b)
                  for a, b in zip(then_vals, else_vals)]
        keep = [i for i, st in enumerate(static) if not st]
        self._block_output(b_then, [then_vals[i] for i in keep], s)
        self._block_output(b_else, [else_vals[i] for i in keep], s)
        captured = self._captures([b_then, b_else])
        parent = self.builder
        inputs = [cond] + [Value(parent, r, parent.graph.value_type(r)) for r in captured]
        types = [join(_type(then_vals[i]), _type(else_vals[i])) for i in keep]
        hints = tuple(names[i] for i in keep) if names else ()
        self.budget.spend_nodes(1 + len(inputs), s)
        outs = parent.emit(get_op("if"), tuple(Use(i) for i in range(len(inputs))), (), inputs, types=types,
                           scope=self.frame.source.scope, loc=self.loc(s),
                           blocks=(b_then.graph, b_else.graph), hints=hints)
        result: list[Any] = []
        it = iter(outs)
        for i, st in enumerate(static):
            result.append(then_vals[i] if st else next(it))
        return result

    def while_stmt(self, s: ast.While) -> None:
        if s.orelse:
            raise self.error(s, "unsupported construct 'while ... else'", "use a flag variable")
        body = list(s.body)
        cond_var = s.test.id if isinstance(s.test, ast.Name) and s.test.id in _assigned(body) else None
        has_jumps = contains(body, (ast.Break, ast.Continue))
        if has_jumps:
            body = self._with_jump_flags(body)
            self.frame.env[BREAK] = False
        def test() -> Any:
            if cond_var is not None:
                value = self.frame.env.get(cond_var)
                if value is None:
                    raise self.error(s, f"the loop condition {cond_var!r} is not defined")
            else:
                value = self.condition(s.test)
            if has_jumps:
                value = self.logical_and(self.unary(ast.Not, self.frame.env[BREAK], s), value, s)
            return value
        self._loop(s, body, test, exclude={cond_var} if cond_var else set())

    def _with_jump_flags(self, body: list[ast.stmt]) -> list[ast.stmt]:
        flags = [BREAK]
        if contains(body, (ast.Continue,)):
            flags.append(CONTINUE)
        lowered = lower_jumps(body, flags)
        if CONTINUE in flags:
            lowered.insert(0, ast.copy_location(ast.Assign(targets=[ast.Name(CONTINUE, ast.Store())],
                                                           value=ast.Constant(False)), body[0]))
        return lowered

    def _loop(self, s: ast.AST, body: list[ast.stmt], test: Any, exclude: set[str], prologue: Any = None) -> None:
        env = self.frame.env
        cond0 = test()
        if not isinstance(cond0, Value) and not cond0:
            return  # statically never runs
        assigned = [n for n in _assigned(body) if n in env and n not in exclude]
        if prologue is not None:
            assigned = [n for n in prologue[0] if n in env and n not in exclude] + \
                [n for n in assigned if n not in prologue[0]]
        carried = assigned
        init = [self.materialize(env[n], s) for n in carried]
        types = [_widen(v.type) for v in init]
        for _ in range(4):
            def run_body() -> tuple[Any, list[Any]]:
                if prologue is not None:
                    prologue[1]()
                done, _ = self.block(body)
                return test(), [self.frame.env.get(n, _UNDEFINED) for n in carried]
            b, env_after, (cond_new, new_vals) = self._in_block(run_body, list(zip(carried, types)), s)
            for n, v in zip(carried, new_vals):
                if v is _UNDEFINED:
                    raise self.error(s, f"{n!r} is not defined at the end of the loop body")
            new_types = [join(t, _type(v)) for t, v in zip(types, new_vals)]
            if new_types == types:
                break
            types = new_types
        else:
            types = [AnyType() for _ in types]
        self._block_output(b, [cond_new, *new_vals], s)
        captured = self._captures([b])
        parent = self.builder
        inputs = [self.materialize(cond0, s), *init] + [Value(parent, r, parent.graph.value_type(r)) for r in captured]
        self.budget.spend_nodes(1 + len(inputs), s)
        outs = parent.emit(get_op("loop"), tuple(Use(i) for i in range(len(inputs))), (("n_carried", len(carried)),),
                           inputs, types=types, scope=self.frame.source.scope, loc=self.loc(s),
                           blocks=(b.graph,), hints=tuple(carried))
        for name, value in zip(carried, outs):
            env[name] = value
        for name in env_after:
            if name not in env and not name.endswith("$"):
                self.frame.dropped[name] = "it is first assigned inside a loop; assign it before the loop"
        env.pop(BREAK, None)
        env.pop(CONTINUE, None)

    def for_stmt(self, s: ast.For) -> None:
        if s.orelse:
            raise self.error(s, "unsupported construct 'for ... else'", "use a flag variable")
        it = s.iter
        if isinstance(it, ast.Call) and isinstance(it.func, ast.Name) and not it.keywords \
                and self.name(it.func) is range:
            return self._for_range(s, [self.expr(a) for a in it.args])
        seq = self.expr(it)
        if isinstance(seq, Value):
            raise self.error(s, "a for loop over an array", "loop over range(len(x)) or range(x.shape[0])")
        if isinstance(seq, (tuple, list, range)):
            self.budget.check_length(len(seq), s)
        try:
            items = list(seq) if isinstance(seq, (tuple, list, range, enumerate, zip, reversed)) else \
                self.frame.source.resolver.attribute(self, seq, "__iter_static__", s)
        except TypeError:
            items = NotImplemented
        if items is NotImplemented:
            raise self.error(s, f"a for loop over a {type(seq).__name__}",
                             "loop over range(...), a ModuleList/Sequential, or a tuple")
        if contains(s.body, (ast.Break, ast.Continue)):
            raise self.error(s, "break/continue in a loop over modules or a tuple", "use an if around the body")
        if len(items) > 10_000:
            raise self.error(s, f"a loop over {len(items)} static items", "loop over range(...) instead")
        for item in items:
            self.budget.spend_unrolled(1, s)
            self.assign(s.target, item, s)
            done, _ = self.block(s.body)

    def _for_range(self, s: ast.For, args: list[Any]) -> None:
        if not 1 <= len(args) <= 3:
            raise self.error(s, f"range() takes 1 to 3 arguments, got {len(args)}")
        start, stop, step = (0, args[0], 1) if len(args) == 1 else (args[0], args[1], args[2] if len(args) == 3 else 1)
        if isinstance(step, Value) or step == 0:
            raise self.error(s, "range() with a step that is not a non-zero constant", "use a while loop")
        if not isinstance(s.target, ast.Name):
            raise self.error(s, "a range loop must bind one name")
        counter = f"{s.target.id}$"  # the hidden counter (printed as the loop variable's name)
        env = self.frame.env
        env[counter] = start
        body = list(s.body)
        has_jumps = contains(body, (ast.Break, ast.Continue))
        if has_jumps:
            body = self._with_jump_flags(body)
            env[BREAK] = False
        cmp = "lt" if step > 0 else "gt"

        def test() -> Any:
            value = self.compare(cmp, env_now()[counter], stop, s)
            if has_jumps:
                value = self.logical_and(self.unary(ast.Not, env_now()[BREAK], s), value, s)
            return value

        def env_now() -> dict:
            return self.frame.env

        def prologue() -> None:
            self.frame.env[s.target.id] = self.frame.env[counter]
            self.frame.env[counter] = self.binop(ast.Add, self.frame.env[counter], step, s)

        self._loop(s, body, test, exclude=set(), prologue=([counter, s.target.id], prologue))
        env.pop(counter, None)

    # -- expressions ------------------------------------------------------------------------------
    def expr(self, e: ast.expr) -> Any:
        """Compile an expression; ``x.shape`` stays lazy only as the target of an index."""
        value = self.expr_lazy(e)
        return value.dims() if isinstance(value, _Shape) else value

    def expr_lazy(self, e: ast.expr) -> Any:
        self.budget.spend_work(1, e)
        method = getattr(self, f"_e_{type(e).__name__}", None)
        if method is None:
            raise self.unsupported(e)
        return method(e)

    def _e_Constant(self, e: ast.Constant) -> Any:
        if not _is_literal(e.value) and not isinstance(e.value, bytes):
            raise self.unsupported(e)
        if isinstance(e.value, bytes):
            raise self.error(e, "bytes literals are not values in programs")
        return e.value

    def _e_Name(self, e: ast.Name) -> Any:
        return self.name(e)

    def name(self, e: ast.Name) -> Any:
        n = e.id
        if n.startswith("__"):
            raise self.error(e, f"access to dunder name {n!r} is not allowed")
        env = self.frame.env
        if n in env:
            return env[n]
        if n in self.frame.dropped:
            raise self.error(e, f"{n!r} is not defined here: {self.frame.dropped[n]}")
        try:
            return self.frame.source.resolver.lookup(n)
        except KeyError:
            pass
        value = self._lookup_builtin(n)
        if value is not _MISSING:
            return value
        raise self.error(e, f"unknown name {n!r}", "only arguments, local variables, registered NumPy "
                         "functions, module attributes and supported builtins can be used")

    @staticmethod
    def _lookup_builtin(n: str) -> Any:
        if n in _SAFE_BUILTINS:
            return getattr(builtins, n)
        if n in ("True", "False", "None"):
            return {"True": True, "False": False, "None": None}[n]
        return _MISSING

    def _e_Tuple(self, e: ast.Tuple) -> Any:
        return tuple(self.expr(x) for x in e.elts)

    def _e_List(self, e: ast.List) -> Any:
        return tuple(self.expr(x) for x in e.elts)

    def _e_Attribute(self, e: ast.Attribute) -> Any:
        if e.attr.startswith("__"):
            raise self.error(e, f"access to dunder attribute {e.attr!r} is not allowed")
        obj = self.expr(e.value)
        return self.attribute(obj, e.attr, e)


    def attribute(self, obj: Any, name: str, e: ast.AST) -> Any:
        if isinstance(obj, Value):
            return self._value_attribute(obj, name, e)
        value = numpy_attribute(obj, name)
        if value is not NotImplemented:
            if value is NOT_ADMITTED:
                raise self.error(e, f"np.{name} is not available in programs",
                                 "use the NumPy functions that have registered ops (ir.ops.numpy_surface())")
            return value
        if obj is OPS:
            try:
                return get_op(name)
            except KeyError as exc:
                raise self.error(e, str(exc.args[0])) from None
        if obj is math and name in _MATH_CONSTANTS:
            return getattr(math, name)
        if isinstance(obj, np.dtype) and name in ("name", "itemsize", "kind"):
            return getattr(obj, name)
        if isinstance(obj, tuple) and name in ("count", "index"):
            return getattr(obj, name)
        result = self.frame.source.resolver.attribute(self, obj, name, e)
        if result is NotImplemented:
            raise self.error(e, f"attribute {name!r} of a {type(obj).__name__} is not available in programs")
        return result

    def _value_attribute(self, v: Value, name: str, e: ast.AST) -> Any:
        t = v.type
        if name == "shape":
            return _Shape(self, v, t.rank if isinstance(t, TensorType) else None, e)
        if name == "ndim":
            if not isinstance(t, TensorType) or t.rank is None:
                raise self.error(e, "x.ndim of an array whose rank is unknown", "pass example_inputs to tracer.script")
            return t.rank
        if name == "dtype":
            if not isinstance(t, TensorType) or t.dtype is None:
                raise self.error(e, "x.dtype of an array whose dtype is unknown",
                                 "pass example_inputs to tracer.script")
            return t.dtype
        if name == "size":
            return self.emit(get_op("size"), (v,), {}, e)
        if name == "T":
            return self.emit(get_op("transpose"), (v,), {}, e)
        if name in _VALUE_METHODS or op_for_method(name) is not None:
            return _Method(v, name)
        raise self.error(e, f"arrays have no attribute {name!r} in programs")

    def _e_Subscript(self, e: ast.Subscript) -> Any:
        obj = self.expr_lazy(e.value)
        index = self._index(e.slice)
        if isinstance(obj, _Shape) and isinstance(index, (int, slice)) and not _contains_value(index):
            try:
                picked = obj.dims(index)
            except (IndexError, TypeError) as exc:
                raise self.error(e, f"bad index into x.shape: {exc}") from None
            return picked if isinstance(index, slice) else picked[0]
        obj = _concrete(obj)
        if isinstance(obj, Value):
            if isinstance(index, list):
                index = tuple(index)
            return self.emit(get_op("getitem"), (obj, _index_arg(index)), {}, e)
        if isinstance(obj, (tuple, list)) and not isinstance(index, Value) and not _contains_value(index):
            try:
                return obj[index]
            except (IndexError, TypeError) as exc:
                raise self.error(e, f"bad index: {exc}") from None
        if isinstance(obj, (tuple, list)):
            raise self.error(e, "indexing a tuple with a value computed at run time", "use a constant index")
        result = self.frame.source.resolver.attribute(self, obj, "__getitem_static__", e)
        if result is NotImplemented:
            raise self.error(e, f"indexing a {type(obj).__name__}")
        return result(index)

    def _index(self, s: ast.expr) -> Any:
        if isinstance(s, ast.Slice):
            parts = [None if p is None else self.expr(p) for p in (s.lower, s.upper, s.step)]
            return slice(*parts)
        if isinstance(s, ast.Tuple):
            return tuple(self._index(x) for x in s.elts)
        return self.expr(s)

    def _e_BinOp(self, e: ast.BinOp) -> Any:
        return self.binop(type(e.op), self.expr(e.left), self.expr(e.right), e)

    def binop(self, kind: type, a: Any, b: Any, e: ast.AST) -> Any:
        name = _BIN_OPS.get(kind)
        if name is None:
            raise self.error(e, f"operator {kind.__name__}")
        if not isinstance(a, Value) and not isinstance(b, Value):
            return self._static(_STATIC_BIN[name], (a, b), e)
        return self.emit(get_op(name), (a, b), {}, e)

    def _static(self, fn: Any, args: tuple, e: ast.AST) -> Any:
        """Evaluate an operator on static numbers, refusing what could blow up (huge ints)."""
        if not all(isinstance(a, _STATIC_NUMBERS) or a is None for a in args):
            if fn in (operator.add,) and all(isinstance(a, tuple) for a in args):
                self.budget.check_length(sum(len(a) for a in args), e)
                return fn(*args)  # tuple concatenation (its length is budgeted)
            if fn in (operator.eq, operator.ne):
                return fn(*args)
            raise self.error(e, f"operator on {', '.join(type(a).__name__ for a in args)} values")
        if not _bounded_static(fn, args, self.budget.limits.int_bits):
            raise self.error(e, "a constant expression that is too large")
        if fn is operator.mul and any(isinstance(a, (str, tuple)) for a in args):
            raise self.error(e, "repeating a sequence in a constant expression")
        try:
            out = fn(*args)
        except (ArithmeticError, ValueError, TypeError, RuntimeWarning) as exc:
            raise self.error(e, f"constant expression fails: {exc}") from None
        if isinstance(out, (int, np.integer)) and abs(int(out)) >= _MAX_STATIC_INT:
            raise self.error(e, "a constant expression that is too large")
        return out

    def _e_UnaryOp(self, e: ast.UnaryOp) -> Any:
        return self.unary(type(e.op), self.expr(e.operand), e)

    def unary(self, kind: type, v: Any, e: ast.AST) -> Any:
        if not isinstance(v, Value):
            if kind is ast.Not:
                return not v
            return self._static({ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}[kind],
                                (v,), e)
        return self.emit(get_op(_UNARY_OPS[kind]), (v,), {}, e)

    def _e_Compare(self, e: ast.Compare) -> Any:
        left = self.expr(e.left)
        result: Any = True
        for op_node, right_node in zip(e.ops, e.comparators):
            right = self.expr(right_node)
            if isinstance(op_node, (ast.Is, ast.IsNot)):
                value = self._identity(left, right, e)
                if isinstance(op_node, ast.IsNot):
                    value = self.unary(ast.Not, value, e)
            elif isinstance(op_node, (ast.In, ast.NotIn)):
                if isinstance(left, Value) or isinstance(right, Value) or _contains_value(right):
                    raise self.error(e, "'in' on values computed at run time", "compare explicitly")
                value = left in right if isinstance(op_node, ast.In) else left not in right
            else:
                value = self.compare(_CMP_OPS[type(op_node)], left, right, e)
            result = value if result is True else self.logical_and(result, value, e)
            left = right
        return result

    def compare(self, name: str, a: Any, b: Any, e: ast.AST) -> Any:
        """``a <op> b`` for the comparison op ``name`` (``"lt"``, ...)."""
        if not isinstance(a, Value) and not isinstance(b, Value):
            return self._static(_STATIC_CMP[name], (a, b), e)
        return self.emit(get_op(name), (a, b), {}, e)

    def _identity(self, a: Any, b: Any, e: ast.AST) -> Any:
        if b is not None and a is not None:
            if isinstance(a, Value) or isinstance(b, Value):
                raise self.error(e, "'is' between values", "use == to compare values, 'is' only with None")
            return a is b
        other = a if b is None else b
        if not isinstance(other, Value):
            return other is None
        if isinstance(other.type, AnyType) or (isinstance(other.type, ScalarType) and other.type.kind == "none"):
            return self.emit(get_op("is_none"), (other,), {}, e)
        return False  # an array or a number is never None

    def _e_BoolOp(self, e: ast.BoolOp) -> Any:
        values = [self.expr(v) for v in e.values]
        result = values[0]
        for v in values[1:]:
            result = self.logical_and(result, v, e) if isinstance(e.op, ast.And) else self.logical_or(result, v, e)
        return result

    def logical_and(self, a: Any, b: Any, e: ast.AST) -> Any:
        if not isinstance(a, Value):
            return b if a else a
        if not isinstance(b, Value):
            return a if b else False
        return self.emit(get_op("and_"), (self._as_bool(a, e), self._as_bool(b, e)), {}, e)

    def logical_or(self, a: Any, b: Any, e: ast.AST) -> Any:
        if not isinstance(a, Value):
            return a if a else b
        if not isinstance(b, Value):
            return True if b else a
        return self.emit(get_op("or_"), (self._as_bool(a, e), self._as_bool(b, e)), {}, e)

    def _as_bool(self, v: Value, e: ast.AST) -> Value:
        if isinstance(v.type, ScalarType) and v.type.kind == "bool":
            return v
        return self.emit(get_op("to_bool"), (v,), {}, e)

    def _e_IfExp(self, e: ast.IfExp) -> Any:
        cond = self.condition(e.test)
        if not isinstance(cond, Value):
            return self.expr(e.body if cond else e.orelse)
        b_then, _, v_then = self._in_block(lambda: self.expr(e.body), node=e)
        b_else, _, v_else = self._in_block(lambda: self.expr(e.orelse), node=e)
        leaves_then, shape = _flatten(v_then)
        leaves_else, shape_else = _flatten(v_else)
        if shape != shape_else:
            raise self.error(e, "the two sides of 'x if c else y' have different structures")
        return _unflatten(shape, self._region_if(e, cond, b_then, b_else, leaves_then, leaves_else, []))

    def _e_Call(self, e: ast.Call) -> Any:
        callee = self.expr(e.func)
        args = [self.expr(a) for a in e.args]
        kwargs = {}
        for kw in e.keywords:
            if kw.arg is None:
                raise self.error(e, "unsupported construct '**kwargs'", "pass the arguments by name")
            kwargs[kw.arg] = self.expr(kw.value)
        return self.call(callee, args, kwargs, e)

    def call(self, callee: Any, args: list, kwargs: dict, e: ast.AST) -> Any:
        if isinstance(callee, _Method):
            return self._method_call(callee, args, kwargs, e)
        if isinstance(callee, OpDef):
            return self.emit(callee, tuple(args), kwargs, e)
        try:
            special = _NUMPY_SPECIAL.get(callee) or _BUILTIN_CALLS.get(callee)
        except TypeError:  # unhashable callee
            special = None
        if special is not None:
            return special(self, args, kwargs, e)
        op = op_for_numpy(callee)
        if op is not None:
            return self.emit(op, tuple(args), kwargs, e)
        if isinstance(callee, type) and issubclass(callee, np.generic) and not kwargs and len(args) == 1 \
                and isinstance(args[0], _STATIC_NUMBERS):
            return callee(args[0])  # np.float32(0.5): a typed constant
        result = self.frame.source.resolver.call(self, callee, args, kwargs, e)
        if result is NotImplemented:
            name = getattr(callee, "__qualname__", None) or getattr(callee, "__name__", None) or type(callee).__name__
            module = getattr(callee, "__module__", "") or ""
            full = f"np.{name}" if module.startswith("numpy") else name
            raise self.error(e, f"call to {full!r} is not supported in programs",
                             "use registered NumPy functions (ir.ops.all_ops()), methods of this module, "
                             "or functions defined in your code")
        return result

    def _method_call(self, m: _Method, args: list, kwargs: dict, e: ast.AST) -> Any:
        special = _VALUE_METHODS.get(m.name)
        if special is not None:
            return special(self, m.value, args, kwargs, e)
        return self.emit(op_for_method(m.name), (m.value, *args), kwargs, e)


# -- helpers --------------------------------------------------------------------------------------
class _Sentinel:
    def __repr__(self) -> str:
        return "<missing>"


_MISSING: Any = _Sentinel()
_UNDEFINED: Any = _Sentinel()


def _type(v: Any) -> Type:
    return v.type if isinstance(v, Value) else type_of(v)


def _same_static(a: Any, b: Any) -> bool:
    return type(a) is type(b) and not isinstance(a, (np.ndarray,)) and a == b


def _contains_value(v: Any) -> bool:
    if isinstance(v, Value):
        return True
    if isinstance(v, (tuple, list)):
        return any(_contains_value(x) for x in v)
    if isinstance(v, slice):
        return any(_contains_value(x) for x in (v.start, v.stop, v.step))
    return False


def _concrete(v: Any) -> Any:
    return v.dims() if isinstance(v, _Shape) else v


def _index_arg(index: Any) -> Any:
    if isinstance(index, tuple):
        return tuple(_index_arg(i) for i in index)
    return index


def _flatten(v: Any) -> tuple[list[Any], Any]:
    if isinstance(v, tuple):
        leaves: list[Any] = []
        shapes = []
        for x in v:
            sub, shape = _flatten(x)
            leaves.extend(sub)
            shapes.append(shape)
        return leaves, tuple(shapes)
    return [v], None


def _unflatten(shape: Any, leaves: list[Any]) -> Any:
    it = iter(leaves)

    def build(s: Any) -> Any:
        if s is None:
            return next(it)
        return tuple(build(x) for x in s)

    return build(shape)


def _assigned(stmts: list[ast.stmt]) -> list[str]:
    """Names assigned in ``stmts`` in source order (including nested blocks)."""
    names: list[str] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store) and node.id not in names:
            names.append(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child)

    for s in stmts:
        if isinstance(s, ast.AugAssign) and isinstance(s.target, ast.Name):
            if s.target.id not in names:
                names.append(s.target.id)
            visit(s.value)
            continue
        if isinstance(s, ast.For) and isinstance(s.target, ast.Name) and s.target.id not in names:
            visit(s.iter)
            names.append(s.target.id)
            for b in s.body:
                visit(b)
            continue
        visit(s)
    return names


# -- calls the compiler handles itself ---------------------------------------------------------------
def _reshape(c: Compiler, v: Value, args: list, kwargs: dict, e: ast.AST) -> Any:
    if kwargs:
        raise c.error(e, "reshape() keywords are not supported", "pass the shape positionally")
    shape = args[0] if len(args) == 1 and isinstance(args[0], tuple) else tuple(args)
    return c.emit(get_op("reshape"), (v, shape), {}, e)


def _transpose(c: Compiler, v: Value, args: list, kwargs: dict, e: ast.AST) -> Any:
    axes = args[0] if len(args) == 1 and isinstance(args[0], tuple) else (tuple(args) if args else None)
    return c.emit(get_op("transpose"), (v, axes), {}, e)


def _astype(c: Compiler, v: Value, args: list, kwargs: dict, e: ast.AST) -> Any:
    kwargs.pop("copy", None)
    return c.emit(get_op("astype"), (v, *args), kwargs, e)


def _copy(c: Compiler, v: Value, args: list, kwargs: dict, e: ast.AST) -> Any:
    return v  # programs never write into arrays, so a copy is the same value


def _item(c: Compiler, v: Value, args: list, kwargs: dict, e: ast.AST) -> Any:
    kind = v.type.dtype.kind if isinstance(v.type, TensorType) and v.type.dtype is not None else "f"
    op = "to_bool" if kind == "b" else ("to_int" if kind in "iu" else "to_float")
    return c.emit(get_op(op), (v,), {}, e)


_VALUE_METHODS = {"reshape": _reshape, "transpose": _transpose, "astype": _astype, "copy": _copy, "item": _item}


def _len(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    (x,) = args
    if isinstance(x, Value):
        if isinstance(x.type, TupleType):
            return len(x.type.elements)
        return c.emit(get_op("dim"), (x, 0), {}, e)
    try:
        return len(x)
    except TypeError:
        raise c.error(e, f"len() of a {type(x).__name__}") from None


def _cast(kind: type) -> Any:
    op_name = {int: "to_int", float: "to_float", bool: "to_bool"}[kind]

    def cast(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
        if len(args) != 1 or kwargs:
            raise c.error(e, f"{kind.__name__}() takes one argument here")
        (x,) = args
        if isinstance(x, Value):
            return c.emit(get_op(op_name), (x,), {}, e)
        if not isinstance(x, _STATIC_NUMBERS + (str,)):
            raise c.error(e, f"{kind.__name__}() of a {type(x).__name__}")
        try:
            return kind(x)
        except ValueError as exc:
            raise c.error(e, str(exc)) from None

    return cast


def _abs(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    (x,) = args
    return c.emit(get_op("abs"), (x,), {}, e) if isinstance(x, Value) else c._static(operator.abs, (x,), e)


def _minmax(fn: Any) -> Any:
    def call(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
        if kwargs or any(isinstance(a, Value) for a in args) or len(args) < 2:
            raise c.error(e, f"{fn.__name__}() on values computed at run time",
                          f"use np.{'minimum' if fn is min else 'maximum'}(a, b)")
        try:
            return fn(*args)
        except (TypeError, ValueError) as exc:
            raise c.error(e, f"{fn.__name__}() fails: {exc}") from None

    return call


def _isinstance(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    obj, cls = args
    if isinstance(obj, Value):
        t = obj.type
        classes = cls if isinstance(cls, tuple) else (cls,)
        if isinstance(t, TensorType):
            return np.ndarray in classes
        if isinstance(t, ScalarType):
            py = {"int": int, "float": float, "bool": bool, "none": type(None)}[t.kind]
            return any(issubclass(py, k) for k in classes if isinstance(k, type))
        raise c.error(e, "isinstance() of a value whose type is unknown")
    try:
        return isinstance(obj, cls)
    except TypeError as exc:
        raise c.error(e, f"isinstance() fails: {exc}") from None


def _static_only(fn: Any) -> Any:
    def call(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
        if _contains_value(args) or any(isinstance(v, Value) for v in kwargs.values()):
            raise c.error(e, f"{fn.__name__}() on values computed at run time")
        for a in args:
            if isinstance(a, (tuple, list, range)):
                c.budget.check_length(len(a), e)
        try:
            result = fn(*args, **kwargs)
            if fn is range:
                c.budget.check_length(len(result), e)  # before building it
            if fn in (enumerate, zip, reversed, range):
                items = list(result)
                if len(items) > 10_000:
                    raise c.error(e, f"{fn.__name__}() over too many items")
                return tuple(items)
            if fn in (tuple, list):
                return tuple(result)
        except ScriptError:
            raise
        except (TypeError, ValueError, OverflowError) as exc:
            raise c.error(e, f"{fn.__name__}() fails: {exc}") from None
        return result

    return call


def _slice(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    if kwargs or not 1 <= len(args) <= 3:
        raise c.error(e, "slice() takes one to three positional arguments")
    return slice(*args)


def _print(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    raise c.error(e, "print() in a program", "return the value, or print after calling the model")


_BUILTIN_CALLS: dict[Any, Any] = {
    len: _len, int: _cast(int), float: _cast(float), bool: _cast(bool), abs: _abs, min: _minmax(min),
    max: _minmax(max), isinstance: _isinstance, tuple: _static_only(tuple), list: _static_only(tuple),
    enumerate: _static_only(enumerate), zip: _static_only(zip), reversed: _static_only(reversed),
    range: _static_only(range), print: _print, slice: _slice,
}


def _np_shape(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    return c.attribute(args[0], "shape", e) if isinstance(args[0], Value) else np.shape(args[0])


def _np_ndim(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    return c.attribute(args[0], "ndim", e) if isinstance(args[0], Value) else np.ndim(args[0])


def _np_dtype(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    if _contains_value(args):
        raise c.error(e, "np.dtype() of a value computed at run time", "use x.dtype")
    return checked_dtype(c, args, kwargs, e)


_NUMPY_SPECIAL: dict[Any, Any] = {np.shape: _np_shape, np.ndim: _np_ndim, np.dtype: _np_dtype}
