"""Writing archives: ``save(module, f, extra_files)``.

The same module always gives the same bytes: fixed timestamps and permissions, a fixed entry
order, canonical JSON, tensors in a fixed traversal order.  Array data is stored uncompressed,
little-endian, C-ordered, starting at a multiple of 64 bytes.  Saving to a path writes a
temporary file in the same folder and renames it over the target, so a crash mid-save leaves the
old file intact.
"""

from __future__ import annotations

import io
import json
import os
import re
import secrets
import shutil
import stat
import struct
import tempfile
import time
import zipfile
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from ir import Graph, SerializationError, print_code, type_of
from ir.frontend.names import is_protocol_name
from ir.ops import get_op

from ..devices import device_of, to_host
from ..module import ScriptFunction, ScriptModule
from ..training import flags_read
from .format import (
    ALIGNMENT,
    CODE_ENTRY,
    DATA_DIR,
    EXTRA_DIR,
    MAX_INFLATE_RATIO,
    MAX_NAME,
    META_ENTRY,
    MODULE_CODE_DIR,
    RATIO_FREE,
    ROOT,
    VERSION_ENTRY,
    archive_version,
    encode_value,
)
from .limits import Code, check_loadable

__all__ = ["save", "save_bytes", "check_extra_name", "program_ops", "prepare", "write_prepared", "Prepared"]

_DATE = (1980, 1, 1, 0, 0, 0)
_PAD_ID = 0x7061  # a private extra-field id holding alignment padding


def check_extra_name(name: Any) -> str:
    """An extra file's name, refused if it could escape the archive's ``extra/`` folder."""
    if not isinstance(name, str) or not name:
        raise SerializationError(f"extra file names must be non-empty strings, got {name!r}")
    parts = name.split("/")
    bad = (
        len(name) > MAX_NAME or name.startswith("/") or "\\" in name or _CONTROL.search(name) or ":" in parts[0]
        or any(p in ("", ".", "..") for p in parts)
    )
    if bad:
        raise SerializationError(
            f"extra file name {name!r} is not allowed: use a relative path of at most {MAX_NAME} characters without "
            "'..', '.', empty parts, backslashes, control characters, drive letters or a leading '/'"
        )
    return name


#: Characters the reader refuses in entry names (container.py).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def program_ops(graphs: dict[str, Graph]) -> dict[str, int]:
    """Every op the program uses, with this release's version of it."""
    ops: dict[str, int] = {}

    def visit(g: Graph) -> None:
        for _, node in g.nodes():
            op = get_op(node.op)
            if node.op not in ("input", "output", "param", "constant"):
                ops[node.op] = op.version
            for b in node.blocks:
                visit(b)

    for g in graphs.values():
        visit(g)
    return dict(sorted(ops.items()))


def _program_tensors(graphs: dict[str, Graph]) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}

    def visit(g: Graph) -> None:
        for _, node in g.nodes():
            if node.op == "constant" and node.kwarg("name") is not None:
                out[node.kwarg("name")] = np.asarray(g.tensors[node.kwarg("name")])
            for b in node.blocks:
                visit(b)

    for g in graphs.values():
        visit(g)
    return dict(sorted(out.items()))


def _refuse_python_calls(graphs: dict[str, Graph]) -> None:
    def visit(g: Graph) -> None:
        for _, node in g.nodes():
            if node.op == "python_call":
                name = node.kwarg("name")
                raise SerializationError(
                    f"cannot save: the program calls method {name!r}, which is marked @tracer.ignore and stays "
                    "Python code; remove @tracer.ignore so it is compiled, or mark it @tracer.unused"
                )
            for b in node.blocks:
                visit(b)

    for g in graphs.values():
        visit(g)


