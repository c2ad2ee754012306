"""Calling a registered op from library code (``tracer.functional``) for arrays and proxies alike.

``call_op("conv2d", x, w, ...)`` runs the op's NumPy reference on arrays, and records the op
when any argument is being traced.  Functions that NumPy already has are written as plain NumPy
and are recorded through NumPy's dispatch protocols instead.
"""

from __future__ import annotations

from typing import Any

from ir.ops import get_op

from . import _state

__all__ = ["call_op"]


def call_op(name: str, *args: Any, **kwargs: Any) -> Any:
    """Run op ``name`` eagerly, or record it when a tracer is active and an argument is traced."""
    tracer = _state.current()
    if tracer is not None:
        return tracer.record_call(get_op(name), args, kwargs)
    return get_op(name).impl(*args, **kwargs)
