"""A new process that loads a model whose kernels are all cached, and runs it, imports only what
that needs: no compiler (neither numba nor ``codegen.compiler``), no OpenSSL (``hashlib``), no
compile-worker or temporary-file modules, no tracer internals; and it gives the same output as the
process that compiled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

import tracer
from tracer import nn

ROOT = Path(__file__).resolve().parents[2]

_CHILD = """
import json, sys
import numpy as np, tracer
sm = tracer.load(sys.argv[1], _restore_shapes=True)
out = sm(np.load(sys.argv[2]))
np.save(sys.argv[3], out)
from codegen.cache import STATS
import codegen.blas as blas
kernel_blas = blas.find_blas()
print(json.dumps({"compiled": STATS.compiled, "loaded": STATS.loaded, "backend": sm.backend,
                  "private_blas": kernel_blas is not None and kernel_blas.private,
                  "blas_warm_ups": [t.name for t in blas._WARMING],
                  "modules": [m for m in ("numba", "llvmlite", "hashlib", "_hashlib", "tempfile", "codegen.parallel",
                                          "codegen.compiler", "codegen.prebuilt",
                                          "tracer.proxy", "tracer.trace", "tracer.script") if m in sys.modules]}))
"""


class _Block(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(16, 32), nn.Linear(32, 8)

    def forward(self, x):
        return self.fc2(np.tanh(self.fc1(x))) * 2.0


def _run(tmp_path: Path, tag: str) -> dict:
    env = dict(os.environ, TRACER_CACHE_DIR=str(tmp_path / "cache"), PYTHONPATH=str(ROOT))
    env.pop("TRACER_BACKEND", None)
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(tmp_path / "m.pt"), str(tmp_path / "x.npy"),
                           str(tmp_path / f"{tag}.npy")], capture_output=True, text=True, env=env, timeout=600,
                          cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_warm_start_imports_only_what_loading_and_running_need(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 16)).astype(np.float32)
    tracer.save(tracer.trace(_Block().eval(), x), str(tmp_path / "m.pt"))
    np.save(tmp_path / "x.npy", x)
    cold = _run(tmp_path, "cold")
    warm = _run(tmp_path, "warm")
    if cold["backend"] != "numba":
        return  # no numba here: nothing is compiled or cached
    assert cold["compiled"] > 0 and warm["compiled"] == 0 and warm["loaded"] == cold["compiled"]
    np.testing.assert_array_equal(np.load(tmp_path / "warm.npy"), np.load(tmp_path / "cold.npy"))
    if "numba" not in warm["modules"] and "llvmlite" not in warm["modules"]:  # the ELF loader linked them
        assert warm["modules"] == [], warm["modules"]



def test_kernels_on_the_private_blas_leave_numpys_blas_threads_asleep(tmp_path):
    """NumPy's OpenBLAS is not warmed up (its threads started, spinning beside our pool's worker
    during the first calls) by a process whose kernels call only the private copy."""
    x = np.random.default_rng(1).standard_normal((256, 16)).astype(np.float32)
    tracer.save(tracer.trace(_Block().eval(), x), str(tmp_path / "m.pt"))
    np.save(tmp_path / "x.npy", x)
    for tag in ("cold", "warm"):
        got = _run(tmp_path, tag)
        if got["backend"] == "numba" and got["private_blas"]:
            assert got["blas_warm_ups"] == [], (tag, got)
