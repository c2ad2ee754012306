"""Child process for the hostile-archive tests: ``python tests/runtime/hostile_runner.py JOBS.json``.

``JOBS.json`` lists ``[path, mode]`` pairs (mode: ``path``, ``bytesio``, ``restore``, ``inspect``,
``cli``, ``deepcopy``).  The process limits its address space to 2 GiB, imports the package and
warms it up, then installs an audit hook that records any import, any file opened other than the
archive and any process started while a job runs.  One JSON line per job goes to stdout before
the job starts (``start``) and after it (``done``: outcome, seconds, audit violations), so the
parent can tell which job hung if it has to kill the process.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import os
import resource
import sys
import time
import warnings

LIMIT_AS = 2 * 2**30


def main(jobs_file: str) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (LIMIT_AS, LIMIT_AS))
    warnings.simplefilter("error")
    os.environ.setdefault("TRACER_BACKEND", "interpreter")
    sys.path.insert(0, os.getcwd())
    with open(jobs_file) as f:
        jobs = json.load(f)
    import tracer
    from ir.frontend.program import PARSE_FILENAME
    from tracer import cli

    warm = jobs[0][0] if jobs else None
    _warm_up(tracer, cli, [p for p, _ in jobs])
    state: dict = {"active": False, "allowed": set(), "violations": []}

    PARSE_FILENAME = os.path.realpath(PARSE_FILENAME)  # noqa: N806

    def hook(event: str, args: tuple) -> None:
        if not state["active"]:
            return
        if event == "import":
            state["violations"].append(f"import {args[0]}")
        elif event == "open":
            target = args[0]
            if isinstance(target, int):
                return
            path = os.path.realpath(os.fsdecode(target)) if isinstance(target, (str, bytes, os.PathLike)) else target
            if path not in state["allowed"]:
                state["violations"].append(f"open {target!r}")
        elif event in ("subprocess.Popen", "os.system", "os.posix_spawn", "os.fork", "os.forkpty") \
                or event.startswith("os.exec") or event.startswith("os.spawn"):
            state["violations"].append(f"{event} {str(args)[:80]}")

    sys.addaudithook(hook)
    del warm
    for path, mode in jobs:
        print(json.dumps({"start": [path, mode]}), flush=True)
        # CPython tries to open the file name given to ast.parse to quote a SyntaxError's line; the
        # frontend gives it a path that cannot exist (ir.frontend.program.PARSE_FILENAME)
        state["allowed"] = {os.path.realpath(path), PARSE_FILENAME}
        state["violations"] = []
        t0 = time.perf_counter()
        state["active"] = True
        try:
            outcome = _run(tracer, cli, path, mode)
        except tracer.SerializationError as exc:
            outcome = "SerializationError: " + str(exc)[:300]
        except BaseException as exc:  # noqa: BLE001 - reported to the parent, which fails the test
            outcome = f"ESCAPED {type(exc).__name__}: {str(exc)[:300]}"
        finally:
            state["active"] = False
        print(json.dumps({"done": [path, mode], "outcome": outcome, "seconds": time.perf_counter() - t0,
                          "violations": state["violations"][:5]}), flush=True)


def _run(tracer, cli, path: str, mode: str) -> str:  # noqa: ANN001
    if mode == "path":
        tracer.load(path)
    elif mode == "bytesio":
        with open(path, "rb") as f:
            data = f.read()
        tracer.load(io.BytesIO(data))
    elif mode == "restore":
        tracer.load(path, _restore_shapes=True)
    elif mode == "inspect":
        tracer.inspect(path)
    elif mode == "deepcopy":
        m = tracer.load(path)
        if getattr(type(m), "__deepcopy__", None) is None and "__deepcopy__" in dir(m):
            return "ESCAPED protocol: the loaded module lists __deepcopy__"
        copy.deepcopy(m)
    elif mode == "extra":
        import zipfile

        try:
            with zipfile.ZipFile(path) as zf:
                names = [n.split("/extra/", 1)[1] for n in zf.namelist() if "/extra/" in n]
        except Exception:  # noqa: BLE001 - a broken container: ask for one name anyway
            names = ["bomb"]
        tracer.load(path, _extra_files={n: None for n in names})
    elif mode == "cli":
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli.main(["inspect", path])
        text = out.getvalue() + err.getvalue()
        if any(c in text for c in "\x1b\x07\u202e"):
            return "ESCAPED raw escape sequence in CLI output"
        if code not in (0, 1) or "unexpected" in text:
            return f"ESCAPED cli exit {code}: {text[-300:]}"
        return "ok" if code == 0 else "SerializationError: " + text.strip()[-300:]
    else:
        raise ValueError(mode)
    return "ok"


def _warm_up(tracer, cli, paths: list[str]) -> None:  # noqa: ANN001
    """Import everything loading may need (lazily imported modules included) before the hook."""
    for path in paths[:1]:
        for mode in ("path", "bytesio", "restore", "inspect", "cli", "deepcopy"):
            with contextlib.suppress(Exception), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                _run(tracer, cli, path, mode)
    from tests.runtime.hostile_cases import build

    data = build()
    for fn in (lambda: tracer.load(io.BytesIO(data), _restore_shapes=True), lambda: tracer.inspect(io.BytesIO(data)),
               lambda: tracer.load(io.BytesIO(b"PK junk")), lambda: tracer.load(io.BytesIO(data[:-30]))):
        with contextlib.suppress(Exception), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            fn()


if __name__ == "__main__":
    main(sys.argv[1])
