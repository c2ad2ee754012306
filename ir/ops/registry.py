"""The operator registry: every op is defined once, by :func:`defop`.

A definition holds the op's name, its group (:class:`OpKind`), its version, its signature and
NumPy reference (the decorated function itself), its type rule, the NumPy functions and array
methods that trace to it, and how the printer spells it.  Other tables (numba lowerings,
upgraders) are filled elsewhere by ``register_*`` decorators keyed by the op name; a missing
entry raises :class:`MissingRuleError` naming the op and the table.

The signature convention: the reference is called exactly like the recorded call,
``impl(*args, **kwargs)``, with runtime values in place of the :class:`~ir.node.Use` placeholders.
The type rule has the same signature, called with :mod:`ir.types` types in place of the values.
"""

from __future__ import annotations

import enum
import inspect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "OpKind",
    "OpDef",
    "defop",
    "get_op",
    "has_op",
    "all_ops",
    "op_for_numpy",
    "op_for_method",
    "RuleTable",
    "MissingRuleError",
    "normalize_call",
    "defdecomp",
    "decomposition_for",
    "numpy_surface",
    "numpy_path",
]


class OpKind(enum.Enum):
    """Named groups of operators (what fusion and printing care about)."""

    GRAPH = "graph"  # input, param, constant, output
    ELEMENTWISE = "elementwise"
    REDUCE = "reduce"
    MOVEMENT = "movement"
    INDEX = "index"
    LINALG = "linalg"
    CREATION = "creation"
    SHAPE = "shape"
    NN = "nn"
    CONTROL = "control"  # if, loop: nodes that own sub-graphs (blocks)
    CALL = "call"  # calls of methods that stay Python (@tracer.ignore) or are stubs (@tracer.unused)
    CONTAINER = "container"  # lists and dicts whose length or keys are known only when the program runs


@dataclass(frozen=True, slots=True)
class OpDef:
    """One registered operator.

    Attributes
    ----------
    name : str
        Unique op name, also its spelling after ``ops.`` in program text unless ``spelling`` says
        otherwise.
    kind : OpKind
    impl : callable
        The NumPy reference; its signature is the op's signature.
    infer : callable or None
        Type rule with the same signature as ``impl`` taking types instead of values and returning
        a type, or a tuple of types for multi-output ops.
    version : int
        Bumped whenever the op's saved behaviour changes (see ``runtime.upgraders``).
    numpy : tuple of callables
        NumPy functions/ufuncs that trace to this op.
    methods : tuple of str
        ``ndarray`` methods that trace to this op (same argument order as the NumPy function).
    spelling : str
        How the printer writes a call: ``"np.sum"`` / ``"ops.dim"`` (a function), ``"infix:+"``,
        ``"prefix:-"``, ``"method:astype"``, ``"getitem"``, ``"format:int({0})"`` (a template over the
        printed arguments), ``"control"`` or ``"graph"``.
    multi_output : bool
        The reference returns a sequence; each element is one output.
    pure : bool
        No side effects and deterministic (CSE and folding may touch it).
    count : callable or None
        For multi-output ops: the number of outputs of a call (same signature as ``impl``), so
        programs keep their structure even where types are unknown.
    """

    name: str
    kind: OpKind
    impl: Callable[..., Any]
    infer: Callable[..., Any] | None = None
    version: int = 1
    numpy: tuple[Callable[..., Any], ...] = ()
    methods: tuple[str, ...] = ()
    spelling: str = ""
    multi_output: bool = False
    pure: bool = True
    signature: inspect.Signature | None = field(default=None, compare=False)
    count: Callable[..., int] | None = None

    @property
    def doc(self) -> str:
        return inspect.getdoc(self.impl) or ""


_OPS: dict[str, OpDef] = {}
_BY_NUMPY: dict[Any, str] = {}
_BY_METHOD: dict[str, str] = {}
_DECOMPOSITIONS: dict[Any, Callable[..., Any]] = {}


class MissingRuleError(KeyError):
    """An op has no entry in a rule table (numba lowering, upgrader, ...)."""

    def __str__(self) -> str:
        return str(self.args[0])


