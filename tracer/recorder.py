"""The recorder behind ``tracer.trace`` (and library code under ``tracer.script``): a
:class:`Tracer` turns each NumPy operation on proxies into one IR node."""

from __future__ import annotations

import sys
import threading
import warnings
from collections.abc import Callable
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
    TracingError,
    Use,
    map_template,
    type_of,
)
from ir.builder import Builder, Value
from ir.ops import OpDef, get_op, normalize_call

from . import views
from .nn.module import Module
from .patches import _PACKAGE_DIRS
from .proxy import Proxy

__all__ = ["Tracer", "is_library", "user_location"]

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
        if proxy._origin == "const":
            return value  # computed from constants only: the same for every input
        loc = user_location(2)
        guarded = proxy._origin == "size" and self._guard(proxy, what, loc)
        message = (
            f"converting a traced value to a Python value ({what}) bakes {value!r} into the program"
            f"{' in module ' + repr(self.scopes[-1]) if self.scopes[-1] else ''}; the traced program "
            "will not follow other inputs here. Keep the computation in NumPy operations, or use "
            "tracer.script to keep control flow."
            + (" The program checks this size when it runs and raises tracer.GuardError for inputs "
               "that give another value." if guarded else "")
        )
        if loc is None:
            warnings.warn(message, TracerWarning, stacklevel=3)
        else:
            warnings.warn_explicit(message, TracerWarning, loc.file, loc.line)
        return value

    def _guard(self, proxy: Proxy, what: str, loc: SourceLoc | None) -> bool:
        """Record a run-time check that ``proxy`` (computed from sizes) keeps its traced value."""
        expected = proxy._value
        if isinstance(expected, (np.ndarray, np.generic)):
            if np.ndim(expected) != 0:
                return False
            expected = expected.item()
        if not isinstance(expected, (bool, int, float)):
            return False
        op = get_op("guard")
        pos, kws = normalize_call(op, (Use(0), expected), {"where": str(loc) if loc else "", "what": what})
        self.builder.emit(op, pos, kws, [proxy._v], types=[ScalarType("none")], scope=self.scopes[-1], loc=loc)
        return True

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
            if self.concrete:
                views.root_of(proxy).state = qualified
        return proxy

    def add_input(self, name: str, index: int, value: Any) -> Proxy:
        return Proxy(self, self.builder.add_input(name, type_of(value)), value)

    def wrap(self, value: Any) -> Any:
        """Values of the script compiler as proxies (in tuples, lists and dicts, recursively)."""
        if isinstance(value, Value):
            return Proxy(self, value, None)
        if isinstance(value, tuple):
            return tuple(self.wrap(v) for v in value)
        if isinstance(value, list):  # a list the compiler can count (ir.frontend.container_values.PyList)
            return [self.wrap(v) for v in value]
        if isinstance(value, dict):
            return {k: self.wrap(v) for k, v in value.items()}
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

    def constant(self, value: np.ndarray) -> Proxy:
        """``value`` (an array user code made from constants) as a traced constant: it can then be
        indexed with traced values and written into, like NumPy's own array."""
        proxy = Proxy(self, self._constant(value), value)
        proxy._origin = "const"
        return proxy

    def record_call(self, op: OpDef, args: tuple, kwargs: dict, *, record: bool = False) -> Any:
        """Record ``op(*args, **kwargs)`` if any argument is traced (or ``record``); else just run it."""
        inputs: list[Value] = []
        values: list[Any] = []
        index_of: dict[tuple[int, tuple[int, int]], int] = {}
        traced = record
        origins: list[str] = []

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
                u = use(v._v, v._value)  # a view re-derives itself (and its origin) first
                origins.append(v._origin)
                return u
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
        origin = views.join(*origins)
        if not traced:
            return op.impl(*args, **kwargs)
        if origin == "const" and op.name in ("dim", "size") and self.concrete:
            # sizes of arrays made in forward from constants are constants, as in NumPy
            return op.impl(*(a._value if isinstance(a, Proxy) else a for a in args), **kwargs)
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
        for p in proxies:
            p._origin = "size" if op.name in ("dim", "size") else origin
        if self.concrete:
            views.link_views(self, op, args, kwargs, proxies)
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
        elif isinstance(d, ScalarType) and isinstance(o, ScalarType) and d.kind == o.kind:
            out.append(d)  # a number whose value the rules cannot know (math.ceil(n / 2))
        else:
            out.append(o)
    return out if len(out) == len(observed) else observed


def is_library(cls: type) -> bool:
    """Whether ``cls`` comes from this package (its layers run on symbolic values under script)."""
    return (getattr(cls, "__module__", "") or "").startswith("tracer.")


