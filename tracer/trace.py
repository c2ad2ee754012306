"""``tracer.trace``: run ``forward`` once on proxies and record every NumPy operation."""

from __future__ import annotations

import builtins
import contextlib
import inspect
import os
import sys
import threading
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np

from ir import (
    Graph,
    Node,
    ScalarType,
    ScriptError,
    Slice,
    SourceLoc,
    TensorType,
    TracerError,
    TracerWarning,
    TracingCheckError,
    TracingError,
    Use,
    map_template,
    run_passes,
    type_of,
    verify,
)
from ir.builder import Builder, Value
from ir.ops import OpDef, decomposition_for, get_op, normalize_call, op_for_numpy
from ir.types import SHORT_NAMES
from runtime.module import ScriptFunction, ScriptModule

from . import _state
from .nn.module import Module, is_constant
from .proxy import Proxy

__all__ = ["trace", "Tracer"]

_PACKAGE_DIRS = tuple(
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), pkg) + os.sep
    for pkg in ("tracer", "ir", "runtime", "codegen")
) + (os.path.dirname(np.__file__) + os.sep,)

# Patching builtins/NumPy is process-wide, so one trace runs at a time.
_TRACE_LOCK = threading.RLock()


def user_location(skip: int = 1) -> SourceLoc | None:
    """The innermost stack frame outside this package and NumPy: the user's file and line."""
    frame = sys._getframe(skip)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith(_PACKAGE_DIRS) and not filename.startswith("<frozen"):
            return SourceLoc(filename, frame.f_lineno)
        frame = frame.f_back
    return None


def _dtype_arg(value: Any) -> Any:
    if isinstance(value, type) and issubclass(value, (np.generic, bool, int, float)):
        return np.dtype(value)
    return value


