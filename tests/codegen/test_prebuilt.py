"""Large helpers emitted once per process and assembled into each kernel's object (``codegen.prebuilt``):
the LLVM IR ones of ``codegen.mathlib_native``, and large numba helpers."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from codegen import compiler, mathlib, prebuilt
from codegen.native import load_object
from tests.codegen.helpers import fresh_process

# both large helpers: a pairwise row sum, then a transposing copy of the sums' block
BOTH = """def k_both{tag}(f):
    x = ptr_float32(f[0])
    sums = ptr_float32(f[1])
    for r in range(f[2]):
        sums[r] = np.float32(pairwise_sum_f32(x, r * f[3], f[3], 1) + np.float32({tag}))
    transpose_copy_f32(f[1], f[4], f[5], f[6], f[7], f[8])
"""


def _run_both(kernel, tag: float) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal((24, 300)).astype(np.float32)  # rows of 300: the pairwise recursion
    sums = np.zeros((3, 8), np.float32)  # 24 sums, read as 3 columns of 8 rows
    out = np.full((8, 3), -1.0, np.float32)
    frame = np.array([x.ctypes.data, sums.ctypes.data, 24, 300, 8, out.ctypes.data, 3, 8, 3], np.int64)
    kernel(frame.ctypes.data)
    want = np.add.reduce(x, axis=1) + np.float32(tag)
    np.testing.assert_array_equal(sums.ravel(), want)  # NumPy's own pairwise order
    np.testing.assert_array_equal(out, sums.T)


def _helper_names(obj_symbols: set[str]) -> set[str]:
    return {s for s in obj_symbols if "mathlib_" in s}


@pytest.mark.parametrize("loader", ["elf", "mcjit"])
def test_large_helpers_are_assembled_into_the_kernels_object(loader):
    if loader == "elf":
        from codegen.elf import supported_host

        if not supported_host():
            pytest.skip("codegen.elf links objects on x86-64 Linux only")
    obj, symbol, externals = compiler.compile_object(BOTH.format(tag=1), "k_both1", "<k_both1>")
    assert not _helper_names(set(externals)), "the helpers are defined inside the object, not taken from outside"
    if loader == "elf":
        from codegen import elf

        loaded = elf.load(obj, lambda name: None if name.startswith("mathlib") else 1)
        assert len(_helper_names(set(loaded.symbols))) == 2, loaded
    _run_both(load_object(obj, symbol, "k_both1", externals, loader=loader), 1.0)


def test_the_ir_helpers_are_built_once_per_process():
    from codegen import mathlib_native

    compiler.compile_object(BOTH.format(tag=2), "k_both2", "<k_both2>")
    built = dict(mathlib_native._BUILT)
    assert set(built) >= {mathlib_native.SYMBOLS["pairwise_sum_f32"], mathlib_native.SYMBOLS["transpose_copy_f32"]}
    obj, symbol, externals = compiler.compile_object(BOTH.format(tag=3), "k_both3", "<k_both3>")
    assert all(mathlib_native._BUILT[k] is v for k, v in built.items()), "the second kernel reuses their assembly"
    _run_both(load_object(obj, symbol, "k_both3", externals), 3.0)


# A large numba helper (none of mathlib's is large now: its big ones are LLVM IR): a loop LLVM
# vectorizes and unrolls, taken as large by lowering the threshold.
_ptr_f32 = mathlib.NAMESPACE["ptr_float32"]


@njit
def _scaled_copy(src, dst, n, a):
    s = _ptr_f32(src)
    d = _ptr_f32(dst)
    for i in range(n):
        d[i] = s[i] * a + np.float32(1.0)


LIB = """def k_lib{tag}(f):
    scaled_copy(f[0], f[1], f[2], np.float32({tag}))
