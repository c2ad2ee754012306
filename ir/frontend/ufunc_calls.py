"""NumPy ufuncs called with keywords (``dtype=``, ``signature=``, ``casting=``) and their methods
(``np.add.reduce``, ``np.maximum.accumulate``, ``np.subtract.outer``) in compiled code.

The loop NumPy would run is worked out while compiling (``ir.ops.ufuncs.loop_dtypes``, NumPy's
own ``resolve_dtypes``), so the operands need known dtypes; they are cast to it as NumPy casts
them and the op runs in it, giving NumPy's result bits.  Methods become the op NumPy computes the
same thing with (``np.add.reduce`` is ``sum``), as in tracing.
"""

from __future__ import annotations

import ast
from typing import Any

import numpy as np

from ..builder import Value
from ..ops import get_op, op_for_numpy
from ..ops.ufuncs import NO_INITIAL, loop_dtypes, method_op
from ..types import ScalarType, TensorType

__all__ = ["ufunc_call", "ufunc_method", "ufunc_method_call"]

_METHODS = ("reduce", "accumulate", "outer")


def ufunc_method(callee: Any) -> tuple[np.ufunc, str] | None:
    """``(ufunc, method name)`` for ``np.add.reduce`` and the like, else None."""
    owner = getattr(callee, "__self__", None)
    name = getattr(callee, "__name__", "")
    return (owner, name) if isinstance(owner, np.ufunc) and name in _METHODS else None


def _operand(c: Any, x: Any, name: str, e: ast.AST) -> Any:
    if isinstance(x, Value):
        t = x.type
        if isinstance(t, ScalarType):
            return {"bool": np.dtype(bool), "int": int, "float": float}.get(t.kind, float)
        if isinstance(t, TensorType) and t.dtype is not None:
            return t.dtype
        raise c.error(e, f"np.{name}(..., dtype=...) of an array whose dtype is unknown while compiling",
                      "pass example_inputs to tracer.script, or cast first (x.astype(...))")
    if isinstance(x, bool):
        return np.dtype(bool)
    if isinstance(x, (int, float)):
        return type(x)
    return np.asarray(x).dtype


def ufunc_call(c: Any, ufunc: np.ufunc, args: list, kwargs: dict, e: ast.AST) -> Any:
    """``ufunc(*args, dtype=..., signature=..., casting=...)``."""
    name = ufunc.__name__
    kwargs = dict(kwargs)
    dtype, signature = kwargs.pop("dtype", None), kwargs.pop("signature", None)
    casting = kwargs.pop("casting", "same_kind")
    if kwargs:
        raise c.error(e, f"np.{name}(..., {', '.join(kwargs)}=...) in a program",
                      "use dtype=, signature= or casting=, or assign the result (out= is x[...] = ...)")
    op = op_for_numpy(ufunc)
    if op is None or len(args) != ufunc.nin:
        raise c.error(e, f"np.{name} with {len(args)} operands is not supported in programs")
    if dtype is not None and signature is None and casting == "same_kind" and any(
            isinstance(x, Value) and isinstance(x.type, TensorType) and x.type.dtype is None for x in args):
        # dtypes unknown while compiling: NumPy casts every operand to dtype= and runs that loop
        loop = (np.dtype(dtype),) * (ufunc.nin + ufunc.nout)
    else:
        operands = tuple(_operand(c, x, name, e) for x in args)
        try:
            loop = loop_dtypes(ufunc, operands, dtype, signature, casting)
        except (TypeError, ValueError) as exc:
            raise c.error(e, f"np.{name}(..., dtype/signature/casting=...): {type(exc).__name__}: {exc}") from None
    cast = []
    for x, want in zip(args, loop[: ufunc.nin]):
        if isinstance(x, Value) and isinstance(x.type, TensorType) and x.type.dtype != want:  # unknown too
            x = c.emit(get_op("astype"), (x, want), {}, e)
        elif isinstance(x, np.ndarray) and x.dtype != want:
            x = x.astype(want)
        cast.append(x)
    result = c.emit(op, tuple(cast), {}, e)
    for r, want in zip(result if op.multi_output else (result,), loop[ufunc.nin:]):
        got = r.type.dtype if isinstance(r, Value) and isinstance(r.type, TensorType) else None
        if got != want:
            raise c.error(e, f"np.{name}(..., dtype=...): the program would give {got} where NumPy gives {want}")
    return result


def ufunc_method_call(c: Any, ufunc: np.ufunc, method: str, args: list, kwargs: dict, e: ast.AST) -> Any:
    """``np.add.reduce(x, axis)``, ``np.maximum.accumulate(x)``, ``np.subtract.outer(a, b)``."""
    name = ufunc.__name__
    if method == "outer":
        if kwargs or len(args) != 2:
            raise c.error(e, f"np.{name}.outer takes two arrays (no keywords) in programs")
        a, b = args
        b_rank = b.type.rank if isinstance(b, Value) and isinstance(b.type, TensorType) else np.ndim(b)
        if b_rank is None:
            raise c.error(e, f"np.{name}.outer of an array whose rank is unknown", "pass example_inputs")
        expand = a
        for _ in range(b_rank):
            expand = c.emit(get_op("expand_dims"), (expand, -1), {}, e)
        return c.call(ufunc, [expand, b], {}, e)
    if not args or len(args) > 2:
        raise c.error(e, f"np.{name}.{method} takes the array and an axis in programs")
    axis = args[1] if len(args) == 2 else kwargs.pop("axis", 0)
    options = {k: kwargs.pop(k) for k in ("dtype", "keepdims", "initial") if k in kwargs}
    if kwargs:
        raise c.error(e, f"np.{name}.{method}(..., {', '.join(kwargs)}=...) is not supported in programs")
    try:
        op_name, extra, op_kwargs = method_op(ufunc, method, axis=axis, dtype=options.get("dtype"),
                                              keepdims=options.get("keepdims", False),
                                              initial=options.get("initial", NO_INITIAL))
    except (TypeError, ValueError) as exc:
        raise c.error(e, f"np.{name}.{method}: {exc}") from None
    return c.emit(get_op(op_name), (args[0], *extra), op_kwargs, e)
