"""codegen.elf, our loader of cached kernel objects: the same code as llvmlite's MCJIT links, a clean
refusal of anything malformed, the MCJIT fallback, and a warm process without LLVM."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest

import tracer
from codegen import elf, environment, native
from codegen.cache import STATS, cache_dir, clear_memory, get_kernel
from runtime.compiled import NumbaExecutor
from tests.codegen.helpers import FORCED, trace_quietly
from tests.op_table import SAMPLES

ROOT = Path(__file__).resolve().parents[2]
needs_elf = pytest.mark.skipif(not elf.supported_host(), reason="codegen.elf links x86-64 Linux objects only")

_FILL = ("def k_fill(f):\n    x = ptr_float32(f[0])\n    for i in range(f[1]):\n"
         "        x[i] = np.float32(i) * np.float32(0.5)\n")


def _run_with(loader: str, sm: tracer.ScriptModule, inputs: tuple, monkeypatch: pytest.MonkeyPatch):
    """Run ``sm`` on the numba backend with every kernel linked by ``loader`` (from the disk cache)."""
    monkeypatch.setattr(native, "LOADER", loader)
    clear_memory()
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore", RuntimeWarning)
            return NumbaExecutor(sm.graph, FORCED).run(inputs, sm._flat_state())
    finally:
        clear_memory()


def _bits(value):
    if isinstance(value, (tuple, list)):
        return [_bits(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        a = np.ascontiguousarray(value)
        return (a.dtype.str, a.shape, a.tobytes())
    return value


def _cached_objects() -> list[tuple[bytes, dict]]:
    out = []
    for manifest in sorted(cache_dir().glob("*.json")):
        meta = json.loads(manifest.read_text())
        out.append((manifest.with_suffix(".o").read_bytes(), meta))
    return out


@needs_elf
@pytest.mark.parametrize("sample_id", [s.id for s in SAMPLES])
def test_op_table_kernels_give_the_same_bits_with_either_loader(sample_id, monkeypatch):
    s = next(s for s in SAMPLES if s.id == sample_id)
    sm = trace_quietly(s.fn, s.inputs)
    mcjit = _run_with("mcjit", sm, s.inputs, monkeypatch)
    ours = _run_with("elf", sm, s.inputs, monkeypatch)
    assert _bits(ours) == _bits(mcjit)


@needs_elf
def test_fused_kernels_give_the_same_bits_with_either_loader(monkeypatch):
    # matmul with an epilogue, LayerNorm and softmax rows, convolution and pooling, split over threads
    from tracer import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc, self.norm = nn.Linear(64, 128), nn.LayerNorm(128)
            self.conv, self.pool = nn.Conv2d(3, 8, 3), nn.MaxPool2d(2)

        def forward(self, x, img):
            h = self.norm(np.tanh(self.fc(x)) + 1.0)
            e = np.exp(h - h.max(axis=-1, keepdims=True))
            return e / e.sum(axis=-1, keepdims=True), self.pool(np.maximum(self.conv(img), 0.0))

    rng = np.random.default_rng(0)
    inputs = (rng.standard_normal((96, 64)).astype(np.float32), rng.standard_normal((4, 3, 18, 18)).astype(np.float32))
    sm = trace_quietly(Block().eval(), inputs)
    mcjit = _run_with("mcjit", sm, inputs, monkeypatch)
    ours = _run_with("elf", sm, inputs, monkeypatch)
    assert _bits(ours) == _bits(mcjit)


@needs_elf
def test_every_cached_kernel_links_with_our_loader():
    get_kernel(_FILL, "k_fill")  # at least one entry
    objects = _cached_objects()
    assert objects
    for obj, meta in objects:
        kernel = native.load_object(obj, meta["symbol"], meta["name"], tuple(meta["externals"]), loader="elf")
        assert kernel.address


def test_mcjit_fallback_still_links(monkeypatch):
    get_kernel(_FILL, "k_fill")
    obj, meta = next((o, m) for o, m in _cached_objects() if m["name"] == "k_fill")

    def unsupported(*args, **kwargs):
        raise elf.Unsupported("pretend: an unknown relocation type")

    monkeypatch.setattr(elf, "load", unsupported)
    engines = len(native._ENGINES)
    for host in (True, False):  # an object our loader does not handle; another architecture
        monkeypatch.setattr(native, "_ELF_HOST", host)
        kernel = native.load_object(obj, meta["symbol"], "k_fill", tuple(meta["externals"]))
        out = np.zeros(6, np.float32)
        frame = np.array([out.ctypes.data, 6], np.int64)
        kernel(frame.ctypes.data)
        np.testing.assert_array_equal(out, np.arange(6, dtype=np.float32) * 0.5)
    assert len(native._ENGINES) == engines + 2, "linked by llvmlite"
    with pytest.raises(RuntimeError, match="x86-64 Linux only"):
        native.load_object(obj, meta["symbol"], "k_fill", loader="elf")


_SMALL = textwrap.dedent("""
    def k_small(f):
        x = ptr_float64(f[0])
        y = ptr_float32(f[1])
        for i in range(f[2]):
            y[i] = np.float32(math.tanh(x[i]) + math.sqrt(abs(x[i]))) * np.float32(1.25) + np.float32(0.5)
