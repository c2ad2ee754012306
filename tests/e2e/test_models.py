"""Acceptance: a CNN and a transformer encoder block traced, equal to eager bit for bit,
at the traced shape and at other batch sizes and sequence lengths."""

from __future__ import annotations

import numpy as np
import pytest

import tracer
from tests.script_models import EncoderBlock  # the hand-written attention block, shared
from tracer import functional as F
from tracer import nn

rng = np.random.default_rng(7)


class CNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, padding=1)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 16, 3, stride=2)
        self.pool = nn.MaxPool2d(2)
        self.fc = nn.Linear(16 * 2 * 2, 10)  # 12x12 -> pool 6x6 -> stride-2 conv 2x2

    def forward(self, x):
        h = self.pool(F.relu(self.bn1(self.conv1(x))))
        h = F.relu(self.conv2(h))
        h = h.reshape(h.shape[0], -1)
        return F.log_softmax(self.fc(h), dim=-1)


class MHABlock(nn.Module):
    def __init__(self, d=32, heads=4):
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.mlp = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))

    def forward(self, x):
        h = self.ln(x)
        a, _ = self.attn(h, h, h)
        x = x + a
        return x + self.mlp(x)


def _randomize_bn(m):
    for mod in m.modules():
        if isinstance(mod, nn.BatchNorm2d):
            mod.running_mean = rng.standard_normal(mod.running_mean.shape).astype(np.float32)
            mod.running_var = (rng.random(mod.running_var.shape) + 0.5).astype(np.float32)
    return m


def _trace_quiet(m, x):
    # bit-for-bit equality with eager is the interpreter's contract (SPEC, Numerics); the numba
    # backend's tolerance checks on these models are in tests/codegen/test_models.py
    return tracer.trace(m, (x,)).set_backend("interpreter")


def test_cnn_equals_eager_bit_for_bit_at_every_batch_size():
    m = _randomize_bn(CNN()).eval()
    x = rng.standard_normal((4, 3, 12, 12)).astype(np.float32)
    sm = _trace_quiet(m, x)
    ops = {n.op for _, n in sm.graph.nodes()}
    assert {"conv2d", "max_pool2d", "dim", "reshape", "matmul"} <= ops
    for b in (4, 1, 7):
        xb = rng.standard_normal((b, 3, 12, 12)).astype(np.float32)
        got, want = sm(xb), m(xb)
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("block", [EncoderBlock, MHABlock])
def test_transformer_block_equals_eager_bit_for_bit_at_other_batches_and_lengths(block):
    m = block().eval()
    x = rng.standard_normal((2, 10, 32)).astype(np.float32)
    sm = _trace_quiet(m, x)
    assert "split" in {n.op for _, n in sm.graph.nodes()} or block is MHABlock
    for shape in ((2, 10, 32), (1, 3, 32), (5, 17, 32)):
        xs = rng.standard_normal(shape).astype(np.float32)
        got, want = sm(xs), m(xs)
        assert got.dtype == want.dtype == np.float32
        np.testing.assert_array_equal(got, want)


def test_the_spec_example_block():
    class Block(nn.Module):
        def __init__(self, d):
            super().__init__()
            self.ln = nn.LayerNorm(d)
            self.fc = nn.Linear(d, 4 * d)
            self.proj = nn.Linear(4 * d, d)
            self.scale = 0.5

        def forward(self, x):
            h = F.gelu(self.fc(self.ln(x)))
            return x + self.scale * self.proj(h)

    m = Block(64).eval()
    x = rng.standard_normal((8, 64), dtype=np.float32)
    sm = tracer.trace(m, (x,))
    np.testing.assert_allclose(sm(x), m(x), rtol=1e-5, atol=1e-6)
    assert sm.fc.weight.shape == (256, 64) and sm.scale == 0.5
    assert "f32[8, 64]" in str(sm.graph)
