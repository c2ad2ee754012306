"""``python -m benchmarks.blas_bits``: does an OpenBLAS sgemm's result depend on how it is called?

For the ``cnn`` zoo model's second convolution (32 output channels, 144 = 16 x 3 x 3 terms per
sum, 169 columns per image) it counts the float32 results that differ from one call per image
(what ``ir.ops``'s ``conv2d`` makes through ``np.matmul``):

* one call over two images' columns;
* the same per-image call with OpenBLAS on one thread (``OPENBLAS_NUM_THREADS=1`` in a child
  process: its thread count is fixed when the library loads);
* the same per-image call on other memory with another row stride (a view): expected 0.

Any other split of the work changes the summation order, which no purely relative tolerance
survives where the terms cancel; SPEC's bound, ``|y - r| <= rtol (|r| + max |r|)`` per output,
does.  The numba backend once made exactly the reference's calls for this reason; now it makes its
own (``codegen.blas``: a private one-threaded OpenBLAS, the work split over its own threads).
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np

OUT, K, N = 32, 144, 169


def _operands() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return (rng.standard_normal((OUT, K)).astype(np.float32), rng.standard_normal((K, 2 * N)).astype(np.float32))


def _per_image(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.concatenate([a @ np.ascontiguousarray(b[:, :N]), a @ np.ascontiguousarray(b[:, N:])], axis=1)


def main() -> None:
    if "--child" in sys.argv:
        sys.stdout.buffer.write(_per_image(*_operands()).tobytes())
        return
    a, b = _operands()
    ref = _per_image(a, b)
    wide = np.empty((K, 2 * N + 7), np.float32)
    wide[:, :2 * N] = b
    views = _per_image(a, wide[:, :2 * N])
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    raw = subprocess.run([sys.executable, "-m", "benchmarks.blas_bits", "--child"], env=env, check=True,
                         capture_output=True).stdout
    one_thread = np.frombuffer(raw, np.float32).reshape(ref.shape)
    total = ref.size
    print(f"sgemm ({OUT}, {K}) @ ({K}, {N}) per image, two images: {total} results; differing from the reference:")
    print(f"  one call over both images:      {(a @ b != ref).sum():6d}")
    print(f"  per image, one OpenBLAS thread: {(one_thread != ref).sum():6d}")
    print(f"  per image, strided operands:    {(views != ref).sum():6d}")


if __name__ == "__main__":
    main()
