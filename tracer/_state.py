"""The active tracer of this thread (``None`` when running eagerly).

``tracer.nn.Module`` consults it to hand out parameter proxies and to record module scopes;
keeping it in a leaf module avoids an import cycle between ``nn`` and the tracer.
"""

from __future__ import annotations

import threading
from typing import Any

_local = threading.local()


def current() -> Any:
    """The tracer recording on this thread, or ``None``."""
    return getattr(_local, "tracer", None)


def set_current(tracer: Any) -> Any:
    """Install ``tracer`` (may be ``None``); returns the previous one."""
    prev = current()
    _local.tracer = tracer
    return prev
