"""``python -m benchmarks.options_ab MODEL OPTION [--calls N] [--tiny]``: A/B of one boolean
``codegen.plan.PlanOptions`` field on a zoo model, in one process.

The model's program runs on two executors, the option off and on, their calls interleaved (so
that the machine's load hits both alike), and for each the best, 10th percentile and median of:

* the call's wall time with the default threads (what ``python -m benchmarks`` times), and
* the calling thread's CPU time with ``threads=1`` (every chunk on this thread): insensitive to
  other processes taking the cores, which on a loaded machine makes even the best wall time a
  matter of luck.

Both variants' outputs are checked against the interpreter's (SPEC's bound) before timing; the
kernel counts are printed.  ``python -m benchmarks.options_ab transformer merge_splits``.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from typing import Any

import numpy as np

from .zoo import build


def _stats(times: list[float]) -> str:
    times = sorted(times)
    return (f"best {times[0] / 1e3:9.1f}  p10 {times[len(times) // 10] / 1e3:9.1f}  "
            f"median {statistics.median(times) / 1e3:9.1f} us")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.options_ab", description=__doc__.split("\n\n")[0])
    parser.add_argument("model")
    parser.add_argument("option", help="a boolean PlanOptions field, e.g. merge_splits")
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--tiny", action="store_true", help="the zoo's toy sizes (a smoke test)")
    args = parser.parse_args(argv)

    from codegen.plan import KernelStep, PlanOptions
    from runtime.compiled import NumbaExecutor
    from runtime.interpreter import Program

    from .peers import spec_error, spec_rtol

    fields = {f.name: f for f in dataclasses.fields(PlanOptions)}
    if args.option not in fields or not isinstance(getattr(PlanOptions(), args.option), bool):
        parser.error(f"{args.option} is not a boolean PlanOptions field")
    case = build(args.model, tiny=args.tiny)
    x = case.input
    sm = case.capture_module()
    state = sm._flat_state()
    want = Program(sm.graph).run((x,), state)
    runs: dict[str, tuple[Any, str]] = {}
    for value in (False, True):
        for threads, clock in ((PlanOptions().threads, "wall"), (1, "cpu")):
            options = dataclasses.replace(PlanOptions(), threads=threads, **{args.option: value})
            ex = NumbaExecutor(sm.graph, options)
            err = spec_error(ex.run((x,), state), want)
            if not err <= spec_rtol(want):
                raise SystemExit(f"{args.option}={value}: output differs from the interpreter's: SPEC error {err:.1e}")
            runs[f"{args.option}={value} {clock}"] = (ex, clock)
        plan = ex.compiled((x,)).plan
        print(f"{args.option}={value}: {sum(isinstance(s, KernelStep) for s in plan.steps)} kernel steps, "
              f"{len(plan.steps)} steps")
    times: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(args.calls):
        for key, (ex, clock) in runs.items():
            now = time.perf_counter_ns if clock == "wall" else time.thread_time_ns
            t = now()
            ex.run((x,), state)
            times[key].append(now() - t)
    for key in sorted(runs, key=lambda k: (runs[k][1] != "wall", k)):
        label = "wall, default threads" if runs[key][1] == "wall" else "this thread's CPU, threads=1"
        print(f"  {key.split()[0]:24s} {label:30s} {_stats(times[key])}")
    return {k: float(np.min(v)) / 1e3 for k, v in times.items()}


if __name__ == "__main__":
    main()
