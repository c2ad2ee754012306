"""The state of a ``ScriptModule`` by name: parameters, buffers and ``state_dict``.

Split out of ``runtime.module``: :class:`StateMixin` is a base of ``ScriptModule``.  Each level of
the tree keeps its arrays in ``_parameters`` and ``_buffers`` (``_non_persistent`` names buffers
``state_dict`` leaves out); these methods walk the tree (``named_modules``) the way PyTorch's
``Module`` does, so keys and their order match the original model's.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from .devices import device_of, to_device, to_host

__all__ = ["StateMixin", "IncompatibleKeys"]


class IncompatibleKeys(NamedTuple):
    """What ``load_state_dict(..., strict=False)`` did not match (as PyTorch returns it)."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class StateMixin:
    """Parameters, buffers and ``state_dict`` of a module tree (``ScriptModule``'s)."""

    _type_name: str

    def named_modules(self, prefix: str = "", memo: set[int] | None = None) -> Iterator[tuple[str, Any]]:
        raise NotImplementedError

    def modules(self) -> Iterator[Any]:
        raise NotImplementedError

    def _named(self, table: str) -> Iterator[tuple[str, np.ndarray]]:
        for prefix, mod in self.named_modules():
            dot = f"{prefix}." if prefix else ""
            for name, value in mod.__dict__[table].items():
                yield dot + name, value

    def _unique(self, table: str) -> Iterator[tuple[str, np.ndarray]]:
        seen: set[int] = set()
        for name, value in self._named(table):
            if id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def named_parameters(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(qualified name, array)`` for every parameter; an array shared by two attributes is
        listed once, under its first name (as ``Module.named_parameters``)."""
        yield from self._unique("_parameters")

    def parameters(self) -> Iterator[np.ndarray]:
        for _, p in self.named_parameters():
            yield p

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        """``(qualified name, array)`` for every buffer (non-persistent ones too), each array once."""
        yield from self._unique("_buffers")

    def buffers(self) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers():
            yield b

    def _state_slots(self) -> OrderedDict[str, tuple[Any, str, str]]:
        """``state_dict``'s keys, each with (module, table, name): per module its parameters, then
        its persistent buffers, modules in ``named_modules`` order (``Module.state_dict``'s order)."""
        slots: OrderedDict[str, tuple[Any, str, str]] = OrderedDict()
        for prefix, mod in self.named_modules():
            dot = f"{prefix}." if prefix else ""
            for name in mod.__dict__["_parameters"]:
                slots[dot + name] = (mod, "_parameters", name)
            for name in mod.__dict__["_buffers"]:
                if name not in mod.__dict__["_non_persistent"]:
                    slots[dot + name] = (mod, "_buffers", name)
        return slots

    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Parameters and persistent buffers by qualified name (the arrays themselves): the same
        keys in the same order as the original ``Module``'s ``state_dict``."""
        return OrderedDict((k, m.__dict__[t][n]) for k, (m, t, n) in self._state_slots().items())

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy the arrays of ``state_dict`` into this module's parameters and persistent buffers.

        Values are copied into the existing arrays (so arrays shared by two attributes stay
        shared, and a traced module's original ``Module`` sees them too); the compiled programs
        stay valid and use the new values from the next call.  Shapes and dtypes must be the
        ones the program was captured with; nothing is changed when one does not match.

        Raises
        ------
        KeyError
            With ``strict=True``, when keys are missing or unexpected (listing them).
        ValueError
            When a shape or dtype differs (naming each key).

        Examples
        --------
        >>> import numpy as np, tracer
        >>> sm = tracer.trace(tracer.nn.Linear(2, 1, bias=False), np.ones((1, 2), np.float32))
        >>> sm.load_state_dict({"weight": np.array([[1.0, 2.0]], np.float32)})
        IncompatibleKeys(missing_keys=[], unexpected_keys=[])
        >>> sm(np.ones((1, 2), np.float32))
        array([[3.]], dtype=float32)
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"load_state_dict needs a mapping of names to arrays, got {type(state_dict).__name__}")
        own = self._state_slots()
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(
                f"load_state_dict for {self._type_name}: missing keys {missing}, unexpected keys {unexpected}; "
                "pass strict=False to load the keys that match"
            )
        errors, staged = [], []
        for key, (mod, table, name) in own.items():
            if key not in state_dict:
                continue
            old = mod.__dict__[table][name]
            new = state_dict[key]
            new = new if isinstance(new, np.ndarray) else np.asarray(to_host(new))
            if new.shape != tuple(old.shape):
                errors.append(f"{key}: checkpoint shape {new.shape}, module shape {tuple(old.shape)}")
            elif new.dtype != old.dtype:
                errors.append(f"{key}: checkpoint dtype {new.dtype}, module dtype {old.dtype} "
                              f"(convert it with .astype(np.{old.dtype.name}))")
            else:
                staged.append((mod, table, name, new))
        if errors:
            raise ValueError(f"load_state_dict for {self._type_name}: the program was captured for other "
                             "shapes or dtypes: " + "; ".join(errors))
        for mod, table, name, new in staged:
            self._assign_state(mod.__dict__[table][name], new)
        return IncompatibleKeys(missing, unexpected)

    def _assign_state(self, old: Any, new: np.ndarray) -> None:
        """Put ``new``'s values in ``old``: in place when ``old`` is a writable C-ordered host array
        (the numba backend caches addresses by array object, so they stay valid), else as a new
        array in every slot that holds ``old``."""
        if isinstance(old, np.ndarray) and old.flags.writeable and old.flags.c_contiguous:
            np.copyto(old, new)
            return
        fresh = to_device(np.array(new, copy=True, order="C"), device_of(old))
        for mod in self.modules():
            for table in ("_parameters", "_buffers"):
                entries = mod.__dict__[table]
                for name, value in entries.items():
                    if value is old:
                        entries[name] = fresh
