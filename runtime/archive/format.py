"""The archive format: entry layout, limits, and the JSON encoding of values.

See ``docs/ARCHIVE.md`` for the format entry by entry.  Everything here is data or pure
functions; :mod:`.writer` and :mod:`.reader` build on it.
"""

from __future__ import annotations

import math
from typing import Any

from ir import SerializationError

__all__ = [
    "ROOT",
    "BASE_VERSION",
    "SUBMODULE_METHODS_VERSION",
    "TRAINING_FLAGS_VERSION",
    "archive_version",
    "ALIGNMENT",
    "MAX_ENTRIES",
    "MAX_META_BYTES",
    "MAX_CODE_BYTES",
    "MAX_EXTRA_BYTES",
    "MAX_DIMS",
    "MAX_META_ELEMENTS",
    "MAX_JSON_DEPTH",
    "MAX_INFLATED_BYTES",
    "MAX_INFLATE_RATIO",
    "MAX_MODULE_DEPTH",
    "encode_value",
    "decode_value",
    "fail",
]

#: Every entry lives under this folder.
ROOT = "archive"
#: The format version of an archive whose ops are all at version 1.  An archive's version is the
#: highest of this and the versions of the ops it uses.
BASE_VERSION = 1
#: Archives where a submodule has methods of its own (``code/modules/``) are at least this version,
#: so that a release that would ignore those entries refuses the file instead of dropping them.
SUBMODULE_METHODS_VERSION = 3


#: Archives whose programs read ``self.training`` when they run (``self.bn.training`` in the text,
#: ``"training_flags": true`` in the metadata) are at least this version.
TRAINING_FLAGS_VERSION = 4


def archive_version(ops: dict[str, int], submodule_methods: bool, training_flags: bool = False) -> int:
    """The version of an archive using ``ops`` (name -> version): the highest its contents need."""
    return max([BASE_VERSION, *ops.values(), SUBMODULE_METHODS_VERSION if submodule_methods else BASE_VERSION,
                TRAINING_FLAGS_VERSION if training_flags else BASE_VERSION])

#: Array data starts at a multiple of this many bytes in the file (so it can be mapped).
ALIGNMENT = 64

# Limits that a hostile archive cannot push the reader past (docs/ARCHIVE.md, "Budgets").
MAX_ENTRIES = 100_000  # checked on the end record, before zipfile lists them (~0.5 KiB each)
MAX_META_BYTES = 64 * 2**20
MAX_META_ELEMENTS = 1_000_000  # JSON values in meta.json (parsed JSON takes ~100 B per value)
MAX_JSON_DEPTH = 256
MAX_CODE_BYTES = 16 * 2**20  # the frontend counts tokens too (ir.frontend.program.MAX_PROGRAM_TOKENS)
MAX_EXTRA_BYTES = 128 * 2**20  # one extra file
MAX_INFLATED_BYTES = 256 * 2**20  # all deflated entries read by one load, together
MAX_INFLATE_RATIO = 200  # inflated : compressed, checked while inflating past RATIO_FREE bytes
RATIO_FREE = 4 * 2**20
MAX_DIMS = 32
MAX_NAME = 1024
MAX_MODULE_DEPTH = 64

VERSION_ENTRY = f"{ROOT}/version"
META_ENTRY = f"{ROOT}/meta.json"
CODE_ENTRY = f"{ROOT}/code/program.py"
#: A submodule's own methods: ``<MODULE_CODE_DIR><qualified path>.py`` (e.g. ``encoder.py``).
MODULE_CODE_DIR = f"{ROOT}/code/modules/"
DATA_DIR = f"{ROOT}/data/"
EXTRA_DIR = f"{ROOT}/extra/"


def fail(message: str, cause: BaseException | None = None) -> SerializationError:
    """A SerializationError (raise it) with ``cause`` attached."""
    err = SerializationError(message)
    if cause is not None:
        err.__cause__ = cause
    return err


def encode_value(value: Any) -> Any:
    """A constant attribute or scalar input as tagged JSON (exact for floats, incl. inf/nan).

    >>> encode_value((1, 0.5, None, "a"))
    {'tuple': [{'int': 1}, {'float': '0.5'}, {'none': None}, {'str': 'a'}]}
    """
    if value is None:
        return {"none": None}
    if isinstance(value, bool):
        return {"bool": value}
    if isinstance(value, int):
        return {"int": value}
    if isinstance(value, float):
        return {"float": repr(value)}
    if isinstance(value, str):
        return {"str": value}
    if isinstance(value, (tuple, list)):
        return {"tuple" if isinstance(value, tuple) else "list": [encode_value(v) for v in value]}
    raise TypeError(f"cannot store a {type(value).__name__} as a constant")


_FLOAT_WORDS = {"inf": math.inf, "-inf": -math.inf, "nan": math.nan}


def decode_value(obj: Any, where: str, depth: int = 0) -> Any:
    """Inverse of :func:`encode_value`; anything else is a SerializationError naming ``where``."""
    if depth > 32:
        raise fail(f"{where}: value nests too deeply")
    if not isinstance(obj, dict) or len(obj) != 1:
        raise fail(f"{where}: expected a tagged value like {{'int': 1}}, got {str(obj)[:80]!r}")
    ((tag, v),) = obj.items()
    if tag == "none" and v is None:
        return None
    if tag == "bool" and isinstance(v, bool):
        return v
    if tag == "int" and isinstance(v, int) and not isinstance(v, bool):
        return v
    if tag == "float" and isinstance(v, str) and len(v) < 64:
        if v in _FLOAT_WORDS:
            return _FLOAT_WORDS[v]
        try:
            return float(v)
        except ValueError:
            pass
    if tag == "str" and isinstance(v, str):
        return v
    if tag in ("tuple", "list") and isinstance(v, list) and len(v) <= MAX_META_ELEMENTS:
        items = [decode_value(x, where, depth + 1) for x in v]
        return tuple(items) if tag == "tuple" else items
    raise fail(f"{where}: bad value {str(obj)[:80]!r}")