def _refuse_protocol_names(sm: ScriptModule) -> None:
    """Names that Python protocols look up (``__deepcopy__``, ``_repr_html_``) cannot be saved:
    the loaded module would answer those lookups with the program's method or state."""
    for path, mod in sm.named_modules():
        d = mod.__dict__
        for table in ("_methods", "_parameters", "_buffers", "_constants", "_modules"):
            for name in d.get(table, ()):
                if is_protocol_name(name):
                    where = f"{path}.{name}" if path else name
                    raise SerializationError(
                        f"cannot save: {where!r} is a name Python protocols look up (dunder or hook names such as "
                        "__deepcopy__ or _repr_html_), so a loaded module could not keep it; rename it")


class _Tensors:
    """Assigns tensor ids in a fixed order; one id per distinct array object."""

    def __init__(self) -> None:
        self.arrays: list[np.ndarray] = []
        self.meta: list[dict[str, Any]] = []
        self._ids: dict[int, int] = {}

    def add(self, array: Any) -> int:
        tid = self._ids.get(id(array))
        if tid is not None:
            return tid
        dev = str(device_of(array))
        host = np.asarray(to_host(array))
        if host.dtype.name not in _SHORT:
            raise SerializationError(f"cannot save an array of dtype {host.dtype}; supported: {', '.join(_SHORT)}")
        tid = len(self.arrays)
        self._ids[id(array)] = tid
        self.arrays.append(np.ascontiguousarray(host.astype(host.dtype.newbyteorder("<"), copy=False)))
        self.meta.append({"dtype": _SHORT[host.dtype.name], "shape": list(host.shape), "device": dev})
        return tid


from ir.types import SHORT_NAMES as _SHORT  # noqa: E402


def _module_meta(sm: ScriptModule, tensors: _Tensors, path: str = "", codes: dict[str, str] | None = None,
                 ) -> dict[str, Any]:
    """A module node; a submodule's own methods (``@tracer.export``, a loaded module's) go to
    ``codes[path]`` and their metadata into the node (the root's are the archive's top level)."""
    d = sm.__dict__
    meta: dict[str, Any] = {
        "type": sm._type_name,
        "training": bool(sm.training),
        # lists of [name, value] keep the module's own order through JSON
        "parameters": [[k, tensors.add(v)] for k, v in d["_parameters"].items()],
        "buffers": [[k, tensors.add(v)] for k, v in d["_buffers"].items()],
        "constants": [[k, encode_value(v)] for k, v in d["_constants"].items()],
        "children": [[k, _module_meta(c, tensors, f"{path}.{k}" if path else k, codes)]
                     for k, c in d["_modules"].items()],
    }
    if d["_traced_training"] is not None:  # optional keys: absent, the archive reads as before
        meta["traced_training"] = d["_traced_training"]
    if d["_non_persistent"]:
        meta["non_persistent"] = sorted(d["_non_persistent"])
    if path and d["_methods"]:
        graphs = dict(d["_methods"])
        meta["methods"] = _methods_meta(graphs)
        meta["program_constants"] = {name: tensors.add(a) for name, a in _program_tensors(graphs).items()}
        if codes is not None:
            codes[path] = "\n".join(print_code(g) for g in graphs.values())
    if path and d["_unused_methods"]:
        meta["unused_methods"] = sorted(d["_unused_methods"])
    return meta


def _methods_meta(graphs: dict[str, Graph]) -> dict[str, Any]:
    return {
        name: {"inputs": [{"name": g.node(n).kwarg("name"), "type": str(g.node(n).types[0])} for n in g.input_nodes]}
        for name, g in graphs.items()
    }


def all_graphs(sm: ScriptModule) -> dict[str, Graph]:
    """Every method graph of the module tree, by qualified name (``encoder.embed_tokens``)."""
    out = {}
    for path, mod in sm.named_modules():
        for name, g in mod.__dict__["_methods"].items():
            out[f"{path}.{name}" if path else name] = g
    return out


