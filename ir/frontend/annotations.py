"""Argument annotations of compiled methods, as IR types (``np.ndarray``, ``int``, ``tuple[...]``,
``Optional[...]``, ``list[...]``, ``dict[str, ...]``)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..types import AnyType, DictType, ListType, ScalarType, TensorType, TupleType, Type

__all__ = ["annotation_type"]


def annotation_type(ann: Any) -> Type | None:
    """The IR type an argument annotation stands for (``None``: not a supported annotation)."""
    import typing

    if ann is None or ann is np.ndarray:
        return TensorType(None, None)
    if ann is int:
        return ScalarType("int")
    if ann is float:
        return ScalarType("float")
    if ann is bool:
        return ScalarType("bool")
    origin = typing.get_origin(ann)
    args = typing.get_args(ann)
    if origin is tuple and args and Ellipsis not in args:
        elems = [annotation_type(a) for a in args]
        return None if any(e is None for e in elems) else TupleType(tuple(elems))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and type(None) in args:
        return AnyType()  # Optional[...]: may be None
    if ann is list or ann is dict:  # items of any type
        return ListType(AnyType()) if ann is list else DictType("?", AnyType())
    if origin is list and len(args) == 1 and annotation_type(args[0]) is not None:
        return ListType(annotation_type(args[0]))  # its length is known when the program runs
    if origin is dict and len(args) == 2 and args[0] in (str, int) and annotation_type(args[1]) is not None:
        return DictType(args[0].__name__, annotation_type(args[1]))  # so are its keys
    return None