def defop(
    name: str,
    kind: OpKind,
    *,
    infer: Callable[..., Any] | None = None,
    version: int = 1,
    numpy: Iterable[Callable[..., Any]] | Callable[..., Any] = (),
    methods: Iterable[str] | str = (),
    spelling: str | None = None,
    multi_output: bool = False,
    pure: bool = True,
    count: Callable[..., int] | None = None,
) -> Callable[[Callable[..., Any]], OpDef]:
    """Decorator that registers the decorated NumPy reference as op ``name``.

    Examples
    --------
    >>> import numpy as np
    >>> from ir.ops import get_op
    >>> get_op("exp").impl(np.zeros(2))
    array([1., 1.])
    """
    numpy_fns = tuple(numpy) if isinstance(numpy, (tuple, list)) else ((numpy,) if numpy else ())
    method_names = (methods,) if isinstance(methods, str) else tuple(methods)

    def register(fn: Callable[..., Any]) -> OpDef:
        if name in _OPS:
            raise ValueError(f"op {name!r} is already registered")
        spell = spelling
        if spell is None:
            spell = f"np.{numpy_fns[0].__name__}" if numpy_fns else f"ops.{name}"
        op = OpDef(
            name=name,
            kind=kind,
            impl=fn,
            infer=infer,
            version=version,
            numpy=numpy_fns,
            methods=method_names,
            spelling=spell,
            multi_output=multi_output,
            pure=pure,
            signature=inspect.signature(fn),
            count=count,
        )
        _OPS[name] = op
        for f in numpy_fns:
            _BY_NUMPY[f] = name
        for m in method_names:
            _BY_METHOD[m] = name
        return op

    return register


def get_op(name: str) -> OpDef:
    """The registered op ``name``; ``KeyError`` naming close matches otherwise."""
    try:
        return _OPS[name]
    except KeyError:
        # close names without difflib: loading a hostile file must import nothing
        close = [n for n in sorted(_OPS) if n[:3] == str(name)[:3] or str(name) in n][:3]
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise KeyError(f"unknown op {name!r}{hint}") from None


def has_op(name: str) -> bool:
    return name in _OPS


def all_ops() -> dict[str, OpDef]:
    """Every registered op by name (a copy)."""
    return dict(_OPS)


def op_for_numpy(fn: Any) -> OpDef | None:
    """The op that a NumPy function or ufunc traces to, or ``None``."""
    try:
        name = _BY_NUMPY.get(fn)
    except TypeError:  # unhashable callables
        return None
    return _OPS[name] if name else None


def op_for_method(method: str) -> OpDef | None:
    """The op that ``ndarray.<method>`` traces to, or ``None``."""
    name = _BY_METHOD.get(method)
    return _OPS[name] if name else None


_EMPTY = inspect.Parameter.empty


