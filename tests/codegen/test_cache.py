"""The on-disk kernel cache: a new process loads instead of compiling; bad entries are rebuilt."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from codegen import cache, environment
from codegen.cache import STATS, cache_dir, cache_root, clear_memory
from runtime.compiled import NumbaExecutor
from tests.codegen.helpers import FORCED, trace_quietly

ROOT = Path(__file__).resolve().parents[2]

# A fresh process: traces a small program, runs it on the numba backend, reports what happened.
SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tracer
    from codegen.cache import STATS
    x = np.linspace(-2, 2, 24, dtype=np.float32).reshape(4, 6)
    sf = tracer.trace(lambda x: np.tanh(x * 1.5 + 0.25) - x.mean(axis=-1, keepdims=True), (x,), check_trace=False)
    assert sf.backend == "numba"
    out = sf(x)
    print(json.dumps({"compiled": STATS.compiled, "loaded": STATS.loaded, "numba": "numba" in sys.modules,
                      "out": out.tolist()}))
""")


def _run(cache_path: Path) -> dict:
    env = dict(os.environ, TRACER_CACHE_DIR=str(cache_path), PYTHONPATH=str(ROOT))
    env.pop("TRACER_BACKEND", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_second_process_loads_compiled_code_without_numba(tmp_path):
    first = _run(tmp_path)
    assert first["compiled"] >= 1 and first["loaded"] == 0
    second = _run(tmp_path)
    assert second["compiled"] == 0 and second["loaded"] == first["compiled"]
    assert second["numba"] is False, "a warm cache needs llvmlite only"
    np.testing.assert_array_equal(second["out"], first["out"])
    entries = list(tmp_path.glob("kernels-*/*.json"))
    assert len(entries) == first["compiled"]
    for manifest in entries:
        meta = json.loads(manifest.read_text())
        assert {"symbol", "object_sha256", "environment", "externals"} <= meta.keys()
        assert manifest.with_suffix(".py").read_text().startswith("def ")
    assert not list(tmp_path.glob("kernels-*/.*")), "no temporary files are left behind"


def _program():
    sm = trace_quietly(lambda x, y: np.maximum(x * y + 1.0, 0.5) / (y * y + 1.0), (np.ones((3, 5), np.float32),
                                                                                   np.ones(5, np.float32)))
    args = (np.random.default_rng(0).standard_normal((3, 5)).astype(np.float32), np.linspace(0, 1, 5, dtype=np.float32))
    return sm, args


def _fresh_run(sm, args):
    clear_memory()  # forget loaded kernels: the next run goes to the disk cache
    return NumbaExecutor(sm.graph, FORCED).run(args, {})


@pytest.mark.parametrize("damage", ["object", "manifest", "foreign", "missing-object"])
def test_corrupt_or_foreign_entries_are_ignored_and_rebuilt(tmp_path, monkeypatch, damage):
    monkeypatch.setenv("TRACER_CACHE_DIR", str(tmp_path))
    sm, args = _program()
    want = _fresh_run(sm, args)
    manifests = sorted(cache_dir().glob("*.json"))
    for manifest in manifests:
        obj = manifest.with_suffix(".o")
        if damage == "object":
            obj.write_bytes(obj.read_bytes()[: len(obj.read_bytes()) // 2])
        elif damage == "manifest":
            manifest.write_text("{not json")
        elif damage == "foreign":
            meta = json.loads(manifest.read_text())
            meta["environment"] = "another-machine"
            manifest.write_text(json.dumps(meta))
        else:
            obj.unlink()
    n = len(manifests)
    before = (STATS.compiled, STATS.loaded)
    got = _fresh_run(sm, args)
    np.testing.assert_array_equal(got, want)
    assert STATS.compiled == before[0] + n and STATS.loaded == before[1], "rebuilt, not loaded"
    for manifest in manifests:
        assert json.loads(manifest.read_text())["environment"] == cache.environment_key()
    before = (STATS.compiled, STATS.loaded)
    _fresh_run(sm, args)
    assert (STATS.compiled, STATS.loaded) == (before[0], before[1] + n), "the rebuilt entries are used next time"


def test_cache_can_be_turned_off(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACER_CACHE_DIR", "off")
    assert cache_root() is None and cache_dir() is None
    sm, args = _program()
    _fresh_run(sm, args)
    assert not list(tmp_path.iterdir())


def test_default_location_follows_xdg_and_home(monkeypatch, tmp_path):
    monkeypatch.delenv("TRACER_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "numpy-tracer"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert cache_root() == tmp_path / ".cache" / "numpy-tracer"


def test_every_helper_module_is_hashed_into_the_environment_key():
    # kernels inline what codegen/mathlib*.py define: an edit to any of them must change the key
    modules = {p.name for p in (ROOT / "codegen").glob("mathlib*.py")}
    assert modules == set(environment._HELPER_FILES)


def test_entries_are_keyed_by_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("TRACER_CACHE_DIR", str(tmp_path))
    key = cache.environment_key()
    assert cache_dir() == tmp_path / f"kernels-{key}"
    versions = environment._versions()
    assert {"numba", "llvmlite", "cpu", "features", "mathlib"} <= versions.keys()
