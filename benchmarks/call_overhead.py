"""``python -m benchmarks.call_overhead [MODEL ...] [--nokernels] [--fresh] [--against DIR]``: the
Python a numba-backed call costs besides its kernels.

Models: ``tiny`` (``np.tanh(x * 2.0 + 1.0)`` on a (4, 4) input: one small kernel, the call is all
overhead), ``tinylin`` (a ``Linear(4, 4)`` before it) and the zoo's names.  Prints the best and the
median of 15 blocks of calls, in microseconds per call (``sm(x)``).  ``--nokernels`` replaces every
kernel call of the drivers (and the native pool's) by a no-op after the first call, so that what is
timed is the module wrapper, the signature lookup, the driver's own Python and the program's NumPy
calls.  ``--fresh`` passes a new input array each call (its frame words move).  ``--against DIR``
loads a second source tree (another checkout of this repository) in the same process and times both
in alternating blocks, A being ``DIR`` and B this one: an A/B that the machine's load hits alike.
"""

from __future__ import annotations

import statistics
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np

_PACKAGES = ("tracer", "runtime", "codegen", "ir", "benchmarks")
_HERE = str(Path(__file__).resolve().parents[1])


def _load(root: str) -> dict[str, Any]:
    """Import this repository's packages from ``root``; returns them (and the root) by name."""
    _use({"__root__": root})
    import benchmarks.zoo  # noqa: F401
    import codegen.plan  # noqa: F401
    import runtime.compiled  # noqa: F401
    import tracer  # noqa: F401

    mods: dict[str, Any] = {k: v for k, v in sys.modules.items() if k.split(".")[0] in _PACKAGES}
    mods["__root__"] = root
    return mods


def _use(mods: dict[str, Any]) -> None:
    """Make ``mods`` (from :func:`_load`) the packages that imports find."""
    for k in [k for k in sys.modules if k.split(".")[0] in _PACKAGES]:
        del sys.modules[k]
    sys.modules.update({k: v for k, v in mods.items() if k != "__root__"})
    sys.path[:] = [p for p in sys.path if p not in _ROOTS]
    sys.path.insert(0, mods["__root__"])


_ROOTS: set[str] = set()


def _make(mods: dict[str, Any], name: str) -> tuple[Any, np.ndarray]:
    _use(mods)
    tracer = mods["tracer"]
    x44 = np.ones((4, 4), np.float32)
    if name == "tiny":
        return tracer.trace(lambda x: np.tanh(x * 2.0 + 1.0), (x44,)).set_backend("numba"), x44
    if name == "tinylin":
        nn = tracer.nn

        class TinyLin(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.fc = nn.Linear(4, 4)

            def forward(self, x):
                return np.tanh(self.fc(x) * 2.0 + 1.0)

        return tracer.trace(TinyLin().eval(), (x44,)).set_backend("numba"), x44
    case = mods["benchmarks.zoo"].build(name)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return case.capture_module().set_backend("numba"), case.input


def _stub_kernels(sm: Any) -> None:
    for ex in sm.__dict__["_programs"].values():
        for compiled in list(getattr(ex, "_compiled", {}).values()):
            names = getattr(getattr(compiled, "driver", None), "__globals__", None)
            if names is None:
                continue
            for k in list(names):
                if k.startswith("_K"):
                    names[k] = lambda frame: None
            if names.get("pool_run") is not None:
                names["pool_run"] = lambda *args: None


def _block(sm: Any, xs: list[np.ndarray], calls: int) -> float:
    for i in range(20):
        sm(xs[i % len(xs)])
    t = time.perf_counter_ns()
    for i in range(calls):
        sm(xs[i % len(xs)])
    return (time.perf_counter_ns() - t) / calls / 1e3


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    against = args[args.index("--against") + 1] if "--against" in args else None
    stub, fresh = "--nokernels" in args, "--fresh" in args
    names = [a for a in args if not a.startswith("--") and a != against] or ["tiny", "tinylin"]
    _ROOTS.update({_HERE} | ({str(Path(against).resolve())} if against else set()))
    variants = {"B": _load(_HERE)}
    if against:
        variants = {"A": _load(str(Path(against).resolve())), **variants}
    print(f"# us per call, best / median of 15 blocks{' (kernels stubbed)' if stub else ''}"
          f"{' (a new input each call)' if fresh else ''}; " + ", ".join(f"{k}: {v['__root__']}" for k, v in
                                                                        variants.items()))
    for name in names:
        made = {k: _make(mods, name) for k, mods in variants.items()}
        for k, (sm, x) in made.items():
            _use(variants[k])  # its first call imports the backend: from its own tree
            sm(x)
            if stub:
                _stub_kernels(sm)
        calls = 2000 if name.startswith("tiny") or stub else 200
        times: dict[str, list[float]] = {k: [] for k in made}
        for rep in range(15):
            for k in (list(made) if rep % 2 == 0 else list(made)[::-1]):
                _use(variants[k])
                sm, x = made[k]
                xs = [x.copy() for _ in range(8)] if fresh else [x]
                times[k].append(_block(sm, xs, calls))
        line = " | ".join(f"{k} {min(t):8.2f} / {statistics.median(t):8.2f}" for k, t in times.items())
        if against:
            a, b = min(times["A"]), min(times["B"])
            line += f" | best A - B {a - b:7.2f} us ({(a - b) / a * 100:5.1f}%)"
        print(f"{name:12s} {line}", flush=True)
    _use(variants["B"])


if __name__ == "__main__":
    main()