def _input_meta(value: Any, tensors: _Tensors) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        return {"tensor": tensors.add(np.asarray(value))}
    if isinstance(value, (tuple, list)) and value and all(isinstance(v, np.ndarray) for v in value):
        return {"tensors": [tensors.add(v) for v in value], "list": isinstance(value, list)}
    if isinstance(value, dict) and all(isinstance(v, np.ndarray) for v in value.values()):  # dict[str, np.ndarray]
        return {"keys": [encode_value(k) for k in value], "tensors": [tensors.add(v) for v in value.values()]}
    return encode_value(value)


def _meta(sm: ScriptModule, tensors: _Tensors, extra: list[str], codes: dict[str, str]) -> dict[str, Any]:
    graphs = sm.graphs
    _refuse_python_calls(all_graphs(sm))
    ops = program_ops(all_graphs(sm))
    module = _module_meta(sm, tensors, "", codes)
    constants = {name: tensors.add(arr) for name, arr in _program_tensors(graphs).items()}
    inputs = {m: [_input_meta(v, tensors) for v in vals] for m, vals in sm.example_inputs.items()}
    flags = any(flags_read(g) for g in all_graphs(sm).values())
    optional = {"training_flags": True} if flags else {}  # absent: the archive reads as before
    return {
        "format": "numpy-tracer archive",
        "producer": _producer(),
        "kind": "function" if isinstance(sm, ScriptFunction) else "module",
        "version": archive_version(ops, bool(codes), flags),
        "ops": ops,
        "methods": _methods_meta(graphs),
        "unused_methods": sorted(sm.__dict__.get("_unused_methods", ())),
        "module": module,
        "constants": constants,
        "inputs": inputs,
        "input_types": {m: [str(type_of(v)) for v in vals] for m, vals in sm.example_inputs.items()},
        "tensors": tensors.meta,
        "extra_files": extra,
        **optional,
    }


def _producer() -> str:
    try:
        from importlib.metadata import version

        return f"numpy-tracer {version('numpy-tracer')}"
    except Exception:
        return "numpy-tracer"


def _info(name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=_DATE)
    info.compress_type = zipfile.ZIP_STORED
    info.create_system = 3
    info.external_attr = 0o644 << 16
    return info


def _write_small(zf: zipfile.ZipFile, name: str, data: bytes) -> None:
    """Write a deflated entry, or a stored one where deflating would pass the reader's limit on the
    inflate ratio (MAX_INFLATE_RATIO: a large run of one byte deflates about 1000:1)."""
    info = _info(name)
    kind = zipfile.ZIP_STORED if _too_compressible(data) else zipfile.ZIP_DEFLATED
    info.compress_type = kind
    zf.writestr(info, data, compress_type=kind, compresslevel=6)


def _too_compressible(data: bytes) -> bool:
    if len(data) <= RATIO_FREE:  # the reader checks the ratio past this many bytes only
        return False
    deflate = zlib.compressobj(6, zlib.DEFLATED, -15)  # what zipfile does at compresslevel 6
    size = 0
    for i in range(0, len(data), 16 * 2**20):
        size += len(deflate.compress(data[i:i + 16 * 2**20]))
    size += len(deflate.flush())
    return len(data) > MAX_INFLATE_RATIO * max(1, size)


def _write_aligned(zf: zipfile.ZipFile, fp: BinaryIO, name: str, array: np.ndarray) -> None:
    info = _info(name)
    data = memoryview(array.reshape(-1)).cast("B") if array.size else memoryview(b"")
    zip64 = len(data) > zipfile.ZIP64_LIMIT
    start = fp.tell() + 30 + len(name.encode("ascii")) + (20 if zip64 else 0) + 4
    pad = (-start) % ALIGNMENT
    info.extra = struct.pack("<HH", _PAD_ID, pad) + b"\0" * pad
    info.file_size = len(data)
    with zf.open(info, mode="w", force_zip64=zip64) as out:
        step = 64 * 2**20
        for i in range(0, len(data), step):
            out.write(data[i:i + step])


