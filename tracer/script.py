"""``tracer.script``: compile ``forward``'s source, control flow included.

The user's code (``forward``, ``@tracer.export`` methods, their own submodules and free
functions) is compiled from source by :mod:`ir.frontend`, so ``if``/``for``/``while`` on array
values stay control flow in the program.  This module resolves the user's Python objects for the
compiler.  Layers and functions of this package (``tracer.nn``, ``tracer.functional``) are not
compiled from source: they run on symbolic values (an abstract trace), which records their ops.
"""

from __future__ import annotations

import ast
import functools
import inspect
import linecache
import math
import os
import sysconfig
import textwrap
import types
from collections.abc import Callable
from typing import Any

import numpy as np

from ir import ScalarType, ScriptError, run_passes, type_of, verify
from ir.builder import Value as _Value
from ir.frontend import Compiler, Source
from ir.frontend.ranks import unknown_rank
from ir.ops import decomposition_for, get_op
from ir.ops.registry import numpy_path
from runtime.module import ScriptFunction, ScriptModule
from runtime.training import flag_name

from . import _state
from .decorators import marker
from .exports import attach_exports
from .nn.module import Module, is_constant
from .proxy import Proxy
from .trace import _TRACE_LOCK, Tracer, _inputs, _patched, build_module, is_library

__all__ = ["script"]

_PARSED: dict[Any, tuple[ast.FunctionDef, str, int, list[str]]] = {}


def _function_ast(fn: Callable[..., Any]) -> tuple[ast.FunctionDef, str, int, list[str]]:
    """The ``def`` of ``fn`` as an AST, its file, line offset and the file's lines."""
    fn = inspect.unwrap(getattr(fn, "__func__", fn))
    code = getattr(fn, "__code__", None)
    # code objects compare equal across files (co_filename is not compared): key by the file too
    key = (code, code.co_filename) if code is not None else None
    hit = _PARSED.get(key)
    if hit is not None:
        return hit
    name = getattr(fn, "__qualname__", repr(fn))
    try:
        lines, start = inspect.getsourcelines(fn)
        file = inspect.getsourcefile(fn) or code.co_filename
    except (OSError, TypeError) as exc:
        raise ScriptError(f"cannot read the source of {name}: {exc}; tracer.script needs functions defined "
                          "in a file (use tracer.trace for code typed into a REPL)") from None
    tree = ast.parse(textwrap.dedent("".join(lines)))
    fdef = tree.body[0] if tree.body else None
    if not isinstance(fdef, ast.FunctionDef):
        raise ScriptError(f"unsupported construct 'lambda' at {file}:{start} in {name}; define it with def")
    # the file's lines, so that line ``start - 1 + n`` of the parsed function is its line n
    result = (fdef, file, start - 1, linecache.getlines(file) or [""] * (start - 1) + lines)
    if key is not None:
        _PARSED[key] = result
    return result


class _Ignored:
    def __init__(self, module: Module, path: str, name: str) -> None:
        self.module, self.name = module, name
        self.qualified = f"{path}.{name}" if path else name


class _Unused:
    def __init__(self, qualified: str) -> None:
        self.qualified = qualified


class _BoundMethod:
    def __init__(self, module: Module, func: Callable[..., Any], name: str) -> None:
        self.module, self.func, self.name = module, func, name


