"""Our own worker threads for kernels: chunks handed out in native code, no Python per chunk.

A kernel whose outermost loop is split runs as ``n`` *chunks* (one frame each, see
``codegen.plan``).  :class:`Pool` (``tracer_pool_run``) hands them to this process's workers and
the calling thread alike: everyone claims the next chunk with one atomic compare-and-swap until none is left,
so a worker that is not scheduled before the caller is done costs nothing but its chunk, which the
caller then runs itself.  The hand-off is a store to shared memory: workers spin on it for about
1.6 ms after their last chunk (so the next kernel of the same call starts at once) and then sleep
on a futex, woken by the next post.

A worker that loses its core *after* claiming a chunk (the other core busy) would hold the caller
for a scheduler slice, milliseconds: a claimed chunk cannot be taken back.  So the caller times
each shared run, and after a *stall* (a wait for the workers longer than running their chunks
itself would have taken, or a worker's recent report that it lost its core while it spun) it runs the
next ``backoff`` kernels alone, then tries sharing again; each stall in a row doubles ``backoff``
(16 runs to 64), shared runs without one shorten it.  A caller that keeps being preempted while
it shares (another program wants the cores) runs alone for ~200 ms (``codegen.pool_backoff`` has
the rules).
:meth:`Pool.stats` counts stalls and lone runs; ``TRACER_POOL_BACKOFF=0`` turns the back-off off.

The loop, the claims, the back-off and the sleeping are ~300 lines of LLVM IR
(``codegen.pool_ir``) compiled by llvmlite at first use (a few milliseconds; no numba) and cached
on disk beside the kernels, so a process whose kernels are cached links it without LLVM
(``codegen.native.load_ir``).  Workers are Python threads that call the worker loop through
``ctypes`` (which releases the GIL) and stay in it.  Linux on x86-64 or AArch64 only (futex
numbers); elsewhere :func:`get_pool` is ``None`` and split kernels run their chunks on a
``ThreadPoolExecutor`` (``runtime.compiled``).

The control block is one int64 array; each field of the hand-off on its own cache line:

====  =========================================================================================
word  meaning
====  =========================================================================================
0     ``seq``: task number (low 32 bits: the futex word workers sleep on)
8     the task: kernel address, frame base, address of the chunk offsets (int64), chunk count
16    ``next``: ``seq << 32 | index`` of the next chunk to claim
24    ``done``: chunks finished
32    ``sleepers``: workers asleep on ``seq``
40    ``busy``: 1 while a caller owns the pool (another caller runs its chunks itself)
48    ``quit``
56    the back-off, the owner's alone: runs left to run alone, the next back-off, good shared
      runs in a row, the shortest and longest back-off (longest 0: never back off), and counts
      of stalls, lone runs and shared runs
64    ``late``: when a worker lost its core while it spun (its clock; the owner clears it), then a
      count of the reports taken for a stall; then the owner's preemption look: run alone until
      this clock, its involuntary switches and clock at the last look, a count of spells alone, its
      thread id
====  =========================================================================================
"""

from __future__ import annotations

import atexit
import ctypes
import os
import threading

import numpy as np

from . import pool_ir as layout
from .pool_ir import has_pool_ir, pool_ir

__all__ = ["Pool", "get_pool", "native_pool_available", "SHORTEST_BACKOFF", "LONGEST_BACKOFF"]

#: kernels a caller runs alone after its first stall (it doubles with each stall after a probe)
SHORTEST_BACKOFF = 16
#: the most it grows to: a longer lone stretch outlasts the contention that caused it (another
#: runtime's spinning threads, a busy neighbour that stopped), so the pool probes again soon
#: (1024 runs are whole models of the benchmark run alone after a few stalls)
LONGEST_BACKOFF = 64

_RUN_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                             ctypes.c_int64)
_WORKER_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_CLOCK_TYPE = ctypes.CFUNCTYPE(ctypes.c_int64)
_LOCK = threading.Lock()
_POOLS: dict[int, Pool] = {}
_CODE: tuple | None = None


def _compile() -> tuple | None:
    """(None, run address, worker address, stop address, clock address), compiled once per process (and cached on
    disk beside the kernels, ``codegen.native.load_ir``); ``None`` off Linux."""
    global _CODE
    if _CODE is None:
        text = pool_ir()
        if text is None:
            _CODE = (None, 0, 0, 0, 0)
        else:
            from .native import load_ir

            _CODE = (None, *load_ir(text, ("tracer_pool_run", "tracer_pool_worker", "tracer_pool_stop",
                                                  "tracer_pool_now"), "pool"))
    return _CODE if _CODE[1] else None


