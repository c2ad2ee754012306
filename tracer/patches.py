"""What ``tracer.trace`` swaps into ``builtins``, ``math`` and ``np`` while ``forward`` runs.

NumPy's dispatch never sees calls whose arguments are not arrays (``np.zeros((n, 4))``,
``np.float32(d)``, ``range(n)``, ``math.sqrt(d)``), nor conversions that return their argument
(``np.asarray(x)``).  The stand-ins installed here record those when a traced value is involved
and call the original otherwise; each keeps the original as ``__wrapped__``.
"""

from __future__ import annotations

import builtins
import contextlib
import math
import operator
import os
import sys
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from ir.ops import decomposition_for, get_op, op_for_numpy
from ir.ops.scalar import MATH_FUNCTIONS

from . import _state
from .proxy import Proxy

__all__ = ["TracedRange", "patched_namespaces"]

_REAL_RANGE = builtins.range

_PACKAGE_DIRS = tuple(
    os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), pkg) + os.sep
    for pkg in ("tracer", "ir", "runtime", "codegen")
) + (os.path.dirname(np.__file__) + os.sep,)


def _contains_proxy(value: Any) -> bool:
    if isinstance(value, Proxy):
        return True
    if isinstance(value, (tuple, list)):
        return any(_contains_proxy(v) for v in value)
    if isinstance(value, dict):
        return any(_contains_proxy(v) for v in value.values())
    return False


def _is(value: Any, n: int) -> bool:
    return not isinstance(value, Proxy) and value == n


# -- range ------------------------------------------------------------------------------------------
class TracedRange:
    """``range(n)`` of a traced size: ``np.arange`` when used as an index, baked (with a guard
    that checks the size when the program runs) when iterated or measured."""

    def __init__(self, *args: Any) -> None:
        if not 1 <= len(args) <= 3:
            raise TypeError(f"range expected 1 to 3 arguments, got {len(args)}")
        start, stop, step = (0, args[0], 1) if len(args) == 1 else (*args, 1)[:3]
        self.start, self.stop, self.step = start, stop, step

    def baked(self, what: str = "range() of a traced size") -> range:
        parts = [p._tracer.bake(p, what, operator.index) if isinstance(p, Proxy) else p
                 for p in (self.start, self.stop, self.step)]
        return _REAL_RANGE(*parts)

    def arange(self) -> Any:
        """The same integers as a traced ``np.arange`` (what NumPy makes of a range index)."""
        tracer = _state.current()
        args = (self.stop,) if _is(self.start, 0) and _is(self.step, 1) else (self.start, self.stop, self.step)
        return tracer.record_call(get_op("arange"), args, {})

    def __iter__(self) -> Iterator[int]:
        return iter(self.baked())

    def __reversed__(self) -> Iterator[int]:
        return reversed(self.baked())

    def __len__(self) -> int:
        return len(self.baked())

    def __getitem__(self, i: Any) -> Any:
        return self.baked()[i]

    def __contains__(self, v: Any) -> bool:
        return v in self.baked()

    def __repr__(self) -> str:
        return f"range({self.start!r}, {self.stop!r}, {self.step!r})"


class _RangeType(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, (_REAL_RANGE, TracedRange))

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, (_REAL_RANGE, TracedRange))

    def __call__(cls, *args: Any) -> Any:
        if any(isinstance(a, Proxy) for a in args):
            return TracedRange(*args)
        return _REAL_RANGE(*args)


class _Range(metaclass=_RangeType):
    """``range`` while tracing: a real ``range`` unless an argument is traced."""

    __wrapped__ = _REAL_RANGE


# -- process-wide patches active while tracing ---------------------------------------------------
#: NumPy functions that take no array argument (so NumPy's dispatch never sees a traced size):
#: while tracing, the ``np`` namespace holds wrappers that record them when an argument is traced.
CREATION_FUNCTIONS = ("zeros", "ones", "full", "empty", "arange", "eye", "identity", "tri", "linspace")


#: Arrays made in forward with these functions are traced values even when their sizes are
#: constants, so that traced values can be written into them (``z = np.zeros((n, V)); z[i] = v``).
WRITABLE_FUNCTIONS = ("zeros", "ones", "full", "empty", "zeros_like", "ones_like", "full_like", "empty_like")


