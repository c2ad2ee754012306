"""Reading archives: ``load``, ``inspect``.

Nothing in a file is ever executed: the program text is parsed with ``ast`` and compiled by
``ir.frontend`` (registered ops and this module's own state only), metadata is JSON checked
field by field, and array data is raw bytes whose size, dtype, shape and place in the file are
checked before anything is allocated or mapped.  Anything wrong is a ``SerializationError``.
"""

from __future__ import annotations

import dataclasses
import json
import math
import mmap
import os
import re
import struct
import warnings
import zipfile
import zlib
from typing import Any, BinaryIO

import numpy as np

from ir import (
    DeviceError,
    ScriptError,
    SerializationError,
    TracerWarning,
    VerificationError,
    parse_dtype,
    type_of,
    verify,
)
from ir.frontend import parse_program
from ir.frontend.names import is_protocol_name
from ir.ops import MissingRuleError, all_ops
from ir.types import parse_type

from ..devices import MapLocation, resolve, to_device
from ..module import ScriptFunction, ScriptModule
from ..progress import progress
from ..upgraders import upgrade
from .format import (
    BASE_VERSION,
    MAX_CODE_BYTES,
    MAX_DIMS,
    MAX_ENTRIES,
    MAX_EXTRA_BYTES,
    MAX_INFLATE_RATIO,
    MAX_INFLATED_BYTES,
    MAX_JSON_DEPTH,
    MAX_META_BYTES,
    MAX_META_ELEMENTS,
    MAX_MODULE_DEPTH,
    MAX_NAME,
    RATIO_FREE,
    SUBMODULE_METHODS_VERSION,
    archive_version,
    decode_value,
    fail,
)

__all__ = ["load", "load_bytes", "inspect", "ArchiveInfo", "supported_version"]


def supported_version() -> int:
    """The newest archive version this release reads (the highest op version it knows)."""
    return max([BASE_VERSION, SUBMODULE_METHODS_VERSION, *(op.version for op in all_ops().values())])


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


