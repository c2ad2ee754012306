"""The zoo's ``gpt``: a GPT-2-style decoder written as plain NumPy functions.

The functions below are written the way public NumPy ports of GPT-2 write them (nested dicts of
weight arrays, ``x @ w + b`` with ``w`` stored input-major, the causal mask from ``np.tri``, the
heads cut with ``np.split`` and joined with ``np.hstack``, the output head tied to the token
embedding); :class:`GPT` is a thin ``tracer.nn.Module`` that only holds the weights and calls
them.  Everything stays float32: the constants are Python floats (weak scalars under NumPy 2's
promotion rules), so nothing is silently computed in float64.

:func:`torch_gpt` is the same model in PyTorch with the same parameter names (for the PyTorch,
``torch.compile`` and ONNX Runtime variants); ``benchmarks.jax_twins`` has it in ``jax.numpy``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tracer import nn

__all__ = ["GPT", "gpt_forward", "torch_gpt"]

GELU_C = math.sqrt(2.0 / math.pi)


# -- the model as plain NumPy functions ----------------------------------------------------------
def gelu(x):
    return 0.5 * x * (1.0 + np.tanh(GELU_C * (x + 0.044715 * x**3)))


def softmax(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return e / np.sum(e, axis=-1, keepdims=True)


def layer_norm(x, g, b, eps=1e-5):
    mu = np.mean(x, axis=-1, keepdims=True)
    var = np.var(x, axis=-1, keepdims=True)
    return g * ((x - mu) / np.sqrt(var + eps)) + b


def dense(x, w, b):
    return x @ w + b


def mlp(x, c_fc, c_proj):
    return dense(gelu(dense(x, **c_fc)), **c_proj)


def attend(q, k, v, mask):
    scores = q @ k.T / math.sqrt(q.shape[-1]) + mask
    return softmax(scores) @ v


def self_attention(x, c_attn, c_proj, n_head):
    qkv = np.split(dense(x, **c_attn), 3, axis=-1)
    heads = [np.split(t, n_head, axis=-1) for t in qkv]
    mask = (1.0 - np.tri(x.shape[0], dtype=x.dtype)) * -1e10
    out = [attend(q, k, v, mask) for q, k, v in zip(*heads)]
    return dense(np.hstack(out), **c_proj)


def block(x, mlp_w, attn_w, ln_1, ln_2, n_head):
    x = x + self_attention(layer_norm(x, **ln_1), **attn_w, n_head=n_head)
    return x + mlp(layer_norm(x, **ln_2), **mlp_w)


def gpt_forward(ids, wte, wpe, blocks, ln_f, n_head):
    """Logits ``(len(ids), vocab)`` for a 1-D array of token ids."""
    x = wte[ids] + wpe[range(len(ids))]
    for weights in blocks:
        x = block(x, **weights, n_head=n_head)
    return layer_norm(x, **ln_f) @ wte.T


# -- the weights, held by modules ----------------------------------------------------------------
def _normal(rng: np.random.Generator, *shape: int, std: float) -> np.ndarray:
    return (rng.standard_normal(shape) * std).astype(np.float32)


class GPTBlock(nn.Module):
    def __init__(self, d: int, rng: np.random.Generator) -> None:
        super().__init__()
        self.ln_1_g, self.ln_1_b = 1 + _normal(rng, d, std=0.1), _normal(rng, d, std=0.1)
        self.attn_w, self.attn_b = _normal(rng, d, 3 * d, std=0.05), _normal(rng, 3 * d, std=0.02)
        self.attn_proj_w, self.attn_proj_b = _normal(rng, d, d, std=0.05), _normal(rng, d, std=0.02)
        self.ln_2_g, self.ln_2_b = 1 + _normal(rng, d, std=0.1), _normal(rng, d, std=0.1)
        self.fc_w, self.fc_b = _normal(rng, d, 4 * d, std=0.05), _normal(rng, 4 * d, std=0.02)
        self.proj_w, self.proj_b = _normal(rng, 4 * d, d, std=0.05), _normal(rng, d, std=0.02)

    def weights(self) -> dict:
        return {"ln_1": {"g": self.ln_1_g, "b": self.ln_1_b},
                "attn_w": {"c_attn": {"w": self.attn_w, "b": self.attn_b},
                           "c_proj": {"w": self.attn_proj_w, "b": self.attn_proj_b}},
                "ln_2": {"g": self.ln_2_g, "b": self.ln_2_b},
                "mlp_w": {"c_fc": {"w": self.fc_w, "b": self.fc_b}, "c_proj": {"w": self.proj_w, "b": self.proj_b}}}


class GPT(nn.Module):
    """``vocab`` tokens, ``ctx`` positions, width ``d``, ``layers`` blocks of ``heads`` heads."""

    def __init__(self, vocab: int = 2048, ctx: int = 64, d: int = 256, layers: int = 4, heads: int = 4,
                 seed: int = 0) -> None:
        super().__init__()
        rng = np.random.default_rng(seed)
        self.wte = _normal(rng, vocab, d, std=0.5)
        self.wpe = _normal(rng, ctx, d, std=0.5)
        self.blocks = nn.ModuleList([GPTBlock(d, rng) for _ in range(layers)])
        self.ln_f_g, self.ln_f_b = 1 + _normal(rng, d, std=0.1), _normal(rng, d, std=0.1)
        self.n_head = heads
        self.vocab = vocab

    def forward(self, ids):
        blocks = [b.weights() for b in self.blocks]
        return gpt_forward(ids, self.wte, self.wpe, blocks, {"g": self.ln_f_g, "b": self.ln_f_b}, self.n_head)


# -- the same model in PyTorch ---------------------------------------------------------------------
def torch_gpt(m: GPT) -> Any:
    """A ``torch.nn.Module`` with ``m``'s parameter names and values."""
    import torch

    tnn, F = torch.nn, torch.nn.functional

    def param(a: np.ndarray) -> Any:
        return tnn.Parameter(torch.from_numpy(np.array(a)), requires_grad=False)

    class TBlock(tnn.Module):
        def __init__(self, b: GPTBlock) -> None:
            super().__init__()
            for name, value in b.named_parameters():
                setattr(self, name, param(value))

        def forward(self, x, mask, n_head: int):
            h = F.layer_norm(x, x.shape[-1:], self.ln_1_g, self.ln_1_b)
            q, k, v = (h @ self.attn_w + self.attn_b).chunk(3, dim=-1)
            heads = []
            for qh, kh, vh in zip(q.chunk(n_head, -1), k.chunk(n_head, -1), v.chunk(n_head, -1)):
                s = qh @ kh.T / math.sqrt(qh.shape[-1]) + mask
                heads.append(torch.softmax(s, dim=-1) @ vh)
            x = x + torch.cat(heads, dim=-1) @ self.attn_proj_w + self.attn_proj_b
            h = F.layer_norm(x, x.shape[-1:], self.ln_2_g, self.ln_2_b)
            return x + F.gelu(h @ self.fc_w + self.fc_b, approximate="tanh") @ self.proj_w + self.proj_b

    class TGPT(tnn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.wte, self.wpe = param(m.wte), param(m.wpe)
            self.blocks = tnn.ModuleList([TBlock(b) for b in m.blocks])
            self.ln_f_g, self.ln_f_b = param(m.ln_f_g), param(m.ln_f_b)
            self.n_head = m.n_head

        def forward(self, ids):
            n = ids.shape[0]
            x = self.wte[ids] + self.wpe[torch.arange(n)]
            mask = (1.0 - torch.tril(torch.ones(n, n, dtype=x.dtype))) * -1e10
            for b in self.blocks:
                x = b(x, mask, self.n_head)
            return F.layer_norm(x, x.shape[-1:], self.ln_f_g, self.ln_f_b) @ self.wte.T

    return TGPT().eval()
