"""``python -m benchmarks.gemm_f32``: ``codegen.gemm_f32`` against the private OpenBLAS, one thread.

For the zoo's weight matmuls ``A (m x k) @ W.T`` (``W`` a ``Linear`` weight, ``(n, k)``), and for
the few-row ones also the second half of the columns (what one of two column chunks computes),
GFLOP/s, best of many calls, the variants interleaved call by call:

* ``ours``: ``gemm_f32`` over the weight packed beforehand (a prepacked value in a plan),
* ``+pack``: packing the (used columns of the) weight with ``pack_linear`` on every call, then
  ``gemm_f32`` (what it would cost without prepacking),
* ``W``: ``codegen.mathlib_gemm``'s helper (what kernels call): the weight read in place, ``A`` packed
  on every call (included),
* ``T``: OpenBLAS ``sgemm`` with ``W`` transposed (``CblasTrans``), as kernels call it for a
  ``Linear`` weight,
* ``N``: OpenBLAS with a contiguous ``W.T`` (``CblasNoTrans``; a prepacked ``W.T`` copy),
* ``C.T``: OpenBLAS computing ``C.T = W @ A.T`` (``Gemm.swap``: what kernels do for few rows; the
  copy of the block into place is not counted),
* ``gain``: ``W`` over the best of the three OpenBLAS forms.

``--sweep`` also times other micro-kernel shapes and ``K`` blocks (slow; for tuning).
"""

from __future__ import annotations

import ctypes
import sys
import time
from typing import Any

import numpy as np

from codegen.blas import CBLAS_NO_TRANS, CBLAS_ROW_MAJOR, CBLAS_TRANS, find_blas

#: (m, k, n, half): ``(m, k) @ (k, n)``; ``half``: the second half of the columns only
SHAPES = [
    (64, 784, 1024, False, "mlp fc1"),
    (64, 784, 1024, True, "mlp fc1, cols/2"),
    (64, 1024, 1024, False, "mlp fc2"),
    (64, 1024, 1024, True, "mlp fc2, cols/2"),
    (512, 256, 768, False, "transformer qkv"),
    (512, 256, 1024, False, "transformer fc1"),
    (512, 1024, 256, False, "transformer fc2"),
    (128, 512, 1536, False, "transformer4 qkv"),
    (128, 512, 2048, False, "transformer4 fc1"),
    (128, 2048, 512, False, "transformer4 fc2"),
]


def _sgemm() -> Any:
    blas = find_blas()
    if blas is None:
        return None
    integer = ctypes.c_int64 if blas.ilp64 else ctypes.c_int
    return ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, ctypes.c_float,
                            ctypes.c_void_p, integer, ctypes.c_void_p, integer, ctypes.c_float, ctypes.c_void_p,
                            integer)(blas.sgemm)


_GEMM_WT: list = []


def _gemm_wt() -> Any:
    """A kernel that calls ``codegen.mathlib_gemm``'s helper with the 11 words of its frame, as kernels
    call it (the helper's assembly built for this CPU, ``codegen.prebuilt``)."""
    if not _GEMM_WT:
        from codegen.cache import get_kernel

        args = ", ".join(f"f[{i}]" for i in range(11))
        _GEMM_WT.append(get_kernel(f"def k_bench_gw(f):\n    gemm_wt_f32({args})\n", "k_bench_gw"))
    return _GEMM_WT[0]


def _aligned(x: np.ndarray) -> np.ndarray:
    raw = np.empty(x.nbytes + 64, np.uint8)
    start = -raw.ctypes.data % 64
    out = raw[start:start + x.nbytes].view(x.dtype).reshape(x.shape)
    out[...] = x
    return out


def _interleaved(fns: dict, seconds: float) -> dict:
    """Best time of each of ``fns``, calling them in turn until ``seconds`` have passed."""
    for fn in fns.values():
        fn()
    best = dict.fromkeys(fns, float("inf"))
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            best[name] = min(best[name], time.perf_counter() - t)
    return best


