"""Compiling a batch of kernels in forked worker processes (``codegen.parallel``), and its fallbacks."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from codegen import cache, compiler, parallel
from codegen.cache import STATS, clear_memory, get_kernels
from runtime.progress import Progress

ROOT = Path(__file__).resolve().parents[2]
needs_fork = pytest.mark.skipif(not hasattr(os, "fork") or not sys.platform.startswith("linux"),
                                reason="worker processes are forked (Linux)")


@pytest.fixture(autouse=True)
def small_batches_too(monkeypatch):
    """These tests' kernels are small: let workers compile them anyway."""
    monkeypatch.setattr(parallel, "MIN_SOURCE", 0)


def _sources(tag: float, n: int = 5) -> list[tuple[str, str]]:
    """``n`` distinct kernels ``out[i] = tanh(x[i] * c) + c`` (a helper call makes each take a while)."""
    return [(f"def k_par{i}(f):\n    x = ptr_float32(f[0])\n    out = ptr_float32(f[1])\n"
             f"    for i in range(f[2]):\n"
             f"        out[i] = np.float32(tanh_f32(x[i] * np.float32({tag + i})) + np.float32({tag + i}))\n",
             f"k_par{i}") for i in range(n)]


def _check(kernels, tag: float) -> None:
    x = np.linspace(-1, 1, 7, dtype=np.float32)
    for i, kernel in enumerate(kernels):
        out = np.zeros_like(x)
        frame = np.array([x.ctypes.data, out.ctypes.data, x.size], np.int64)
        kernel(frame.ctypes.data)
        c = np.float32(tag + i)
        np.testing.assert_allclose(out, np.tanh(x * c) + c, rtol=1e-6, atol=1e-6)


