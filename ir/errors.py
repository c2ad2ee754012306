"""The exception tree shared by every package.

It lives in ``ir`` (the lowest package) so that ``ir``, ``codegen`` and ``runtime`` can raise the
same classes that ``tracer`` re-exports to users.  Each class also derives from the built-in
exception that fits, so ``except ValueError`` keeps working in user code.
"""

from __future__ import annotations

__all__ = [
    "TracerError",
    "TracingError",
    "TracingCheckError",
    "ScriptError",
    "SerializationError",
    "DeviceError",
    "GuardError",
    "TracerWarning",
    "VerificationError",
]


class TracerError(Exception):
    """Base class of every error raised by this package."""


class TracingError(TracerError, ValueError):
    """A model could not be captured (unsupported operation, bad example inputs, ...)."""


class TracingCheckError(TracerError, ValueError):
    """The captured program does not reproduce the eager results (``check_trace``)."""


class ScriptError(TracerError, ValueError):
    """Source code uses a construct the script frontend does not support."""


class SerializationError(TracerError, KeyError):
    """An archive could not be written or read.

    Also a ``KeyError`` because a missing extra file is reported with this class.
    """

    def __str__(self) -> str:  # KeyError quotes its message; we want it verbatim.
        return str(self.args[0]) if self.args else ""


class DeviceError(TracerError, RuntimeError):
    """A device is unknown or not available on this machine."""


class GuardError(TracerError, RuntimeError):
    """A traced program ran on inputs whose sizes differ from a size baked in while tracing
    (``range(len(x))``, ``int(x.shape[0])``, a dict keyed by a size): the result would be wrong."""


class TracerWarning(UserWarning):
    """Something was captured in a way that may not generalise (a value baked into the program)."""


class VerificationError(TracerError, AssertionError):
    """A graph broke an IR invariant (a bug in a pass or a frontend, or a hostile archive)."""
