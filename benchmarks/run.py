"""``python -m benchmarks``: the SPEC model zoo on every backend, in one process.

Every variant is timed the same way: the median of ``repeats`` calls (``time.perf_counter``),
the variants taking turns in blocks of :data:`BLOCK` calls (see :func:`timeit`).  Variants: NumPy eager (the
original ``tracer.nn.Module``), our interpreter, our numba backend, and, when torch is installed,
PyTorch eager and TorchScript (``torch.jit.trace`` + ``torch.jit.freeze``) on 2 threads, with the same weights.

Also reported: peak memory per call (``tracemalloc``: every NumPy allocation during one call after
warm-up; for the numba backend plus its per-thread workspace, the arena allocated once and reused;
PyTorch's allocator is invisible to tracemalloc), the cold compile time of each model (empty
cache, numba already initialised), and load-to-first-output of the saved ``mlp`` in new processes
with an empty and with a filled compile cache.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .zoo import ZOO

ROOT = Path(__file__).resolve().parents[1]

#: SPEC's targets: minimum speedup of the numba backend over NumPy eager.
TARGETS = {"gelu_ln": 3.0, "mlp": 1.2, "cnn": 1.2, "transformer": 1.2, "rnn": 2.0}
WARM_LATENCY_TARGET_S = 0.5
#: Timed calls a variant makes in a row before the next variant takes its turn.
BLOCK = 5


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


def _torch_variants(case: Any, threads: int) -> dict[str, Callable[[], Any]]:
    from .zoo import torch_twin

    twin = torch_twin(case)
    if twin is None:
        return {}
    import torch

    torch.set_num_threads(threads)
    xt = torch.from_numpy(case.input)
    with torch.inference_mode():
        want = twin(xt).numpy()
    assert np.allclose(want, case.module(case.input), rtol=1e-4, atol=1e-4), f"{case.name}: torch twin differs"
    with torch.no_grad():
        scripted = torch.jit.freeze(torch.jit.trace(twin, xt, check_trace=False))

    def eager() -> Any:
        with torch.inference_mode():
            return twin(xt)

    def ts() -> Any:
        with torch.no_grad():
            return scripted(xt)

    return {"torch": eager, "torchscript": ts}


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


_LATENCY_SCRIPT = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import tracer
t1 = time.perf_counter()
m = tracer.load(sys.argv[1], _restore_shapes=True)
x = np.load(sys.argv[2])
out = m(x)
t2 = time.perf_counter()
from codegen.cache import STATS
print(json.dumps({"imports": t1 - t0, "load_to_output": t2 - t1, "compiled": STATS.compiled,
                  "loaded": STATS.loaded, "numba_imported": "numba" in sys.modules, "backend": m.backend}))
"""


def load_latency(name: str, tiny: bool) -> dict[str, dict]:
    """Cold (empty compile cache) and warm (cache filled by the cold run) load-to-first-output of
    the saved model, each in a new process."""
    import tracer

    from .zoo import build

    case = build(name, tiny=tiny)
    sm = case.capture_module()
    results = {}
    with tempfile.TemporaryDirectory() as d:
        path, xpath, cache = Path(d) / f"{name}.pt", Path(d) / "x.npy", Path(d) / "cache"
        tracer.save(sm, str(path))
        np.save(xpath, case.input)
        env = dict(os.environ, TRACER_CACHE_DIR=str(cache), PYTHONPATH=str(ROOT))
        env.pop("TRACER_BACKEND", None)
        for label in ("cold", "warm"):
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", _LATENCY_SCRIPT, str(path), str(xpath)], env=env,
                                  capture_output=True, text=True, timeout=600)
            wall = time.perf_counter() - t
            if proc.returncode != 0:
                raise RuntimeError(f"{label} load of {name} failed:\n{proc.stderr}")
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            r["process"] = wall
            results[label] = r
    return results


def _fmt_ms(v: float | None) -> str:
    return "-" if v is None else (f"{v:.3f}" if v < 10 else f"{v:.2f}")


def _fmt_bytes(n: int | None) -> str:
    if n is None:
        return "n/a"
    return f"{n / 2**20:.2f} MiB"


def run(args: argparse.Namespace) -> dict:
    import tracer

    from .zoo import build

    names = args.only.split(",") if args.only else list(ZOO)
    repeats = args.repeats or (5 if args.quick else 30)
    report: dict[str, Any] = {"repeats": repeats, "models": {}}
    print(f"# python -m benchmarks {' '.join(sys.argv[1:])}".rstrip())
    print(f"# {os.cpu_count()} CPUs; numpy {np.__version__}; median of {repeats} calls per variant, variants "
          f"taking turns in blocks of {BLOCK} calls\n")
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
    for name in names:
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
        others = {} if args.no_torch else _torch_variants(case, args.threads)
        want = case.module(x)
        got = sm_numba(x)
        err = float(np.max(np.abs(got - want)) / max(1e-30, float(np.max(np.abs(want)))))
        ms = timeit(variants, repeats)
        # PyTorch's threads keep spinning after its calls and would slow whichever variant runs next,
        # so its variants take turns among themselves, after ours
        ms.update(timeit(others, repeats))
        executor = sm_numba._program("forward")
        plan = executor.plan((x,))
        workspace = executor.workspace_bytes()
        mem = {k: peak_bytes(variants[k]) for k in ("numpy", "interpreter", "numba")}
        mem["numba_total"] = mem["numba"] + workspace
        report["models"][name] = {"ms": ms, "peak_bytes": mem, "workspace_bytes": workspace, "max_rel_err": err,
                                  "note": case.note, "kernels": len(plan.kernel_steps) if plan else 0}
        rows.append(name)
    _print_tables(report, rows)
    if not args.no_latency:
        lat = load_latency("mlp", args.tiny)
        report["latency_mlp"] = lat
        print("\n## load-to-first-output, saved mlp, new process (tracer.load(..., _restore_shapes=True), first call)")
        for label in ("cold", "warm"):
            r = lat[label]
            print(f"  {label:4s} cache: {r['load_to_output']:.3f} s after imports ({r['imports']:.3f} s of imports, "
                  f"{r['process']:.3f} s whole process); kernels compiled {r['compiled']}, loaded {r['loaded']}, "
                  f"numba imported: {r['numba_imported']}")
    _print_targets(report)
    del tracer
    return report