class _Context:
    """Everything one ``script`` call knows about the user's objects."""

    def __init__(self, root: Module | None) -> None:
        self.root = root
        self.paths = {id(m): p for p, m in root.named_modules()} if root is not None else {}
        self.python_methods: dict[str, Callable[..., Any]] = {}
        self.compiler = Compiler()

    def source(self, fn: Callable[..., Any], self_obj: Any = None, scope: str = "") -> tuple[ast.FunctionDef, Source]:
        fdef, file, offset, lines = _function_ast(fn)
        func = inspect.unwrap(getattr(fn, "__func__", fn))
        names = dict(getattr(func, "__globals__", {}))
        try:
            names.update(inspect.getclosurevars(func).nonlocals)
        except (TypeError, ValueError):
            pass
        return fdef, Source(file, offset, lines, getattr(func, "__qualname__", fdef.name), _Resolver(self, names),
                            self_obj=self_obj, scope=scope)

    def path_of(self, module: Any, node: ast.AST) -> str:
        path = self.paths.get(id(module))
        if path is None:
            raise self.compiler.error(node, f"module {type(module).__name__} is not a submodule of the scripted "
                                      "module", "assign it as an attribute in __init__")
        return path

    # -- attributes of modules -----------------------------------------------------------------
    def module_attribute(self, c: Compiler, mod: Module, name: str, node: ast.AST) -> Any:
        path = self.path_of(mod, node)
        d = mod.__dict__
        for table in ("_parameters", "_buffers"):
            if name in d[table]:
                value = d[table][name]
                if value is None:
                    return None
                return c.param(f"{path}.{name}" if path else name, type_of(value), path)
        if name in d["_modules"]:
            return d["_modules"][name]
        if name == "training":  # read when the program runs (runtime.training)
            return c.param(flag_name(path), _BOOL, path)
        if name in d:
            value = d[name]
            if is_constant(value):
                return tuple(value) if isinstance(value, list) else value
            raise c.error(node, f"attribute {name!r} of {type(mod).__name__} is a {type(value).__name__}",
                          "programs read parameters, buffers, submodules and constants "
                          "(int, float, bool, str, None and tuples of them)")
        attr = inspect.getattr_static(type(mod), name, None)
        if attr is None:
            raise c.error(node, f"{type(mod).__name__} has no attribute {name!r}")
        func = attr.__func__ if isinstance(attr, staticmethod) else attr
        kind = marker(func)
        if kind == "ignore":
            return _Ignored(mod, path, name)
        if kind == "unused":
            return _Unused(f"{path}.{name}" if path else name)
        if inspect.isfunction(func):
            return _BoundMethod(mod, func, name) if not isinstance(attr, staticmethod) else func
        if is_constant(attr):
            return attr
        raise c.error(node, f"attribute {name!r} of {type(mod).__name__} is a {type(attr).__name__}",
                      "programs can use methods, parameters, submodules and constants")

    def script_module_attribute(self, c: Compiler, sm: ScriptModule, name: str, node: ast.AST) -> Any:
        path = self.path_of(sm, node)
        d = sm.__dict__
        for table in ("_parameters", "_buffers"):
            if name in d[table]:
                return c.param(f"{path}.{name}" if path else name, type_of(d[table][name]), path)
        if name in d["_modules"]:
            return d["_modules"][name]
        if name in d["_constants"]:
            return d["_constants"][name]
        if name == "training":
            return c.param(flag_name(path), _BOOL, path)
        raise c.error(node, f"the loaded module has no attribute {name!r} that programs can use")

    # -- calls ---------------------------------------------------------------------------------
    def call(self, c: Compiler, callee: Any, args: list, kwargs: dict, node: ast.AST) -> Any:
        if callee is getattr:
            return self.static_getattr(c, args, kwargs, node)
        decomposition = decomposition_for(callee)
        if decomposition is not None:  # a NumPy function written over registered ops, like library code
            try:
                return self.library_call(c, decomposition, args, kwargs, node)
            except ScriptError as exc:
                raise ScriptError(f"np.{numpy_path(callee)}: {exc}") from None
        if isinstance(callee, ScriptModule):
            if kwargs:
                raise c.error(node, "keyword arguments to a loaded module", "pass them positionally")
            return self.inline_script_module(c, callee, args, node)
        if isinstance(callee, Module):
            path = self.path_of(callee, node)
            if is_library(type(callee)):
                return self.library_call(c, callee, args, kwargs, node, module=callee)
            fdef, src = self.source(type(callee).forward, callee, path)
            return c.inline(fdef, src, args, kwargs, node, _defaults(type(callee).forward))
        if isinstance(callee, _BoundMethod):
            path = self.path_of(callee.module, node)
            fdef, src = self.source(callee.func, callee.module, path)
            return c.inline(fdef, src, args, kwargs, node, _defaults(callee.func))
        if isinstance(callee, _Ignored):
            self.python_methods[callee.qualified] = getattr(callee.module, callee.name)
            return c.emit(get_op("python_call"), tuple(args), {**kwargs, "name": callee.qualified}, node)
        if isinstance(callee, _Unused):
            return c.emit(get_op("unused_call"), tuple(args), {**kwargs, "name": callee.qualified}, node)
        if isinstance(callee, types.FunctionType):
            if is_library(callee):
                return self.library_call(c, callee, args, kwargs, node)
            if _third_party(callee):
                return NotImplemented  # NumPy's or another package's Python code is never compiled
            fdef, src = self.source(callee, None, c.frame.source.scope)
            return c.inline(fdef, src, args, kwargs, node, _defaults(callee))
        if isinstance(callee, types.BuiltinFunctionType) and getattr(callee, "__module__", "") == "math":
            if any(isinstance(a, _Value) for a in args):
                raise c.error(node, f"math.{callee.__name__} on a value computed at run time",
                              f"use np.{callee.__name__}")
            return callee(*args)
        return NotImplemented

    def inline_script_module(self, c: Compiler, sm: ScriptModule, args: list, node: ast.AST) -> Any:
        """Copy a loaded module's ``forward`` into the program, its parameters under its path."""
        path = self.path_of(sm, node)
        from .inline import inline_graph

        return inline_graph(c, sm.graph, args, path, node)

    @staticmethod
    def static_getattr(c: Compiler, args: list, kwargs: dict, node: ast.AST) -> Any:
        """``getattr(module, name[, default])`` with ``name`` known while compiling: ``module.<name>``."""
        if kwargs or len(args) not in (2, 3) or not isinstance(args[1], str) or not isinstance(args[0], Module):
            raise c.error(node, "'getattr' of something other than a module attribute named by a constant string",
                          "write module.name, or getattr(self, name) with name a constant")
        if args[1].startswith("__"):
            raise c.error(node, f"access to dunder attribute {args[1]!r} is not allowed")
        if len(args) == 3 and not hasattr(args[0], args[1]):
            return args[2]
        return c.attribute(args[0], args[1], node)

    def library_call(self, c: Compiler, fn: Any, args: list, kwargs: dict, node: ast.AST,
                     module: Module | None = None) -> Any:
        """Run library code (``tracer.nn``/``tracer.functional``) on symbolic values.

        Library code decides with Python ``bool``s: a layer that reads ``self.training`` is run
        in both modes under an ``if`` on its flag, and a ``bool`` argument computed when the
        program runs (``F.dropout(x, 0.1, self.training)``) under an ``if`` on it."""
        rank = getattr(type(module), "input_rank", None) if module is not None else None
        if rank is not None and any(unknown_rank(a) for a in args):  # Conv2d's input: (N, C, H, W)
            args = [c.fix_rank(a, rank, node) if unknown_rank(a) else a for a in args]
        if module is not None and any(_reads_training(type(m)) for m in module.modules()):
            path = self.paths.get(id(module), "")
            return self.both_ways(c, node, c.param(flag_name(path), _BOOL, path), lambda mode: _in_mode(
                module, mode, lambda: self._library_call(c, fn, args, kwargs, node, module)))
        for i, a in enumerate(args):
            if _is_bool_value(a):
                return self.both_ways(c, node, a, lambda mode, i=i: self.library_call(
                    c, fn, [*args[:i], mode, *args[i + 1:]], kwargs, node, module))
        for k, v in kwargs.items():
            if _is_bool_value(v):
                return self.both_ways(c, node, v, lambda mode, k=k: self.library_call(
                    c, fn, args, {**kwargs, k: mode}, node, module))
        return self._library_call(c, fn, args, kwargs, node, module)

    @staticmethod
    def both_ways(c: Compiler, node: ast.AST, cond: Any, run: Callable[[bool], Any]) -> Any:
        """``run(True) if cond else run(False)`` as an ``if`` in the program."""
        (b_true, _, r_true), (b_false, _, r_false) = (c._in_block(lambda mode=mode: run(mode), node=node)
                                                      for mode in (True, False))
        return c.join_values(node, cond, (b_true, r_true), (b_false, r_false),
                             "the library call returns, in its two modes,")

    def _library_call(self, c: Compiler, fn: Any, args: list, kwargs: dict, node: ast.AST,
                      module: Module | None = None) -> Any:
        scope = self.paths.get(id(module), c.frame.source.scope) if module is not None else c.frame.source.scope
        tracer = Tracer(self.root, builder=c.builder, host=_Host(self, c, node), loc=c.loc(node), scope=scope)
        tracer.paths = self.paths
        wrapped = tracer.wrap(tuple(args))
        wkwargs = {k: tracer.wrap(v) for k, v in kwargs.items()}
        with _TRACE_LOCK, _patched():
            previous = _state.set_current(tracer)
            try:
                if module is not None:
                    result = tracer.call_module(module, wrapped, wkwargs)
                else:
                    result = fn(*wrapped, **wkwargs)
            finally:
                _state.set_current(previous)
        return _unwrap(c, result, node)


