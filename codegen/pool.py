"""Our own worker threads for kernels: chunks handed out in native code, no Python per chunk.

A kernel whose outermost loop is split runs as ``n`` *chunks* (one frame each, see
``codegen.plan``).  :func:`run_chunks` hands them to this process's workers and the calling
thread alike: everyone claims the next chunk with one atomic compare-and-swap until none is left,
so a worker that is not scheduled (the other core busy) costs nothing but its chunk, which the
caller then runs itself.  The hand-off is a store to shared memory: workers spin on it for about
0.1 ms after their last chunk (so the next kernel of the same call starts at once) and then sleep
on a futex, woken by the next post.

The loop, the claims and the sleeping are ~100 lines of LLVM IR (below) compiled by llvmlite at
first use (a few milliseconds; no numba) and cached on disk beside the kernels, so a process
whose kernels are cached links it without LLVM (``codegen.native.load_ir``).  Workers are Python
threads that call the worker loop through ``ctypes`` (which releases the GIL) and stay in it.
Linux on x86-64 or AArch64 only (futex numbers); elsewhere :func:`get_pool` is ``None`` and split
kernels run their chunks on a ``ThreadPoolExecutor`` (``runtime.compiled``).

The control block is one int64 array; each field on its own cache line:

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
====  =========================================================================================
"""

from __future__ import annotations

import atexit
import ctypes
import os
import platform
import sys
import threading

import numpy as np

__all__ = ["Pool", "get_pool", "native_pool_available"]

_SEQ, _TASK, _NEXT, _DONE, _SLEEPERS, _BUSY, _QUIT = 0, 8, 16, 24, 32, 40, 48
_WORDS = 64
_SPIN_TICKS = 1 << 22  # time-stamp counter ticks a worker polls before it sleeps: 1.6 ms at 2.6 GHz
_SPIN_POLLS = 1 << 15  # the same where there is no such counter
_FUTEX = {"x86_64": 202, "amd64": 202, "aarch64": 98, "arm64": 98}

