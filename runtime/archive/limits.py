"""What ``save`` checks so that ``load`` accepts what it writes: the reader's own limits and
checks (``docs/ARCHIVE.md``, "Budgets"), run on the archive's contents before anything is written.

Where it can, this runs the reader's code itself on what the writer built: the metadata goes
through :func:`.validate.validate` and :func:`.validate.check_json`'s counts, each program text
through the frontend exactly as ``load`` compiles it (sizes, tokens, nesting and compile budgets
included).  What only the container checks (entry count, entry name lengths, extra file sizes,
the bytes one load inflates) is checked against the same constants.  A failure is a
``SerializationError`` that names the limit and, where one is to blame, the attribute, method or
extra file; nothing is written.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

from ir import ScriptError, SerializationError, VerificationError, verify
from ir.frontend import parse_program

from .format import (
    MAX_CODE_BYTES,
    MAX_ENTRIES,
    MAX_EXTRA_BYTES,
    MAX_INFLATED_BYTES,
    MAX_META_BYTES,
    MAX_META_ELEMENTS,
    MAX_NAME,
    ROOT,
    encode_value,
)
from .validate import check_json, json_values, validate

__all__ = ["Code", "check_loadable", "check_metadata", "check_entries", "check_code"]

_MIB = 2**20


class Code:
    """One program text entry and what ``load`` compiles it with."""

    def __init__(self, entry: str, text: str, methods_meta: dict[str, Any], constants: Mapping[str, np.ndarray],
                 unused: list[str], state_types: Mapping[str, Any], where: str) -> None:
        self.entry, self.text, self.methods_meta = entry, text, methods_meta
        self.constants, self.unused, self.state_types, self.where = constants, unused, state_types, where


class _Sized:
    """What :func:`.validate.validate` asks of an archive: its size (the arrays it holds fit by
    construction, so any size above their total will do)."""

    def __init__(self, size: int) -> None:
        self.size = size


def _refuse(what: str, fix: str = "") -> SerializationError:
    return SerializationError(f"cannot save: {what}, so load would refuse the archive" + (f"; {fix}" if fix else ""))


def _mib(n: int) -> str:
    return f"{n / _MIB:.1f} MiB"


def _metadata_parts(sm: Any) -> list[tuple[str, int, int]]:
    """``(what, JSON bytes, JSON values)`` of the metadata's big parts: the constant attributes and
    stored scalar inputs, largest first."""
    parts = []
    for path, mod in sm.named_modules():
        for name, value in mod.__dict__["_constants"].items():
            raw = json.dumps(encode_value(value), separators=(",", ":")).encode("ascii")
            parts.append((f"constant attribute {(path + '.' if path else '') + name!r}", len(raw), json_values(raw)))
    for method, values in sm.example_inputs.items():
        for i, v in enumerate(values):
            if not isinstance(v, (np.ndarray, np.generic, tuple, list)) or isinstance(v, (tuple, list)) and \
                    not all(isinstance(x, np.ndarray) for x in v):
                try:
                    raw = json.dumps(encode_value(v), separators=(",", ":")).encode("ascii")
                except TypeError:
                    continue
                parts.append((f"stored input {i} of {method}()", len(raw), json_values(raw)))
    return sorted(parts, key=lambda p: (-p[1], p[0]))


def check_metadata(sm: Any, meta: dict[str, Any], meta_bytes: bytes, total_bytes: int) -> None:
    """The checks ``load`` and ``inspect`` run on ``meta.json``."""
    if len(meta_bytes) > MAX_META_BYTES:
        biggest = _metadata_parts(sm)[:1]
        blame = f"; the largest part is {biggest[0][0]} ({_mib(biggest[0][1])})" if biggest else ""
        raise _refuse(f"its metadata (meta.json) would take {len(meta_bytes):,} bytes, more than the limit "
                      f"MAX_META_BYTES={MAX_META_BYTES:,} ({MAX_META_BYTES // _MIB} MiB){blame}",
                      "keep large data in arrays (buffers or parameters) or in _extra_files")
    values = json_values(meta_bytes)
    if values > MAX_META_ELEMENTS:
        biggest = sorted(_metadata_parts(sm), key=lambda p: -p[2])[:1]
        blame = f"; the largest part is {biggest[0][0]} ({biggest[0][2]:,} values)" if biggest else ""
        raise _refuse(f"its metadata (meta.json) would hold about {values:,} JSON values, more than the limit "
                      f"MAX_META_ELEMENTS={MAX_META_ELEMENTS:,}{blame}",
                      "keep long sequences in arrays (buffers or parameters)")
    try:
        validate(_Sized(total_bytes), meta)  # names, nesting, module depth, value types: the reader's checks
        check_json(meta_bytes, "meta.json")  # JSON nesting, counted as the reader counts it
    except SerializationError as exc:
        raise _refuse(str(exc)) from None


def check_entries(names: list[str], extra: Mapping[str, bytes], small_bytes: int) -> None:
    """The container's limits: entries, name lengths, extra file sizes and the bytes one load
    inflates (``small_bytes``: version, metadata and program texts, all read by every load)."""
    if len(names) > MAX_ENTRIES:
        raise _refuse(f"it would hold {len(names):,} entries, more than the limit MAX_ENTRIES={MAX_ENTRIES:,}",
                      "save fewer arrays (stack small parameters into one)")
    for name in names:
        if len(name) > 4 * MAX_NAME:
            raise _refuse(f"its entry {name[:80]!r}... has a name of {len(name)} characters, more than the limit "
                          f"4 * MAX_NAME={4 * MAX_NAME}", "use shorter module and attribute names")
    for name, data in extra.items():
        if len(data) > MAX_EXTRA_BYTES:
            raise _refuse(f"extra file {name!r} has {_mib(len(data))}, more than the limit MAX_EXTRA_BYTES="
                          f"{MAX_EXTRA_BYTES // _MIB} MiB", "store large data as arrays, or in a file of its own")
    total = small_bytes + sum(len(d) for d in extra.values())
    if total > MAX_INFLATED_BYTES:
        raise _refuse(f"a load that reads every extra file would read {_mib(total)} of metadata, program text and "
                      f"extra files, more than the limit MAX_INFLATED_BYTES={MAX_INFLATED_BYTES // _MIB} MiB",
                      "store large data as arrays (they are not counted), or in a file of its own")


def check_code(code: Code) -> None:
    """Compile ``code`` exactly as ``load`` does (frontend limits and budgets included)."""
    from .reader import input_types_of

    size = len(code.text.encode("utf-8"))
    if size > MAX_CODE_BYTES:
        raise _refuse(f"the program text of {code.where} ({code.entry}) would take {_mib(size)}, more than the limit "
                      f"MAX_CODE_BYTES={MAX_CODE_BYTES // _MIB} MiB", "split the model into smaller methods")
    input_types = input_types_of(code.methods_meta, code.where)
    try:
        graphs = parse_program(code.text, code.state_types, code.constants, input_types,
                               filename=f"{ROOT}/{code.entry}", unused=code.unused)
        for g in graphs.values():
            verify(g)
    except (ScriptError, VerificationError) as exc:
        raise _refuse(f"the program text of {code.where} ({code.entry}) does not compile back: {exc}",
                      "see docs/ARCHIVE.md, 'Budgets'") from None


def check_loadable(sm: Any, meta: dict[str, Any], meta_bytes: bytes, codes: list[Code], extra: Mapping[str, bytes],
                   entry_names: list[str], total_bytes: int) -> None:
    """Every check ``load`` would fail, run before the archive is written (see the module docstring)."""
    check_metadata(sm, meta, meta_bytes, total_bytes)
    small = len(meta_bytes) + 64 + sum(len(c.text.encode("utf-8")) for c in codes)
    check_entries(entry_names, extra, small)
    for code in codes:
        check_code(code)

