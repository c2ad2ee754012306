"""``import tracer`` leaves the tracer and the archive writer for first use; the names stay the
functions they always were."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_SCRIPT = textwrap.dedent("""
    import sys
    import tracer
    lazy = ("tracer.script", "tracer.trace", "runtime.archive.writer")
    assert not any(m in sys.modules for m in lazy), [m for m in lazy if m in sys.modules]
    import tracer.script            # the submodule first: tracer.script stays the function
    from tracer.trace import record
    assert callable(tracer.script) and tracer.script is sys.modules["tracer.script"].script
    assert callable(tracer.trace) and tracer.trace is sys.modules["tracer.trace"].trace
    from tracer import save, script, trace
    import runtime.archive, runtime.archive.writer as writer
    assert save is writer.save is runtime.archive.save and runtime.archive.save_bytes is writer.save_bytes
    assert {"save", "script", "trace"} <= set(dir(tracer))
    star = {}
    exec("from tracer import *", star)
    assert set(tracer.__all__) <= set(star)
    try:
        tracer.no_such_name
    except AttributeError as exc:
        assert "no_such_name" in str(exc)
    else:
        raise AssertionError("tracer.no_such_name")
    print("ok")
""")


def test_lazy_names_are_the_functions_in_a_fresh_process():
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "ok"
