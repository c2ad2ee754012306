"""``np.pad`` written over ``full``, ``concatenate``, ``arange`` and ``take``.

Mode ``constant`` joins filled blocks to each padded axis in turn; ``edge``, ``reflect``,
``symmetric`` and ``wrap`` gather along each padded axis with an index computed from the axis'
size, which gives NumPy's result (its iterative padding repeats the reflection periodically)
and follows a traced size.  The widths may be traced ints too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .arraylike import asarray, is_static_int
from .registry import defdecomp

__all__ = ["pad"]

_ALLOWED = {"constant": ("constant_values",), "edge": (), "wrap": (), "reflect": ("reflect_type",),
            "symmetric": ("reflect_type",)}


def _pairs(x: Any, ndim: int, as_index: bool = False) -> list[tuple[Any, Any]]:
    """``(before, after)`` for each axis, broadcast as ``np.pad`` does; leaves may be traced."""
    leaves: list[Any] = []

    def number(v: Any) -> Any:
        if isinstance(v, np.ndarray):
            v = v.tolist()
        if isinstance(v, (list, tuple)):
            return [number(e) for e in v]
        leaves.append(v)
        return len(leaves) - 1

    ix = np.array(number(x), dtype=np.intp)
    if ix.ndim < 3 and ix.size == 1:
        pairs = [(int(ix.ravel()[0]),) * 2] * ndim
    elif ix.ndim < 3 and ix.size == 2 and ix.shape != (2, 1):
        r = ix.ravel()
        pairs = [(int(r[0]), int(r[1]))] * ndim
    else:
        pairs = np.broadcast_to(ix, (ndim, 2)).tolist()
    out = [(leaves[b], leaves[a]) for b, a in pairs]
    if as_index:
        for pair in out:
            for w in pair:
                if isinstance(w, (bool, float, np.floating, np.bool_)):
                    raise TypeError("`pad_width` must be of integral type.")
                if is_static_int(w) and w < 0:
                    raise ValueError("index can't contain negative values")
        out = [tuple(int(w) if is_static_int(w) else w for w in pair) for pair in out]
    return out


def _same(x: Any, y: Any) -> bool:
    """Whether ``x`` and ``y`` are the same value: one traced value, or equal Python numbers."""
    if x is y:
        return True
    static = (int, float, bool, np.integer, np.floating, np.bool_)
    return isinstance(x, static) and isinstance(y, static) and type(x) is type(y) and x == y


def _is_zero(w: Any) -> bool:
    return is_static_int(w) and w == 0


def _gather_index(mode: str, n: Any, before: Any, after: Any) -> Any:
    """For each position of the padded axis, the index of the element NumPy puts there."""
    p = np.arange(n + before + after) - before
    if mode == "edge":
        return np.clip(p, 0, n - 1)
    if mode == "wrap":
        return p % n
    if mode == "reflect":
        period = 2 * n - 2 + (n == 1)  # a single element is repeated (NumPy's legacy behaviour)
        m = p % period
        return np.where(m < n, m, period - m)
    period = 2 * n  # symmetric
    m = p % period
    return np.where(m < n, m, period - 1 - m)


@defdecomp(np.pad)
def pad(array: Any, pad_width: Any, mode: str = "constant", **kwargs: Any) -> Any:
    """``np.pad(array, pad_width, mode, **kwargs)`` for the modes ``constant`` (with
    ``constant_values``), ``edge``, ``reflect``, ``symmetric`` and ``wrap``
    (``reflect_type='even'``)."""
    a = asarray(array)
    if not isinstance(mode, str) or mode not in _ALLOWED:
        raise ValueError(f"np.pad mode {mode!r} is not supported in traced programs; use one of "
                         f"{', '.join(map(repr, _ALLOWED))}")
    unsupported = set(kwargs) - set(_ALLOWED[mode])
    if unsupported:
        raise ValueError(f"unsupported keyword arguments for mode '{mode}': {unsupported}")
    if kwargs.get("reflect_type", "even") != "even":
        raise ValueError("np.pad(reflect_type='odd') is not supported in traced programs")
    widths = _pairs(pad_width, a.ndim, as_index=True)
    if mode == "constant":
        values = _pairs(kwargs.get("constant_values", 0), a.ndim)
        for axis, ((before, after), (v_before, v_after)) in enumerate(zip(widths, values)):
            if _is_zero(before) and _is_zero(after):
                continue
            shape = list(a.shape)
            parts = []
            if not _is_zero(before):
                shape[axis] = before
                parts.append(np.full(tuple(shape), v_before, dtype=a.dtype))
            parts.append(a)
            if not _is_zero(after):
                if parts[0] is not a and _same(after, before) and _same(v_after, v_before):
                    parts.append(parts[0])  # the same block on both sides is made once
                else:
                    shape[axis] = after
                    parts.append(np.full(tuple(shape), v_after, dtype=a.dtype))
            a = np.concatenate(parts, axis)
        return a
    for axis, (before, after) in enumerate(widths):
        if _is_zero(before) and _is_zero(after):
            continue
        n = a.shape[axis]
        if is_static_int(n) and n == 0:
            raise ValueError(f"can't extend empty axis {axis} using modes other than 'constant' or 'empty'")
        a = np.take(a, _gather_index(mode, n, before, after), axis=axis)
    return a
