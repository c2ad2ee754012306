"""Hostile archives, built by hand (no tracing): the cases of issue 14 and a structure-aware fuzzer.

Every builder returns archive bytes.  ``CASES`` maps a case name to a zero-argument builder;
``fuzz_case(seed)`` gives one random archive (metadata mutations, random programs from a grammar
of the program-text subset, container corruption).  ``tests/runtime/hostile_runner.py`` loads them
in a child process under an address-space limit, a time limit and an audit hook.
"""

from __future__ import annotations

import io
import json
import random
import struct
import zipfile
import zlib
from collections.abc import Callable
from typing import Any

import numpy as np

ROOT = "archive"


def base_meta(inputs: list[str] | None = None, ops: dict[str, int] | None = None) -> dict[str, Any]:
    """Metadata of a module with one parameter ``w`` (f32[3], tensor 0) and a method ``forward(x)``."""
    inputs = ["f32[3]"] if inputs is None else inputs
    return {
        "format": "numpy-tracer archive", "producer": "hand-made", "kind": "module", "version": 1,
        "ops": dict(ops or {}),
        "methods": {"forward": {"inputs": [{"name": f"x{i}" if i else "x", "type": t}
                                           for i, t in enumerate(inputs)]}},
        "unused_methods": [],
        "module": {"type": "M", "training": False, "parameters": [["w", 0]], "buffers": [], "constants": [],
                   "children": []},
        "constants": {}, "inputs": {"forward": [{"tensor": 1}]}, "input_types": {"forward": ["f32[3]"]},
        "tensors": [{"dtype": "f32", "shape": [3], "device": "cpu"}, {"dtype": "f32", "shape": [3], "device": "cpu"}],
        "extra_files": [],
    }


BASE_CODE = "def forward(self, x):\n    return x + self.w\n"


def build(code: str | bytes = BASE_CODE, meta: dict[str, Any] | bytes | None = None,
          tensors: list[bytes] | None = None, extra: dict[str, bytes] | None = None,
          entries: list[tuple[str, bytes, int]] | None = None, version: bytes | None = None) -> bytes:
    """An archive: ``entries`` (name, data, compression) are appended verbatim after the usual ones."""
    meta = base_meta() if meta is None else meta
    meta_bytes = meta if isinstance(meta, bytes) else json.dumps(meta).encode()
    if version is None:
        version = f"{meta.get('version', 1) if isinstance(meta, dict) else 1}\n".encode()
    if tensors is None:
        tensors = [np.arange(3, dtype="<f4").tobytes(), np.ones(3, dtype="<f4").tobytes()]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{ROOT}/version", version, zipfile.ZIP_DEFLATED)
        zf.writestr(f"{ROOT}/meta.json", meta_bytes, zipfile.ZIP_DEFLATED)
        zf.writestr(f"{ROOT}/code/program.py", code.encode() if isinstance(code, str) else code, zipfile.ZIP_DEFLATED)
        for i, t in enumerate(tensors):
            zf.writestr(f"{ROOT}/data/{i}", t, zipfile.ZIP_STORED)
        for name, data in (extra or {}).items():
            zf.writestr(f"{ROOT}/extra/{name}", data, zipfile.ZIP_DEFLATED)
        for name, data, comp in entries or []:
            zf.writestr(name, data, comp)
    return buf.getvalue()


def program(body: str, inputs: list[str] | None = None, **meta_changes: Any) -> bytes:
    """An archive whose ``forward(self, x)`` has ``body`` (indented lines)."""
    meta = base_meta(inputs)
    meta.update(meta_changes)
    return build("def forward(self, x):\n" + body, meta)


def _lines(*lines: str) -> str:
    return "".join(f"    {line}\n" for line in lines)


# -- container tricks ---------------------------------------------------------------------------
def nul_name() -> bytes:
    data = bytearray(build(extra={"abcdefgh": b"x"}))
    name = b"archive/extra/abcdefgh"
    i = data.rfind(name)  # central directory copy
    data[i + len(b"archive/extra/abc")] = 0
    j = data.find(name)  # local header copy
    data[j + len(b"archive/extra/abc")] = 0
    return bytes(data)


