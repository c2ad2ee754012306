"""Lists and dicts as values of a program: the ones whose length or keys are known only when it runs.

A list the compiler can count (a literal, one built in a loop it unrolls) stays a Python list of
values while compiling and never reaches the IR.  A list that grows in a loop that runs at run
time is a value of type :class:`~ir.types.ListType`, and so is a dict that gains keys there
(:class:`~ir.types.DictType`).  These ops make and read them.  Every op is functional, as NumPy
references: ``list_append(l, v)`` returns a new list and never changes ``l``, so a loop carries
a list like any other value.  At run time the values are :class:`~ir.types.ProgramList` and
:class:`~ir.types.ProgramDict` (a ``list`` and a ``dict``).

``np.stack``/``np.concatenate`` of such a list are their own ops (``list_stack``,
``list_concatenate``), so the array ops keep taking a tuple of arrays whose length is known.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..errors import GuardError
from ..types import (
    AnyType,
    DictType,
    ListType,
    NeverType,
    ProgramDict,
    ProgramList,
    ScalarType,
    TensorType,
    TupleType,
    join,
)
from .registry import OpKind, defop
from .rules import normalize_axis

__all__ = ["CONTAINER_OPS", "element_type"]

C = OpKind.CONTAINER
_INT = ScalarType("int")
_BOOL = ScalarType("bool")


def element_type(t: Any) -> Any:
    """The type of an element of list type ``t`` (a tuple of known length counts as a list)."""
    if isinstance(t, ListType):
        return t.element
    if isinstance(t, TupleType):
        out: Any = NeverType()
        for e in t.elements:
            out = join(out, e)
        return out
    if isinstance(t, AnyType):
        return AnyType()
    raise TypeError(f"expected a list, got {t}")


def _join_all(types: Any) -> Any:
    out: Any = NeverType()
    for t in types:
        out = join(out, t)
    return out


# -- lists ------------------------------------------------------------------------------------------
def _new_rule(*items):
    return ListType(_join_all(items))


@defop("list_new", C, infer=_new_rule)
def list_new(*items):
    """``[*items]``: a new list."""
    return ProgramList(items)


def _append_rule(lst, value):
    return ListType(join(element_type(lst), value))


@defop("list_append", C, infer=_append_rule)
def list_append(lst, value):
    """``lst + [value]``: a new list (``lst`` is not changed)."""
    return ProgramList([*lst, value])


def _extend_rule(lst, items):
    more = element_type(items) if not isinstance(items, tuple) else _join_all(items)
    return ListType(join(element_type(lst), more))


@defop("list_extend", C, infer=_extend_rule)
def list_extend(lst, items):
    """``lst + list(items)``: a new list; ``items`` is a list or a tuple."""
    return ProgramList([*lst, *items])


def _getitem_rule(lst, index):
    if isinstance(index, slice):
        return ListType(element_type(lst))
    if isinstance(lst, TupleType) and isinstance(index, int) and -len(lst.elements) <= index < len(lst.elements):
        return lst.elements[index]
    return element_type(lst)


@defop("list_getitem", C, infer=_getitem_rule)
def list_getitem(lst, index):
    """``lst[index]``; a slice gives a new list."""
    if isinstance(index, slice):
        return ProgramList(lst[index])
    return lst[index]


def _setitem_rule(lst, index, value):
    return ListType(join(element_type(lst), value))


@defop("list_setitem", C, infer=_setitem_rule)
def list_setitem(lst, index, value):
    """``lst[index] = value`` on a copy: returns the new list."""
    out = ProgramList(lst)
    out[index] = value
    return out


@defop("list_insert", C, infer=lambda lst, index, value: ListType(join(element_type(lst), value)))
def list_insert(lst, index, value):
    """``lst.insert(index, value)`` on a copy: returns the new list."""
    out = ProgramList(lst)
    out.insert(index, value)
    return out


def _pop_rule(lst, index=-1):
    return ListType(element_type(lst)), element_type(lst)


@defop("list_pop", C, infer=_pop_rule, multi_output=True, count=lambda lst, index=-1: 2)
def list_pop(lst, index=-1):
    """``item = lst.pop(index)`` on a copy: returns ``(the list without it, item)``."""
    out = ProgramList(lst)
    item = out.pop(index)
    return out, item


@defop("list_len", C, infer=lambda lst: _INT)
def list_len(lst):
    """``len(lst)``."""
    return len(lst)


def _stacked(lst: Any, op: str) -> TensorType:
    t = element_type(lst)
    if isinstance(t, (NeverType, AnyType)):
        return TensorType(None, None)
    if isinstance(t, ScalarType):
        return TensorType(np.dtype({"int": "int64", "float": "float64", "bool": "bool"}.get(t.kind, "float64")), ())
    if not isinstance(t, TensorType):
        raise TypeError(f"{op} needs a list of arrays, got a list of {t}")
    return t


def _list_stack_rule(lst, axis=0):
    t = _stacked(lst, "list_stack")
    if t.shape is None:
        return TensorType(t.dtype, None)
    ax = normalize_axis(axis, len(t.shape) + 1)
    n = len(lst.elements) if isinstance(lst, TupleType) else None
    return TensorType(t.dtype, (*t.shape[:ax], n, *t.shape[ax:]))


@defop("list_stack", OpKind.MOVEMENT, infer=_list_stack_rule)
def list_stack(lst, axis=0):
    """``np.stack(lst, axis)`` of a list (of any length)."""
    return np.stack(lst, axis=axis)


def _list_concatenate_rule(lst, axis=0):
    t = _stacked(lst, "list_concatenate")
    if t.shape is None:
        return TensorType(t.dtype, None)
    if not t.shape:
        raise ValueError("zero-dimensional arrays cannot be concatenated")
    ax = normalize_axis(axis, len(t.shape))
    return TensorType(t.dtype, (*t.shape[:ax], None, *t.shape[ax + 1:]))


@defop("list_concatenate", OpKind.MOVEMENT, infer=_list_concatenate_rule)
def list_concatenate(lst, axis=0):
    """``np.concatenate(lst, axis)`` of a list (of any length)."""
    return np.concatenate(lst, axis=axis)


# -- dicts ------------------------------------------------------------------------------------------
def _check_key(key: Any) -> None:
    if isinstance(key, bool) or not isinstance(key, (str, int, ScalarType)):
        raise TypeError(f"dict keys in programs are str or int, not {key!r}")
    if isinstance(key, ScalarType) and key.kind != "int":
        raise TypeError(f"dict keys in programs are str or int, not {key.kind}")


def _dict_new_rule(keys, values):
    if len(keys) != len(values) or len(set(keys)) != len(keys):
        raise ValueError("dict_new needs distinct keys, one per value")
    for k in keys:
        _check_key(k)
    return DictType.of(zip(keys, values))


@defop("dict_new", C, infer=_dict_new_rule)
def dict_new(keys, values):
    """``dict(zip(keys, values))``: a new dict; ``keys`` are str or int constants."""
    return ProgramDict(zip(keys, values))


def _known_key(key: Any) -> bool:
    return isinstance(key, (str, int)) and not isinstance(key, bool)


def _dict_setitem_rule(d, key, value):
    _check_key(key)
    if isinstance(d, DictType) and d.items is not None and _known_key(key):
        items = dict(d.items)
        items[key] = value
        return DictType.of(items.items())
    kind = "str" if isinstance(key, str) else "int"
    base = _dict_of(d)
    return join(DictType(base.key or kind, base.value), DictType(kind, value))


def _dict_of(t: Any) -> DictType:
    if isinstance(t, DictType):
        return DictType(t.key, t.value)
    if isinstance(t, AnyType):
        return DictType("?", AnyType())
    raise TypeError(f"expected a dict, got {t}")


@defop("dict_setitem", C, infer=_dict_setitem_rule)
def dict_setitem(d, key, value):
    """``d[key] = value`` on a copy: returns the new dict."""
    out = ProgramDict(d)
    out[key] = value
    return out


def _dict_getitem_rule(d, key):
    _check_key(key)
    if isinstance(d, DictType) and d.items is not None and _known_key(key):
        for k, t in d.items:
            if k == key and type(k) is type(key):
                return t
        raise ValueError(f"the dict has no key {key!r}; its keys are {[k for k, _ in d.items]}")
    return _dict_of(d).value


@defop("dict_getitem", C, infer=_dict_getitem_rule)
def dict_getitem(d, key):
    """``d[key]`` (``KeyError`` when it is missing)."""
    return d[key]


def _dict_get_rule(d, key, default=None):
    _check_key(key)
    fallback = ScalarType("none") if default is None else default
    if isinstance(d, DictType) and d.items is not None and _known_key(key):
        for k, t in d.items:
            if k == key and type(k) is type(key):
                return t
        return fallback
    return join(_dict_of(d).value, fallback)


@defop("dict_get", C, infer=_dict_get_rule)
def dict_get(d, key, default=None):
    """``d.get(key, default)``."""
    return d.get(key, default)


@defop("dict_contains", C, infer=lambda d, key: _BOOL)
def dict_contains(d, key):
    """``key in d``."""
    return key in d


@defop("dict_len", C, infer=lambda d: _INT)
def dict_len(d):
    """``len(d)``."""
    return len(d)


@defop("dict_copy", C, infer=lambda d: d)
def dict_copy(d):
    """``d.copy()``: a new dict (the program's dicts are never changed, but a copy is a new name)."""
    return ProgramDict(d)


def _keys_rule(d):
    t = _dict_of(d)
    return ListType({"str": AnyType(), "int": _INT}.get(t.key, AnyType()) if t.key else NeverType())


@defop("dict_keys", C, infer=_keys_rule)
def dict_keys(d):
    """``list(d.keys())``."""
    return ProgramList(d.keys())


@defop("dict_values", C, infer=lambda d: ListType(_dict_of(d).value))
def dict_values(d):
    """``list(d.values())``."""
    return ProgramList(d.values())


def _with_keys_rule(d, keys, *, where=""):
    if isinstance(d, DictType) and d.items is not None:
        if [k for k, _ in d.items] != list(keys):
            raise ValueError(f"a dict with keys {[k for k, _ in d.items]} where the program needs {list(keys)}")
        return d
    value = _dict_of(d).value
    return DictType.of((k, value) for k in keys)


@defop("dict_with_keys", C, infer=_with_keys_rule, pure=False)
def dict_with_keys(d, keys, *, where=""):
    """``d`` itself, checked to have exactly ``keys`` in this order: a dict argument whose keys the
    example inputs gave, where the program first relies on them (``len(d)``, ``d.items()``, at
    ``where``)."""
    if list(d) != list(keys):
        raise GuardError(f"the program was compiled for a dict with keys {list(keys)} (from example_inputs), used at "
                         f"{where or 'an unknown line'}, but this one has keys {list(d)[:20]}; script it again with "
                         "such inputs, or without example_inputs (annotated dict[str, np.ndarray])")
    return d


#: The ops that take or make list and dict values (the others refuse them).
CONTAINER_OPS = frozenset({
    "list_new", "list_append", "list_extend", "list_getitem", "list_setitem", "list_insert", "list_pop",
    "list_len", "list_stack", "list_concatenate", "dict_new", "dict_setitem", "dict_getitem", "dict_get",
    "dict_contains", "dict_len", "dict_copy", "dict_keys", "dict_values", "dict_with_keys",
})
