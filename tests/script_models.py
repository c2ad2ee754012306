"""Scriptable models and functions shared by the script, round-trip and archive tests.

Each entry of :data:`CASES` is ``(name, make, inputs)``: ``make()`` returns a fresh module or
function, ``inputs`` a list of argument tuples to compare against eager with.
"""

from __future__ import annotations

import numpy as np

import tracer
from tracer import functional as F
from tracer import nn

rng = np.random.default_rng(11)


def f32(*shape: int) -> np.ndarray:
    return rng.standard_normal(shape).astype(np.float32)


class Acceptance(nn.Module):
    """The issue's acceptance model: an if choosing a submodule, range(n) with a default,
    a loop over a ModuleList, and a while loop."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(8, 8)
        self.b = nn.Linear(8, 8)
        self.layers = nn.ModuleList([nn.Linear(8, 8), nn.Linear(8, 8)])

    def forward(self, x, n: int = 2):
        if x.sum() > 0:
            h = self.a(x)
        else:
            h = F.relu(self.b(x))
        for i in range(n):
            h = h * 0.5 + i
        for layer in self.layers:
            h = layer(h)
        k = 0
        while k < 3:
            h = np.tanh(h)
            k += 1
        return h


class ElmanRNN(nn.Module):
    """The benchmark zoo's RNN: h = tanh(W_ih x_t + W_hh h) over the sequence."""

    def __init__(self, input_size: int = 32, hidden: int = 128) -> None:
        super().__init__()
        self.hidden = hidden
        self.w_ih = nn.Linear(input_size, hidden)
        self.w_hh = nn.Linear(hidden, hidden)

    def forward(self, x):
        B, T, _ = x.shape
        h = np.zeros((B, self.hidden), dtype=np.float32)
        for t in range(T):
            h = np.tanh(self.w_ih(x[:, t]) + self.w_hh(h))
        return h


