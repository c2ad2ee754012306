"""``python -m benchmarks.gemm_floor``: how fast can the ``mlp`` zoo model get?

Times, taking turns like ``python -m benchmarks``: NumPy eager, the numba backend, and the
model's three matmuls alone (``np.matmul`` into preallocated outputs: the OpenBLAS calls NumPy
eager makes).  The last line is the best speedup over NumPy eager any backend making those calls
can reach: everything but the matmuls free.  The numba backend makes other calls (its own
one-threaded OpenBLAS with AVX-512 kernels, split over its own threads: ``python -m
benchmarks.blas_cores``), so it can pass that line.
"""

from __future__ import annotations

import numpy as np

from codegen.blas import warm_up

from .run import timeit
from .zoo import build


def main() -> None:
    warm_up()
    case = build("mlp")
    m, x = case.module, case.input
    sm = case.capture_module()
    w1, w2, w3 = m.fc1.weight.T, m.fc2.weight.T, m.fc3.weight.T
    h1 = np.maximum(x @ w1, 0)
    h2 = np.maximum(h1 @ w2, 0)
    o1, o2, o3 = np.empty_like(h1), np.empty_like(h2), np.empty((x.shape[0], w3.shape[1]), np.float32)

    def matmuls() -> None:
        np.matmul(x, w1, out=o1)
        np.matmul(h1, w2, out=o2)
        np.matmul(h2, w3, out=o3)

    ms = timeit({"NumPy eager": lambda: m(x), "numba": lambda: sm(x), "the 3 matmuls alone": matmuls}, 300)
    for name, t in ms.items():
        print(f"{name:22s} {t:.3f} ms")
    print(f"ceiling over NumPy eager with the same BLAS calls: {ms['NumPy eager'] / ms['the 3 matmuls alone']:.2f}x")


if __name__ == "__main__":
    main()
