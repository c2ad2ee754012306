"""``@tracer.export``, ``@tracer.ignore`` and ``@tracer.unused``: how ``tracer.script`` treats methods."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ["export", "ignore", "unused", "marker"]

F = TypeVar("F", bound=Callable[..., Any])

_ATTR = "__tracer_script__"


def export(fn: F) -> F:
    """Compile this method too (it becomes a method of the ScriptModule, saved with it).

    >>> import tracer
    >>> @tracer.export
    ... def predict(self, x): return x
    >>> tracer.decorators.marker(predict)
    'export'
    """
    setattr(fn, _ATTR, "export")
    return fn


def ignore(fn: F) -> F:
    """Leave this method as Python: a scripted program calls it, but cannot be saved."""
    setattr(fn, _ATTR, "ignore")
    return fn


def unused(fn: F) -> F:
    """Do not compile this method: calling it from a program raises (it is saved as a stub)."""
    setattr(fn, _ATTR, "unused")
    return fn


def marker(fn: Any) -> str | None:
    """``"export"``, ``"ignore"``, ``"unused"`` or ``None``."""
    return getattr(getattr(fn, "__func__", fn), _ATTR, None)