def overlapping() -> bytes:
    """Two array entries whose central-directory records point at the same bytes."""
    data = bytearray(build())
    eocd = data.rfind(b"PK\x05\x06")
    cd_offset = struct.unpack_from("<I", data, eocd + 16)[0]
    pos, offsets = cd_offset, {}
    while data[pos:pos + 4] == b"PK\x01\x02":
        n, m, k = struct.unpack_from("<HHH", data, pos + 28)
        offsets[bytes(data[pos + 46:pos + 46 + n])] = pos
        pos += 46 + n + m + k
    first = offsets[b"archive/data/0"]
    second = offsets[b"archive/data/1"]
    struct.pack_into("<I", data, second + 42, struct.unpack_from("<I", data, first + 42)[0])
    return bytes(data)


def inflate_bomb(lie: bool) -> bytes:
    """An extra file that inflates ~1000:1 (2 MiB -> 2 GiB declared, or a lying small declared size)."""
    raw = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = b"\0" * 2**20
    comp = b"".join(raw.compress(block) for _ in range(2048)) + raw.flush()
    size = 2**31 if not lie else 16
    meta = base_meta()
    meta["extra_files"] = ["bomb"]
    return _with_raw_entry(build(meta=meta), f"{ROOT}/extra/bomb", comp, size)


def _with_raw_entry(base: bytes, name: str, comp: bytes, file_size: int) -> bytes:
    """``base`` plus one deflated entry whose compressed bytes and declared size are given."""
    src = zipfile.ZipFile(io.BytesIO(base))
    out = io.BytesIO()
    cd = []
    for info in src.infolist():
        raw = src.fp
        raw.seek(info.header_offset)
        head = raw.read(30)
        n, m = struct.unpack_from("<HH", head, 26)
        body = raw.read(n + m + info.compress_size)
        offset = out.tell()
        out.write(head + body)
        cd.append((info, offset))
    offset = out.tell()
    fname = name.encode()
    crc = 0
    out.write(struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0x21, crc, len(comp),
                          file_size & 0xFFFFFFFF, len(fname), 0) + fname + comp)
    cd_start = out.tell()
    for info, off in cd:
        fn = info.filename.encode()
        out.write(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, info.compress_type, 0, 0x21,
                              info.CRC, info.compress_size, info.file_size, len(fn), 0, 0, 0, 0, 0, off) + fn)
    out.write(struct.pack("<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0x21, crc, len(comp),
                          file_size & 0xFFFFFFFF, len(fname), 0, 0, 0, 0, 0, offset) + fname)
    cd_end = out.tell()
    n = len(cd) + 1
    out.write(struct.pack("<4sHHHHIIH", b"PK\x05\x06", 0, 0, n, n, cd_end - cd_start, cd_start, 0))
    return out.getvalue()


def meta_bomb() -> bytes:
    """60 MiB of ``[],`` in meta.json (deflated to a small entry)."""
    meta = json.dumps(base_meta()).encode()
    filler = b",".join(b"[%d]" % i for i in range(6 * 2**20))  # ~60 MiB, numbered (no 200:1 ratio)
    return build(meta=meta[:-1] + b', "junk": [' + filler + b"[]]}")


def many_x_lines() -> bytes:
    lines, size, i = [], 0, 0
    while size < 16 * 2**20 - 200:  # numbered lines, so that the entry does not inflate 200:1
        line = f"    x = x + x * {i}\n"
        lines.append(line)
        size += len(line)
        i += 1
    return build("def forward(self, x):\n" + "".join(lines[:-1]) + "    return x\n")


def escape_names() -> bytes:
    meta = base_meta()
    meta["extra_files"] = ["\x1b[2J\x1b]0;pwned\x07note"]
    meta["producer"] = "\x1b[31mred\u202e"
    meta["input_types"] = {"forward": ["\x1b[2Jf32[3]"]}
    return build(meta=meta, extra={"note": b"x"})


