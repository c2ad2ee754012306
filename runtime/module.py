"""``ScriptModule`` and ``ScriptFunction``: what tracing returns and what loading returns.

A ScriptModule is a tree that mirrors the original module hierarchy: each level holds its
parameters, buffers, constant attributes and children; the root holds the methods (graphs).
Graphs refer to state by qualified name (``fc.weight``), resolved on every call, so assigning
``sm.fc.weight = new`` takes effect at the next call.
"""

from __future__ import annotations

import threading
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from ir import Graph, TracerWarning, print_code

from .backends import Executor, backend_names, default_backend, make_executor
from .devices import DeviceLike, device, device_of, resolve, to_device, to_host
from .flat_state import StateTable, flat_state
from .module_state import IncompatibleKeys, StateMixin
from .training import flags_read, specialize

__all__ = ["ScriptModule", "ScriptFunction", "IncompatibleKeys"]

#: Set by ``tracer`` so that calling a ScriptModule while a model is traced records its program
#: (instead of running it on traced values); returns ``NotImplemented`` to run normally.
call_hook: Any = None


class ScriptModule(StateMixin):
    """A captured program with its state; calling it runs ``forward``.

    Attributes are the original module's: parameters (``sm.fc.weight``), buffers, constant
    attributes and submodules.  Use :func:`tracer.trace` or :func:`tracer.script` to make one.
    """

    def __init__(
        self,
        *,
        type_name: str,
        parameters: dict[str, np.ndarray] | None = None,
        buffers: dict[str, np.ndarray] | None = None,
        constants: dict[str, Any] | None = None,
        children: dict[str, ScriptModule] | None = None,
        methods: dict[str, Graph] | None = None,
        training: bool = False,
        example_inputs: dict[str, tuple] | None = None,
        non_persistent: Iterable[str] = (),
    ) -> None:
        d = self.__dict__
        d["_type_name"] = type_name
        d["_parameters"] = StateTable(parameters or {})  # a change is seen by the next call (flat_state)
        d["_buffers"] = StateTable(buffers or {})
        d["_non_persistent"] = set(non_persistent)  # buffers left out of state_dict, as in Module
        d["_constants"] = OrderedDict(constants or {})
        d["_modules"] = StateTable(children or {})
        d["_methods"] = OrderedDict(methods or {})
        d["_programs"] = {}
        d["_flags"] = {}  # method -> the training flags its program reads
        d["_lock"] = threading.Lock()
        d["training"] = training
        d["_traced_training"] = None  # the mode a traced program baked in (None: scripted, read at run time)
        d["_example_inputs"] = dict(example_inputs or {})
        d["_python_methods"] = StateTable()  # @tracer.ignore methods by qualified name (programs call them)
        d["_unused_methods"] = set()  # @tracer.unused methods: stubs that raise
        d["backend"] = default_backend()

    # -- attributes -------------------------------------------------------------------------------
    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for table in ("_parameters", "_buffers", "_modules", "_constants"):
            if name in d.get(table, ()):
                return d[table][name]
        if name in d.get("_methods", ()):
            return _BoundMethod(self, name)
        if name in d.get("_unused_methods", ()):
            return _unused_stub(name)
        raise AttributeError(f"{d.get('_type_name', 'ScriptModule')!r} (ScriptModule) has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        d = self.__dict__
        for table in ("_parameters", "_buffers"):
            if name in d[table]:
                old = d[table][name]
                if not isinstance(value, np.ndarray) or value.shape != old.shape or value.dtype != old.dtype:
                    raise TypeError(
                        f"{name} must stay an np.ndarray of shape {old.shape} and dtype {old.dtype}; "
                        "the program was captured for that"
                    )
                d[table][name] = value
                return
        if name in d["_modules"] or name in d["_constants"] or name in d["_methods"]:
            raise AttributeError(f"cannot reassign {name!r} of a ScriptModule; it is part of the program")
        object.__setattr__(self, name, value)

    def __dir__(self) -> list[str]:
        d = self.__dict__
        return sorted({*super().__dir__(), *d["_parameters"], *d["_buffers"], *d["_modules"],
                       *d["_constants"], *d["_methods"]})

    # -- running ----------------------------------------------------------------------------------
    def _program(self, method: str) -> Executor:
        """The executor of ``method`` for the current ``training`` flags of the modules it reads
        them from (one per combination: see ``runtime.training``)."""
        d = self.__dict__
        programs = d["_programs"]
        flags = d["_flags"].get(method)
        if flags is None:
            flags = d["_flags"][method] = flags_read(d["_methods"][method])
        key = (method, *[self._flag(name) for name in flags]) if flags else (method,)
        prog = programs.get(key)
        if prog is None:
            with d["_lock"]:
                prog = programs.get(key)
                if prog is None:
                    graph = specialize(d["_methods"][method], dict(zip(flags, key[1:])))
                    prog = programs[key] = make_executor(d["backend"], graph)
        return prog

    def _forget_programs(self, method: str) -> None:
        """Drop ``method``'s executors (its graph was replaced)."""
        with self.__dict__["_lock"]:
            programs = self.__dict__["_programs"]
            for key in [k for k in programs if k[0] == method]:
                del programs[key]
            self.__dict__["_flags"].pop(method, None)

    def _flag(self, name: str) -> bool:
        module: ScriptModule = self
        for part in name.split(".")[:-1]:
            module = module.__dict__["_modules"][part]
        return bool(module.__dict__["training"])

    def set_backend(self, name: str) -> ScriptModule:
        """Run this module (and its submodules) on backend ``name`` from now on; returns ``self``."""
        if name not in backend_names():
            raise ValueError(f"unknown backend {name!r}; available here: {', '.join(backend_names())}")
        for m in self.modules():
            m.__dict__["backend"] = name
            m.__dict__["_programs"] = {}
        return self

    def run_method(self, method: str, *args: Any) -> Any:
        """Run the method ``method`` with positional arguments."""
        if method not in self.__dict__["_methods"]:
            raise AttributeError(f"{self._type_name} has no method {method!r}; it has {list(self._methods)}")
        return self._program(method).run(args, flat_state(self))

    def forward(self, *args: Any) -> Any:
        return self.run_method("forward", *args)

    def __call__(self, *args: Any) -> Any:
        if call_hook is not None:
            result = call_hook(self, args)
            if result is not NotImplemented:
                return result
        if "forward" not in self.__dict__["_methods"]:
            return self.run_method("forward", *args)  # raises
        return self._program("forward").run(args, flat_state(self))

    def _flat_state(self) -> dict[str, Any]:
        """Parameters and buffers by qualified name, as executors read them (``runtime.flat_state``)."""
        return flat_state(self)

    # -- devices, saving, pickling ---------------------------------------------------------------
    @property
    def device(self) -> device:
        """The device of this module's arrays (``cpu`` when it has none)."""
        for _, array in self._named("_parameters"):
            return device_of(array)
        for _, array in self._named("_buffers"):
            return device_of(array)
        return device("cpu")

    def to(self, target: DeviceLike) -> ScriptModule:
        """Move every parameter and buffer to ``target``; returns ``self``.

        Raises ``tracer.DeviceError`` when the device does not exist on this machine.
        """
        dev = resolve(str(device(target)), None)
        moved: dict[int, Any] = {}  # an array shared by two attributes stays shared
        for mod in self.modules():
            for table in ("_parameters", "_buffers"):
                entries = mod.__dict__[table]
                for name, value in list(entries.items()):
                    if id(value) not in moved:
                        moved[id(value)] = to_device(to_host(value), dev)
                    entries[name] = moved[id(value)]
        return self

    def save(self, f: Any, _extra_files: dict[str, Any] | None = None) -> None:
        """Same as ``tracer.save(self, f, _extra_files)``."""
        from .archive import save

        save(self, f, _extra_files)

    def __reduce__(self) -> tuple:
        from .archive import load_bytes, save_bytes

        return (load_bytes, (save_bytes(self),))

    # -- program ----------------------------------------------------------------------------------
    @property
    def graph(self) -> Graph:
        """The ``forward`` graph (an :class:`ir.Graph`)."""
        return self._methods["forward"]

    @property
    def graphs(self) -> dict[str, Graph]:
        """Every method's graph by name."""
        return dict(self._methods)

    @property
    def code(self) -> str:
        """The program as Python-syntax text: every method, ``forward`` first."""
        return "\n".join(print_code(g) for g in self._methods.values())

    @property
    def original_name(self) -> str:
        return self._type_name

    # -- state ------------------------------------------------------------------------------------
    def named_modules(self, prefix: str = "", memo: set[int] | None = None) -> Iterator[tuple[str, ScriptModule]]:
        """``(qualified name, module)`` for this module and every submodule, each once."""
        memo = set() if memo is None else memo
        if id(self) in memo:
            return
        memo.add(id(self))
        yield prefix, self
        for name, child in self._modules.items():
            yield from child.named_modules(f"{prefix}.{name}" if prefix else name, memo)

    def modules(self) -> Iterator[ScriptModule]:
        for _, m in self.named_modules():
            yield m

    def named_children(self) -> Iterator[tuple[str, ScriptModule]]:
        yield from self._modules.items()

    def children(self) -> Iterator[ScriptModule]:
        yield from self._modules.values()

    def train(self, mode: bool = True) -> ScriptModule:
        """Set the ``training`` flag of this module and its submodules.

        Scripted programs read it when they run (``Dropout``, ``BatchNorm2d``, ``if
        self.training:``).  A traced program baked in the mode it was traced in: asking it for the
        other one warns, as TorchScript's trace does."""
        baked = [m._type_name for m in self.modules()
                 if m.__dict__["_traced_training"] is not None and m.__dict__["_traced_training"] != bool(mode)]
        if baked:
            traced_in = "eval" if mode else "training"
            warnings.warn(
                f"{self._type_name} was traced in {traced_in} mode and its program keeps that mode's behaviour "
                f"({', '.join(dict.fromkeys(baked))}); trace it again after {'train()' if mode else 'eval()'}, "
                "or use tracer.script, whose programs read self.training when they run", TracerWarning, stacklevel=2)
        for m in self.modules():
            m.__dict__["training"] = bool(mode)
        return self

    def eval(self) -> ScriptModule:
        return self.train(False)

    @property
    def example_inputs(self) -> dict[str, tuple]:
        """The stored example inputs by method (what ``_restore_shapes`` retraces with)."""
        return dict(self._example_inputs)

    def __repr__(self) -> str:
        lines = [f"({name}): " + repr(child).replace("\n", "\n  ") for name, child in self._modules.items()]
        head = f"ScriptModule(original_name={self._type_name}"
        return head + (")" if not lines else "\n  " + "\n  ".join(lines) + "\n)")


def _unused_stub(name: str) -> Any:
    def stub(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"method {name!r} was marked @tracer.unused and is only a stub in this module")

    stub.__name__ = name
    return stub


class _BoundMethod:
    def __init__(self, module: ScriptModule, name: str) -> None:
        self._module = module
        self.__name__ = name

    def __call__(self, *args: Any) -> Any:
        return self._module.run_method(self.__name__, *args)

    @property
    def graph(self) -> Graph:
        return self._module._methods[self.__name__]

    @property
    def code(self) -> str:
        return print_code(self.graph)


class ScriptFunction(ScriptModule):
    """A captured plain function (no state); calling it runs the program."""

    def __repr__(self) -> str:
        return f"ScriptFunction(original_name={self._type_name})"
