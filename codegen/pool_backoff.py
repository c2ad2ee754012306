"""The pool's back-off after a stall: the caller's judgement of each shared run, in LLVM IR.

A worker that has claimed a chunk can lose its core (the other core busy) for a scheduler slice,
milliseconds, while the caller, done with its own chunks, can only wait: a
claimed chunk cannot be taken back.  So the caller times each shared run: ``ran``, its own
chunks, and ``waited``, the wait for the workers' after them.  Had it run the workers' chunks
itself they would have taken about ``ran * theirs / mine``; a longer wait, if it is also longer
than ``codegen.pool_ir._LATE_TICKS`` (a worker that woke late from its futex costs tens of microseconds,
one that lost its core milliseconds), is a *stall*: the next
``backoff`` runs run all their chunks on the caller (the workers, not posted to, go to sleep and
leave the core to others), and ``backoff`` doubles (up to its longest).  ``GOOD`` shared runs in
a row without a stall halve it again (down to its shortest).  A run the caller did alone (no
worker arrived) or whose chunks the workers did all of tells nothing and changes nothing, and a
run whose caller ran its own chunks for :data:`LONG_RUN` late gaps (~2 ms) or more is never a
stall (nor is a worker's report before it, nor do its caller's preemptions start a spell): a
lost core costs such a run a fraction of its time, and the next runs alone would cost half of
theirs.

A worker also notices when it has lost its core while it spins between tasks: two polls of its
clock more than ``_LATE_TICKS`` apart (about 0.2 ms; a poll takes well under a microsecond).
It then writes that clock into ``late`` and goes to sleep at once (the core is wanted
elsewhere); the owner's next judgement takes the report for a stall if it is recent: at most
``RECENT`` such gaps (about 1.6 ms, a worker's spin) before that run started.  So a pool on a
contended core backs off before one of its workers holds a chunk through a scheduler slice,
while a report from a worker that spun beside another program and then slept (a caller that
alternates with another runtime, seconds apart) is dropped: it says nothing about the core now.
(Taking every report, however old, made the first 16 kernels after each such pause run alone.)

The owner also looks at its own preemptions, every ~10 ms of shared runs: :data:`PREEMPTED` or
more involuntary context switches of its thread (``getrusage``) since its last look, at most ~40
ms before, mean another program wants the cores (a spinning worker, the caller and that program
are three runnable threads on two cores: the caller loses its core a third of the time, yet few
single runs look stalled).  It then runs alone until a deadline ~200 ms on (``UNTIL``), so that
it and the other program each have a core.  Sleeping is a voluntary switch and never counts.

``BACKOFF_IR`` is part of the text ``codegen.pool_ir.pool_ir`` formats (the placeholders are the
word indices below and ``good_runs``); ``tracer_pool_run`` calls ``@judge`` after every shared run
and ``@increment`` for the counters ``Pool.stats`` reads.
"""

from __future__ import annotations

__all__ = ["BACKOFF_IR", "SOLO", "BACKOFF", "STREAK", "SHORTEST", "LONGEST", "STALLS", "SOLO_RUNS", "SHARED_RUNS",
           "LATE", "LATES", "GOOD",
           "RECENT", "LONG_RUN", "UNTIL", "NIVCSW", "CHECKED", "PREEMPTS", "PREEMPTED", "OWNER_TID"]

