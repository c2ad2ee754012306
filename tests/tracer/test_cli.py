"""``python -m tracer inspect|run|graph``, run as a user would: in a subprocess, reading its output."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

import tracer
from tests.script_models import Acceptance, Block, TwoInTwoOut, f32


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """Archives and inputs in one folder, with the eager models they came from."""
    d = tmp_path_factory.mktemp("cli")
    block, two, acc = Block().eval(), TwoInTwoOut().eval(), Acceptance().eval()
    x, x6, y3, x8 = f32(8, 16), f32(5, 6), f32(5, 3), f32(3, 8)
    # check_trace=False: the archives are what is tested here, and checking would compile kernels
    tracer.save(tracer.trace(block, (x,), check_trace=False), d / "block.pt", _extra_files={"meta.json": b'{"v": 1}'})
    tracer.save(tracer.trace(two, (x6, y3), check_trace=False), d / "two.pt")
    tracer.save(tracer.script(acc), d / "acc.pt")
    for name, array in {"x": f32(3, 16), "x6": x6, "y3": y3, "x8": x8, "n": np.int64(3)}.items():
        np.save(d / f"{name}.npy", array)
    (d / "notes.txt").write_text("not an archive\n")
    np.savez(d / "pair.npz", a=x6, b=y3)
    return d, {"block": block, "two": two, "acc": acc}


def cli(folder, *args, env=None):
    """Run ``python -m tracer *args`` in ``folder``; returns the completed process (text)."""
    return subprocess.run([sys.executable, "-m", "tracer", *map(str, args)], cwd=folder, capture_output=True,
                          text=True, timeout=300, env=env)


def ok(folder, *args):
    done = cli(folder, *args)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    return done.stdout


# -- inspect --------------------------------------------------------------------------------------
def test_inspect_prints_what_the_archive_holds(files):
    d, _ = files
    out = ok(d, "inspect", "block.pt")
    info = tracer.inspect(d / "block.pt")
    lines = out.splitlines()
    assert lines[0].startswith(f"block.pt: numpy-tracer archive, format version {info.version}, a module")
    assert "  forward(x: f32[8, 16])" in lines
    assert f"parameters and buffers: {len(info.parameters)} arrays, 2,163 values" in out
    assert re.search(r"^  fc\.weight +f32\[64, 16\] +4\.0 KiB +cpu$", out, re.M)
    assert re.search(r"^  steps +i64\[3\] +24 B +cpu$", out, re.M)
    assert "stored inputs:\n  forward: f32[8, 16]\n" in out
    assert f"ops: {len(info.ops)}\n" in out
    for op, version in info.ops.items():
        assert f"{op} v{version}" in out
    assert lines[-1] == "extra files: meta.json"


def test_inspect_scripted_module_and_json(files):
    d, _ = files
    out = ok(d, "inspect", "acc.pt")
    assert "  forward(x: ?[*], n: int)" in out
    assert "stored inputs: none" in out and "if v1" in out and "loop v1" in out
    assert "extra files: none" in out
    data = json.loads(ok(d, "inspect", "block.pt", "--json"))
    info = tracer.inspect(d / "block.pt")
    assert data["version"] == info.version and data["ops"] == info.ops and data["extra_files"] == ["meta.json"]
    assert data["parameters"]["fc.weight"] == [[64, 16], "float32", "cpu"]
    assert data["signatures"] == {"forward": [["x", "f32[8, 16]"]]}


# -- run ------------------------------------------------------------------------------------------
def test_run_prints_a_summary_of_each_output(files):
    d, models = files
    out = ok(d, "run", "block.pt", "--input", "x.npy")
    want = models["block"](np.load(d / "x.npy"))
    (line,) = out.splitlines()
    assert line.startswith("out0: f32[3, 16] = [")
    head = re.search(r"= \[([^\]]*?)(?: \.\.\.)?\]", line).group(1)
    np.testing.assert_allclose(np.array(head.split(), dtype=float), want.reshape(-1)[:6], atol=1e-3)
    stats = dict(re.findall(r"(min|max|mean) (\S+)", line))
    np.testing.assert_allclose(float(stats["min"]), want.min(), rtol=1e-4)
    np.testing.assert_allclose(float(stats["max"]), want.max(), rtol=1e-4)


def test_run_writes_npy_equal_to_eager(files, tmp_path):
    d, models = files
    out = ok(d, "run", "block.pt", "-i", "x.npy", "--output", tmp_path / "y.npy")
    assert out == f"wrote {tmp_path / 'y.npy'}: out0 f32[3, 16]\n"
    got = np.load(tmp_path / "y.npy")
    np.testing.assert_allclose(got, models["block"](np.load(d / "x.npy")), rtol=1e-5, atol=1e-6)


def test_run_several_inputs_and_outputs_writes_npz(files, tmp_path):
    d, models = files
    # the interpreter (the default backend is tested above; compiling here would only add time)
    ok(d, "run", "two.pt", "-i", "x6.npy", "-i", "y3.npy", "-o", tmp_path / "out.npz", "--backend", "interpreter")
    got = np.load(tmp_path / "out.npz")
    want = models["two"](np.load(d / "x6.npy"), np.load(d / "y3.npy"))
    assert got.files == ["out0", "out1"]
    for name, w in zip(got.files, want):
        np.testing.assert_allclose(got[name], w, rtol=1e-5, atol=1e-6)
    summary = ok(d, "run", "two.pt", "-i", "x6.npy", "-i", "y3.npy", "--backend", "interpreter").splitlines()
    assert [s.split(" =")[0] for s in summary] == ["out0: f32[5, 4]", "out1: f32[5]"]


def test_run_scripted_module_with_an_int_argument_and_a_default(files, tmp_path):
    d, models = files
    x8 = np.load(d / "x8.npy")
    ok(d, "run", "acc.pt", "-i", "x8.npy", "-i", "n.npy", "-o", tmp_path / "n3.npy", "--backend", "interpreter")
    np.testing.assert_array_equal(np.load(tmp_path / "n3.npy"), models["acc"](x8, 3))  # bit for bit
    ok(d, "run", "acc.pt", "-i", "x8.npy", "-o", tmp_path / "n2.npy", "--backend", "interpreter")
    np.testing.assert_array_equal(np.load(tmp_path / "n2.npy"), models["acc"](x8))  # n=2 (the default)


# -- graph ----------------------------------------------------------------------------------------
def test_graph_text_is_the_ir_listing(files):
    d, _ = files
    out = ok(d, "graph", "block.pt")
    assert out == str(tracer.load(d / "block.pt").graph) + "\n"
    assert out.startswith("graph forward(%x: f32[8, 16]):")


def test_graph_dot_has_ops_typed_edges_and_block_clusters(files, tmp_path):
    d, _ = files
    out = ok(d, "graph", "block.pt", "--format", "dot")
    assert out.startswith('digraph "forward" {') and out.rstrip().endswith("}")
    graph = tracer.load(d / "block.pt").graph
    assert out.count(" -> ") == graph.nx.number_of_edges()
    for op in [*tracer.inspect(d / "block.pt").ops, "output"]:  # every op of the program, by name
        assert f'[label="{op}' in out
    assert '[label="f32[8, 16]"]' in out and 'label="param\\nfc.weight"' in out
    ok(d, "graph", "acc.pt", "-f", "dot", "-o", tmp_path / "acc.dot")
    text = (tmp_path / "acc.dot").read_text()
    assert len(re.findall(r"subgraph cluster_", text)) == 4  # if: then, else; two loops: body
    assert 'label="then"' in text and 'label="else"' in text and 'label="body"' in text


@pytest.mark.skipif(shutil.which("dot") is None and not os.environ.get("CI"),
                    reason="Graphviz is not installed (sudo apt-get install graphviz); CI always runs this")
@pytest.mark.parametrize("name", ["block", "acc"])
def test_graph_svg_is_xml_naming_the_programs_ops(files, tmp_path, name):
    d, _ = files
    ok(d, "graph", f"{name}.pt", "--format", "svg", "--output", tmp_path / "g.svg")
    root = ET.parse(tmp_path / "g.svg").getroot()
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {t.text for t in root.iter("{http://www.w3.org/2000/svg}text")}
    ops = {*tracer.inspect(d / f"{name}.pt").ops, "input", "param", "output"}  # the ops, and blocks' ops too
    assert ops <= {t.split()[0] for t in texts if t}, ops - texts
    assert "f32[8, 8]" in texts or "f32[8, 16]" in texts  # edges carry value types


def test_graph_svg_without_graphviz_says_how_to_install_it(files, tmp_path):
    d, _ = files
    env = {**os.environ, "PATH": str(tmp_path)}  # an empty folder: no `dot` on it
    done = cli(d, "graph", "block.pt", "--format", "svg", env=env)
    assert done.returncode == 1 and done.stdout == ""
    (line,) = done.stderr.splitlines()
    assert line.startswith("tracer graph: error: Graphviz's `dot` program is not installed")
    assert "apt-get install graphviz" in line


# -- help and errors ------------------------------------------------------------------------------
def run_main(capsys, *args):
    """``tracer.cli.main(args)`` in this process: (exit status, stdout, stderr)."""
    from tracer.cli import main

    try:
        code = main([str(a) for a in args])
    except SystemExit as exc:  # --help
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def test_help_documents_each_command(files, capsys):
    d, _ = files
    top = ok(d, "--help")
    assert top.startswith("usage: python -m tracer [-h] COMMAND ...")
    for command in ("inspect", "run", "graph"):
        assert re.search(rf"^    {command} +\S", top, re.M)
    code, inspect_help, _ = run_main(capsys, "inspect", "--help")
    assert code == 0 and "--json" in inspect_help and "FILE" in inspect_help
    _, run_help, _ = run_main(capsys, "run", "--help")
    assert all(opt in run_help for opt in ("--input", "--output", "--method", "--backend", ".npz"))
    _, graph_help, _ = run_main(capsys, "graph", "--help")
    assert "{text,dot,svg}" in graph_help and "apt-get install graphviz" in graph_help


ERRORS = [
    ((), 2, "tracer: error: the following arguments are required: COMMAND"),
    (("frob",), 2, "invalid choice: 'frob'"),
    (("inspect",), 2, "tracer inspect: error: the following arguments are required: FILE"),
    (("run", "block.pt"), 2, "tracer run: error: the following arguments are required: --input"),
    (("graph", "block.pt", "--format", "png"), 2, "invalid choice: 'png'"),
    (("inspect", "missing.pt"), 1, "tracer inspect: error: no such file: missing.pt"),
    (("graph", "."), 1, "is a directory, not an archive"),
    (("inspect", "notes.txt"), 1, "notes.txt is not a readable archive"),
    (("run", "notes.txt", "-i", "x.npy"), 1, "notes.txt is not a readable archive"),
    (("run", "block.pt", "-i", "x.npy", "-i", "x.npy"), 1, "forward(x: f32[8, 16]) takes 1 input, got 2"),
    (("run", "two.pt", "-i", "x6.npy"), 1, "takes 2 inputs, got 1"),
    (("run", "block.pt", "-i", "missing.npy"), 1, "no such input file: missing.npy"),
    (("run", "block.pt", "-i", "notes.txt"), 1, "notes.txt is not a .npy file"),
    (("run", "block.pt", "-i", "pair.npz"), 1, "pair.npz is an .npz archive"),
    (("run", "block.pt", "-i", "cut.npy"), 1, "cannot read input cut.npy as a .npy array"),
    (("run", "block.pt", "-i", "x8.npy", "--backend", "interpreter"), 1,
     "running forward on the given inputs failed: ValueError: operands could not be broadcast"),
    (("run", "two.pt", "-i", "x6.npy", "-i", "y3.npy", "-o", "o.npy"), 1, "give --output a name ending in .npz"),
    (("run", "block.pt", "-i", "x.npy", "--method", "nope"), 1, "the module has no method 'nope'; it has forward"),
]
#: The ones also run through ``python -m tracer`` in a subprocess: one of each kind of failure.
SUBPROCESS_ERRORS = {"run block.pt", "inspect notes.txt", "run block.pt -i cut.npy",
                     "run two.pt -i x6.npy", "run block.pt -i x8.npy --backend interpreter"}


def _one_line_error(code, out, err, want_code, message):
    assert code == want_code
    assert "Traceback" not in err
    assert len(err.splitlines()) == 1, err
    assert message in err
    assert out == ""


@pytest.mark.parametrize("args,code,message", ERRORS, ids=[" ".join(a) or "none" for a, _, _ in ERRORS])
def test_errors_are_one_line_and_a_nonzero_exit(files, capsys, monkeypatch, args, code, message):
    d, _ = files
    (d / "cut.npy").write_bytes((d / "x.npy").read_bytes()[:20])  # a truncated .npy
    monkeypatch.chdir(d)
    _one_line_error(*run_main(capsys, *args), code, message)
    if " ".join(args) in SUBPROCESS_ERRORS:
        done = cli(d, *args)
        _one_line_error(done.returncode, done.stdout, done.stderr, code, message)