# -- the container --------------------------------------------------------------------------------
class _Reader:
    """A file object with only ``read``/``readline``/``tell``/``seek``, as ``zipfile`` wants it."""

    def __init__(self, f: Any) -> None:
        self._f = f

    def read(self, n: int = -1) -> bytes:
        return self._f.read(n)

    def readline(self, n: int = -1) -> bytes:
        return self._f.readline(n)

    def tell(self) -> int:
        return self._f.tell()

    def seek(self, offset: int, whence: int = 0) -> int:
        return self._f.seek(offset, whence)

    def seekable(self) -> bool:
        return True

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Archive:
    """A validated zip container: one root folder, safe names, known sizes."""

    def __init__(self, f: Any) -> None:
        self.mm: mmap.mmap | None = None
        self.owned: BinaryIO | None = None
        try:
            self._setup(f)
        except BaseException:
            self.close()  # else zipfile's __del__ complains about the closed file later
            raise

    def _setup(self, f: Any) -> None:
        if isinstance(f, (str, os.PathLike)):
            path = os.fspath(f)
            self.owned = self.fp = open(path, "rb")  # noqa: SIM115 - closed in close()
            self.size = os.fstat(self.fp.fileno()).st_size
            if self.size:
                self.mm = mmap.mmap(self.fp.fileno(), 0, access=mmap.ACCESS_COPY)
            self.where = path
        else:
            for attr in ("read", "seek", "tell"):
                if not hasattr(f, attr):
                    raise TypeError(f"f must be a path or a binary file object with read/readline/tell/seek, "
                                    f"got {type(f).__name__}")
            f = _Reader(f)
            self.fp = f
            start = f.tell()
            f.seek(0, os.SEEK_END)
            self.size = f.tell() - start
            f.seek(start)
            self.where = getattr(f, "name", "<file object>")
        self.inflated = 0
        try:
            endrec = zipfile._EndRecData(self.fp)  # type: ignore[attr-defined]
            if endrec is not None and endrec[zipfile._ECD_ENTRIES_TOTAL] > MAX_ENTRIES:  # type: ignore[attr-defined]
                raise fail(f"{self.where} declares {endrec[zipfile._ECD_ENTRIES_TOTAL]} entries, more than the "  # type: ignore[attr-defined]
                           f"limit MAX_ENTRIES={MAX_ENTRIES}")
            self.fp.seek(0)
            self.zf = zipfile.ZipFile(self.fp)
            infos = self.zf.infolist()
        except SerializationError:
            self.close()
            raise
        except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, struct.error,
                NotImplementedError, UnicodeDecodeError, IndexError, OverflowError, MemoryError) as exc:
            self.close()
            raise fail(f"{self.where} is not a readable archive ({type(exc).__name__}: {exc})", exc) from None
        if len(infos) > MAX_ENTRIES:
            self.close()
            raise fail(f"{self.where} has {len(infos)} entries, more than the limit MAX_ENTRIES={MAX_ENTRIES}")
        self.entries: dict[str, zipfile.ZipInfo] = {}
        roots = set()
        for info in infos:
            name = info.filename
            parts = name.split("/")
            raw = info.orig_filename  # the name as stored: zipfile cuts it at a NUL
            if raw != name or _CONTROL.search(raw):
                self.close()
                raise fail(f"{self.where}: unsafe entry name {raw!r} (control characters)")
            if (not name or name.startswith("/") or "\\" in name or "\x00" in name or len(name) > 4 * MAX_NAME
                    or any(p in ("..", ".") for p in parts) or (len(parts) > 1 and ":" in parts[0])):
                raise fail(f"{self.where}: unsafe entry name {name!r}")
            if name in self.entries:
                raise fail(f"{self.where}: duplicate entry {name!r}")
            if info.flag_bits & 0x1:
                raise fail(f"{self.where}: entry {name!r} is encrypted")
            self.entries[name] = info
            roots.add(parts[0] if len(parts) > 1 else "")
        if len(roots) != 1 or "" in roots:
            self.close()
            raise fail(f"{self.where}: entries must all live in one root folder, found {sorted(roots)[:5]}")
        self.root = roots.pop()
        try:
            self._check_layout()
        except BaseException:
            self.close()
            raise

    def _check_layout(self) -> None:
        """Every entry's header and bytes inside the file, and no two entries sharing bytes."""
        spans = []
        for info in self.entries.values():
            start = info.header_offset
            end = self.data_offset(info) + info.compress_size
            if end > self.size:
                raise fail(f"{self.where}: entry {info.filename!r} runs past the end of the file")
            spans.append((start, end, info.filename))
        spans.sort()
        for (_, end, name), (start, _, other) in zip(spans, spans[1:]):
            if start < end:
                raise fail(f"{self.where}: entries {name!r} and {other!r} overlap")

    def close(self) -> None:
        zf = self.__dict__.get("zf")
        if zf is not None:
            zf.close()
        if self.owned is not None:
            self.owned.close()

    def name(self, rel: str) -> str:
        return f"{self.root}/{rel}"

    def has(self, rel: str) -> bool:
        return self.name(rel) in self.entries

    def read(self, rel: str, limit: int) -> bytes:
        info = self.entries.get(self.name(rel))
        if info is None:
            raise fail(f"{self.where}: missing entry {self.name(rel)!r}")
        if info.file_size > limit:
            raise fail(f"{self.where}: entry {info.filename!r} declares {info.file_size} bytes, more than the limit "
                       f"{limit}")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise fail(f"{self.where}: entry {info.filename!r} uses unsupported compression {info.compress_type}")
        if self.inflated + info.file_size > MAX_INFLATED_BYTES:
            raise fail(f"{self.where}: entry {info.filename!r} would take the bytes inflated by this load past the "
                       f"limit MAX_INFLATED_BYTES={MAX_INFLATED_BYTES}")
        chunks = bytearray()
        try:
            with self.zf.open(info) as fh:
                while True:
                    chunk = fh.read(2**20)
                    if not chunk:
                        break
                    chunks += chunk
                    if len(chunks) > limit or len(chunks) > info.file_size:
                        break
                    if len(chunks) > RATIO_FREE and len(chunks) > MAX_INFLATE_RATIO * max(1, info.compress_size):
                        raise fail(f"{self.where}: entry {info.filename!r} inflates more than {MAX_INFLATE_RATIO}:1 "
                                   f"(the limit MAX_INFLATE_RATIO)")
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError, ValueError, struct.error,
                NotImplementedError, OverflowError) as exc:
            raise fail(f"{self.where}: entry {info.filename!r} is corrupt ({exc})", exc) from None
        self.inflated += len(chunks)
        data = bytes(chunks)
        if len(data) > limit or len(data) != info.file_size:
            raise fail(f"{self.where}: entry {info.filename!r} does not have its declared size")
        return data

    def data_offset(self, info: zipfile.ZipInfo) -> int:
        """Where the stored bytes of ``info`` start, from its local header (checked)."""
        header = info.header_offset
        if not 0 <= header <= self.size - 30:
            raise fail(f"{self.where}: entry {info.filename!r} has its header outside the file")
        raw = self._pread(header, 30)
        sig, _, _, _, _, _, _, _, _, name_len, extra_len = struct.unpack("<4sHHHHHIIIHH", raw)
        if sig != b"PK\x03\x04":
            raise fail(f"{self.where}: entry {info.filename!r} has a bad local header")
        if self._pread(header + 30, name_len) != info.orig_filename.encode("utf-8") and \
                self._pread(header + 30, name_len) != info.filename.encode("utf-8"):
            raise fail(f"{self.where}: entry {info.filename!r} local header names another entry")
        return header + 30 + name_len + extra_len

    def _pread(self, offset: int, n: int) -> bytes:
        if self.mm is not None:
            return bytes(self.mm[offset:offset + n])
        self.fp.seek(offset)
        return self.fp.read(n)

    def array(self, rel: str, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
        info = self.entries.get(self.name(rel))
        if info is None:
            raise fail(f"{self.where}: missing array entry {self.name(rel)!r}")
        nbytes = dtype.itemsize * math.prod(shape)
        if info.compress_type != zipfile.ZIP_STORED:
            raise fail(f"{self.where}: array entry {info.filename!r} must be stored uncompressed")
        if info.file_size != nbytes or info.compress_size != nbytes:
            raise fail(f"{self.where}: array entry {info.filename!r} holds {info.file_size} bytes but its dtype "
                       f"{dtype} and shape {list(shape)} need {nbytes}")
        offset = self.data_offset(info)
        if offset + nbytes > self.size:
            raise fail(f"{self.where}: array entry {info.filename!r} runs past the end of the file")
        if self.mm is not None:  # map copy-on-write: nothing is read until it is used
            return np.ndarray(shape, dtype=dtype, buffer=self.mm, offset=offset)
        buf = bytearray(nbytes)
        self.fp.seek(offset)
        view = memoryview(buf)
        got = 0
        while got < nbytes:
            n = self.fp.readinto(view[got:]) if hasattr(self.fp, "readinto") else None
            if n is None:
                chunk = self.fp.read(nbytes - got)
                n = len(chunk)
                view[got:got + n] = chunk
            if not n:
                raise fail(f"{self.where}: array entry {info.filename!r} is truncated")
            got += n
        return np.frombuffer(buf, dtype=dtype).reshape(shape)


# -- metadata checks ------------------------------------------------------------------------------
def _expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int,))):
        raise fail(f"archive metadata {where}: expected {getattr(kind, '__name__', kind)}, got {str(value)[:60]!r}")
    return value


