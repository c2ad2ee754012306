"""Recording NumPy ufunc calls on traced values (``Proxy.__array_ufunc__``).

A ufunc call records its op (``ir.ops.op_for_numpy``).  Its keyword arguments are recorded as
what NumPy does with them: ``dtype=``/``signature=``/``casting=`` pick the ufunc's loop, whose
input dtypes NumPy casts the operands to before running it, so the program casts them
(``astype``) and then runs the op; ``out=`` writes the result into a traced array
(``out[...] = result``).  The methods: ``reduce`` and ``accumulate`` record the reduction or scan
NumPy runs for them (``ir.ops.ufuncs.REDUCE_AS``) or the generic ``ufunc_reduce`` /
``ufunc_accumulate`` op; ``outer`` is ``ufunc(a[..., None, ...], b)``, exactly as NumPy computes it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ir import ScalarType, TensorType
from ir.ops import get_op, op_for_numpy
from ir.ops.ufuncs import UNSUPPORTED_UFUNCS, loop_dtypes, method_op

__all__ = ["array_ufunc"]

#: Keywords that change only the memory layout or the subclass of the result, never its values.
_LAYOUT_ONLY = {"order": ("K", "A", "C", "F", None), "subok": (True, False)}


def array_ufunc(tracer: Any, ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """Record ``getattr(ufunc, method)(*inputs, **kwargs)`` on ``tracer``; see the module docstring."""
    name = ufunc.__name__
    if name in UNSUPPORTED_UFUNCS:
        raise tracer.error(f"np.{name} is not supported in traced code: {UNSUPPORTED_UFUNCS[name]}")
    handler = _METHODS.get(method)
    if handler is None:
        what = "it writes into its first argument in place, element by element" if method == "at" else \
            "it has no traced form"
        raise tracer.error(f"np.{name}.{method} is not supported in traced code ({what}); compute it before "
                           "calling the model, or in a @tracer.ignore method")
    if method != "__call__" and (ufunc.nin != 2 or ufunc.nout != 1 or ufunc.signature is not None):
        raise tracer.error(f"np.{name}.{method}: {method} is only defined for binary ufuncs with one output "
                           "(NumPy raises ValueError)")
    return handler(tracer, ufunc, inputs, dict(kwargs))


# -- ufunc(*inputs, **kwargs) -----------------------------------------------------------------------

def _call(tracer: Any, ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> Any:
    name = ufunc.__name__
    outs = _pop_out(kwargs, ufunc.nout)
    _check_where(tracer, name, kwargs)
    dtype = kwargs.pop("dtype", None)
    signature = kwargs.pop("signature", None)
    casting = kwargs.pop("casting", "same_kind")
    _check_rest(tracer, f"np.{name}", kwargs)
    op = op_for_numpy(ufunc)
    if op is None:
        raise tracer.unsupported(ufunc)
    loop = None
    if dtype is not None or signature is not None or casting != "same_kind":
        loop = _loop(tracer, ufunc, inputs, dtype, signature, casting)
        cast: dict[tuple[int, Any], Any] = {}  # an operand given twice is cast once
        for x, dt in zip(inputs, loop[: ufunc.nin]):
            if (id(x), dt) not in cast:
                cast[id(x), dt] = _cast(x, dt)
        inputs = tuple(cast[id(x), dt] for x, dt in zip(inputs, loop[: ufunc.nin]))
    result = tracer.record_call(op, inputs, {})
    results = tuple(result) if op.multi_output else (result,)
    if loop is not None:
        for r, want in zip(results, loop[ufunc.nin:]):
            if _dtype_or_none(tracer, r) != want:
                raise tracer.error(f"np.{name}(..., dtype=...): the recorded program would give "
                                   f"{_dtype_or_none(tracer, r)} where NumPy gives {want}; cannot record it exactly")
    if outs is not None:
        results = _write_out(tracer, f"np.{name}", results, outs, casting)
    return results if op.multi_output else results[0]


def _loop(tracer: Any, ufunc: np.ufunc, inputs: tuple, dtype: Any, signature: Any, casting: str) -> tuple:
    """The dtypes of the loop NumPy runs for these inputs and keywords (inputs, then outputs)."""
    try:
        return loop_dtypes(ufunc, tuple(_operand_dtype(tracer, x) for x in inputs), dtype, signature, casting)
    except (TypeError, ValueError) as exc:
        raise tracer.error(f"np.{ufunc.__name__}(..., dtype/signature/casting=...): {type(exc).__name__}: {exc}"
                           ) from None


def _operand_dtype(tracer: Any, x: Any) -> Any:
    """What ``resolve_dtypes`` takes for an operand: a dtype, or ``int``/``float``/``complex`` for
    Python scalars (NumPy 2's weak scalars)."""
    from .proxy import Proxy

    if isinstance(x, Proxy):
        t = x._v.type
        if isinstance(t, ScalarType) or (tracer.concrete and isinstance(x._value, (bool, int, float))):
            value_kind = t.kind if isinstance(t, ScalarType) else type(x._value).__name__
            return {"bool": np.dtype(bool), "int": int, "float": float}[value_kind]
        return tracer.static_dtype(x)
    if isinstance(x, bool):
        return np.dtype(bool)
    if isinstance(x, (int, float, complex)):
        return type(x)
    return np.asarray(x).dtype


def _cast(x: Any, dtype: np.dtype) -> Any:
    """``x`` in the loop dtype, as NumPy casts an array operand; Python scalars stay weak."""
    from .proxy import Proxy

    if isinstance(x, Proxy):
        if isinstance(x._v.type, TensorType) and x._v.type.dtype != dtype:
            return x.astype(dtype)
        return x
    if isinstance(x, (bool, int, float, complex)):
        return x
    a = np.asarray(x)
    return a if a.dtype == dtype else a.astype(dtype)


def _dtype_or_none(tracer: Any, r: Any) -> Any:
    try:
        return r.dtype
    except (AttributeError, TypeError):
        return None


def _pop_out(kwargs: dict, nout: int) -> tuple | None:
    out = kwargs.pop("out", None)
    if out is None:
        return None
    outs = out if isinstance(out, tuple) else (out,)
    return None if all(o is None for o in outs) else outs


def _write_out(tracer: Any, call: str, results: tuple, outs: tuple, casting: str) -> tuple:
    """``out[...] = result`` for each given ``out=`` array: NumPy's values, cast and broadcast alike."""
    from .proxy import Proxy

    written = []
    for r, o in zip(results, outs):
        if o is None:
            written.append(r)
            continue
        r_dtype, o_dtype = _dtype_or_none(tracer, r), _dtype_or_none(tracer, o)
        if not isinstance(o, Proxy):
            fix = f"y = {call}(...)" + (f".astype(np.{o_dtype})" if o_dtype is not None and o_dtype != r_dtype else "")
            raise tracer.error(
                f"{call}(..., out=...) writes into an array that is not traced (a constant of the program); "
                f"use the result instead: `{fix}` computes the same values"
            )
        if r_dtype is not None and o_dtype is not None and not np.can_cast(r_dtype, o_dtype, casting):
            raise tracer.error(f"{call}: cannot cast the result from {r_dtype} to out's {o_dtype} with casting "
                               f"rule {casting!r} (NumPy raises UFuncTypeError)")
        o[...] = r
        written.append(o)
    return tuple(written)


def _check_where(tracer: Any, call: str, kwargs: dict) -> None:
    where = kwargs.pop("where", True)
    if where is not True:
        raise tracer.error(f"np.{call}(..., where=...) is not supported in traced code; compute the values "
                           "everywhere and select them with np.where")


def _check_rest(tracer: Any, call: str, kwargs: dict) -> None:
    for key, allowed in _LAYOUT_ONLY.items():
        if key in kwargs and kwargs.pop(key) not in allowed:
            raise tracer.error(f"{call}(..., {key}=...): not a valid value")
    if kwargs:
        hint = "; move the axes with np.moveaxis first" if {"axes", "axis"} & set(kwargs) else ""
        raise tracer.error(f"{call}(..., {', '.join(f'{k}=' for k in kwargs)}) is not supported in traced "
                           f"code{hint}")


# -- reduce, accumulate, outer ----------------------------------------------------------------------

def _method(tracer: Any, ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    call = f"np.{ufunc.__name__}.{method}"
    (array,) = inputs
    outs = _pop_out(kwargs, 1)
    _check_where(tracer, f"{ufunc.__name__}.{method}", kwargs)
    known = {k: kwargs.pop(k) for k in ("axis", "dtype", "keepdims", "initial") if k in kwargs}
    _check_rest(tracer, call, kwargs)
    try:
        op, extra, kw = method_op(ufunc, method, **known)
    except (TypeError, ValueError) as exc:
        raise tracer.error(f"{call}: {exc}") from None
    result = tracer.record_call(get_op(op), (array, *extra), kw)
    return result if outs is None else _write_out(tracer, call, (result,), outs, "same_kind")[0]


def _reduce(tracer: Any, ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> Any:
    return _method(tracer, ufunc, "reduce", inputs, kwargs)


def _accumulate(tracer: Any, ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> Any:
    return _method(tracer, ufunc, "accumulate", inputs, kwargs)


def _outer(tracer: Any, ufunc: np.ufunc, inputs: tuple, kwargs: dict) -> Any:
    from .proxy import Proxy

    # NumPy makes both operands arrays (Python scalars become strongly typed 0-d arrays), then runs
    # ufunc(a.reshape(a.shape + (1,) * b.ndim), b)
    a, b = (x if isinstance(x, Proxy) else np.asarray(x) for x in inputs)
    b_ndim = b.ndim
    if b_ndim:
        a = a[(Ellipsis, *(None,) * b_ndim)]
    return _call(tracer, ufunc, (a, b), kwargs)


_METHODS = {"__call__": _call, "reduce": _reduce, "accumulate": _accumulate, "outer": _outer}