_IR = r"""
declare i64 @syscall(i64, ...)
declare i32 @sched_yield()
{pause_decl}

define private void @pause() {{
  {pause_call}
  ret void
}}

; a clock for spinning: the time-stamp counter on x86, else a count of polls
define private i64 @clock() {{
  {clock}
}}

define private i32* @seqword(i64* %ctrl) {{
  %p = bitcast i64* %ctrl to i32*
  ret i32* %p
}}

; claim and run chunks of task %seq until none is left
define private void @claim(i64* %ctrl, i64 %seq, i64 %fn, i64 %base, i64* %offs, i64 %n) {{
entry:
  %nextp = getelementptr i64, i64* %ctrl, i64 {next}
  %donep = getelementptr i64, i64* %ctrl, i64 {done}
  %kernel = inttoptr i64 %fn to void (i64*)*
  %tag = shl i64 %seq, 32
  br label %loop
loop:
  %v = load atomic i64, i64* %nextp seq_cst, align 8
  %vseq = and i64 %v, -4294967296
  %same = icmp eq i64 %vseq, %tag
  br i1 %same, label %check, label %out
check:
  %idx = and i64 %v, 4294967295
  %more = icmp ult i64 %idx, %n
  br i1 %more, label %try, label %out
try:
  %v1 = add i64 %v, 1
  %r = cmpxchg i64* %nextp, i64 %v, i64 %v1 seq_cst seq_cst
  %ok = extractvalue {{ i64, i1 }} %r, 1
  br i1 %ok, label %run, label %loop
run:
  %offp = getelementptr i64, i64* %offs, i64 %idx
  %off = load i64, i64* %offp, align 8
  %frame = add i64 %base, %off
  %framep = inttoptr i64 %frame to i64*
  call void %kernel(i64* %framep)
  %old = atomicrmw add i64* %donep, i64 1 seq_cst
  br label %loop
out:
  ret void
}}

define void @tracer_pool_worker(i64* %ctrl) {{
entry:
  %seqp64 = getelementptr i64, i64* %ctrl, i64 {seq}
  %seqp = call i32* @seqword(i64* %seqp64)
  %quitp = getelementptr i64, i64* %ctrl, i64 {quit}
  %sleepp = getelementptr i64, i64* %ctrl, i64 {sleepers}
  %fnp = getelementptr i64, i64* %ctrl, i64 {task}
  %basep = getelementptr i64, i64* %ctrl, i64 {task1}
  %offsp = getelementptr i64, i64* %ctrl, i64 {task2}
  %np = getelementptr i64, i64* %ctrl, i64 {task3}
  %first = load atomic i32, i32* %seqp seq_cst, align 8
  br label %wait
wait:
  %last = phi i32 [ %first, %entry ], [ %last, %spin ], [ %last, %slept ], [ %s, %ran ]
  %start = phi i64 [ 0, %entry ], [ %since, %spin ], [ 0, %slept ], [ 0, %ran ]
  %q = load atomic i64, i64* %quitp seq_cst, align 8
  %stop = icmp ne i64 %q, 0
  br i1 %stop, label %exit, label %poll
poll:
  %s = load atomic i32, i32* %seqp seq_cst, align 8
  %new = icmp ne i32 %s, %last
  br i1 %new, label %work, label %idle
idle:
  %now = call i64 @clock()
  %fresh = icmp eq i64 %start, 0
  %since = select i1 %fresh, i64 %now, i64 %start
  %waited = sub i64 %now, %since
  %long = icmp ugt i64 %waited, {spin}
  br i1 %long, label %sleep, label %spin
spin:
  call void @pause()
  br label %wait
sleep:
  %a = atomicrmw add i64* %sleepp, i64 1 seq_cst
  %lastw = zext i32 %last to i64
  %ignored = call i64 (i64, ...) @syscall(i64 {futex}, i32* %seqp, i64 128, i64 %lastw, i8* null)
  %b = atomicrmw sub i64* %sleepp, i64 1 seq_cst
  br label %slept
slept:
  br label %wait
work:
  %fn = load atomic i64, i64* %fnp seq_cst, align 8
  %base = load atomic i64, i64* %basep seq_cst, align 8
  %offsi = load atomic i64, i64* %offsp seq_cst, align 8
  %n = load atomic i64, i64* %np seq_cst, align 8
  %offs = inttoptr i64 %offsi to i64*
  %s64 = zext i32 %s to i64
  call void @claim(i64* %ctrl, i64 %s64, i64 %fn, i64 %base, i64* %offs, i64 %n)
  br label %ran
ran:
  br label %wait
exit:
  ret void
}}

; workers leave their loop (at exit: before the control block is freed)
define void @tracer_pool_stop(i64* %ctrl) {{
  %quitp = getelementptr i64, i64* %ctrl, i64 {quit}
  store atomic i64 1, i64* %quitp seq_cst, align 8
  %seqp64 = getelementptr i64, i64* %ctrl, i64 {seq}
  %seqp = call i32* @seqword(i64* %seqp64)
  %old = atomicrmw add i32* %seqp, i32 1 seq_cst
  %w = call i64 (i64, ...) @syscall(i64 {futex}, i32* %seqp, i64 129, i64 2147483647)
  ret void
}}

; run chunks offs[0..n) of kernel %fn (frames at %base + offs[i]) on the pool and this thread
define void @tracer_pool_run(i64* %ctrl, i64 %fn, i64 %base, i64* %offs, i64 %n, i64 %wakeup) {{
entry:
  %busyp = getelementptr i64, i64* %ctrl, i64 {busy}
  %r = cmpxchg i64* %busyp, i64 0, i64 1 seq_cst seq_cst
  %mine = extractvalue {{ i64, i1 }} %r, 1
  br i1 %mine, label %post, label %alone
alone:
  %kernel = inttoptr i64 %fn to void (i64*)*
  br label %aloop
aloop:
  %i = phi i64 [ 0, %alone ], [ %i1, %abody ]
  %amore = icmp ult i64 %i, %n
  br i1 %amore, label %abody, label %aout
abody:
  %offp = getelementptr i64, i64* %offs, i64 %i
  %off = load i64, i64* %offp, align 8
  %frame = add i64 %base, %off
  %framep = inttoptr i64 %frame to i64*
  call void %kernel(i64* %framep)
  %i1 = add i64 %i, 1
  br label %aloop
aout:
  ret void
post:
  %seqp64 = getelementptr i64, i64* %ctrl, i64 {seq}
  %seqp = call i32* @seqword(i64* %seqp64)
  %old = load atomic i32, i32* %seqp seq_cst, align 8
  %s = add i32 %old, 1
  %s64 = zext i32 %s to i64
  %tag = shl i64 %s64, 32
  %nextp = getelementptr i64, i64* %ctrl, i64 {next}
  store atomic i64 %tag, i64* %nextp seq_cst, align 8
  %fnp = getelementptr i64, i64* %ctrl, i64 {task}
  store atomic i64 %fn, i64* %fnp seq_cst, align 8
  %basep = getelementptr i64, i64* %ctrl, i64 {task1}
  store atomic i64 %base, i64* %basep seq_cst, align 8
  %offsp = getelementptr i64, i64* %ctrl, i64 {task2}
  %offsi = ptrtoint i64* %offs to i64
  store atomic i64 %offsi, i64* %offsp seq_cst, align 8
  %np = getelementptr i64, i64* %ctrl, i64 {task3}
  store atomic i64 %n, i64* %np seq_cst, align 8
  %donep = getelementptr i64, i64* %ctrl, i64 {done}
  store atomic i64 0, i64* %donep seq_cst, align 8
  store atomic i32 %s, i32* %seqp seq_cst, align 8
  %sleepp = getelementptr i64, i64* %ctrl, i64 {sleepers}
  %sl = load atomic i64, i64* %sleepp seq_cst, align 8
  %asleep = icmp ne i64 %sl, 0
  %want = icmp ne i64 %wakeup, 0
  %both = and i1 %asleep, %want
  br i1 %both, label %wake, label %claim
wake:
  %w = call i64 (i64, ...) @syscall(i64 {futex}, i32* %seqp, i64 129, i64 2147483647)
  br label %claim
claim:
  call void @claim(i64* %ctrl, i64 %s64, i64 %fn, i64 %base, i64* %offs, i64 %n)
  br label %await
await:
  %k = phi i64 [ 0, %claim ], [ %k1, %yield_ ], [ %k1, %pause_ ]
  %d = load atomic i64, i64* %donep seq_cst, align 8
  %all = icmp uge i64 %d, %n
  br i1 %all, label %finish, label %again
again:
  %k1 = add i64 %k, 1
  %yield = icmp ugt i64 %k, 2000
  br i1 %yield, label %yield_, label %pause_
yield_:
  %y = call i32 @sched_yield()
  br label %await
pause_:
  call void @pause()
  br label %await
finish:
  store atomic i64 0, i64* %busyp seq_cst, align 8
  ret void
}}
"""