class _Host:
    """What an abstract tracer asks the script compiler for."""

    def __init__(self, ctx: _Context, compiler: Compiler, node: ast.AST) -> None:
        self.ctx, self.compiler, self.node = ctx, compiler, node

    def param(self, qualified: str, type_: Any, scope: str) -> _Value:
        return self.compiler.param(qualified, type_, scope)

    def constant(self, value: Any) -> _Value:
        return self.compiler.constant(value, self.node)

    def call_user_module(self, tracer: Tracer, module: Module, path: str, args: tuple, kwargs: dict) -> Any:
        c = self.compiler
        fdef, src = self.ctx.source(type(module).forward, module, path)
        result = c.inline(fdef, src, [_unwrap(c, a, self.node) for a in args],
                          {k: _unwrap(c, v, self.node) for k, v in kwargs.items()}, self.node,
                          _defaults(type(module).forward))
        return tracer.wrap(result)


def _unwrap(c: Compiler, value: Any, node: ast.AST) -> Any:
    if isinstance(value, Proxy):
        return value._v
    if isinstance(value, (tuple, list)):
        return tuple(_unwrap(c, v, node) for v in value)
    if isinstance(value, (np.ndarray, np.generic)):
        return c.constant(value, node)
    return value


_BOOL = ScalarType("bool")