@dataclass
class Prepared:
    """An archive's contents, checked to load (:mod:`.limits`), before anything is written."""

    version: int
    meta: bytes
    code: str
    codes: dict[str, str]  # submodule path -> its methods' program text
    arrays: list[np.ndarray]
    extra: dict[str, bytes]


def prepare(sm: ScriptModule, extra_files: dict[str, Any] | None) -> Prepared:
    """Build and check everything ``sm``'s archive holds; a SerializationError if ``load`` would
    refuse any of it (``docs/ARCHIVE.md``, "Budgets")."""
    extra: dict[str, bytes] = {}
    for name, value in (extra_files or {}).items():
        check_extra_name(name)
        if isinstance(value, str):
            value = value.encode("utf-8")
        if not isinstance(value, (bytes, bytearray, memoryview)):
            raise SerializationError(f"extra file {name!r} must be str or bytes, got {type(value).__name__}")
        extra[name] = bytes(value)
    _refuse_protocol_names(sm)
    tensors = _Tensors()
    codes: dict[str, str] = {}
    meta = _meta(sm, tensors, sorted(extra), codes)
    code = "\n".join(print_code(g) for g in sm.graphs.values())
    try:
        meta_bytes = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode("ascii")
    except (ValueError, RecursionError) as exc:  # an int too long for JSON, a value nested too deeply
        raise SerializationError(f"cannot save: a constant attribute or stored input cannot be written as JSON ({exc})"
                                 ) from None
    names = [VERSION_ENTRY, META_ENTRY, CODE_ENTRY, *(f"{MODULE_CODE_DIR}{p}.py" for p in codes),
             *(f"{DATA_DIR}{tid}" for tid in range(len(tensors.arrays))), *(EXTRA_DIR + n for n in extra)]
    total = sum(a.nbytes for a in tensors.arrays) + 1
    check_loadable(sm, meta, meta_bytes, _codes(sm, meta, code, codes), extra, names, total)
    return Prepared(meta["version"], meta_bytes, code, codes, tensors.arrays, extra)


def _codes(sm: ScriptModule, meta: dict[str, Any], code: str, codes: dict[str, str]) -> list[Code]:
    """Each program text with what ``load`` compiles it with (the reader's own derivations)."""
    from .reader import state_types_of

    flags = meta.get("training_flags") is True
    out = [Code(CODE_ENTRY[len(ROOT) + 1:], code, meta["methods"], _program_tensors(sm.graphs),
                meta["unused_methods"], state_types_of(sm, flags), "the module's methods")]
    modules = dict(sm.named_modules())
    for path, text in codes.items():
        node = meta["module"]
        for part in path.split("."):
            node = dict(node["children"])[part]
        child = modules[path]
        out.append(Code(f"{MODULE_CODE_DIR[len(ROOT) + 1:]}{path}.py", text, node["methods"],
                        _program_tensors(dict(child.__dict__["_methods"])), node.get("unused_methods", []),
                        state_types_of(child, flags), f"submodule {path!r}'s methods"))
    return out


def write_archive(fp: BinaryIO, sm: ScriptModule, extra_files: dict[str, Any] | None) -> None:
    """Write the archive of ``sm`` to the seekable binary file ``fp``."""
    write_prepared(fp, prepare(sm, extra_files))


def write_prepared(fp: BinaryIO, p: Prepared) -> None:
    """Write checked contents (:func:`prepare`) to the seekable binary file ``fp``."""
    with zipfile.ZipFile(fp, mode="w", allowZip64=True) as zf:
        _write_small(zf, VERSION_ENTRY, f"{p.version}\n".encode("ascii"))
        _write_small(zf, META_ENTRY, p.meta)
        _write_small(zf, CODE_ENTRY, p.code.encode("utf-8"))
        for path, text in p.codes.items():  # submodules' own methods, in module order
            _write_small(zf, f"{MODULE_CODE_DIR}{path}.py", text.encode("utf-8"))
        for tid, array in enumerate(p.arrays):
            _write_aligned(zf, fp, f"{DATA_DIR}{tid}", array)
        for name in sorted(p.extra):
            _write_small(zf, EXTRA_DIR + name, p.extra[name])


