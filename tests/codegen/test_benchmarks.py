"""``python -m benchmarks`` runs end to end (toy sizes, few repeats); timings are never asserted."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


ZOO = ("mlp", "gelu_ln", "cnn", "transformer", "rnn", "transformer4", "eltwise", "gpt", "rnn_traced")
NEW_PEERS = ("torch.compile", "jax", "onnxruntime")


def _run_benchmarks(args, tmp_path, kernel_cache_dir):
    # the session's kernel cache: kernels that earlier tests compiled are loaded, not rebuilt
    env = dict(os.environ, PYTHONPATH=str(ROOT), TRACER_CACHE_DIR=str(kernel_cache_dir))
    env.pop("TRACER_BACKEND", None)
    args = [*args, "--json", str(tmp_path / "r.json")]
    proc = subprocess.run([sys.executable, "-m", "benchmarks", *args], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout, json.loads((tmp_path / "r.json").read_text())


@pytest.mark.slow
def test_benchmark_script_runs_on_a_tiny_config(tmp_path, kernel_cache_dir):
    # the slow-to-build peers (torch.compile, JAX, ONNX Runtime) have their own test below
    args = ["--quick", "--tiny", "--no-compile-times", "--peers", "torch,torchscript", "--latency", "mlp"]
    out, report = _run_benchmarks(args, tmp_path, kernel_cache_dir)
    for name in ZOO:
        assert f"\n{name} " in out
    assert "## peak memory per call" in out and "## targets" in out and "\ngeomean " in out
    assert "warm cache:" in out and "numba imported: False" in out.split("warm cache:")[1].splitlines()[0]
    assert set(report["models"]) == set(ZOO)
    for model in report["models"].values():
        assert model["max_rel_err"] < 1e-5
        assert model["spec_err"]["numba"] <= 1e-5 and model["spec_err"]["interpreter"] <= 1e-5
        assert not set(model["ms"]) & set(NEW_PEERS)
        runs = model["pool_runs"]  # how the pool ran numba's split kernels while they were timed
        assert runs is None or (set(runs) == {"shared", "stalls", "late", "solo", "preempted"}
                                and min(runs.values()) >= 0 and runs["stalls"] <= runs["shared"])
    if importlib.util.find_spec("torch") is not None:
        for name in ZOO[:-1]:  # rnn_traced's twin is rnn's, timed once
            assert {"torch", "torchscript"} <= set(report["models"][name]["ms"]), name


@pytest.mark.slow
def test_benchmark_compares_with_the_peers_at_tiny_sizes(tmp_path, kernel_cache_dir):
    """Each peer either runs (its output within SPEC's tolerance of NumPy eager) or is skipped
    with a line saying it is not installed; the start-up times of ours, ORT and JAX; ``--busy``."""
    args = ["--quick", "--tiny", "--no-compile-times", "--only", "gpt,eltwise", "--latency", "gpt", "--busy",
            "--peers", ",".join(NEW_PEERS)]
    out, report = _run_benchmarks(args, tmp_path, kernel_cache_dir)
    assert "# --busy: a CPU-bound process runs beside the timing" in out
    assert set(report["models"]) == {"gpt", "eltwise"}
    for peer in NEW_PEERS:
        if peer in report["skipped"]:
            assert f"# {peer}: skipped, not installed" in out
            continue
        assert peer in out.split("\n## time per call")[1].splitlines()[1]  # a column of the table
        for name, model in report["models"].items():
            assert model["spec_err"][peer] <= 1e-5, (name, peer, model["absent"])
            assert model["ms"][peer] > 0
    latency = report["latency"]["gpt"]
    assert latency["ours"]["warm"]["compiled"] == 0 and latency["ours"]["warm"]["loaded"] > 0
    for system in ("onnxruntime", "jax"):
        if system not in report["skipped"]:
            assert {"cold", "warm"} <= set(latency[system]) and latency[system]["warm"]["first_output"] > 0
    if "jax" not in report["skipped"]:
        assert latency["jax"]["warm"]["cache_files"] > 0  # warm really read a filled compilation cache
    assert "## against the peers (issue 13)" in out or set(NEW_PEERS) <= set(report["skipped"])


@pytest.mark.slow
def test_blas_measurement_scripts_run(capsys, kernel_cache_dir):
    from benchmarks import blas_bits, blas_cores, gemm_floor

    blas_bits.main()
    out = capsys.readouterr().out
    assert "per image, strided operands:         0" in out, out  # the same call on other memory: same bits
    blas_cores.main()
    out = capsys.readouterr().out
    assert "mlp fc2" in out or "no private copy" in out, out
    gemm_floor.main()
    out = capsys.readouterr().out
    assert "the 3 matmuls alone" in out and "ceiling over NumPy eager" in out, out


def test_conv_taps_compares_the_planners_form_with_im2col(kernel_cache_dir):
    from benchmarks import conv_taps
    from codegen.blas import find_blas
    from codegen.mathlib_gemm import available

    form, got = conv_taps.compare((2, 3, 10, 10, 8, 3, 0), calls=3)
    own = available() and find_blas() is not None and find_blas().private
    assert form == ("wide" if own else "im2col"), form  # 3 strips of the wide row against im2col's 2
    assert set(got) == {"chosen", "im2col"} and all(0 < best <= med for med, best in got.values()), got


def test_a_peer_that_is_not_installed_is_skipped_with_a_line(monkeypatch, capsys):
    from benchmarks import run

    real = importlib.util.find_spec
    absent = ("jax", "jaxlib", "onnxruntime")
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name.split(".")[0] in absent else real(name, *a, **k))
    report = run.main(["--quick", "--tiny", "--no-compile-times", "--no-latency", "--only", "eltwise",
                       "--peers", "jax,onnxruntime"])
    out = capsys.readouterr().out
    assert "\n# jax: skipped, not installed: jax, jaxlib (pip install -e '.[bench]')" in out
    assert "\n# onnxruntime: skipped, not installed: " in out
    assert set(report["skipped"]) == {"jax", "onnxruntime"}
    assert set(report["models"]["eltwise"]["ms"]) == {"numpy", "interpreter", "numba"}
    assert "\neltwise " in out and "\ngeomean " in out


def test_options_ab_compares_a_plan_option_in_one_process(capsys, kernel_cache_dir):
    from benchmarks import options_ab

    best = options_ab.main(["transformer", "merge_splits", "--tiny", "--calls", "3"])
    out = capsys.readouterr().out
    assert "merge_splits=False: " in out and "merge_splits=True: " in out, out
    assert len(best) == 4 and all(v > 0 for v in best.values()), best
    with pytest.raises(SystemExit):
        options_ab.main(["transformer", "threads", "--tiny"])  # not a boolean option


@pytest.mark.slow
def test_warm_start_ab_runs_both_trees_in_turn(tmp_path):
    """``python -m benchmarks.warm_ab`` exports a revision and times its warm starts beside this
    tree's (a toy model, two rounds; timings are never asserted)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("TRACER_BACKEND", None)
    proc = subprocess.run([sys.executable, "-m", "benchmarks.warm_ab", "--rev", "HEAD", "--only", "mlp", "--tiny",
                           "-n", "2"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    lines = [line for line in proc.stdout.splitlines() if line.startswith("mlp ")]
    assert len(lines) == 2 and "HEAD" in lines[0] and "this tree" in lines[1], proc.stdout
    assert all("first output" in line and "(2 processes" in line for line in lines)