def defdecomp(*numpy_fns: Callable[..., Any]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorator: the decorated function, written in ordinary NumPy over registered ops, is how
    the NumPy functions ``numpy_fns`` are recorded (as ``jax.numpy`` is written over ``lax``).

    Tracing runs the decomposition on traced values, so the program holds only registered ops;
    ``tracer.script`` runs it the same way on symbolic values.  Use it only where composing the
    primitives gives NumPy's bits; otherwise register an op with the NumPy function as reference.
    """

    def register(fn: Callable[..., Any]) -> Callable[..., Any]:
        for f in numpy_fns:
            if f in _DECOMPOSITIONS or f in _BY_NUMPY:
                raise ValueError(f"{numpy_path(f)} already has an op or a decomposition")
            _DECOMPOSITIONS[f] = fn
        return fn

    return register


def decomposition_for(fn: Any) -> Callable[..., Any] | None:
    """The decomposition registered for the NumPy function ``fn``, or ``None``."""
    try:
        return _DECOMPOSITIONS.get(fn)
    except TypeError:  # unhashable callables
        return None


def numpy_path(fn: Any) -> str:
    """``fn``'s name under ``np``: ``"hstack"``, ``"linalg.norm"``."""
    module = getattr(fn, "__module__", "") or ""
    name = getattr(fn, "__name__", repr(fn))
    return f"linalg.{name}" if module.startswith("numpy.linalg") else name


_SURFACE: tuple[int, dict[str, Any]] = (-1, {})


def numpy_surface() -> dict[str, Any]:
    """Every NumPy function programs may call, by its paths under ``np`` (``"linalg.norm"``),
    aliases included (``"abs"`` and ``"absolute"``): the NumPy functions of registered ops and
    the functions with a decomposition.  This is the closed table the frontend admits; nothing
    else under ``np`` is looked up.

    Aliases come from the attributes NumPy has already set on ``np`` and ``np.linalg`` (their
    ``__dict__``, so no submodule is imported by looking).
    """
    global _SURFACE
    known = (*_BY_NUMPY, *_DECOMPOSITIONS)
    if _SURFACE[0] == len(known):
        return dict(_SURFACE[1])
    import numpy as np

    ids = {id(f): f for f in known}
    surface = {numpy_path(f): f for f in known}
    for prefix, namespace in (("", np), ("linalg.", np.linalg)):
        for name, value in vars(namespace).items():
            if not name.startswith("_") and id(value) in ids and ids[id(value)] is value:
                surface.setdefault(prefix + name, value)
    _SURFACE = (len(known), surface)
    return dict(surface)


def normalize_call(op: OpDef, args: tuple, kwargs: dict[str, Any]) -> tuple[tuple, tuple]:
    """Bind a call to ``op``'s signature in one canonical form.

    Required parameters become positional; parameters with defaults become keywords, left out
    when they equal the default.  Raises ``TypeError`` (from ``inspect``) when the call does not
    fit the signature.
    """
    assert op.signature is not None
    if not kwargs and len(args) == _required_positional(op.signature):
        return tuple(args), ()  # what binding gives: every other parameter left at its default
    bound = op.signature.bind(*args, **kwargs)
    pos: list[Any] = []
    kws: list[tuple[str, Any]] = []
    for pname, param in op.signature.parameters.items():
        if pname not in bound.arguments:
            continue
        value = bound.arguments[pname]
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            pos.extend(value)
        elif param.kind is inspect.Parameter.VAR_KEYWORD:
            kws.extend(sorted(value.items()))
        elif param.default is _EMPTY and param.kind is not inspect.Parameter.KEYWORD_ONLY:
            pos.append(value)
        elif not _same(value, param.default):
            kws.append((pname, value))
    return tuple(pos), tuple(kws)


#: id(signature) -> (signature, n): calls with exactly ``n`` positional arguments and no keywords
#: bind the first ``n`` parameters (all required and positional) and leave every other one at its
#: default (``n`` is -1 when some other parameter is required); ``normalize_call`` skips binding
#: them (``inspect``'s ``bind`` costs microseconds, and loading a program normalizes every call).
_REQUIRED: dict[int, tuple[inspect.Signature, int]] = {}
_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
_VAR = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def _required_positional(sig: inspect.Signature) -> int:
    hit = _REQUIRED.get(id(sig))
    if hit is not None and hit[0] is sig:
        return hit[1]
    params = list(sig.parameters.values())
    n = 0
    while n < len(params) and params[n].kind in _POSITIONAL and params[n].default is _EMPTY:
        n += 1
    if any(p.kind not in _VAR and p.default is _EMPTY for p in params[n:]):
        n = -1
    _REQUIRED[id(sig)] = (sig, n)
    return n


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


class RuleTable:
    """A table of per-op rules filled by a decorator, e.g. numba lowerings or upgraders.

    Examples
    --------
    >>> LOWER = RuleTable("numba lowering")
    >>> @LOWER.register("exp")
    ... def _(node): return "np.exp"
    >>> LOWER.get("exp")(None)
    'np.exp'
    >>> LOWER.get("tanh")
    Traceback (most recent call last):
    ...
    ir.ops.registry.MissingRuleError: op 'tanh' has no entry in the numba lowering table
    """

    def __init__(self, table: str) -> None:
        self.table = table
        self._rules: dict[str, Any] = {}

    def register(self, *names: str) -> Callable[[Any], Any]:
        def deco(rule: Any) -> Any:
            for n in names:
                get_op(n)  # only registered ops get rules
                if n in self._rules:
                    raise ValueError(f"op {n!r} already has an entry in the {self.table} table")
                self._rules[n] = rule
            return rule

        return deco

    def get(self, name: str) -> Any:
        try:
            return self._rules[name]
        except KeyError:
            raise MissingRuleError(f"op {name!r} has no entry in the {self.table} table") from None

    def __contains__(self, name: str) -> bool:
        return name in self._rules