class Tracer:
    """Records operations into a graph through an :class:`ir.builder.Builder`.

    *Concrete* (``tracer.trace``): proxies carry real values, every op runs for real, and types
    are the observed ones.  *Abstract* (library code called from ``tracer.script``): proxies carry
    only types, types come from the op rules, and converting a value to Python is an error.
    """

    def __init__(self, root: Module | None, name: str = "forward", *, builder: Builder | None = None,
                 host: Any = None, loc: SourceLoc | None = None, scope: str = "") -> None:
        self.concrete = host is None
        self.graph = builder.graph if builder is not None else Graph(name)
        self.builder = builder if builder is not None else Builder(self.graph)
        self.root = root
        self.host = host  # the script compiler, when tracing abstractly
        self.call_loc = loc
        self.paths: dict[int, str] = {}
        if root is not None:
            self.paths = {id(m): path for path, m in root.named_modules()}
        self.scopes: list[str] = [scope]
        self._state_nodes: dict[str, Proxy] = {}
        self._constants: dict[int, tuple[Any, Value]] = {}

    # -- errors and warnings -----------------------------------------------------------------------
    def where(self) -> str:
        loc = user_location(2) if self.concrete else self.call_loc
        scope = self.scopes[-1]
        parts = [str(loc)] if loc else []
        if scope:
            parts.append(f"in module {scope!r}")
        return " ".join(parts) or "<unknown location>"

    def error(self, message: str) -> TracerError:
        if not self.concrete:
            return ScriptError(f"{message} (in library code called at {self.where()})")
        return TracingError(f"{message} (at {self.where()})")

    def unsupported(self, func: Any) -> TracerError:
        module = getattr(func, "__module__", None) or "numpy"
        qual = f"{module}.{func.__name__}".replace("numpy.", "np.", 1)
        if module == "numpy":
            qual = f"np.{func.__name__}"
        return self.error(
            f"NumPy function {qual} ('{func.__name__}') is not supported in traced code; use the "
            "registered operations (see ir.ops.all_ops()), or move it into a @tracer.ignore method"
        )

    # -- static facts of proxies -------------------------------------------------------------------
    def static_dtype(self, proxy: Proxy) -> np.dtype:
        if self.concrete:
            if not isinstance(proxy._value, (np.ndarray, np.generic)):
                raise AttributeError(f"a traced {type(proxy._value).__name__} has no dtype")
            return proxy._value.dtype
        t = proxy._v.type
        if isinstance(t, TensorType) and t.dtype is not None:
            return t.dtype
        raise self.error("library code reads the dtype of a value whose dtype is unknown; "
                         "pass example_inputs to tracer.script")

    def static_rank(self, proxy: Proxy) -> int:
        if self.concrete:
            return np.ndim(proxy._value)
        t = proxy._v.type
        if isinstance(t, ScalarType):
            return 0
        if isinstance(t, TensorType) and t.shape is not None:
            return len(t.shape)
        raise self.error("library code reads the rank of a value whose rank is unknown; "
                         "pass example_inputs to tracer.script")

    def bake(self, proxy: Proxy, what: str, convert: Callable[[Any], Any]) -> Any:
        """``convert(value)`` of a traced value (its ``what``), with a TracerWarning."""
        if not self.concrete:
            raise self.error(f"library code converts a value to a Python value ({what})")
        value = convert(proxy._value)
        loc = user_location(2)
        message = (
            f"converting a traced value to a Python value ({what}) bakes {value!r} into the program"
            f"{' in module ' + repr(self.scopes[-1]) if self.scopes[-1] else ''}; the traced program "
            "will not follow other inputs here. Keep the computation in NumPy operations, or use "
            "tracer.script to keep control flow."
        )
        if loc is None:
            warnings.warn(message, TracerWarning, stacklevel=3)
        else:
            warnings.warn_explicit(message, TracerWarning, loc.file, loc.line)
        return value

    # -- module hooks -----------------------------------------------------------------------------
    def call_module(self, module: Module, args: tuple, kwargs: dict) -> Any:
        path = self.paths.get(id(module))
        if path is None:
            raise self.error(
                f"module {type(module).__name__} is called in forward but is not a submodule of the "
                "traced module; assign it as an attribute in __init__"
            )
        if not self.concrete and not is_library(type(module)):
            return self.host.call_user_module(self, module, path, args, kwargs)
        self.scopes.append(path)
        try:
            return module.forward(*args, **kwargs)
        finally:
            self.scopes.pop()

    def state_value(self, module: Module, name: str, value: np.ndarray) -> Any:
        path = self.paths.get(id(module))
        if path is None:
            return value
        qualified = f"{path}.{name}" if path else name
        proxy = self._state_nodes.get(qualified)
        if proxy is None:
            if self.concrete:
                v = self.builder.emit(get_op("param"), (), (("name", qualified),), [], types=[type_of(value)],
                                      scope=path)[0]
            else:
                v = self.host.param(qualified, type_of(value), path)
            proxy = self._state_nodes[qualified] = Proxy(self, v, value if self.concrete else None)
        return proxy

    def add_input(self, name: str, index: int, value: Any) -> Proxy:
        return Proxy(self, self.builder.add_input(name, type_of(value)), value)

    def wrap(self, value: Any) -> Any:
        """Values of the script compiler as proxies (tuples recursively)."""
        if isinstance(value, Value):
            return Proxy(self, value, None)
        if isinstance(value, tuple):
            return tuple(self.wrap(v) for v in value)
        return value

    # -- recording --------------------------------------------------------------------------------
    def _constant(self, value: Any) -> Value:
        hit = self._constants.get(id(value))
        if hit is not None and hit[0] is value:
            return hit[1]
        if self.concrete:
            name = f"c{len(self.graph.tensors)}"
            self.graph.tensors[name] = value
            v = self.builder.emit(get_op("constant"), (), (("name", name),), [], types=[type_of(value)],
                                  scope=self.scopes[-1], loc=user_location(3))[0]
        else:
            v = self.host.constant(value)
        self._constants[id(value)] = (value, v)
        return v

    def record_call(self, op: OpDef, args: tuple, kwargs: dict) -> Any:
        """Record ``op(*args, **kwargs)`` if any argument is traced; else just run it."""
        inputs: list[Value] = []
        values: list[Any] = []
        index_of: dict[tuple[int, tuple[int, int]], int] = {}
        traced = False

        def use(v: Value, concrete: Any) -> Use:
            key = (id(v.builder), v.ref)
            k = index_of.get(key)
            if k is None:
                k = index_of[key] = len(inputs)
                inputs.append(v)
                values.append(concrete)
            return Use(k)

        def convert(v: Any, key: str | None = None) -> Any:
            nonlocal traced
            if isinstance(v, Proxy):
                if v._tracer is not self and (v._tracer.concrete or self.concrete):
                    raise self.error("a traced value from another trace was used; trace each model separately")
                traced = True
                return use(v._v, v._value)
            if isinstance(v, (tuple, list)):
                return tuple(convert(x) for x in v)
            if isinstance(v, slice):
                return Slice(convert(v.start), convert(v.stop), convert(v.step))
            if isinstance(v, (np.ndarray, np.generic)):
                return use(self._constant(v), v)
            if isinstance(v, type) or (key == "dtype" and isinstance(v, str)):
                try:
                    return np.dtype(_dtype_arg(v))
                except TypeError:
                    raise self.error(f"{v!r} is not a dtype") from None
            if isinstance(v, np.dtype) or v is None or v is Ellipsis or isinstance(v, (bool, int, float, str)):
                return v
            raise self.error(f"cannot pass a {type(v).__name__} to {op.spelling}() in traced code")

        targs = tuple(convert(a) for a in args)
        tkwargs = {k: convert(v, k) for k, v in kwargs.items()}
        if not traced:
            return op.impl(*args, **kwargs)
        try:
            pos, kws = normalize_call(op, targs, tkwargs)
        except TypeError as exc:
            raise self.error(f"{op.spelling}(): {exc}") from None
        loc = user_location(2) if self.concrete else self.call_loc
        if self.concrete:
            fetch = lambda u: values[u.index]  # noqa: E731
            try:
                result = op.impl(*map_template(pos, fetch), **{k: map_template(v, fetch) for k, v in kws})
            except Exception as exc:
                raise self.error(f"{op.name} failed while tracing: {type(exc).__name__}: {exc}") from exc
            outs = list(result) if op.multi_output else [result]
            types = _static_types(op, pos, kws, inputs, [type_of(o) for o in outs])
            vals = self.builder.emit(op, pos, kws, inputs, types=types, scope=self.scopes[-1], loc=loc)
        else:
            try:
                vals = self.builder.emit(op, pos, kws, inputs, scope=self.scopes[-1], loc=loc)
            except (TypeError, ValueError, IndexError) as exc:
                raise self.error(f"{op.name}: {exc}") from None
            outs = [None] * len(vals)
        proxies = [Proxy(self, v, o) for v, o in zip(vals, outs)]
        return proxies if op.multi_output else proxies[0]

    def set_output(self, result: Any, strict: bool) -> None:
        refs: list[Value] = []

        def convert(v: Any, path: str) -> Any:
            if isinstance(v, Proxy):
                refs.append(v._v)
                return Use(len(refs) - 1)
            if isinstance(v, tuple):
                return tuple(convert(x, f"{path}[{i}]") for i, x in enumerate(v))
            if isinstance(v, list):
                if strict:
                    raise TracingError(
                        f"forward returned a list{path}; traced programs return arrays or tuples. "
                        "Return a tuple, or trace with strict=False to turn lists into tuples"
                    )
                return tuple(convert(x, f"{path}[{i}]") for i, x in enumerate(v))
            if isinstance(v, dict):
                raise TracingError(f"forward returned a dict{path}; return a tuple of arrays instead")
            if isinstance(v, (np.ndarray, np.generic)):
                refs.append(self._constant(v))
                return Use(len(refs) - 1)
            if v is None or isinstance(v, (bool, int, float)):
                return v
            raise TracingError(f"forward returned a {type(v).__name__}{path}; return arrays or tuples of arrays")

        template = convert(result, "")
        self.graph.add(Node("output", (template,)), [self.builder.local(v) for v in refs])