def save(sm: Any, f: Any, _extra_files: dict[str, Any] | None = None) -> None:
    """Save ``sm`` (a ScriptModule or ScriptFunction) to a path or a writable binary file."""
    if not isinstance(sm, ScriptModule):
        raise TypeError(
            f"tracer.save needs a ScriptModule or ScriptFunction, got {type(sm).__name__}; "
            "capture it first with tracer.trace(model, example_inputs) or tracer.script(model)"
        )
    if isinstance(f, (str, os.PathLike)):
        _save_path(sm, os.fspath(f), _extra_files)
        return
    if not (hasattr(f, "write") and hasattr(f, "flush")):
        raise TypeError(f"f must be a path or a binary file object with write() and flush(), got {type(f).__name__}")
    prepared = prepare(sm, _extra_files)  # checked before anything is written
    with tempfile.TemporaryFile() as tmp:
        write_prepared(tmp, prepared)
        tmp.seek(0)
        shutil.copyfileobj(tmp, f, 16 * 2**20)
    f.flush()


#: A save's temporary file: ``.tracer-<pid>-<random>.tmp`` in the target's folder.
_TMP_PREFIX = ".tracer-"
_TMP_SUFFIX = ".tmp"
#: A temporary file this old whose process is gone is what a killed save left behind.
STALE_AFTER_S = 600


def _create_temporary(folder: str) -> tuple[int, str]:
    """Create the temporary file with mode 0o666 so that the kernel applies the umask (the
    process umask is never changed: another thread may be creating files)."""
    for _ in range(100):
        name = f"{_TMP_PREFIX}{os.getpid()}-{secrets.token_hex(6)}{_TMP_SUFFIX}"
        path = os.path.join(folder, name)
        try:
            return os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666), path
        except FileExistsError:
            continue
    raise FileExistsError(f"cannot create a temporary file in {folder!r}")


def _process_gone(pid: int) -> bool:
    if pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OSError):
        return False  # it exists (owned by someone else), or we cannot tell
    return False


def _remove_stale_temporaries(folder: str) -> None:
    """Delete temporary files of saves into ``folder`` that were killed: only ones older than
    :data:`STALE_AFTER_S` whose process no longer exists (never a concurrent save's)."""
    try:
        names = [n for n in os.listdir(folder) if n.startswith(_TMP_PREFIX) and n.endswith(_TMP_SUFFIX)]
    except OSError:
        return
    now = time.time()
    for name in names:
        pid_text = name[len(_TMP_PREFIX):-len(_TMP_SUFFIX)].split("-", 1)[0]
        if not pid_text.isdigit():
            continue
        path = os.path.join(folder, name)
        try:
            st = os.lstat(path)
            if stat.S_ISREG(st.st_mode) and now - st.st_mtime > STALE_AFTER_S and _process_gone(int(pid_text)):
                os.unlink(path)
        except (OSError, ValueError, OverflowError):
            continue


def _save_path(sm: ScriptModule, path: str, extra: dict[str, Any] | None) -> None:
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path!r}: folder {folder!r} does not exist")
    prepared = prepare(sm, extra)  # checked before any file is created
    _remove_stale_temporaries(folder)
    fd, tmp = _create_temporary(folder)
    try:
        with os.fdopen(fd, "w+b") as fp:
            write_prepared(fp, prepared)
            fp.flush()
            os.fsync(fp.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def save_bytes(sm: ScriptModule, extra: dict[str, Any] | None = None) -> bytes:
    """The archive of ``sm`` as bytes (what pickling a ScriptModule carries)."""
    prepared = prepare(sm, extra)
    buf = io.BytesIO()
    write_prepared(buf, prepared)
    return buf.getvalue()
