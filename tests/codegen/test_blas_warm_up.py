"""``find_blas`` warms NumPy's OpenBLAS up on a thread of its own (the planner goes on meanwhile)."""

from __future__ import annotations

import json
import subprocess
import sys


def test_the_warm_up_runs_beside_the_caller_and_can_be_waited_for():
    script = """
import json, threading
import codegen.blas as b
started = threading.Event()
done = []
def warm_up():  # finishes only once find_blas has returned to its caller
    started.set()
    done.append((threading.current_thread().name, returned.wait(60)))
returned = threading.Event()
b.warm_up = warm_up
blas = b.find_blas()
returned.set()
b.wait_warm_up()
b.find_blas()  # once per process
b.wait_warm_up()
print(json.dumps({"found": blas is not None, "done": done}))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    if got["found"]:
        assert got["done"] == [["tracer-blas-warm-up", True]]
    else:
        assert got["done"] == []
