"""NumPy's OpenBLAS is warmed up on a thread of its own (the planner goes on meanwhile), once
kernels are handed NumPy's own instance; kernels that call only the private copy leave it alone
(its threads would spin beside our pool's worker during a new process's first calls)."""

from __future__ import annotations

import json
import os
import subprocess
import sys

_SCRIPT = """
import json, threading
import codegen.blas as b
started = threading.Event()
done = []
def warm_up():  # finishes only once the call that started it has returned to its caller
    started.set()
    done.append((threading.current_thread().name, returned.wait(60)))
returned = threading.Event()
b.warm_up = warm_up
blas = b.find_blas()
returned.set()
b.wait_warm_up()
after_find = list(done)
returned.clear()
own = b.numpy_blas()
returned.set()
b.wait_warm_up()
b.find_blas(); b.numpy_blas()  # once per process
b.wait_warm_up()
print(json.dumps({"found": blas is not None, "private": blas is not None and blas.private,
                  "numpy": own is not None, "after_find": after_find, "done": done}))
"""


def _run(**env: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, timeout=120,
                          env=dict(os.environ, **env))
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_private_copy_leaves_numpys_blas_cold_until_numpys_instance_is_asked_for():
    got = _run(TRACER_KERNEL_BLAS="1")
    if not got["found"]:
        assert got["done"] == []
        return
    if got["private"]:
        assert got["after_find"] == []
        assert got["done"] == ([["tracer-blas-warm-up", True]] if got["numpy"] else [])
    else:  # no dlmopen here: kernels call NumPy's instance, which find_blas warms up
        assert got["after_find"] == got["done"] == [["tracer-blas-warm-up", True]]


def test_kernels_on_numpys_own_blas_warm_it_up_beside_the_caller_once():
    got = _run(TRACER_KERNEL_BLAS="numpy")
    if got["found"]:
        assert not got["private"]
        assert got["after_find"] == got["done"] == [["tracer-blas-warm-up", True]]
    else:
        assert got["done"] == []
