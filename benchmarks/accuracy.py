"""``python -m benchmarks.accuracy``: the kernels' float32 exp, tanh and erf over all 2**32 inputs.

Each function runs as a compiled kernel (the same code the numba backend uses) over every float32
bit pattern, in chunks, and is compared with the correctly rounded result (NumPy in float64,
rounded once) and with NumPy's own float32 function (for erf: ``ir.ops``'s reference).  Prints the
largest distance in units in the last place and how many inputs are more than 1 ulp away.
``--step N`` checks every N-th bit pattern instead (``tests/codegen/test_mathlib.py`` uses 1021).
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in units in the last place between float32 arrays (0 where both are NaN)."""
    ia = a.view(np.int32).astype(np.int64)
    ib = b.view(np.int32).astype(np.int64)
    ia = np.where(ia < 0, -(ia & 0x7FFFFFFF), ia)
    ib = np.where(ib < 0, -(ib & 0x7FFFFFFF), ib)
    return np.where(np.isnan(a) & np.isnan(b), 0, np.abs(ia - ib))


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.accuracy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--step", type=int, default=1, help="check every STEP-th bit pattern (default: all)")
    parser.add_argument("--chunk", type=int, default=1 << 24, help="inputs per chunk")
    args = parser.parse_args(argv)

    import tracer
    from codegen.plan import PlanOptions
    from ir.ops import get_op
    from runtime.compiled import NumbaExecutor
    from tracer.dispatch import call_op

    erf_ref = get_op("erf").impl
    cases = {
        "exp": (lambda x: np.exp(x), np.exp, np.exp),
        "tanh": (lambda x: np.tanh(x), np.tanh, np.tanh),
        "erf": (lambda x: call_op("erf", x), lambda x: erf_ref(x), None),
    }
    results = {}
    for name, (fn, ref32, ref64) in cases.items():
        sm = tracer.trace(fn, (np.ones(4, np.float32),), check_trace=False).set_backend("interpreter")
        ex = NumbaExecutor(sm.graph, PlanOptions(force_kernels=True))
        worst_truth = worst_numpy = over1 = 0
        n = 0
        t0 = time.perf_counter()
        for start in range(0, 2**32, args.chunk * args.step):
            stop = min(2**32, start + args.chunk * args.step)
            x = np.arange(start, stop, args.step, dtype=np.uint64).astype(np.uint32).view(np.float32)
            with np.errstate(all="ignore"):
                ours = ex.run((x,), {})
                numpy32 = ref32(x)
                truth = ref64(x.astype(np.float64)).astype(np.float32) if ref64 is not None else numpy32
            d_truth, d_numpy = ulp_distance(ours, truth), ulp_distance(ours, numpy32)
            worst_truth = max(worst_truth, int(d_truth.max()))
            worst_numpy = max(worst_numpy, int(d_numpy.max()))
            over1 += int((d_truth > 1).sum())
            n += x.size
        results[name] = {"inputs": n, "max_ulp_vs_correctly_rounded": worst_truth, "max_ulp_vs_numpy": worst_numpy,
                         "more_than_1_ulp": over1, "seconds": time.perf_counter() - t0}
        ref = "the reference erf" if ref64 is None else "correctly rounded"
        print(f"{name:5s} {n} inputs: max {worst_truth} ulp from {ref}, max {worst_numpy} ulp from NumPy's float32; "
              f"{over1} inputs more than 1 ulp off ({results[name]['seconds']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
