"""codegen.pool's back-off: after a stalled worker (or a worker's report that it lost its core),
the caller runs the next kernels alone, then shares again; every chunk still runs exactly once.

Chunks here are Python callbacks (``ctypes``: a worker takes the GIL to run one), so a test
decides which thread holds which chunk and for how long; the asserts are on counts and on the
threads that ran the chunks, never on speed.
"""

from __future__ import annotations

import ctypes
import json
import os
import resource
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

from codegen import pool_ir
from codegen.cache import get_kernel
from codegen.plan import PlanOptions
from codegen.pool import LONGEST_BACKOFF, SHORTEST_BACKOFF, Pool, get_pool, native_pool_available
from tests.codegen.helpers import assert_close, run_both, trace_quietly
from tests.codegen.test_threads import _COUNT, _chunk_frames, f32
from tracer import nn

pytestmark = pytest.mark.skipif(not native_pool_available(), reason="no native worker pool on this platform")

_CHUNK = ctypes.CFUNCTYPE(None, ctypes.c_void_p)


class Chunks:
    """Two chunks as one Python "kernel" that record the thread that ran each.

    In a ``shared`` run each chunk waits (up to 10 s) until the other has started, so that the
    caller and a worker run one each; with ``stall`` the worker's chunk then holds on, until the
    caller's chunk is done and three times as long as the run has taken so far (at least 0.1 s):
    the caller waits far longer for it than its own chunk took, which is a stall.
    """

    def __init__(self) -> None:
        self.fn = _CHUNK(self._run)
        self.address = ctypes.cast(self.fn, ctypes.c_void_p).value
        self.offsets = np.array([8, 16], np.int64)  # frame "addresses" 8 and 16: chunks 0 and 1
        self.caller = threading.get_ident()

    def run(self, pool: Pool, shared: bool = False, stall: bool = False, hold: float = 0.0) -> list[bool]:
        """Run both chunks through ``pool``; for each, whether the calling thread ran it (``hold``:
        seconds the caller's own chunk takes once both have started)."""
        self.shared, self.stall, self.hold, self.by = shared, stall, hold, [None, None]
        self.caller_started, self.worker_started, self.caller_done = (threading.Event() for _ in range(3))
        self.start = time.monotonic()
        pool(self.address, 0, self.offsets)
        assert None not in self.by, "every chunk ran"
        return [b == self.caller for b in self.by]

    def _run(self, frame: int) -> None:
        me = threading.get_ident()
        assert self.by[frame // 8 - 1] is None, "a chunk ran twice"
        self.by[frame // 8 - 1] = me
        if not self.shared:
            return
        if me == self.caller:
            self.caller_started.set()
            self.worker_started.wait(10.0)
            time.sleep(self.hold)
            self.caller_done.set()
        else:
            self.worker_started.set()
            self.caller_started.wait(10.0)  # or the worker may claim the other chunk too
            if self.stall:
                self.caller_done.wait(10.0)
                time.sleep(max(0.1, 3 * (time.monotonic() - self.start)))


@pytest.fixture
def pool():
    p = Pool(1)
    p.set_backoff(4, 64)
    deadline = time.monotonic() + 30
    while p.ctrl[pool_ir.SLEEPERS] == 0 and time.monotonic() < deadline:
        time.sleep(0.001)  # a worker sees tasks posted after it entered its loop: wait till it sleeps there
    yield p
    p.stop()


def test_a_stalled_worker_makes_the_caller_run_alone_then_share_again(pool):
    chunks = Chunks()
    assert sorted(chunks.run(pool, shared=True, stall=True)) == [False, True], "the worker took a chunk"
    stats = pool.stats()
    assert (stats["shared"], stats["stalls"], stats["solo"], stats["backoff_left"]) == (1, 1, 0, 4)
    for _ in range(4):  # backing off: both chunks on the caller, the worker is not posted to
        assert chunks.run(pool) == [True, True]
    stats = pool.stats()
    assert (stats["shared"], stats["solo"], stats["backoff_left"]) == (1, 4, 0)
    # the back-off is over: the next run is shared again; a second stall doubles the back-off
    assert sorted(chunks.run(pool, shared=True, stall=True)) == [False, True]
    stats = pool.stats()
    assert (stats["shared"], stats["stalls"], stats["backoff_left"], stats["backoff"]) == (2, 2, 8, 16)
    for _ in range(8):
        assert chunks.run(pool) == [True, True]
    assert sorted(chunks.run(pool, shared=True)) == [False, True], "shared again after the second back-off"
    stats = pool.stats()
    assert (stats["shared"], stats["solo"]) == (3, 12)


def test_a_long_run_is_never_a_stall(pool):
    # the caller's own chunk took 30 ms (over LONG_RUN late gaps): a worker that then held on for
    # three times as long cost less than running the next runs alone would
    chunks = Chunks()
    assert sorted(chunks.run(pool, shared=True, stall=True, hold=0.03)) == [False, True]
    stats = pool.stats()
    assert (stats["shared"], stats["stalls"], stats["backoff_left"]) == (1, 0, 0)
    assert sorted(chunks.run(pool, shared=True)) == [False, True], "the next run is shared"


def test_the_back_off_doubles_up_to_its_longest_and_good_runs_shorten_it(pool):
    pool.set_backoff(2, 8)
    chunks = Chunks()
    lengths = []
    for _ in range(4):
        chunks.run(pool, shared=True, stall=True)
        lengths.append(pool.stats()["backoff_left"])
        for _ in range(lengths[-1]):
            assert chunks.run(pool) == [True, True]
    assert lengths == [2, 4, 8, 8]
    # GOOD shared runs in a row halve it; a worker's late report may count as a stall on a busy
    # machine, so only its bounds are sure
    for _ in range(pool_ir.GOOD):
        chunks.run(pool, shared=True)
        for _ in range(pool.stats()["backoff_left"]):
            chunks.run(pool)
    assert 2 <= pool.stats()["backoff"] <= 8


def test_a_workers_late_report_counts_as_a_stall(pool):
    chunks = Chunks()
    pool.ctrl[pool_ir.LATE] = pool.now()  # as a worker writes it when two of its polls were far apart
    chunks.run(pool, shared=True)
    stats = pool.stats()
    assert stats["late"] == 1 and stats["stalls"] >= 1 and stats["backoff_left"] == 4
    assert pool.ctrl[pool_ir.LATE] == 0, "the owner took the report"
    assert chunks.run(pool) == [True, True]


def test_an_old_late_report_is_dropped():
    # a worker that lost its core while it spun beside another program, then slept: by the next
    # run, seconds later, the core may be free; the report is cleared, not taken for a stall.
    # No workers: the caller runs every chunk, so only the report can make a stall (no timing)
    pool = Pool(0)
    pool.set_backoff(4, 64)
    kernel = get_kernel(_COUNT, "k_count")
    out = np.zeros(100, np.int64)
    frames, offsets = _chunk_frames(out, 4)
    try:
        stamp = pool.now()
        time.sleep(0.05)
        for old in (stamp, 1):
            pool.ctrl[pool_ir.LATE] = old
            pool(kernel.address, frames.ctypes.data, offsets)
            stats = pool.stats()
            assert (stats["late"], stats["stalls"], stats["solo"], stats["backoff_left"]) == (0, 0, 0, 0)
            assert pool.ctrl[pool_ir.LATE] == 0, "the owner cleared the report"
        for _ in range(3):  # a fresh one is taken (unless this thread lost its core ~2 ms right here)
            pool.ctrl[pool_ir.LATE] = pool.now()
            pool(kernel.address, frames.ctypes.data, offsets)
            if pool.stats()["late"]:
                break
        stats = pool.stats()
        assert (stats["late"], stats["stalls"], stats["backoff_left"]) == (1, 1, 4)
        np.testing.assert_array_equal(out, stats["shared"])
    finally:
        pool.stop()


def test_without_a_back_off_every_run_is_shared(pool):
    pool.set_backoff(4, 0)
    chunks = Chunks()
    pool.ctrl[pool_ir.LATE] = pool.now()
    chunks.run(pool, shared=True, stall=True)
    for _ in range(3):
        assert sorted(chunks.run(pool, shared=True)) == [False, True]
    stats = pool.stats()
    assert (stats["shared"], stats["stalls"], stats["solo"]) == (4, 0, 0)


def test_every_chunk_runs_exactly_once_while_backing_off(pool):
    kernel = get_kernel(_COUNT, "k_count")
    out = np.zeros(1000, np.int64)
    frames, offsets = _chunk_frames(out, 7)
    for i in range(400):
        if i % 40 == 0:
            pool.ctrl[pool_ir.LATE] = pool.now()
        pool(kernel.address, frames.ctypes.data, offsets)
    np.testing.assert_array_equal(out, 400)
    stats = pool.stats()
    assert stats["late"] >= 1 and stats["solo"] >= 4 and stats["shared"] + stats["solo"] == 400


def test_a_model_gives_the_same_results_shared_and_backing_off():
    m = nn.Sequential(nn.Linear(128, 256), nn.ReLU(), nn.Linear(256, 64)).eval()
    x = f32(64, 128)
    sm = trace_quietly(m, (x,))
    pool = get_pool(2)
    try:
        got, want, ex = run_both(sm, (x,), PlanOptions(parallel_work=1))  # compiled before the reports
        assert_close(got, want)
        assert ex.compiled((x,)).pool is pool
        state = sm._flat_state()
        for late in (False, True, False):
            pool.set_backoff(8, 8)  # shares the next run, which takes the report
            pool.ctrl[pool_ir.LATE] = pool.now() if late else 0
            before = pool.stats()
            assert_close(ex.run((x,), state), want)
            if late:
                assert pool.stats()["late"] == before["late"] + 1
    finally:
        pool.set_backoff(SHORTEST_BACKOFF, LONGEST_BACKOFF)


def test_a_fresh_process_links_the_pool_and_backs_off_unless_told_not_to(tmp_path):
    # the pool's IR is compiled once and cached on disk: the second process links the cached object
    script = """
import json, numpy as np
from codegen import pool_ir
from codegen.cache import get_kernel
from codegen.pool import get_pool
from tests.codegen.test_threads import _COUNT, _chunk_frames
pool = get_pool(2)
kernel = get_kernel(_COUNT, "k_count")
out = np.zeros(500, np.int64)
frames, offsets = _chunk_frames(out, 4)
for _ in range(100):
    # a fresh report before every run: a fresh process's first runs can take a millisecond or
    # two (first touches), enough to age a single report out
    pool.ctrl[pool_ir.LATE] = pool.now()
    pool(kernel.address, frames.ctypes.data, offsets)
print(json.dumps({"right": bool((out == 100).all()), **pool.stats()}))
"""
    env = dict(os.environ, TRACER_CACHE_DIR=str(tmp_path))
    env.pop("TRACER_POOL_BACKOFF", None)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    for backoff in ("1", "1", "0"):
        proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, cwd=root,
                              env=dict(env, TRACER_POOL_BACKOFF=backoff))
        assert proc.returncode == 0, proc.stderr
        got = json.loads(proc.stdout.strip().splitlines()[-1])
        assert got["right"]
        if backoff == "1":
            assert got["late"] >= 1 and got["solo"] >= SHORTEST_BACKOFF
        else:  # turned off: every run shared, a late report or not
            assert got["solo"] == got["stalls"] == 0 and got["shared"] == 100
    assert list(tmp_path.glob("*/support/pool-*.o")), "the pool's object is cached"


def _ticks_per_ms(pool: Pool) -> float:
    t0, c0 = time.perf_counter(), pool.now()
    time.sleep(0.02)
    return (pool.now() - c0) / ((time.perf_counter() - t0) * 1e3)


def _looked(pool: Pool, ago_ms: float, switches: int) -> None:
    """As if the owner last counted its involuntary context switches ``ago_ms`` ago, ``switches``
    fewer than it has now (getrusage, this thread: the one that calls the pool)."""
    pool.ctrl[pool_ir.OWNER_TID] = threading.get_native_id()
    pool.ctrl[pool_ir.CHECKED] = pool.now() - int(ago_ms * _ticks_per_ms(pool))
    pool.ctrl[pool_ir.NIVCSW] = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw - switches


def test_a_caller_preempted_while_sharing_runs_alone_for_a_while():
    # another program wants the cores: this thread was preempted PREEMPTED times in ~20 ms of
    # shared runs.  No workers: only the look at the switches can make the caller run alone
    pool = Pool(0)
    kernel = get_kernel(_COUNT, "k_count")
    out = np.zeros(100, np.int64)
    frames, offsets = _chunk_frames(out, 4)
    try:
        tries = 0
        while tries < 5:  # on a loaded machine this thread may wait past the 40 ms window
            tries += 1
            _looked(pool, 15, pool_ir.PREEMPTED)
            pool(kernel.address, frames.ctypes.data, offsets)  # shared: it looks, and holds off sharing
            if pool.stats()["preempted"]:
                break
        stats = pool.stats()
        assert (stats["shared"], stats["preempted"], stats["stalls"]) == (tries, 1, 0)
        assert pool.ctrl[pool_ir.UNTIL] > pool.now(), "alone until a deadline (~200 ms)"
        for _ in range(5):
            pool(kernel.address, frames.ctypes.data, offsets)
        stats = pool.stats()
        assert (stats["shared"], stats["solo"]) == (tries, 5), "alone while the deadline lasts"
        pool.ctrl[pool_ir.UNTIL] = pool.now() - 1  # the deadline passed: shared again
        pool(kernel.address, frames.ctypes.data, offsets)
        assert pool.stats()["shared"] == tries + 1
        np.testing.assert_array_equal(out, tries + 6)
    finally:
        pool.stop()


_SLOW_CHUNK = _CHUNK(lambda frame: time.sleep(0.003))  # a chunk of a long run (LONG_RUN: ~2 ms)


@pytest.mark.parametrize("case", ["few switches", "an old look", "back-off off", "another thread's look",
                                  "a long run"])
def test_no_preempted_spell_without_recent_involuntary_switches(case):
    pool = Pool(0)
    kernel = get_kernel(_COUNT, "k_count")
    address = ctypes.cast(_SLOW_CHUNK, ctypes.c_void_p).value if case == "a long run" else kernel.address
    out = np.zeros(100, np.int64)
    frames, offsets = _chunk_frames(out, 4)
    try:
        if case == "back-off off":
            pool.set_backoff(SHORTEST_BACKOFF, 0)
        # sleeping is a voluntary switch, never counted; an old look (a caller idle for a second)
        # says nothing about the last 40 ms
        for _ in range(5):  # a loaded machine may really preempt this thread 3 times: try again
            before = resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw
            _looked(pool, 1000 if case == "an old look" else 15, 0 if case == "few switches" else 100)
            if case == "another thread's look":  # its count of switches is not this thread's
                pool.ctrl[pool_ir.OWNER_TID] += 1
            pool(address, frames.ctypes.data, offsets)
            if resource.getrusage(resource.RUSAGE_THREAD).ru_nivcsw - before < pool_ir.PREEMPTED:
                break
        stats = pool.stats()
        assert stats["preempted"] == 0 and stats["solo"] == 0
    finally:
        pool.stop()