""")


@needs_elf
@pytest.mark.parametrize("reloc", ["static", "pic"])
def test_small_code_model_objects_use_stubs_and_got(reloc):
    """Objects of the small code model (32-bit PC-relative calls, GOT references): far symbols of
    the process are reached through the stubs and the GOT in the object's own mapping."""
    import math

    import llvmlite.binding as llvm
    import numba
    from numba import types

    from codegen import mathlib

    namespace = dict(mathlib.NAMESPACE, math=math)
    exec(_SMALL, namespace)
    cf = numba.cfunc(types.void(types.CPointer(types.int64)), error_model="numpy")(namespace["k_small"])
    native.init_llvm()
    module = llvm.parse_assembly(cf.inspect_llvm())
    tm = llvm.Target.from_default_triple().create_target_machine(opt=2, reloc=reloc, codemodel="small")
    obj = tm.emit_object(module)
    kinds = _relocation_types(obj)
    assert kinds & {2, 4, 9, 41, 42}, kinds  # 32-bit PC-relative or GOT relocations
    loaded = elf.load(obj, native._process_symbol)
    kernel = native.Kernel("k_small", loaded.symbols[cf.native_name])
    x = np.linspace(-3, 3, 37)
    y = np.zeros(37, np.float32)
    frame = np.array([x.ctypes.data, y.ctypes.data, 37], np.int64)
    kernel(frame.ctypes.data)
    want = (np.tanh(x) + np.sqrt(np.abs(x))).astype(np.float32) * np.float32(1.25) + np.float32(0.5)
    np.testing.assert_allclose(y, want, rtol=1e-6)


def _relocation_types(obj: bytes) -> set[int]:
    """Relocation types in ``obj``, read with the loader's own structures (a test helper)."""
    sections = elf._sections(elf._Reader(obj))
    kinds = set()
    for s in sections:
        if s.type == 4:
            for _offset, info, _addend in elf._RELA.iter_unpack(obj[s.offset:s.offset + s.size]):
                kinds.add(info & 0xFFFFFFFF)
    return kinds


def _some_object() -> bytes:
    get_kernel(_FILL, "k_fill")
    return max((o for o, _ in _cached_objects()), key=len)


def _unmap(loaded: elf.LoadedObject) -> None:
    elf._libc().munmap(loaded.base, loaded.size)


@needs_elf
def test_truncated_objects_are_refused():
    obj = _some_object()
    for n in range(len(obj)):
        with pytest.raises(elf.ElfError):
            elf.load(obj[:n], native._process_symbol)


@needs_elf
@pytest.mark.parametrize("data", [b"", b"\x7fELF", b"\x7fELF" + bytes(60), bytes(4096), b"garbage" * 100,
                                  b"\x7fELF\x02\x01\x01" + bytes(9) + b"\x01\x00\x3e\x00" + b"\xff" * 44])
def test_garbage_is_refused(data):
    with pytest.raises(elf.ElfError):
        elf.load(data, native._process_symbol)


@needs_elf
def test_corrupted_objects_are_refused_or_load_never_crash():
    """Random damage anywhere (headers, tables, relocations, code) either raises a clean error or
    links something; nothing is ever read or written outside the object and its own mapping."""
    obj = _some_object()
    rng = random.Random(1234)
    outcomes = {"refused": 0, "linked": 0}
    for trial in range(3000):
        data = bytearray(obj)
        for _ in range(rng.choice((1, 1, 2, 8))):
            # the section headers and tables at the end of the file are where damage matters most
            at = rng.randrange(len(data)) if trial % 2 else rng.randrange(max(0, len(data) - 1024), len(data))
            data[at] = rng.randrange(256) if trial % 3 else data[at] ^ (1 << rng.randrange(8))
        try:
            loaded = elf.load(bytes(data), native._process_symbol)
        except (elf.ElfError, elf.Unsupported, RuntimeError):
            outcomes["refused"] += 1
        else:
            outcomes["linked"] += 1
            _unmap(loaded)
    assert outcomes["refused"] > 100 and outcomes["linked"] > 100, outcomes


