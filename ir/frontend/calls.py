"""Calls: to ops, NumPy functions, builtins, array methods, and whatever the resolver knows.

:meth:`_Calls.call` tries, in order, an array method, an op, a call the compiler handles itself
(the tables below: builtins such as ``len``/``range``/``isinstance`` and NumPy functions such as
``np.shape`` that are evaluated while compiling), a NumPy function with a registered op, a NumPy
scalar type, and last the :class:`~ir.frontend.compiler.Resolver` (methods and functions of the
user's code).
"""

from __future__ import annotations

import ast
import operator
from typing import TYPE_CHECKING, Any

import numpy as np

from ..builder import Value
from ..errors import ScriptError
from ..ops import OpDef, get_op, op_for_method, op_for_numpy
from ..types import DictType, ListType, ScalarType, TensorType, TupleType
from .container_calls import CONTAINER_BUILTINS, _ContainerMethod
from .containers import _contains_value, is_runtime
from .lambdas import Lambda, call_lambda, static_map
from .numpy_table import checked_dtype
from .ufunc_calls import ufunc_call, ufunc_method, ufunc_method_call
from .values import _STATIC_NUMBERS

if TYPE_CHECKING:
    from .compiler import Compiler


class _Method:
    """``value.name`` for a method of an array, before it is called."""

    def __init__(self, value: Value, name: str) -> None:
        self.value = value
        self.name = name


#: The builtins a program may name (each is called through ``_BUILTIN_CALLS`` below).
_SAFE_BUILTINS = {"range", "len", "int", "float", "bool", "abs", "min", "max", "isinstance", "tuple", "map",
                  "enumerate", "zip", "reversed", "list", "print", "slice", "dict", "sum", "str"}


class _Calls:
    """Calls; mixed into :class:`~ir.frontend.compiler.Compiler`."""

    def _e_Call(self, e: ast.Call) -> Any:
        callee = self.expr(e.func)
        args: list[Any] = []
        for a in e.args:
            if isinstance(a, ast.Starred):  # f(*xs): a sequence known while compiling
                args.extend(self._star_items(self.expr(a.value), a))
            else:
                args.append(self.expr(a))
        kwargs: dict[str, Any] = {}
        for kw in e.keywords:
            if kw.arg is not None:
                items = [(kw.arg, self.expr(kw.value))]
            else:  # f(**opts): a dict known while compiling
                opts = self.expr(kw.value)
                if not isinstance(opts, dict) or not all(isinstance(k, str) for k in opts):
                    raise self.error(kw.value, f"**{type(opts).__name__}: keyword arguments must come from a dict "
                                     "with str keys known while compiling", "pass the arguments by name")
                items = list(opts.items())
            for key, value in items:
                if key in kwargs:
                    raise self.error(e, f"the call got multiple values for keyword argument {key!r}")
                kwargs[key] = value
        return self.call(callee, args, kwargs, e)

    def _star_items(self, seq: Any, node: ast.AST) -> list[Any]:
        """The items of ``*seq`` in a call: a tuple or list, a tuple-typed value, or an array whose
        first dimension is known."""
        if isinstance(seq, (tuple, list, range)):
            self.budget.check_length(len(seq), node)
            return list(seq)
        if isinstance(seq, Value):
            t = seq.type
            n = len(t.elements) if isinstance(t, TupleType) else \
                (t.shape[0] if isinstance(t, TensorType) and t.shape and isinstance(t.shape[0], int) else None)
            if n is not None:
                self.budget.check_length(n, node)
                return self.unpack(seq, n, node)
        raise self.error(node, f"*args of a {type(seq).__name__ if not isinstance(seq, Value) else seq.type} "
                         "whose length is not known while compiling", "pass a tuple or a list")

    def call(self, callee: Any, args: list, kwargs: dict, e: ast.AST) -> Any:
        if isinstance(callee, Lambda):  # lambdas.py
            return call_lambda(self, callee, args, kwargs, e)
        if isinstance(callee, _ContainerMethod):  # l.append(v), d.get(k) (container_calls.py)
            return self.container_method(callee, args, kwargs, e)
        if args and is_runtime(args[0]):  # np.stack(l) of a list built when the program runs
            hit = self.list_function(callee, args, kwargs, e)
            if hit is not NotImplemented:
                return hit
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
        if isinstance(callee, np.ufunc) and kwargs:  # np.divide(a, b, dtype=np.float32) (ufunc_calls.py)
            return ufunc_call(self, callee, args, kwargs, e)
        method = ufunc_method(callee)
        if method is not None:  # np.add.reduce(x, axis=1)
            return ufunc_method_call(self, *method, args, kwargs, e)
        op = op_for_numpy(callee)
        if op is not None:
            return self.emit(op, tuple(args), kwargs, e)
        if isinstance(callee, type) and issubclass(callee, np.generic) and not kwargs and len(args) == 1 \
                and isinstance(args[0], _STATIC_NUMBERS):
            return callee(args[0])  # np.float32(0.5): a typed constant
        if isinstance(callee, type) and issubclass(callee, np.generic) and not kwargs and len(args) == 1 \
                and isinstance(args[0], Value) and callee is not np.generic:
            return self.emit(get_op("cast_scalar"), (args[0], np.dtype(callee)), {}, e)  # np.float32(d ** 0.5)
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


