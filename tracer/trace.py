"""``tracer.trace``: run ``forward`` once on proxies and record every NumPy operation."""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ir import Graph, TracerWarning, TracingCheckError, TracingError, map_template, run_passes, verify
from ir.types import SHORT_NAMES
from runtime.module import ScriptFunction, ScriptModule

from . import _state
from .exports import attach_exports
from .nn.module import Module, is_constant
from .patches import _patched, patched_namespaces  # noqa: F401 - _patched: tracer.script
from .proxy import Proxy
from .recorder import _TRACE_LOCK, Tracer, is_library  # noqa: F401 - re-exported for tracer.script

__all__ = ["trace", "Tracer"]


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


def _check_input(value: Any, i: int, dicts: bool = False) -> Any:
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
    if dicts and isinstance(value, dict) and all(isinstance(k, (str, int)) and not isinstance(k, bool)
                                                 and isinstance(v, np.ndarray) for k, v in value.items()):
        return {k: _check_input(v, i) for k, v in value.items()}  # dict[str, np.ndarray] (tracer.script)
    raise TracingError(
        f"example input {i} is a {type(value).__name__}; example inputs are np.ndarrays, Python "
        "int/float/bool scalars, or tuples/lists of arrays"
        + (", or dicts of arrays with str/int keys" if dicts else "")
    )


def _inputs(example_inputs: Any, fn: Callable[..., Any], what: str, dicts: bool = False) -> tuple:
    if isinstance(example_inputs, (np.ndarray, np.generic, bool, int, float)):
        example_inputs = (example_inputs,)
    elif isinstance(example_inputs, list):
        example_inputs = tuple(example_inputs)
    if not isinstance(example_inputs, tuple):
        raise TracingError(f"{what} must be an array or a tuple of arrays, got a {type(example_inputs).__name__}")
    inputs = tuple(_check_input(v, i, dicts) for i, v in enumerate(example_inputs))
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
    with _TRACE_LOCK, _patched(), patched_namespaces():
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


def build_module(root: Module, methods: dict[str, Graph], example_inputs: dict[str, tuple] | None,
                 traced: bool = False) -> ScriptModule:
    """The ScriptModule tree mirroring ``root``'s hierarchy, holding ``methods`` at the root.

    ``traced``: the programs baked each module's ``training`` mode in, so the modules remember it
    (``ScriptModule.train`` warns when asked for the other one).

    Arrays are shared, not copied (an array held by two attributes stays one array); a submodule
    used twice becomes one ScriptModule; ``None`` parameters and buffers (``bias=False``) become
    ``None`` constants; a ScriptModule submodule keeps its own methods.
    """
    memo: dict[int, ScriptModule] = {}

    def convert(mod: Module | ScriptModule, methods: dict[str, Graph], stored: dict[str, tuple] | None) -> ScriptModule:
        if id(mod) in memo:
            return memo[id(mod)]
        d = mod.__dict__
        children = {name: convert(child, {}, None) for name, child in d["_modules"].items() if child is not None}
        if isinstance(mod, ScriptModule):
            sm = ScriptModule(type_name=mod._type_name, parameters=d["_parameters"], buffers=d["_buffers"],
                              constants=d["_constants"], children=children, methods={**d["_methods"], **methods},
                              training=mod.training, example_inputs=stored, non_persistent=d["_non_persistent"])
            sm.__dict__["_python_methods"] = dict(d["_python_methods"])
            sm.__dict__["_unused_methods"] = set(d["_unused_methods"])
        else:
            constants = {k: None for table in ("_parameters", "_buffers") for k, v in d[table].items() if v is None}
            constants.update((k, v) for k, v in d.items()
                             if not k.startswith("_") and k != "training" and is_constant(v))
            sm = ScriptModule(
                type_name=type(mod).__name__,
                parameters={k: v for k, v in d["_parameters"].items() if v is not None},
                buffers={k: v for k, v in d["_buffers"].items() if v is not None},
                constants=constants,
                children=children,
                methods=methods,
                training=mod.training,
                example_inputs=stored,
                non_persistent=[k for k in d["_non_persistent"] if d["_buffers"].get(k) is not None],
            )
        if traced:
            sm.__dict__["_traced_training"] = bool(mod.training)
        memo[id(mod)] = sm
        return sm

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
        sm = build_module(root, {"forward": graph}, stored, traced=True)
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
    if root is not None:  # @tracer.export methods are kept: compiled from source, as script does
        attach_exports(sm, root, include_root=True)
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
        if not np.all(close) and e.size:  # SPEC's numerics: a sum's error scales with the row's magnitude
            with np.errstate(invalid="ignore", over="ignore"):
                mag = np.abs(e.astype(np.float64))
                close |= np.abs(g.astype(np.float64) - e) <= tol * (mag + np.max(mag, initial=0.0))
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
