"""Archive save/load benchmark: a model with 256 MiB of float32 weights.

Compares ``tracer.save``/``tracer.load`` with ``np.savez``/``np.load`` of the same arrays (and
``torch.jit.save``/``torch.jit.load`` of the same model when torch is installed), all in one
process, each the median of several runs on warm page cache.

Run: ``python -m benchmarks.archive [--repeats N] [--mib 256]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import tracer
from tracer import nn

__all__ = ["run", "main"]


def _median_seconds(fn: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _model(mib: int) -> tuple[nn.Module, int]:
    width = 4096
    layers = max(1, round(mib * 2**20 / (width * width * 4)))
    m = nn.Sequential(*[nn.Linear(width, width) for _ in range(layers)]).eval()
    return m, width


def run(mib: int = 256, repeats: int = 5, folder: str | None = None) -> list[tuple[str, float, str]]:
    """Rows of (what, milliseconds or bytes, note)."""
    m, width = _model(mib)
    x = np.random.default_rng(0).standard_normal((2, width), dtype=np.float32)
    sm = tracer.trace(m, (x,))
    arrays = {k.replace(".", "_"): v for k, v in sm.state_dict().items()}
    weight_bytes = sum(a.nbytes for a in arrays.values())
    rows: list[tuple[str, float, str]] = [("weights", weight_bytes / 2**20, "MiB")]
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        ours, npz = os.path.join(tmp, "model.pt"), os.path.join(tmp, "weights.npz")
        save_ours = _median_seconds(lambda: tracer.save(sm, ours), repeats)
        save_np = _median_seconds(lambda: np.savez(npz, **arrays), repeats)
        rows += [("tracer.save", save_ours * 1e3, "ms (includes fsync: atomic, durable)"),
                 ("np.savez", save_np * 1e3, "ms (no fsync)"),
                 ("save ratio tracer/numpy", save_ours / save_np, "x")]

        def np_load() -> None:
            with np.load(npz) as f:
                for k in f.files:
                    f[k]
        load_ours = _median_seconds(lambda: tracer.load(ours), repeats)
        load_np = _median_seconds(np_load, repeats)
        first_ours = _median_seconds(lambda: tracer.load(ours)(x), repeats)
        rows += [("tracer.load", load_ours * 1e3, "ms (maps copy-on-write; pages read on first use)"),
                 ("np.load (every array)", load_np * 1e3, "ms (reads the arrays)"),
                 ("load ratio tracer/numpy", load_ours / load_np, "x (target <= 0.10)"),
                 ("tracer.load + first forward", first_ours * 1e3, "ms (touches every weight)")]
        size_ours, size_np = os.path.getsize(ours), os.path.getsize(npz)
        rows += [("archive size overhead", (size_ours - weight_bytes) / 1024, "KiB over the raw weights"),
                 ("npz size overhead", (size_np - weight_bytes) / 1024, "KiB over the raw weights")]
        rows += _torch_rows(m, width, tmp, repeats)
    return rows


def _torch_rows(m: nn.Module, width: int, tmp: str, repeats: int) -> list[tuple[str, float, str]]:
    try:
        import torch
    except ImportError:
        return [("torch.jit", float("nan"), "torch not installed")]
    torch.set_num_threads(2)
    layers = [torch.nn.Linear(width, width) for _ in m]
    tm = torch.jit.script(torch.nn.Sequential(*layers).eval())
    path = os.path.join(tmp, "torch.pt")
    save_t = _median_seconds(lambda: torch.jit.save(tm, path), repeats)
    load_t = _median_seconds(lambda: torch.jit.load(path), repeats)
    return [("torch.jit.save", save_t * 1e3, "ms"), ("torch.jit.load", load_t * 1e3, "ms")]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mib", type=int, default=256, help="size of the model's weights")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args(argv)
    print(f"archive benchmark: {args.mib} MiB of float32 weights, median of {args.repeats} runs")
    for what, value, note in run(args.mib, args.repeats):
        print(f"  {what:<30} {value:>10.3f}  {note}")


if __name__ == "__main__":
    main()