@needs_elf
def test_a_corrupt_object_with_a_matching_checksum_is_rebuilt(tmp_path, monkeypatch):
    """The manifest's checksum catches damage on disk; an object that is wrong from the start
    (checksum recomputed) is refused by the loader, and the cache rebuilds it."""
    monkeypatch.setenv("TRACER_CACHE_DIR", str(tmp_path))
    clear_memory()
    get_kernel(_FILL, "k_fill")
    (manifest,) = cache_dir().glob("*.json")
    obj = manifest.with_suffix(".o")
    damaged = obj.read_bytes()[:200]
    obj.write_bytes(damaged)
    import hashlib

    meta = json.loads(manifest.read_text())
    meta["object_sha256"] = hashlib.sha256(damaged).hexdigest()
    manifest.write_text(json.dumps(meta))
    clear_memory()
    before = (STATS.compiled, STATS.rebuilt)
    kernel = get_kernel(_FILL, "k_fill")
    assert (STATS.compiled, STATS.rebuilt) == (before[0] + 1, before[1] + 1)
    out = np.zeros(4, np.float32)
    kernel(np.array([out.ctypes.data, 4], np.int64).ctypes.data)
    np.testing.assert_array_equal(out, [0, 0.5, 1, 1.5])
    clear_memory()


# A fresh process: saves (first run) or loads (second run) a model whose matmul splits over the
# native worker pool, runs it, reports what it imported.
_SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tracer
    path, first = sys.argv[1], sys.argv[2] == "first"
    x = np.random.default_rng(0).standard_normal((64, 512)).astype(np.float32)
    if first:
        from tracer import nn
        model = nn.Sequential(nn.Linear(512, 1024), nn.ReLU(), nn.Linear(1024, 16)).eval()
        tracer.save(tracer.trace(model, (x,)), path)
    m = tracer.load(path, _restore_shapes=True)
    out = m(x)
    from codegen import pool
    from codegen.cache import STATS
    print(json.dumps({"compiled": STATS.compiled, "loaded": STATS.loaded, "numba": "numba" in sys.modules,
                      "llvmlite": "llvmlite" in sys.modules, "pool": bool(pool._POOLS),
                      "lazy": [m for m in ("tracer.script", "tracer.trace", "runtime.archive.writer")
                               if m in sys.modules],
                      "out": out.tolist()}))
""")


def _fresh(cache_path: Path, archive: Path, first: bool) -> dict:
    env = dict(os.environ, TRACER_CACHE_DIR=str(cache_path), PYTHONPATH=str(ROOT))
    env.pop("TRACER_BACKEND", None)
    env.pop("TRACER_NATIVE_POOL", None)
    proc = subprocess.run([sys.executable, "-c", _SCRIPT, str(archive), "first" if first else "second"], env=env,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@needs_elf
def test_a_warm_process_imports_neither_llvmlite_nor_numba_nor_the_tracer(tmp_path):
    archive = tmp_path / "m.pt"
    first = _fresh(tmp_path / "cache", archive, True)
    assert first["compiled"] >= 1
    second = _fresh(tmp_path / "cache", archive, False)
    assert second["compiled"] == 0 and second["loaded"] >= 1
    if second["pool"] is False:
        pytest.fail("the model should split over the native worker pool (whose code is cached too)")
    assert second["llvmlite"] is False, "a warm cache links kernels and the pool without LLVM"
    assert second["numba"] is False
    assert second["lazy"] == [], "loading needs neither the tracer nor the archive writer"
    np.testing.assert_array_equal(second["out"], first["out"])
    stamps = list((tmp_path / "cache").glob("host-*.json"))
    assert len(stamps) == 1
    assert json.loads(stamps[0].read_text())["signature"]["llvmlite"]


def test_environment_key_is_the_same_with_or_without_the_host_stamp(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACER_CACHE_DIR", str(tmp_path))
    asked = environment._llvm_host()  # no stamp yet: LLVM is asked, the stamp written
    assert environment._llvm_host() == asked  # from the stamp
    monkeypatch.setattr(environment, "_host_signature", lambda: None)
    assert environment._llvm_host() == asked  # LLVM asked again
    import llvmlite.binding as llvm

    assert asked == {"llvm": ".".join(map(str, llvm.llvm_version_info)), "cpu": llvm.get_host_cpu_name(),
                     "features": llvm.get_host_cpu_features().flatten()}


def test_a_stamp_for_another_signature_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACER_CACHE_DIR", str(tmp_path))
    signature = environment._host_signature()
    if signature is None:
        pytest.skip("no CPU signature here: LLVM is always asked")
    asked = environment._llvm_host()
    (stamp,) = tmp_path.glob("host-*.json")
    data = json.loads(stamp.read_text())
    data["cpu"] = "a-cpu-from-elsewhere"
    data["signature"]["cpu"]["flags"] = "other flags"
    stamp.write_text(json.dumps(data))
    assert environment._llvm_host() == asked
