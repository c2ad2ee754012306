"""Hostile archives: every load ends in success or SerializationError, never anything else.

A few hundred cases run by default; set ``TRACER_FUZZ_EXAMPLES`` (and run with ``-m fuzz``) for
more.  Each case loads from bytes and from a path, under a memory guard.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import tracemalloc
import zipfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import tracer
from tests.script_models import Acceptance, f32

EXAMPLES = int(os.environ.get("TRACER_FUZZ_EXAMPLES", "120"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)


@pytest.fixture(scope="module")
def archive_bytes() -> bytes:
    sm = tracer.script(Acceptance().eval(), (f32(2, 8),))
    buf = io.BytesIO()
    sm.save(buf, _extra_files={"note.txt": b"hello"})
    return buf.getvalue()


def _entries(data: bytes) -> dict[str, bytes]:
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        return {i.filename: zf.read(i.filename) for i in zf.infolist()}


def _zip(entries: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return buf.getvalue()


def load_or_refuse(data: bytes) -> None:
    """Load ``data``: only success or SerializationError is acceptable, within 64 MiB of memory.

    (The loaded program is not run: a mutated program may loop forever, as any program may.)
    """
    tracemalloc.start()
    try:
        try:
            tracer.load(io.BytesIO(data))
        except tracer.SerializationError:
            pass
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 64 * 2**20, f"loading used {peak / 2**20:.0f} MiB"


@FUZZ
@given(st.data())
def test_random_byte_flips(archive_bytes, data):
    raw = bytearray(archive_bytes)
    for _ in range(data.draw(st.integers(1, 8))):
        i = data.draw(st.integers(0, len(raw) - 1))
        raw[i] = data.draw(st.integers(0, 255))
    load_or_refuse(bytes(raw))


@FUZZ
@given(st.data())
def test_truncations(archive_bytes, data):
    n = data.draw(st.integers(0, len(archive_bytes) - 1))
    load_or_refuse(archive_bytes[:n])


def _mutate_numbers(obj, rnd: random.Random):
    if isinstance(obj, dict):
        return {k: _mutate_numbers(v, rnd) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_mutate_numbers(v, rnd) for v in obj]
    if isinstance(obj, bool) or not isinstance(obj, int):
        if isinstance(obj, str) and rnd.random() < 0.05:
            return rnd.choice(["", "f128", "object", "../x", "c" * 300, "i64[*]", "?", "cuda:9"])
        return obj
    if rnd.random() < 0.15:
        return rnd.choice([-1, 0, 1, 2**31, 2**48, 2**62, 10**30, obj + 1, obj * 1000])
    return obj


@FUZZ
@given(st.integers(0, 2**32 - 1))
def test_valid_zip_with_mutated_metadata_numbers(archive_bytes, seed):
    entries = _entries(archive_bytes)
    meta = json.loads(entries["archive/meta.json"])
    entries["archive/meta.json"] = json.dumps(_mutate_numbers(meta, random.Random(seed))).encode()
    load_or_refuse(_zip(entries))


_SNIPPETS = [
    "__import__('os').system('touch PWNED')", "open('PWNED', 'w')", "eval('1')", "exec('x=1')",
    "self.__class__", "np.save('PWNED', x)", "getattr(np, 'save')('PWNED', x)", "(lambda: 1)()",
    "[i for i in range(10**9)]", "x" + "[0]" * 5000, "CONSTANTS.zzz", "self.nope",
    "2 ** 10 ** 10", "'a' * 10**10", "ops.frobnicate(x)",
]
#: Valid programs that would be expensive to *run*; loading them must stay cheap.
_HEAVY = ["np.ones(10**12)", "np.zeros((2**31, 2**31))", "np.arange(10**15)"]


@FUZZ
@given(st.data())
def test_valid_zip_with_mutated_program_text(archive_bytes, tmp_path_factory, data):
    entries = _entries(archive_bytes)
    lines = entries["archive/code/program.py"].decode().splitlines()
    action = data.draw(st.sampled_from(["insert", "delete", "replace", "garble"]))
    i = data.draw(st.integers(0, len(lines) - 1))
    if action == "insert":
        lines.insert(i, "    " + data.draw(st.sampled_from(_SNIPPETS + _HEAVY)))
    elif action == "delete":
        del lines[i]
    elif action == "replace":
        lines[i] = "    x = " + data.draw(st.sampled_from(_SNIPPETS))
    else:
        line = lines[i]
        j = data.draw(st.integers(0, max(0, len(line) - 1)))
        lines[i] = line[:j] + data.draw(st.sampled_from(["(", ")", ":", "\x00", "é", "\t", "'''", "#"])) + line[j:]
    entries["archive/code/program.py"] = "\n".join(lines).encode("utf-8", "surrogatepass")
    cwd = os.getcwd()
    work = tmp_path_factory.mktemp("fuzz")
    os.chdir(work)
    try:
        load_or_refuse(_zip(entries))
    finally:
        os.chdir(cwd)
    assert list(work.iterdir()) == [], "program text must never run"


class _Payload:
    def __reduce__(self):
        return (os.system, ("touch PWNED",))


def test_pickle_payloads_are_never_unpickled(archive_bytes, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    entries = _entries(archive_bytes)
    evil = pickle.dumps(_Payload())
    variants = [
        {**entries, "archive/data.pkl": evil},
        {**entries, "archive/meta.json": evil},
        {**entries, "archive/data/0": evil},
        {**entries, "archive/code/program.py": evil},
        {**entries, "archive/version": evil},
        {"archive/data.pkl": evil},
    ]
    for v in variants:
        load_or_refuse(_zip(v))
    assert not (tmp_path / "PWNED").exists()


def test_code_injected_into_program_text_never_runs(archive_bytes, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    entries = _entries(archive_bytes)
    def with_line(snippet: str) -> bytes:
        code = entries["archive/code/program.py"].decode().replace("def forward(self, x, n=2):",
                                                                   f"def forward(self, x, n=2):\n    y = {snippet}")
        return _zip({**entries, "archive/code/program.py": code.encode()})

    for snippet in _SNIPPETS:
        with pytest.raises(tracer.SerializationError):
            tracer.load(io.BytesIO(with_line(snippet)))
    for snippet in _HEAVY:
        load_or_refuse(with_line(snippet))  # compiles to an op; nothing is allocated by loading
    top = "import os\nos.system('touch PWNED')\n" + entries["archive/code/program.py"].decode()
    with pytest.raises(tracer.SerializationError, match="only method definitions"):
        tracer.load(io.BytesIO(_zip({**entries, "archive/code/program.py": top.encode()})))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("case", ["huge-shape", "huge-declared-entry", "zip-bomb", "dup", "dotdot", "absolute",
                                  "two-roots", "unknown-dtype", "unknown-op", "not-zip", "empty"])
def test_specific_hostile_archives(archive_bytes, case):
    entries = _entries(archive_bytes)
    meta = json.loads(entries["archive/meta.json"])
    if case == "huge-shape":
        meta["tensors"][0]["shape"] = [2**40, 2**40]
        entries["archive/meta.json"] = json.dumps(meta).encode()
        data = _zip(entries)
    elif case == "huge-declared-entry":
        data = _zip(entries)
        off = data.rfind(b"archive/meta.json")  # central directory record: patch uncompressed size
        cd = data.rfind(b"PK\x01\x02", 0, off)
        data = data[:cd + 24] + (2**31).to_bytes(4, "little") + data[cd + 28:]
    elif case == "zip-bomb":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for name, blob in entries.items():
                zf.writestr(name, blob)
            zf.writestr("archive/extra/bomb", b"\0" * (300 * 2**20))
        meta["extra_files"] = ["bomb"]
        data = buf.getvalue()
        assert len(data) < 2 * 2**20
        with pytest.raises(tracer.SerializationError):
            tracer.load(io.BytesIO(data), _extra_files={"bomb": b""})
    elif case == "dup":
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            for name, blob in entries.items():
                zf.writestr(name, blob)
            with pytest.warns(UserWarning, match="Duplicate"):
                zf.writestr("archive/meta.json", b"{}")
        data = buf.getvalue()
    elif case == "dotdot":
        data = _zip({**entries, "archive/../evil": b"x"})
    elif case == "absolute":
        data = _zip({**entries, "/etc/passwd": b"x"})
    elif case == "two-roots":
        data = _zip({**entries, "other/version": b"1"})
    elif case == "unknown-dtype":
        meta["tensors"][0]["dtype"] = "object"
        entries["archive/meta.json"] = json.dumps(meta).encode()
        data = _zip(entries)
    elif case == "unknown-op":
        meta["ops"]["frobnicate"] = 1
        entries["archive/meta.json"] = json.dumps(meta).encode()
        data = _zip(entries)
    elif case == "not-zip":
        data = b"PK\x03\x04" + b"\xff" * 1000
    else:
        data = b""
    with pytest.raises(tracer.SerializationError):
        tracer.load(io.BytesIO(data))
    load_or_refuse(data)


@pytest.mark.fuzz
def test_many_more_byte_flips(archive_bytes):
    rnd = random.Random(0)
    for _ in range(max(EXAMPLES, 2000)):
        raw = bytearray(archive_bytes)
        for _ in range(rnd.randint(1, 16)):
            raw[rnd.randrange(len(raw))] = rnd.randrange(256)
        load_or_refuse(bytes(raw))