def deepcopy_method() -> bytes:
    meta = base_meta()
    meta["methods"]["__deepcopy__"] = {"inputs": [{"name": "memo", "type": "f32[*]"}]}
    return build(BASE_CODE + "def __deepcopy__(self, memo):\n    return memo\n", meta)


def nested_early_returns(n: int = 22) -> bytes:
    body = "".join(f"    if x.sum() > {i}:\n        x = x + 1\n        if x.sum() > 100:\n            return x\n"
                   for i in range(n))
    return build("def forward(self, x):\n" + body + "    y = x * 2\n    return y\n")


def nested_range_loops(n: int = 22) -> bytes:
    body = "".join("    " * (i + 1) + f"for i{i} in range(2):\n" for i in range(n))
    return build("def forward(self, x):\n" + body + "    " * (n + 1) + "x = x + 1\n    return x\n")


def nested_static_loops(depth: int = 8) -> bytes:
    body = "".join("    " * (i + 1) + f"for i{i} in (0, 1, 2, 3, 4, 5, 6, 7, 8, 9):\n" for i in range(depth))
    return build("def forward(self, x):\n" + body + "    " * (depth + 1) + "y = 1\n    return x\n")


def _restore_square_loop() -> bytes:
    return program(_lines("n = x.shape[0] + 1", "for i in range(200):", "    n = n * n", "return x"))


def _big_int_meta() -> bytes:
    meta = json.dumps(base_meta()).encode()
    return build(meta=meta[:-1] + b', "n": ' + b"9" * 5000 + b"}")


def _split_declared() -> bytes:
    return program(_lines("return np.split(x, 2000000)"), inputs=["f32[2000000, 16]"])


def _inspect_types(field: str, value: Any) -> Callable[[], bytes]:
    def make() -> bytes:
        meta = base_meta()
        meta[field] = value
        return build(meta=meta)
    return make


def _too_many_inputs() -> bytes:
    meta = base_meta()
    meta["inputs"] = {"forward": [{"tensor": 1}, {"tensor": 1}, {"tensor": 0}]}
    return build(meta=meta)


NUMPY_NAMES = ["f2py", "testing", "ctypeslib", "ma", "fft", "rec", "char", "matlib", "object", "str", "lib",
               "random", "distutils", "polynomial", "emath", "save", "load", "__config__", "show_config"]

