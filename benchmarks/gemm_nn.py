"""``python -m benchmarks.gemm_nn``: ``codegen.mathlib_gemm_nn`` against the private OpenBLAS, one thread.

For products ``A (m x k) @ W (k x n)`` with ``W`` stored input-major (the ``x @ w + b`` of NumPy
ports of GPT-2: the zoo's ``gpt``), and for the few-row ones the second half of the columns
(what one of two column chunks computes), GFLOP/s, best of many calls, the variants interleaved
call by call:

* ``ours``: ``gemm_nn_f32`` as kernels call it (a kernel passing it its frame; the weight read in
  place, its strips packed on every call, included),
* ``blas``: OpenBLAS ``sgemm``, ``CblasNoTrans`` both (what kernels call otherwise).

``--sweep`` also times other tile shapes (rows x vectors of 16 columns), each helper built on its
own (slow; for tuning).
"""

from __future__ import annotations

import ctypes
import sys
from typing import Any

import numpy as np

from codegen.blas import CBLAS_NO_TRANS, CBLAS_ROW_MAJOR

from .gemm_f32 import _aligned, _interleaved, _sgemm

#: (m, k, n, half, what): ``(m, k) @ (k, n)``; ``half``: the second half of the columns only
SHAPES = [
    (64, 256, 768, True, "gpt qkv, cols/2"),
    (64, 256, 256, True, "gpt attn proj, cols/2"),
    (64, 256, 1024, True, "gpt fc, cols/2"),
    (64, 1024, 256, True, "gpt proj, cols/2"),
    (64, 256, 768, False, "gpt qkv"),
    (64, 64, 64, False, "gpt one head's p @ v"),
    (32, 256, 768, False, "gpt qkv, rows/2"),
    (9, 256, 1024, False, "9 rows"),
    (512, 256, 1024, False, "512 rows"),
    (16, 27, 900, False, "cnn conv1, one image"),
    (32, 144, 169, False, "cnn conv2, one image"),
]

_KERNEL: list = []


def _ours() -> Any:
    """A kernel that calls ``gemm_nn_f32`` with the 11 words of its frame, as kernels call it."""
    if not _KERNEL:
        from codegen.cache import get_kernel

        args = ", ".join(f"f[{i}]" for i in range(11))
        _KERNEL.append(get_kernel(f"def k_bench_gn(f):\n    gemm_nn_f32({args})\n", "k_bench_gn"))
    return _KERNEL[0]


def _jit(mr: int, nv: int) -> Any:
    """``gemm_nn_f32`` with another tile, built for this CPU (``--sweep``), as a ctypes function."""
    import llvmlite.binding as llvm

    from codegen import mathlib_gemm_nn
    from codegen.compiler import _target_machine
    from codegen.native import _link, init_llvm

    init_llvm()
    symbol = f"bench_gemm_nn_{mr}x{nv}"
    tm = _target_machine()
    mod = llvm.parse_assembly(f'target triple = "{llvm.get_process_triple()}"\n'
                              + mathlib_gemm_nn.helper_ir(mr, nv, symbol))
    mod.data_layout = str(tm.target_data)
    builder = llvm.create_pass_builder(tm, llvm.create_pipeline_tuning_options(speed_level=3))
    builder.getModulePassManager().run(mod, builder)
    address = _link(tm.emit_object(mod), (symbol,), symbol, (), "auto")[0]  # codegen.elf: kept for good
    return ctypes.CFUNCTYPE(None, *([ctypes.c_int64] * 11))(address)


def _variants(sgemm: Any, m: int, k: int, n: int, half: bool, tiles: dict) -> tuple[dict, float, float]:
    from codegen.mathlib_gemm_nn import scratch_floats

    rng = np.random.default_rng(0)
    a = _aligned(rng.standard_normal((m, k)).astype(np.float32))
    w = _aligned(rng.standard_normal((k, n)).astype(np.float32))
    c, c2 = _aligned(np.zeros((m, n), np.float32)), _aligned(np.zeros((m, n), np.float32))
    scratch = _aligned(np.zeros(4 * 16 * max(k, 1), np.float32))  # the widest tile --sweep times: 4 vectors
    assert scratch.size >= scratch_floats(m, k)
    lo = n // 2 if half else 0
    cols = n - lo
    keep = (a, w, c, c2, scratch)  # the closures hold addresses: they must hold the arrays too
    pa, pw, pc, pc2, ps = (x.ctypes.data for x in keep)
    frame = np.array([pa, k, pw, n, pc, n, m, k, lo, n, ps], np.int64)
    kernel = _ours()

    def ours() -> None:
        assert keep
        kernel(frame.ctypes.data)

    def blas() -> None:
        sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, m, cols, k, 1.0, pa, k, pw + lo * 4, n, 0.0,
              pc2 + lo * 4, n)

    fns = {"ours": ours, "blas": blas}
    for name, fn in tiles.items():
        fns[name] = lambda fn=fn: fn(pa, k, pw, n, pc, n, m, k, lo, n, ps)
    ours()
    ref = (a.astype(np.float64) @ w.astype(np.float64))[:, lo:]
    err = float(np.abs(c[:, lo:] - ref).max() / np.abs(ref).max())
    return fns, 2 * m * cols * k, err


def main() -> None:
    from codegen.mathlib_gemm import available
    from codegen.mathlib_gemm_nn import MR, NR

    sgemm = _sgemm()
    if sgemm is None:
        print("no BLAS found: nothing to compare")
        return
    tiles = {f"{mr}x{nv * 16}": _jit(mr, nv) for mr, nv in ((4, 4), (6, 4), (12, 2), (8, 3))} \
        if "--sweep" in sys.argv else {}
    print(f"one thread, GFLOP/s, best of interleaved calls; tile {MR}x{NR}; AVX-512F: {available()}")
    names = ["ours", "blas", *tiles]
    print(f"{'shape':22s} {'what':22s} " + " ".join(f"{x:>6s}" for x in names) + f" {'gain':>6s} {'rel err':>8s}")
    for m, k, n, half, what in SHAPES:
        fns, flops, err = _variants(sgemm, m, k, n, half, tiles)
        best = _interleaved(fns, 0.6)
        rate = {name: flops / best[name] / 1e9 for name in names}
        shape = f"({m},{k})@({k},{n // 2 if half else n})"
        print(f"{shape:22s} {what:22s} " + " ".join(f"{rate[x]:6.0f}" for x in names)
              + f" {rate['ours'] / rate['blas'] - 1:+6.0%} {err:8.1e}", flush=True)


if __name__ == "__main__":
    main()
