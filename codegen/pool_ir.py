"""The LLVM IR of ``codegen.pool``: the workers' loop, the caller's hand-off and its back-off.

:func:`pool_ir` gives the text for this machine (``None`` off Linux on x86-64/AArch64: the futex
numbers); ``codegen.pool`` compiles it once (``codegen.native.load_ir``) and lays out the control
block these word indices name.  Four functions are exported:

* ``tracer_pool_worker(ctrl)``: a worker's whole life.  It polls ``seq``; a new task number means
  a task to claim chunks of; after ``spin`` clock ticks without one it sleeps on a futex.
* ``tracer_pool_run(ctrl, fn, base, offs, n, wakeup)``: run a kernel's ``n`` chunks, shared with
  the workers (or alone: see below), and return when all are done.
* ``tracer_pool_stop(ctrl)``: workers leave their loop.
* ``tracer_pool_now()``: the clock a worker stamps its late report with (``codegen.pool_backoff``).

The back-off after a stall (the caller's ``@judge``) and the words it keeps are in
``codegen.pool_backoff``.
"""

from __future__ import annotations

import platform
import sys

from .pool_backoff import (
    BACKOFF,
    BACKOFF_IR,
    CHECKED,
    GOOD,
    LATE,
    LATES,
    LONG_RUN,
    LONGEST,
    NIVCSW,
    OWNER_TID,
    PREEMPTED,
    PREEMPTS,
    RECENT,
    SHARED_RUNS,
    SHORTEST,
    SOLO,
    SOLO_RUNS,
    STALLS,
    STREAK,
    UNTIL,
)

__all__ = ["pool_ir", "has_pool_ir", "SEQ", "TASK", "NEXT", "DONE", "SLEEPERS", "BUSY", "QUIT", "SOLO", "BACKOFF",
           "STREAK", "SHORTEST", "LONGEST", "STALLS", "SOLO_RUNS", "SHARED_RUNS", "LATE", "LATES", "WORDS", "GOOD",
           "RECENT"]

# control block words; the first seven each on a cache line of their own
SEQ, TASK, NEXT, DONE, SLEEPERS, BUSY, QUIT = 0, 8, 16, 24, 32, 40, 48
WORDS = 72
_GETRUSAGE = {"x86_64": 98, "amd64": 98, "aarch64": 165, "arm64": 165}
_GETTID = {"x86_64": 186, "amd64": 186, "aarch64": 178, "arm64": 178}

_SPIN_TICKS = 1 << 22  # time-stamp counter ticks a worker polls before it sleeps: 1.6 ms at 2.6 GHz
_SPIN_POLLS = 1 << 15  # the same where there is no such counter
_LATE_TICKS = 1 << 19  # a gap between a spinning worker's polls that means it lost its core: 0.2 ms at 2.6 GHz
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

; a clock for timing a run and a worker's polls: the time-stamp counter, or AArch64's virtual counter
define private i64 @now() {{
  {now}
}}

; a gap between two polls of a spinning worker that means it lost its core: about 0.2 ms of @now
define private i64 @late_ticks() {{
  {late_ticks}
}}

define private i32* @seqword(i64* %ctrl) {{
  %p = bitcast i64* %ctrl to i32*
  ret i32* %p
}}

; run chunk %i of kernel %fn: its frame is at %base + offs[%i]
define private void @run_chunk(i64 %fn, i64 %base, i64* %offs, i64 %i) alwaysinline {{
  %kernel = inttoptr i64 %fn to void (i64*)*
  %offp = getelementptr i64, i64* %offs, i64 %i
  %off = load i64, i64* %offp, align 8
  %frame = add i64 %base, %off
  %framep = inttoptr i64 %frame to i64*
  call void %kernel(i64* %framep)
  ret void
}}

; claim and run chunks of task %seq until none is left; the number this thread ran
define private i64 @claim(i64* %ctrl, i64 %seq, i64 %fn, i64 %base, i64* %offs, i64 %n) {{
entry:
  %nextp = getelementptr i64, i64* %ctrl, i64 {next}
  %donep = getelementptr i64, i64* %ctrl, i64 {done}
  %tag = shl i64 %seq, 32
  br label %loop
loop:
  %ran = phi i64 [ 0, %entry ], [ %ran, %try ], [ %ran1, %run ]
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
  call void @run_chunk(i64 %fn, i64 %base, i64* %offs, i64 %idx)
  %old = atomicrmw add i64* %donep, i64 1 seq_cst
  %ran1 = add i64 %ran, 1
  br label %loop
out:
  ret i64 %ran
}}

; run chunks offs[0..n) one after the other on this thread
define private void @serial(i64 %fn, i64 %base, i64* %offs, i64 %n) {{
entry:
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %body ]
  %more = icmp ult i64 %i, %n
  br i1 %more, label %body, label %out
body:
  call void @run_chunk(i64 %fn, i64 %base, i64* %offs, i64 %i)
  %i1 = add i64 %i, 1
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
  %latep = getelementptr i64, i64* %ctrl, i64 {late_word}
  %late = call i64 @late_ticks()
  %first = load atomic i32, i32* %seqp seq_cst, align 8
  br label %wait
wait:
  %last = phi i32 [ %first, %entry ], [ %last, %spin ], [ %last, %slept ], [ %s, %ran ]
  %start = phi i64 [ 0, %entry ], [ %since, %spin ], [ 0, %slept ], [ 0, %ran ]
  %prev = phi i64 [ 0, %entry ], [ %t, %spin ], [ 0, %slept ], [ 0, %ran ]
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
  ; a gap since the previous poll: this thread lost its core while it spun
  %t = call i64 @now()
  %gap = sub i64 %t, %prev
  %polled = icmp ne i64 %prev, 0
  %far = icmp sgt i64 %gap, %late
  %lost = and i1 %polled, %far
  br i1 %lost, label %descheduled, label %patient
descheduled:
  ; tell the callers when (they back off if it is recent) and sleep now: the core is wanted
  store atomic i64 %t, i64* %latep seq_cst, align 8
  br label %sleep
patient:
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
  %mine = call i64 @claim(i64* %ctrl, i64 %s64, i64 %fn, i64 %base, i64* %offs, i64 %n)
  br label %ran
ran:
  br label %wait
exit:
  ret void
}}