def _ident(name: Any, where: str) -> str:
    _expect(name, str, where)
    if not (name.isidentifier() or name.isdigit()) or len(name) > MAX_NAME:
        raise fail(f"archive metadata {where}: {name[:60]!r} is not a valid name")
    if is_protocol_name(name):
        raise fail(f"archive metadata {where}: {name[:60]!r} is reserved for Python protocols (dunder and hook "
                   "names such as __deepcopy__); a module may not define it")
    return name


def _pairs(m: dict[str, Any], key: str, where: str) -> list[tuple[str, Any]]:
    """The ``[[name, value], ...]`` list ``m[key]`` (names checked, none twice)."""
    out = []
    for item in _expect(m.get(key, []), list, f"{where}.{key}"):
        if not isinstance(item, list) or len(item) != 2:
            raise fail(f"archive metadata {where}.{key}: expected [name, value] pairs")
        out.append((_ident(item[0], f"{where}.{key}"), item[1]))
    if len({k for k, _ in out}) != len(out):
        raise fail(f"archive metadata {where}.{key}: a name appears twice")
    return out


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    if len(keys) != len(set(keys)):
        raise fail("archive metadata has duplicate keys")
    return dict(pairs)


_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')
_JSON_BRACKET = re.compile(rb"[\[\]{}]")


