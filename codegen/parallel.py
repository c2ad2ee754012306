"""Compile several kernels at once: this process and forked worker processes share the work.

A cold start compiles every kernel of a plan with numba, ~0.1-1 s each, on one core.  When a
batch has two kernels or more to compile (``codegen.cache.get_kernels``), this process first sets
numba up (:func:`codegen.compiler.warm_up`: numba's import and compiler setup, which forked
processes then inherit instead of paying again), then forks workers.  Which process compiles
which kernel is planned from estimated costs (:mod:`codegen.schedule`): the large helpers
(``transpose_copy_f32``: ~1 s) are compiled once per process that calls them, so the kernels
calling one go to one process where that balances, and a helper every process needs is compiled
before forking.  Every process claims kernels from its own queue, then from a shared queue
(pipes holding job numbers, read a few bytes at a time, which the kernel makes atomic), largest
first, compiles them, and a worker sends the objects back through its own pipe; this process
loads what arrives between its own compiles.

Forking is safe here because a worker only ever runs numba and LLVM on this thread and then
leaves with ``os._exit``: it never touches BLAS, the kernel pool's threads, atexit handlers or
the parent's files, and numba's compiler lock (held, with ``COMPILE_LOCK``, across the fork) can
not be held by another thread at that moment.  Without ``os.fork`` (not Linux), with one usable
CPU, with ``TRACER_COMPILE_WORKERS=0``, or when a worker fails, dies or stalls, the kernels it did
not deliver are left to the caller, which compiles them one by one as before (and so raises the
same errors).
"""

from __future__ import annotations

import gc
import os
import pickle
import select
import signal
import struct
import sys
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import NamedTuple

__all__ = ["compile_parallel", "worker_count", "Outcome"]

#: Less generated source than this in a batch (the ``mlp``'s two kernels: 2,200 characters, 0.35 s
#: of compiling) is compiled here alone: a worker would save less than it costs the machine.
MIN_SOURCE = 4000
#: A worker that sends nothing for this long (one kernel compiles in seconds) is killed.
STALL_SECONDS = 300.0
_JOB = struct.Struct("<I")
_HEADER = struct.Struct("<IQ")  # job number, payload length
_PIPE_SIZE = 1 << 20
_MAX_QUEUED = 8192  # job numbers that fit in a pipe's buffer (64 KiB) before any reader runs

Job = tuple[str, str, str]  # (source text, function name, file name)
Result = tuple[bytes, str, tuple[str, ...]]


def worker_count(jobs: int) -> int:
    """Worker processes to fork for ``jobs`` kernels: ``TRACER_COMPILE_WORKERS`` when set, else one
    fewer than the CPUs this process may use; never more than ``jobs - 1``, 0 without ``os.fork``."""
    if not hasattr(os, "fork") or not sys.platform.startswith("linux") or jobs < 2:
        return 0
    setting = os.environ.get("TRACER_COMPILE_WORKERS", "").strip()
    if setting:
        try:
            wanted = int(setting)
        except ValueError:
            wanted = 0
    else:
        try:
            wanted = len(os.sched_getaffinity(0)) - 1
        except (AttributeError, OSError):
            wanted = (os.cpu_count() or 1) - 1
    return max(0, min(wanted, jobs - 1, _MAX_QUEUED))


class Outcome(NamedTuple):
    """What :func:`compile_parallel` did: the jobs it did not deliver, and how many of those it
    delivered were compiled by worker processes."""

    missing: set[int]
    by_workers: int


def compile_parallel(jobs: Sequence[Job], deliver: Callable[[int, Result], bool]) -> Outcome:
    """Compile ``jobs`` here and in forked workers; ``deliver(i, (object, symbol, externals))`` is
    called in this process, on this thread, as each job's object is ready, and says whether it
    took it (``False``: the job counts as not delivered).

    The jobs not delivered (a compile error, a failed or missing worker) are for the caller to
    compile itself.  With no workers to fork it compiles nothing and leaves them all.
    """
    from . import compiler
    from .compiler import COMPILE_LOCK
    from .schedule import WARM_UP, plan
    compile_object, warm_up = compiler.compile_object, compiler.warm_up

    count = worker_count(len(jobs))
    if count == 0 or len(jobs) > _MAX_QUEUED or sum(len(text) for text, _, _ in jobs) < MIN_SOURCE:
        return Outcome(set(range(len(jobs))), 0)
    from numba.core.compiler_lock import global_compiler_lock

    schedule = plan([text for text, _, _ in jobs], count + 1)
    with COMPILE_LOCK:
        warm_up(())  # numba's import and compiler contexts, which the workers inherit
        for helper in schedule.before_fork:  # helpers that every process would compile anyway
            try:
                compile_object(*WARM_UP[helper], "<warm-up kernel>")
            except Exception:  # noqa: BLE001 - compiled with the first kernel that calls it
                pass
        queues: list[int] = []  # read ends: each process's own kernels, then the shared ones
        workers: dict[int, tuple[int, bytearray]] = {}  # result pipe -> (pid, unread bytes)
        try:
            for order in [*schedule.own, schedule.shared]:
                queues.append(_queue(order))
            mine = [queues[0]]
            with global_compiler_lock:
                for k in range(1, count + 1):
                    started = _fork_worker(jobs, [queues[k], queues[-1]])
                    if started is None:  # its kernels are this process's
                        mine.append(queues[k])
                        continue
                    workers[started[1]] = (started[0], bytearray())
            mine.append(queues[-1])
            delivered: set[int] = set()
            by_workers = 0

            def accept(i: int, result: Result) -> bool:
                if i in delivered or not deliver(i, result):
                    return False
                delivered.add(i)
                return True

            def take(timeout: float) -> None:
                nonlocal by_workers
                by_workers += _receive(workers, timeout, accept)

            for i in _claims(mine):
                try:
                    result = compile_object(*jobs[i])
                except Exception:  # noqa: BLE001 - compiled again by the caller, which raises it
                    pass
                else:
                    accept(i, result)
                take(0.0)
            deadline = time.monotonic() + STALL_SECONDS
            while workers and time.monotonic() < deadline:
                before = len(delivered)
                take(min(1.0, max(0.0, deadline - time.monotonic())))
                if len(delivered) > before:
                    deadline = time.monotonic() + STALL_SECONDS
        finally:
            for fd in queues:
                os.close(fd)
            for fd, (pid, _) in workers.items():  # stalled: give up on them
                _stop(pid, fd)
        return Outcome(set(range(len(jobs))) - delivered, by_workers)


