"""Which compile process compiles which kernel: estimated costs, and helpers compiled only where needed.

A kernel's compile costs roughly in proportion to its source (numba types and lowers it line by
line), plus, the first time a process compiles a kernel calling one of the large helpers, that
helper's own build (``transpose_copy_f32``: its LLVM IR made machine code once per process,
``codegen.mathlib_native``; about 1 s of CPU when it was a numba function, 0.2 s now).  Two
processes that both compile kernels calling ``transpose_copy_f32`` both pay for it, so where a
helper is compiled is part of the plan: before forking (every process then has it), in one
process, or in several.

:func:`plan` tries every placement of the helpers the batch uses (each one: before forking, or
in any non-empty set of processes; up to :data:`MAX_PLACEMENTS` placements, else helpers are compiled
wherever needed), gives each process the kernels that need a helper placed there (largest first,
to the least loaded process that has their helpers), leaves the kernels that need no helper
(or only ones compiled before forking) to a shared queue that whichever process is free takes
from, and keeps the placement with the earliest estimated finish.  The estimates only order
work: a process that finishes early takes from the shared queue, so a wrong estimate costs
balance, never a kernel.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import NamedTuple

__all__ = ["HELPERS", "WARM_UP", "Schedule", "estimate", "helpers_of", "plan"]

#: The helpers worth placing and the CPU seconds a process spends on its first kernel calling one
#: (its assembly from LLVM IR, ``codegen.mathlib_native``; 2-core VM, measured: 0.26 and 0.10 s
#: with a one-line kernel, which were 1.5 and 1.35 s as numba functions).
HELPERS = {
    "transpose_copy_f32(": 0.2, "transpose_copy_f64(": 0.2,
    "pairwise_sum_f32(": 0.05, "pairwise_sum_f64(": 0.05, "gemm_wt_f32(": 0.15,  # codegen.mathlib_gemm: 0.13-0.17 s
    "gemm_nn_f32(": 0.1, "gemm_taps_f32(": 0.1,  # codegen.mathlib_gemm_nn
}
#: A one-line kernel (source, name) per helper that compiles it as kernels call it (before forking).
WARM_UP = {
    "transpose_copy_f32(": ("def k_warm_tc32(f):\n    transpose_copy_f32(f[0], f[1], f[2], f[3], f[4], f[5])\n",
                            "k_warm_tc32"),
    "transpose_copy_f64(": ("def k_warm_tc64(f):\n    transpose_copy_f64(f[0], f[1], f[2], f[3], f[4], f[5])\n",
                            "k_warm_tc64"),
    "pairwise_sum_f32(": ("def k_warm_ps32(f):\n    f[0] = np.int64(pairwise_sum_f32(ptr_float32(f[1]), 0, f[2], 1))\n",
                          "k_warm_ps32"),
    "pairwise_sum_f64(": ("def k_warm_ps64(f):\n    f[0] = np.int64(pairwise_sum_f64(ptr_float64(f[1]), 0, f[2], 1))\n",
                          "k_warm_ps64"),
    # the gemms take the 11 words of a frame
    **{f"{helper}(": (f"def {name}(f):\n    {helper}({', '.join(f'f[{i}]' for i in range(11))})\n", name)
       for helper, name in (("gemm_wt_f32", "k_warm_gw32"), ("gemm_nn_f32", "k_warm_gn32"),
                            ("gemm_taps_f32", "k_warm_gt32"))},
}
#: Seconds per character of kernel source (numba's typing and lowering, LLVM), and per kernel.
PER_CHAR = 1 / 5000
PER_KERNEL = 0.03
#: Seconds this process (the first) spends per kernel of the batch loading and storing it.
PER_DELIVERY = 0.005
#: Placements tried at most (each helper: before forking or one of the 2**processes - 1 sets).
MAX_PLACEMENTS = 256


class Schedule(NamedTuple):
    """Kernels (indices) each process compiles first, in order; then the shared ones, in order;
    and the helpers to compile before forking."""

    own: list[list[int]]
    shared: list[int]
    before_fork: tuple[str, ...]
    finish: float  # the estimated seconds until the last process is done


def helpers_of(text: str) -> frozenset[str]:
    """The :data:`HELPERS` kernel source ``text`` calls."""
    return frozenset(h for h in HELPERS if h in text)


def estimate(text: str) -> float:
    """Estimated CPU seconds to compile kernel source ``text``, its helpers already compiled."""
    return PER_KERNEL + PER_CHAR * len(text)


def plan(texts: Sequence[str], processes: int) -> Schedule:
    """Assign kernel sources ``texts`` to ``processes`` compile processes (this one first).

    The ``transformer4``'s kernels: those that copy transposed blocks to one process, the ones with
    pairwise sums to the other, the rest to whichever is free:

    >>> s = plan(["transpose_copy_f32(" + "x" * 900] * 4 + ["pairwise_sum_f32(" + "x" * 1500] * 2 + ["y" * 600] * 2, 2)
    >>> s.own, s.shared, s.before_fork
    ([[4, 5], [0, 1, 2, 3]], [6, 7], ())
    """
    costs = [estimate(t) for t in texts]
    needs = [helpers_of(t) for t in texts]
    used = sorted(set().union(*needs)) if needs else []
    choices: list[frozenset[int] | None] = [frozenset(range(processes))]  # wherever needed
    if processes < 16 and (2 ** processes) ** len(used) <= MAX_PLACEMENTS:  # None: before forking
        choices = [None, *(frozenset(c) for r in range(1, processes + 1)
                           for c in itertools.combinations(range(processes), r))]
    best: Schedule | None = None
    for placement in itertools.product(choices, repeat=len(used)):
        schedule = _assign(costs, needs, dict(zip(used, placement)), processes)
        if best is None or schedule.finish < best.finish - 1e-9:
            best = schedule
    assert best is not None
    return best


def _assign(costs: list[float], needs: list[frozenset[str]], where: dict[str, frozenset[int] | None],
            processes: int) -> Schedule:
    """Kernels to processes for one placement of the helpers (``None``: before forking)."""
    before = tuple(h for h, at in where.items() if at is None)
    serial = sum(HELPERS[h] for h in before)
    load = [0.0] * processes
    load[0] = PER_DELIVERY * len(costs)
    for h, at in where.items():
        for p in at or ():
            load[p] += HELPERS[h]
    own: list[list[int]] = [[] for _ in range(processes)]
    shared: list[int] = []
    for i in sorted(range(len(costs)), key=lambda i: -costs[i]):
        placed = [where[h] for h in needs[i] if where[h] is not None]
        if not placed:
            shared.append(i)
            continue
        allowed = [p for p in range(processes) if all(p in at for at in placed)]
        if not allowed:
            return Schedule(own, shared, before, float("inf"))
        p = min(allowed, key=lambda p: load[p])
        own[p].append(i)
        load[p] += costs[i]
    for i in shared:  # whoever is free takes the next one
        p = min(range(processes), key=lambda p: load[p])
        load[p] += costs[i]
    return Schedule(own, shared, before, serial + max(load))