@needs_fork
def test_a_batch_is_compiled_by_workers_stored_and_loaded_again(tmp_path, monkeypatch):
    monkeypatch.setenv("TRACER_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("TRACER_COMPILE_WORKERS", "1")
    sources = _sources(0.5)
    before = (STATS.compiled, STATS.compiled_in_workers, STATS.loaded)
    kernels = get_kernels(sources + sources[:1])  # a repeat shares the kernel
    assert kernels[-1] is kernels[0]
    _check(kernels[:-1], 0.5)
    assert STATS.compiled - before[0] == len(sources)
    assert STATS.compiled_in_workers - before[1] >= 1, "a worker process compiled some of them"
    assert len(list(cache.cache_dir().glob("*.o"))) == len(sources)
    clear_memory()
    _check(get_kernels(sources), 0.5)
    assert STATS.loaded - before[2] == len(sources) and STATS.compiled - before[0] == len(sources)


@needs_fork
def test_without_a_disk_cache(monkeypatch):
    monkeypatch.setenv("TRACER_CACHE_DIR", "off")
    monkeypatch.setenv("TRACER_COMPILE_WORKERS", "1")
    before = STATS.compiled
    _check(get_kernels(_sources(1.5)), 1.5)
    assert STATS.compiled - before == 5


def test_workers_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("TRACER_CACHE_DIR", "off")
    monkeypatch.setenv("TRACER_COMPILE_WORKERS", "0")
    assert parallel.worker_count(10) == 0
    before = (STATS.compiled, STATS.compiled_in_workers)
    _check(get_kernels(_sources(2.5, 3)), 2.5)
    assert (STATS.compiled - before[0], STATS.compiled_in_workers - before[1]) == (3, 0)


@needs_fork
def test_a_small_batch_is_compiled_here(monkeypatch):
    monkeypatch.setenv("TRACER_CACHE_DIR", "off")
    monkeypatch.setenv("TRACER_COMPILE_WORKERS", "1")
    monkeypatch.setattr(parallel, "MIN_SOURCE", 10_000)
    before = (STATS.compiled, STATS.compiled_in_workers)
    _check(get_kernels(_sources(6.5, 3)), 6.5)
    assert (STATS.compiled - before[0], STATS.compiled_in_workers - before[1]) == (3, 0)


def test_worker_count_is_capped_by_the_jobs(monkeypatch):
    monkeypatch.setenv("TRACER_COMPILE_WORKERS", "8")
    assert parallel.worker_count(1) == 0
    assert parallel.worker_count(3) == (2 if hasattr(os, "fork") and sys.platform.startswith("linux") else 0)
    monkeypatch.setenv("TRACER_COMPILE_WORKERS", "many")
    assert parallel.worker_count(3) == 0


@needs_fork
def test_a_dying_worker_leaves_its_kernels_to_this_process(monkeypatch):
    monkeypatch.setenv("TRACER_CACHE_DIR", "off")
    monkeypatch.setenv("TRACER_COMPILE_WORKERS", "1")
    parent = os.getpid()
    real = compiler.compile_object

    def dies_in_workers(*args):
        if os.getpid() != parent:
            os._exit(3)
        return real(*args)

    monkeypatch.setattr(compiler, "compile_object", dies_in_workers)
    before = (STATS.compiled, STATS.compiled_in_workers)
    _check(get_kernels(_sources(3.5, 4)), 3.5)
    assert (STATS.compiled - before[0], STATS.compiled_in_workers - before[1]) == (4, 0)


@needs_fork
def test_a_worker_that_cannot_be_forked_leaves_its_queue_to_this_process(monkeypatch):
    monkeypatch.setenv("TRACER_CACHE_DIR", "off")
    monkeypatch.setenv("TRACER_COMPILE_WORKERS", "1")
    monkeypatch.setattr(parallel, "_fork_worker", lambda jobs, queues: None)
    transposing = [(f"def k_tq{i}(f):\n    transpose_copy_f32(f[0], f[1], f[2], f[3], f[4], f[{i + 5}])\n", f"k_tq{i}")
                   for i in range(3)]
    assert plan_for(transposing + _sources(8.5, 2)).own[1], "the worker was to compile the transposing kernels"
    before = (STATS.compiled, STATS.compiled_in_workers)
    kernels = get_kernels(transposing + _sources(8.5, 2))
    _check(kernels[3:], 8.5)
    assert (STATS.compiled - before[0], STATS.compiled_in_workers - before[1]) == (5, 0)


def plan_for(sources):
    from codegen.schedule import plan

    return plan([text for text, _ in sources], 2)


@needs_fork
def test_kernels_sharing_a_costly_helper_are_compiled_by_one_worker(monkeypatch):
    monkeypatch.setenv("TRACER_CACHE_DIR", "off")
    monkeypatch.setenv("TRACER_COMPILE_WORKERS", "1")
    parent = os.getpid()
    real = compiler.compile_object
    where: dict[str, int] = {}

    def noting(text, name, filename):
        result = real(text, name, filename)
        if os.getpid() == parent:
            where[name] = parent
        return result

    monkeypatch.setattr(compiler, "compile_object", noting)
    transposing = [(f"def k_tw{i}(f):\n    transpose_copy_f32(f[0], f[1], f[2], f[3], f[4], f[{i + 5}])\n", f"k_tw{i}")
                   for i in range(3)]
    sources = transposing + _sources(7.5, 3)
    schedule = plan_for(sources)
    assert sorted(schedule.own[1]) == [0, 1, 2] and schedule.before_fork == ()
    before = STATS.compiled_in_workers
    kernels = get_kernels(sources)
    _check(kernels[3:], 7.5)
    assert STATS.compiled_in_workers - before >= 3
    assert not any(name.startswith("k_tw") for name in where), "this process compiled none of them"


@needs_fork
def test_a_kernel_numba_rejects_raises_the_usual_error(monkeypatch):
    monkeypatch.setenv("TRACER_CACHE_DIR", "off")
    monkeypatch.setenv("TRACER_COMPILE_WORKERS", "1")
    bad = ("def k_bad(f):\n    f[0] = no_such_helper(f[1])\n", "k_bad")
    with pytest.raises(RuntimeError, match="numba could not compile kernel k_bad"):
        get_kernels(_sources(4.5, 3) + [bad])


@needs_fork
def test_progress_counts_every_kernel(monkeypatch):
    monkeypatch.setenv("TRACER_CACHE_DIR", "off")
    monkeypatch.setenv("TRACER_COMPILE_WORKERS", "1")
    sources = _sources(5.5, 4)
    out = io.StringIO()
    with Progress("compiling f()", total=len(sources), unit="kernels", stream=out, enabled=True, delay=0,
                  interval=0) as shown:
        get_kernels(sources, shown.advance)
        assert shown.count == len(sources)
    assert "compiling f(): 1/4 kernels" in out.getvalue()


# A fresh process: a program with several different kernels, run on the numba backend.
SCRIPT = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tracer
    import codegen.parallel
    from codegen.cache import STATS
    codegen.parallel.MIN_SOURCE = 0  # a small program: workers anyway

    def f(x, w):
        h = np.tanh(x @ w + 0.5)
        m = h - h.mean(axis=-1, keepdims=True)
        e = np.exp(m - m.max(axis=-1, keepdims=True))
        return e / e.sum(axis=-1, keepdims=True) + np.maximum(h, 0.1)

    x = np.linspace(-2, 2, 48, dtype=np.float32).reshape(6, 8)
    w = np.linspace(-1, 1, 64, dtype=np.float32).reshape(8, 8)
    sf = tracer.trace(f, (x, w), check_trace=False)
    out = sf(x, w)
    print(json.dumps({"compiled": STATS.compiled, "workers": STATS.compiled_in_workers, "loaded": STATS.loaded,
                      "numba": "numba" in sys.modules, "out": out.tolist(), "want": f(x, w).tolist()}))
""")


def _run(cache_dir: str, workers: str) -> dict:
    env = dict(os.environ, TRACER_CACHE_DIR=cache_dir, TRACER_COMPILE_WORKERS=workers, PYTHONPATH=str(ROOT))
    env.pop("TRACER_BACKEND", None)
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


@needs_fork
def test_fresh_processes_compile_in_parallel_then_load(tmp_path):
    parallel_run = _run(str(tmp_path / "a"), "1")
    assert parallel_run["compiled"] >= 2 and parallel_run["workers"] >= 1
    np.testing.assert_allclose(parallel_run["out"], parallel_run["want"], rtol=1e-5, atol=1e-6)
    sequential = _run(str(tmp_path / "b"), "0")
    assert sequential["compiled"] == parallel_run["compiled"] and sequential["workers"] == 0
    np.testing.assert_array_equal(parallel_run["out"], sequential["out"])  # the same machine code
    assert sorted(p.name for p in (tmp_path / "a").glob("*/*.json")) == \
        sorted(p.name for p in (tmp_path / "b").glob("*/*.json"))
    again = _run(str(tmp_path / "a"), "1")
    assert again["compiled"] == 0 and again["loaded"] == parallel_run["compiled"] and not again["numba"]
    np.testing.assert_array_equal(again["out"], parallel_run["out"])
    off = _run("off", "1")
    assert off["compiled"] == parallel_run["compiled"] and off["workers"] >= 1
    np.testing.assert_array_equal(off["out"], parallel_run["out"])
