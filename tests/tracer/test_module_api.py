"""The module API of a captured program matches ``Module``'s: exported methods on every module,
shared parameters listed and stored once, ``state_dict`` keys and order, ``load_state_dict``,
``None`` parameters as attributes.  Each through trace and script, and through save/load."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import numpy as np
import pytest

import tracer
from runtime.archive.format import SUBMODULE_METHODS_VERSION
from tracer import nn

IDS = np.array([[1, 5, 7], [0, 2, 15]], dtype=np.int64)
OFFSET = np.linspace(-1.0, 1.0, 8, dtype=np.float32)  # constants of forward and of an export:
GAIN = np.linspace(0.5, 2.0, 8, dtype=np.float32)  # their names must not collide in the archive


class Encoder(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = nn.Embedding(16, 8)
        self.proj = nn.Linear(8, 8)

    def forward(self, ids):
        return self.proj(self.embed_tokens(ids)).mean(axis=1)

    @tracer.export
    def embed_tokens(self, ids):
        return self.embed(ids) * GAIN

    @tracer.unused
    def legacy(self, ids):
        return np.fft.fft(ids)


class Model(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.encoder = Encoder()
        self.head = nn.Linear(8, 3)

    def forward(self, ids):
        return self.head(self.encoder(ids) + OFFSET)

    @tracer.export
    def features(self, ids):
        return self.encoder(ids) * GAIN


def _capture(model: nn.Module, how: str, *inputs):
    sm = tracer.trace(model, inputs) if how == "trace" else tracer.script(model, inputs)
    return sm.set_backend("interpreter")  # compared bit for bit with eager


def _save_load(sm, path):
    tracer.save(sm, path)
    return tracer.load(path).set_backend(sm.backend)


@pytest.mark.parametrize("how", ["trace", "script"])
def test_exported_methods_are_kept_on_the_root_and_on_submodules(how, tmp_path):
    m = Model().eval()
    sm = _capture(m, how, IDS)
    assert set(sm.graphs) == {"forward", "features"}
    assert set(sm.encoder.graphs) == {"embed_tokens"}
    for mod in (sm, _save_load(sm, tmp_path / "m.pt")):
        np.testing.assert_array_equal(mod(IDS), m(IDS))
        np.testing.assert_array_equal(mod.features(IDS), m.features(IDS))
        np.testing.assert_array_equal(mod.encoder.embed_tokens(IDS), m.encoder.embed_tokens(IDS))
        np.testing.assert_array_equal(mod.encoder.embed_tokens(IDS[:1, :2]), m.encoder.embed_tokens(IDS[:1, :2]))
        with pytest.raises(RuntimeError, match="legacy"):
            mod.encoder.legacy(IDS)
    tracer.save(tracer.load(tmp_path / "m.pt"), tmp_path / "again.pt")
    assert (tmp_path / "m.pt").read_bytes() == (tmp_path / "again.pt").read_bytes()


def test_exported_methods_run_on_the_numba_backend(tmp_path):
    m = Model().eval()
    sm = tracer.trace(m, (IDS,))
    tracer.save(sm, tmp_path / "m.pt")
    for mod in (sm, tracer.load(tmp_path / "m.pt")):
        mod.set_backend("numba")
        assert mod.encoder.backend == "numba"
        np.testing.assert_allclose(mod.encoder.embed_tokens(IDS), m.encoder.embed_tokens(IDS), rtol=1e-5)
        np.testing.assert_allclose(mod.features(IDS), m.features(IDS), rtol=1e-5, atol=1e-6)


def test_exported_methods_of_a_submodule_are_saved_with_it_and_load_class_free(tmp_path):
    path = tmp_path / "m.pt"
    tracer.save(tracer.trace(Model().eval(), (IDS,)), path)
    names = zipfile.ZipFile(path).namelist()
    assert "archive/code/modules/encoder.py" in names
    code = textwrap.dedent(f"""
        import numpy as np, tracer
        sm = tracer.load({str(path)!r})
        ids = np.array([[3, 4]], dtype=np.int64)
        print(sm.encoder.embed_tokens(ids).shape, sorted(sm.encoder.graphs))
    """)
    root = os.path.dirname(os.path.dirname(os.path.abspath(tracer.__file__)))
    env = {**os.environ, "TRACER_BACKEND": "interpreter", "PYTHONPATH": root}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "(1, 2, 8) ['embed_tokens']"


def test_submodule_methods_raise_the_archive_version_so_older_releases_refuse_the_file(tmp_path):
    from tests.runtime.test_archive import _rewrite

    with_methods, plain, bad = tmp_path / "a.pt", tmp_path / "b.pt", tmp_path / "bad.pt"
    tracer.save(tracer.trace(Model().eval(), (IDS,)), with_methods)
    tracer.save(tracer.trace(nn.Linear(8, 3), (OFFSET[None],)), plain)
    assert tracer.inspect(with_methods).version == SUBMODULE_METHODS_VERSION == 3
    assert tracer.inspect(plain).version < SUBMODULE_METHODS_VERSION  # files without them stay readable

    def lower(entries):
        entries["archive/version"] = b"1\n"

    _rewrite(with_methods, bad, edit_meta=lambda m: m.update(version=1), edit_entries=lower)
    for read in (tracer.load, tracer.inspect):
        with pytest.raises(tracer.SerializationError, match="does not match its contents"):
            read(bad)


def test_an_export_that_does_not_compile_fails_trace_with_its_line():
    class Bad(nn.Module):
        def forward(self, x):
            return x * 2.0

        @tracer.export
        def report(self, x):
            return lambda: x  # BAD-LINE

    with pytest.raises(tracer.ScriptError, match="lambda"):
        tracer.trace(Bad(), (np.ones(3, np.float32),))


# -- shared parameters ------------------------------------------------------------------------------
class Tied(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        w = np.linspace(0.1, 1.0, 8, dtype=np.float32)
        self.b = self.a = w  # one array, two attributes
        self.embed = nn.Embedding(16, 8)
        self.out = nn.Linear(8, 16, bias=False)
        self.out.weight = self.embed.weight  # tied weights in two submodules

    def forward(self, ids):
        return self.out(self.embed(ids) * self.a + self.b)


def _data_entries(path) -> int:
    return sum(n.startswith("archive/data/") for n in zipfile.ZipFile(path).namelist())


@pytest.mark.parametrize("how", ["trace", "script"])
def test_a_shared_parameter_is_listed_and_saved_once(how, tmp_path):
    m = Tied()
    expected = [k for k, _ in m.named_parameters()]
    assert expected == ["b", "embed.weight"]
    sm = _capture(m, how, IDS)
    loaded = _save_load(sm, tmp_path / "tied.pt")
    for mod in (sm, loaded):
        assert [k for k, _ in mod.named_parameters()] == expected
        assert mod.a is mod.b and mod.out.weight is mod.embed.weight
        assert list(mod.state_dict()) == list(m.state_dict()) == ["b", "a", "embed.weight", "out.weight"]
        np.testing.assert_array_equal(mod(IDS), m(IDS))
    meta = json.loads(zipfile.ZipFile(tmp_path / "tied.pt").read("archive/meta.json"))
    params = dict(meta["module"]["parameters"])
    children = dict(meta["module"]["children"])
    assert params["a"] == params["b"]
    assert dict(children["out"]["parameters"])["weight"] == dict(children["embed"]["parameters"])["weight"]
    assert _data_entries(tmp_path / "tied.pt") == 2 + 1  # the two distinct arrays and the example input
    # loading new values writes the one shared array: both names see them
    new = {k: np.full_like(v, 0.25) for k, v in m.state_dict().items()}
    new["a"] = np.full_like(new["a"], 3.0)  # written after "b": the last write wins, as in PyTorch
    loaded.load_state_dict(new)
    assert np.all(loaded.b == 3.0) and np.all(loaded.out.weight == 0.25)


# -- state_dict keys and order ----------------------------------------------------------------------
class Stateful(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.scale = np.full(4, 2.0, np.float32)
        self.register_buffer("shift", np.full(4, 0.5, np.float32))
        self.register_buffer("cache", np.arange(4, dtype=np.float32), persistent=False)
        self.block = nn.Sequential(nn.Linear(4, 4), nn.ReLU(), nn.Linear(4, 4, bias=False))
        self.bn = nn.BatchNorm2d(4)
        self.last = np.ones(4, np.float32)

    def forward(self, x):
        h = self.block(x * self.scale + self.shift + self.cache)
        h = self.bn(h.reshape(h.shape[0], 4, 1, 1)).reshape(h.shape[0], 4)
        return h * self.last


X = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)


@pytest.mark.parametrize("how", ["trace", "script"])
def test_state_dict_has_the_modules_keys_in_its_order(how, tmp_path):
    m = Stateful().eval()
    keys = list(m.state_dict())
    assert "cache" not in keys and keys[:3] == ["scale", "last", "shift"] and keys[-1] == "bn.num_batches_tracked"
    sm = _capture(m, how, X)
    loaded = _save_load(sm, tmp_path / "s.pt")
    for mod in (sm, loaded):
        assert list(mod.state_dict()) == keys
        assert "cache" in dict(mod.named_buffers())  # non-persistent: a buffer, not state
        np.testing.assert_array_equal(mod(X), m(X))
    assert tracer.inspect(tmp_path / "s.pt").parameters.keys() >= {"cache", *keys}


# -- load_state_dict --------------------------------------------------------------------------------
def _new_state(m: nn.Module, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {k: (rng.uniform(0.5, 1.5, v.shape).astype(v.dtype) if v.dtype.kind == "f" else v + 7)
            for k, v in m.state_dict().items()}


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
@pytest.mark.parametrize("how", ["trace", "script"])
def test_load_state_dict_replaces_values_in_place_and_programs_use_them(how, backend, tmp_path):
    m = Stateful().eval()
    sm = tracer.trace(m, (X,)) if how == "trace" else tracer.script(m)
    sm.set_backend(backend)
    before = sm(X)  # compiled, parameter addresses known
    weight = dict(sm.named_modules())["block.0"].weight
    state = _new_state(m, 1)
    eager = Stateful().eval()
    eager.load_state_dict(state)
    assert sm.load_state_dict(state) == ([], [])
    assert dict(sm.named_modules())["block.0"].weight is weight  # the same array, new values
    np.testing.assert_array_equal(weight, state["block.0.weight"])
    assert int(sm.bn.num_batches_tracked) == 7
    got = sm(X)
    assert not np.allclose(got, before)
    np.testing.assert_allclose(got, eager(X), rtol=1e-5, atol=1e-6)
    loaded = _save_load(sm, tmp_path / "after.pt")  # saving saves the new values
    for k, v in state.items():
        np.testing.assert_array_equal(loaded.state_dict()[k], v)
    np.testing.assert_allclose(loaded(X), eager(X), rtol=1e-5, atol=1e-6)


def test_load_state_dict_into_a_loaded_module_leaves_the_file_alone(tmp_path):
    m = Stateful().eval()
    path = tmp_path / "s.pt"
    tracer.save(tracer.trace(m, (X,)), path)
    loaded = tracer.load(path).set_backend("interpreter")
    state = _new_state(m, 2)
    loaded.load_state_dict(state)
    np.testing.assert_array_equal(loaded.scale, state["scale"])
    np.testing.assert_array_equal(tracer.load(path).scale, m.scale)  # mapped copy-on-write


@pytest.mark.parametrize("backend", ["interpreter", "numba"])
def test_load_state_dict_replaces_arrays_it_cannot_write(backend):
    class ReadOnly(nn.Module):
        def __init__(self):
            super().__init__()
            w = np.ones(4, np.float32)
            w.flags.writeable = False
            self.b = self.a = w

        def forward(self, x):
            return x * self.a + self.b

    sm = tracer.trace(ReadOnly(), (X,)).set_backend(backend)
    np.testing.assert_array_equal(sm(X), X + 1)
    sm.load_state_dict({"b": np.full(4, 2.0, np.float32), "a": np.full(4, 3.0, np.float32)})
    assert sm.a is sm.b  # still one array
    np.testing.assert_array_equal(sm(X), X * 3 + 3)


def test_load_state_dict_reports_keys_shapes_and_dtypes():
    m = Stateful().eval()
    sm = tracer.trace(m, (X,)).set_backend("interpreter")
    good = _new_state(m, 3)
    with pytest.raises(KeyError, match=r"missing keys \['shift'\]"):
        sm.load_state_dict({k: v for k, v in good.items() if k != "shift"})
    with pytest.raises(KeyError, match=r"unexpected keys \['extra'\]"):
        sm.load_state_dict({**good, "extra": np.zeros(1)})
    partial = {"scale": good["scale"], "extra": np.zeros(1)}
    result = sm.load_state_dict(partial, strict=False)
    assert result.unexpected_keys == ["extra"] and "shift" in result.missing_keys
    np.testing.assert_array_equal(sm.scale, good["scale"])
    snapshot = {k: v.copy() for k, v in sm.state_dict().items()}
    bad_shape = {**good, "block.0.weight": np.zeros((4, 5), np.float32)}
    with pytest.raises(ValueError, match=r"block\.0\.weight: checkpoint shape \(4, 5\)"):
        sm.load_state_dict(bad_shape)
    bad_dtype = {**good, "shift": good["shift"].astype(np.float64), "bn.num_batches_tracked": np.array(1.5)}
    with pytest.raises(ValueError, match=r"shift: checkpoint dtype float64, module dtype float32.*num_batches"):
        sm.load_state_dict(bad_dtype)
    for k, v in sm.state_dict().items():  # a failed load changes nothing
        np.testing.assert_array_equal(v, snapshot[k])
    with pytest.raises(TypeError, match="mapping"):
        sm.load_state_dict([("scale", good["scale"])])


# -- None parameters ----------------------------------------------------------------------------------
class NoBias(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 3, bias=False)
        self.ln = nn.LayerNorm(3, elementwise_affine=False)
        self.register_buffer("mask", None)

    def forward(self, x):
        y = self.ln(self.fc(x))
        return y if self.mask is None else y * self.mask


@pytest.mark.parametrize("how", ["trace", "script"])
def test_none_parameters_are_attributes(how, tmp_path):
    m = NoBias().eval()
    assert m.fc.bias is None and m.ln.weight is None and m.mask is None
    sm = _capture(m, how, X)
    for mod in (sm, _save_load(sm, tmp_path / "n.pt")):
        assert mod.fc.bias is None and mod.ln.weight is None and mod.ln.bias is None and mod.mask is None
        assert list(mod.state_dict()) == list(m.state_dict()) == ["fc.weight"]
        np.testing.assert_array_equal(mod(X), m(X))


def test_batchnorm_counts_batches_in_training_like_pytorch():
    bn = nn.BatchNorm2d(2)
    count = bn.num_batches_tracked
    assert count.dtype == np.int64 and count.shape == ()
    x = np.random.default_rng(1).standard_normal((4, 2, 3, 3)).astype(np.float32)
    bn(x)
    bn(x)
    assert int(bn.state_dict()["num_batches_tracked"]) == 2
    bn.eval()(x)
    assert int(bn.num_batches_tracked) == 2 and bn.num_batches_tracked is count
