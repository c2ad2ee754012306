"""Comparison within a tolerance: ``isclose`` and ``allclose`` written over elementwise ops."""

from __future__ import annotations

from typing import Any

import numpy as np

from .arraylike import asarray
from .registry import defdecomp

__all__ = ["isclose", "allclose"]


def _operand(v: Any) -> Any:
    return v if isinstance(v, (int, float, complex)) else asarray(v)


@defdecomp(np.isclose)
def isclose(a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False) -> Any:
    """``np.isclose(a, b, rtol, atol, equal_nan)``: NumPy's formula,
    ``(|a - b| <= atol + rtol * |b|) & isfinite(b) | (a == b)``."""
    x, y, atol, rtol = (_operand(v) for v in (a, b, atol, rtol))
    dtype = getattr(y, "dtype", None)
    if dtype is not None and dtype.kind != "m":
        dt = np.result_type(dtype, 1.0)
        if dt != dtype:
            y = y.astype(dt)
    elif isinstance(y, int):
        y = float(y)
    result = (abs(x - y) <= atol + rtol * abs(y)) & np.isfinite(y) | (x == y)
    if equal_nan:
        result = result | (np.isnan(x) & np.isnan(y))
    # NumPy's ``result[()]`` turns a 0-d result into a scalar; a traced value stays as it is
    return result[()] if isinstance(result, np.ndarray) else result


@defdecomp(np.allclose)
def allclose(a: Any, b: Any, rtol: Any = 1e-05, atol: Any = 1e-08, equal_nan: bool = False) -> Any:
    """``np.allclose(a, b, rtol, atol, equal_nan)``: ``np.all(np.isclose(...))``.

    NumPy returns a Python ``bool``; on traced values the result is a 0-d boolean array of the
    program (converting it with ``bool()`` would bake the example's answer in), which works in
    ``np.where``, arithmetic and ``if`` under ``tracer.script``.
    """
    result = np.all(isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))
    if isinstance(result, (np.bool_, bool)):
        return bool(result)
    return result