"""


@pytest.fixture
def large_numba_helper(monkeypatch):
    monkeypatch.setitem(mathlib.NAMESPACE, "scaled_copy", _scaled_copy)
    monkeypatch.setattr(prebuilt, "MIN_INSTRUCTIONS", 40)
    monkeypatch.setattr(prebuilt, "_CACHE", {})


def _run_lib(kernel, tag: float) -> None:
    x = np.linspace(-1, 1, 301, dtype=np.float32)
    out = np.zeros_like(x)
    frame = np.array([x.ctypes.data, out.ctypes.data, x.size], np.int64)
    kernel(frame.ctypes.data)
    np.testing.assert_array_equal(out, x * np.float32(tag) + np.float32(1.0))


def _is_scaled_copy(obj_symbols) -> set[str]:
    return {s for s in obj_symbols if "scaled_copy" in s}


def test_a_large_numba_helper_is_emitted_once_per_process_and_the_kernels_are_unchanged(large_numba_helper,
                                                                                        monkeypatch):
    compiler.compile_object(LIB.format(tag=2), "k_lib2", "<k_lib2>")
    built = dict(prebuilt._CACHE)
    new = compiler.compile_object(LIB.format(tag=3), "k_lib3", "<k_lib3>")
    assert prebuilt._CACHE == built, "the second kernel reuses the helper's assembly"
    assert sum(p is not None for _, p in built.values()) == 1
    monkeypatch.setattr(prebuilt, "MIN_INSTRUCTIONS", 10**9)  # link and optimize it with the kernel
    old = compiler.compile_object(LIB.format(tag=3), "k_lib3", "<k_lib3>")
    assert prebuilt._CACHE == built
    assert _is_scaled_copy(old[2]) == _is_scaled_copy(new[2]) == set(), "defined inside the object"
    for obj, symbol, externals in (old, new):
        _run_lib(load_object(obj, symbol, "k_lib3", externals), 3.0)


def test_small_helpers_are_linked_and_inlined_as_before():
    from numba.core import sigutils, types
    from numba.core.ccallback import CFunc

    namespace: dict = {}
    exec("def k_small(f):\n    f[0] = min(f[1], f[2]) + max(f[1], f[2])\n", namespace)
    cres = CFunc(namespace["k_small"], sigutils.normalize_signature(types.void(types.CPointer(types.int64))),
                 {}, {"error_model": "numpy"})._compile_uncached()
    link, built = prebuilt.split_libraries(cres.library, cres.library._final_module)
    assert built == [] and link, "numba's min and max stay linked (they must inline)"


def test_a_helper_that_cannot_be_prebuilt_is_linked(large_numba_helper, monkeypatch):
    monkeypatch.setattr(prebuilt, "_build", lambda *args: None)
    obj, symbol, externals = compiler.compile_object(LIB.format(tag=4), "k_lib4", "<k_lib4>")
    _run_lib(load_object(obj, symbol, "k_lib4", externals), 4.0)


def test_a_helper_defining_a_symbol_of_the_kernel_is_linked_instead(large_numba_helper, monkeypatch):
    from numba.core import sigutils, types
    from numba.core.ccallback import CFunc

    namespace = dict(mathlib.NAMESPACE)
    exec(LIB.format(tag=5), namespace)
    cres = CFunc(namespace["k_lib5"], sigutils.normalize_signature(types.void(types.CPointer(types.int64))),
                 {}, {"error_model": "numpy"})._compile_uncached()
    module = cres.library._final_module
    mine = next(f.name for f in module.functions if not f.is_declaration)  # the kernel defines it too
    monkeypatch.setattr(prebuilt, "_build", lambda *args: prebuilt.Prebuilt("", frozenset({mine}), ()))
    link, built = prebuilt.split_libraries(cres.library, module)
    assert built == [] and len(link) == len({id(lib) for lib in cres.library._linking_libraries})
    monkeypatch.undo()
    monkeypatch.setattr(prebuilt, "MIN_INSTRUCTIONS", 40)
    monkeypatch.setattr(prebuilt, "_CACHE", {})
    assert prebuilt.split_libraries(cres.library, cres.library._final_module)[1], "prebuilt when it may be"


def test_assembly_text_is_escaped_for_llvm_ir():
    assert prebuilt._escape('\tmovq\t"a\\b", é') == '\\09movq\\09\\22a\\5Cb\\22, \\C3\\A9'


# A fresh process compiles a model whose matmul copies its transposed block (transpose_copy_f32)
# in two kernels, with a cold cache; another loads the objects with no numba at all.
def _run(cache_dir: str) -> dict:
    model = "nn.Sequential(nn.Linear(96, 600), nn.GELU(), nn.Linear(600, 300), nn.Tanh(), nn.Linear(300, 72))"
    return fresh_process(model, "np.linspace(-1, 1, 37 * 96, dtype=np.float32).reshape(37, 96)", cache_dir)


def test_fresh_processes_compile_then_load_kernels_with_assembled_helpers(tmp_path):
    cold = _run(str(tmp_path))
    assert cold["compiled"] >= 2
    assert any("transpose_copy_f32(" in p.read_text() for p in tmp_path.glob("*/*.py"))
    np.testing.assert_allclose(cold["out"], cold["want"], rtol=1e-5, atol=1e-6)
    warm = _run(str(tmp_path))
    assert warm["compiled"] == 0 and warm["loaded"] == cold["compiled"] and not warm["numba"]
    np.testing.assert_array_equal(warm["out"], cold["out"])