def _is_bool_value(v: Any) -> bool:
    return isinstance(v, _Value) and v.type == _BOOL


@functools.cache
def _reads_training(cls: type) -> bool:
    """Whether library layer ``cls``'s code reads ``self.training``."""
    try:
        return "self.training" in inspect.getsource(cls)
    except (OSError, TypeError):
        return True  # unknown: compiling both modes is always right


def _in_mode(module: Module, mode: bool, run: Callable[[], Any]) -> Any:
    """``run()`` with ``module`` and its submodules in training mode ``mode``."""
    saved = [(m, m.training) for m in module.modules()]
    module.train(mode)
    try:
        return run()
    finally:
        for m, flag in saved:
            object.__setattr__(m, "training", flag)


class _Resolver:
    def __init__(self, ctx: _Context, names: dict[str, Any]) -> None:
        self.ctx = ctx
        self.names = names

    def lookup(self, name: str) -> Any:
        if name == "getattr" and name not in self.names:
            return getattr  # of a module with a name known while compiling (_Context.call)
        return self.names[name]

    def attribute(self, c: Compiler, obj: Any, name: str, node: ast.AST) -> Any:
        if isinstance(obj, ScriptModule):
            return self.ctx.script_module_attribute(c, obj, name, node)
        if isinstance(obj, Module):
            if name == "__iter_static__":
                return list(obj.children()) if hasattr(obj, "__iter__") else NotImplemented
            if name == "__getitem_static__":
                return obj.__getitem__ if hasattr(obj, "__getitem__") else NotImplemented
            return self.ctx.module_attribute(c, obj, name, node)
        if isinstance(obj, types.ModuleType):
            if not hasattr(obj, name):
                raise c.error(node, f"module {obj.__name__} has no attribute {name!r}")
            value = getattr(obj, name)
            if obj is math and not callable(value) and not isinstance(value, float):
                return NotImplemented
            return value
        return NotImplemented

    def call(self, c: Compiler, callee: Any, args: list, kwargs: dict, node: ast.AST) -> Any:
        return self.ctx.call(c, callee, args, kwargs, node)


_THIRD_PARTY_DIRS = tuple(
    {os.path.realpath(p) + os.sep for key in ("stdlib", "platstdlib", "purelib", "platlib")
     if (p := sysconfig.get_paths().get(key))}
)


