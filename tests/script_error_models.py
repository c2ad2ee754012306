"""Models for tests/tracer/test_script_errors.py: raise/assert, isinstance, *args/**kwargs.

They live outside the test module so that pytest does not rewrite their ``assert`` statements
(eager Python must give the plain message the program gives).
"""

from __future__ import annotations

import numpy as np

from tracer import functional as F
from tracer import nn


class Checked(nn.Module):
    """Raises on a size, on a value (an f-string of values computed when the program runs), and
    asserts with a static message."""

    def __init__(self, d: int = 4) -> None:
        super().__init__()
        self.d = d
        self.fc = nn.Linear(d, 3)
        self.fc.weight = np.abs(self.fc.weight)  # so that large inputs give large activations

    def forward(self, x):
        if x.shape[1] != self.d:
            raise ValueError(f"expected {self.d} features, got {x.shape[1]}")  # RAISE_SHAPE
        assert x.min() > -100.0, "input below -100"
        h = self.fc(x)
        if h.max() > 1e4:
            raise RuntimeError(f"activation out of range for a batch of {len(x)} (max {h.max():.0e})")
        return np.tanh(h)


def require_positive(x, what):
    if x.min() <= 0:
        raise ValueError(f"{what} must be positive")
    return x


class Helpers(nn.Module):
    """A called function that raises, a raise inside a loop, an assert whose message is computed
    only when it fails, KeyError and IndexError."""

    def forward(self, x, n: int = 2):
        x = require_positive(x, "x")
        total = x[0] * 0.0
        for i in range(n):
            if i >= x.shape[0]:
                raise IndexError(f"row {i} of {x.shape[0]}")
            total = total + x[i]
        assert total.sum() < 1e4, f"total {int(total.sum())} too large for n={n}"
        if n > 5:
            raise KeyError(n)
        return total


class Modes(nn.Module):
    """Static checks: decided while compiling, raised (like TorchScript) when the program runs."""

    def __init__(self, mode: str = "sum") -> None:
        super().__init__()
        self.mode = mode

    def forward(self, x):
        assert isinstance(self.mode, str)
        assert self.mode in ("sum", "mean"), f"unknown mode {self.mode!r}"
        if self.mode == "sum":
            return x.sum(axis=0)
        return x.mean(axis=0)


class Layers(nn.Module):
    """A check in a loop over a ModuleList (unrolled while compiling), one raise per layer."""

    def __init__(self) -> None:
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(3, 3) for _ in range(3)])

    def forward(self, x):
        i = 0
        for layer in self.layers:
            x = layer(x)
            if np.abs(x).max() > 50.0:
                raise RuntimeError(f"layer {i} gives values above 50")
            i += 1
        return x


class NotReady(nn.Module):
    def forward(self, x):
        raise NotImplementedError("subclasses implement forward")


class EarlyExits(nn.Module):
    """Raises next to early returns (the function compiles to one exit)."""

    def forward(self, x):
        if x.sum() > 0:
            if x.max() > 3.0:
                raise ValueError("too large")
            x = x * 2.0
        if x.min() < -3.0:
            return x * 0.0
        return x + 1.0


def scaled_sum(x, *rest, scale=1.0, **reduce):
    y = x * scale
    for r in rest:
        y = y + r
    return np.sum(y, **reduce)


def apply(fn, *args, **kwargs):
    return fn(*args, **kwargs)


def with_options(x, *rest, scale=2.0, **options):
    y = x * scale
    for r in rest:
        y = y + r
    if "bias" in options:
        y = y + options["bias"]
    return y * options.get("gain", 1.0)


def literals(x):
    opts = {"bias": 1.0}
    return with_options(x, x, **opts, gain=3.0) + with_options(x, *[x, x]) + np.sum(x, **{"axis": 0})


class Calls(nn.Module):
    """``*args``/``**kwargs`` at calls of a user function, NumPy functions, a submodule, a library
    function, a method with a keyword-only argument and an array method."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.shape = (2, -1)

    def power(self, x, *, p=2):
        return x ** p

    def forward(self, x):
        pair = (x, x * 2.0)
        a = scaled_sum(*pair, scale=0.5, axis=1, keepdims=True)
        b = apply(np.maximum, *pair)
        c = apply(self.fc, x)
        d = apply(F.gelu, c, approximate="tanh")
        e = apply(self.power, x, p=3)
        return a + b.sum() + d + e, apply(x.reshape, *self.shape)


class Kinds(nn.Module):
    """isinstance of static values and of values whose type the program knows."""

    def __init__(self, scale=2) -> None:
        super().__init__()
        self.scale = scale
        self.fc = nn.Linear(4, 4)

    def forward(self, x, mask: np.ndarray | None = None, k: int = 1):
        y = x * self.scale if isinstance(self.scale, (int, float)) else x
        if isinstance(x, np.ndarray) and isinstance(k, int) and not isinstance(k, (bool, float)):
            y = y + k
        if isinstance(self.fc, nn.Linear) and not isinstance(self.fc, (nn.ReLU, tuple)):
            y = self.fc(y)
        if isinstance(x.shape[0], int) and isinstance(x.sum() > 0, (np.ndarray, np.bool)):
            y = y * 0.5
        if mask is None:
            return y
        return y * mask



class Custom(ValueError):
    pass
