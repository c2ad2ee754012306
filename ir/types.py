"""Value types of the IR: tensors with a dtype and a (partially known) shape, Python scalars,
tuples, and the lists and dicts a program builds when it runs.

A dimension is an ``int`` (known), a ``str`` (a symbolic size such as ``"B"``) or ``None`` (unknown).
Types print the way they read in the program text::

    >>> str(TensorType.of("float32", (8, 64)))
    'f32[8, 64]'
    >>> str(TensorType.of("float32", ("B", None)))
    'f32[B, ?]'
    >>> str(TensorType(np.dtype("int64"), None))
    'i64[*]'
    >>> str(ListType(TensorType.of("float32", ("B", 8))))
    'list[f32[B, 8]]'
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from typing import Any, Union

import numpy as np

__all__ = [
    "Dim",
    "Type",
    "TensorType",
    "ScalarType",
    "AnyType",
    "NeverType",
    "TupleType",
    "ListType",
    "DictType",
    "ProgramList",
    "ProgramDict",
    "is_known",
    "SHORT_NAMES",
    "short_name",
    "parse_dtype",
    "parse_type",
    "type_of",
    "join",
]

Dim = Union[int, str, None]

#: dtype name -> short name used when printing types.
SHORT_NAMES: dict[str, str] = {
    "float16": "f16",
    "float32": "f32",
    "float64": "f64",
    "int8": "i8",
    "int16": "i16",
    "int32": "i32",
    "int64": "i64",
    "uint8": "u8",
    "uint16": "u16",
    "uint32": "u32",
    "uint64": "u64",
    "bool": "bool",
}
_FROM_SHORT = {v: k for k, v in SHORT_NAMES.items()}


def short_name(dtype: np.dtype | None) -> str:
    """Short printed name of a dtype (``f32``), ``?`` when unknown."""
    if dtype is None:
        return "?"
    return SHORT_NAMES.get(np.dtype(dtype).name, np.dtype(dtype).name)


def parse_dtype(name: str) -> np.dtype:
    """The dtype named by a short or long name; only the dtypes in :data:`SHORT_NAMES`.

    Raises ``ValueError`` for anything else (object, structured and string dtypes are never
    accepted, which matters when the name comes from an archive).
    """
    long = _FROM_SHORT.get(name, name)
    if long not in SHORT_NAMES:
        raise ValueError(f"unknown dtype {name!r}; expected one of {', '.join(SHORT_NAMES)}")
    return np.dtype(long)


@dataclass(frozen=True, slots=True)
class TensorType:
    """An array type. ``shape is None`` means the rank is unknown."""

    dtype: np.dtype | None
    shape: tuple[Dim, ...] | None

    @classmethod
    def of(cls, dtype: Any, shape: tuple[Dim, ...] | None) -> TensorType:
        return cls(None if dtype is None else np.dtype(dtype), None if shape is None else tuple(shape))

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_concrete(self) -> bool:
        """Dtype and every dimension known as integers."""
        return (
            self.dtype is not None
            and self.shape is not None
            and all(isinstance(d, int) for d in self.shape)
        )

    def __str__(self) -> str:
        if self.shape is None:
            dims = "*"
        else:
            dims = ", ".join("?" if d is None else str(d) for d in self.shape)
        return f"{short_name(self.dtype)}[{dims}]"


@dataclass(frozen=True, slots=True)
class ScalarType:
    """A Python scalar: ``kind`` is ``"int"``, ``"float"``, ``"bool"`` or ``"none"``.

    ``value`` is the value when it is known statically (a dimension read from a shape, an
    ``int`` or a symbolic name such as ``"B"``), else ``None``.
    """

    kind: str
    value: int | float | str | None = None

    def __str__(self) -> str:
        return self.kind


@dataclass(frozen=True, slots=True)
class TupleType:
    """A tuple of values (``tuple[...]`` and ``list[np.ndarray]`` arguments)."""

    elements: tuple

    def __str__(self) -> str:
        return f"tuple[{', '.join(str(e) for e in self.elements)}]"


@dataclass(frozen=True, slots=True)
class ListType:
    """A Python list whose length is known only when the program runs (one that grows in a loop),
    its elements of type ``element`` (printed ``list[f32[B, 8]]``; ``list[never]`` when empty)."""

    element: Any

    def __str__(self) -> str:
        return f"list[{self.element}]"


@dataclass(frozen=True, slots=True)
class DictType:
    """A Python dict with ``str`` or ``int`` keys.

    ``items`` are its ``(key, type)`` pairs in order when the keys are known (a dict argument
    given by example inputs, a dict literal): printed ``dict{'a': f32[3], 'b': i64[2]}``.  When
    they are not (a dict that gains keys in a loop), ``key`` is the keys' kind (``"str"``,
    ``"int"``, ``"?"`` when mixed) and ``value`` the type of every value: ``dict[int, f64[16, 1]]``.
    """

    key: str
    value: Any
    items: tuple | None = None

    @classmethod
    def of(cls, items: Any) -> DictType:
        """The type of a dict whose keys are known: ``items`` are ``(key, type)`` pairs."""
        items = tuple(items)
        value: Any = NeverType()
        for _, t in items:
            value = join(value, t)
        return cls(_key_kind(k for k, _ in items), value, items)

    def __str__(self) -> str:
        if self.items is not None:
            return "dict{" + ", ".join(f"{k!r}: {t}" for k, t in self.items) + "}"
        return f"dict[{self.key or 'never'}, {self.value}]"


def _key_kind(keys: Any) -> str:
    kinds = {"str" if isinstance(k, str) else "int" for k in keys}
    return kinds.pop() if len(kinds) == 1 else ("?" if kinds else "")


class ProgramList(list):
    """What a ``list``-typed value (:class:`ListType`) is when a program runs: a ``list`` made by
    the list ops, told apart from a list the caller passes (which types as a tuple of known
    length) so that its type does not change with its length."""

    __slots__ = ()


class ProgramDict(dict):
    """What a dict made by the program's dict ops is when it runs (:class:`DictType` without
    known keys, so that its type does not change as it gains keys)."""

    __slots__ = ()


@dataclass(frozen=True, slots=True)
class AnyType:
    """Nothing is known (printed ``?``)."""

    def __str__(self) -> str:
        return "?"


@dataclass(frozen=True, slots=True)
class NeverType:
    """The type of a value that is never read (printed ``never``): the placeholder an ``if`` branch
    that has not returned yet passes on for the function's result (``ops.undefined``).  It joins
    with any type as that type."""

    def __str__(self) -> str:
        return "never"


Type = Union[TensorType, ScalarType, TupleType, ListType, DictType, AnyType, NeverType]

_SCALAR_KINDS = {bool: "bool", int: "int", float: "float", type(None): "none"}


def type_of(value: Any) -> Type:
    """The concrete type of a runtime value (NumPy scalars count as 0-d tensors)."""
    if isinstance(value, (np.ndarray, np.generic)):
        return TensorType(value.dtype, tuple(int(d) for d in np.shape(value)))
    kind = _SCALAR_KINDS.get(type(value))
    if kind == "int":
        return ScalarType("int", value)  # sizes: known for these inputs, as rules derive them
    if kind is not None:
        return ScalarType(kind)
    if isinstance(value, ProgramList):
        element: Type = NeverType()
        for v in value:
            element = join(element, type_of(v))
        return ListType(element)
    if isinstance(value, ProgramDict):
        t: Type = NeverType()
        for v in value.values():
            t = join(t, type_of(v))
        return DictType(_key_kind(value), t)
    if isinstance(value, dict):
        if not all(isinstance(k, (str, int)) and not isinstance(k, bool) for k in value):
            return AnyType()
        return DictType.of((k, type_of(v)) for k, v in value.items())
    if isinstance(value, (tuple, list)):
        return TupleType(tuple(type_of(v) for v in value))
    return AnyType()


def is_known(t: Type) -> bool:
    """Whether the dtype and rank (or scalar kind) of ``t`` are known."""
    if isinstance(t, TensorType):
        return t.dtype is not None and t.shape is not None
    if isinstance(t, TupleType):
        return all(is_known(e) for e in t.elements)
    if isinstance(t, ListType):
        return isinstance(t.element, NeverType) or is_known(t.element)
    if isinstance(t, DictType):
        return all(is_known(e) for _, e in t.items) if t.items is not None else is_known(t.value)
    return isinstance(t, ScalarType)


def _join_dim(a: Dim, b: Dim) -> Dim:
    return a if a == b else None


def join(a: Type, b: Type) -> Type:
    """The most specific type that both ``a`` and ``b`` are instances of (never a wrong one)."""
    if a == b or isinstance(b, NeverType):
        return a
    if isinstance(a, NeverType):
        return b
    if isinstance(a, ScalarType) and isinstance(b, ScalarType) and a.kind == b.kind:
        return ScalarType(a.kind)
    if isinstance(a, TensorType) and isinstance(b, TensorType):
        dtype = a.dtype if a.dtype == b.dtype else None
        if a.shape is None or b.shape is None or len(a.shape) != len(b.shape):
            return TensorType(dtype, None)
        return TensorType(dtype, tuple(_join_dim(x, y) for x, y in zip(a.shape, b.shape)))
    if isinstance(a, TupleType) and isinstance(b, TupleType) and len(a.elements) == len(b.elements):
        return TupleType(tuple(join(x, y) for x, y in zip(a.elements, b.elements)))
    if isinstance(a, ListType) and isinstance(b, ListType):
        return ListType(join(a.element, b.element))
    if isinstance(a, DictType) and isinstance(b, DictType):
        if a.items is not None and b.items is not None and [k for k, _ in a.items] == [k for k, _ in b.items]:
            return DictType.of((k, join(x, y)) for (k, x), (_, y) in zip(a.items, b.items))
        key = a.key if a.key == b.key or not b.key else (b.key if not a.key else "?")
        return DictType(key, join(a.value, b.value))
    return AnyType()


def parse_type(text: str) -> Type:
    """The type printed as ``text`` (inverse of ``str(type)``); ``ValueError`` if malformed.

    >>> parse_type("f32[B, ?, 64]")
    TensorType(dtype=dtype('float32'), shape=('B', None, 64))
    >>> str(parse_type("tuple[i64[*], int]"))
    'tuple[i64[*], int]'
    """
    if not isinstance(text, str) or len(text) > 10_000:
        raise ValueError("a type is a short string")
    t, rest = _parse_type(text.strip(), 0)
    if rest.strip():
        raise ValueError(f"unexpected {rest!r} after a type in {text!r}")
    return t


def _parse_type(s: str, depth: int) -> tuple[Type, str]:
    if depth > 16:
        raise ValueError("type nests too deeply")
    if s.startswith("never") and not s[5:6].isalnum():
        return NeverType(), s[5:]
    for kind in ("int", "float", "bool", "none"):
        nxt = s[len(kind):len(kind) + 1]
        if s.startswith(kind) and not nxt.isalnum() and nxt != "[":
            return ScalarType(kind), s[len(kind):]
    if s.startswith("list["):
        element, s = _parse_type(s[5:].lstrip(), depth + 1)
        s = s.lstrip()
        if not s.startswith("]"):
            raise ValueError("bad list type")
        return ListType(element), s[1:]
    if s.startswith("dict["):
        key, _, s = s[5:].partition(",")
        key = key.strip()
        if key not in ("str", "int", "?", "never"):
            raise ValueError(f"bad dict key kind {key[:20]!r}")
        value, s = _parse_type(s.lstrip(), depth + 1)
        s = s.lstrip()
        if not s.startswith("]"):
            raise ValueError("bad dict type")
        return DictType("" if key == "never" else key, value), s[1:]
    if s.startswith("dict{"):
        return _parse_dict_items(s[5:], depth)
    if s.startswith("tuple["):
        s = s[6:]
        elems = []
        while not s.startswith("]"):
            t, s = _parse_type(s.lstrip(), depth + 1)
            elems.append(t)
            s = s.lstrip()
            if s.startswith(","):
                s = s[1:].lstrip()
            elif not s.startswith("]"):
                raise ValueError("bad tuple type")
        return TupleType(tuple(elems)), s[1:]
    head, bracket, rest = s.partition("[")
    if not bracket:
        if s.startswith("?"):
            return AnyType(), s[1:]
        raise ValueError(f"bad type {s[:40]!r}")
    dtype = None if head == "?" else parse_dtype(head)
    body, close, rest = rest.partition("]")
    if not close:
        raise ValueError("unclosed '[' in a type")
    if body.strip() == "*":
        return TensorType(dtype, None), rest
    dims: list[Dim] = []
    for part in (p.strip() for p in body.split(",")) if body.strip() else ():
        if part == "?":
            dims.append(None)
        elif part.isdigit() and len(part) < 19:
            dims.append(int(part))
        elif part.isidentifier():
            dims.append(part)
        else:
            raise ValueError(f"bad dimension {part[:20]!r}")
    return TensorType(dtype, tuple(dims)), rest


_INT_KEY = re.compile(r"-?[0-9]{1,19}")
_STR_KEY = re.compile(r"'(?:[^'\\]|\\.)*'" + r'|"(?:[^"\\]|\\.)*"')


def _parse_dict_items(s: str, depth: int) -> tuple[Type, str]:
    items = []
    s = s.lstrip()
    while not s.startswith("}"):
        m = _STR_KEY.match(s) or _INT_KEY.match(s)
        if m is None:
            raise ValueError(f"bad dict key in a type: {s[:20]!r}")
        key = ast.literal_eval(m.group())
        if not isinstance(key, (str, int)):
            raise ValueError("dict keys in types are str or int")
        s = s[m.end():].lstrip()
        if not s.startswith(":"):
            raise ValueError("bad dict type: expected ':' after a key")
        t, s = _parse_type(s[1:].lstrip(), depth + 1)
        items.append((key, t))
        s = s.lstrip()
        if s.startswith(","):
            s = s[1:].lstrip()
        elif not s.startswith("}"):
            raise ValueError("bad dict type")
    if len({k for k, _ in items}) != len(items):
        raise ValueError("a dict type names a key twice")
    return DictType.of(items), s[1:]