def _fresh_array(tracer: Any, original: Callable[..., Any], args: tuple, kwargs: dict) -> Any:
    """``np.zeros((2, 3))`` & co. with constant arguments, recorded as a constant-origin traced array."""
    name = original.__name__.removesuffix("_like")
    if name != original.__name__:  # zeros_like(a, dtype=None), full_like(a, fill_value, dtype=None)
        if not args or not isinstance(args[0], np.ndarray) or kwargs.get("shape") is not None \
                or kwargs.get("subok", True) is not True:
            return original(*args, **kwargs)
        a, rest, kwargs = args[0], list(args[1:]), dict(kwargs)
        kwargs.pop("subok", None)
        fill = (rest.pop(0) if rest else kwargs.pop("fill_value"),) if name == "full" else ()
        dtype = rest.pop(0) if rest else kwargs.pop("dtype", None)
        args, kwargs["dtype"] = (a.shape, *fill), a.dtype if dtype is None else dtype
    if name == "empty":  # NumPy leaves the values undefined; zeros are one choice of them
        name = "zeros"
    kwargs = {k: v for k, v in kwargs.items() if not (k == "order" and v in ("C", "K"))}
    result = tracer.record_call(get_op(name), args, kwargs, record=True)
    result._origin = "const"
    return result


def _creation_patch(original: Callable[..., Any]) -> Callable[..., Any]:
    def patched(*args: Any, **kwargs: Any) -> Any:
        tracer = _state.current()
        if tracer is not None and tracer.concrete and not _contains_proxy((args, kwargs)) \
                and not sys._getframe(1).f_code.co_filename.startswith(_PACKAGE_DIRS):  # user code only
            if original.__name__ in WRITABLE_FUNCTIONS:
                return _fresh_array(tracer, original, args, kwargs)
            value = original(*args, **kwargs)  # np.eye(3), np.arange(10): constants, traced so that
            return tracer.constant(value) if isinstance(value, np.ndarray) else value  # np.eye(3)[ids] works
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


#: Functions whose first argument is often a list or tuple holding traced values
#: (``np.prod(x.shape)``, ``np.max([a, b])``): NumPy's dispatch looks only at the sequence itself.
SEQUENCE_FUNCTIONS = ("sum", "prod", "max", "min", "amax", "amin", "mean", "cumsum", "cumprod")


def _sequence_patch(original: Callable[..., Any]) -> Callable[..., Any]:
    def patched(a: Any, *args: Any, **kwargs: Any) -> Any:
        if isinstance(a, (list, tuple)) and _state.current() is not None and _contains_proxy(a):
            a = _as_traced(a)  # np.stack of the elements, as NumPy makes one array of them
        return original(a, *args, **kwargs)

    patched.__wrapped__ = original  # type: ignore[attr-defined]
    patched.__name__ = original.__name__
    return patched


@contextlib.contextmanager
def _patched() -> Iterator[None]:
    names = dict.fromkeys((*CREATION_FUNCTIONS, *WRITABLE_FUNCTIONS))
    saved = {name: getattr(np, name) for name in (*names, *SEQUENCE_FUNCTIONS)}
    try:
        for name in names:
            setattr(np, name, _creation_patch(saved[name]))
        for name in SEQUENCE_FUNCTIONS:
            setattr(np, name, _sequence_patch(saved[name]))
        builtins.len = _traced_len
        yield
    finally:
        builtins.len = _ORIGINAL_LEN
        for name, fn in saved.items():
            setattr(np, name, fn)


# -- NumPy scalar types: np.float32(d) ---------------------------------------------------------------
class _ScalarType(type):
    """Stands in for ``np.float32`` & co.: calls of traced values are recorded; ``isinstance``,
    ``dtype=np.float32`` and ``x.dtype == np.float32`` keep working."""

    def __instancecheck__(cls, obj: Any) -> bool:
        return isinstance(obj, cls.__wrapped__)

    def __subclasscheck__(cls, sub: type) -> bool:
        return issubclass(sub, cls.__wrapped__)

    def __eq__(cls, other: Any) -> bool:
        return other is cls or other is cls.__wrapped__

    def __hash__(cls) -> int:
        return hash(cls.__wrapped__)

    def __repr__(cls) -> str:
        return repr(cls.__wrapped__)

    def __call__(cls, *args: Any, **kwargs: Any) -> Any:
        tracer = _state.current()
        if tracer is not None and len(args) == 1 and not kwargs and isinstance(args[0], Proxy):
            return tracer.record_call(get_op("cast_scalar"), (args[0], cls._dtype), {})
        return cls.__wrapped__(*args, **kwargs)