def _variants(sgemm: Any, m: int, k: int, n: int, half: bool, gemm: Any, pack: Any) -> tuple[dict, float, float]:
    from codegen.mathlib_gemm import scratch_floats

    gemm_wt_f32 = _gemm_wt()

    rng = np.random.default_rng(0)
    a = _aligned(rng.standard_normal((m, k)).astype(np.float32))
    w = _aligned(rng.standard_normal((n, k)).astype(np.float32))
    wt = _aligned(np.ascontiguousarray(w.T))
    c, ct = np.zeros((m, n), np.float32), np.zeros((n, m), np.float32)
    lo = n // 2 if half else 0
    cols = n - lo
    packed = _aligned(pack(w))
    scratch = _aligned(np.zeros(scratch_floats(m, k), np.float32))
    keep = (a, w, wt, c, ct, packed, scratch)  # the closures hold addresses: they must hold the arrays too
    pa, pw, pwt, pc, pct, pp = (x.ctypes.data for x in keep[:6])
    used = w[lo:]
    frame = np.array([pa, k, pw, k, pc, n, m, k, lo, n, scratch.ctypes.data], np.int64)
    frame_at = frame.ctypes.data

    def ours() -> None:
        assert keep
        gemm(pa, k, pp, k, pc, n, m, lo, n)

    def in_place() -> None:
        assert frame is not None
        gemm_wt_f32(frame_at)

    def ours_pack() -> None:
        p = pack(used)
        gemm(pa, k, p.ctypes.data, k, pc + lo * 4, n, m, 0, cols)

    def blas_t() -> None:
        sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, m, cols, k, 1.0, pa, k, pw + lo * k * 4, k, 0.0,
              pc + lo * 4, n)

    def blas_n() -> None:
        sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_NO_TRANS, m, cols, k, 1.0, pa, k, pwt + lo * 4, n, 0.0,
              pc + lo * 4, n)

    def blas_swap() -> None:
        sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, CBLAS_TRANS, cols, m, k, 1.0, pw + lo * k * 4, k, pa, k, 0.0,
              pct + lo * m * 4, m)

    ours()
    err = float(np.abs(c[:, lo:] - (a @ w.T)[:, lo:]).max())
    fns = {"ours": ours, "+pack": ours_pack, "W": in_place, "T": blas_t, "N": blas_n, "C.T": blas_swap}
    return fns, 2 * m * cols * k, err


def main() -> None:
    from codegen import gemm_f32

    sgemm = _sgemm()
    if sgemm is None:
        print("no BLAS found: nothing to compare")
        return
    print(f"one thread, GFLOP/s, best of interleaved calls; micro-kernel {gemm_f32.MR}x{gemm_f32.NR}, K blocks of "
          f"{gemm_f32.KC}; AVX-512F: {gemm_f32.available()}")
    names = ["ours", "+pack", "W", "T", "N", "C.T"]
    print(f"{'shape':22s} {'model':18s} " + " ".join(f"{x:>6s}" for x in names) + f" {'gain':>6s} {'max err':>8s}")
    for m, k, n, half, what in SHAPES:
        fns, flops, err = _variants(sgemm, m, k, n, half, gemm_f32.gemm_f32, gemm_f32.pack_linear)
        best = _interleaved(fns, 0.6)
        rate = {name: flops / best[name] / 1e9 for name in names}
        gain = rate["W"] / max(rate["T"], rate["N"], rate["C.T"]) - 1
        shape = f"({m},{k})@({k},{n // 2 if half else n})"
        print(f"{shape:22s} {what:18s} " + " ".join(f"{rate[x]:6.0f}" for x in names) + f" {gain:+6.0%} {err:8.1e}",
              flush=True)
    if "--sweep" in sys.argv:
        _sweep(sgemm)


def _sweep(sgemm: Any) -> None:
    """Other micro-kernel shapes and K blocks on the few-row shapes (compiles one driver each)."""
    from codegen import gemm_f32

    for mr, kc in ((8, 256), (8, 512), (8, 1024), (4, 512)):
        gemm = gemm_f32.make_driver(mr, kc)
        for m, k, n, half, what in SHAPES:
            fns, flops, _ = _variants(sgemm, m, k, n, half, gemm, gemm_f32.pack_linear)
            best = _interleaved({"ours": fns["ours"], "C.T": fns["C.T"]}, 0.3)
            print(f"MR {mr} KC {kc:5d} {what:18s} ours {flops / best['ours'] / 1e9:6.0f} C.T "
                  f"{flops / best['C.T'] / 1e9:6.0f}", flush=True)


if __name__ == "__main__":
    main()