CASES: dict[str, Callable[[], bytes]] = {
    "valid": lambda: build(),
    **{f"np.{n}": (lambda n=n: program(_lines(f"y = np.{n}", "return x"))) for n in NUMPY_NAMES},
    "np.fft.fft": lambda: program(_lines("return np.fft.fft(x)")),
    "np.linalg.norm-unknown": lambda: program(_lines("return np.linalg.lapack_lite")),
    "deepcopy-method": deepcopy_method,
    "dunder-param": lambda: build(meta={**base_meta(), "module": {**base_meta()["module"],
                                                                  "parameters": [["__deepcopy__", 0]]}}),
    "repr-html-child": lambda: build(meta={**base_meta(), "module": {**base_meta()["module"], "children": [[
        "_repr_html_", {"type": "C", "parameters": [], "buffers": [], "constants": [], "children": []}]]}}),
    "pow-1e9": lambda: program(_lines("n = (x.shape[0] + 1) ** 1000000000", "return x")),
    "square-40": lambda: program(_lines("n = x.shape[0] + 1", *["n = n * n"] * 40, "return x")),
    "static-square-40": lambda: program(_lines("n = 3", *["n = n * n"] * 40, "return x")),
    "static-pow": lambda: program(_lines("n = np.int64(3) ** 100000000000", "return x")),
    "nested-static-loops-1e8": nested_static_loops,
    "early-returns-22": nested_early_returns,
    "early-returns-400": lambda: nested_early_returns(400),
    "range-loops-22": nested_range_loops,
    "restore-square-loop": _restore_square_loop,
    "range-2e8": lambda: program(_lines("t = range(200000000)", "return x")),
    "tuple-range-1e9": lambda: program(_lines("t = tuple(range(10**9))", "return x")),
    "tuple-doubled-40": lambda: program(_lines("t = (1, 2)", *["t = t + t"] * 40, "return x")),
    "split-2e6": _split_declared,
    "x-plus-x-16MiB": many_x_lines,
    "meta-60MiB-lists": meta_bomb,
    "extra-bomb-declared": lambda: inflate_bomb(lie=False),
    "extra-bomb-lying": lambda: inflate_bomb(lie=True),
    "min-str": lambda: program(_lines("t = min(1, 'a')", "return x")),
    "range-str": lambda: program(_lines("t = range('a')", "return x")),
    "tuple-5": lambda: program(_lines("t = tuple(5)", "return x")),
    "dtype-save": lambda: program(_lines("t = np.dtype(np.save)", "return x")),
    "dtype-structured": lambda: program(_lines("return x.astype(np.dtype([('a', 'f4')]))")),
    "expand-dims-float": lambda: program(_lines("return np.expand_dims(x, 2.5)")),
    "isinstance-bad": lambda: program(_lines("t = isinstance(1, 2)", "return x")),
    "len-int": lambda: program(_lines("t = len(5)", "return x")),
    "int-literal-5000-digits": lambda: program(_lines("t = " + "9" * 5000, "return x")),
    "meta-int-5000-digits": _big_int_meta,
    "inspect-extra-files-int": _inspect_types("extra_files", 5),
    "inspect-extra-files-list-of-int": _inspect_types("extra_files", [5]),
    "inspect-inputs-str": _inspect_types("inputs", "x"),
    "inspect-input-types-int": _inspect_types("input_types", {"forward": 3}),
    "inspect-methods-list": _inspect_types("methods", ["forward"]),
    "too-many-stored-inputs": _too_many_inputs,
    "nul-entry-name": nul_name,
    "overlapping-entries": overlapping,
    "escape-sequences": escape_names,
    "deep-json": lambda: build(meta=json.dumps(base_meta()).encode()[:-1] + b', "d": ' + b"[" * 5000
                               + b"]" * 5000 + b"}"),
    "many-entries": lambda: build(entries=[(f"{ROOT}/extra/e{i}", b"", zipfile.ZIP_STORED) for i in range(120_000)]),
}


# -- the structure-aware fuzzer -----------------------------------------------------------------
_EXPRS = ["x", "self.w", "1", "2.5", "x.shape[0]", "n", "t", "(1, 2)", "np.pi", "True", "None", "x.T", "-x",
          "x.sum()", "x[0]", "x[1:]", "np.exp(x)", "np.maximum(x, 0)", "x.reshape(3)", "len(t)", "x.ndim"]
_BINOPS = ["+", "-", "*", "/", "//", "%", "**", "@", "<", "==", "and", "or", "&", "|"]
_NP = ["np.exp", "np.tanh", "np.sum", "np.mean", "np.split", "np.concatenate", "np.stack", "np.where",
       "np.expand_dims", "np.reshape", "np.zeros", "np.ones", "np.arange", "np.f2py", "np.dtype", "np.random",
       "np.linalg.norm", "ops.add", "ops.nothing", "range", "tuple", "min", "max", "abs", "int", "float",
       "isinstance", "len", "zip", "enumerate", "reversed", "list", "print"]


def _expr(rnd: random.Random, depth: int) -> str:
    r = rnd.random()
    if depth <= 0 or r < 0.3:
        return rnd.choice(_EXPRS + [str(rnd.choice([0, 1, 2, 3, -1, 10**6, 2**62, 10**30]))])
    if r < 0.6:
        return f"({_expr(rnd, depth - 1)} {rnd.choice(_BINOPS)} {_expr(rnd, depth - 1)})"
    if r < 0.85:
        args = ", ".join(_expr(rnd, depth - 1) for _ in range(rnd.randint(0, 3)))
        return f"{rnd.choice(_NP)}({args})"
    return f"({_expr(rnd, depth - 1)} if {_expr(rnd, depth - 1)} else {_expr(rnd, depth - 1)})"