def _static_types(op: OpDef, args: tuple, kwargs: tuple, inputs: list[Value], observed: list[Any]) -> list[Any]:
    """The observed types, less specific where the op's rule says a size depends on the data
    (``x[x > 0]``): a graph's types say what is known from its input types alone."""
    try:
        derived = Builder.infer(op, args, kwargs, [v.type for v in inputs])
    except (TypeError, ValueError, IndexError):
        return observed
    out = []
    for d, o in zip(derived, observed):
        if d != o and isinstance(d, TensorType) and isinstance(o, TensorType) and d.dtype == o.dtype \
                and d.shape is not None and len(d.shape) == len(o.shape) \
                and all(x is None or x == y for x, y in zip(d.shape, o.shape)):
            out.append(d)
        else:
            out.append(o)
    return out if len(out) == len(observed) else observed


def is_library(cls: type) -> bool:
    """Whether ``cls`` comes from this package (its layers run on symbolic values under script)."""
    return (getattr(cls, "__module__", "") or "").startswith("tracer.")


# -- process-wide patches active while tracing ---------------------------------------------------
def _contains_proxy(value: Any) -> bool:
    if isinstance(value, Proxy):
        return True
    if isinstance(value, (tuple, list)):
        return any(_contains_proxy(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_proxy(v) for v in value.values())
    return False


#: NumPy functions that take no array argument (so NumPy's dispatch never sees a traced size):
#: while tracing, the ``np`` namespace holds wrappers that record them when an argument is traced.
CREATION_FUNCTIONS = ("zeros", "ones", "full", "empty", "arange", "eye", "identity", "tri", "linspace")


def _creation_patch(original: Callable[..., Any]) -> Callable[..., Any]:
    def patched(*args: Any, **kwargs: Any) -> Any:
        tracer = _state.current()
        if tracer is not None and _contains_proxy((args, kwargs)):
            op = op_for_numpy(original)
            if op is not None:
                return tracer.record_call(op, args, kwargs)
            decomposition = decomposition_for(original)
            if decomposition is not None:
                return decomposition(*args, **kwargs)
            raise tracer.unsupported(original)
        return original(*args, **kwargs)

    patched.__wrapped__ = original  # type: ignore[attr-defined]
    return patched


_ORIGINAL_LEN = builtins.len


def _traced_len(obj: Any) -> Any:
    if isinstance(obj, Proxy) and obj.ndim > 0:
        return obj.shape[0]
    return _ORIGINAL_LEN(obj)


@contextlib.contextmanager
def _patched() -> Iterator[None]:
    saved = {name: getattr(np, name) for name in CREATION_FUNCTIONS}
    try:
        for name, fn in saved.items():
            setattr(np, name, _creation_patch(fn))
        builtins.len = _traced_len
        yield
    finally:
        builtins.len = _ORIGINAL_LEN
        for name, fn in saved.items():
            setattr(np, name, fn)


# -- trace ----------------------------------------------------------------------------------------
def _target(obj: Any) -> tuple[Callable[..., Any], Module | None, str]:
    if isinstance(obj, ScriptModule):
        raise TracingError("this is already a ScriptModule; call it, save it, or use it as a submodule")
    if isinstance(obj, Module):
        return obj.forward, obj, type(obj).__name__
    if isinstance(obj, type):
        raise TracingError(
            f"trace() got the class {obj.__name__}; pass an instance: trace({obj.__name__}(...), inputs)"
        )
    if callable(obj):
        return obj, None, getattr(obj, "__qualname__", getattr(obj, "__name__", "function"))
    raise TracingError(
        f"trace() needs a tracer.nn.Module or a function, got a {type(obj).__name__}; "
        "subclass tracer.nn.Module and define forward()"
    )


def _check_input(value: Any, i: int) -> Any:
    if isinstance(value, np.generic):
        value = np.asarray(value)
    if isinstance(value, np.ndarray):
        if value.dtype.name not in SHORT_NAMES:
            raise TracingError(
                f"example input {i} has dtype {value.dtype}; supported dtypes are {', '.join(SHORT_NAMES)}"
            )
        return value
    if isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, np.ndarray) for v in value):
        return type(value)(_check_input(v, i) for v in value)  # tuple[...] / list[np.ndarray] arguments
    raise TracingError(
        f"example input {i} is a {type(value).__name__}; example inputs are np.ndarrays, Python "
        "int/float/bool scalars, or tuples/lists of arrays"
    )


