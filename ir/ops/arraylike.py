"""Helpers for decompositions: NumPy functions written in ordinary NumPy over registered ops.

A decomposition runs on NumPy arrays (eagerly) and on traced values alike, so it never converts
its arguments with ``np.asarray`` (that would bake a traced value in) and never branches on a size
that may be traced; sizes read from ``x.shape`` stay values of the program.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["asarray", "broadcast_to", "is_static_int"]


def asarray(a: Any) -> Any:
    """``a`` itself when it is an array or a traced value, else ``np.asarray(a)``.

    >>> asarray([1, 2]).shape
    (2,)
    """
    if isinstance(a, np.generic) or not hasattr(type(a), "__array_function__"):
        return np.asarray(a)
    return a


def broadcast_to(a: Any, shape: tuple) -> Any:
    """``np.broadcast_to(a, shape)``, also for a NumPy array ``a`` and a shape holding traced sizes
    (NumPy's dispatch sees only ``a``): then ``np.where`` over a traced mask of that shape."""
    if isinstance(a, (np.ndarray, np.generic)) and not all(is_static_int(d) for d in shape):
        return np.where(np.ones(shape, dtype=bool), a, np.zeros((), a.dtype))
    return np.broadcast_to(a, shape)


def is_static_int(v: Any) -> bool:
    """Whether ``v`` is a Python or NumPy integer (a size known while tracing), not a traced one."""
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)