def _check_json(raw: bytes, entry: str) -> None:
    """Refuse JSON with too many values or too deep a nesting, before parsing it."""
    values = raw.count(b"[") + raw.count(b"{") + raw.count(b",") + raw.count(b":")
    if values > MAX_META_ELEMENTS:
        raise fail(f"{entry} holds about {values:,} JSON values, more than the limit MAX_META_ELEMENTS="
                   f"{MAX_META_ELEMENTS:,}")
    depth = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', raw)):
        depth += 1 if m.group() in (b"[", b"{") else -1
        if depth > MAX_JSON_DEPTH:
            raise fail(f"{entry} nests JSON deeper than the limit MAX_JSON_DEPTH={MAX_JSON_DEPTH}")


def _read_meta(ar: _Archive) -> tuple[int, dict[str, Any]]:
    raw_version = ar.read("version", 64).strip()
    if not raw_version.isdigit() or len(raw_version) > 9:
        raise fail(f"{ar.where}: the version entry must be ASCII digits, got {raw_version[:20]!r}")
    version = int(raw_version)
    supported = supported_version()
    if version > supported:
        raise fail(f"{ar.where} is format version {version}, newer than this release reads ({supported}); "
                   "upgrade numpy-tracer to load it")
    try:
        raw = ar.read("meta.json", MAX_META_BYTES)
        _check_json(raw, ar.name("meta.json"))
        meta = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
    except SerializationError:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise fail(f"{ar.where}: meta.json is not valid JSON ({exc})", exc) from None
    _expect(meta, dict, "root")
    if meta.get("version") != version:
        raise fail(f"{ar.where}: meta.json says version {meta.get('version')!r} but the version entry says {version}")
    ops = _expect(meta.get("ops"), dict, "ops")
    known = all_ops()
    for name, v in ops.items():
        _expect(v, int, f"ops[{name!r}]")
        if name not in known:
            raise fail(f"{ar.where} uses op {name!r}, which this release does not know; upgrade numpy-tracer")
        if not 1 <= v <= known[name].version:
            raise fail(f"{ar.where} uses op {name!r} version {v}, but this release knows versions 1 to "
                       f"{known[name].version}; upgrade numpy-tracer")
    if version not in (archive_version(ops, False), archive_version(ops, True)):  # which one: _validate
        raise fail(f"{ar.where}: version {version} does not match the versions of its ops")
    return version, meta


def _tensor_table(meta: dict[str, Any], ar: _Archive) -> list[tuple[np.dtype, tuple[int, ...], str]]:
    table = []
    total = 0
    for i, t in enumerate(_expect(meta.get("tensors"), list, "tensors")):
        where = f"tensors[{i}]"
        _expect(t, dict, where)
        try:
            dtype = parse_dtype(_expect(t.get("dtype"), str, where + ".dtype"))
        except ValueError as exc:
            raise fail(f"archive metadata {where}: {exc}") from None
        shape = _expect(t.get("shape"), list, where + ".shape")
        if len(shape) > MAX_DIMS:
            raise fail(f"archive metadata {where}: {len(shape)} dimensions, more than {MAX_DIMS}")
        for d in shape:
            _expect(d, int, where + ".shape")
            if not 0 <= d < 2**48:
                raise fail(f"archive metadata {where}: bad dimension {d}")
        nbytes = dtype.itemsize * math.prod(shape)
        total += nbytes
        if nbytes > ar.size or total > ar.size:
            raise fail(f"archive metadata {where}: shape {shape} of {dtype} needs {nbytes} bytes, more than the "
                       f"file holds ({ar.size})")
        dev = _expect(t.get("device", "cpu"), str, where + ".device")
        if len(dev) > 32:
            raise fail(f"archive metadata {where}: bad device")
        table.append((np.dtype(dtype).newbyteorder("<"), tuple(shape), dev))
    return table


