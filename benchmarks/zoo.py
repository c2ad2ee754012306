"""The model zoo of SPEC.md, built with ``tracer.nn`` (and the same models in PyTorch, same weights).

| name | model | input |
|---|---|---|
| ``mlp`` | Linear 784-1024-1024-10 with ReLU | (64, 784) float32 |
| ``gelu_ln`` | LayerNorm, tanh-GELU, residual add, scale; no matmul | (256, 1024) float32 |
| ``cnn`` | Conv2d 3-16 k3, ReLU, MaxPool2, Conv2d 16-32 k3, ReLU, global average, Linear 32-10 | (8, 3, 32, 32) |
| ``transformer`` | encoder block: MultiheadAttention d=256 h=4, LayerNorm, MLP 256-1024-256 GELU | (4, 128, 256) |
| ``rnn`` | Elman RNN, tanh, hidden 128, loop over 64 steps | (16, 64, 32) float32 |
| ``transformer4`` | four such encoder blocks, d=512 h=8, MLP 512-2048-512 (latency at batch 1) | (1, 128, 512) |
| ``eltwise`` | a chain of 8 elementwise operations (memory-bound) | (4096, 4096) float32 |
| ``gpt`` | GPT-2-style decoder in plain NumPy (``benchmarks.gpt``): vocab 2048, d=256, 4 layers, 4 heads | 64 ids |

``rnn`` is scripted with ``tracer.script``, as SPEC says: its ``for`` loop stays a ``loop`` node in
the program (and in the archive).  The numba backend unrolls it when it plans for the input's
shape (64 known iterations; ``ir.passes.unroll_loops``).  ``rnn_traced`` is the same model traced,
which unrolls the loop while recording; it is not in SPEC's zoo and is reported for comparison.
``tiny=True`` gives the same architectures at toy sizes (for smoke tests).  The PyTorch twins are
in ``benchmarks.torch_twins``, the ``jax.numpy`` ones in ``benchmarks.jax_twins``.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import tracer
from tracer import functional as F
from tracer import nn

from .gpt import GPT

__all__ = ["ZOO", "SPEC_ZOO", "Case", "build", "torch_twin"]


class MLP(nn.Module):
    def __init__(self, d_in: int = 784, hidden: int = 1024, d_out: int = 10) -> None:
        super().__init__()
        self.fc1 = nn.Linear(d_in, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.fc3 = nn.Linear(hidden, d_out)

    def forward(self, x):
        return self.fc3(F.relu(self.fc2(F.relu(self.fc1(x)))))


class GeluLN(nn.Module):
    def __init__(self, d: int = 1024) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.scale = 0.5

    def forward(self, x):
        return (x + F.gelu(self.ln(x), approximate="tanh")) * self.scale


class CNN(nn.Module):
    def __init__(self, c1: int = 16, c2: int = 32, classes: int = 10) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, c1, 3)
        self.conv2 = nn.Conv2d(c1, c2, 3)
        self.fc = nn.Linear(c2, classes)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.conv1(x)), 2)
        h = F.relu(self.conv2(h))
        return self.fc(h.mean(axis=(2, 3)))


class Encoder(nn.Module):
    def __init__(self, d: int = 256, heads: int = 4, hidden: int = 1024) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(d, heads, batch_first=True)
        self.ln1 = nn.LayerNorm(d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, hidden)
        self.fc2 = nn.Linear(hidden, d)

    def forward(self, x):
        h = self.ln1(x)
        a, _ = self.attn(h, h, h, need_weights=False)
        x = x + a
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class ElmanRNN(nn.Module):
    def __init__(self, d_in: int = 32, hidden: int = 128, steps: int = 64) -> None:
        super().__init__()
        self.ih = nn.Linear(d_in, hidden)
        self.hh = nn.Linear(hidden, hidden)
        self.hidden = hidden
        self.steps = steps

    def forward(self, x):
        h = np.zeros((x.shape[0], self.hidden), dtype=np.float32)
        for t in range(self.steps):
            h = np.tanh(self.ih(x[:, t]) + self.hh(h))
        return h


class EncoderStack(nn.Module):
    def __init__(self, d: int = 512, heads: int = 8, hidden: int = 2048, layers: int = 4) -> None:
        super().__init__()
        self.blocks = nn.ModuleList([Encoder(d, heads, hidden) for _ in range(layers)])

    def forward(self, x):
        for b in self.blocks:
            x = b(x)
        return x


class Eltwise(nn.Module):
    """Eight elementwise operations, each a pass over memory in NumPy eager."""

    def forward(self, x):
        y = x * 1.5
        y = y + 0.25
        y = np.tanh(y)
        y = y * x
        y = np.maximum(y, 0.0)
        y = y + 1.0
        y = np.sqrt(y)
        return y * 0.5


@dataclass
class Case:
    """One zoo entry: the eager module, an input, and how to capture it."""

    name: str
    module: nn.Module
    input: np.ndarray
    capture: str = "trace"
    note: str = ""

    def capture_module(self) -> tracer.ScriptModule:
        if self.capture == "script":
            return tracer.script(self.module, (self.input,))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", tracer.TracerWarning)  # gpt's range(len(ids)) may bake a size
            # check_trace compares elementwise (np.isclose); run.py checks every variant against
            # SPEC's tolerance instead, which is relative to the output's largest value
            return tracer.trace(self.module, (self.input,), check_trace=False)


_FULL: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": (MLP, (64, 784)),
    "gelu_ln": (GeluLN, (256, 1024)),
    "cnn": (CNN, (8, 3, 32, 32)),
    "transformer": (Encoder, (4, 128, 256)),
    "rnn": (ElmanRNN, (16, 64, 32)),
    "transformer4": (EncoderStack, (1, 128, 512)),
    "eltwise": (Eltwise, (4096, 4096)),
    "gpt": (GPT, (64,)),
}
_TINY: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": (lambda: MLP(12, 16, 3), (4, 12)),
    "gelu_ln": (lambda: GeluLN(16), (4, 16)),
    "cnn": (lambda: CNN(4, 6, 3), (2, 3, 10, 10)),
    "transformer": (lambda: Encoder(16, 2, 32), (2, 5, 16)),
    "rnn": (lambda: ElmanRNN(4, 8, 5), (2, 5, 4)),
    "transformer4": (lambda: EncoderStack(16, 2, 32, 2), (1, 6, 16)),
    "eltwise": (Eltwise, (8, 16)),
    "gpt": (lambda: GPT(vocab=64, ctx=16, d=16, layers=2, heads=2), (10,)),
}

_FULL["rnn_traced"] = _FULL["rnn"]
_TINY["rnn_traced"] = _TINY["rnn"]

ZOO = tuple(_FULL)
#: The zoo of SPEC.md (``rnn_traced`` is extra): the geometric means are taken over these.
SPEC_ZOO = tuple(n for n in ZOO if n != "rnn_traced")


def build(name: str, *, tiny: bool = False, seed: int = 0) -> Case:
    """The zoo model ``name`` (fresh weights from ``seed``) with its input."""
    tracer.nn.init.manual_seed(seed)
    make, shape = (_TINY if tiny else _FULL)[name]
    module = make().eval()
    if name == "gpt":
        x = np.random.default_rng(seed).integers(0, module.vocab, shape, dtype=np.int64)
    else:
        x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    capture, note = "trace", ""
    if name == "rnn":
        capture, note = "script", "tracer.script: the loop is a loop node; the numba backend unrolls its 64 steps"
    elif name == "rnn_traced":
        note = "tracer.trace: the loop unrolled while recording (not in SPEC's zoo)"
    return Case(name, module, x, capture, note)


def torch_twin(case: Case) -> Any:
    """The same model in PyTorch with the same weights (``None`` without torch)."""
    from .torch_twins import torch_twin as twin

    return twin(case)
