"""New-process load-to-first-output: ours, ONNX Runtime and JAX, cold and warm.

Each measurement is one new Python process that imports the system, loads the saved model and
computes its first output; it reports its imports, the load-to-first-output after them, and its
peak resident memory (``VmHWM``, Linux).  The headline number is imports + load-to-first-output: the time from the
process's first line to the first output.  Warm is the best of :data:`WARM_RUNS` processes, ours and
ONNX Runtime's alike (one process on a shared two-core machine swings by 2x).

* ours: ``tracer.load(path, _restore_shapes=True)`` then one call.  Cold: an empty compile cache
  (``TRACER_CACHE_DIR``); warm: the cache the cold process filled.  Our packages' bytecode is
  compiled first (``compileall``, what ``pip install`` does), as every peer's and NumPy's is in
  site-packages: else, under ``PYTHONDONTWRITEBYTECODE=1`` (set in some sandboxes and CI), each of
  our processes would compile its ~100 modules from source, some 0.2 s that no installed copy pays.
* ONNX Runtime: an ``InferenceSession`` on the exported ``.onnx`` file, then one ``run``.  It has no
  compile cache; cold is the first process, warm the ones after it.
* JAX: ``import jax``, the weights from an ``.npz`` file, ``jax.jit``, the first call.  Cold: no
  persistent compilation cache; warm: ``jax_compilation_cache_dir`` filled by an earlier process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]

__all__ = ["WARM_RUNS", "load_latency", "peer_latency"]

# VmHWM, not getrusage's ru_maxrss: that one starts from the parent's size when the child is forked
_PEAK = """
try:
    peak = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM")) / 1024
except OSError:
    peak = float("nan")
"""

_OURS = """
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
""" + _PEAK + """
print(json.dumps({"imports": t1 - t0, "load_to_output": t2 - t1, "compiled": STATS.compiled, "peak_mib": peak,
                  "loaded": STATS.loaded, "numba_imported": "numba" in sys.modules, "backend": m.backend}))
"""

_ORT = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
import onnxruntime as ort
t1 = time.perf_counter()
so = ort.SessionOptions()
so.intra_op_num_threads = int(sys.argv[3])
so.inter_op_num_threads = 1
sess = ort.InferenceSession(sys.argv[1], so, providers=["CPUExecutionProvider"])
x = np.load(sys.argv[2])
out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
t2 = time.perf_counter()
""" + _PEAK + """
print(json.dumps({"imports": t1 - t0, "load_to_output": t2 - t1, "peak_mib": peak}))
"""

_JAX = """
import json, sys, time
t0 = time.perf_counter()
import numpy as np
from benchmarks.jax_twins import jax_input, jax_model, limit_threads
limit_threads(int(sys.argv[5]))
import jax
if sys.argv[6]:
    jax.config.update("jax_compilation_cache_dir", sys.argv[6])
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
t1 = time.perf_counter()
with np.load(sys.argv[2]) as f:
    params = {k: jax.device_put(f[k]) for k in f.files}
x = jax.device_put(jax_input(np.load(sys.argv[4])))
out = np.asarray(jax.jit(jax_model(sys.argv[1], json.loads(sys.argv[3])))(params, x))
t2 = time.perf_counter()
""" + _PEAK + """
print(json.dumps({"imports": t1 - t0, "load_to_output": t2 - t1, "peak_mib": peak}))
"""


def _child(script: str, args: list[str], env: dict[str, str], what: str, cwd: Path = ROOT) -> dict[str, Any]:
    """One new process running ``script``; ``cwd`` is also the first entry of its ``sys.path``
    (``python -c``), so it names the tree whose packages the process imports."""
    t = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", script, *args], env=env, capture_output=True, text=True,
                          timeout=600, cwd=cwd)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed:\n{proc.stderr[-3000:]}")
    r = json.loads(proc.stdout.strip().splitlines()[-1])
    r["process"] = wall
    r["first_output"] = r["imports"] + r["load_to_output"]
    return r


