"""Reading archives: ``load``, ``inspect``.

Nothing in a file is ever executed: the program text is parsed with ``ast`` and compiled by
``ir.frontend`` (registered ops and this module's own state only), metadata is JSON checked
field by field, and array data is raw bytes whose size, dtype, shape and place in the file are
checked before anything is allocated or mapped.  Anything wrong is a ``SerializationError``.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from typing import Any

import numpy as np

from ir import (
    DeviceError,
    ScalarType,
    ScriptError,
    SerializationError,
    TracerWarning,
    VerificationError,
    type_of,
    verify,
)
from ir.frontend import parse_program
from ir.ops import MissingRuleError, all_ops
from ir.types import parse_type

from ..devices import MapLocation, resolve, to_device
from ..module import ScriptFunction, ScriptModule
from ..progress import progress
from ..training import flag_name
from ..upgraders import upgrade
from .container import Archive
from .format import (
    MAX_CODE_BYTES,
    MAX_EXTRA_BYTES,
    MAX_MODULE_DEPTH,
    decode_value,
    fail,
)
from .validate import expect, ident, pairs, read_meta, supported_version, tensor_table, validate

__all__ = ["load", "load_bytes", "inspect", "ArchiveInfo", "supported_version", "state_types_of", "input_types_of"]


@dataclasses.dataclass(frozen=True)
class ArchiveInfo:
    """What ``tracer.inspect`` reads from an archive's metadata (no program is compiled)."""

    version: int
    extra_files: list[str]
    parameters: dict[str, tuple[tuple[int, ...], str, str]]
    methods: list[str]
    stored_inputs: dict[str, list[str]]
    ops: dict[str, int]
    size_bytes: int
    kind: str = "module"
    producer: str = ""
    signatures: dict[str, list[tuple[str, str]]] = dataclasses.field(default_factory=dict)


class _Loader:
    def __init__(self, ar: Archive, meta: dict[str, Any], map_location: MapLocation) -> None:
        self.ar = ar
        self.meta = meta
        self.table = tensor_table(meta, ar)
        self.map_location = map_location
        self.arrays: dict[int, Any] = {}
        self.devices: dict[str, Any] = {}
        # a line on a terminal while arrays materialize; erased once every tensor is in
        self.progress = progress(f"loading {ar.where}", total=len(self.table), unit="tensors")

    def tensor(self, tid: Any, where: str) -> Any:
        expect(tid, int, where)
        if not 0 <= tid < len(self.table):
            raise fail(f"archive metadata {where}: tensor {tid} does not exist")
        if tid not in self.arrays:
            dtype, shape, saved = self.table[tid]
            array = self.ar.array(f"data/{tid}", dtype, shape)
            if array.dtype.byteorder not in ("=", "|") and not array.dtype.isnative:
                array = array.astype(array.dtype.newbyteorder("="))
            dev = self.devices.get(saved)
            if dev is None:
                try:
                    dev = self.devices[saved] = resolve(saved, self.map_location)
                except DeviceError:
                    raise
            self.arrays[tid] = to_device(array, dev)
            self.progress.advance()
        return self.arrays[tid]

    def module(self, m: Any, where: str, depth: int = 0) -> ScriptModule:
        if depth > MAX_MODULE_DEPTH:
            raise fail(f"archive metadata: the module tree nests deeper than MAX_MODULE_DEPTH={MAX_MODULE_DEPTH}")
        expect(m, dict, where)
        params = {k: self.tensor(v, f"{where}.parameters[{k!r}]") for k, v in pairs(m, "parameters", where)}
        buffers = {k: self.tensor(v, f"{where}.buffers[{k!r}]") for k, v in pairs(m, "buffers", where)}
        constants = {k: decode_value(v, f"{where}.constants[{k!r}]") for k, v in pairs(m, "constants", where)}
        children = {k: self.module(v, f"{where}.{k}", depth + 1) for k, v in pairs(m, "children", where)}
        names = [*params, *buffers, *constants, *children]
        if len(names) != len(set(names)):
            raise fail(f"archive metadata {where}: a name is used twice")
        type_name = expect(m.get("type", "Module"), str, where + ".type")[:200]
        non_persistent = [ident(n, f"{where}.non_persistent")
                          for n in expect(m.get("non_persistent", []), list, f"{where}.non_persistent")]
        if not set(non_persistent) <= set(buffers):
            raise fail(f"archive metadata {where}.non_persistent: names a buffer that does not exist")
        sm = ScriptModule(type_name=type_name, parameters=params, buffers=buffers, constants=constants,
                          children=children, training=bool(expect(m.get("training", False), bool, where)),
                          non_persistent=non_persistent)
        traced = m.get("traced_training")
        sm.__dict__["_traced_training"] = None if traced is None else expect(traced, bool, where + ".traced_training")
        return sm

    def inputs(self) -> dict[str, tuple]:
        out = {}
        for method, values in expect(self.meta.get("inputs", {}), dict, "inputs").items():
            items = []
            for i, v in enumerate(expect(values, list, f"inputs[{method!r}]")):
                where = f"inputs[{method!r}][{i}]"
                if isinstance(v, dict) and set(v) == {"tensor"}:
                    items.append(self.tensor(v["tensor"], where))
                elif isinstance(v, dict) and set(v) == {"tensors", "list"}:
                    arrays = [self.tensor(t, where) for t in expect(v["tensors"], list, where)]
                    items.append(arrays if v["list"] is True else tuple(arrays))
                elif isinstance(v, dict) and set(v) == {"keys", "tensors"}:  # a dict of arrays
                    keys = [decode_value(k, where) for k in expect(v["keys"], list, where)]
                    arrays = [self.tensor(t, where) for t in expect(v["tensors"], list, where)]
                    if len(keys) != len(arrays) or len(set(keys)) != len(keys) or not all(
                            isinstance(k, (str, int)) and not isinstance(k, bool) for k in keys):
                        raise fail(f"archive metadata {where}: a dict input needs distinct str/int keys, one "
                                   "per tensor")
                    items.append(dict(zip(keys, arrays)))
                else:
                    items.append(decode_value(v, where))
            out[method] = tuple(items)
        return out


