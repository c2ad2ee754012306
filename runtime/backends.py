"""Backends that execute a graph, chosen per ScriptModule.

A backend is a factory ``graph -> Executor``.  An executor runs the graph
(``run(args, state)``) and may build code ahead of time for given input types
(``prepare(input_types)``, used by ``tracer.load(..., _restore_shapes=True)``).

Backends are registered by name with the dotted path of their factory, imported on first use so
``import tracer`` stays fast (numba is imported only when a numba-backed module first runs).
``TRACER_BACKEND=interpreter|numba`` picks the default; otherwise ``numba`` when it is registered
and importable, else ``interpreter``.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from ir import Graph, Type

__all__ = ["Executor", "register_backend", "backend_names", "default_backend", "make_executor"]


class Executor(Protocol):
    def run(self, args: Sequence[Any], state: Mapping[str, Any]) -> Any: ...

    def prepare(self, input_types: Sequence[Type]) -> None: ...


# name -> (dotted "module:attribute" of the factory, module whose presence makes it available)
_REGISTRY: dict[str, tuple[str, str | None]] = {
    "interpreter": ("runtime.interpreter:Program", None),
    "numba": ("runtime.compiled:NumbaExecutor", "numba"),
}
_FACTORIES: dict[str, Callable[[Graph], Executor]] = {}

#: Preference order for the default backend.
_PREFERENCE = ("numba", "interpreter")


def register_backend(name: str, factory: str, requires: str | None = None) -> None:
    """Register backend ``name`` whose factory lives at ``"package.module:attribute"``.

    ``requires`` names a module that must be importable for the backend to be available.
    """
    _REGISTRY[name] = (factory, requires)
    _FACTORIES.pop(name, None)


#: Modules ``_available`` found once (every ScriptModule a load builds, one per submodule, asks):
#: ``find_spec`` searches ``sys.path`` each time (transformer4: 30 searches, a few ms).  A module
#: not found is looked for again next time.
_FOUND: set[str] = set()


def _available(name: str) -> bool:
    _, requires = _REGISTRY[name]
    if requires is None or requires in _FOUND:
        return True
    if importlib.util.find_spec(requires) is None:
        return False
    _FOUND.add(requires)
    return True


def backend_names() -> list[str]:
    """Backends registered and available on this machine."""
    return [n for n in _REGISTRY if _available(n)]


def default_backend() -> str:
    """The backend a new ScriptModule uses (see the module docstring)."""
    requested = os.environ.get("TRACER_BACKEND", "").strip().lower()
    if requested:
        if requested not in _REGISTRY:
            raise ValueError(
                f"TRACER_BACKEND={requested!r} is not a backend; use one of {', '.join(_REGISTRY)}"
            )
        if not _available(requested):
            raise ValueError(f"TRACER_BACKEND={requested!r} needs {_REGISTRY[requested][1]!r}, which is not installed")
        return requested
    return next(n for n in _PREFERENCE if n in _REGISTRY and _available(n))


def make_executor(name: str, graph: Graph) -> Executor:
    """An executor of backend ``name`` for ``graph``."""
    factory = _FACTORIES.get(name)
    if factory is None:
        if name not in _REGISTRY:
            raise ValueError(f"unknown backend {name!r}; registered: {', '.join(_REGISTRY)}")
        module, _, attr = _REGISTRY[name][0].partition(":")
        factory = _FACTORIES[name] = getattr(importlib.import_module(module), attr)
    return factory(graph)
