"""``python -m benchmarks.neighbours [MODEL]``: our call right after another runtime's.

NumPy's OpenBLAS keeps its idle thread spinning for about 0.1 s after a call (so does OpenMP's
and ONNX Runtime's pool); our worker then shares a core with it.  Times (median, best, ms) the
numba backend's call: alone, right after a NumPy eager call of the same model, and 5 ms after one
(our workers asleep by then, NumPy's still spinning).  With ``OPENBLAS_NUM_THREADS=1`` NumPy has
no such thread: run it both ways.  This is why ``python -m benchmarks`` times each runtime
after a rest (``benchmarks.run.SETTLE``).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from codegen.blas import warm_up

from .zoo import build


def _time(fn: Callable[[], Any], before: Callable[[], Any] | None = None, calls: int = 100) -> tuple[float, float]:
    times = []
    for _ in range(calls):
        if before is not None:
            before()
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return round(statistics.median(times) * 1e3, 3), round(min(times) * 1e3, 3)


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    warm_up()
    case = build(args[0] if args else "mlp")
    x, eager = case.input, case.module
    sm = case.capture_module()
    for _ in range(20):
        sm(x)
    print(f"{case.name}: ms per call (median, best)")
    print(f"  alone                         {_time(lambda: sm(x))}")
    print(f"  right after NumPy eager       {_time(lambda: sm(x), lambda: eager(x))}")
    print(f"  5 ms after NumPy eager        {_time(lambda: sm(x), lambda: (eager(x), time.sleep(0.005)))}")
    print(f"  alone again                   {_time(lambda: sm(x))}")


if __name__ == "__main__":
    main()