#: Warm starts timed per system and model (ours and ONNX Runtime); the fastest one is reported.
WARM_RUNS = 3


def _warm(script: str, args: list[str], env: dict[str, str], what: str) -> dict[str, Any]:
    """The fastest of :data:`WARM_RUNS` processes (by ``first_output``), with every run's time."""
    runs = [_child(script, args, env, what) for _ in range(WARM_RUNS)]
    best = dict(min(runs, key=lambda r: r["first_output"]))
    best["first_output_runs"] = [r["first_output"] for r in runs]
    return best


def _env(**extra: str) -> dict[str, str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), **extra)
    env.pop("TRACER_BACKEND", None)
    return env


#: Our import packages, whose bytecode :func:`_compile_bytecode` writes.
_PACKAGES = ("tracer", "ir", "runtime", "codegen")


def _compile_bytecode() -> None:
    """Write our packages' ``__pycache__`` (as installing them does); up-to-date files are skipped."""
    import compileall

    for package in _PACKAGES:
        compileall.compile_dir(str(ROOT / package), quiet=1)


def load_latency(case: Any) -> dict[str, dict]:
    """Ours: cold (empty compile cache) and warm (cache filled by the cold run), each a new process."""
    import tracer

    _compile_bytecode()
    sm = case.capture_module()
    results = {}
    with tempfile.TemporaryDirectory() as d:
        path, xpath, cache = Path(d) / f"{case.name}.pt", Path(d) / "x.npy", Path(d) / "cache"
        tracer.save(sm, str(path))
        np.save(xpath, case.input)
        env = _env(TRACER_CACHE_DIR=str(cache))
        results["cold"] = _child(_OURS, [str(path), str(xpath)], env, f"cold load of {case.name}")
        results["warm"] = _warm(_OURS, [str(path), str(xpath)], env, f"warm load of {case.name}")
    return results


def peer_latency(case: Any, peers: list[str], threads: int, folder: str) -> dict[str, dict[str, dict]]:
    """ONNX Runtime's and JAX's cold and warm start (those of ``peers`` that are installed).

    ``folder`` may already hold ``<name>.onnx`` (exported by ``benchmarks.peers``)."""
    from .peers import export_onnx, missing

    out: dict[str, dict[str, dict]] = {}
    with tempfile.TemporaryDirectory() as d:
        xpath = Path(d) / "x.npy"
        np.save(xpath, case.input)
        if "onnxruntime" in peers and missing("onnxruntime") is None:
            onnx = Path(folder) / f"{case.name}.onnx"
            if not onnx.exists():
                from .torch_twins import torch_twin

                export_onnx(torch_twin(case), case.input, onnx)
            args = [str(onnx), str(xpath), str(threads)]
            out["onnxruntime"] = {"cold": _child(_ORT, args, _env(), f"ONNX Runtime cold start of {case.name}"),
                                  "warm": _warm(_ORT, args, _env(), f"ONNX Runtime warm start of {case.name}")}
        if "jax" in peers and missing("jax") is None:
            from .jax_twins import jax_config

            weights = Path(d) / "weights.npz"
            np.savez(weights, **{k: np.ascontiguousarray(v) for k, v in case.module.state_dict().items()})
            base = [case.name, str(weights), json.dumps(jax_config(case.module)), str(xpath), str(threads)]
            cache = str(Path(d) / "jax-cache")
            r = {"cold": _child(_JAX, [*base, ""], _env(), f"JAX cold start of {case.name}")}
            _child(_JAX, [*base, cache], _env(), f"JAX start of {case.name} filling its cache")
            r["warm"] = _child(_JAX, [*base, cache], _env(), f"JAX warm start of {case.name}")
            r["warm"]["cache_files"] = sum(1 for p in Path(cache).rglob("*") if p.is_file())
            out["jax"] = r
    return out