def _stmts(rnd: random.Random, depth: int, indent: int) -> list[str]:
    pad = "    " * indent
    out = []
    for _ in range(rnd.randint(1, 4)):
        r = rnd.random()
        if depth > 0 and r < 0.15:
            out.append(f"{pad}if {_expr(rnd, 2)}:")
            out += _stmts(rnd, depth - 1, indent + 1)
        elif depth > 0 and r < 0.25:
            it = rnd.choice(["range(3)", "range(n)", "(1, 2, 3)", "t", "range(x.shape[0])", "range(10**6)"])
            out.append(f"{pad}for i in {it}:")
            out += _stmts(rnd, depth - 1, indent + 1)
        elif depth > 0 and r < 0.3:
            out.append(f"{pad}while {_expr(rnd, 1)}:")
            out += _stmts(rnd, depth - 1, indent + 1)
            out.append(f"{pad}    break")
        elif r < 0.4:
            out.append(f"{pad}return {_expr(rnd, 2)}")
        else:
            out.append(f"{pad}{rnd.choice(['x', 'n', 't', 'y'])} = {_expr(rnd, 3)}")
    return out


def random_program(rnd: random.Random) -> str:
    body = ["    n = 3", "    t = (1, 2)", *_stmts(rnd, 3, 1), "    return x"]
    name = rnd.choice(["forward"] * 30 + ["__deepcopy__", "_repr_html_", "__getattr__"])
    text = f"def {name}(self, x):\n" + "\n".join(body) + "\n"
    if name != "forward":
        text = BASE_CODE + text
    return text


def _mutate(obj: Any, rnd: random.Random) -> Any:
    choices: list[Any] = [None, True, -1, 0, 2**63, 10**20, "", "x" * 3, "\x00", "__deepcopy__", [], {}, [[]],
                          {"tensor": 0}, {"int": 1}, 1.5, "f32[*]", "nan"]
    if isinstance(obj, dict) and obj and rnd.random() < 0.7:
        key = rnd.choice(sorted(obj))
        obj = dict(obj)
        if rnd.random() < 0.15:
            del obj[key]
        else:
            obj[key] = _mutate(obj[key], rnd)
        return obj
    if isinstance(obj, list) and obj and rnd.random() < 0.7:
        obj = list(obj)
        i = rnd.randrange(len(obj))
        obj[i] = _mutate(obj[i], rnd)
        if rnd.random() < 0.1:
            obj.append(obj[i])
        return obj
    return rnd.choice(choices)


def fuzz_case(seed: int) -> bytes:
    """One random archive: a random program, mutated metadata, or a corrupted container."""
    rnd = random.Random(seed)
    kind = seed % 3
    if kind == 0:
        meta = base_meta()
        if rnd.random() < 0.05:
            meta["methods"]["__deepcopy__"] = {"inputs": [{"name": "x", "type": "f32[3]"}]}
            meta["methods"]["_repr_html_"] = {"inputs": [{"name": "x", "type": "f32[3]"}]}
            meta["methods"]["__getattr__"] = {"inputs": [{"name": "x", "type": "f32[3]"}]}
        return build(random_program(rnd), meta)
    if kind == 1:
        meta = base_meta()
        for _ in range(rnd.randint(1, 4)):
            meta = _mutate(meta, rnd)
        return build(meta=meta)
    data = bytearray(build(extra={"note": b"hello" * 10}))
    for _ in range(rnd.randint(1, 8)):
        op = rnd.random()
        i = rnd.randrange(len(data))
        if op < 0.5:
            data[i] = rnd.randrange(256)
        elif op < 0.7:
            struct.pack_into("<I", data, min(i, len(data) - 4), rnd.choice([0, 1, 2**31, 2**32 - 1, len(data)]))
        elif op < 0.85:
            del data[i:i + rnd.randint(1, 64)]
        else:
            data[i:i] = data[rnd.randrange(len(data)):][:rnd.randint(1, 64)]
    return bytes(data)
