"""``python -m benchmarks.warm_ab``: warm new-process starts of this tree against a git revision's.

A change to start-up (imports, loading, the first call) is a few milliseconds in new processes
that swing by 2x on a shared machine, so one process per side says little.  This exports
``--rev`` (``git archive``) into a temporary folder, saves each zoo model once, fills each tree's
own kernel cache with one process, then runs ``-n`` rounds of new processes that take turns:
the revision's, this tree's and (``--ort``, when installed) ONNX Runtime's on the exported twin.
Each process is :mod:`benchmarks.latency`'s (imports + ``tracer.load(..., _restore_shapes=True)``
+ the first call); the lines give min / 25th percentile / median of the first output and of its
load-to-output part, ms.

    PYTHONPATH=. python -m benchmarks.warm_ab --rev HEAD~2 --only transformer4,gpt -n 10 --ort
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from .latency import _ORT, _OURS, _PACKAGES, ROOT, _child

__all__ = ["main", "summary"]


def _export(rev: str, dest: Path) -> None:
    """``rev``'s tree in ``dest``, its bytecode compiled (as ``benchmarks.latency`` does for ours)."""
    archive = subprocess.run(["git", "archive", rev], cwd=ROOT, capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    import compileall

    for package in _PACKAGES:
        compileall.compile_dir(str(dest / package), quiet=1)


def summary(runs: list[dict]) -> str:
    """``first output`` and ``load to output`` of ``runs``: min / 25th percentile / median, ms."""
    def stats(key: str) -> str:
        values = sorted(r[key] * 1e3 for r in runs)
        return f"{values[0]:6.1f} / {values[len(values) // 4]:6.1f} / {statistics.median(values):6.1f}"

    return f"first output {stats('first_output')}   load to output {stats('load_to_output')}"


def main(argv: list[str] | None = None) -> None:
    from .latency import _compile_bytecode
    from .zoo import ZOO, build

    p = argparse.ArgumentParser(prog="python -m benchmarks.warm_ab", description=__doc__.split("\n\n")[0])
    p.add_argument("--rev", default="HEAD", help="git revision to compare with (default HEAD)")
    p.add_argument("--only", default="transformer4,gpt", help="comma-separated zoo models")
    p.add_argument("-n", type=int, default=10, help="rounds of new processes (default 10)")
    p.add_argument("--ort", action="store_true", help="ONNX Runtime's warm start too (needs torch and onnxruntime)")
    p.add_argument("--tiny", action="store_true", help="toy sizes (a smoke test)")
    args = p.parse_args(argv)
    names = [n for n in args.only.split(",") if n]
    unknown = sorted(set(names) - set(ZOO))
    if unknown:
        p.error(f"unknown models {unknown}; the zoo is {', '.join(ZOO)}")
    _compile_bytecode()
    import tracer

    with tempfile.TemporaryDirectory() as d:
        base = Path(d) / "rev"
        base.mkdir()
        _export(args.rev, base)
        trees = {args.rev: base, "this tree": ROOT}
        for name in names:
            case = build(name, tiny=args.tiny)
            path, xpath = Path(d) / f"{name}.pt", Path(d) / f"{name}.npy"
            tracer.save(case.capture_module(), str(path))
            np.save(xpath, case.input)
            sides: dict[str, tuple[str, list[str], dict[str, str], Path]] = {}
            for label, tree in trees.items():
                env = dict(os.environ, PYTHONPATH=str(tree), TRACER_CACHE_DIR=str(Path(d) / f"cache-{name}-{id(tree)}"))
                env.pop("TRACER_BACKEND", None)
                sides[label] = (_OURS, [str(path), str(xpath)], env, tree)
                _child(_OURS, [str(path), str(xpath)], env, f"{label}: {name} filling its cache", cwd=tree)
            if args.ort:
                from .peers import export_onnx, missing

                if missing("onnxruntime") is None:
                    from .torch_twins import torch_twin

                    onnx = Path(d) / f"{name}.onnx"
                    export_onnx(torch_twin(case), case.input, onnx)
                    env = dict(os.environ, PYTHONPATH=str(ROOT))
                    sides["onnxruntime"] = (_ORT, [str(onnx), str(xpath), "2"], env, ROOT)
            runs: dict[str, list[dict]] = {label: [] for label in sides}
            for _ in range(args.n):
                for label, (script, child_args, env, tree) in sides.items():
                    runs[label].append(_child(script, child_args, env, f"{label}: {name}", cwd=tree))
            for label, rs in runs.items():
                print(f"{name:13s} {label:12s} {summary(rs)}  ({len(rs)} processes, ms: min / q25 / median)")
            sys.stdout.flush()


if __name__ == "__main__":
    main()