def _inputs(example_inputs: Any, fn: Callable[..., Any], what: str) -> tuple:
    if isinstance(example_inputs, (np.ndarray, np.generic, bool, int, float)):
        example_inputs = (example_inputs,)
    elif isinstance(example_inputs, list):
        example_inputs = tuple(example_inputs)
    if not isinstance(example_inputs, tuple):
        raise TracingError(f"{what} must be an array or a tuple of arrays, got a {type(example_inputs).__name__}")
    inputs = tuple(_check_input(v, i) for i, v in enumerate(example_inputs))
    try:
        inspect.signature(fn).bind(*inputs)
    except TypeError as exc:
        raise TracingError(f"{_describe(fn)} cannot take {len(inputs)} example input(s): {exc}") from None
    return inputs


def _describe(fn: Callable[..., Any]) -> str:
    try:
        return f"{getattr(fn, '__qualname__', fn)}{inspect.signature(fn)}"
    except (TypeError, ValueError):
        return repr(fn)


def _input_names(fn: Callable[..., Any], n: int) -> list[str]:
    names: list[str] = []
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        params = []
    for p in params:
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD):
            names.append(p.name)
        elif p.kind is p.VAR_POSITIONAL:
            names.extend(f"{p.name}_{i}" for i in range(n - len(names)))
    names += [f"arg{i}" for i in range(len(names), n)]
    return names[:n]