def state_types_of(sm: ScriptModule, training_flags: bool) -> dict[str, Any]:
    """Types of every parameter and buffer (non-persistent ones and shared arrays included), and
    of each module's ``training`` flag when the archive's programs read them."""
    state = [*sm._named("_parameters"), *sm._named("_buffers")]
    types = {k: type_of(v) if isinstance(v, np.ndarray) else _device_type(v) for k, v in state}
    if training_flags:
        types.update({flag_name(path): ScalarType("bool") for path, _ in sm.named_modules()})
    return types


def input_types_of(methods_meta: Any, where: str) -> dict[str, list[Any]]:
    input_types: dict[str, list[Any]] = {}
    for name, m in expect(methods_meta, dict, where).items():
        ident(name, where)
        ins = expect(expect(m, dict, f"{where}[{name!r}]").get("inputs"), list, f"{where}[{name!r}].inputs")
        try:
            input_types[name] = [parse_type(expect(expect(i, dict, "input").get("type"), str, "input type"))
                                 for i in ins]
        except ValueError as exc:
            raise fail(f"archive metadata {where}[{name!r}]: {exc}") from None
    return input_types


def _parse_methods(ar: Archive, entry: str, sm: ScriptModule, methods_meta: dict[str, Any], where: str,
                   constants: dict[str, Any], unused: list[str], saved_ops: dict[str, int],
                   training_flags: bool = False) -> bool:
    """Compile program text ``entry`` into ``sm``'s methods; returns whether an upgrader changed one."""
    input_types = input_types_of(methods_meta, where)
    try:
        code = ar.read(entry, MAX_CODE_BYTES).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"{ar.where}: the program text {entry} is not UTF-8", exc) from None
    host_constants = {k: np.asarray(v) if isinstance(v, np.ndarray) else v for k, v in constants.items()}
    try:
        graphs = parse_program(code, state_types_of(sm, training_flags), host_constants, input_types,
                               filename=ar.name(entry), unused=unused)
    except ScriptError as exc:
        raise fail(f"{ar.where}: the program text {entry} is not a valid program: {exc}", exc) from None
    if sorted(graphs) != sorted(methods_meta):
        raise fail(f"{ar.where}: {entry} defines {sorted(graphs)} but the metadata lists {sorted(methods_meta)}")
    current = {name: op.version for name, op in all_ops().items()}
    upgraded = False
    for name in list(graphs):
        try:
            graphs[name], changed = upgrade(graphs[name], saved_ops, current)
            verify(graphs[name])
        except (MissingRuleError, VerificationError) as exc:
            raise fail(f"{ar.where}: method {name!r} of {entry} cannot be loaded: {exc}", exc) from None
        upgraded |= changed
    sm.__dict__["_methods"].update(graphs)  # in the program text's order (the saved one)
    return upgraded