class EncoderBlock(nn.Module):
    def __init__(self, d: int = 32, heads: int = 4) -> None:
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(d)
        self.qkv = nn.Linear(d, 3 * d)
        self.out = nn.Linear(d, d)
        self.ln2 = nn.LayerNorm(d)
        self.fc1 = nn.Linear(d, 4 * d)
        self.fc2 = nn.Linear(4 * d, d)

    def forward(self, x):
        B, T, D = x.shape
        h = self.heads
        q, k, v = np.split(self.qkv(self.ln1(x)), 3, axis=-1)
        q = q.reshape(B, T, h, D // h).transpose(0, 2, 1, 3)
        k = k.reshape(B, T, h, D // h).transpose(0, 2, 1, 3)
        v = v.reshape(B, T, h, D // h).transpose(0, 2, 1, 3)
        att = F.softmax(q @ k.transpose(0, 1, 3, 2) / (D // h) ** 0.5, dim=-1)
        y = (att @ v).transpose(0, 2, 1, 3).reshape(B, T, D)
        x = x + self.out(y)
        return x + self.fc2(F.gelu(self.fc1(self.ln2(x))))


class Block(nn.Module):
    """The README's block with a buffer: LayerNorm, GELU MLP, residual (archive and CLI tests)."""

    def __init__(self, d: int = 16) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(d)
        self.fc = nn.Linear(d, 4 * d)
        self.proj = nn.Linear(4 * d, d)
        self.scale = 0.5
        self.register_buffer("steps", np.arange(3, dtype=np.int64))

    def forward(self, x):
        h = F.gelu(self.fc(self.ln(x)))
        return x + self.scale * self.proj(h)


class TwoInTwoOut(nn.Module):
    """Two inputs, two outputs (archive and CLI tests)."""

    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Linear(6, 4)
        self.b = nn.Linear(3, 4)

    def forward(self, x, y):
        h = F.relu(self.a(x)) + self.b(y)
        return F.softmax(h, dim=-1), h.sum(axis=-1)


def clamp_steps(x, limit: float = 4.0):
    """while with break and continue, and an early return."""
    if x.max() > 100.0:
        return x * 0.0, 0
    steps = 0
    while True:
        steps += 1
        if steps > 10:
            break
        if x.sum() < 0:
            x = x + 1.0
            continue
        x = x * 1.5
        if np.abs(x).max() > limit:
            break
    return x, steps


def elif_chain(x, mode: int):
    if mode == 0:
        y = x + 1
    elif mode == 1:
        y = x * 2
    elif mode == 2:
        y = -x
    else:
        y = x
    return y if mode >= 0 else y * 10


def helper(v, scale: float = 2.0):
    return np.maximum(v, 0.0) * scale


def calls_free_function(x, y: np.ndarray | None = None):
    h = helper(x) + helper(x, 0.5)
    if y is not None:
        h = h + y
    return h


def nested_loops(x, n: int):
    total = x * 0.0
    for i in range(n):
        for j in range(i, n, 2):
            if j == 3:
                continue
            total = total + x * (i + j)
    return total


def scalar_ops(x):
    n = int(x.sum())
    f = float(x.max())
    b = bool(x.min() > 0)
    if not b:
        f = f * 2
    return x * n + f


def tuple_args(pair: tuple[np.ndarray, np.ndarray], flag: bool = True):
    a, b = pair
    return (a + b, a - b) if flag else (a, b)


class WithMethods(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.w = np.linspace(-1, 1, 6, dtype=np.float32)
        self.register_buffer("offset", np.full(6, 0.25, dtype=np.float32))

    def forward(self, x):
        return self.shift(x) * self.w

    def shift(self, x):
        return x - self.offset

    @tracer.export
    def predict(self, x, k: int = 2):
        y = self.forward(x)
        for _ in range(k):
            y = np.tanh(y)
        return y


def _shrink(v):
    if v.sum() > 0:
        if v.max() > 1.0:
            return v * 0.5
        v = v + 1.0
    return v - 1.0


def nested_returns(x, k: int = 1):
    """Returns inside branches that may fall through (compiled with one exit), a tuple result
    with a different int from each return, and a called function that returns early."""
    if x.sum() > 2.0:
        if x.max() > 1.5:
            return x * 2.0, 1
        x = x - 1.0
    elif k > 1:
        return x, 2
    y = _shrink(x)
    if y.min() < -1.0:
        return y, 3
    return y + x, 4


class OutputsRNN(nn.Module):
    """An RNN that returns every step's state: a list grown in the loop over the sequence, stacked."""

    def __init__(self, input_size: int = 8, hidden: int = 16) -> None:
        super().__init__()
        self.hidden = hidden
        self.w_ih = nn.Linear(input_size, hidden)
        self.w_hh = nn.Linear(hidden, hidden)

    def forward(self, x):
        h = np.zeros((x.shape[0], self.hidden), dtype=np.float32)
        outs = []
        for t in range(x.shape[1]):
            h = np.tanh(self.w_ih(x[:, t]) + self.w_hh(h))
            outs.append(h)
        return np.stack(outs, axis=1), len(outs)


def containers(x, k: int = 2):
    """Lists and dicts known while compiling, a comprehension, and a dict keyed when the program runs."""
    parts = [x * i for i in range(3)]
    named = {"first": parts[0], "last": parts[-1]}
    named["sum"] = sum(parts)
    seen = {}
    for i in range(k):
        seen[i] = named["sum"] * i
    picked = [v for key, v in named.items() if key != "first"]
    return np.stack(picked), seen.get(k - 1, x), len(seen)


CASES = [
    ("acceptance", Acceptance, [(f32(4, 8),), (-np.abs(f32(4, 8)),), (f32(3, 8), 0), (f32(3, 8), 1), (f32(2, 8), 3)]),
    ("rnn", lambda: ElmanRNN(8, 16), [(f32(2, 5, 8),), (f32(3, 1, 8),)]),
    ("encoder", lambda: EncoderBlock(16, 2), [(f32(2, 5, 16),), (f32(1, 3, 16),)]),
    ("clamp_steps", lambda: clamp_steps, [(f32(5),), (f32(5) - 3.0,), (np.full(5, 200.0, np.float32),)]),
    ("elif_chain", lambda: elif_chain, [(f32(3), m) for m in (-1, 0, 1, 2, 3)]),
    ("calls_free_function", lambda: calls_free_function, [(f32(4),), (f32(4), f32(4))]),
    ("nested_loops", lambda: nested_loops, [(f32(3), n) for n in (0, 1, 4, 6)]),
    ("scalar_ops", lambda: scalar_ops, [(np.abs(f32(4)) + 0.1,), (f32(4),)]),
    ("tuple_args", lambda: tuple_args, [((f32(2), f32(2)),), ((f32(2), f32(2)), False)]),
    ("with_methods", WithMethods, [(f32(6),)]),
    ("nested_returns", lambda: nested_returns,
     [(np.full(4, v, np.float32), k) for v in (-2.0, -0.1, 0.3, 0.9, 2.0) for k in (1, 2)]
     + [(np.array([-3.0, 1.2, 0.5, 2.0], np.float32),)]),
    ("outputs_rnn", lambda: OutputsRNN(8, 16), [(f32(2, 5, 8),), (f32(3, 9, 8),)]),
    ("containers", lambda: containers, [(f32(3),), (f32(4), 0), (f32(2), 5)]),
]

#: Example inputs for models that need concrete input types (they read x.shape).
EXAMPLES = {"rnn": (f32(2, 5, 8),), "encoder": (f32(2, 5, 16),)}
