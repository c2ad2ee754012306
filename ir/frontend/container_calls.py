"""Methods, builtins and NumPy functions of lists and dicts.

``l.append(v)``, ``d.get(k)``, ``len(l)``, ``list(...)``, ``zip``/``enumerate``, ``sum`` and
``np.stack(l)``: on a static container (:class:`~.container_values.PyList`/``PyDict``) they are
evaluated while compiling; on a list or dict known only when the program runs they are the ops of
:mod:`ir.ops.lists`.  A method that changes its container builds a new one and rebinds its holder
(:meth:`~.container_items._ContainerItems.mutate`).
"""

from __future__ import annotations

import ast
import builtins
from typing import TYPE_CHECKING, Any

import numpy as np

from ..builder import Value
from ..ops import get_op
from ..types import DictType, ListType, TensorType, TupleType
from .container_values import (
    PyDict,
    PyList,
    _contains_value,
    is_dict,
    is_list,
    is_runtime,
    keys_of,
    static_items,
)

if TYPE_CHECKING:
    from .compiler import Compiler


class _ContainerMethod:
    """``container.name`` before it is called."""

    def __init__(self, obj: Any, name: str) -> None:
        self.obj, self.name = obj, name


_LIST_METHODS = frozenset({"append", "extend", "insert", "pop", "copy", "clear", "index", "count", "reverse"})
_DICT_METHODS = frozenset({"get", "items", "keys", "values", "pop", "update", "copy", "setdefault", "clear"})
#: Methods that change their container (a loop whose body calls one carries the container).
MUTATORS = frozenset({"append", "extend", "insert", "pop", "clear", "reverse", "update", "setdefault"})