class _Loader:
    def __init__(self, ar: _Archive, meta: dict[str, Any], map_location: MapLocation) -> None:
        self.ar = ar
        self.meta = meta
        self.table = _tensor_table(meta, ar)
        self.map_location = map_location
        self.arrays: dict[int, Any] = {}
        self.devices: dict[str, Any] = {}
        # a line on a terminal while arrays materialize; erased once every tensor is in
        self.progress = progress(f"loading {ar.where}", total=len(self.table), unit="tensors")

    def tensor(self, tid: Any, where: str) -> Any:
        _expect(tid, int, where)
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
        _expect(m, dict, where)
        params = {k: self.tensor(v, f"{where}.parameters[{k!r}]") for k, v in _pairs(m, "parameters", where)}
        buffers = {k: self.tensor(v, f"{where}.buffers[{k!r}]") for k, v in _pairs(m, "buffers", where)}
        constants = {k: decode_value(v, f"{where}.constants[{k!r}]") for k, v in _pairs(m, "constants", where)}
        children = {k: self.module(v, f"{where}.{k}", depth + 1) for k, v in _pairs(m, "children", where)}
        names = [*params, *buffers, *constants, *children]
        if len(names) != len(set(names)):
            raise fail(f"archive metadata {where}: a name is used twice")
        type_name = _expect(m.get("type", "Module"), str, where + ".type")[:200]
        non_persistent = [_ident(n, f"{where}.non_persistent")
                          for n in _expect(m.get("non_persistent", []), list, f"{where}.non_persistent")]
        if not set(non_persistent) <= set(buffers):
            raise fail(f"archive metadata {where}.non_persistent: names a buffer that does not exist")
        return ScriptModule(type_name=type_name, parameters=params, buffers=buffers, constants=constants,
                            children=children, training=bool(_expect(m.get("training", False), bool, where)),
                            non_persistent=non_persistent)

    def inputs(self) -> dict[str, tuple]:
        out = {}
        for method, values in _expect(self.meta.get("inputs", {}), dict, "inputs").items():
            items = []
            for i, v in enumerate(_expect(values, list, f"inputs[{method!r}]")):
                where = f"inputs[{method!r}][{i}]"
                if isinstance(v, dict) and set(v) == {"tensor"}:
                    items.append(self.tensor(v["tensor"], where))
                elif isinstance(v, dict) and set(v) == {"tensors", "list"}:
                    arrays = [self.tensor(t, where) for t in _expect(v["tensors"], list, where)]
                    items.append(arrays if v["list"] is True else tuple(arrays))
                else:
                    items.append(decode_value(v, where))
            out[method] = tuple(items)
        return out


def _state_types(sm: ScriptModule) -> dict[str, Any]:
    """Types of every parameter and buffer (non-persistent ones and shared arrays included)."""
    state = [*sm._named("_parameters"), *sm._named("_buffers")]
    return {k: type_of(v) if isinstance(v, np.ndarray) else _device_type(v) for k, v in state}


def _input_types(methods_meta: Any, where: str) -> dict[str, list[Any]]:
    input_types: dict[str, list[Any]] = {}
    for name, m in _expect(methods_meta, dict, where).items():
        _ident(name, where)
        ins = _expect(_expect(m, dict, f"{where}[{name!r}]").get("inputs"), list, f"{where}[{name!r}].inputs")
        try:
            input_types[name] = [parse_type(_expect(_expect(i, dict, "input").get("type"), str, "input type"))
                                 for i in ins]
        except ValueError as exc:
            raise fail(f"archive metadata {where}[{name!r}]: {exc}") from None
    return input_types


