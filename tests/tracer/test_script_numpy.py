"""NumPy as public code writes it, scripted: ufunc keywords and methods, scalar constructors of
sizes, ``range`` as an index, ``lambda`` with ``map``, ``getattr`` of submodules."""

from __future__ import annotations

import io

import numpy as np
import pytest

import tracer
from tracer import nn

rng = np.random.default_rng(12)
X = rng.standard_normal((3, 4))
Y = rng.standard_normal((3, 4)) + 3.0


def ufunc_keywords(x, y):
    a = np.divide(x, y, dtype=np.float32)
    b = np.add.reduce(x, axis=1)
    c = np.maximum.accumulate(x, axis=0)
    d = np.subtract.outer(x[0], y[0])
    return a, b, c, d


def scalar_of_a_size(x):
    return x / np.float32(np.sqrt(x.shape[-1])), x / np.float64(x.shape[0])


def range_index(x):
    return x[np.argmax(x, axis=1), range(x.shape[0])]


def lambda_map(x, y):
    halves = list(map(lambda v: np.split(v, 2, axis=-1), (x, y)))
    scale = lambda v, k=2.0: v * k  # noqa: E731 (as public code writes it)
    return [scale(a) + b for a, b in zip(*halves)][0], scale(x, 3.0)


def negative_size(x):
    return x / x.shape[-1]


class Tree(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.names = ("a", "b")
        self.a, self.b = nn.Linear(4, 2), nn.Linear(4, 2)

    def forward(self, x):
        return sum(getattr(self, n)(x) for n in self.names)


def _check(fn, args, example):
    sm = tracer.script(fn, args if example else None)
    buf = io.BytesIO()
    sm.save(buf)
    for module in (sm, tracer.load(io.BytesIO(buf.getvalue()))):
        for backend in ("interpreter", "numba"):
            got, want = module.set_backend(backend)(*args), fn(*args)
            got, want = (got, want) if isinstance(want, tuple) else ((got,), (want,))
            for g, w in zip(got, want):
                assert np.asarray(g).dtype == np.asarray(w).dtype
                np.testing.assert_allclose(g, w, rtol=1e-6 if w.dtype == np.float32 else 1e-12, atol=0)


CASES = [("ufunc_keywords", ufunc_keywords, (X, Y)), ("scalar_of_a_size", scalar_of_a_size, (X,)),
         ("range_index", range_index, (X,)), ("lambda_map", lambda_map, (X, Y)),
         ("negative_size", negative_size, (X,)), ("getattr", Tree(), (X.astype(np.float32),))]
#: np.subtract.outer needs the rank of x[0]: refused without example inputs (test below)
NEEDS_EXAMPLES = {"ufunc_keywords"}


@pytest.mark.parametrize("name, fn, args, example",
                         [(n, f, a, e) for n, f, a in CASES for e in (True, False) if e or n not in NEEDS_EXAMPLES],
                         ids=lambda v: v if isinstance(v, str) else None)
def test_scripted_equals_eager(name, fn, args, example):
    _check(fn, args, example)


def test_what_needs_known_types_says_so():
    with pytest.raises(tracer.ScriptError, match="outer of an array whose rank is unknown"):
        tracer.script(ufunc_keywords)

    def dynamic_getattr(x, name: str):
        return getattr(x, name)

    with pytest.raises(tracer.ScriptError, match="getattr"):
        tracer.script(dynamic_getattr)
