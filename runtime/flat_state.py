"""The flat ``qualified name -> array`` state a ScriptModule hands its executors, kept across calls.

Programs look parameters and buffers up by qualified name (``fc.weight``) in one flat mapping.
Building it walks the module tree (2-6 us per call for the zoo's models), so a module keeps the
mapping its last call built and hands it out again while no state table of any module changed:
every table (``_parameters``, ``_buffers``, ``_modules``, ``_python_methods``) is a
:class:`StateTable`, whose every change (``sm.fc.weight = w``, ``load_state_dict`` replacing an
array, ``to(device)``) stamps a new process-wide :data:`generation`.  Arrays updated in place
stay the same objects, so the kept mapping holds them as they are.  A module holding anything
but NumPy arrays (device arrays, copied to the host per call) or a table that is not a
:class:`StateTable` builds the mapping on every call, as before.  The kept mapping holds a
replaced array until the module's next call.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

import numpy as np

from .devices import to_host
from .interpreter import python_method_key

if TYPE_CHECKING:
    from .module import ScriptModule

__all__ = ["StateTable", "flat_state", "generation"]

_STAMPS = itertools.count(1)  # next() is atomic: concurrent changes never share a stamp

#: Stamped anew by every change of any :class:`StateTable` in the process.
generation = 0


def _changed() -> None:
    global generation
    generation = next(_STAMPS)


class StateTable(OrderedDict):
    """An ``OrderedDict`` of a module's state whose every change stamps a new :data:`generation`
    (after the change: a mapping built from a walk that began before it is never kept)."""

    __slots__ = ()

    def __setitem__(self, key: Any, value: Any) -> None:
        super().__setitem__(key, value)
        _changed()

    def __delitem__(self, key: Any) -> None:
        super().__delitem__(key)
        _changed()

    def __ior__(self, other: Any) -> StateTable:
        super().__ior__(other)
        _changed()
        return self

    def clear(self) -> None:
        super().clear()
        _changed()

    def pop(self, *args: Any) -> Any:
        try:
            return super().pop(*args)
        finally:
            _changed()

    def popitem(self, last: bool = True) -> tuple:
        try:
            return super().popitem(last)
        finally:
            _changed()

    def setdefault(self, key: Any, default: Any = None) -> Any:
        try:
            return super().setdefault(key, default)
        finally:
            _changed()

    def update(self, *args: Any, **kwargs: Any) -> None:
        try:
            super().update(*args, **kwargs)
        finally:
            _changed()

    def move_to_end(self, key: Any, last: bool = True) -> None:
        super().move_to_end(key, last)
        _changed()


def flat_state(module: ScriptModule) -> dict[str, Any]:
    """``module``'s parameters and buffers by qualified name (and its Python methods by
    ``python_method_key``): the mapping its last call used while nothing changed since."""
    d = module.__dict__
    kept = d.get("_state_cache")
    if kept is not None and kept[0] == generation and kept[1] is d["_python_methods"]:
        return kept[2]
    methods = d["_python_methods"]
    if type(methods) is not StateTable:  # tracing and scripting set a plain dict
        methods = d["_python_methods"] = StateTable(methods)
    stamp = generation  # read before the walk
    state: dict[str, Any] = {python_method_key(k): f for k, f in methods.items()}
    keep = True
    for prefix, mod in module.named_modules():
        dot = f"{prefix}." if prefix else ""
        md = mod.__dict__
        keep = keep and type(md["_modules"]) is StateTable
        for table in ("_parameters", "_buffers"):
            entries = md[table]
            keep = keep and type(entries) is StateTable
            for name, value in entries.items():
                if isinstance(value, np.ndarray):
                    state[dot + name] = value
                else:
                    state[dot + name] = to_host(value)
                    keep = False  # a host copy per call
    d["_state_cache"] = (stamp, methods, state) if keep else None
    return state
