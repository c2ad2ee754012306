"""Lists and dicts while compiling: what the frontend holds for them, and helpers on its values.

A list or dict the compiler can count is a :class:`PyList`/:class:`PyDict` of values (a ``list``/
``dict`` that is never changed once built: a change builds a new one).  One known only when the
program runs is an IR value of type :class:`~ir.types.ListType`/:class:`~ir.types.DictType`.
"""

from __future__ import annotations

from typing import Any

from ..builder import Value
from ..types import DictType, ListType, NeverType, TupleType, Type, join
from .values import _type

__all__ = ["PyList", "PyDict", "is_list", "is_dict", "is_container", "is_runtime", "keys_of", "static_items",
           "container_type"]


class PyList(list):
    """A Python list whose length is known while compiling (never changed once built: a change
    builds a new one).  A ``list``, so code that takes tuples and lists takes it."""

    __slots__ = ("nested",)

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self.nested = any(_holds_containers(x) for x in self)

    def __repr__(self) -> str:
        return f"PyList({list.__repr__(self)})"


class PyDict(dict):
    """A Python dict whose keys are known while compiling (never changed once built)."""

    __slots__ = ("nested",)

    def __init__(self, items: Any = ()) -> None:
        super().__init__(items)
        self.nested = any(_holds_containers(x) for x in self.values())

    def __repr__(self) -> str:
        return f"PyDict({dict.__repr__(self)})"


def is_list(v: Any) -> bool:
    """A list: static (:class:`PyList`) or a list-typed IR value."""
    return isinstance(v, PyList) or (isinstance(v, Value) and isinstance(v.type, ListType))


def is_dict(v: Any) -> bool:
    """A dict: static (:class:`PyDict`) or a dict-typed IR value."""
    return isinstance(v, PyDict) or (isinstance(v, Value) and isinstance(v.type, DictType))


def is_container(v: Any) -> bool:
    return is_list(v) or is_dict(v)


def is_runtime(v: Any) -> bool:
    """A list or dict known only when the program runs (an IR value)."""
    return isinstance(v, Value) and isinstance(v.type, (ListType, DictType))


def _holds_containers(v: Any) -> bool:
    if isinstance(v, (PyList, PyDict)) or is_runtime(v):
        return True
    if isinstance(v, tuple):
        return any(_holds_containers(x) for x in v)
    return False


def _contains_value(v: Any) -> bool:
    if isinstance(v, Value):
        return True
    if isinstance(v, (tuple, list)):
        return any(_contains_value(x) for x in v)
    if isinstance(v, PyDict):
        return any(_contains_value(x) for x in v.values())
    if isinstance(v, slice):
        return any(_contains_value(x) for x in (v.start, v.stop, v.step))
    return False


def _flatten(v: Any) -> tuple[list[Any], Any]:
    """Leaves and structure of a value: tuples, lists and dicts are structure, the rest leaves."""
    if isinstance(v, (tuple, PyList, PyDict)):
        items = v.values() if isinstance(v, PyDict) else v
        leaves: list[Any] = []
        shapes = []
        for x in items:
            sub, shape = _flatten(x)
            leaves.extend(sub)
            shapes.append(shape)
        if isinstance(v, PyList):
            return leaves, ("$list", tuple(shapes))
        if isinstance(v, PyDict):
            return leaves, ("$dict", tuple(v), tuple(shapes))
        return leaves, tuple(shapes)
    return [v], None


def _unflatten(shape: Any, leaves: list[Any]) -> Any:
    it = iter(leaves)

    def build(s: Any) -> Any:
        if s is None:
            return next(it)
        if s and s[0] == "$list":
            return PyList(build(x) for x in s[1])
        if s and s[0] == "$dict":
            return PyDict(zip(s[1], [build(x) for x in s[2]]))
        return tuple(build(x) for x in s)

    return build(shape)


def keys_of(v: Any) -> list | None:
    """The keys of a dict when they are known while compiling: a static dict's, or those a dict
    value's type records (a dict argument given by example inputs, a dict built with constant keys)."""
    if isinstance(v, PyDict):
        return list(v)
    if isinstance(v, Value) and isinstance(v.type, DictType) and v.type.items is not None:
        return [k for k, _ in v.type.items]
    return None


def static_items(v: Any) -> list | None:
    """The items a ``for`` loop over ``v`` visits, when known while compiling (a dict's keys)."""
    if isinstance(v, (tuple, list, range, PyDict)):
        return list(v)
    return None


def container_type(v: Any) -> Type:
    """The IR type a static container has once it is a value (:meth:`_Containers.container_value`)."""
    if isinstance(v, PyList):
        element: Type = NeverType()
        for x in v:
            element = join(element, container_type(x))
        return ListType(element)
    if isinstance(v, PyDict):
        return DictType.of((k, container_type(x)) for k, x in v.items())
    if isinstance(v, tuple):
        return TupleType(tuple(container_type(x) for x in v))
    return _type(v)


def _holds(v: Any, old: Any) -> bool:
    if v is old:
        return True
    if isinstance(v, (tuple, list)):
        return any(_holds(x, old) for x in v)
    if isinstance(v, dict):
        return any(_holds(x, old) for x in v.values())
    return False


def _substitute(v: Any, old: Any, new: Any) -> Any:
    """``v`` with ``old`` (by identity) replaced by ``new`` wherever it is held."""
    if v is old:
        return new
    if not _holds(v, old):
        return v
    if isinstance(v, PyList):
        return PyList(_substitute(x, old, new) for x in v)
    if isinstance(v, PyDict):
        return PyDict((k, _substitute(x, old, new)) for k, x in v.items())
    return tuple(_substitute(x, old, new) for x in v)


def _kind(v: Any) -> str:
    """What ``v`` is, in the user's words."""
    if is_list(v):
        return "list"
    if is_dict(v):
        return "dict"
    return type(v).__name__


def _replace_item(container: Any, old: Any, new: Any) -> Any:
    """``container`` with its item ``old`` (by identity) replaced by ``new``."""
    if isinstance(container, PyList):
        return PyList(new if x is old else x for x in container)
    if isinstance(container, PyDict):
        return PyDict((k, new if x is old else x) for k, x in container.items())
    return tuple(new if x is old else _replace_item(x, old, new) if isinstance(x, tuple) else x for x in container)