def _print_tables(report: dict, rows: list[str]) -> None:
    models = report["models"]
    cols = ["numpy", "interpreter", "numba", "torch", "torchscript"]
    print("## time per call, ms (speedup over NumPy eager in parentheses)")
    head = f"{'model':12s}" + "".join(f"{c:>20s}" for c in cols) + f"{'numba/torch':>13s}"
    print(head)
    for name in rows:
        ms = models[name]["ms"]
        cells = []
        for c in cols:
            v = ms.get(c)
            cells.append("-" if v is None else f"{_fmt_ms(v)} ({ms['numpy'] / v:.2f}x)")
        vs_torch = f"{ms['torch'] / ms['numba']:.2f}x" if "torch" in ms else "-"
        print(f"{name:12s}" + "".join(f"{c:>20s}" for c in cells) + f"{vs_torch:>13s}")
    notes = [f"  {n}: {models[n]['note']}" for n in rows if models[n]["note"]]
    if notes:
        print("\n".join(notes))
    print("  numba/torch > 1 means the numba backend is faster than PyTorch eager")
    print("\n## peak memory per call (tracemalloc; numba = during the call + its reused workspace)")
    print(f"{'model':12s}{'numpy':>12s}{'interpreter':>14s}{'numba':>22s}{'max rel err':>14s}{'kernels':>9s}")
    for name in rows:
        m = models[name]
        pb = m["peak_bytes"]
        numba = f"{_fmt_bytes(pb['numba'])} + {_fmt_bytes(m['workspace_bytes'])}"
        print(f"{name:12s}{_fmt_bytes(pb['numpy']):>12s}{_fmt_bytes(pb['interpreter']):>14s}{numba:>22s}"
              f"{m['max_rel_err']:>14.1e}{m['kernels']:>9d}")
    if "compile_s" in report:
        print(f"\n## cold compile (empty cache; numba's own first-use cost, {report['numba_init_s']:.2f} s, excluded)")
        for name in rows:
            print(f"  {name:12s} {report['compile_s'][name]:6.2f} s  ({report['kernels'][name]} kernels)")


def _print_targets(report: dict) -> None:
    print("\n## targets (SPEC / issue 5)")
    models = report["models"]
    for name, target in TARGETS.items():
        if name not in models:
            continue
        ms = models[name]["ms"]
        speed = ms["numpy"] / ms["numba"]
        verdict = "met" if speed >= target else "NOT met"
        print(f"  {name:12s} numba {speed:5.2f}x NumPy eager (target >= {target}x): {verdict}")
    slower = [n for n in models if models[n]["ms"]["numba"] > models[n]["ms"]["numpy"]]
    print(f"  no model slower than NumPy eager: {'met' if not slower else 'NOT met: ' + ', '.join(slower)}")
    heavier = [n for n in models if models[n]["peak_bytes"]["numba_total"] > models[n]["peak_bytes"]["numpy"]]
    print(f"  peak memory not above NumPy eager's (call + workspace): "
          f"{'met' if not heavier else 'NOT met: ' + ', '.join(heavier)}")
    if "latency_mlp" in report:
        warm = report["latency_mlp"]["warm"]["load_to_output"]
        print(f"  warm-cache load-to-first-output of mlp <= {WARM_LATENCY_TARGET_S} s: {warm:.3f} s, "
              f"{'met' if warm <= WARM_LATENCY_TARGET_S else 'NOT met'}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="5 timed calls per variant instead of 30")
    parser.add_argument("--repeats", type=int, default=0, help="timed calls per variant")
    parser.add_argument("--tiny", action="store_true", help="toy sizes of the same models (smoke test)")
    parser.add_argument("--only", default="",
                        help=f"comma-separated subset of {','.join(ZOO)}")
    parser.add_argument("--threads", type=int, default=2, help="PyTorch threads (default 2)")
    parser.add_argument("--no-torch", action="store_true", help="skip the PyTorch variants")
    parser.add_argument("--no-latency", action="store_true", help="skip the load-latency processes")
    parser.add_argument("--no-compile-times", action="store_true", help="skip measuring cold compile times")
    parser.add_argument("--json", default="", help="also write the results to this JSON file")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as cache:
        # a private cache: "cold" means cold, and the user's cache is left alone
        os.environ.setdefault("TRACER_CACHE_DIR", cache)
        report = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=1, default=str))
    return report



