"""``python -m benchmarks.blas_warmup``: OpenBLAS's sgemm before and after one larger sgemm.

Prints the median time of a ``(64, 1024) @ (1024, 1024)`` float32 matmul (the ``mlp`` zoo
model's middle layer) in a fresh process, then again after one ``(256, 256) @ (256, 1024)``
matmul (``codegen.blas.warm_up``).  On the development machine the second number is about 30%
lower, with one OpenBLAS thread or two (``OPENBLAS_NUM_THREADS``), and it stays lower.
"""

from __future__ import annotations

import numpy as np

from codegen.blas import warm_up

from .run import timeit


def main() -> None:
    a = np.ones((64, 1024), np.float32)
    w = np.ones((1024, 1024), np.float32)
    before = timeit({"sgemm": lambda: a @ w}, 30)["sgemm"]
    warm_up()
    after = timeit({"sgemm": lambda: a @ w}, 30)["sgemm"]
    later = timeit({"sgemm": lambda: a @ w}, 300)["sgemm"]
    print(f"(64, 1024) @ (1024, 1024) float32, median ms: {before:.3f} before warm_up(), {after:.3f} after, "
          f"{later:.3f} over the next 300 calls")


if __name__ == "__main__":
    main()
