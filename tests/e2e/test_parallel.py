"""Scaling out: a ScriptModule pickles as its archive bytes, so it travels to worker processes
(``concurrent.futures``, Dask's distributed scheduler) without the model's Python code."""

from __future__ import annotations

import concurrent.futures
import logging
import multiprocessing
import os
import pickle
import pickletools

import numpy as np
import pytest

import tracer
from runtime.module import ScriptModule
from tests.script_models import f32
from tracer import functional as F
from tracer import nn


def _require(name: str):
    """Import ``name``; skip when it is missing, except in CI where it must be installed."""
    if os.environ.get("CI"):
        return __import__(name, fromlist=["_"])
    return pytest.importorskip(name)


class Head(nn.Module):
    """LayerNorm, an MLP with tanh-GELU and a residual, then a projection to 4 classes."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 2 * d)
        self.back = nn.Linear(2 * d, d)
        self.out = nn.Linear(d, 4)

    def forward(self, x):
        h = x + self.back(F.gelu(self.fc(self.ln(x)), approximate="tanh"))
        return F.softmax(self.out(h), dim=-1)


@pytest.fixture(scope="module")
def model_and_loaded(tmp_path_factory):
    m = Head().eval()
    path = tmp_path_factory.mktemp("parallel") / "head.pt"
    tracer.save(tracer.trace(m, (f32(8, 16),), check_trace=False), path)
    return m, tracer.load(path)


def _close(got, want):
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_pickle_carries_the_archive_not_the_class(model_and_loaded):
    m, loaded = model_and_loaded
    data = pickle.dumps(loaded)
    globals_used = {arg for op, arg, _ in pickletools.genops(data) if op.name in ("GLOBAL", "STACK_GLOBAL")}
    strings = {arg for op, arg, _ in pickletools.genops(data) if isinstance(arg, str)}
    assert "load_bytes" in strings and "runtime.archive.reader" in strings | globals_used
    assert not any("tests" in s or "Head" == s for s in strings), "the model's code is not needed"
    back = pickle.loads(data)
    assert isinstance(back, ScriptModule) and back.code == loaded.code
    assert [k for k, _ in back.named_parameters()] == [k for k, _ in loaded.named_parameters()]
    x = f32(5, 16)
    _close(back(x), m(x))
    assert pickle.dumps(back) == data  # load then pickle again: the same bytes


@pytest.mark.slow
def test_process_pool_maps_a_loaded_module(model_and_loaded):
    m, loaded = model_and_loaded
    inputs = [f32(b, 16) for b in (1, 3, 8, 5, 2, 7)]
    # spawn: fresh interpreters that import only this package to unpickle the module
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=2, mp_context=ctx) as pool:
        results = list(pool.map(loaded, inputs, timeout=300))
    assert len(results) == len(inputs)
    for x, got in zip(inputs, results):
        assert got.shape == (x.shape[0], 4)
        _close(got, m(x))


@pytest.mark.slow
def test_dask_map_blocks_on_a_local_cluster(model_and_loaded):
    da = _require("dask.array")
    distributed = _require("distributed")
    m, loaded = model_and_loaded
    x = f32(96, 16)
    with distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                                  dashboard_address=None, silence_logs=logging.ERROR) as cluster, \
            distributed.Client(cluster) as client:
        assert len(client.scheduler_info()["workers"]) == 2
        blocks = da.from_array(x, chunks=(24, 16))
        out = blocks.map_blocks(loaded, chunks=(24, 4), dtype=np.float32, meta=np.empty((0, 0), np.float32))
        got = client.compute(out).result(timeout=300)
    assert isinstance(got, np.ndarray) and got.shape == (96, 4)
    _close(got, m(x))