#: NumPy scalar types whose constructor records on traced values.
SCALAR_TYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8", "uint16",
                "uint32", "uint64", "intp", "bool_", "double", "single")


def _scalar_standin(t: type) -> type:
    # a subclass, so issubclass(np.float32, np.floating) and np.dtype(np.float32) hold as they do
    return _ScalarType(t.__name__, (t,), {"__wrapped__": t, "_dtype": np.dtype(t), "__doc__": t.__doc__,
                                          "__module__": t.__module__})


# -- math.sqrt(d) ------------------------------------------------------------------------------------
def _math_patch(name: str) -> Callable[..., Any]:
    original = getattr(math, name)

    def patched(x: Any) -> Any:
        tracer = _state.current()
        if tracer is not None and isinstance(x, Proxy) and not isinstance(x._value, (np.ndarray, np.generic)):
            return tracer.record_call(get_op("pymath"), (x,), {"fn": name})
        return original(x)

    patched.__wrapped__ = original  # type: ignore[attr-defined]
    patched.__name__ = name
    return patched


# -- np.asarray(x) and friends -----------------------------------------------------------------------
def _as_traced(a: Any) -> Any:
    """A list/tuple holding traced values as one traced array (``np.stack``, like ``np.array``)."""
    if isinstance(a, TracedRange):
        return a.arange()
    if isinstance(a, (list, tuple)) and _contains_proxy(a):
        return np.stack([_as_traced(x) for x in a])
    return a


def _asarray_patch(original: Callable[..., Any], contiguous: bool = False, copy_default: bool | None = None):
    def patched(a: Any, dtype: Any = None, *args: Any, **kwargs: Any) -> Any:
        tracer = _state.current()
        if tracer is None or not (isinstance(a, TracedRange) or _contains_proxy(a)):
            return original(a, dtype, *args, **kwargs)
        fresh = not isinstance(a, Proxy)
        a = _as_traced(a)
        if not isinstance(a._value, (np.ndarray, np.generic)):  # a size: NumPy makes a 0-d array of it
            kind = np.asarray(a._value).dtype if dtype is None else np.dtype(dtype)
            a, fresh, dtype = tracer.record_call(get_op("cast_scalar"), (a, kind), {}), True, None
        copy = kwargs.pop("copy", copy_default)
        ndmin = kwargs.pop("ndmin", 0)
        order = kwargs.pop("order", args[0] if args else None)
        if kwargs.pop("like", None) is not None or kwargs.pop("subok", False) or kwargs:
            raise tracer.error(f"np.{original.__name__}(...) with {', '.join(kwargs) or 'like/subok'} is "
                               "not supported on traced arrays; call it with the array and dtype only")
        if dtype is not None and np.dtype(dtype) != a.dtype:
            a, fresh = a.astype(dtype), True
        needs_copy = order in ("F",) or (contiguous or order == "C") and not a._value.flags.c_contiguous
        if needs_copy and copy is False:
            raise ValueError("Unable to avoid copy while creating an array as requested.")
        if not fresh and (copy or needs_copy):
            a = a.copy()
        if ndmin > a.ndim:
            a = a.reshape((1,) * (ndmin - a.ndim) + tuple(a.shape))
        return a

    patched.__wrapped__ = original  # type: ignore[attr-defined]
    patched.__name__ = original.__name__
    return patched


ASARRAY_FUNCTIONS = {"asarray": (False, None), "asanyarray": (False, None), "array": (False, True),
                     "ascontiguousarray": (True, None)}


@contextlib.contextmanager
def patched_namespaces() -> Iterator[None]:
    """Install the stand-ins of this module (restored on exit)."""
    saved_np = {name: getattr(np, name) for name in (*SCALAR_TYPES, *ASARRAY_FUNCTIONS)}
    saved_math = {name: getattr(math, name) for name in MATH_FUNCTIONS}
    try:
        for name in SCALAR_TYPES:
            setattr(np, name, _scalar_standin(saved_np[name]))
        for name, (contiguous, copy) in ASARRAY_FUNCTIONS.items():
            setattr(np, name, _asarray_patch(saved_np[name], contiguous, copy))
        for name in MATH_FUNCTIONS:
            setattr(math, name, _math_patch(name))
        builtins.range = _Range  # type: ignore[misc]
        yield
    finally:
        builtins.range = _REAL_RANGE  # type: ignore[misc]
        for name, fn in saved_math.items():
            setattr(math, name, fn)
        for name, fn in saved_np.items():
            setattr(np, name, fn)
