"""``codegen.mathlib_native``: the helpers written in LLVM IR, as kernels call them.

The pairwise sum must be ``np.add.reduce``'s, bit for bit, for every count (the 8-lane leaf, the
split points of the recursion, the last ``n % 8``), stride and special value.  The transposing
copy is tested in ``test_transpose_copy.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from codegen import mathlib_native
from codegen.cache import get_kernel
from codegen.prebuilt import build_ir

COUNTS = [0, 1, 2, 7, 8, 9, 15, 16, 17, 127, 128, 129, 130, 135, 136, 255, 256, 257, 1000, 1023, 4099]


def _kernel(kind: str, literal_stride: bool):
    stride = "1" if literal_stride else "f[4]"
    dtype = "float32" if kind == "f32" else "float64"
    name = f"k_pw_{kind}_{int(literal_stride)}"
    text = (f"def {name}(f):\n    p = ptr_{dtype}(f[1])\n    out = ptr_{dtype}(f[0])\n"
            f"    out[0] = pairwise_sum_{kind}(p, f[2], f[3], {stride})\n")
    return get_kernel(text, name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_the_pairwise_sum_is_numpys_bit_for_bit(dtype):
    kind = "f32" if dtype == np.float32 else "f64"
    rng = np.random.default_rng(3)
    data = (rng.standard_normal(3 * 4200 + 8) * np.exp(rng.uniform(-8, 8, 3 * 4200 + 8))).astype(dtype)
    out = np.zeros(1, dtype)
    for literal in (True, False):
        kernel = _kernel(kind, literal)
        for stride in ((1,) if literal else (1, 2, 3, 0)):
            for n in COUNTS:
                for start in (0, 5):
                    frame = np.array([out.ctypes.data, data.ctypes.data, start, n, stride], np.int64)
                    kernel(frame.ctypes.data)
                    view = np.broadcast_to(data[start], (n,)) if stride == 0 else data[start::stride][:n]
                    want = np.add.reduce(view)
                    assert out[0].tobytes() == want.tobytes(), (kind, literal, stride, n, start, out[0], want)


@pytest.mark.parametrize("special", [np.nan, np.inf, -np.inf])
def test_special_values_propagate_as_in_numpy(special):
    kernel = _kernel("f32", True)
    out = np.zeros(1, np.float32)
    for n, at in ((5, 2), (300, 0), (300, 299), (300, 150)):
        x = np.ones(n, np.float32)
        x[at] = special
        if special == np.inf and n == 300:
            x[(at + 1) % n] = -np.inf  # inf - inf: NaN
        kernel(np.array([out.ctypes.data, x.ctypes.data, 0, n, 1], np.int64).ctypes.data)
        with np.errstate(invalid="ignore"):
            want = np.add.reduce(x)
        assert out[0].tobytes() == want.tobytes() or (np.isnan(out[0]) and np.isnan(want)), (n, at, out[0], want)


def test_each_helper_is_short_ir_that_builds_in_milliseconds():
    import time

    for name, symbol in mathlib_native.SYMBOLS.items():
        start = time.perf_counter()
        built = build_ir(mathlib_native.helper_ir(name), frozenset({symbol}))
        assert built is not None and built.defines == {symbol} and built.needs == ()
        assert time.perf_counter() - start < 5.0  # ~0.03-0.2 s; numba took ~1 s of CPU per helper


@pytest.mark.parametrize("loader", ["elf", "mcjit"])
def test_kernels_compiled_through_numbas_public_cfunc_carry_the_helpers_too(monkeypatch, loader):
    # another numba's internals (compiler._compile_module's fallback): numba's JIT links the
    # cfunc, so the helpers need addresses there, and the object must still define them
    from codegen import compiler
    from codegen.native import load_object

    if loader == "elf":
        from codegen.elf import supported_host

        if not supported_host():
            pytest.skip("codegen.elf links objects on x86-64 Linux only")

    def other_numba(*args):
        raise AttributeError("simulated: another numba's internals")

    monkeypatch.setattr(compiler, "split_libraries", other_numba)
    text = ("def k_pub(f):\n    x = ptr_float32(f[0])\n    o = ptr_float32(f[1])\n"
            "    o[0] = pairwise_sum_f32(x, 0, f[2], 1)\n")
    obj, symbol, externals = compiler.compile_object(text, "k_pub", "<k_pub>")
    assert not set(externals) & set(mathlib_native.SYMBOLS.values())
    x = np.linspace(-3, 5, 301, dtype=np.float32)
    out = np.zeros(1, np.float32)
    load_object(obj, symbol, "k_pub", externals, loader=loader)(
        np.array([x.ctypes.data, out.ctypes.data, x.size], np.int64).ctypes.data)
    assert out[0] == np.add.reduce(x)