def record(fn: Callable[..., Any], root: Module | None, inputs: tuple, *, strict: bool = True,
           name: str = "forward") -> tuple[Graph, Any]:
    """Trace ``fn(*inputs)`` into a graph; returns the graph and the eager result."""
    tracer = Tracer(root, name)
    with _TRACE_LOCK, _patched():
        previous = _state.set_current(tracer)
        try:
            names = _input_names(fn, len(inputs))
            proxies = [tracer.add_input(n, i, v) for i, (n, v) in enumerate(zip(names, inputs))]
            result = fn(*proxies)
        finally:
            _state.set_current(previous)
    tracer.set_output(result, strict)
    eager = map_template(_template_values(result), lambda v: v)
    return tracer.graph, eager


def _template_values(result: Any) -> Any:
    if isinstance(result, Proxy):
        return result._value
    if isinstance(result, (tuple, list)):
        return tuple(_template_values(r) for r in result)
    return result


def build_module(root: Module, methods: dict[str, Graph], example_inputs: dict[str, tuple] | None) -> ScriptModule:
    """The ScriptModule tree mirroring ``root``'s hierarchy, holding ``methods`` at the root."""

    def convert(mod: Module, methods: dict[str, Graph], stored: dict[str, tuple] | None) -> ScriptModule:
        d = mod.__dict__
        constants = {k: v for k, v in d.items()
                     if not k.startswith("_") and k != "training" and is_constant(v)}
        children = {name: convert(child, {}, None) for name, child in d["_modules"].items() if child is not None}
        return ScriptModule(
            type_name=type(mod).__name__,
            parameters={k: v for k, v in d["_parameters"].items() if v is not None},
            buffers={k: v for k, v in d["_buffers"].items() if v is not None},
            constants=constants,
            children=children,
            methods=methods,
            training=mod.training,
            example_inputs=stored,
        )

    return convert(root, methods, example_inputs)