def _third_party(fn: Callable[..., Any]) -> bool:
    """Functions of NumPy, the standard library or installed packages (never user code)."""
    module = (getattr(fn, "__module__", "") or "").split(".")[0]
    if module in ("numpy", "scipy", "numba", "networkx", "ir", "runtime", "codegen"):
        return True
    file = getattr(getattr(fn, "__code__", None), "co_filename", "")
    return os.path.realpath(file).startswith(_THIRD_PARTY_DIRS) if file else True


def _defaults(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return {}
    return {k: p.default for k, p in params.items() if p.default is not inspect.Parameter.empty}


def _annotations(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        hints = inspect.get_annotations(fn, eval_str=True)
    except Exception:  # an annotation that does not evaluate: fall back to the AST's
        return {}
    return {k: v for k, v in hints.items() if k != "return"}


def _compile_method(ctx: _Context, fn: Callable[..., Any], self_obj: Any, input_types: list | None,
                    name: str, has_self: bool = True) -> Any:
    fdef, src = ctx.source(fn, self_obj, "")
    graph = ctx.compiler.compile_method(fdef, src, input_types=input_types, name=name,
                                        defaults=_defaults(fn), annotations=_annotations(fn), has_self=has_self)
    return verify(run_passes(graph))


def script(obj: Any, example_inputs: Any = None) -> ScriptModule:
    """Compile ``obj`` (a :class:`tracer.nn.Module` or a function) from its source.

    Control flow on array values (``if``, ``for`` over ``range``, ``while``, ``break``,
    ``continue``, early ``return``) stays control flow in the program.  Methods marked
    ``@tracer.export`` are compiled too; ``@tracer.ignore`` methods stay Python;
    ``@tracer.unused`` methods become stubs that raise.

    Parameters
    ----------
    obj : Module or function
    example_inputs : array or tuple, optional
        Inputs of ``forward``: they give the program concrete input types and are stored with
        the module (for ``_restore_shapes``).

    Returns
    -------
    ScriptModule or ScriptFunction

    Raises
    ------
    tracer.ScriptError
        For a construct the compiler does not support; the message names the construct, the file
        and line with its text, and what to write instead.

    Examples
    --------
    >>> import numpy as np, tracer
    >>> from tracer import nn
    >>> class Gate(nn.Module):
    ...     def forward(self, x, n: int = 2):
    ...         for _ in range(n):
    ...             if x.sum() > 0:
    ...                 x = x * 0.5
    ...             else:
    ...                 x = x + 1.0
    ...         return x
    >>> sm = tracer.script(Gate())  # doctest: +SKIP
    """
    if isinstance(obj, ScriptModule):
        return obj
    if isinstance(obj, type):
        raise ScriptError(f"script() got the class {obj.__name__}; pass an instance")
    if isinstance(obj, Module):
        ctx = _Context(obj)
        forward = type(obj).forward
        inputs = None if example_inputs is None else _inputs(example_inputs, obj.forward, "example_inputs", dicts=True)
        in_types = [type_of(v) for v in inputs] if inputs is not None else None
        methods = {"forward": _compile_method(ctx, forward, obj, in_types, "forward")}
        for name in dir(type(obj)):
            attr = inspect.getattr_static(type(obj), name, None)
            if name != "forward" and inspect.isfunction(attr) and marker(attr) == "export":
                methods[name] = _compile_method(ctx, attr, obj, None, name)
        sm = build_module(obj, methods, {"forward": inputs} if inputs is not None else None)
        sm.__dict__["_python_methods"] = dict(ctx.python_methods)
        sm.__dict__["_unused_methods"] = {n for n in dir(type(obj))
                                          if marker(inspect.getattr_static(type(obj), n, None)) == "unused"}
        attach_exports(sm, obj, include_root=False)  # the submodules' exported methods
        return sm
    if isinstance(obj, types.FunctionType):
        ctx = _Context(None)
        inputs = _inputs(example_inputs, obj, "example_inputs", dicts=True) if example_inputs is not None else None
        in_types = [type_of(v) for v in inputs] if inputs is not None else None
        graph = _compile_method(ctx, obj, None, in_types, "forward", has_self=False)
        return ScriptFunction(type_name=obj.__qualname__, methods={"forward": graph},
                              example_inputs={"forward": inputs} if inputs is not None else None)
    raise ScriptError(f"script() needs a tracer.nn.Module or a function, got a {type(obj).__name__}")
