"""``python -m benchmarks.blas_cores``: single-threaded sgemm speed of the BLAS kernels call.

For the zoo's matmul shapes, GFLOP/s (best of repeated calls) of:

* NumPy's own OpenBLAS (``np.matmul`` into a preallocated output; its own threads),
* the private single-threaded copy kernels call (``codegen.blas``), with the OpenBLAS core it runs
  (OpenBLAS's choice for the CPU, ``SkylakeX`` on the development machine) and, from a child
  process with ``TRACER_BLAS_CORETYPE`` set to it, with the core NumPy's copy runs (that
  machine's environment sets ``OPENBLAS_CORETYPE=Haswell``),
* the same product computed transposed, ``C.T = op(B).T @ op(A).T`` (what ``codegen.plan`` does for
  few rows times a big ``(out, in)`` weight, ``Gemm.swap``),
* half of the columns and half of the rows (what one of two threads computes).

Shapes are ``m x n x k`` and whether the right operand is stored transposed (``T``: a ``Linear``
weight ``(out, in)``) or not (``N``: ``x @ w`` with ``w`` of shape ``(in, out)``).
"""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import time
from typing import Any

import numpy as np

from codegen.blas import CBLAS_NO_TRANS, CBLAS_ROW_MAJOR, CBLAS_TRANS, _address, _corename, _numpy_blas_paths, find_blas

#: (m, n, k, right operand stored transposed), with the zoo model that has it
SHAPES = [
    (64, 1024, 784, True, "mlp fc1"),
    (64, 1024, 1024, True, "mlp fc2"),
    (512, 768, 256, True, "transformer qkv"),
    (512, 1024, 256, True, "transformer fc1"),
    (512, 256, 1024, True, "transformer fc2"),
    (128, 2048, 512, True, "transformer4 fc1"),
    (64, 1024, 256, False, "gpt fc"),
    (64, 256, 1024, False, "gpt proj"),
    (64, 2048, 256, True, "gpt head"),
    (16, 7200, 27, False, "cnn conv1, 8 images"),
    (32, 169, 144, False, "cnn conv2, 1 image"),
]


def _best(fn, seconds: float = 0.2) -> float:
    fn()
    best, end = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < end:
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def _shape(sgemm: Any, m: int, n: int, k: int, trans: bool) -> dict:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k) if trans else (k, n)).astype(np.float32)
    c, ct = np.empty((m, n), np.float32), np.empty((n, m), np.float32)
    tb = CBLAS_TRANS if trans else CBLAS_NO_TRANS
    ldb = b.shape[1]
    pa, pb, pc, pct = a.ctypes.data, b.ctypes.data, c.ctypes.data, ct.ctypes.data
    col = (n // 2) * (ldb if trans else 1) * 4  # byte offset of the second half of B's columns

    def call(rows: int, cols: int, b_at: int = pb) -> Any:
        return lambda: sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS, tb, rows, cols, k, 1.0, pa, k, b_at, ldb, 0.0, pc, n)

    def transposed() -> None:
        sgemm(CBLAS_ROW_MAJOR, CBLAS_NO_TRANS if trans else CBLAS_TRANS, CBLAS_TRANS, n, m, k, 1.0, pb, ldb, pa, k,
              0.0, pct, m)

    flops = 2 * m * n * k
    return {"whole": flops / _best(call(m, n)) / 1e9, "transposed": flops / _best(transposed) / 1e9,
            "column half": flops / 2 / _best(call(m, n - n // 2, pb + col)) / 1e9,
            "row half": flops / 2 / _best(call(m // 2, n)) / 1e9}


def private_gflops() -> dict:
    """GFLOP/s of the private copy per shape: whole, transposed, column half, row half."""
    blas = find_blas()
    if blas is None or not blas.private:
        return {"core": None}
    integer = ctypes.c_int64 if blas.ilp64 else ctypes.c_int
    sgemm = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_int, ctypes.c_int, integer, integer, integer, ctypes.c_float,
                             ctypes.c_void_p, integer, ctypes.c_void_p, integer, ctypes.c_float, ctypes.c_void_p,
                             integer)(blas.sgemm)
    out: dict = {"core": blas.core}
    for m, n, k, trans, _ in SHAPES:
        out[f"{m}x{n}x{k}{'T' if trans else 'N'}"] = _shape(sgemm, m, n, k, trans)
    return out


def _numpy_shape(m: int, n: int, k: int, trans: bool) -> float:
    rng = np.random.default_rng(0)
    a = rng.standard_normal((m, k)).astype(np.float32)
    b = rng.standard_normal((n, k)).astype(np.float32).T if trans else rng.standard_normal((k, n)).astype(np.float32)
    c = np.empty((m, n), np.float32)
    return 2 * m * n * k / _best(lambda: np.matmul(a, b, out=c)) / 1e9


def numpy_gflops() -> dict:
    return {f"{m}x{n}x{k}{'T' if trans else 'N'}": _numpy_shape(m, n, k, trans) for m, n, k, trans, _ in SHAPES}


def main() -> None:
    if "--child" in sys.argv:
        print(json.dumps(private_gflops()))
        return
    ours = private_gflops()
    numpy_core = _corename(lambda name: _address(getattr(ctypes.CDLL(_numpy_blas_paths()[0]), name, None)))
    env = dict(os.environ, TRACER_BLAS_CORETYPE=numpy_core or "default")
    proc = subprocess.run([sys.executable, "-m", "benchmarks.blas_cores", "--child"], env=env, capture_output=True,
                          text=True, timeout=300)
    default = json.loads(proc.stdout.strip().splitlines()[-1]) if proc.returncode == 0 else {"core": None}
    numpy = numpy_gflops()
    if ours["core"] is None:
        print("kernels call NumPy's OpenBLAS here (no private copy): nothing to compare")
        return
    print(f"GFLOP/s, best of repeated calls. numpy: NumPy's OpenBLAS ({numpy_core}, its threads); then our "
          f"private copy, one thread: with NumPy's core ({default['core']}), with its own ({ours['core']}), the "
          "transposed product, half the columns, half the rows")
    print(f"{'shape':16s} {'model':20s} {'numpy':>7s} {'as numpy':>8s} {'ours':>7s} {'C.T':>7s} {'cols/2':>7s} "
          f"{'rows/2':>7s}")
    for m, n, k, trans, what in SHAPES:
        key = f"{m}x{n}x{k}{'T' if trans else 'N'}"
        mine, theirs = ours[key], default.get(key, {})
        print(f"{key:16s} {what:20s} {numpy[key]:7.0f} {theirs.get('whole', float('nan')):8.0f} {mine['whole']:7.0f} "
              f"{mine['transposed']:7.0f} {mine['column half']:7.0f} {mine['row half']:7.0f}")


if __name__ == "__main__":
    main()
