"""Checks of an archive's metadata, field by field, shared by ``load`` and ``inspect``."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import numpy as np

from ir import SerializationError, parse_dtype
from ir.frontend.names import is_protocol_name
from ir.ops import all_ops

from .container import Archive
from .format import (
    BASE_VERSION,
    MAX_DIMS,
    MAX_JSON_DEPTH,
    MAX_META_BYTES,
    MAX_META_ELEMENTS,
    MAX_MODULE_DEPTH,
    MAX_NAME,
    SUBMODULE_METHODS_VERSION,
    TRAINING_FLAGS_VERSION,
    archive_version,
    decode_value,
    fail,
)

__all__ = ["check_json", "expect", "ident", "json_values", "pairs", "read_meta", "supported_version", "tensor_table",
           "validate"]


def supported_version() -> int:
    """The newest archive version this release reads (the highest op version it knows)."""
    return max([BASE_VERSION, SUBMODULE_METHODS_VERSION, TRAINING_FLAGS_VERSION,
                *(op.version for op in all_ops().values())])


# -- metadata checks ------------------------------------------------------------------------------
def expect(value: Any, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(value, kind) or (isinstance(value, bool) and kind in (int, (int,))):
        raise fail(f"archive metadata {where}: expected {getattr(kind, '__name__', kind)}, got {str(value)[:60]!r}")
    return value


def ident(name: Any, where: str) -> str:
    expect(name, str, where)
    if not (name.isidentifier() or name.isdigit()) or len(name) > MAX_NAME:
        raise fail(f"archive metadata {where}: {name[:60]!r} is not a valid name")
    if is_protocol_name(name):
        raise fail(f"archive metadata {where}: {name[:60]!r} is reserved for Python protocols (dunder and hook "
                   "names such as __deepcopy__); a module may not define it")
    return name


def pairs(m: dict[str, Any], key: str, where: str) -> list[tuple[str, Any]]:
    """The ``[[name, value], ...]`` list ``m[key]`` (names checked, none twice)."""
    out = []
    for item in expect(m.get(key, []), list, f"{where}.{key}"):
        if not isinstance(item, list) or len(item) != 2:
            raise fail(f"archive metadata {where}.{key}: expected [name, value] pairs")
        out.append((ident(item[0], f"{where}.{key}"), item[1]))
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


def json_values(raw: bytes) -> int:
    """How many values JSON ``raw`` holds, as the limit MAX_META_ELEMENTS counts them (on the
    bytes, before parsing: brackets, commas and colons, in strings too)."""
    return raw.count(b"[") + raw.count(b"{") + raw.count(b",") + raw.count(b":")


def check_json(raw: bytes, entry: str) -> None:
    """Refuse JSON with too many values or too deep a nesting, before parsing it."""
    values = json_values(raw)
    if values > MAX_META_ELEMENTS:
        raise fail(f"{entry} holds about {values:,} JSON values, more than the limit MAX_META_ELEMENTS="
                   f"{MAX_META_ELEMENTS:,}")
    depth = 0
    for m in _JSON_BRACKET.finditer(_JSON_STRING.sub(b'""', raw)):
        depth += 1 if m.group() in (b"[", b"{") else -1
        if depth > MAX_JSON_DEPTH:
            raise fail(f"{entry} nests JSON deeper than the limit MAX_JSON_DEPTH={MAX_JSON_DEPTH}")


def read_meta(ar: Archive) -> tuple[int, dict[str, Any]]:
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
        check_json(raw, ar.name("meta.json"))
        meta = json.loads(raw, object_pairs_hook=_no_duplicate_keys)
    except SerializationError:
        raise
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise fail(f"{ar.where}: meta.json is not valid JSON ({exc})", exc) from None
    expect(meta, dict, "root")
    if meta.get("version") != version:
        raise fail(f"{ar.where}: meta.json says version {meta.get('version')!r} but the version entry says {version}")
    ops = expect(meta.get("ops"), dict, "ops")
    known = all_ops()
    for name, v in ops.items():
        expect(v, int, f"ops[{name!r}]")
        if name not in known:
            raise fail(f"{ar.where} uses op {name!r}, which this release does not know; upgrade numpy-tracer")
        if not 1 <= v <= known[name].version:
            raise fail(f"{ar.where} uses op {name!r} version {v}, but this release knows versions 1 to "
                       f"{known[name].version}; upgrade numpy-tracer")
    if version not in {archive_version(ops, sub, flags) for sub in (False, True) for flags in (False, True)}:
        raise fail(f"{ar.where}: version {version} does not match the versions of its ops")
    return version, meta


def tensor_table(meta: dict[str, Any], ar: Archive) -> list[tuple[np.dtype, tuple[int, ...], str]]:
    table = []
    total = 0
    for i, t in enumerate(expect(meta.get("tensors"), list, "tensors")):
        where = f"tensors[{i}]"
        expect(t, dict, where)
        try:
            dtype = parse_dtype(expect(t.get("dtype"), str, where + ".dtype"))
        except ValueError as exc:
            raise fail(f"archive metadata {where}: {exc}") from None
        shape = expect(t.get("shape"), list, where + ".shape")
        if len(shape) > MAX_DIMS:
            raise fail(f"archive metadata {where}: {len(shape)} dimensions, more than {MAX_DIMS}")
        for d in shape:
            expect(d, int, where + ".shape")
            if not 0 <= d < 2**48:
                raise fail(f"archive metadata {where}: bad dimension {d}")
        nbytes = dtype.itemsize * math.prod(shape)
        total += nbytes
        if nbytes > ar.size or total > ar.size:
            raise fail(f"archive metadata {where}: shape {shape} of {dtype} needs {nbytes} bytes, more than the "
                       f"file holds ({ar.size})")
        dev = expect(t.get("device", "cpu"), str, where + ".device")
        if len(dev) > 32:
            raise fail(f"archive metadata {where}: bad device")
        table.append((np.dtype(dtype).newbyteorder("<"), tuple(shape), dev))
    return table


def validate(ar: Archive, meta: dict[str, Any]) -> list[tuple[np.dtype, tuple[int, ...], str]]:
    """Check every metadata field that ``load`` and ``inspect`` read (both run exactly this)."""
    table = tensor_table(meta, ar)

    def tid(v: Any, where: str) -> int:
        expect(v, int, where)
        if not 0 <= v < len(table):
            raise fail(f"archive metadata {where}: tensor {v} does not exist")
        return v

    submodule_methods = False

    def module(m: Any, where: str, depth: int = 0) -> None:
        nonlocal submodule_methods
        if depth > MAX_MODULE_DEPTH:
            raise fail(f"archive metadata: the module tree nests deeper than MAX_MODULE_DEPTH={MAX_MODULE_DEPTH}")
        expect(m, dict, where)
        names = []
        for key in ("parameters", "buffers"):
            for k, v in pairs(m, key, where):
                tid(v, f"{where}.{key}[{k!r}]")
                names.append(k)
        for k, v in pairs(m, "constants", where):
            decode_value(v, f"{where}.constants[{k!r}]")
            names.append(k)
        for k, v in pairs(m, "children", where):
            module(v, f"{where}.{k}", depth + 1)
            names.append(k)
        if len(names) != len(set(names)):
            raise fail(f"archive metadata {where}: a name is used twice")
        expect(m.get("type", "Module"), str, where + ".type")
        expect(m.get("training", False), bool, where + ".training")
        expect(m.get("traced_training", False), bool, where + ".traced_training")
        # a submodule's own methods (optional keys; the root's are at the top level)
        for n in expect(m.get("non_persistent", []), list, f"{where}.non_persistent"):
            ident(n, f"{where}.non_persistent")
        for n in expect(m.get("unused_methods", []), list, f"{where}.unused_methods"):
            ident(n, f"{where}.unused_methods")
        method_table(expect(m.get("methods", {}), dict, f"{where}.methods"), f"{where}.methods")
        submodule_methods = submodule_methods or bool(m.get("methods"))
        for k, v in expect(m.get("program_constants", {}), dict, f"{where}.program_constants").items():
            tid(v, f"{where}.program_constants[{ident(k, where + '.program_constants')!r}]")

    module(meta.get("module"), "module")
    flags = expect(meta.get("training_flags", False), bool, "training_flags")
    if meta.get("version") != archive_version(meta["ops"], submodule_methods, flags):
        raise fail(f"archive metadata: version {meta.get('version')!r} does not match its contents (submodule "
                   f"methods {'present' if submodule_methods else 'absent'}, training flags "
                   f"{'read' if flags else 'not read'}, ops {sorted(meta['ops'].items())[:8]})")
    kind = expect(meta.get("kind", "module"), str, "kind")
    if kind not in ("module", "function"):
        raise fail(f"archive metadata kind: unknown kind {kind[:40]!r}")
    expect(meta.get("producer", ""), str, "producer")
    method_table(expect(meta.get("methods"), dict, "methods"), "methods")
    for n in expect(meta.get("unused_methods", []), list, "unused_methods"):
        ident(n, "unused_methods")
    for k, v in expect(meta.get("constants", {}), dict, "constants").items():
        tid(v, f"constants[{ident(k, 'constants')!r}]")
    for method, values in expect(meta.get("inputs", {}), dict, "inputs").items():
        ident(method, "inputs")
        for i, v in enumerate(expect(values, list, f"inputs[{method!r}]")):
            where = f"inputs[{method!r}][{i}]"
            if isinstance(v, dict) and set(v) == {"tensor"}:
                tid(v["tensor"], where)
            elif isinstance(v, dict) and set(v) == {"tensors", "list"}:
                for t in expect(v["tensors"], list, where):
                    tid(t, where)
                expect(v["list"], bool, where)
            elif isinstance(v, dict) and set(v) == {"keys", "tensors"}:  # a dict of arrays
                keys = [decode_value(k, where) for k in expect(v["keys"], list, where)]
                tids = expect(v["tensors"], list, where)
                for t in tids:
                    tid(t, where)
                if len(keys) != len(tids) or len(set(keys)) != len(keys) or not all(
                        isinstance(k, (str, int)) and not isinstance(k, bool) for k in keys):
                    raise fail(f"archive metadata {where}: a dict input needs distinct str/int keys, one per tensor")
            else:
                decode_value(v, where)
    for method, types in expect(meta.get("input_types", {}), dict, "input_types").items():
        ident(method, "input_types")
        for t in expect(types, list, f"input_types[{method!r}]"):
            expect(t, str, f"input_types[{method!r}]")
    for n in expect(meta.get("extra_files", []), list, "extra_files"):
        expect(n, str, "extra_files")
    return table


def method_table(methods: dict[str, Any], where: str) -> None:
    for name, m in methods.items():
        ident(name, where)
        for i, item in enumerate(expect(expect(m, dict, f"{where}[{name!r}]").get("inputs"), list,
                                         f"{where}[{name!r}].inputs")):
            expect(item, dict, f"{where}[{name!r}].inputs[{i}]")
            arg = expect(item.get("name"), str, f"{where}[{name!r}].inputs[{i}].name")
            if not arg.isidentifier() or len(arg) > MAX_NAME:
                raise fail(f"archive metadata {where}[{name!r}].inputs[{i}]: {arg[:60]!r} is not a valid name")
            expect(item.get("type"), str, f"{where}[{name!r}].inputs[{i}].type")