def _parse_methods(ar: _Archive, entry: str, sm: ScriptModule, methods_meta: dict[str, Any], where: str,
                   constants: dict[str, Any], unused: list[str], saved_ops: dict[str, int]) -> bool:
    """Compile program text ``entry`` into ``sm``'s methods; returns whether an upgrader changed one."""
    input_types = _input_types(methods_meta, where)
    try:
        code = ar.read(entry, MAX_CODE_BYTES).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise fail(f"{ar.where}: the program text {entry} is not UTF-8", exc) from None
    host_constants = {k: np.asarray(v) if isinstance(v, np.ndarray) else v for k, v in constants.items()}
    try:
        graphs = parse_program(code, _state_types(sm), host_constants, input_types,
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


def _submodule_methods(ar: _Archive, loader: _Loader, m: dict[str, Any], sm: ScriptModule, path: str,
                       depth: int = 0) -> bool:
    """The submodules' own methods (``code/modules/<path>.py``), recursively."""
    upgraded = False
    for (name, child_meta), child in zip(_pairs(m, "children", path or "module"), sm._modules.values()):
        qualified = f"{path}.{name}" if path else name
        where = f"module.{qualified}"
        unused = [_ident(n, f"{where}.unused_methods")
                  for n in _expect(child_meta.get("unused_methods", []), list, f"{where}.unused_methods")]
        child.__dict__["_unused_methods"] = set(unused)
        methods_meta = _expect(child_meta.get("methods", {}), dict, f"{where}.methods")
        if methods_meta:
            constants = {_ident(k, f"{where}.program_constants"): loader.tensor(v, f"{where}.program_constants")
                         for k, v in _expect(child_meta.get("program_constants", {}), dict,
                                             f"{where}.program_constants").items()}
            upgraded |= _parse_methods(ar, f"code/modules/{qualified}.py", child, methods_meta, f"{where}.methods",
                                       constants, unused, loader.meta["ops"])
        upgraded |= _submodule_methods(ar, loader, child_meta, child, qualified, depth + 1)
    return upgraded


def _device_type(array: Any) -> Any:
    from ir.types import TensorType

    return TensorType(np.dtype(array.dtype), tuple(array.shape))


def _build(ar: _Archive, meta: dict[str, Any], map_location: MapLocation) -> ScriptModule:
    loader = _Loader(ar, meta, map_location)
    root = loader.module(meta.get("module"), "module")
    kind = _expect(meta.get("kind", "module"), str, "kind")
    methods_meta = _expect(meta.get("methods"), dict, "methods")
    unused = [_ident(n, "unused_methods") for n in _expect(meta.get("unused_methods", []), list, "unused_methods")]
    constants = {_ident(k, "constants"): loader.tensor(v, f"constants[{k!r}]")
                 for k, v in _expect(meta.get("constants", {}), dict, "constants").items()}
    upgraded = _parse_methods(ar, "code/program.py", root, methods_meta, "methods", constants, unused, meta["ops"])
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


def _restore(sm: ScriptModule) -> None:
    stored = sm.example_inputs
    if not stored:
        warnings.warn(
            "_restore_shapes=True but the archive stores no example inputs, so shapes cannot be restored; "
            "save a module traced with _store_inputs=True (the default) or scripted with example_inputs",
            TracerWarning, stacklevel=3)
        return
    from ir.passes import infer_types

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
        sm._programs.pop(method, None)
        sm._program(method).prepare(types[:len(inputs)])


def _extra(ar: _Archive, meta: dict[str, Any], wanted: dict[str, Any] | None) -> None:
    if wanted is None:
        return
    present = [_expect(n, str, "extra_files") for n in _expect(meta.get("extra_files", []), list, "extra_files")]
    for key in list(wanted):
        if key not in present or not ar.has(f"extra/{key}"):
            raise SerializationError(
                f"extra file {key!r} is not in the archive; it has {present if present else 'no extra files'}"
            )
        wanted[key] = ar.read(f"extra/{key}", MAX_EXTRA_BYTES)


def _validate(ar: _Archive, meta: dict[str, Any]) -> list[tuple[np.dtype, tuple[int, ...], str]]:
    """Check every metadata field that ``load`` and ``inspect`` read (both run exactly this)."""
    table = _tensor_table(meta, ar)

    def tid(v: Any, where: str) -> int:
        _expect(v, int, where)
        if not 0 <= v < len(table):
            raise fail(f"archive metadata {where}: tensor {v} does not exist")
        return v

    submodule_methods = False

    def module(m: Any, where: str, depth: int = 0) -> None:
        nonlocal submodule_methods
        if depth > MAX_MODULE_DEPTH:
            raise fail(f"archive metadata: the module tree nests deeper than MAX_MODULE_DEPTH={MAX_MODULE_DEPTH}")
        _expect(m, dict, where)
        names = []
        for key in ("parameters", "buffers"):
            for k, v in _pairs(m, key, where):
                tid(v, f"{where}.{key}[{k!r}]")
                names.append(k)
        for k, v in _pairs(m, "constants", where):
            decode_value(v, f"{where}.constants[{k!r}]")
            names.append(k)
        for k, v in _pairs(m, "children", where):
            module(v, f"{where}.{k}", depth + 1)
            names.append(k)
        if len(names) != len(set(names)):
            raise fail(f"archive metadata {where}: a name is used twice")
        _expect(m.get("type", "Module"), str, where + ".type")
        _expect(m.get("training", False), bool, where + ".training")
        # a submodule's own methods (optional keys; the root's are at the top level)
        for n in _expect(m.get("non_persistent", []), list, f"{where}.non_persistent"):
            _ident(n, f"{where}.non_persistent")
        for n in _expect(m.get("unused_methods", []), list, f"{where}.unused_methods"):
            _ident(n, f"{where}.unused_methods")
        _method_table(_expect(m.get("methods", {}), dict, f"{where}.methods"), f"{where}.methods")
        submodule_methods = submodule_methods or bool(m.get("methods"))
        for k, v in _expect(m.get("program_constants", {}), dict, f"{where}.program_constants").items():
            tid(v, f"{where}.program_constants[{_ident(k, where + '.program_constants')!r}]")

    module(meta.get("module"), "module")
    if meta.get("version") != archive_version(meta["ops"], submodule_methods):
        raise fail(f"archive metadata: version {meta.get('version')!r} does not match its contents (submodule "
                   f"methods {'present' if submodule_methods else 'absent'}, ops {sorted(meta['ops'].items())[:8]})")
    kind = _expect(meta.get("kind", "module"), str, "kind")
    if kind not in ("module", "function"):
        raise fail(f"archive metadata kind: unknown kind {kind[:40]!r}")
    _expect(meta.get("producer", ""), str, "producer")
    _method_table(_expect(meta.get("methods"), dict, "methods"), "methods")
    for n in _expect(meta.get("unused_methods", []), list, "unused_methods"):
        _ident(n, "unused_methods")
    for k, v in _expect(meta.get("constants", {}), dict, "constants").items():
        tid(v, f"constants[{_ident(k, 'constants')!r}]")
    for method, values in _expect(meta.get("inputs", {}), dict, "inputs").items():
        _ident(method, "inputs")
        for i, v in enumerate(_expect(values, list, f"inputs[{method!r}]")):
            where = f"inputs[{method!r}][{i}]"
            if isinstance(v, dict) and set(v) == {"tensor"}:
                tid(v["tensor"], where)
            elif isinstance(v, dict) and set(v) == {"tensors", "list"}:
                for t in _expect(v["tensors"], list, where):
                    tid(t, where)
                _expect(v["list"], bool, where)
            else:
                decode_value(v, where)
    for method, types in _expect(meta.get("input_types", {}), dict, "input_types").items():
        _ident(method, "input_types")
        for t in _expect(types, list, f"input_types[{method!r}]"):
            _expect(t, str, f"input_types[{method!r}]")
    for n in _expect(meta.get("extra_files", []), list, "extra_files"):
        _expect(n, str, "extra_files")
    return table


def _method_table(methods: dict[str, Any], where: str) -> None:
    for name, m in methods.items():
        _ident(name, where)
        for i, item in enumerate(_expect(_expect(m, dict, f"{where}[{name!r}]").get("inputs"), list,
                                         f"{where}[{name!r}].inputs")):
            _expect(item, dict, f"{where}[{name!r}].inputs[{i}]")
            arg = _expect(item.get("name"), str, f"{where}[{name!r}].inputs[{i}].name")
            if not arg.isidentifier() or len(arg) > MAX_NAME:
                raise fail(f"archive metadata {where}[{name!r}].inputs[{i}]: {arg[:60]!r} is not a valid name")
            _expect(item.get("type"), str, f"{where}[{name!r}].inputs[{i}].type")


def _boundary(fn: Any, ar: _Archive) -> Any:
    """Run ``fn``: the one place where anything raised inside load or inspect that is not ours
    becomes a SerializationError naming the archive, chained from the original."""
    try:
        return fn()
    except (SerializationError, DeviceError, TracerWarning):
        raise
    except Exception as exc:  # noqa: BLE001 - the boundary: every other failure is a bad archive
        raise fail(f"{ar.where} is not a valid archive ({type(exc).__name__}: {str(exc)[:500]})", exc) from exc


def _open(f: Any) -> _Archive:
    if not isinstance(f, (str, os.PathLike)):
        for attr in ("read", "seek", "tell"):
            if not hasattr(f, attr):
                raise TypeError(f"f must be a path or a binary file object with read/readline/tell/seek, "
                                f"got {type(f).__name__}")
    where = os.fspath(f) if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "<file object>")
    try:
        return _Archive(f)
    except (SerializationError, FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as exc:  # noqa: BLE001 - see _boundary
        raise fail(f"{where} is not a readable archive ({type(exc).__name__}: {str(exc)[:500]})", exc) from exc


def load(f: Any, map_location: MapLocation = None, _extra_files: dict[str, Any] | None = None,
         _restore_shapes: bool = False) -> ScriptModule:
    """Load an archive saved by ``tracer.save``; see ``tracer.load`` for the full description."""
    ar = _open(f)

    def run() -> ScriptModule:
        _, meta = _read_meta(ar)
        _validate(ar, meta)
        sm = _build(ar, meta, map_location)
        _extra(ar, meta, _extra_files)
        if _restore_shapes:
            _restore(sm)
        return sm

    try:
        return _boundary(run, ar)
    finally:
        ar.close()


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


def _inspect(ar: _Archive) -> ArchiveInfo:
    if True:
        version, meta = _read_meta(ar)
        table = _validate(ar, meta)
        params: dict[str, tuple[tuple[int, ...], str, str]] = {}

        def walk(m: Any, prefix: str, depth: int = 0) -> None:
            if depth > MAX_MODULE_DEPTH:
                raise fail(f"archive metadata: the module tree nests deeper than MAX_MODULE_DEPTH={MAX_MODULE_DEPTH}")
            _expect(m, dict, prefix or "module")
            for table_name in ("parameters", "buffers"):
                for k, tid in _pairs(m, table_name, prefix or "module"):
                    _expect(tid, int, k)
                    if not 0 <= tid < len(table):
                        raise fail(f"archive metadata {prefix}{k}: tensor {tid} does not exist")
                    dtype, shape, dev = table[tid]
                    params[prefix + k] = (shape, dtype.name, dev)
            for k, child in _pairs(m, "children", prefix or "module"):
                walk(child, f"{prefix}{k}.", depth + 1)

        walk(meta.get("module"), "")
        methods = _expect(meta.get("methods"), dict, "methods")
        signatures = {name: [(str(i.get("name")), str(i.get("type"))) for i in m.get("inputs", [])]
                      for name, m in methods.items() if isinstance(m, dict)}
        stored = {k: [str(t) for t in _expect(v, list, k)]
                  for k, v in _expect(meta.get("input_types", {}), dict, "input_types").items()}
        return ArchiveInfo(version=version, extra_files=list(meta.get("extra_files", [])), parameters=params,
                           methods=list(methods), stored_inputs=stored, ops=dict(meta["ops"]), size_bytes=ar.size,
                           kind=str(meta.get("kind", "module")), producer=str(meta.get("producer", "")),
                           signatures=signatures)
