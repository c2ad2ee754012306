"""Trace NumPy models into a graph IR, save them as archives, load and run them.

>>> import numpy as np, tracer
>>> from tracer import nn
>>> m = nn.Linear(4, 2).eval()
>>> sm = tracer.trace(m, np.ones((3, 4), dtype=np.float32))
>>> np.allclose(sm(np.ones((3, 4), dtype=np.float32)), m(np.ones((3, 4), dtype=np.float32)))
True
"""

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
from runtime.archive import ArchiveInfo, inspect, load, save
from runtime.devices import device
from runtime.module import ScriptFunction, ScriptModule

from . import functional, nn
from .decorators import export, ignore, unused
from .inline import trace_call as _trace_call
from .nn import Module
from .script import script
from .trace import trace

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
