"""``tracer.nn.Module``: the base class of user models.

Assigning an ``np.ndarray`` registers a parameter, assigning a ``Module`` registers a submodule,
and ``int``/``float``/``bool``/``str``/``None`` (and tuples/lists of them) are constant attributes.
Parameter names and ``state_dict`` keys follow PyTorch, so converted PyTorch weights load as is.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

import numpy as np

from runtime.module import IncompatibleKeys, ScriptModule

from .. import _state

__all__ = ["Module", "IncompatibleKeys", "is_constant"]

_CONSTANT_SCALARS = (int, float, bool, str, type(None))


def is_constant(value: Any) -> bool:
    """Whether ``value`` may be a constant attribute (scalars, ``None``, tuples/lists of them)."""
    if isinstance(value, _CONSTANT_SCALARS):
        return True
    if isinstance(value, (tuple, list)):
        return all(is_constant(v) for v in value)
    return False


class Module:
    """Base class for models whose ``forward`` is NumPy code.

    Examples
    --------
    >>> import numpy as np
    >>> from tracer import nn
    >>> class Scale(nn.Module):
    ...     def __init__(self):
    ...         super().__init__()
    ...         self.w = np.ones(3, dtype=np.float32)
    ...         self.factor = 2.0
    ...     def forward(self, x):
    ...         return x * self.w * self.factor
    >>> m = Scale()
    >>> [name for name, _ in m.named_parameters()]
    ['w']
    >>> m(np.arange(3, dtype=np.float32))
    array([0., 2., 4.], dtype=float32)
    """

    training: bool

    def __init__(self) -> None:
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "training", True)

    # -- attributes -------------------------------------------------------------------------------
    def _check_init(self) -> None:
        if "_parameters" not in self.__dict__:
            raise AttributeError(
                f"{type(self).__name__}.__init__ must call super().__init__() before assigning attributes"
            )

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, np.ndarray):
            self._check_init()
            if name in self._buffers:
                self._buffers[name] = value
                return
            self._remove(name)
            self._parameters[name] = value
        elif isinstance(value, (Module, ScriptModule)):
            self._check_init()
            self._remove(name)
            self._modules[name] = value
        else:
            if "_parameters" in self.__dict__:
                self._remove(name)
            object.__setattr__(self, name, value)

    def _remove(self, name: str) -> None:
        for table in (self._parameters, self._buffers, self._modules):
            table.pop(name, None)
        self._non_persistent.discard(name)
        self.__dict__.pop(name, None)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for table in ("_parameters", "_buffers"):
            if table in d and name in d[table]:
                value = d[table][name]
                tracer = _state.current()
                return value if tracer is None or value is None else tracer.state_value(self, name, value)
        if "_modules" in d and name in d["_modules"]:
            return d["_modules"][name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name: str) -> None:
        if name in self._parameters or name in self._buffers or name in self._modules:
            self._remove(name)
        else:
            object.__delattr__(self, name)

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._parameters, *self._buffers, *self._modules})

    def register_buffer(self, name: str, tensor: np.ndarray | None, persistent: bool = True) -> None:
        """Register ``tensor`` as a buffer (state that is not a parameter, e.g. running means)."""
        self._check_init()
        if not isinstance(name, str) or not name.isidentifier():
            raise ValueError(f"buffer name must be an identifier, got {name!r}")
        if tensor is not None and not isinstance(tensor, np.ndarray):
            raise TypeError(f"buffer {name!r} must be an np.ndarray or None, got {type(tensor).__name__}")
        self._remove(name)
        self._buffers[name] = tensor
        if not persistent:
            self._non_persistent.add(name)

    def register_parameter(self, name: str, param: np.ndarray | None) -> None:
        """Register ``param`` (``None`` keeps the name with no value, like a missing bias)."""
        self._check_init()
        self._remove(name)
        self._parameters[name] = param

    # -- calling ----------------------------------------------------------------------------------
    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        tracer = _state.current()
        if tracer is None:
            return self.forward(*args, **kwargs)
        return tracer.call_module(self, args, kwargs)

    # -- traversal --------------------------------------------------------------------------------
    def named_modules(self, memo: set[int] | None = None, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """``(qualified name, module)`` for this module and every submodule, each once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            path = f"{prefix}.{name}" if prefix else name
            if isinstance(child, ScriptModule):
                yield from child.named_modules(path)
            elif child is not None:
                yield from child.named_modules(memo, path)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, Module]]:
        for name, child in self._modules.items():
            if child is not None:
                yield name, child

    def children(self) -> Iterator[Module]:
        for _, child in self.named_children():
            yield child

    def _named_state(self, table: str, recurse: bool) -> Iterator[tuple[str, np.ndarray]]:
        seen: set[int] = set()
        modules = self.named_modules() if recurse else iter([("", self)])
        for prefix, mod in modules:
            for name, value in mod.__dict__[table].items():
                if value is None or id(value) in seen:
                    continue
                seen.add(id(value))
                yield (f"{prefix}.{name}" if prefix else name), value

    def named_parameters(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        """``(qualified name, array)`` for every parameter, shared arrays once."""
        for name, value in self._named_state("_parameters", recurse):
            yield (f"{prefix}.{name}" if prefix else name), value

    def parameters(self, recurse: bool = True) -> Iterator[np.ndarray]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True) -> Iterator[tuple[str, np.ndarray]]:
        for name, value in self._named_state("_buffers", recurse):
            yield (f"{prefix}.{name}" if prefix else name), value

    def buffers(self, recurse: bool = True) -> Iterator[np.ndarray]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    # -- state ------------------------------------------------------------------------------------
    def state_dict(self) -> OrderedDict[str, np.ndarray]:
        """Parameters and persistent buffers by qualified name (the arrays themselves, not copies)."""
        out: OrderedDict[str, np.ndarray] = OrderedDict()
        for prefix, mod in self.named_modules():
            dot = f"{prefix}." if prefix else ""
            for name, value in mod._parameters.items():
                if value is not None:
                    out[dot + name] = value
            for name, value in mod._buffers.items():
                if value is not None and name not in getattr(mod, "_non_persistent", ()):
                    out[dot + name] = value
        return out

    def load_state_dict(self, state_dict: dict[str, Any], strict: bool = True) -> IncompatibleKeys:
        """Copy arrays from ``state_dict`` into this module's parameters and buffers.

        Shapes must match exactly; values are cast to the existing dtype.  With ``strict=True``
        (the default) missing or unexpected keys raise ``KeyError`` listing them.
        """
        own: dict[str, tuple[Module, str, str]] = {}
        for prefix, mod in self.named_modules():
            dot = f"{prefix}." if prefix else ""
            for name, value in mod._parameters.items():
                if value is not None:
                    own[dot + name] = (mod, "_parameters", name)
            for name, value in mod._buffers.items():
                if value is not None and name not in getattr(mod, "_non_persistent", ()):
                    own[dot + name] = (mod, "_buffers", name)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict if k not in own]
        if strict and (missing or unexpected):
            raise KeyError(
                f"load_state_dict for {type(self).__name__}: missing keys {missing}, "
                f"unexpected keys {unexpected}; pass strict=False to load the keys that match"
            )
        errors = []
        for key, (mod, table, name) in own.items():
            if key not in state_dict:
                continue
            new = np.asarray(state_dict[key])
            old = mod.__dict__[table][name]
            if new.shape != old.shape:
                errors.append(f"{key}: checkpoint shape {new.shape}, model shape {old.shape}")
                continue
            mod.__dict__[table][name] = np.array(new, dtype=old.dtype, copy=True)
        if errors:
            raise ValueError("load_state_dict: shape mismatch for " + "; ".join(errors))
        return IncompatibleKeys(missing, unexpected)

    def train(self, mode: bool = True) -> Module:
        """Set training mode on this module and every submodule; returns ``self``."""
        for m in self.modules():
            object.__setattr__(m, "training", bool(mode))
        return self

    def eval(self) -> Module:
        """Same as ``train(False)``."""
        return self.train(False)

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        head = f"{type(self).__name__}({self.extra_repr()}"
        if not lines:
            return head + ")"
        return head + "\n  " + "\n  ".join(lines) + "\n)"
