"""Building blocks for type rules: broadcasting, axis normalisation, dtypes by example.

A rule receives the op's arguments with every runtime value replaced by its type (a
:class:`~ir.types.TensorType` or :class:`~ir.types.ScalarType`) and literals left as they are.
Rules return the output type (or a tuple for multi-output ops) and raise ``TypeError`` or
``ValueError`` when the arguments cannot go together.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..types import AnyType, Dim, ScalarType, TensorType, Type

__all__ = [
    "as_tensor_type",
    "broadcast_shapes",
    "dim_value",
    "dtype_by_example",
    "elementwise_rule",
    "example_of",
    "normalize_axis",
    "scalar_by_example",
    "shape_arg",
    "static_int",
]

# Representative Python values: non-zero, so example evaluation never divides by zero.
_PY_EXAMPLES: dict[str, Any] = {"int": 3, "float": 1.5, "bool": True, "none": None}


def as_tensor_type(t: Any) -> TensorType | None:
    """``t`` as a tensor type (Python literals and scalar types are 0-d), ``None`` if not a value."""
    if isinstance(t, TensorType):
        return t
    return None


def example_of(t: Any) -> Any:
    """A small concrete stand-in for a value of type ``t`` (only its dtype/kind matters)."""
    if isinstance(t, TensorType):
        if t.dtype is None:
            raise _Unknown
        return np.ones(1, dtype=t.dtype)
    if isinstance(t, ScalarType):
        if isinstance(t.value, (int, float)) and not isinstance(t.value, bool) and t.value:
            return t.value
        return _PY_EXAMPLES[t.kind]
    if isinstance(t, AnyType):
        raise _Unknown
    if isinstance(t, int) and not isinstance(t, bool):
        return max(-3, min(3, t))  # only the dtype matters: never compute with a real size
    if isinstance(t, float) and math.isfinite(t) and abs(t) > 3:
        return math.copysign(3.0, t)
    return t


class _Unknown(Exception):
    pass


def _examples(template: Any) -> Any:
    if isinstance(template, tuple):
        return tuple(_examples(t) for t in template)
    return example_of(template)


class _ArrayOf:
    """What :func:`_memo_key` reads of a stand-in array: its dtype (the array is made only when
    NumPy has to be asked)."""

    __slots__ = ("dtype",)

    def __init__(self, dtype: np.dtype) -> None:
        self.dtype = dtype


def _key_examples(template: Any) -> Any:
    """:func:`_examples` for :func:`_memo_key`: tensors as :class:`_ArrayOf` their stand-in's dtype."""
    if isinstance(template, tuple):
        return tuple(_key_examples(t) for t in template)
    if isinstance(template, TensorType):
        if template.dtype is None:
            raise _Unknown
        return _ArrayOf(np.dtype(template.dtype))
    return example_of(template)


def dtype_by_example(impl: Callable[..., Any], *args: Any, **kwargs: Any) -> np.dtype | None:
    """The dtype ``impl`` produces for arguments of these types (``None`` if one is unknown).

    Runs ``impl`` on one-element stand-ins; correct for dtype because NumPy 2 promotion depends
    only on dtypes and on whether a scalar is a Python scalar.
    """
    try:
        key = _memo_key(impl, _key_examples(args), kwargs)  # no stand-in array made for a known answer
        if key is not None and key in _DTYPES:
            return _DTYPES[key]
        examples = _examples(args)
    except _Unknown:
        return None
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = impl(*examples, **kwargs)
    dtype = np.result_type(out)
    if key is not None:
        if len(_DTYPES) >= _MEMO_SIZE:
            _DTYPES.clear()
        _DTYPES[key] = dtype
    return dtype


#: dtype_by_example's answers by (function, the stand-ins' dtypes and values, keywords): type
#: inference asks the same question for every elementwise node of a model.
_DTYPES: dict[tuple, np.dtype] = {}
_MEMO_SIZE = 4096


def _memo_key(impl: Callable[..., Any], examples: tuple, kwargs: dict) -> tuple | None:
    """A hashable key for one question (``None``: ask NumPy every time, as for a lambda made
    per call, which would never be asked again)."""
    if getattr(impl, "__name__", "") == "<lambda>":
        return None
    def part(x: Any) -> Any:
        if isinstance(x, (np.ndarray, _ArrayOf)):
            return ("array", x.dtype.str)
        if isinstance(x, tuple):
            return ("tuple", *map(part, x))
        return (type(x), x)  # the type too: True, 1 and 1.0 are equal keys but promote differently

    try:
        key = (impl, tuple(part(e) for e in examples), tuple((k, part(v)) for k, v in sorted(kwargs.items())))
        hash(key)
    except TypeError:
        return None
    return key


def _known(t: Any) -> bool:
    if isinstance(t, ScalarType):
        return isinstance(t.value, (int, float)) and not isinstance(t.value, bool)
    return isinstance(t, (int, float, bool))


