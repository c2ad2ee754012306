"""The archive: one zip file holding a module's program text, weights, stored example inputs
and extra files.  Format: ``docs/ARCHIVE.md``.

``save`` and ``save_bytes`` are imported at first use: a process that only loads never imports
the writer (nor what it needs: ``secrets``, ``tempfile``).
"""

from typing import Any

from .reader import ArchiveInfo, inspect, load, load_bytes, supported_version

__all__ = ["ArchiveInfo", "inspect", "load", "load_bytes", "save", "save_bytes", "supported_version"]


def __getattr__(name: str) -> Any:
    if name in ("save", "save_bytes"):
        from . import writer

        value = globals()[name] = getattr(writer, name)
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
