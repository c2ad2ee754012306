"""The generated driver (``runtime.driver``): how long the arrays of a call live."""

from __future__ import annotations

import numpy as np

import tracer
from benchmarks.run import peak_bytes
from runtime.compiled import NumbaExecutor

N, D = 256, 256


def _chain(x):
    h = x
    for _ in range(4):
        a = np.concatenate([h, h], axis=1)  # a NumPy call whose result a kernel reads, then nothing
        h = np.tanh(a[:, :D] * 0.5 + a[:, D:])
    return h * 2.0


_peak = peak_bytes  # what ``python -m benchmarks`` reports as peak memory per call


def test_numpy_results_that_kernels_read_die_after_their_last_reader():
    x = np.random.default_rng(0).standard_normal((N, D)).astype(np.float32)
    sf = tracer.trace(_chain, x)
    ex = NumbaExecutor(sf.graph)
    np.testing.assert_allclose(ex.run((x,), {}), _chain(x), rtol=1e-5, atol=1e-6)
    compiled = ex.compiled((x,))
    text = compiled.driver.source
    lines = text.splitlines()
    kernel_calls = [i for i, line in enumerate(lines) if "# k_" in line]
    assert len(kernel_calls) >= 4, text
    # each concatenation is dropped right after the kernel that reads it (not held to the end)
    for i in kernel_calls[:4]:
        assert lines[i + 1].strip().startswith("del concatenate"), text
    # the output block is allocated when the last kernel writes into it, not at the start
    assert text.index("np_empty(") > text.index("# k_"), text
    eager = _peak(lambda: _chain(x))
    ours = _peak(lambda: ex.run((x,), {}))
    one = N * 2 * D * 4  # one concatenation
    assert ours < 2 * one + 64 * 1024, (ours, eager)
    assert ours + ex.workspace_bytes() <= eager, (ours, ex.workspace_bytes(), eager)


class _IntArgument(tracer.nn.Module):
    def forward(self, x, n: int):
        return x[:, :4] * np.arange(4) + (n * 2 + x.shape[1]) - x[:, 4:] * (n / 4)


def test_a_scalar_computed_by_a_numpy_step_reaches_the_kernel_that_reads_it():
    # n * 2 + 8 and n / 4 are computed on the host; the kernel reads them from its frame, where
    # they are written once computed (they were written before: a NameError, or a stale value)
    sm = tracer.script(_IntArgument()).set_backend("numba")
    x = np.random.default_rng(0).standard_normal((3, 8)).astype(np.float32)
    for n in (3, 5, -7):
        np.testing.assert_allclose(sm(x, n), _IntArgument()(x, n), rtol=1e-6)
