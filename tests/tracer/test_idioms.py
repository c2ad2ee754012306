"""Everyday NumPy idioms of model code, traced unchanged.

Each idiom is traced at one size and run at the traced size (equal to eager bit for bit on the
interpreter) and at another (eager's result, or ``GuardError`` where the idiom bakes a size).
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tracer
from tests.helpers import assert_same, eager

rng = np.random.default_rng(11)
X, X2 = rng.standard_normal((4, 6)).astype(np.float32), rng.standard_normal((7, 6)).astype(np.float32)
W = rng.standard_normal((6, 5)).astype(np.float32)
LABELS, LABELS2 = np.array([1, 0, 2, 1]), np.array([0, 2, 1, 1, 0, 2, 2])


def relu_in_place(x):
    y = x.copy()
    y[y < 0] = 0
    return y


def exp_out(x):
    y = x.copy()
    np.exp(y, out=y)
    return y


def masked_scale(x):
    y = x * 1
    y *= y > 0
    return y


def rows_by_index(x):
    return np.stack([r * i for i, r in enumerate(x)])  # iterating bakes the length: guarded


def cross_entropy(logits, labels):
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    return -np.log(p[np.arange(len(labels)), labels]).mean()


IDIOMS = {
    "mask assignment": (relu_in_place, (X,), (X2,)),
    "ufunc out=": (exp_out, (X,), (X2,)),
    "in-place by a mask": (masked_scale, (X,), (X2,)),
    "einsum": (lambda x: np.einsum("ij,jk->ik", x, W), (X,), (X2,)),
    "row norms": (lambda x: x / np.linalg.norm(x, axis=-1, keepdims=True), (X,), (X2,)),
    "where -inf": (lambda x: np.where(x > 0, x, -np.inf), (X,), (X2,)),
    "clip one side": (lambda x: np.clip(x, 0, None), (X,), (X2,)),
    "bias column": (lambda x: np.concatenate([x, np.ones((x.shape[0], 1), dtype=x.dtype)], axis=1), (X,), (X2,)),
    "one-hot by eye": (lambda labels: np.eye(3)[labels], (LABELS,), (LABELS2,)),
    "python sum": (lambda x: sum([x, x, x]), (X,), (X2,)),
    "np.prod of a shape": (lambda x: x.reshape(-1) / np.prod(x.shape), (X,), (X2,)),
    "int(np.prod(...))": (lambda x: x.reshape(x.shape[0], int(np.prod(x.shape[1:]))), (X,), (X2,)),
    "reshape *shape": (lambda x: x.reshape(*x.shape[:-1], 2, 3).sum(-1), (X,), (X2,)),
    "newaxis": (lambda x: x[:, np.newaxis] * x[..., None, :], (X,), (X2,)),
    "full_like -inf": (lambda x: np.maximum(np.full_like(x, -np.inf), x), (X,), (X2,)),
    "logsumexp": (lambda x: np.log(np.sum(np.exp(x - x.max(1, keepdims=True)), axis=1)), (X,), (X2,)),
    "argmax one-hot": (lambda x: (np.arange(x.shape[1]) == x.argmax(1)[:, None]).astype(np.float32), (X,), (X2,)),
    "cross entropy": (cross_entropy, (X, LABELS), (X2, LABELS2)),
    "tuple(shape)": (lambda x: np.zeros(tuple(x.shape), dtype=x.dtype) + x, (X,), (X2,)),
    "half by len": (lambda x: x[: len(x) // 2], (X,), (X2,)),
    "split, reversed, hstack": (lambda x: np.hstack(np.split(x, 2, axis=1)[::-1]), (X,), (X2,)),
    "np.array of reductions": (lambda x: np.array([x.sum(), x.max()]), (X,), (X2,)),
    "scale by sqrt(d)": (lambda x: x / np.sqrt(x.shape[-1]), (X,), (X2,)),
    "float32 epsilon": (lambda x: x / (np.abs(x).max() + np.float32(1e-6)), (X,), (X2,)),
    "top-2": (lambda x: np.argsort(-x, axis=1)[:, :2], (X,), (X2,)),
    "sort along": (lambda x: np.take_along_axis(x, np.argsort(x, 1), 1), (X,), (X2,)),
    "reverse cumsum": (lambda x: np.cumsum(x[::-1], 0)[::-1], (X,), (X2,)),
    "enumerate rows": (rows_by_index, (X,), (X2,)),
    "max of a shape": (lambda x: x * max(x.shape), (X,), (X2,)),
}


@pytest.mark.parametrize("name", list(IDIOMS))
def test_idiom_traces_unchanged(name):
    fn, inputs, other = IDIOMS[name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", tracer.TracerWarning)  # baked sizes warn and become guards
        sm = tracer.trace(fn, inputs).set_backend("interpreter")
    with np.errstate(all="ignore"):
        assert_same(sm(*(a.copy() for a in inputs)), eager(fn, inputs))
        try:
            got = sm(*(a.copy() for a in other))
        except tracer.GuardError:
            assert name in ("enumerate rows", "max of a shape"), "this idiom should follow the size"
            return
    assert_same(got, eager(fn, other))