class Pool:
    """``workers`` threads (besides each caller) that run kernel chunks; see the module docstring."""

    def __init__(self, workers: int) -> None:
        code = _compile()
        assert code is not None
        self.workers = workers
        raw = np.zeros(layout.WORDS + 8, np.int64)
        start = (-raw.ctypes.data % 64) // 8
        self.ctrl = raw[start:start + layout.WORDS]
        self.set_backoff(SHORTEST_BACKOFF, LONGEST_BACKOFF)
        self.address = self.ctrl.ctypes.data
        self.run_address = code[1]
        self.run = _RUN_TYPE(code[1])
        worker = _WORKER_TYPE(code[2])
        self.stop_native = _WORKER_TYPE(code[3])
        self.now = _CLOCK_TYPE(code[4])  # the clock workers stamp a late report with
        self.threads = [threading.Thread(target=worker, args=(self.address,), name=f"tracer-kernel-{i}", daemon=True)
                        for i in range(workers)]
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        """Let the workers leave their loop and end (at exit: they must not poll freed memory)."""
        self.stop_native(self.address)
        for t in self.threads:
            t.join(timeout=1.0)

    def __call__(self, fn: int, base: int, offsets: np.ndarray) -> None:
        """Run chunks ``fn(base + offsets[i])`` for every ``i`` (``offsets``: int64, held by the caller)."""
        self.run(self.address, fn, base, offsets.ctypes.data, len(offsets), 1)

    def set_backoff(self, shortest: int, longest: int) -> None:
        """Back off for ``shortest`` runs after a stall, doubling up to ``longest`` (0: never back
        off, share every run); forgets the current back-off.  Call it while no kernel runs."""
        assert shortest > 0 and longest >= 0
        c = self.ctrl
        c[layout.SOLO], c[layout.BACKOFF], c[layout.STREAK], c[layout.UNTIL] = 0, shortest, 0, 0
        c[layout.SHORTEST], c[layout.LONGEST] = shortest, longest

    def stats(self) -> dict[str, int]:
        """Counts since the pool started: ``shared`` runs (posted to the workers), ``stalls`` among
        them (``late``: of which a worker's report that it lost its core while it spun), ``solo``
        runs (all chunks on the caller while backing off), ``preempted`` spells alone (the caller
        kept being preempted while it shared), and the back-off state:
        ``backoff_left`` runs still to run alone, ``backoff`` the length of the next."""
        c = self.ctrl
        return {"shared": int(c[layout.SHARED_RUNS]), "stalls": int(c[layout.STALLS]),
                "late": int(c[layout.LATES]), "solo": int(c[layout.SOLO_RUNS]),
                "preempted": int(c[layout.PREEMPTS]),
                "backoff_left": int(c[layout.SOLO]), "backoff": int(c[layout.BACKOFF])}


def native_pool_available() -> bool:
    """Whether :func:`get_pool` gives native workers here (Linux on x86-64 or AArch64, and not
    turned off with ``TRACER_NATIVE_POOL=0``); cheap, compiles nothing."""
    return has_pool_ir() and os.environ.get("TRACER_NATIVE_POOL", "1").strip() not in ("0", "off", "no")


def get_pool(threads: int) -> Pool | None:
    """This process's pool for kernels split ``threads`` ways (``threads - 1`` workers), or ``None``
    where there is no native pool (then the caller uses Python threads)."""
    if threads < 2 or not native_pool_available():
        return None
    key = threads - 1
    pool = _POOLS.get(key)
    if pool is None:
        with _LOCK:
            pool = _POOLS.get(key)
            if pool is None:
                if _compile() is None:
                    return None
                pool = _POOLS[key] = Pool(key)
                if os.environ.get("TRACER_POOL_BACKOFF", "1").strip() in ("0", "off", "no"):
                    pool.set_backoff(SHORTEST_BACKOFF, 0)  # share every run, stalls or not
    return pool


def _after_fork() -> None:
    _POOLS.clear()  # the child has none of the parent's threads


def _stop_all() -> None:
    with _LOCK:
        pools = list(_POOLS.values())
        _POOLS.clear()
    for pool in pools:
        pool.stop()
    _KEEP.extend(pools)  # a worker that did not end in time still reads its control block: never free it


_KEEP: list = []
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork)
atexit.register(_stop_all)
