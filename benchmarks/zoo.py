"""The model zoo of SPEC.md, built with ``tracer.nn`` (and the same models in PyTorch, same weights).

| name | model | input |
|---|---|---|
| ``mlp`` | Linear 784-1024-1024-10 with ReLU | (64, 784) float32 |
| ``gelu_ln`` | LayerNorm, tanh-GELU, residual add, scale; no matmul | (256, 1024) float32 |
| ``cnn`` | Conv2d 3-16 k3, ReLU, MaxPool2, Conv2d 16-32 k3, ReLU, global average, Linear 32-10 | (8, 3, 32, 32) |
| ``transformer`` | encoder block: MultiheadAttention d=256 h=4, LayerNorm, MLP 256-1024-256 GELU | (4, 128, 256) |
| ``rnn`` | Elman RNN, tanh, hidden 128, loop over 64 steps | (16, 64, 32) float32 |

``rnn`` is scripted with ``tracer.script``, as SPEC says: its ``for`` loop stays a ``loop`` node in
the program (and in the archive).  The numba backend unrolls it when it plans for the input's
shape (64 known iterations; ``ir.passes.unroll_loops``).  ``rnn_traced`` is the same model traced,
which unrolls the loop while recording; it is not in SPEC's zoo and is reported for comparison.
``tiny=True`` gives the same architectures at toy sizes (for smoke tests).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

import tracer
from tracer import functional as F
from tracer import nn

__all__ = ["ZOO", "Case", "build", "torch_twin"]


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
        return tracer.trace(self.module, (self.input,))


_FULL: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": (MLP, (64, 784)),
    "gelu_ln": (GeluLN, (256, 1024)),
    "cnn": (CNN, (8, 3, 32, 32)),
    "transformer": (Encoder, (4, 128, 256)),
    "rnn": (ElmanRNN, (16, 64, 32)),
}
_TINY: dict[str, tuple[Callable[[], nn.Module], tuple[int, ...]]] = {
    "mlp": (lambda: MLP(12, 16, 3), (4, 12)),
    "gelu_ln": (lambda: GeluLN(16), (4, 16)),
    "cnn": (lambda: CNN(4, 6, 3), (2, 3, 10, 10)),
    "transformer": (lambda: Encoder(16, 2, 32), (2, 5, 16)),
    "rnn": (lambda: ElmanRNN(4, 8, 5), (2, 5, 4)),
}

_FULL["rnn_traced"] = _FULL["rnn"]
_TINY["rnn_traced"] = _TINY["rnn"]

ZOO = tuple(_FULL)


def build(name: str, *, tiny: bool = False, seed: int = 0) -> Case:
    """The zoo model ``name`` (fresh weights from ``seed``) with its input."""
    tracer.nn.init.manual_seed(seed)
    make, shape = (_TINY if tiny else _FULL)[name]
    module = make().eval()
    x = np.random.default_rng(seed).standard_normal(shape).astype(np.float32)
    capture, note = "trace", ""
    if name == "rnn":
        capture, note = "script", "tracer.script: the loop is a loop node; the numba backend unrolls its 64 steps"
    elif name == "rnn_traced":
        note = "tracer.trace: the loop unrolled while recording (not in SPEC's zoo)"
    return Case(name, module, x, capture, note)


def torch_twin(case: Case) -> Any:
    """The same model in PyTorch with the same weights (``None`` without torch)."""
    try:
        import torch
    except ImportError:
        return None
    tnn = torch.nn
    m = case.module

    class TMLP(tnn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = tnn.Linear(m.fc1.in_features, m.fc1.out_features)
            self.fc2 = tnn.Linear(m.fc2.in_features, m.fc2.out_features)
            self.fc3 = tnn.Linear(m.fc3.in_features, m.fc3.out_features)

        def forward(self, x):
            return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))

    class TGeluLN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ln = tnn.LayerNorm(m.ln.normalized_shape)

        def forward(self, x):
            return (x + tnn.functional.gelu(self.ln(x), approximate="tanh")) * 0.5

    class TCNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = tnn.Conv2d(3, m.conv1.out_channels, 3)
            self.conv2 = tnn.Conv2d(m.conv1.out_channels, m.conv2.out_channels, 3)
            self.fc = tnn.Linear(m.fc.in_features, m.fc.out_features)

        def forward(self, x):
            h = tnn.functional.max_pool2d(torch.relu(self.conv1(x)), 2)
            h = torch.relu(self.conv2(h))
            return self.fc(h.mean(dim=(2, 3)))

    class TEncoder(tnn.Module):
        def __init__(self):
            super().__init__()
            d = m.ln1.normalized_shape[0]
            self.attn = tnn.MultiheadAttention(d, m.attn.num_heads, batch_first=True)
            self.ln1 = tnn.LayerNorm(d)
            self.ln2 = tnn.LayerNorm(d)
            self.fc1 = tnn.Linear(d, m.fc1.out_features)
            self.fc2 = tnn.Linear(m.fc1.out_features, d)

        def forward(self, x):
            h = self.ln1(x)
            a, _ = self.attn(h, h, h, need_weights=False)
            x = x + a
            return x + self.fc2(tnn.functional.gelu(self.fc1(self.ln2(x))))

    class TRNN(tnn.Module):
        def __init__(self):
            super().__init__()
            self.ih = tnn.Linear(m.ih.in_features, m.hidden)
            self.hh = tnn.Linear(m.hidden, m.hidden)
            self.hidden = m.hidden
            self.steps = m.steps

        def forward(self, x):
            h = torch.zeros(x.shape[0], self.hidden)
            for t in range(self.steps):
                h = torch.tanh(self.ih(x[:, t]) + self.hh(h))
            return h

    twin = {"mlp": TMLP, "gelu_ln": TGeluLN, "cnn": TCNN, "transformer": TEncoder, "rnn": TRNN,
            "rnn_traced": TRNN}[case.name]()
    state = {k: torch.from_numpy(np.ascontiguousarray(v)) for k, v in m.state_dict().items()}
    twin.load_state_dict(state)
    return twin.eval()
