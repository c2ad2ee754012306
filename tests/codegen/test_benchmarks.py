"""``python -m benchmarks`` runs end to end (toy sizes, few repeats); timings are never asserted."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_benchmark_script_runs_on_a_tiny_config(tmp_path, kernel_cache_dir):
    # the session's kernel cache: kernels that earlier tests compiled are loaded, not rebuilt
    env = dict(os.environ, PYTHONPATH=str(ROOT), TRACER_CACHE_DIR=str(kernel_cache_dir))
    env.pop("TRACER_BACKEND", None)
    args = ["--quick", "--tiny", "--no-compile-times", "--json", str(tmp_path / "r.json")]
    proc = subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for name in ("mlp", "gelu_ln", "cnn", "transformer", "rnn", "rnn_traced"):
        assert f"\n{name} " in out
    assert "## peak memory per call" in out and "## targets" in out
    assert "warm cache:" in out and "numba imported: False" in out.split("warm cache:")[1].splitlines()[0]
    import json

    report = json.loads((tmp_path / "r.json").read_text())
    assert set(report["models"]) == {"mlp", "gelu_ln", "cnn", "transformer", "rnn", "rnn_traced"}
    for model in report["models"].values():
        assert model["max_rel_err"] < 1e-5


@pytest.mark.slow
def test_blas_measurement_scripts_run(capsys, kernel_cache_dir):
    from benchmarks import blas_bits, gemm_floor

    blas_bits.main()
    out = capsys.readouterr().out
    assert "per image, strided operands:         0" in out, out  # what exact-call kernels rely on
    gemm_floor.main()
    out = capsys.readouterr().out
    assert "the 3 matmuls alone" in out and "ceiling over NumPy eager" in out, out