def _queue(order: Sequence[int]) -> int:
    """A pipe holding job numbers ``order``, its write end closed: the read end, from which
    several processes claim jobs (readers see its end once it is empty)."""
    queue_r, queue_w = os.pipe()
    try:
        if order:
            os.write(queue_w, b"".join(_JOB.pack(i) for i in order))
    except OSError:
        os.close(queue_r)
        raise
    finally:
        os.close(queue_w)
    return queue_r


def _claims(queues: Sequence[int]) -> Iterator[int]:
    """The jobs claimed from ``queues``, one after the other, each until it is empty."""
    for queue_r in queues:
        while (i := _claim(queue_r)) is not None:
            yield i


def _claim(queue_r: int) -> int | None:
    data = os.read(queue_r, _JOB.size)
    return _JOB.unpack(data)[0] if len(data) == _JOB.size else None


def _fork_worker(jobs: Sequence[Job], queues: Sequence[int]) -> tuple[int, int] | None:
    """Fork one worker; its pid and the read end of its result pipe (``None`` if fork fails)."""
    result_r, result_w = os.pipe()
    try:  # room for every object a worker sends while this process is busy compiling (Linux)
        import fcntl

        fcntl.fcntl(result_w, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
    except (ImportError, AttributeError, OSError):
        pass  # a 64 KiB pipe: a worker may wait for this process to read
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # Python 3.12+: fork with threads
            pid = os.fork()
    except OSError:
        os.close(result_r)
        os.close(result_w)
        return None
    if pid == 0:  # the worker: never returns
        code = 1
        try:
            os.close(result_r)
            code = _work(jobs, queues, result_w)
        finally:
            os._exit(code)
    os.close(result_w)
    return pid, result_r


def _work(jobs: Sequence[Job], queues: Sequence[int], result_w: int) -> int:
    """A worker's loop: claim (from ``queues``, in turn), compile, send (an empty payload for a
    kernel that failed)."""
    from .compiler import compile_object

    gc.disable()  # short-lived: no collections touching (and so copying) the parent's pages
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    except ValueError:  # not the main thread (forked from another one)
        pass
    for i in _claims(queues):
        try:
            payload = pickle.dumps(compile_object(*jobs[i]), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # noqa: BLE001 - the parent compiles it again and reports the error
            payload = b""
        message = _HEADER.pack(i, len(payload)) + payload
        view = memoryview(message)
        while view:
            view = view[os.write(result_w, view):]
    return 0


def _receive(workers: dict[int, tuple[int, bytearray]], timeout: float,
             accept: Callable[[int, Result], bool]) -> int:
    """Read what the workers have sent (waiting up to ``timeout`` seconds for something); returns
    how many kernels were accepted."""
    accepted = 0
    while workers:
        ready, _, _ = select.select(list(workers), [], [], timeout)
        if not ready:
            break
        timeout = 0.0  # then read on while anything is there
        accepted += _read(workers, ready, accept)
    return accepted


def _read(workers: dict[int, tuple[int, bytearray]], ready: list[int], accept: Callable[[int, Result], bool]) -> int:
    accepted = 0
    for fd in ready:
        pid, buffer = workers[fd]
        data = os.read(fd, 1 << 20)
        if not data:  # the worker is done (or died): what it did not send is the caller's
            del workers[fd]
            _stop(pid, fd, kill=False)
            continue
        buffer += data
        while len(buffer) >= _HEADER.size:
            i, size = _HEADER.unpack_from(buffer)
            if len(buffer) < _HEADER.size + size:
                break
            payload = bytes(buffer[_HEADER.size:_HEADER.size + size])
            del buffer[:_HEADER.size + size]
            if payload:
                accepted += accept(i, pickle.loads(payload))  # our own worker's bytes, never archive content
    return accepted


def _stop(pid: int, fd: int, kill: bool = True) -> None:
    """Close a worker's pipe and reap it (killing it first unless it has finished)."""
    if kill:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.close(fd)
    except OSError:
        pass
    try:
        os.waitpid(pid, 0)
    except OSError:
        pass
