"""Value types of the IR: tensors with a dtype and a (partially known) shape, and Python scalars.

A dimension is an ``int`` (known), a ``str`` (a symbolic size such as ``"B"``) or ``None`` (unknown).
Types print the way they read in the program text::

    >>> str(TensorType.of("float32", (8, 64)))
    'f32[8, 64]'
    >>> str(TensorType.of("float32", ("B", None)))
    'f32[B, ?]'
    >>> str(TensorType(np.dtype("int64"), None))
    'i64[*]'
"""

from __future__ import annotations

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


Type = Union[TensorType, ScalarType, TupleType, AnyType, NeverType]

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
    if isinstance(value, (tuple, list)):
        return TupleType(tuple(type_of(v) for v in value))
    return AnyType()


def is_known(t: Type) -> bool:
    """Whether the dtype and rank (or scalar kind) of ``t`` are known."""
    if isinstance(t, TensorType):
        return t.dtype is not None and t.shape is not None
    if isinstance(t, TupleType):
        return all(is_known(e) for e in t.elements)
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
