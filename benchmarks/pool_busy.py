"""``python -m benchmarks.pool_busy [MODEL,MODEL ...] [--rounds N] [--calls N]``: the kernel pool's
back-off, A/B in one process, with the other core quiet and then busy.

Three ways to run the same compiled zoo models, taking turns in blocks of ``--calls`` calls
(each round in another order), first as the machine is, then beside a CPU-bound process
(``benchmarks.peers.busy_process``): ``adaptive``, ``codegen.pool`` as it runs (it backs off after
a stall); ``shared``, every split kernel shared with the workers (no back-off: the pool before
it had one); ``solo``, every chunk on the calling thread (the pool's ``busy`` word held, as when
another caller owns it).  Per model and way: the median and the 25th percentile of the calls, ms,
and for ``adaptive`` the pool's counts over its blocks (runs shared, stalls of which late
reports, runs alone).
"""

from __future__ import annotations

import sys
import time
from typing import Any

import numpy as np

from codegen import pool_ir
from codegen.pool import get_pool

from .peers import busy_process
from .zoo import build

WAYS = ("adaptive", "shared", "solo")
_BACKOFF = slice(pool_ir.SOLO, pool_ir.LONGEST + 1)


class _Ways:
    """Switches the pool between the ways; ``adaptive`` keeps its back-off across its blocks."""

    def __init__(self, pool: Any) -> None:
        self.pool, self.now, self.saved, self.until = pool, "adaptive", pool.ctrl[_BACKOFF].copy(), 0

    def use(self, way: str) -> None:
        c = self.pool.ctrl
        if self.now == "adaptive":
            self.saved, self.until = c[_BACKOFF].copy(), int(c[pool_ir.UNTIL])
        c[pool_ir.BUSY] = int(way == "solo")
        if way == "adaptive":
            c[_BACKOFF], c[pool_ir.UNTIL] = self.saved, self.until
        else:
            c[pool_ir.SOLO], c[pool_ir.LONGEST], c[pool_ir.UNTIL] = 0, 0, 0
        self.now = way


def _block(fn: Any, x: Any, calls: int) -> list[int]:
    times = []
    for _ in range(calls):
        t = time.perf_counter_ns()
        fn(x)
        times.append(time.perf_counter_ns() - t)
    return times


def measure(names: list[str], rounds: int = 8, calls: int = 40) -> dict:
    """{(phase, model, way): call times in ns}, and {(phase, model): the adaptive pool's counts}."""
    cases = {}
    for name in names:
        case = build(name)
        sm = case.capture_module()
        sm(case.input)
        cases[name] = (sm, case.input)
    pool = get_pool(2)
    if pool is None:
        raise SystemExit("no native kernel pool here (codegen.pool)")
    ways = _Ways(pool)
    times: dict = {}
    counts: dict = {}
    for phase in ("quiet", "busy"):
        busy = busy_process() if phase == "busy" else None
        time.sleep(0.3)
        try:
            for r in range(rounds):
                order = WAYS[r % 3:] + WAYS[:r % 3]
                for name, (sm, x) in cases.items():
                    for way in order:
                        ways.use(way)
                        _block(sm, x, 3)
                        before = pool.stats()
                        times.setdefault((phase, name, way), []).extend(_block(sm, x, calls))
                        if way == "adaptive":
                            after = pool.stats()
                            total = counts.setdefault((phase, name), dict.fromkeys(("shared", "stalls", "late",
                                                                                    "solo"), 0))
                            for k in total:
                                total[k] += after[k] - before[k]
        finally:
            ways.use("adaptive")
            if busy is not None:
                busy.kill()
                busy.wait()
    return {"times": times, "counts": counts}


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    rounds = int(args[args.index("--rounds") + 1]) if "--rounds" in args else 8
    calls = int(args[args.index("--calls") + 1]) if "--calls" in args else 40
    flags = {i + 1 for i, a in enumerate(args) if a in ("--rounds", "--calls")}
    names = [n for i, a in enumerate(args) if not a.startswith("--") and i not in flags for n in a.split(",")]
    got = measure(names or ["mlp", "cnn", "transformer", "gpt"], rounds, calls)
    print("ms per call, median / 25th percentile; adaptive: runs shared, stalls (late), alone")
    print(f"{'':6s}{'model':13s}" + "".join(f"{w:>20s}" for w in WAYS))
    for (phase, name), c in got["counts"].items():
        cells = []
        for way in WAYS:
            t = np.array(got["times"][(phase, name, way)]) / 1e6
            cells.append(f"{np.median(t):.3f} / {np.percentile(t, 25):.3f}")
        print(f"{phase:6s}{name:13s}" + "".join(f"{c_:>20s}" for c_ in cells)
              + f"    {c['shared']} {c['stalls']} ({c['late']}) {c['solo']}")


if __name__ == "__main__":
    main()