# the back-off: read and written only by the caller that owns the pool (``busy``), on one line
SOLO, BACKOFF, STREAK, SHORTEST, LONGEST, STALLS, SOLO_RUNS, SHARED_RUNS = 56, 57, 58, 59, 60, 61, 62, 63
# the clock (``@now``) of a worker that lost its core while it spun, cleared by the owner (who
# counts those it takes for a stall)
LATE, LATES = 64, 65
# the owner's look at its own preemptions: run alone until this clock, the involuntary switches
# counted at the last look and its clock, a count of the looks that found contention, and the
# thread that looked (its kernel thread id)
UNTIL, NIVCSW, CHECKED, PREEMPTS, OWNER_TID = 66, 67, 68, 69, 70
PREEMPTED = 3  # involuntary switches in one look (~10-40 ms) that mean another program wants the cores
GOOD = 16  # shared runs in a row without a stall that halve the back-off
RECENT = 8  # a late report counts if it is at most this many late gaps older than the run
#: A shared run whose caller ran its own chunks for this many late gaps (~2 ms) or longer is never
#: judged a stall: the ``eltwise``'s 3.5 ms chunks, after one worker lost its core once on a quiet
#: host, ran their next 16 runs alone, 13.5 instead of 7.2 ms per call.
LONG_RUN = 10