; the clock workers stamp their late reports with (for tests)
define i64 @tracer_pool_now() {{
  %t = call i64 @now()
  ret i64 %t
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
  br i1 %mine, label %owned, label %alone
alone:
  ; another caller owns the pool: run every chunk here
  call void @serial(i64 %fn, i64 %base, i64* %offs, i64 %n)
  ret void
owned:
  ; backing off after a stall (runs left) or while this thread was being preempted (a
  ; deadline): run every chunk here, the workers are not posted to
  %solop = getelementptr i64, i64* %ctrl, i64 {solo}
  %solo = load i64, i64* %solop, align 8
  %runs_left = icmp sgt i64 %solo, 0
  %untilp = getelementptr i64, i64* %ctrl, i64 {until}
  %until = load i64, i64* %untilp, align 8
  %clock_now = call i64 @now()
  %early = icmp slt i64 %clock_now, %until
  %backing = or i1 %runs_left, %early
  br i1 %backing, label %solo_, label %post
solo_:
  %solo_dec = sub i64 %solo, 1
  %solo1 = select i1 %runs_left, i64 %solo_dec, i64 0
  store i64 %solo1, i64* %solop, align 8
  call void @increment(i64* %ctrl, i64 {solo_runs})
  call void @serial(i64 %fn, i64 %base, i64* %offs, i64 %n)
  br label %finish
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
  %t0 = call i64 @now()
  %ran = call i64 @claim(i64* %ctrl, i64 %s64, i64 %fn, i64 %base, i64* %offs, i64 %n)
  %t1 = call i64 @now()
  br label %await
await:
  %k = phi i64 [ 0, %claim ], [ %k1, %yield_ ], [ %k1, %pause_ ]
  %d = load atomic i64, i64* %donep seq_cst, align 8
  %all = icmp uge i64 %d, %n
  br i1 %all, label %judge, label %again
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
judge:
  %t2 = call i64 @now()
  %own = sub i64 %t1, %t0
  %waited = sub i64 %t2, %t1
  call void @increment(i64* %ctrl, i64 {shared_runs})
  call void @judge(i64* %ctrl, i64 %n, i64 %ran, i64 %own, i64 %waited, i64 %t0)
  br label %finish
finish:
  store atomic i64 0, i64* %busyp seq_cst, align 8
  ret void
}}
"""


def has_pool_ir() -> bool:
    """Whether :func:`pool_ir` has a text for this machine (without formatting it: the planner
    asks once per kernel)."""
    return sys.platform.startswith("linux") and platform.machine().lower() in _FUTEX


def pool_ir() -> str | None:
    """The pool's LLVM IR for this machine, or ``None`` where it has none (not Linux on x86-64 or
    AArch64)."""
    machine = platform.machine().lower()
    futex = _FUTEX.get(machine)
    if not has_pool_ir():
        return None
    if machine in ("x86_64", "amd64"):
        pause_decl = "declare void @llvm.x86.sse2.pause()\ndeclare i64 @llvm.readcyclecounter()"
        pause_call = "call void @llvm.x86.sse2.pause()"
        clock, spin = "%t = call i64 @llvm.readcyclecounter()\n  ret i64 %t", _SPIN_TICKS
        now = clock
        late_ticks = f"ret i64 {_LATE_TICKS}"
    else:
        pause_decl = "@polls = private global i64 0"  # a count of polls (shared by workers: approximate)
        pause_call = 'call void asm sideeffect "yield", ""()'
        clock = "%t = load i64, i64* @polls\n  %t1 = add i64 %t, 1\n  store i64 %t1, i64* @polls\n  ret i64 %t1"
        spin = _SPIN_POLLS
        now = '%t = call i64 asm sideeffect "mrs $0, cntvct_el0", "=r"()\n  ret i64 %t'
        # the counter's frequency (cntfrq_el0) / 4096: 0.24 ms
        late_ticks = '%f = call i64 asm "mrs $0, cntfrq_el0", "=r"()\n  %t = lshr i64 %f, 12\n  ret i64 %t'
    return (_IR + BACKOFF_IR).format(
        seq=SEQ, task=TASK, task1=TASK + 1, task2=TASK + 2, task3=TASK + 3, next=NEXT, done=DONE, sleepers=SLEEPERS,
        busy=BUSY, quit=QUIT, solo=SOLO, backoff=BACKOFF, streak=STREAK, shortest=SHORTEST, longest=LONGEST,
        stalls=STALLS, solo_runs=SOLO_RUNS, shared_runs=SHARED_RUNS, good_runs=GOOD, late_word=LATE, lates=LATES,
        recent=RECENT, long_run=LONG_RUN, until=UNTIL, preempted=PREEMPTED, nivcsw=NIVCSW, checked=CHECKED,
        preempts=PREEMPTS, getrusage=_GETRUSAGE[machine], gettid=_GETTID[machine], owner_tid=OWNER_TID,
        late_ticks=late_ticks, spin=spin, futex=futex, pause_decl=pause_decl, pause_call=pause_call, clock=clock,
        now=now)