class _ContainerCalls:
    """Methods, builtins and NumPy functions of containers; mixed into the compiler."""

    def container_attribute(self, obj: Any, name: str, e: ast.AST) -> Any:
        allowed = _LIST_METHODS if is_list(obj) else _DICT_METHODS
        if name not in allowed:
            kind = "list" if is_list(obj) else "dict"
            raise self.error(e, f"{kind}s have no method {name!r} in programs",
                             f"use one of {', '.join(sorted(allowed))}")
        return _ContainerMethod(obj, name)

    def container_method(self, m: _ContainerMethod, args: list, kwargs: dict, e: ast.AST) -> Any:
        if kwargs:
            raise self.error(e, f"keyword arguments to {m.name}()", "pass them positionally")
        obj, name = m.obj, m.name
        if is_list(obj):
            return self._list_method(obj, name, args, e)
        return self._dict_method(obj, name, args, e)

    def _arity(self, name: str, args: list, lo: int, hi: int, e: ast.AST) -> None:
        if not lo <= len(args) <= hi:
            want = str(lo) if lo == hi else f"{lo} to {hi}"
            raise self.error(e, f"{name}() takes {want} arguments here, got {len(args)}")

    def _list_method(self, obj: Any, name: str, args: list, e: ast.AST) -> Any:
        static = isinstance(obj, PyList)
        if name == "append":
            self._arity(name, args, 1, 1, e)
            if static:
                self.budget.spend_work(len(obj), e)
                new = PyList((*obj, args[0]))
            else:
                new = self.emit(get_op("list_append"), (obj, self._plain(args[0], e)), {}, e)
            self.mutate(obj, new, e)
            return None
        if name == "extend":
            self._arity(name, args, 1, 1, e)
            self.mutate(obj, self.list_extend(obj, args[0], e), e)
            return None
        if name == "insert":
            self._arity(name, args, 2, 2, e)
            index, value = args
            if static and not isinstance(index, Value):
                items = list(obj)
                items.insert(index, value)
                new = PyList(items)
            else:
                new = self.emit(get_op("list_insert"), (self.container_value(obj, e), index, self._plain(value, e)),
                                {}, e)
            self.mutate(obj, new, e)
            return None
        if name == "pop":
            self._arity(name, args, 0, 1, e)
            index = args[0] if args else -1
            if static and not isinstance(index, Value):
                items = list(obj)
                try:
                    item = items.pop(index)
                except (IndexError, TypeError) as exc:
                    raise self.error(e, f"pop(): {exc}") from None
                self.mutate(obj, PyList(items), e)
                return item
            new, item = self.emit(get_op("list_pop"), (self.container_value(obj, e), index), {}, e)
            self.mutate(obj, new, e)
            return item
        if name == "copy":
            self._arity(name, args, 0, 0, e)
            return self.list_copy(obj, e)
        if name == "clear":
            self._arity(name, args, 0, 0, e)
            self.mutate(obj, PyList(), e)
            return None
        if not static:
            raise self.error(e, f"{name}() of a list whose length is known only when the program runs",
                             "loop over range(len(l)) and compare the items")
        if name == "reverse":
            self._arity(name, args, 0, 0, e)
            self.mutate(obj, PyList(obj[::-1]), e)
            return None
        self._arity(name, args, 1, 1, e)  # index, count
        if _contains_value(obj) or _contains_value(args):
            raise self.error(e, f"{name}() on values computed at run time", "compare the items with ==")
        try:
            return getattr(list(obj), name)(args[0])
        except ValueError as exc:
            raise self.error(e, f"{name}(): {exc}") from None

    def _dict_method(self, obj: Any, name: str, args: list, e: ast.AST) -> Any:
        if name == "get":
            self._arity(name, args, 1, 2, e)
            key = self.dict_key(args[0], e)
            default = args[1] if len(args) > 1 else None
            keys = keys_of(obj)
            if keys is not None and not isinstance(key, Value):
                if key in keys:
                    return self.container_getitem(obj, key, e)
                self.keyed(obj, e)  # the program relies on the key being absent
                return default
            return self.emit(get_op("dict_get"), (self.container_value(obj, e), key, self._plain(default, e)), {}, e)
        if isinstance(obj, Value) and keys_of(obj) is not None:  # keys known: work on its entries
            checked = self.keyed(obj, e)[0]
            view = self.dict_view(checked, e)
            if name in ("pop", "setdefault", "update", "clear"):
                self.mutate(checked, view, e)
            obj = view
        static = isinstance(obj, PyDict)
        if name in ("keys", "values", "items"):
            self._arity(name, args, 0, 0, e)
            if static:
                if name == "keys":
                    return PyList(obj)
                if name == "values":
                    return PyList(obj.values())
                return PyList(obj.items())
            if name == "items":
                raise self.error(e, "items() of a dict whose keys are known only when the program runs",
                                 "loop over its keys() and index it, or pass example_inputs so its keys are known")
            return self.emit(get_op(f"dict_{name}"), (obj,), {}, e)
        if name == "copy":
            self._arity(name, args, 0, 0, e)
            return PyDict(obj) if static else self.emit(get_op("dict_copy"), (obj,), {}, e)
        if name == "update":
            self._arity(name, args, 1, 1, e)
            self.mutate(obj, self.dict_update(obj, args[0], e), e)
            return None
        if name == "clear":
            self._arity(name, args, 0, 0, e)
            self.mutate(obj, PyDict(), e)
            return None
        if not static:
            raise self.error(e, f"{name}() of a dict whose keys are known only when the program runs",
                             "use d.get(key, default) and d[key] = value")
        if name == "pop":
            self._arity(name, args, 1, 2, e)
            key = self.dict_key(args[0], e)
            if isinstance(key, Value):
                raise self.error(e, "pop() with a key computed at run time", "use a constant key")
            if key not in obj and len(args) == 1:
                raise self.error(e, f"pop(): the dict has no key {key!r}")
            items = dict(obj)
            item = items.pop(key, args[1] if len(args) > 1 else None)
            self.mutate(obj, PyDict(items), e)
            return item
        self._arity(name, args, 1, 2, e)  # setdefault
        key = self.dict_key(args[0], e)
        if isinstance(key, Value):
            raise self.error(e, "setdefault() with a key computed at run time", "use a constant key")
        if key in obj:
            return obj[key]
        value = args[1] if len(args) > 1 else None
        self.mutate(obj, self.dict_set(obj, key, value, e), e)
        return value

    # -- helpers shared with operators --------------------------------------------------------------
    def list_extend(self, obj: Any, other: Any, e: ast.AST) -> Any:
        """``obj + list(other)`` (a new list)."""
        items = self.static_iterable(other, e)
        if isinstance(obj, PyList) and items is not None:
            self.budget.check_length(len(obj) + len(items), e)
            return PyList((*obj, *items))
        lst = self.container_value(obj, e)
        if items is not None:
            return self.emit(get_op("list_extend"), (lst, tuple(self._plain(x, e) for x in items)), {}, e)
        if is_list(other):
            return self.emit(get_op("list_extend"), (lst, self.container_value(other, e)), {}, e)
        raise self.error(e, f"extending a list with a {type(other).__name__}", "extend it with a list or tuple")

    def list_copy(self, obj: Any, e: ast.AST) -> Any:
        if isinstance(obj, PyList):
            return PyList(obj)
        return self.emit(get_op("list_getitem"), (obj, slice(None)), {}, e)

    def dict_update(self, obj: Any, other: Any, e: ast.AST) -> Any:
        other = self.dict_view(other, e)
        if isinstance(other, PyDict):
            for k, v in other.items():
                obj = self.dict_set(obj, k, v, e)
            return obj
        if isinstance(other, (tuple, PyList)):
            for pair in self.static_iterable(other):
                k, v = self.unpack(pair, 2, e)
                obj = self.dict_set(obj, self.dict_key(k, e), v, e)
            return obj
        raise self.error(e, "updating a dict with a dict whose keys are known only when the program runs",
                         "set its entries one by one")

    def static_iterable(self, v: Any, e: ast.AST | None = None) -> list | None:
        """The items of ``v`` when they are known while compiling (a dict's keys), else None."""
        if isinstance(v, Value) and keys_of(v) is not None:
            return self.keyed(v, e)[1]
        if isinstance(v, Value) and isinstance(v.type, TupleType):  # a tuple or list argument
            return self.unpack(v, len(v.type.elements), e)
        return static_items(v)

    def iterate(self, v: Any, e: ast.AST) -> list:
        """The items of ``v``, which must be known while compiling."""
        items = self.static_iterable(v, e)
        if items is not None:
            return items
        if is_runtime(v):
            raise self.error(e, "iterating a list or dict whose length is known only when the program runs here",
                             "loop over it with a for statement, or over range(len(l))")
        if isinstance(v, Value):
            raise self.error(e, "iterating an array here", "loop over range(x.shape[0]) and index it")
        raise self.error(e, f"iterating a {type(v).__name__}")

    # -- NumPy functions of run-time lists -----------------------------------------------------------
    def list_function(self, callee: Any, args: list, kwargs: dict, e: ast.AST) -> Any:
        """``np.stack(l)``, ``np.concatenate(l)``, ``np.hstack(l)``, ``np.vstack(l)`` of a run-time list,
        else NotImplemented."""
        if not args or not is_runtime(args[0]) or not isinstance(args[0].type, ListType):
            return NotImplemented
        lst, rest = args[0], list(args[1:])
        if callee in (np.stack, np.concatenate):
            if len(rest) > 1 or set(kwargs) - {"axis"}:
                raise self.error(e, f"np.{callee.__name__}() of a list built when the program runs takes only an axis")
            axis = rest[0] if rest else kwargs.get("axis", 0)
            op = "list_stack" if callee is np.stack else "list_concatenate"
            return self.emit(get_op(op), (lst, axis), {}, e)
        if callee in (np.hstack, np.vstack):
            if rest or kwargs:
                raise self.error(e, f"np.{callee.__name__}() of a list built when the program runs takes no options")
            t = lst.type.element
            rank = t.rank if isinstance(t, TensorType) else None
            if rank is None or rank == 0:
                raise self.error(e, f"np.{callee.__name__}() of a list of arrays whose rank is unknown",
                                 "use np.concatenate(l, axis=...) or np.stack(l, axis=...)")
            if callee is np.hstack:
                return self.emit(get_op("list_concatenate"), (lst, 0 if rank == 1 else 1), {}, e)
            op = "list_stack" if rank == 1 else "list_concatenate"
            return self.emit(get_op(op), (lst, 0), {}, e)
        if (getattr(callee, "__module__", "") or "").startswith("numpy") or isinstance(callee, np.ufunc):
            raise self.error(e, f"np.{getattr(callee, '__name__', '?')}() of a list whose length is known only when "
                             "the program runs", "np.stack or np.concatenate it first, or loop over it")
        return NotImplemented