def _submodule_methods(ar: Archive, loader: _Loader, m: dict[str, Any], sm: ScriptModule, path: str,
                       depth: int = 0) -> bool:
    """The submodules' own methods (``code/modules/<path>.py``), recursively."""
    upgraded = False
    for (name, child_meta), child in zip(pairs(m, "children", path or "module"), sm._modules.values()):
        qualified = f"{path}.{name}" if path else name
        where = f"module.{qualified}"
        unused = [ident(n, f"{where}.unused_methods")
                  for n in expect(child_meta.get("unused_methods", []), list, f"{where}.unused_methods")]
        child.__dict__["_unused_methods"] = set(unused)
        methods_meta = expect(child_meta.get("methods", {}), dict, f"{where}.methods")
        if methods_meta:
            constants = {ident(k, f"{where}.program_constants"): loader.tensor(v, f"{where}.program_constants")
                         for k, v in expect(child_meta.get("program_constants", {}), dict,
                                             f"{where}.program_constants").items()}
            upgraded |= _parse_methods(ar, f"code/modules/{qualified}.py", child, methods_meta, f"{where}.methods",
                                       constants, unused, loader.meta["ops"],
                                       loader.meta.get("training_flags") is True)
        upgraded |= _submodule_methods(ar, loader, child_meta, child, qualified, depth + 1)
    return upgraded


def _device_type(array: Any) -> Any:
    from ir.types import TensorType

    return TensorType(np.dtype(array.dtype), tuple(array.shape))


def _build(ar: Archive, meta: dict[str, Any], map_location: MapLocation) -> ScriptModule:
    loader = _Loader(ar, meta, map_location)
    root = loader.module(meta.get("module"), "module")
    kind = expect(meta.get("kind", "module"), str, "kind")
    methods_meta = expect(meta.get("methods"), dict, "methods")
    unused = [ident(n, "unused_methods") for n in expect(meta.get("unused_methods", []), list, "unused_methods")]
    constants = {ident(k, "constants"): loader.tensor(v, f"constants[{k!r}]")
                 for k, v in expect(meta.get("constants", {}), dict, "constants").items()}
    upgraded = _parse_methods(ar, "code/program.py", root, methods_meta, "methods", constants, unused, meta["ops"],
                              meta.get("training_flags") is True)
    upgraded |= _submodule_methods(ar, loader, meta["module"], root, "")
    root.__dict__["_example_inputs"] = loader.inputs()
    root.__dict__["_unused_methods"] = set(unused)
    root.__dict__["_upgraded"] = upgraded
    if kind == "function":
        fn = ScriptFunction(type_name=root._type_name, methods=dict(root._methods),
                            example_inputs=root.example_inputs)
        return fn
    if kind != "module":
        raise fail(f"archive metadata kind: unknown kind {kind!r}")
    return root


def _restore(sm: ScriptModule) -> list[tuple[str, list]]:
    """Restore every stored method's shapes from the archive's example inputs; returns what to
    compile: ``(method, input types)`` (compiled by ``_compile``, outside the archive boundary)."""
    stored = sm.example_inputs
    if not stored:
        warnings.warn(
            "_restore_shapes=True but the archive stores no example inputs, so shapes cannot be restored; "
            "save a module traced with _store_inputs=True (the default) or scripted with example_inputs",
            TracerWarning, stacklevel=3)
        return []
    from ir.passes import infer_types

    todo = []
    for method, inputs in stored.items():
        if method not in sm._methods:
            continue
        types = [type_of(v) if not hasattr(v, "copy_to_host") else _device_type(v) for v in inputs]
        g = sm._methods[method]
        if len(types) > len(g.input_nodes):
            raise fail(f"archive metadata inputs[{method!r}]: {len(types)} stored inputs for a method of "
                       f"{len(g.input_nodes)} arguments")
        types += [g.node(n).types[0] for n in g.input_nodes[len(types):]]
        sm._methods[method] = verify(infer_types(g, types))
        sm._forget_programs(method)
        todo.append((method, types[:len(inputs)]))
    return todo


def _compile(sm: ScriptModule, todo: list[tuple[str, list]]) -> None:
    """Plan and compile the restored methods now.  This runs outside ``_boundary``: the archive
    was read and checked, so a failure here is the backend's (a compiler bug, a missing
    toolchain) and is raised as itself, not as "not a valid archive"."""
    for method, types in todo:
        sm._program(method).prepare(types)