# -- calls the compiler handles itself ---------------------------------------------------------------
def _reshape(c: Compiler, v: Value, args: list, kwargs: dict, e: ast.AST) -> Any:
    if kwargs:
        raise c.error(e, "reshape() keywords are not supported", "pass the shape positionally")
    shape = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else tuple(args)
    return c.emit(get_op("reshape"), (v, shape), {}, e)


def _transpose(c: Compiler, v: Value, args: list, kwargs: dict, e: ast.AST) -> Any:
    axes = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else (tuple(args) if args else None)
    return c.emit(get_op("transpose"), (v, axes), {}, e)


def _astype(c: Compiler, v: Value, args: list, kwargs: dict, e: ast.AST) -> Any:
    kwargs.pop("copy", None)
    return c.emit(get_op("astype"), (v, *args), kwargs, e)


def _copy(c: Compiler, v: Value, args: list, kwargs: dict, e: ast.AST) -> Any:
    return c.emit(get_op("copy"), (v,), {}, e)  # another array: writing into it leaves v as it was


def _item(c: Compiler, v: Value, args: list, kwargs: dict, e: ast.AST) -> Any:
    kind = v.type.dtype.kind if isinstance(v.type, TensorType) and v.type.dtype is not None else "f"
    op = "to_bool" if kind == "b" else ("to_int" if kind in "iu" else "to_float")
    return c.emit(get_op(op), (v,), {}, e)


_VALUE_METHODS = {"reshape": _reshape, "transpose": _transpose, "astype": _astype, "copy": _copy, "item": _item}


def _len(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    (x,) = args
    if is_runtime(x):  # a list or dict known only when the program runs
        return c.container_len(x, e)
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


def _runtime_classes(t: Any) -> tuple[type, ...] | None:
    """The Python classes a value of IR type ``t`` may have when the program runs (None: unknown).

    An array of rank 0 may be an array or a NumPy scalar (``x.sum()`` is one in eager NumPy); a
    ``tuple[...]``/``list[...]`` argument may be either (programs keep no difference)."""
    if isinstance(t, TensorType):
        if t.rank != 0:  # an array argument of unknown rank is taken to be an array
            return (np.ndarray,)
        return (np.ndarray, t.dtype.type if t.dtype is not None else np.generic)
    if isinstance(t, ScalarType):
        return ({"int": int, "float": float, "bool": bool, "none": type(None)}[t.kind],)
    if isinstance(t, TupleType):
        return (tuple, list)
    if isinstance(t, (ListType, DictType)):  # built when the program runs (ir/ops/lists.py)
        return (list,) if isinstance(t, ListType) else (dict,)
    return None


def _isinstance(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    """``isinstance`` decided while compiling: on static values as Python does, on IR values by
    their type (an ``Optional`` argument only against ``type(None)``, as ``x is None``)."""
    if len(args) != 2 or kwargs:
        raise c.error(e, "isinstance() takes two arguments")
    obj, cls = args
    classes = cls if isinstance(cls, tuple) else (cls,)
    if not all(isinstance(k, type) for k in classes):
        raise c.error(e, f"isinstance() against {cls!r}", "name classes: np.ndarray, int, float, bool, tuple, ...")
    if not isinstance(obj, Value):
        try:
            return isinstance(obj, classes)
        except TypeError as exc:
            raise c.error(e, f"isinstance() fails: {exc}") from None
    possible = _runtime_classes(obj.type)
    if possible is None:
        if classes and all(k is type(None) for k in classes):
            return c.emit(get_op("is_none"), (obj,), {}, e)
        raise c.error(e, f"isinstance() of a value whose type is known only when the program runs ({obj.type})",
                      "an Optional argument is None or not: test 'x is None' or 'x is not None'")
    answers = {any(issubclass(p, k) for k in classes) for p in possible}
    if len(answers) > 1:
        names = " or ".join(p.__name__ for p in possible)
        raise c.error(e, f"isinstance() cannot be decided while compiling: the value ({obj.type}) may be a {names} "
                      "when the program runs", "test against all of them, e.g. isinstance(x, (tuple, list))")
    return answers.pop()


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


def _range(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    """``range(...)``: a tuple when its bounds are known while compiling; else, outside a ``for``
    (which loops over it), the integers it holds as ``np.arange`` (``x[idx, range(n)]``)."""
    if not kwargs and 1 <= len(args) <= 3 and _contains_value(args):
        return c.emit(get_op("arange"), tuple(args), {}, e)
    return _static_only(range)(c, args, kwargs, e)


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
    range: _range, print: _print, slice: _slice, map: static_map,
}
_BUILTIN_CALLS.update(CONTAINER_BUILTINS)  # tuple, list, dict, zip, enumerate, ... of containers


def _np_shape(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    return c.attribute(args[0], "shape", e) if isinstance(args[0], Value) else np.shape(args[0])


def _np_ndim(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    return c.attribute(args[0], "ndim", e) if isinstance(args[0], Value) else np.ndim(args[0])


def _np_dtype(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    if _contains_value(args):
        raise c.error(e, "np.dtype() of a value computed at run time", "use x.dtype")
    return checked_dtype(c, args, kwargs, e)


_NUMPY_SPECIAL: dict[Any, Any] = {np.shape: _np_shape, np.ndim: _np_ndim, np.dtype: _np_dtype}
