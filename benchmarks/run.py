"""``python -m benchmarks``: the SPEC model zoo on every backend, in one process.

Every variant is timed the same way: the median of ``repeats`` calls (``time.perf_counter``),
the variants of one runtime taking turns in blocks of :data:`BLOCK` calls (see :func:`timeit`; a
runtime's idle threads spin for a while after its calls and would slow another's next calls: NumPy
eager and our interpreter share NumPy's OpenBLAS, our numba backend has its own threads and BLAS,
each peer its own).  Variants: NumPy
eager (the original ``tracer.nn.Module``), our interpreter, our numba backend, and the systems a
user would pick instead, each when installed (``pip install -e '.[bench]'``) and limited to the
same threads: PyTorch eager, TorchScript, ``torch.compile``, JAX and ONNX Runtime
(``benchmarks.peers``).  Every variant's output is checked against NumPy eager (SPEC's tolerance)
before it is timed.  The table ends with each variant's geometric-mean speedup over NumPy eager.

Also reported: peak memory per call (``tracemalloc``: every NumPy allocation during one call after
warm-up; for the numba backend plus its per-thread workspace, the arena allocated once and reused;
the peers' allocators are invisible to tracemalloc), the cold compile time of each model (empty
cache, numba already initialised), and new-process load-to-first-output, cold and warm, for ours,
ONNX Runtime and JAX (``benchmarks.latency``).  ``--busy`` runs a CPU-bound process beside it all.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .latency import load_latency, peer_latency
from .peers import GROUPS, PEERS, busy_process, missing, peer_variants, spec_error
from .report import TARGETS, WARM_LATENCY_TARGET_S, print_latency, print_tables, print_targets
from .zoo import SPEC_ZOO, ZOO

__all__ = ["main", "run", "timeit", "peak_bytes", "compile_times", "TARGETS", "WARM_LATENCY_TARGET_S"]

ROOT = Path(__file__).resolve().parents[1]

#: Timed calls a variant makes in a row before the next variant takes its turn.
BLOCK = 5
#: Seconds of rest before each runtime's turn: other runtimes' idle threads stop spinning.
SETTLE = 0.3


def timeit(variants: dict[str, Callable[[], Any]], repeats: int, block: int = BLOCK) -> dict[str, float]:
    """Median wall time of one call of each variant in milliseconds.

    The variants take turns: each round runs every variant for one untimed call (its data back
    in cache) and then ``block`` timed calls, until each has ``repeats`` timed calls.  A slow
    spell of this shared 2-core machine then lands on all variants alike instead of on whichever
    happened to be running.
    """
    times: dict[str, list[float]] = {k: [] for k in variants}
    for fn in variants.values():
        for _ in range(3):
            fn()
    while any(len(t) < repeats for t in times.values()):
        for name, fn in variants.items():
            fn()
            for _ in range(min(block, repeats - len(times[name]))):
                t = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - t)
    return {k: statistics.median(v) * 1e3 for k, v in times.items()}


def _pool_counts() -> dict[str, int]:
    """The numba backend's pool counters (``codegen.pool.Pool.stats``; empty without a native
    pool): how its split kernels ran while it was timed, shared or alone after a stall."""
    from codegen.plan import PlanOptions
    from codegen.pool import get_pool

    pool = get_pool(PlanOptions().threads)
    if pool is None:
        return {}
    stats = pool.stats()
    return {k: stats[k] for k in ("shared", "stalls", "late", "solo", "preempted")}


def peak_bytes(fn: Callable[[], Any]) -> int:
    """Largest amount of memory NumPy had allocated during one call (tracemalloc), after a warm-up."""
    fn()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        fn()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


def compile_times(names: list[str], tiny: bool) -> tuple[float, dict[str, tuple[float, int]]]:
    """Numba's first-use cost, then per model: seconds to plan and compile every kernel from an
    empty cache (``prepare``), and how many kernels that was."""
    from codegen.cache import STATS, clear_memory
    from codegen.compiler import compile_object

    from .zoo import build

    t = time.perf_counter()
    compile_object("def warmup(f):\n    f[0] = f[1]\n", "warmup", "<warmup>")
    numba_init = time.perf_counter() - t
    out = {}
    for name in names:
        case = build(name, tiny=tiny)
        sm = case.capture_module().set_backend("interpreter")
        from ir import type_of
        from runtime.compiled import NumbaExecutor

        with tempfile.TemporaryDirectory() as d:
            old = os.environ.get("TRACER_CACHE_DIR")
            os.environ["TRACER_CACHE_DIR"] = d
            clear_memory()
            try:
                before = STATS.compiled
                t = time.perf_counter()
                NumbaExecutor(sm.graph).prepare([type_of(case.input)])
                out[name] = (time.perf_counter() - t, STATS.compiled - before)
            finally:
                if old is None:
                    os.environ.pop("TRACER_CACHE_DIR", None)
                else:
                    os.environ["TRACER_CACHE_DIR"] = old
    clear_memory()
    return numba_init, out


def _peers(args: argparse.Namespace) -> list[str]:
    if args.no_peers:
        return []
    peers = args.peers.split(",") if args.peers else list(PEERS)
    unknown = sorted(set(peers) - set(PEERS))
    if unknown:
        raise SystemExit(f"unknown --peers {', '.join(unknown)}; choose from {', '.join(PEERS)}")
    if args.no_torch:
        peers = [p for p in peers if p not in ("torch", "torchscript", "torch.compile")]
    return peers


def run(args: argparse.Namespace) -> dict:
    import tracer

    from .zoo import build

    names = args.only.split(",") if args.only else list(ZOO)
    repeats = args.repeats or (5 if args.quick else 30)
    peers = _peers(args)
    report: dict[str, Any] = {"repeats": repeats, "models": {}, "busy": args.busy, "threads": args.threads}
    print(f"# python -m benchmarks {' '.join(sys.argv[1:])}".rstrip())
    print(f"# {os.cpu_count()} CPUs; numpy {np.__version__}; median of {repeats} calls per variant, variants "
          f"taking turns in blocks of {BLOCK} calls; peers limited to {args.threads} threads")
    if args.busy:
        print("# --busy: a CPU-bound process runs beside the timing (the other core busy)")
    report["skipped"] = {p: why for p in peers if (why := missing(p)) is not None}
    for p, why in report["skipped"].items():
        print(f"# {p}: skipped, {why}")
    peers = [p for p in peers if p not in report["skipped"]]
    print()
    if not args.no_compile_times:
        init, times = compile_times(names, args.tiny)
        report["numba_init_s"] = init
        report["compile_s"] = {k: v[0] for k, v in times.items()}
        report["kernels"] = {k: v[1] for k, v in times.items()}
    # BLAS runs some sgemm shapes ~30% faster once the process has run a larger one
    # (python -m benchmarks.blas_warmup); the numba backend does that when it loads, so do it
    # first, for every variant alike, NumPy eager included
    from codegen.blas import warm_up

    warm_up()
    rows = []
    folder = tempfile.TemporaryDirectory()  # the exported ONNX files, used again for the start-up times
    for name in names:
        print(f"benchmarks: {name}", file=sys.stderr, flush=True)  # progress (building the peers takes a while)
        case = build(name, tiny=args.tiny)
        x = case.input
        sm_numba = case.capture_module()
        sm_interp = case.capture_module().set_backend("interpreter")
        assert sm_numba.backend == "numba", "numba is the default backend"
        variants: dict[str, Callable[[], Any]] = {
            "numpy": lambda m=case.module, x=x: m(x),
            "interpreter": lambda m=sm_interp, x=x: m(x),
            "numba": lambda m=sm_numba, x=x: m(x),
        }
        want = case.module(x)
        got = sm_numba(x)
        err = float(np.max(np.abs(got - want)) / max(1e-30, float(np.max(np.abs(want)))))
        spec_err = {"interpreter": spec_error(sm_interp(x), want), "numba": spec_error(got, want)}
        # rnn_traced's twins are rnn's: the peers are timed once, on rnn
        others, peer_err, absent = peer_variants(case, peers if name in SPEC_ZOO else [], args.threads,
                                                 folder.name, want)
        spec_err.update(peer_err)
        # a runtime's threads keep spinning after its calls (OpenBLAS's for ~0.1 s, OpenMP's, ONNX
        # Runtime's) and would slow whichever variant runs next, so each runtime's variants take
        # turns among themselves, after the others' threads have gone idle (SETTLE): NumPy eager
        # and the interpreter (NumPy's OpenBLAS), the numba backend (its own workers and its own
        # single-threaded OpenBLAS, codegen.pool and codegen.blas), then each peer's
        ms: dict[str, float] = {}
        groups = [("numpy", "interpreter"), ("numba",)]
        groups += [tuple(k for k in others if GROUPS[k] == g) for g in dict.fromkeys(GROUPS.values())]
        pool_runs = None
        for group in groups:
            if group:
                time.sleep(SETTLE)
                before = _pool_counts() if group == ("numba",) else None
                ms.update(timeit({k: {**variants, **others}[k] for k in group}, repeats))
                if before is not None:
                    after = _pool_counts()
                    pool_runs = {k: after[k] - before[k] for k in after} if after and before else None
        executor = sm_numba._program("forward")
        plan = executor.plan((x,))
        workspace = executor.workspace_bytes()
        mem = {k: peak_bytes(variants[k]) for k in ("numpy", "interpreter", "numba")}
        mem["numba_total"] = mem["numba"] + workspace
        report["models"][name] = {"ms": ms, "peak_bytes": mem, "workspace_bytes": workspace, "max_rel_err": err,
                                  "spec_err": spec_err, "absent": absent, "note": case.note,
                                  "kernels": len(plan.kernel_steps) if plan else 0, "pool_runs": pool_runs}
        rows.append(name)
    print_tables(report, rows)
    latency_names = names if args.latency == "all" else [n for n in args.latency.split(",") if n]
    if not args.no_latency and latency_names:
        report["latency"] = {}
        for name in latency_names:
            print(f"benchmarks: new-process start of {name}", file=sys.stderr, flush=True)
            case = build(name, tiny=args.tiny)
            report["latency"][name] = {"ours": load_latency(case), **peer_latency(case, peers, args.threads,
                                                                                  folder.name)}
        if "mlp" in report["latency"]:
            report["latency_mlp"] = report["latency"]["mlp"]["ours"]
        print_latency(report["latency"])
    folder.cleanup()
    print_targets(report)
    del tracer
    return report


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 timed calls per variant instead of 30")
    parser.add_argument("--repeats", type=int, default=0, help="timed calls per variant")
    parser.add_argument("--tiny", action="store_true", help="toy sizes of the same models (smoke test)")
    parser.add_argument("--only", default="",
                        help=f"comma-separated subset of {','.join(ZOO)}")
    parser.add_argument("--peers", default="", help=f"comma-separated subset of {','.join(PEERS)} (default: all "
                        "that are installed)")
    parser.add_argument("--no-peers", action="store_true", help="time only NumPy eager and our backends")
    parser.add_argument("--threads", type=int, default=2, help="threads of every peer (default 2)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch variants (torch, torchscript, "
                        "torch.compile)")
    parser.add_argument("--busy", action="store_true",
                        help="run a CPU-bound process beside the timing (the other core busy)")
    parser.add_argument("--latency", default="all",
                        help="comma-separated models whose new-process start is timed (default: all that run)")
    parser.add_argument("--no-latency", action="store_true", help="skip the load-latency processes")
    parser.add_argument("--no-compile-times", action="store_true", help="skip measuring cold compile times")
    parser.add_argument("--json", default="", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    busy = busy_process() if args.busy else None
    try:
        with tempfile.TemporaryDirectory() as cache:
            # a private cache: "cold" means cold, and the user's cache is left alone
            os.environ.setdefault("TRACER_CACHE_DIR", cache)
            report = run(args)
    finally:
        if busy is not None:
            busy.kill()
            busy.wait()
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return report