def _extra(ar: Archive, meta: dict[str, Any], wanted: dict[str, Any] | None) -> None:
    if wanted is None:
        return
    present = [expect(n, str, "extra_files") for n in expect(meta.get("extra_files", []), list, "extra_files")]
    for key in list(wanted):
        if key not in present or not ar.has(f"extra/{key}"):
            raise SerializationError(
                f"extra file {key!r} is not in the archive; it has {present if present else 'no extra files'}"
            )
        wanted[key] = ar.read(f"extra/{key}", MAX_EXTRA_BYTES)


def _boundary(fn: Any, ar: Archive) -> Any:
    """Run ``fn``: the one place where anything raised inside load or inspect that is not ours
    becomes a SerializationError naming the archive, chained from the original."""
    try:
        return fn()
    except (SerializationError, DeviceError, TracerWarning):
        raise
    except Exception as exc:  # noqa: BLE001 - the boundary: every other failure is a bad archive
        raise fail(f"{ar.where} is not a valid archive ({type(exc).__name__}: {str(exc)[:500]})", exc) from exc


def _open(f: Any) -> Archive:
    if not isinstance(f, (str, os.PathLike)):
        for attr in ("read", "seek", "tell"):
            if not hasattr(f, attr):
                raise TypeError(f"f must be a path or a binary file object with read/readline/tell/seek, "
                                f"got {type(f).__name__}")
    where = os.fspath(f) if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "<file object>")
    try:
        return Archive(f)
    except (SerializationError, FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as exc:  # noqa: BLE001 - see _boundary
        raise fail(f"{where} is not a readable archive ({type(exc).__name__}: {str(exc)[:500]})", exc) from exc


def load(f: Any, map_location: MapLocation = None, _extra_files: dict[str, Any] | None = None,
         _restore_shapes: bool = False) -> ScriptModule:
    """Load an archive saved by ``tracer.save``; see ``tracer.load`` for the full description."""
    ar = _open(f)

    def run() -> ScriptModule:
        _, meta = read_meta(ar)
        validate(ar, meta)
        sm = _build(ar, meta, map_location)
        _extra(ar, meta, _extra_files)
        return sm, (_restore(sm) if _restore_shapes else [])

    try:
        sm, todo = _boundary(run, ar)
    finally:
        ar.close()
    _compile(sm, todo)
    return sm


def load_bytes(data: bytes) -> ScriptModule:
    """Load an archive held in memory (what unpickling a ScriptModule does)."""
    import io

    return load(io.BytesIO(data))


def inspect(f: Any) -> ArchiveInfo:
    """Read an archive's metadata only: version, parameters, methods, stored input types, ops."""
    ar = _open(f)
    try:
        return _boundary(lambda: _inspect(ar), ar)
    finally:
        ar.close()


def _inspect(ar: Archive) -> ArchiveInfo:
    if True:
        version, meta = read_meta(ar)
        table = validate(ar, meta)
        params: dict[str, tuple[tuple[int, ...], str, str]] = {}

        def walk(m: Any, prefix: str, depth: int = 0) -> None:
            if depth > MAX_MODULE_DEPTH:
                raise fail(f"archive metadata: the module tree nests deeper than MAX_MODULE_DEPTH={MAX_MODULE_DEPTH}")
            expect(m, dict, prefix or "module")
            for table_name in ("parameters", "buffers"):
                for k, tid in pairs(m, table_name, prefix or "module"):
                    expect(tid, int, k)
                    if not 0 <= tid < len(table):
                        raise fail(f"archive metadata {prefix}{k}: tensor {tid} does not exist")
                    dtype, shape, dev = table[tid]
                    params[prefix + k] = (shape, dtype.name, dev)
            for k, child in pairs(m, "children", prefix or "module"):
                walk(child, f"{prefix}{k}.", depth + 1)

        walk(meta.get("module"), "")
        methods = expect(meta.get("methods"), dict, "methods")
        signatures = {name: [(str(i.get("name")), str(i.get("type"))) for i in m.get("inputs", [])]
                      for name, m in methods.items() if isinstance(m, dict)}
        stored = {k: [str(t) for t in expect(v, list, k)]
                  for k, v in expect(meta.get("input_types", {}), dict, "input_types").items()}
        return ArchiveInfo(version=version, extra_files=list(meta.get("extra_files", [])), parameters=params,
                           methods=list(methods), stored_inputs=stored, ops=dict(meta["ops"]), size_bytes=ar.size,
                           kind=str(meta.get("kind", "module")), producer=str(meta.get("producer", "")),
                           signatures=signatures)
