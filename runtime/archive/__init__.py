"""The archive: one zip file holding a module's program text, weights, stored example inputs
and extra files.  Format: ``docs/ARCHIVE.md``."""

from .reader import ArchiveInfo, inspect, load, load_bytes, supported_version
from .writer import save, save_bytes

__all__ = ["ArchiveInfo", "inspect", "load", "load_bytes", "save", "save_bytes", "supported_version"]
