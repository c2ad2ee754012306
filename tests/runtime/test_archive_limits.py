"""Save refuses what load would refuse (docs/ARCHIVE.md, "Budgets"), before writing anything.

Each case builds a module that goes past one of the reader's limits and checks three things: save
raises ``SerializationError`` naming the limit (and the attribute or file to blame), nothing is
left in the target folder or the file object, and an archive written with save's checks switched
off is indeed refused by load (so the two agree).  Limits too large to reach in a test are lowered
in the writer's and the reader's modules alike.
"""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest

import tracer
from runtime.archive import container, limits, reader, writer
from tracer import nn


class Tiny(nn.Module):
    def __init__(self, **constants) -> None:
        super().__init__()
        self.w = np.ones(3, np.float32)
        for name, value in constants.items():
            setattr(self, name, value)

    def forward(self, x):
        return x * self.w


def _traced(module: nn.Module) -> tracer.ScriptModule:
    return tracer.trace(module, (np.ones(3, np.float32),))


def _refused_at_save(tmp_path, sm, words: list[str], extra=None) -> str:
    """Save to a path and to a file object: refused with ``words``, nothing written."""
    target = tmp_path / "out" / "m.pt"
    target.parent.mkdir()
    with pytest.raises(tracer.SerializationError) as info:
        tracer.save(sm, target, _extra_files=extra)
    message = str(info.value)
    for w in words:
        assert w in message, message
    assert list(target.parent.iterdir()) == [], "nothing left behind"
    buf = io.BytesIO()
    with pytest.raises(tracer.SerializationError):
        tracer.save(sm, buf, _extra_files=extra)
    assert buf.getvalue() == b"", "nothing written to the file object"
    return message


def _load_refuses_unchecked(monkeypatch, sm, extra=None, wanted=None) -> None:
    """With save's checks off the archive is written, and load refuses it."""
    monkeypatch.setattr(writer, "check_loadable", lambda *a, **k: None)
    data = writer.save_bytes(sm, extra)
    with pytest.raises(tracer.SerializationError):
        tracer.load(io.BytesIO(data), _extra_files=wanted)


def test_a_64_mib_string_attribute_is_refused_naming_the_limit_and_the_attribute(tmp_path, monkeypatch):
    sm = _traced(Tiny(blob="x" * (64 * 2**20)))
    message = _refused_at_save(tmp_path, sm, ["MAX_META_BYTES", "constant attribute 'blob'"])
    assert "extra" in message, "says what to do instead"
    _load_refuses_unchecked(monkeypatch, sm)


def _nested(depth: int):
    value = 1
    for _ in range(depth):
        value = (value,)
    return value


def _deep_modules(depth: int) -> nn.Module:
    root = Tiny()
    m = root
    for _ in range(depth):
        child = nn.Identity()
        m.inner = child
        m = child
    return root


@pytest.mark.parametrize("make, words", [
    (lambda: Tiny(many=tuple(range(400_000))), ["MAX_META_ELEMENTS", "constant attribute 'many'"]),
    (lambda: Tiny(deep=_nested(40)), ["constants['deep']", "nests too deeply"]),
    (lambda: Tiny(**{"a" * 1100: 1}), ["not a valid name"]),
    (lambda: _deep_modules(70), ["MAX_MODULE_DEPTH"]),
    (lambda: Tiny(table=np.zeros((1,) * 33, np.float32)), ["33 dimensions"]),
], ids=["json-values", "nested-constant", "long-name", "module-depth", "array-rank"])
def test_metadata_load_would_refuse_is_refused_at_save(tmp_path, monkeypatch, make, words):
    sm = _traced(make())
    _refused_at_save(tmp_path, sm, words)
    _load_refuses_unchecked(monkeypatch, sm)


def test_program_text_past_the_token_limit_is_refused_at_save(tmp_path, monkeypatch):
    import ir.frontend.program as program

    sm = _traced(Tiny())
    monkeypatch.setattr(program, "MAX_PROGRAM_TOKENS", 10)
    _refused_at_save(tmp_path, sm, ["MAX_PROGRAM_TOKENS", "the module's methods"])
    _load_refuses_unchecked(monkeypatch, sm)


def test_too_many_entries_are_refused_at_save(tmp_path, monkeypatch):
    sm = _traced(Tiny(a=np.ones(2), b=np.ones(2)))
    for module in (limits, container):
        monkeypatch.setattr(module, "MAX_ENTRIES", 4)
    _refused_at_save(tmp_path, sm, ["MAX_ENTRIES"])
    _load_refuses_unchecked(monkeypatch, sm)


def test_extra_files_load_would_refuse_are_refused_at_save(tmp_path, monkeypatch):
    sm = _traced(Tiny())
    for module in (limits, reader):
        monkeypatch.setattr(module, "MAX_EXTRA_BYTES", 1000)
    extra = {"big.bin": b"\1" * 2000}
    _refused_at_save(tmp_path, sm, ["MAX_EXTRA_BYTES", "'big.bin'"], extra)
    _load_refuses_unchecked(monkeypatch, sm, extra, wanted={"big.bin": ""})


def test_extra_files_past_what_one_load_inflates_are_refused_at_save(tmp_path, monkeypatch):
    sm = _traced(Tiny())
    for module in (limits, container):
        monkeypatch.setattr(module, "MAX_INFLATED_BYTES", 2**20)
    extra = {f"part{i}.bin": np.random.default_rng(i).bytes(400_000) for i in range(3)}
    _refused_at_save(tmp_path, sm, ["MAX_INFLATED_BYTES"], extra)
    _load_refuses_unchecked(monkeypatch, sm, extra, wanted={name: "" for name in extra})


@pytest.mark.parametrize("name", ["a\nb", "tab\there", "bell\x07"])
def test_extra_file_names_the_reader_refuses_are_refused_at_save(tmp_path, name):
    _refused_at_save(tmp_path, _traced(Tiny()), ["not allowed", "control characters"], {name: b"x"})


def test_entries_that_would_inflate_past_the_ratio_limit_are_stored_and_load(tmp_path):
    text = "x" * (10 * 2**20)  # deflates about 1000:1, past MAX_INFLATE_RATIO
    sm = _traced(Tiny(text=text))
    zeros = bytes(12 * 2**20)
    path = tmp_path / "m.pt"
    sm.save(path, _extra_files={"zeros.bin": zeros, "small.txt": "hello"})
    with zipfile.ZipFile(path) as zf:
        kinds = {i.filename.split("/", 1)[1]: i.compress_type for i in zf.infolist()}
    assert kinds["meta.json"] == kinds["extra/zeros.bin"] == zipfile.ZIP_STORED
    assert kinds["extra/small.txt"] == kinds["code/program.py"] == zipfile.ZIP_DEFLATED
    extra = {"zeros.bin": "", "small.txt": ""}
    loaded = tracer.load(path, _extra_files=extra)
    assert loaded.text == text and extra == {"zeros.bin": zeros, "small.txt": b"hello"}
    assert path.read_bytes() == writer.save_bytes(loaded, {"zeros.bin": zeros, "small.txt": "hello"})
