"""The systems a user would pick instead, each on the zoo model's twin with the same weights.

* ``torch``: PyTorch eager (``benchmarks.torch_twins``), under ``torch.inference_mode``;
* ``torchscript``: ``torch.jit.trace`` + ``torch.jit.freeze`` of the twin;
* ``torch.compile``: ``torch.compile`` of the twin (inductor, its default backend);
* ``jax``: ``jax.jit`` of the model written in ``jax.numpy`` (``benchmarks.jax_twins``), weights and
  input already on the device, timed to ``block_until_ready``;
* ``onnxruntime``: the PyTorch twin exported with ``torch.onnx.export`` (torch's default exporter,
  which needs ``onnxscript``; without it the TorchScript-based one), run by an ONNX Runtime
  ``InferenceSession`` on the CPU provider (its default graph optimizations).

Every one is limited to ``threads`` threads (``torch.set_num_threads``; ``XLA_FLAGS`` and
``NPROC`` set before JAX starts, see ``benchmarks.jax_twins.limit_threads``; ORT
``intra_op_num_threads``, ``inter_op_num_threads=1``) and its output is checked against NumPy
eager with SPEC's tolerance before it is timed.  A system that is not installed is absent:
:func:`missing` says why, and the benchmark prints that line.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["PEERS", "GROUPS", "missing", "spec_error", "spec_rtol", "peer_variants", "export_onnx"]

#: The peer variants, in the table's order.
PEERS = ("torch", "torchscript", "torch.compile", "jax", "onnxruntime")
#: Variants that take turns with each other (one runtime's spinning threads must not slow another's;
#: inductor's generated code runs on its own OpenMP threads).
GROUPS = {"torch": "torch", "torchscript": "torch", "torch.compile": "inductor", "jax": "jax",
          "onnxruntime": "onnxruntime"}
_NEEDS = {"torch": ("torch",), "torchscript": ("torch",), "torch.compile": ("torch",), "jax": ("jax", "jaxlib"),
          "onnxruntime": ("torch", "onnx", "onnxruntime")}


def missing(peer: str) -> str | None:
    """Why ``peer`` cannot run here (the packages it lacks), or ``None``."""
    absent = [p for p in _NEEDS[peer] if importlib.util.find_spec(p) is None]
    return f"not installed: {', '.join(absent)} (pip install -e '.[bench]')" if absent else None


def spec_rtol(want: np.ndarray) -> float:
    return 1e-5 if want.dtype == np.float32 else 1e-12


def spec_error(got: Any, want: np.ndarray) -> float:
    """SPEC's error measure: ``max |y - r| / (|r| + max |r|)`` (within tolerance when <= rtol)."""
    got = np.asarray(got)
    if got.shape != want.shape:
        return float("inf")
    r = np.abs(want.astype(np.float64))
    d = np.abs(got.astype(np.float64) - want)
    return float(np.max(d / np.maximum(r + r.max(initial=0.0), 1e-300), initial=0.0))


def export_onnx(twin: Any, x: np.ndarray, path: str | Path) -> None:
    """``torch.onnx.export`` of ``twin`` on example input ``x`` (the exporter's own chatter hidden)."""
    import torch

    dynamo = importlib.util.find_spec("onnxscript") is not None  # torch's default exporter needs it
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(twin, (torch.from_numpy(x),), str(path), input_names=["x"], output_names=["y"],
                          dynamo=dynamo, **({"verbose": False} if dynamo else {}))


def ort_session(path: str | Path, threads: int) -> Any:
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def _torch(case: Any, twin: Any, wanted: set[str]) -> dict[str, Callable[[], Any]]:
    import torch

    xt = torch.from_numpy(case.input)
    out: dict[str, Callable[[], Any]] = {}
    if "torch" in wanted:
        def eager() -> Any:
            with torch.inference_mode():
                return twin(xt)
        out["torch"] = eager
    if "torchscript" in wanted:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            scripted = torch.jit.freeze(torch.jit.trace(twin, xt, check_trace=False))

        def ts() -> Any:
            with torch.no_grad():
                return scripted(xt)
        out["torchscript"] = ts
    if "torch.compile" in wanted:
        compiled = torch.compile(twin)

        def tc() -> Any:
            with torch.no_grad():
                return compiled(xt)
        out["torch.compile"] = tc
    return out


def _jax(case: Any, threads: int) -> Callable[[], Any]:
    from .jax_twins import jax_config, jax_input, jax_model, limit_threads

    limit_threads(threads)  # read when JAX starts its CPU backend, on the first call below
    import jax

    params = {k: jax.device_put(np.ascontiguousarray(v)) for k, v in case.module.state_dict().items()}
    f = jax.jit(jax_model(case.name, jax_config(case.module)))
    x = jax.device_put(jax_input(case.input))
    return lambda: f(params, x).block_until_ready()


def _onnxruntime(case: Any, twin: Any, threads: int, folder: str) -> Callable[[], Any]:
    path = Path(folder) / f"{case.name}.onnx"
    export_onnx(twin, case.input, path)
    sess = ort_session(path, threads)
    feed = {sess.get_inputs()[0].name: case.input}
    return lambda: sess.run(None, feed)[0]


def peer_variants(case: Any, peers: list[str], threads: int, folder: str,
                  want: np.ndarray) -> tuple[dict[str, Callable[[], Any]], dict[str, float], dict[str, str]]:
    """The ``peers`` variants of ``case`` that are installed, build and match NumPy eager.

    Returns (variants, SPEC error of each, why each of the others is absent).  ``folder`` holds
    the exported ONNX files.
    """
    variants: dict[str, Callable[[], Any]] = {}
    absent: dict[str, str] = {}
    for p in peers:
        if (why := missing(p)) is not None:
            absent[p] = why
    twin = None
    torch_peers = {p for p in peers if p in ("torch", "torchscript", "torch.compile", "onnxruntime")} - set(absent)
    if torch_peers:
        import torch

        from .torch_twins import torch_twin

        torch.set_num_threads(threads)
        twin = torch_twin(case)
    builders: dict[str, Callable[[], dict[str, Callable[[], Any]]]] = {
        "torch": lambda: _torch(case, twin, {"torch"}),
        "torchscript": lambda: _torch(case, twin, {"torchscript"}),
        "torch.compile": lambda: _torch(case, twin, {"torch.compile"}),
        "jax": lambda: {"jax": _jax(case, threads)},
        "onnxruntime": lambda: {"onnxruntime": _onnxruntime(case, twin, threads, folder)},
    }
    errors: dict[str, float] = {}
    for p in peers:
        if p in absent:
            continue
        try:
            fn = builders[p]()[p]
            got = fn()
            got = got.numpy() if hasattr(got, "numpy") else np.asarray(got)
        except Exception as e:  # a peer that cannot build or run this model is reported, not fatal
            absent[p] = f"failed: {type(e).__name__}: {str(e).strip().splitlines()[0][:200] if str(e) else ''}"
            continue
        errors[p] = spec_error(got, want)
        if errors[p] <= spec_rtol(want):
            variants[p] = fn
        else:
            absent[p] = f"output differs from NumPy eager: SPEC error {errors[p]:.2e} > {spec_rtol(want):.0e}"
    return variants, errors, absent


def busy_process() -> Any:
    """A CPU-bound process (a busy loop), so that timing runs with the other core busy."""
    import subprocess

    return subprocess.Popen([sys.executable, "-c", "while True: pass"], env=dict(os.environ))