BACKOFF_IR = r"""
define private void @increment(i64* %ctrl, i64 %word) {{
  %p = getelementptr i64, i64* %ctrl, i64 %word
  %v = load i64, i64* %p, align 8
  %v1 = add i64 %v, 1
  store i64 %v1, i64* %p, align 8
  ret void
}}

; after a shared run (the module docstring): this thread ran %mine of the %n chunks in %ran ticks,
; then waited %waited ticks for the workers'; a stall starts a back-off, a good run may shorten it
define private void @judge(i64* %ctrl, i64 %n, i64 %mine, i64 %ran, i64 %waited, i64 %t0) {{
entry:
  %longestp = getelementptr i64, i64* %ctrl, i64 {longest}
  %longest = load i64, i64* %longestp, align 8
  %backoffp = getelementptr i64, i64* %ctrl, i64 {backoff}
  %backoff = load i64, i64* %backoffp, align 8
  %streakp = getelementptr i64, i64* %ctrl, i64 {streak}
  %latep = getelementptr i64, i64* %ctrl, i64 {late_word}
  %flag = atomicrmw xchg i64* %latep, i64 0 seq_cst
  %ru = alloca [18 x i64], align 8
  ; a run whose own chunks took {long_run} lost-core gaps (~2 ms) or more is never a stall: the
  ; wait a lost core costs it is a fraction of what running the next runs alone would
  %gap0 = call i64 @late_ticks()
  %longrun = mul i64 %gap0, {long_run}
  %brief = icmp slt i64 %ran, %longrun
  %off = icmp eq i64 %longest, 0
  br i1 %off, label %out, label %preempt
preempt:
  ; every ~10 ms of shared runs: was this thread preempted (involuntary context switches,
  ; getrusage) at least {preempted} times since the last look, at most ~40 ms ago?  Then another
  ; program wants these cores: run alone for ~200 ms (the workers sleep, so this thread and the
  ; other program each have a core).  Sleeping or waiting is a voluntary switch and counts not
  %checkedp = getelementptr i64, i64* %ctrl, i64 {checked}
  %checked = load i64, i64* %checkedp, align 8
  %since = sub i64 %t0, %checked
  %gap = call i64 @late_ticks()
  %every = mul i64 %gap, 50
  %due = icmp sgt i64 %since, %every
  br i1 %due, label %rusage, label %late
rusage:
  %rup = bitcast [18 x i64]* %ru to i8*
  %rc = call i64 (i64, ...) @syscall(i64 {getrusage}, i64 1, i8* %rup)
  %nivp = getelementptr [18 x i64], [18 x i64]* %ru, i64 0, i64 17
  %niv = load i64, i64* %nivp, align 8
  %prevp = getelementptr i64, i64* %ctrl, i64 {nivcsw}
  %prev = load i64, i64* %prevp, align 8
  store i64 %niv, i64* %prevp, align 8
  store i64 %t0, i64* %checkedp, align 8
  %ok = icmp eq i64 %rc, 0
  %within = mul i64 %gap, 200
  %dense = icmp slt i64 %since, %within
  %switches = sub i64 %niv, %prev
  %many = icmp sge i64 %switches, {preempted}
  ; the last look was this thread's (another thread may own the pool now: its count is its own)
  %tid = call i64 (i64, ...) @syscall(i64 {gettid})
  %tidp = getelementptr i64, i64* %ctrl, i64 {owner_tid}
  %lasttid = load i64, i64* %tidp, align 8
  store i64 %tid, i64* %tidp, align 8
  %looked = icmp ne i64 %checked, 0
  %same = icmp eq i64 %tid, %lasttid
  %known = and i1 %looked, %same
  %c1 = and i1 %ok, %dense
  %c2 = and i1 %many, %known
  %c3 = and i1 %c1, %c2
  ; not after a long run: beside a busy program its chunks take as long shared as alone, and on
  ; a quiet host whose switches came in a burst a spell would halve their speed
  %contended = and i1 %c3, %brief
  br i1 %contended, label %preempted_, label %late
preempted_:
  %untilp = getelementptr i64, i64* %ctrl, i64 {until}
  %hold = mul i64 %gap, 1000
  %deadline = add i64 %t0, %hold
  store i64 %deadline, i64* %untilp, align 8
  call void @increment(i64* %ctrl, i64 {preempts})
  br label %out
late:
  ; a worker lost its core while it spun, shortly before this run or during it: as good as a
  ; stall.  An older report (the worker spun while another program ran, then slept) says nothing
  ; about the core now.  Signed: the report's clock was read on another core
  %reported = icmp ne i64 %flag, 0
  %age = sub i64 %t0, %flag
  %ticks = call i64 @late_ticks()
  %window = mul i64 %ticks, {recent}
  %fresh = icmp slt i64 %age, %window
  %lost = and i1 %reported, %fresh
  br i1 %lost, label %lateness, label %sighted
lateness:
  call void @increment(i64* %ctrl, i64 {lates})
  br i1 %brief, label %stall, label %out
sighted:
  ; the caller ran none of the chunks (nothing to compare) or all (no worker came): no judgement
  %none = icmp eq i64 %mine, 0
  %all = icmp eq i64 %mine, %n
  %blind = or i1 %none, %all
  br i1 %blind, label %out, label %weigh
weigh:
  ; waited / theirs > ran / mine, multiplied out (signed: a clock read on another core may be behind)
  %theirs = sub i64 %n, %mine
  %lhs = mul i64 %waited, %mine
  %rhs = mul i64 %ran, %theirs
  %slow = icmp sgt i64 %lhs, %rhs
  ; and longer than a lost core's gap: a worker that woke late (a futex wake-up, tens of
  ; microseconds) is no stall; one that lost its core holds the caller for milliseconds
  %floor = call i64 @late_ticks()
  %long = icmp sgt i64 %waited, %floor
  %stalled0 = and i1 %slow, %long
  %stalled = and i1 %stalled0, %brief
  br i1 %stalled, label %stall, label %good
stall:
  %solop = getelementptr i64, i64* %ctrl, i64 {solo}
  store i64 %backoff, i64* %solop, align 8
  %twice = shl i64 %backoff, 1
  %big = icmp ugt i64 %twice, %longest
  %longer = select i1 %big, i64 %longest, i64 %twice
  store i64 %longer, i64* %backoffp, align 8
  store i64 0, i64* %streakp, align 8
  call void @increment(i64* %ctrl, i64 {stalls})
  br label %out
good:
  %streak = load i64, i64* %streakp, align 8
  %streak1 = add i64 %streak, 1
  %enough = icmp uge i64 %streak1, {good_runs}
  br i1 %enough, label %shorten, label %count
count:
  store i64 %streak1, i64* %streakp, align 8
  br label %out
shorten:
  store i64 0, i64* %streakp, align 8
  %shortestp = getelementptr i64, i64* %ctrl, i64 {shortest}
  %shortest = load i64, i64* %shortestp, align 8
  %half = lshr i64 %backoff, 1
  %small = icmp ult i64 %half, %shortest
  %shorter = select i1 %small, i64 %shortest, i64 %half
  store i64 %shorter, i64* %backoffp, align 8
  br label %out
out:
  ret void
}}

"""
