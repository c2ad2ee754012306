"""tracer.save / tracer.load / tracer.inspect: every seed behaviour of the archive."""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
import pathlib
import pickle
import sys
import zipfile

import numpy as np
import pytest

import tracer
from runtime.archive.format import ALIGNMENT
from runtime.archive.reader import supported_version
from tests.script_models import Acceptance, Block, WithMethods, f32
from tracer import nn

FIXTURES = pathlib.Path(__file__).parent.parent / "fixtures"


X = f32(4, 16)


@pytest.fixture()
def block():
    m = Block().eval()
    return m, tracer.trace(m, (X,))


def sha(path) -> str:
    return hashlib.sha256(pathlib.Path(path).read_bytes()).hexdigest()


def test_the_spec_example(tmp_path, block):
    m, sm = block
    path = tmp_path / "block.pt"
    tracer.save(sm, str(path), _extra_files={"meta.json": b'{"v": 1}'})
    extra = {"meta.json": ""}
    loaded = tracer.load(str(path), map_location="cpu", _extra_files=extra, _restore_shapes=True)
    np.testing.assert_allclose(loaded(X), m(X), rtol=1e-5, atol=1e-6)
    assert extra == {"meta.json": b'{"v": 1}'}
    assert loaded.fc.weight.shape == (64, 16) and loaded.scale == 0.5
    assert list(loaded.state_dict()) == list(sm.state_dict())
    assert loaded.training is False and loaded.code == sm.code


def test_container_layout(tmp_path, block):
    path = tmp_path / "m.pt"
    block[1].save(path, _extra_files={"notes/readme.txt": "hello"})
    with zipfile.ZipFile(path) as zf:
        names = zf.namelist()
        assert all(n.startswith("archive/") for n in names)
        assert zf.read("archive/version").strip().isdigit()
        assert "def forward(self, x):" in zf.read("archive/code/program.py").decode()
        assert zf.read("archive/extra/notes/readme.txt") == b"hello"
        json.loads(zf.read("archive/meta.json"))
        raw = path.read_bytes()
        for info in zf.infolist():
            if info.filename.startswith("archive/data/"):
                assert info.compress_type == zipfile.ZIP_STORED
                name_len, extra_len = np.frombuffer(raw[info.header_offset + 26:info.header_offset + 30], "<u2")
                assert (info.header_offset + 30 + name_len + extra_len) % ALIGNMENT == 0


def test_identical_bytes_for_identical_saves_and_for_load_then_save(tmp_path, block):
    _, sm = block
    a, b, c = tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "c.pt"
    sm.save(a, _extra_files={"x": b"1"})
    sm.save(b, _extra_files={"x": b"1"})
    tracer.load(a).save(c, _extra_files={"x": b"1"})
    assert sha(a) == sha(b) == sha(c)
    buf = io.BytesIO()
    sm.save(buf, _extra_files={"x": b"1"})
    assert buf.getvalue() == a.read_bytes(), "file objects get the same bytes as paths"


def test_loading_from_a_path_maps_copy_on_write(tmp_path, block):
    _, sm = block
    path = tmp_path / "m.pt"
    sm.save(path)
    loaded = tracer.load(path)
    w = loaded.fc.weight
    import mmap

    base = w
    while isinstance(getattr(base, "base", None), np.ndarray):
        base = base.base
    assert isinstance(base.base, mmap.mmap), "parameters are views of a mapping, not copies"
    w[0, 0] = 123.0  # writable, but only this process sees it
    again = tracer.load(path)
    assert again.fc.weight[0, 0] != 123.0


class WriteOnly:
    def __init__(self):
        self.chunks = []

    def write(self, b):
        self.chunks.append(bytes(b))
        return len(b)

    def flush(self):
        pass


class ReadOnly:
    def __init__(self, data: bytes):
        self._b = io.BytesIO(data)

    def read(self, n=-1):
        return self._b.read(n)

    def readline(self, n=-1):
        return self._b.readline(n)

    def tell(self):
        return self._b.tell()

    def seek(self, pos, whence=0):
        return self._b.seek(pos, whence)