_RUN_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int64, ctypes.c_int64, ctypes.c_void_p, ctypes.c_int64,
                             ctypes.c_int64)
_WORKER_TYPE = ctypes.CFUNCTYPE(None, ctypes.c_void_p)
_LOCK = threading.Lock()
_POOLS: dict[int, Pool] = {}
_CODE: tuple | None = None


def _ir() -> str | None:
    machine = platform.machine().lower()
    futex = _FUTEX.get(machine)
    if not sys.platform.startswith("linux") or futex is None:
        return None
    if machine in ("x86_64", "amd64"):
        pause_decl = "declare void @llvm.x86.sse2.pause()\ndeclare i64 @llvm.readcyclecounter()"
        pause_call = "call void @llvm.x86.sse2.pause()"
        clock, spin = "%t = call i64 @llvm.readcyclecounter()\n  ret i64 %t", _SPIN_TICKS
    else:
        pause_decl = "@polls = private global i64 0"  # a count of polls (shared by workers: approximate)
        pause_call = 'call void asm sideeffect "yield", ""()'
        clock = "%t = load i64, i64* @polls\n  %t1 = add i64 %t, 1\n  store i64 %t1, i64* @polls\n  ret i64 %t1"
        spin = _SPIN_POLLS
    return _IR.format(seq=_SEQ, task=_TASK, task1=_TASK + 1, task2=_TASK + 2, task3=_TASK + 3, next=_NEXT,
                      done=_DONE, sleepers=_SLEEPERS, busy=_BUSY, quit=_QUIT, spin=spin, futex=futex,
                      pause_decl=pause_decl, pause_call=pause_call, clock=clock)


def _compile() -> tuple | None:
    """(None, run address, worker address, stop address), compiled once per process (and cached on
    disk beside the kernels, ``codegen.native.load_ir``); ``None`` off Linux."""
    global _CODE
    if _CODE is None:
        text = _ir()
        if text is None:
            _CODE = (None, 0, 0, 0)
        else:
            from .native import load_ir

            _CODE = (None, *load_ir(text, ("tracer_pool_run", "tracer_pool_worker", "tracer_pool_stop"), "pool"))
    return _CODE if _CODE[1] else None


class Pool:
    """``workers`` threads (besides each caller) that run kernel chunks; see the module docstring."""

    def __init__(self, workers: int) -> None:
        code = _compile()
        assert code is not None
        self.workers = workers
        raw = np.zeros(_WORDS + 8, np.int64)
        start = (-raw.ctypes.data % 64) // 8
        self.ctrl = raw[start:start + _WORDS]
        self.address = self.ctrl.ctypes.data
        self.run_address = code[1]
        self.run = _RUN_TYPE(code[1])
        worker = _WORKER_TYPE(code[2])
        self.stop_native = _WORKER_TYPE(code[3])
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


def native_pool_available() -> bool:
    """Whether :func:`get_pool` gives native workers here (Linux on x86-64 or AArch64, and not
    turned off with ``TRACER_NATIVE_POOL=0``); cheap, compiles nothing."""
    return _ir() is not None and os.environ.get("TRACER_NATIVE_POOL", "1").strip() not in ("0", "off", "no")


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
