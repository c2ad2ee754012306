"""Trace NumPy models into a graph IR, save them as archives, load and run them.

>>> import numpy as np, tracer
>>> from tracer import nn
>>> m = nn.Linear(4, 2).eval()
>>> sm = tracer.trace(m, np.ones((3, 4), dtype=np.float32))
>>> np.allclose(sm(np.ones((3, 4), dtype=np.float32)), m(np.ones((3, 4), dtype=np.float32)))
True
"""

from ir.errors import (
    DeviceError,
    ScriptError,
    SerializationError,
    TracerError,
    TracerWarning,
    TracingCheckError,
    TracingError,
)
from runtime.module import ScriptFunction, ScriptModule

from . import functional, nn
from .nn import Module
from .trace import trace

__version__ = "0.1.0"

__all__ = [
    "DeviceError",
    "Module",
    "ScriptError",
    "ScriptFunction",
    "ScriptModule",
    "SerializationError",
    "TracerError",
    "TracerWarning",
    "TracingCheckError",
    "TracingError",
    "functional",
    "nn",
    "trace",
]
