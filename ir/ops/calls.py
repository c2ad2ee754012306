"""Calls of module methods that are not compiled.

``python_call`` runs a ``@tracer.ignore`` method as Python (programs containing one run, but
cannot be saved).  ``unused_call`` stands for a ``@tracer.unused`` method: reaching it raises.
The executor binds both by name; their references only document them.
"""

from __future__ import annotations

from ..types import AnyType
from .registry import OpKind, defop


def _any(*args, name):
    return AnyType()


@defop("python_call", OpKind.CALL, infer=_any, spelling="pycall", pure=False)
def python_call(*args, name: str):
    """``self.<name>(*args)`` for a method marked ``@tracer.ignore``."""
    raise RuntimeError("python_call is bound to the module's Python method by the executor")


@defop("unused_call", OpKind.CALL, infer=_any, spelling="pycall", pure=False)
def unused_call(*args, name: str):
    """``self.<name>(*args)`` for a method marked ``@tracer.unused``: raises when reached."""
    raise RuntimeError(f"method {name!r} is marked @tracer.unused and cannot be called from a program")
