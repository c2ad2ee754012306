"""Generated source made visible to ``linecache``: :func:`register_source`.

Kernels and drivers are generated Python text; registering it under the name it was compiled
with lets tracebacks, ``inspect`` and numba's messages show its lines.  A module of its own so
that a process loading cached kernels (``codegen.cache``) and generating drivers
(``runtime.driver``) does not import ``codegen.compiler`` and ``codegen.prebuilt``, which only
compiling needs.
"""

from __future__ import annotations

import linecache

__all__ = ["register_source"]


def register_source(filename: str, text: str) -> None:
    """Make ``text`` visible to ``linecache`` (tracebacks, ``inspect``, numba's error messages)."""
    lines = text.splitlines(keepends=True)
    linecache.cache[filename] = (len(text), None, lines, filename)
