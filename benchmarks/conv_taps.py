"""``python -m benchmarks.conv_taps``: convolutions that read their input by taps against im2col.

For each shape, ``np.maximum(conv2d(x, w, b), 0)`` planned twice in one process: as the planner
chooses (``codegen.mathlib_gemm_nn.conv_taps``: ``rows``, ``wide`` or im2col; ``+copy`` where each
image is first copied into a zero-bordered buffer) and with im2col
forced; 400 calls each, the two taking turns call by call; ms per call, median and best.
"""

from __future__ import annotations

import statistics
import time
from unittest import mock

import numpy as np

#: (images, channels, height, width, filters, kernel size, padding): the ``cnn``'s two convolutions,
#: larger ones, one with many channels where im2col's copies are cheap beside the product, then
#: padded ones (each image copied into a zero-bordered buffer first)
SHAPES = [(8, 3, 32, 32, 16, 3, 0), (8, 16, 15, 15, 32, 3, 0), (1, 64, 56, 56, 64, 3, 0), (1, 32, 112, 112, 32, 3, 0),
          (4, 16, 64, 64, 32, 5, 0), (2, 128, 14, 14, 128, 3, 0), (8, 3, 32, 32, 16, 3, 1), (1, 64, 56, 56, 64, 3, 1),
          (8, 32, 16, 16, 32, 3, 1), (2, 128, 14, 14, 128, 3, 1)]


def compare(shape: tuple[int, ...], calls: int = 400) -> tuple[str, dict[str, tuple[float, float]]]:
    """The form the planner picks for ``shape`` and, per variant, (median, best) ms per call."""
    from codegen.plan import PlanOptions
    from runtime.compiled import NumbaExecutor
    from tracer import functional as F
    from tracer import trace

    n, c, h, w, o, k, pad = shape
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n, c, h, w)).astype(np.float32)
    weight = rng.standard_normal((o, c, k, k)).astype(np.float32)
    bias = rng.standard_normal(o).astype(np.float32)
    sm = trace(lambda x, weight, bias: np.maximum(F.conv2d(x, weight, bias, padding=pad), 0.0), (x, weight, bias))
    state, inputs = sm._flat_state(), (x, weight, bias)
    executors = {"chosen": NumbaExecutor(sm.graph, PlanOptions())}
    with mock.patch("codegen.matmuls.conv_taps", lambda values, pads: ""):
        executors["im2col"] = NumbaExecutor(sm.graph, PlanOptions())
        executors["im2col"].run(inputs, state)  # planned and compiled inside the patch
    executors["chosen"].run(inputs, state)
    assert not any("gemm_taps_f32(" in kernel.text for kernel in executors["im2col"].compiled(inputs).plan.kernels)
    texts = [kernel.text for kernel in executors["chosen"].compiled(inputs).plan.kernels]
    form = "im2col"
    if any("gemm_taps_f32(" in t for t in texts):
        form = ("wide" if any("_widep" in t for t in texts) else "rows") + ("+copy" if any("_padp" in t for t in texts)
                                                                          else "")
    times: dict[str, list[float]] = {name: [] for name in executors}
    for _ in range(calls):
        for name, ex in executors.items():
            t = time.perf_counter()
            ex.run(inputs, state)
            times[name].append(time.perf_counter() - t)
    return form, {name: (statistics.median(v) * 1e3, min(v) * 1e3) for name, v in times.items()}


def main() -> None:
    print("conv2d + ReLU, float32, ms per call (median, best of 400 interleaved calls)")
    for shape in SHAPES:
        form, got = compare(shape)
        n, c, h, w, o, k, pad = shape
        print(f"({n}, {c}, {h}, {w}) by {o} {k}x{k}, padding {pad}: planner {form:6s}  "
              + "  ".join(f"{name} {med:.3f} / {best:.3f}" for name, (med, best) in got.items()), flush=True)


if __name__ == "__main__":
    main()
