"""Loading a hostile file: bounded time, bounded memory, nothing imported, one exception type.

Each archive of ``hostile_cases`` is loaded in a child process (``hostile_runner.py``) capped at
2 GiB of address space, every job within 10 s, with an audit hook proving that loading imports no
module, opens no file but the archive and starts no process.  Jobs are batched: one child per
test, since starting one costs about a second.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

import tracer
from tests.runtime import hostile_cases as hc

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("hostile_runner.py")
JOB_SECONDS = 10.0
MODES = ("path", "bytesio", "restore", "inspect", "cli", "extra")
FUZZ_CI = int(os.environ.get("TRACER_HOSTILE_FUZZ", "300"))


def run_jobs(tmp: Path, files: dict[str, bytes], modes: tuple[str, ...] = MODES) -> dict[tuple[str, str], dict]:
    """Write ``files``, load each in every mode in one child process; results by (name, mode)."""
    jobs, names = [], {}
    for name, data in files.items():
        path = tmp / (name.replace("/", "_") + ".pt")
        path.write_bytes(data)
        names[str(path)] = name
        jobs += [[str(path), m] for m in modes]
    jobs_file = tmp / "jobs.json"
    jobs_file.write_text(json.dumps(jobs))
    env = {**os.environ, "TRACER_BACKEND": "interpreter", "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1",
           "OPENBLAS_NUM_THREADS": "1", "NUMBA_NUM_THREADS": "1"}
    timeout = min(900.0, 60.0 + JOB_SECONDS * len(jobs) / 4)
    try:
        proc = subprocess.run([sys.executable, str(RUNNER), str(jobs_file)], cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=timeout)
        out, err = proc.stdout, proc.stderr
    except subprocess.TimeoutExpired as exc:
        out = exc.stdout.decode() if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = "timed out"
    results: dict[tuple[str, str], dict] = {}
    started = None
    for line in out.splitlines():
        rec = json.loads(line)
        if "start" in rec:
            started = rec["start"]
        else:
            path, mode = rec["done"]
            results[(names[path], mode)] = rec
            started = None
    if started is not None:
        pytest.fail(f"the child died or hung in {names[started[0]]!r} ({started[1]}): {err[-2000:]}")
    missing = [(names[p], m) for p, m in jobs if (names[p], m) not in results]
    assert not missing, f"jobs never ran: {missing[:5]}; stderr: {err[-2000:]}"
    return results


def check(results: dict[tuple[str, str], dict]) -> None:
    bad = []
    for (name, mode), rec in results.items():
        outcome = rec["outcome"]
        if not (outcome == "ok" or outcome.startswith("SerializationError")):
            bad.append(f"{name} [{mode}]: {outcome}")
        if rec["seconds"] > JOB_SECONDS:
            bad.append(f"{name} [{mode}]: took {rec['seconds']:.1f} s")
        if rec["violations"]:
            bad.append(f"{name} [{mode}]: {rec['violations']}")
    assert not bad, "\n".join(bad)


@pytest.fixture(scope="module")
def case_results(tmp_path_factory) -> dict[tuple[str, str], dict]:
    tmp = tmp_path_factory.mktemp("hostile")
    return run_jobs(tmp, {name: make() for name, make in hc.CASES.items()})


def test_every_case_ends_in_success_or_serialization_error(case_results):
    check(case_results)


def _outcome(results, name: str, mode: str = "path") -> str:
    return results[(name, mode)]["outcome"]


@pytest.mark.parametrize("name", [f"np.{n}" for n in hc.NUMPY_NAMES] + ["np.fft.fft", "np.linalg.norm-unknown"])
def test_numpy_names_outside_the_table_are_refused(case_results, name):
    outcome = _outcome(case_results, name)
    assert "not available in programs" in outcome or "dunder attribute" in outcome, outcome


@pytest.mark.parametrize(("name", "limit"), [
    ("range-2e8", "container"), ("tuple-range-1e9", "container"), ("tuple-doubled-40", "container|limit work="),
    ("nested-static-loops-1e8", "unrolled"), ("split-2e6", "outputs"), ("x-plus-x-16MiB", "MAX_PROGRAM_TOKENS"),
    ("meta-60MiB-lists", "MAX_META_ELEMENTS"), ("deep-json", "MAX_JSON_DEPTH"), ("many-entries", "MAX_ENTRIES"),
    ("static-square-40", "too large"), ("static-pow", "too large"),
])
def test_budgets_name_the_limit_and_the_entry(case_results, name, limit):
    for mode in ("path", "inspect") if name in ("meta-60MiB-lists", "deep-json", "many-entries") else ("path",):
        outcome = _outcome(case_results, name, mode)
        assert any(lim in outcome for lim in limit.split("|")), outcome
        assert "archive/" in outcome or ".pt" in outcome, outcome


@pytest.mark.parametrize("name", ["extra-bomb-declared", "extra-bomb-lying"])
def test_inflating_extra_files_is_bounded(case_results, name):
    outcome = _outcome(case_results, name, "extra")
    assert outcome.startswith("SerializationError") and "archive/extra/bomb" in outcome, outcome


def test_early_returns_compile_once_and_too_deep_nesting_is_refused(case_results):
    # one exit (lower_returns): 22 returning ifs in a row load as a 22-deep program, not 2**22 copies
    for mode in ("path", "restore"):
        assert _outcome(case_results, "early-returns-22", mode) == "ok"
    # 400 put the rest of the function 400 blocks deep: more than the printed text can indent
    assert "nest more than 80 deep" in _outcome(case_results, "early-returns-400")


@pytest.mark.parametrize("name", ["pow-1e9", "square-40", "range-loops-22", "restore-square-loop", "valid"])
def test_what_used_to_hang_now_loads(case_results, name):
    for mode in ("path", "restore"):
        assert _outcome(case_results, name, mode) == "ok"


@pytest.mark.parametrize("name", ["deepcopy-method", "dunder-param", "repr-html-child"])
def test_protocol_names_are_refused_at_load(case_results, name):
    for mode in ("path", "inspect") if name != "deepcopy-method" else ("path",):
        assert "reserved for Python protocols" in _outcome(case_results, name, mode)


@pytest.mark.parametrize("name", ["inspect-extra-files-int", "inspect-extra-files-list-of-int", "inspect-inputs-str",
                                  "inspect-input-types-int", "inspect-methods-list", "too-many-stored-inputs"])
def test_inspect_validates_as_load_does(case_results, name):
    load_ok = _outcome(case_results, name, "path") == "ok"
    inspect_ok = _outcome(case_results, name, "inspect") == "ok"
    if name != "too-many-stored-inputs":
        assert not load_ok and not inspect_ok
    else:
        assert _outcome(case_results, name, "restore").startswith("SerializationError")


def test_container_tricks_are_refused(case_results):
    assert "control characters" in _outcome(case_results, "nul-entry-name")
    assert "overlap" in _outcome(case_results, "overlapping-entries")


def test_cli_escapes_what_the_file_says(case_results):
    assert _outcome(case_results, "escape-sequences", "cli") == "ok"  # the runner refuses raw escapes


def test_structure_aware_fuzzer(tmp_path):
    files = {f"fuzz{seed}": hc.fuzz_case(seed) for seed in range(FUZZ_CI)}
    check(run_jobs(tmp_path, files, modes=("bytesio", "inspect")))


@pytest.mark.fuzz
def test_structure_aware_fuzzer_long(tmp_path):
    n = int(os.environ.get("TRACER_FUZZ_EXAMPLES", "3000"))
    files = {f"fuzz{seed}": hc.fuzz_case(seed) for seed in range(FUZZ_CI, FUZZ_CI + n)}
    check(run_jobs(tmp_path, files, modes=("path", "bytesio", "restore", "inspect")))


# -- in-process ---------------------------------------------------------------------------------
def test_concurrent_loads_of_one_file():
    data = hc.build()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                m = tracer.load(io.BytesIO(data))
                np.testing.assert_array_equal(m(np.ones(3, np.float32)), np.arange(3, dtype=np.float32) + 1)
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]


def _loaded():
    return tracer.load(io.BytesIO(hc.build()))


def test_save_never_touches_the_umask(tmp_path, monkeypatch):
    m = _loaded()
    mask = os.umask(0o022)
    os.umask(mask)

    def refuse(_):
        raise AssertionError("os.umask called")

    monkeypatch.setattr(os, "umask", refuse)
    tracer.save(m, tmp_path / "m.pt")
    assert stat.S_IMODE(os.stat(tmp_path / "m.pt").st_mode) == 0o666 & ~mask


def test_stale_temporaries_of_dead_saves_are_removed(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(dead.stdout)
    old = time.time() - 3600
    stale = tmp_path / f".tracer-{dead_pid}-abc.tmp"
    recent = tmp_path / f".tracer-{dead_pid}-def.tmp"
    alive = tmp_path / f".tracer-{os.getppid()}-ghi.tmp"
    other = tmp_path / ".tracer-notapid.tmp"
    for p in (stale, recent, alive, other):
        p.write_bytes(b"partial")
    for p in (stale, alive, other):
        os.utime(p, (old, old))
    tracer.save(_loaded(), tmp_path / "m.pt")
    assert not stale.exists()
    assert recent.exists() and alive.exists() and other.exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")) == sorted(
        p.name for p in (recent, alive, other))


def test_protocol_names_are_refused_at_save(tmp_path):
    m = _loaded()
    m.__dict__["_methods"]["__deepcopy__"] = m.__dict__["_methods"]["forward"]
    with pytest.raises(tracer.SerializationError, match="__deepcopy__"):
        tracer.save(m, tmp_path / "m.pt")


def test_entries_are_listed_by_unzip_after_the_checks():
    with zipfile.ZipFile(io.BytesIO(hc.build())) as zf:
        assert zf.testzip() is None
