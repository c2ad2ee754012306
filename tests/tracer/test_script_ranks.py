"""Scripting without example inputs: arguments of unknown rank (SPEC "Capturing", ``tracer.script``)."""

from __future__ import annotations

import io

import numpy as np
import pytest

import tracer
from tracer import functional as F
from tracer import nn

rng = np.random.default_rng(9)


def f32(*shape):
    return rng.standard_normal(shape).astype(np.float32)


def split_heads(x):
    B, T, D = x.shape  # fixes x's rank at 3, checked when the program runs
    h = x.reshape(B, T, 2, D // 2).transpose(0, 2, 1, 3)
    return h * 1.0, x.ndim


def by_rank(x):
    if x.ndim == 2:  # read when the program runs
        return x.sum(axis=-1)
    return x * 2.0


class ConvNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.bn = nn.BatchNorm2d(4)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(4, 6)
        self.ln = nn.LayerNorm(6)
        self.attn = nn.MultiheadAttention(6, 2, batch_first=True)

    def forward(self, x):
        h = self.pool(F.relu(self.bn(self.conv(x))))
        t = self.ln(self.fc(h.reshape(h.shape[0], h.shape[1], -1).transpose(0, 2, 1)))
        a, _ = self.attn(t, t, t)
        return F.softmax(a, dim=-1)


def _loaded(sm):
    buf = io.BytesIO()
    sm.save(buf)
    return tracer.load(io.BytesIO(buf.getvalue()))


def _check(fn, args_list):
    sm = tracer.script(fn)
    for module in (sm, _loaded(sm)):
        for backend in ("interpreter", "numba"):
            module.set_backend(backend)
            for args in args_list:
                got, want = module(*args), fn(*args)
                got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
                for g, w in zip(got, want):
                    if backend == "interpreter":
                        np.testing.assert_array_equal(g, w)
                    else:
                        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    return sm


def test_unpacking_the_shape_fixes_the_rank():
    sm = _check(split_heads, [(f32(2, 3, 4),), (f32(1, 5, 6),)])
    assert "ops.with_rank(x, 3" in sm.code
    with pytest.raises(ValueError, match=r"needs an array of 3 dimensions here \(.*test_script_ranks.py:\d+\), but it "
                                         r"has 2"):
        sm(f32(3, 4))


def test_ndim_is_read_when_the_program_runs():
    sm = _check(by_rank, [(f32(2, 3),), (f32(4),), (f32(2, 2, 2),)])
    assert "x.ndim" in sm.code


def test_library_layers_script_without_example_inputs():
    m = ConvNet().eval()
    sm = _check(m, [(f32(2, 3, 8, 8),), (f32(1, 3, 10, 10),)])
    assert sm.code.count("ops.with_rank") >= 1
    with pytest.raises(ValueError, match="needs an array of 4 dimensions"):
        sm(f32(3, 8, 8))  # an unbatched image: the rank the layer fixed is checked


def test_example_inputs_need_no_checks():
    sm = tracer.script(split_heads, (f32(2, 3, 4),))
    assert "with_rank" not in sm.code
