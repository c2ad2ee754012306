"""Trace NumPy models into a graph IR, save them as archives, load and run them.

>>> import numpy as np, tracer
>>> from tracer import nn
>>> m = nn.Linear(4, 2).eval()
>>> sm = tracer.trace(m, np.ones((3, 4), dtype=np.float32))
>>> np.allclose(sm(np.ones((3, 4), dtype=np.float32)), m(np.ones((3, 4), dtype=np.float32)))
True

``trace``, ``script`` and ``save`` are imported at first use (``import tracer`` followed by
``tracer.load`` never imports the tracer and the archive writer: a process that only runs saved
models starts ~8 ms sooner).
"""

import sys as _sys
import types as _types
from typing import Any as _Any

import runtime.module as _runtime_module
from ir.errors import (
    DeviceError,
    GuardError,
    ScriptError,
    SerializationError,
    TracerError,
    TracerWarning,
    TracingCheckError,
    TracingError,
)
from runtime.archive import ArchiveInfo, inspect, load
from runtime.devices import device
from runtime.module import ScriptFunction, ScriptModule

from . import functional, nn
from .decorators import export, ignore, unused
from .inline import trace_call as _trace_call
from .nn import Module

_runtime_module.call_hook = _trace_call

__version__ = "0.1.0"

__all__ = [
    "ArchiveInfo",
    "DeviceError",
    "GuardError",
    "Module",
    "ScriptError",
    "ScriptFunction",
    "ScriptModule",
    "SerializationError",
    "TracerError",
    "TracerWarning",
    "TracingCheckError",
    "TracingError",
    "device",
    "export",
    "functional",
    "ignore",
    "inspect",
    "load",
    "nn",
    "save",
    "script",
    "trace",
    "unused",
]

#: Names bound at first use: (module, attribute).
_LAZY = {"trace": ("tracer.trace", "trace"), "script": ("tracer.script", "script"),
         "save": ("runtime.archive.writer", "save")}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        import importlib

        module, attribute = _LAZY[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


class _Package(_types.ModuleType):
    """``tracer`` itself.  ``tracer.trace`` and ``tracer.script`` are functions named like the
    submodules that define them; importing such a submodule makes Python bind it on the package,
    which would hide the function (bound at first use, above).  That binding is skipped."""

    def __setattr__(self, name: str, value: _Any) -> None:
        if name in ("trace", "script") and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
