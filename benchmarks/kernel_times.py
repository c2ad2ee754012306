"""``python -m benchmarks.kernel_times MODEL [MODEL ...]``: where a zoo model's call goes, kernel by kernel.

For each model: the median and best time of a whole call (``sm(x)``) and of the generated driver
alone, then of every kernel step run on its own the way the driver runs it (its chunks shared
with ``codegen.pool``'s workers, or one call), with its estimated work, its chunk count and its
estimated single-thread time; the sum of the kernels' medians is the call minus Python, NumPy
steps and hand-offs.  Each kernel runs on the frames of the last call, whose output is kept alive.
``--serial`` also times each split kernel's chunks one after the other on one thread.
"""

from __future__ import annotations

import statistics
import sys
import time
from typing import Any

import numpy as np

from codegen.plan import KernelStep

from .zoo import build


def _time(fn: Any, calls: int) -> tuple[float, float]:
    for _ in range(max(3, calls // 20)):
        fn()
    times = []
    for _ in range(calls):
        t = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t)
    return statistics.median(times) / 1e3, min(times) / 1e3


def report(name: str, serial: bool = False, calls: int = 300) -> None:
    case = build(name)
    x = case.input
    sm = case.capture_module()
    sm(x)
    # building the case ran NumPy eager, whose OpenBLAS threads spin for ~0.1 s after its calls:
    # beside them the pool sees a busy core and runs alone for a spell (codegen.pool_backoff)
    time.sleep(0.5)
    executor = sm._program("forward")
    compiled = executor.compiled((x,))
    state = sm._flat_state()
    ts = compiled.state()
    print(f"## {name}: us per call (median, best)")
    print(f"  whole call    {_time(lambda: sm(x), calls)}")
    print(f"  driver alone  {_time(lambda: compiled.driver([x], state, ts), calls)}")
    hold = compiled.driver([x], state, ts)  # noqa: F841 - the frames point into this call's output block
    total = 0.0
    base = ts.frame_addr
    for step in compiled.plan.steps:
        if not isinstance(step, KernelStep):
            continue
        kernel = compiled.kernels[step.kernel]
        offsets = np.array([8 * w for w in step.frames], np.int64)
        if len(offsets) > 1 and compiled.pool is not None:
            pool, where = compiled.pool, offsets.ctypes.data

            def run(pool: Any = pool, kernel: Any = kernel, where: int = where, n: int = len(offsets)) -> None:
                pool.run(pool.address, kernel.address, base, where, n, 1)
        else:
            def run(kernel: Any = kernel, offsets: np.ndarray = offsets) -> None:
                for off in offsets:
                    kernel.fn(base + int(off))
        before = compiled.pool.stats() if compiled.pool is not None else None
        median, best = _time(run, calls)
        total += median
        line = f"  {step.name:32s} {len(offsets)} chunk(s) est {step.work / 1e3:8.1f}  ({median:8.1f}, {best:8.1f})"
        if before is not None and len(offsets) > 1:
            after = compiled.pool.stats()
            line += "  " + " ".join(f"{k} {after[k] - before[k]}" for k in ("shared", "solo", "stalls", "preempted"))
        if serial and len(offsets) > 1:
            def one_by_one(kernel: Any = kernel, offsets: np.ndarray = offsets) -> None:
                for off in offsets:
                    kernel.fn(base + int(off))
            line += f"  serial {_time(one_by_one, calls)}"
        print(line)
    print(f"  sum of kernel medians {total:.1f}")


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    serial = "--serial" in args
    for name in [a for a in args if not a.startswith("--")] or ["cnn"]:
        report(name, serial)


if __name__ == "__main__":
    main()