# -- builtins ----------------------------------------------------------------------------------------
def _one(c: Compiler, name: str, args: list, kwargs: dict, e: ast.AST) -> Any:
    if kwargs or len(args) > 1:
        raise c.error(e, f"{name}() takes at most one positional argument here")
    return args[0] if args else ()


def _list(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    x = _one(c, "list", args, kwargs, e)
    if is_list(x) and is_runtime(x):
        return c.list_copy(x, e)
    if is_runtime(x) and keys_of(x) is None:  # a dict: its keys
        return c.emit(get_op("dict_keys"), (x,), {}, e)
    return PyList(c.iterate(x, e))


def _tuple(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    x = _one(c, "tuple", args, kwargs, e)
    return tuple(c.iterate(x, e))


def _dict(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    if len(args) > 1:
        raise c.error(e, "dict() takes at most one positional argument")
    result: Any = PyDict()
    if args:
        src = args[0]
        if is_runtime(src) and is_dict(src):
            result = c.emit(get_op("dict_copy"), (src,), {}, e)
        else:
            result = c.dict_update(result, src, e)
    for k, v in kwargs.items():
        result = c.dict_set(result, k, v, e)
    return result


def _zip(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    if kwargs:
        raise c.error(e, "zip() keywords are not supported")
    columns = [c.iterate(a, e) for a in args]
    return tuple(zip(*columns))


def _enumerate(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    if not 1 <= len(args) <= 2 or set(kwargs) - {"start"}:
        raise c.error(e, "enumerate() takes an iterable and a start")
    start = args[1] if len(args) > 1 else kwargs.get("start", 0)
    if isinstance(start, Value):
        raise c.error(e, "enumerate() with a start computed at run time")
    return tuple(enumerate(c.iterate(args[0], e), start))


def _reversed(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    x = _one(c, "reversed", args, kwargs, e)
    if isinstance(x, range):
        return tuple(reversed(x))
    return tuple(reversed(c.iterate(x, e)))


def _sum(c: Compiler, args: list, kwargs: dict, e: ast.AST) -> Any:
    if not 1 <= len(args) <= 2 or set(kwargs) - {"start"}:
        raise c.error(e, "sum() takes an iterable and a start")
    if isinstance(args[0], Value) and isinstance(args[0].type, TensorType):
        raise c.error(e, "sum() of an array", "use x.sum(axis=0) or np.sum(x, axis=0)")
    total = args[1] if len(args) > 1 else kwargs.get("start", 0)
    for item in c.iterate(args[0], e):
        total = c.binop(ast.Add, total, item, e)
    return total


#: Builtins of containers (``tuple``/``list``/``zip``/... accept values computed at run time).
CONTAINER_BUILTINS: dict[Any, Any] = {
    builtins.list: _list, builtins.tuple: _tuple, builtins.dict: _dict, builtins.zip: _zip,
    builtins.enumerate: _enumerate, builtins.reversed: _reversed, builtins.sum: _sum,
}

#: Container types in type annotations (``list[np.ndarray]``, ``dict[str, np.ndarray]``).
CONTAINER_TYPES = (ListType, DictType)