def scalar_by_example(impl: Callable[..., Any], *args: Any) -> ScalarType | TensorType:
    """The Python scalar kind ``impl`` returns for scalar arguments of these types.

    When every argument's value is known (sizes of known dimensions, literals) the result's value
    is computed too, so ``x.shape[1] * x.shape[2]`` stays a known size.  A NumPy scalar result
    (``np.sqrt(x.shape[-1])`` is an ``np.float64``) is typed as what it is, a 0-d array type, as
    ``type_of`` types it: NumPy 2 promotes it like a dtype (``f32 / np.float64`` is float64), not
    like a Python float.
    """
    if all(_known(a) for a in args):
        values = [a.value if isinstance(a, ScalarType) else a for a in args]
        try:
            out = impl(*values) if _small_result(impl, values) else None
        except (ArithmeticError, ValueError, TypeError):
            out = None
        if isinstance(out, int) and not isinstance(out, bool) and abs(out) >= 2**63:
            out = None
        if isinstance(out, np.generic):
            return TensorType(out.dtype, ())
        if isinstance(out, bool):
            return ScalarType("bool")
        if isinstance(out, int):
            return ScalarType("int", out)
        if isinstance(out, float):
            return ScalarType("float")
    out = impl(*_examples(args))
    if isinstance(out, np.generic):
        return TensorType(out.dtype, ())
    if isinstance(out, (bool, np.bool_)):
        return ScalarType("bool")
    if isinstance(out, (int, np.integer)):
        return ScalarType("int")
    return ScalarType("float")


def _small_result(impl: Callable[..., Any], values: list[Any]) -> bool:
    """Whether ``impl(*values)`` is cheap to compute exactly: estimated with floats first, since
    the exact int of a huge result (``n ** 10**9``, a size squared 40 times) takes minutes."""
    if any(isinstance(v, int) and abs(v) >= 2**63 for v in values):
        return False
    try:
        return abs(impl(*[float(v) for v in values])) < 2.0**63
    except (ArithmeticError, ValueError):
        return False
    except TypeError:  # int-only operators: bounded by their operands, except a left shift
        name = getattr(impl, "__name__", "")
        return not ("lshift" in name or "left_shift" in name) or all(abs(v) < 64 for v in values[1:])


def static_int(v: Any) -> Any:
    """``v`` as an ``int`` when it is one or a scalar type with a known int value, else ``v``."""
    if isinstance(v, ScalarType) and isinstance(v.value, int) and not isinstance(v.value, bool):
        return v.value
    return v


def dim_value(d: Any) -> Dim:
    """A dimension from a shape argument element: an int literal or a scalar type."""
    if isinstance(d, bool):
        raise TypeError("a shape cannot contain bool")
    if isinstance(d, int):
        return d
    if isinstance(d, ScalarType):
        return d.value if isinstance(d.value, (int, str)) else None
    raise TypeError(f"expected an int in a shape, got {d!r}")


def shape_arg(shape: Any) -> tuple[Dim, ...]:
    """A shape argument (int, scalar type or tuple of them) as a tuple of dims."""
    if isinstance(shape, tuple):
        return tuple(dim_value(d) for d in shape)
    return (dim_value(shape),)


def broadcast_shapes(*shapes: Sequence[Dim] | None) -> tuple[Dim, ...] | None:
    """NumPy broadcasting over partially known shapes.

    Raises ``ValueError`` when two known sizes disagree.

    >>> broadcast_shapes((8, 1), ("B", 1, 4))
    ('B', 8, 4)
    """
    if any(s is None for s in shapes):
        return None
    rank = max((len(s) for s in shapes), default=0)
    out: list[Dim] = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        dims.discard(1)
        if not dims:
            out.append(1)
        elif len(dims) == 1:
            out.append(dims.pop())
        else:
            known = {d for d in dims if isinstance(d, int)}
            if len(known) > 1:
                raise ValueError(f"shapes {', '.join(map(str, shapes))} cannot be broadcast together")
            out.append(None)
    return tuple(out)


def normalize_axis(axis: int, rank: int) -> int:
    if not -rank <= axis < rank:
        raise ValueError(f"axis {axis} is out of bounds for rank {rank}")
    return axis % rank


def _shape_of(t: Any) -> tuple[Dim, ...] | None:
    if isinstance(t, TensorType):
        return t.shape
    return ()


def elementwise_rule(impl: Callable[..., Any]) -> Callable[..., Type]:
    """Type rule for an elementwise op: broadcast the shapes, dtype by example.

    When every argument is a Python scalar the result is a Python scalar too.
    """

    def rule(*args: Any, **kwargs: Any) -> Type:
        if not any(isinstance(a, (TensorType, AnyType)) for a in args):
            return scalar_by_example(lambda *xs: impl(*xs, **kwargs), *args)
        shape = broadcast_shapes(*(_shape_of(a) for a in args))
        return TensorType(dtype_by_example(impl, *args, **kwargs), shape)

    return rule


def prod(dims: Sequence[Dim]) -> Dim:
    if all(isinstance(d, int) for d in dims):
        return math.prod(dims)  # type: ignore[arg-type]
    return None