def trace(
    obj: Module | Callable[..., Any],
    example_inputs: Any,
    *,
    check_trace: bool = True,
    check_inputs: Sequence[Any] | None = None,
    check_tolerance: float = 1e-5,
    strict: bool = True,
    _store_inputs: bool = True,
) -> ScriptModule:
    """Capture ``obj`` (a :class:`tracer.nn.Module` or a function) by running it once.

    Parameters
    ----------
    obj : Module or callable
        The model (its ``forward`` is traced) or a plain function.
    example_inputs : array, scalar or tuple of them
        Arguments for one call.
    check_trace : bool
        Run the captured program on the example inputs (and ``check_inputs``) and compare with
        eager; a mismatch raises :class:`tracer.TracingCheckError` with the largest difference.
    check_inputs : list of tuples, optional
        More argument tuples to check with.
    check_tolerance : float
        Relative and absolute tolerance of the check.
    strict : bool
        Refuse list outputs (tuples are fine).
    _store_inputs : bool
        Keep the example inputs with the module so archives can restore shapes from them.

    Returns
    -------
    ScriptModule or ScriptFunction

    Examples
    --------
    >>> import numpy as np, tracer
    >>> def f(x):
    ...     return np.tanh(x) * 2.0 + x.reshape(x.shape[0], -1).sum(axis=1, keepdims=True)
    >>> sf = tracer.trace(f, np.ones((2, 3), dtype=np.float32))
    >>> sf(np.zeros((5, 3), dtype=np.float32)).shape
    (5, 3)
    """
    fn, root, type_name = _target(obj)
    inputs = _inputs(example_inputs, fn, "example_inputs")
    graph, eager = record(fn, root, tuple(_copy(v) for v in inputs), strict=strict)
    graph = verify(run_passes(graph))
    stored = {"forward": inputs} if _store_inputs else None
    if root is not None:
        sm = build_module(root, {"forward": graph}, stored)
    else:
        sm = ScriptFunction(type_name=type_name, methods={"forward": graph}, example_inputs=stored)
    if check_trace:
        cases = [(inputs, eager)]
        for i, extra in enumerate(check_inputs or ()):
            ins = _inputs(extra, fn, f"check_inputs[{i}]")
            cases.append((ins, _eager(obj, ins)))
        for i, (ins, expected) in enumerate(cases):
            _compare(sm(*(_copy(v) for v in ins)), expected, check_tolerance,
                     "the example inputs" if i == 0 else f"check_inputs[{i - 1}]")
    return sm


def _copy(v: Any) -> Any:
    return v.copy() if isinstance(v, np.ndarray) else v


def _eager(obj: Any, inputs: tuple) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", TracerWarning)
        return obj(*(_copy(v) for v in inputs))


def _compare(got: Any, expected: Any, tol: float, case: str, path: str = "output") -> None:
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, tuple) or len(got) != len(expected):
            raise TracingCheckError(f"on {case}, the traced program returned {type(got).__name__} "
                                    f"where eager returned {len(expected)} values")
        for i, (g, e) in enumerate(zip(got, expected)):
            _compare(g, e, tol, case, f"{path}[{i}]")
        return
    g, e = np.asarray(got), np.asarray(expected)
    if g.shape != e.shape:
        raise TracingCheckError(
            f"on {case}, {path} of the traced program has shape {g.shape} but eager gives {e.shape}; "
            "a size was probably baked in during tracing (see the TracerWarnings)"
        )
    if g.dtype.kind in "fc" or e.dtype.kind in "fc":
        close = np.isclose(g, e, rtol=tol, atol=tol, equal_nan=True)
    else:
        close = g == e
    if not np.all(close):
        diff = np.abs(g.astype(np.float64) - e.astype(np.float64))
        diff = np.where(np.isnan(diff), np.inf, diff)
        idx = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.ndim else ()
        raise TracingCheckError(
            f"on {case}, {path} of the traced program differs from eager: largest difference "
            f"{diff[idx]:.6g} at index {tuple(int(i) for i in idx)} (traced {g[idx]!r}, eager {e[idx]!r}, "
            f"tolerance {tol}). forward's result depends on something the trace baked in (see the "
            "TracerWarnings); use tracer.script for data-dependent control flow"
        )