def test_minimal_file_objects(block):
    m, sm = block
    out = WriteOnly()
    tracer.save(sm, out)
    loaded = tracer.load(ReadOnly(b"".join(out.chunks)))
    np.testing.assert_array_equal(loaded(X), sm(X))


def test_extra_files_missing_name_is_a_keyerror_listing_what_exists(tmp_path, block):
    path = tmp_path / "m.pt"
    block[1].save(path, _extra_files={"a.txt": "1", "b.bin": b"\x00"})
    with pytest.raises(tracer.SerializationError, match="'c.txt'.*a.txt.*b.bin") as info:
        tracer.load(path, _extra_files={"a.txt": "", "c.txt": ""})
    assert isinstance(info.value, KeyError)
    assert tracer.inspect(path).extra_files == ["a.txt", "b.bin"]


@pytest.mark.parametrize("name", ["../evil", "/abs", "a/../../b", "", "a\\b", "C:evil", "a//b", "./x", "x\x00y"])
def test_extra_file_names_that_escape_are_refused_at_save(tmp_path, block, name):
    with pytest.raises(tracer.SerializationError, match="not allowed|non-empty"):
        block[1].save(tmp_path / "m.pt", _extra_files={name: b"x"})
    assert not (tmp_path / "m.pt").exists()


def test_save_needs_a_script_module(tmp_path):
    with pytest.raises(TypeError, match="trace or script|tracer.trace"):
        tracer.save(Block(), tmp_path / "m.pt")


def test_atomic_save_keeps_the_old_file_when_saving_fails(tmp_path, block, monkeypatch):
    path = tmp_path / "m.pt"
    block[1].save(path)
    before = path.read_bytes()
    from runtime.archive import writer

    def boom(*a, **k):
        raise OSError("disk full")

    monkeypatch.setattr(writer, "_write_aligned", boom)
    with pytest.raises(OSError, match="disk full"):
        block[1].save(path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["m.pt"], "no temporary file left behind"


def test_inspect_reads_metadata_only(tmp_path, block):
    path = tmp_path / "m.pt"
    block[1].save(path, _extra_files={"meta.json": "{}"})
    info = tracer.inspect(path)
    assert isinstance(info, tracer.ArchiveInfo)
    assert info.methods == ["forward"] and info.extra_files == ["meta.json"]
    assert info.parameters["fc.weight"] == ((64, 16), "float32", "cpu")
    assert info.parameters["steps"] == ((3,), "int64", "cpu")
    assert info.stored_inputs == {"forward": ["f32[4, 16]"]}
    assert info.ops["truediv"] == 2 and info.version == 2
    assert info.size_bytes == path.stat().st_size


@pytest.mark.parametrize("make", [Acceptance, WithMethods])
def test_scripted_modules_with_control_flow_and_methods(tmp_path, make):
    m = make().eval()
    sm = tracer.script(m)
    path = tmp_path / "s.pt"
    sm.save(path)
    loaded = tracer.load(path)
    exact = tracer.load(path).set_backend("interpreter")  # bit for bit; the default within SPEC tolerance
    close = functools.partial(np.testing.assert_allclose, rtol=1e-5, atol=1e-6)
    for x in (np.abs(f32(3, 8 if make is Acceptance else 6)), -np.abs(f32(3, 8 if make is Acceptance else 6))):
        if make is Acceptance:
            for n in (0, 1, 3):
                np.testing.assert_array_equal(exact(x, n), m(x, n))
                close(loaded(x, n), m(x, n))
            np.testing.assert_array_equal(exact(x), m(x))
            close(loaded(x), m(x))
        else:
            np.testing.assert_array_equal(exact.predict(x), m.predict(x))
            np.testing.assert_array_equal(exact.predict(x, 1), m.predict(x, 1))
            close(loaded.predict(x), m.predict(x))
            close(loaded.predict(x, 1), m.predict(x, 1))
    assert loaded.code == sm.code


def test_functions_load_as_modules_with_their_defaults(tmp_path):
    def f(x, k: int = 3):
        for _ in range(k):
            x = x * 2.0
        return x, x.sum()

    sf = tracer.script(f)
    sf.save(tmp_path / "f.pt")
    g = tracer.load(tmp_path / "f.pt")
    a, s = g(np.ones(2, np.float32))
    np.testing.assert_array_equal(a, np.full(2, 8.0, np.float32))
    np.testing.assert_array_equal(g(np.ones(2, np.float32), 1)[0], np.full(2, 2.0, np.float32))


def test_ignored_methods_cannot_be_saved_and_unused_are_stubs(tmp_path):
    class M(nn.Module):
        def forward(self, x):
            if x.sum() > 100:
                return self.legacy(x)
            return self.debug(x)

        @tracer.ignore
        def debug(self, x):
            return x

        @tracer.unused
        def legacy(self, x):
            return x

    sm = tracer.script(M())
    with pytest.raises(tracer.SerializationError, match="'debug'"):
        sm.save(tmp_path / "m.pt")
    assert not (tmp_path / "m.pt").exists()

    class N(nn.Module):
        def forward(self, x):
            if x.sum() > 100:
                return self.legacy(x)
            return x + 1

        @tracer.unused
        def legacy(self, x):
            return x

    sn = tracer.script(N())
    sn.save(tmp_path / "n.pt")
    loaded = tracer.load(tmp_path / "n.pt")
    np.testing.assert_array_equal(loaded(np.ones(2)), np.full(2, 2.0))
    with pytest.raises(RuntimeError, match="legacy"):
        loaded(np.full(2, 1000.0))
    with pytest.raises(RuntimeError, match="legacy"):
        loaded.legacy(np.ones(2))


def test_restore_shapes_types_every_value_and_warns_without_inputs(tmp_path, block):
    _, sm = block
    sm.save(tmp_path / "m.pt")
    loaded = tracer.load(tmp_path / "m.pt", _restore_shapes=True)
    for _, node in loaded.graph.nodes():
        for t in node.types:
            assert t.is_concrete if hasattr(t, "is_concrete") else True, (node.op, t)
    np.testing.assert_array_equal(loaded(f32(7, 16)).shape, (7, 16))
    bare = tracer.trace(Block().eval(), (X,), _store_inputs=False)
    bare.save(tmp_path / "bare.pt")
    with pytest.warns(tracer.TracerWarning, match="no example inputs"):
        m = tracer.load(tmp_path / "bare.pt", _restore_shapes=True)
    assert m(X).shape == X.shape


def test_old_version_fixture_keeps_its_behaviour_and_resaves_upgraded(tmp_path):
    fixture = FIXTURES / "truediv_v1.pt"
    assert tracer.inspect(fixture).version == 1 and tracer.inspect(fixture).ops == {"truediv": 1}
    old = tracer.load(fixture)
    x = np.array([10, 10, -10], dtype=np.int64)
    np.testing.assert_array_equal(old(x), np.array([3, -3, -1]))  # truncating division, as saved
    assert "ops.trunc_div" in old.code
    old.save(tmp_path / "re.pt")
    info = tracer.inspect(tmp_path / "re.pt")
    assert info.ops == {"trunc_div": 1} and info.version == 1
    np.testing.assert_array_equal(tracer.load(tmp_path / "re.pt")(x), np.array([3, -3, -1]))


def test_version_3_fixture_loads_as_before_version_4(tmp_path):
    from tests.fixtures.make_fixtures import exports_v3_model

    fixture = FIXTURES / "exports_v3.pt"
    assert tracer.inspect(fixture).version == 3
    m, x = exports_v3_model()
    for restore in (False, True):
        old = tracer.load(fixture, _restore_shapes=restore)
        np.testing.assert_allclose(old(x), m(x), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(old.head.logits(x[:, :, 0, 0]), m.head.logits(x[:, :, 0, 0]), rtol=1e-5,
                                   atol=1e-6)
        assert old.training is False and "training" not in old.code
    old.train()  # that release did not record the traced mode: nothing to warn about, as before
    old.save(tmp_path / "re.pt")
    assert tracer.inspect(tmp_path / "re.pt").version == 3


def _rewrite(path, out, edit_meta=None, edit_entries=None):
    with zipfile.ZipFile(path) as zf:
        entries = {i.filename: zf.read(i.filename) for i in zf.infolist()}
    if edit_meta:
        meta = json.loads(entries["archive/meta.json"])
        edit_meta(meta)
        entries["archive/meta.json"] = json.dumps(meta).encode()
    if edit_entries:
        edit_entries(entries)
    with zipfile.ZipFile(out, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)


def test_newer_file_is_refused_naming_both_versions(tmp_path, block):
    path, newer = tmp_path / "m.pt", tmp_path / "new.pt"
    block[1].save(path)

    def bump(entries):
        entries["archive/version"] = b"99\n"

    _rewrite(path, newer, edit_meta=lambda m: m.update(version=99), edit_entries=bump)
    with pytest.raises(tracer.SerializationError, match=f"version 99.*\\({supported_version()}\\)"):
        tracer.load(newer)
    with pytest.raises(tracer.SerializationError, match="99"):
        tracer.inspect(newer)


def test_devices_and_map_location_forms(tmp_path, block):
    _, sm = block
    path = tmp_path / "m.pt"
    sm.save(path)
    assert str(sm.device) == "cpu"
    for loc in (None, "cpu", tracer.device("cpu"), {"cpu": "cpu"}, lambda saved: "cpu"):
        assert str(tracer.load(path, map_location=loc).device) == "cpu"
    for bad in ("cuda", "cuda:1", tracer.device("cuda", 2), {"cpu": "cuda:0"}, lambda saved: "cuda"):
        with pytest.raises(tracer.DeviceError, match="cuda.*map_location='cpu'") as info:
            tracer.load(path, map_location=bad)
        assert isinstance(info.value, RuntimeError)
    with pytest.raises(tracer.DeviceError, match="unknown device"):
        tracer.load(path, map_location="tpu")
    with pytest.raises(tracer.DeviceError):
        sm.to("cuda:0")


def test_saved_on_cuda_loads_elsewhere_only_with_map_location(tmp_path):
    """Save on a (simulated) CUDA device in one process, load in another without CUDA."""
    import subprocess

    path = tmp_path / "cuda.pt"
    script = (
        "import numpy as np, tracer\n"
        "from tracer import nn\n"
        "sm = tracer.trace(nn.Linear(3, 2).eval(), (np.ones((1, 3), np.float32),))\n"
        "sm.to('cuda')\n"
        "assert str(sm.device) == 'cuda:0', sm.device\n"
        f"tracer.save(sm, {str(path)!r})\n"
        f"np.save({str(tmp_path / 'ref.npy')!r}, sm(np.ones((2, 3), np.float32)))\n"
    )
    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1", "TRACER_BACKEND": "interpreter"}
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert tracer.inspect(path).parameters["weight"][2] == "cuda:0"
    with pytest.raises(tracer.DeviceError, match="cuda:0.*map_location='cpu'"):
        tracer.load(path)
    cpu = tracer.load(path, map_location="cpu")
    assert str(cpu.device) == "cpu"
    np.testing.assert_array_equal(cpu(np.ones((2, 3), np.float32)), np.load(tmp_path / "ref.npy"))


def test_pickle_carries_the_archive(block):
    m, sm = block
    clone = pickle.loads(pickle.dumps(sm))
    np.testing.assert_array_equal(clone(X), sm(X))
    assert clone.code == sm.code and "Block" not in pickle.dumps(sm).decode("latin-1").split("archive")[0]


def test_loaded_module_as_a_submodule_traced_saved_and_loaded_again(tmp_path, block):
    m, sm = block
    sm.save(tmp_path / "inner.pt")
    inner = tracer.load(tmp_path / "inner.pt")

    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner
            self.head = nn.Linear(16, 2)

        def forward(self, x):
            return self.head(self.inner(x))

    outer = Outer().eval()
    so = tracer.trace(outer, (X,))
    so.save(tmp_path / "outer.pt")
    again = tracer.load(tmp_path / "outer.pt")
    np.testing.assert_allclose(again(X), outer(X), rtol=1e-6)
    assert "inner.fc.weight" in dict(again.named_parameters())
