"""Models written the way public NumPy model code is written, used unchanged by the tests.

Each model is a set of plain NumPy functions in the style of a well-known kind of public code (a
picoGPT-style GPT-2 forward, a Llama port, a Karpathy-style char-LSTM and his min-char-rnn, a
CS231n-style im2col CNN and two-layer net with its loss), plus a thin ``nn.Module`` that only
holds the weights as parameters and calls them.  The functions are not edited for the tracer:
that is what these tests check.
"""

from __future__ import annotations

import numpy as np

from tracer import nn

rng = np.random.default_rng(2024)


def randn(*shape: int, scale: float = 0.1) -> np.ndarray:
    return (rng.standard_normal(shape) * scale).astype(np.float32)


class Params(nn.Module):
    """A nested dict/list of arrays as parameters; ``tree()`` gives it back, arrays as traced."""

    def __init__(self, tree):
        super().__init__()
        self._keys = []
        for i, (key, value) in enumerate(tree.items() if isinstance(tree, dict) else enumerate(tree)):
            name = key if isinstance(tree, dict) else f"item{i}"
            self._keys.append((key, name))
            setattr(self, name, value if isinstance(value, np.ndarray) else Params(value))
        self._is_list = not isinstance(tree, dict)

    def tree(self):
        items = [(key, getattr(self, name)) for key, name in self._keys]
        items = [(k, v.tree() if isinstance(v, Params) else v) for k, v in items]
        return [v for _, v in items] if self._is_list else dict(items)


# -- a GPT-2 forward as plain NumPy functions (the picoGPT way) ----------------------------------
def gelu(x):
    return 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))


def softmax(x):
    exp_x = np.exp(x - np.max(x, axis=-1, keepdims=True))
    return exp_x / np.sum(exp_x, axis=-1, keepdims=True)


def layer_norm(x, g, b, eps: float = 1e-5):
    mean = np.mean(x, axis=-1, keepdims=True)
    variance = np.var(x, axis=-1, keepdims=True)
    x = (x - mean) / np.sqrt(variance + eps)
    return g * x + b


def linear(x, w, b):
    return x @ w + b


def ffn(x, c_fc, c_proj):
    return linear(gelu(linear(x, **c_fc)), **c_proj)


def attention(q, k, v, mask):
    return softmax(q @ k.T / np.sqrt(q.shape[-1]) + mask) @ v


def mha(x, c_attn, c_proj, n_head):
    x = linear(x, **c_attn)
    qkv = np.split(x, 3, axis=-1)
    qkv_heads = list(map(lambda x: np.split(x, n_head, axis=-1), qkv))
    causal_mask = (1 - np.tri(x.shape[0], dtype=x.dtype)) * -1e10
    out_heads = [attention(q, k, v, causal_mask) for q, k, v in zip(*qkv_heads)]
    x = np.hstack(out_heads)
    return linear(x, **c_proj)


def transformer_block(x, mlp, attn, ln_1, ln_2, n_head):
    x = x + mha(layer_norm(x, **ln_1), **attn, n_head=n_head)
    x = x + ffn(layer_norm(x, **ln_2), **mlp)
    return x


def gpt2(inputs, wte, wpe, blocks, ln_f, n_head):
    x = wte[inputs] + wpe[range(len(inputs))]
    for block in blocks:
        x = transformer_block(x, **block, n_head=n_head)
    x = layer_norm(x, **ln_f)
    return x @ wte.T


def gpt2_params(vocab=64, ctx=32, d=16, layers=2):
    def lin(n_in, n_out):
        return {"w": randn(n_in, n_out), "b": randn(n_out)}

    def ln():
        return {"g": 1 + randn(d), "b": randn(d)}

    blocks = [{"mlp": {"c_fc": lin(d, 4 * d), "c_proj": lin(4 * d, d)},
               "attn": {"c_attn": lin(d, 3 * d), "c_proj": lin(d, d)},
               "ln_1": ln(), "ln_2": ln()} for _ in range(layers)]
    return {"wte": randn(vocab, d, scale=0.5), "wpe": randn(ctx, d, scale=0.5), "blocks": blocks, "ln_f": ln()}


class GPT2(nn.Module):
    def __init__(self, n_head=2, **sizes):
        super().__init__()
        self.params = Params(gpt2_params(**sizes))
        self.n_head = n_head

    def forward(self, ids):
        return gpt2(ids, **self.params.tree(), n_head=self.n_head)


# -- a Llama block (RMSNorm, RoPE by slice assignment, grouped-query heads, SwiGLU) --------------
def rms_norm(x, weight, eps=np.float32(1e-5)):  # noqa: B008 (as public code writes it)
    return x / np.sqrt(np.mean(x * x, axis=-1, keepdims=True) + eps) * weight


def rope_tables(seq_len, head_dim, theta=10000.0):
    freqs = 1.0 / (theta ** (np.arange(0, head_dim, 2, dtype=np.float32) / head_dim))
    t = np.arange(seq_len, dtype=np.float32)
    angles = np.outer(t, freqs).astype(np.float32)
    return np.cos(angles), np.sin(angles)


def apply_rope(x, cos, sin):
    # x: (seq, heads, head_dim); rotate interleaved pairs
    out = np.empty_like(x)
    x1, x2 = x[..., 0::2], x[..., 1::2]
    c, s = cos[:, None, :], sin[:, None, :]
    out[..., 0::2] = x1 * c - x2 * s
    out[..., 1::2] = x1 * s + x2 * c
    return out


def silu(x):
    return x * (1.0 / (1.0 + np.exp(-x)))


def llama_attention(x, wq, wk, wv, wo, n_heads, n_kv_heads):
    seq_len, dim = x.shape
    head_dim = dim // n_heads
    q = (x @ wq).reshape(seq_len, n_heads, head_dim)
    k = (x @ wk).reshape(seq_len, n_kv_heads, head_dim)
    v = (x @ wv).reshape(seq_len, n_kv_heads, head_dim)
    cos, sin = rope_tables(seq_len, head_dim)
    q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
    n_rep = n_heads // n_kv_heads
    k = np.repeat(k, n_rep, axis=1)
    v = np.repeat(v, n_rep, axis=1)
    q, k, v = q.transpose(1, 0, 2), k.transpose(1, 0, 2), v.transpose(1, 0, 2)
    scores = np.matmul(q, k.transpose(0, 2, 1)) / np.float32(np.sqrt(head_dim))
    mask = np.triu(np.full((seq_len, seq_len), -np.inf, dtype=np.float32), k=1)
    scores = scores + mask
    scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
    probs = np.divide(scores, scores.sum(axis=-1, keepdims=True), dtype=np.float32)
    out = np.matmul(probs, v).transpose(1, 0, 2).reshape(seq_len, -1)
    return out @ wo


def llama_block(x, p, n_heads, n_kv_heads):
    h = x + llama_attention(rms_norm(x, p["attn_norm"]), p["wq"], p["wk"], p["wv"], p["wo"], n_heads, n_kv_heads)
    g = rms_norm(h, p["ffn_norm"])
    return h + np.multiply(silu(g @ p["w1"]), g @ p["w3"], dtype=np.float32) @ p["w2"]


class LlamaBlock(nn.Module):
    def __init__(self, dim=32, n_heads=4, n_kv_heads=2, hidden=48):
        super().__init__()
        kv = dim // n_heads * n_kv_heads
        self.p = Params({"attn_norm": 1 + randn(dim), "ffn_norm": 1 + randn(dim),
                         "wq": randn(dim, dim), "wk": randn(dim, kv), "wv": randn(dim, kv), "wo": randn(dim, dim),
                         "w1": randn(dim, hidden), "w3": randn(dim, hidden), "w2": randn(hidden, dim)})
        self.n_heads, self.n_kv_heads = n_heads, n_kv_heads

    def forward(self, x):
        return llama_block(x, self.p.tree(), self.n_heads, self.n_kv_heads)


# -- a char-LSTM step loop (Karpathy's min-char-rnn style, one-hot by item assignment) -----------
def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def lstm_forward(inputs, h, c, Wx, Wh, b, Wy, by, vocab_size):
    ys = []
    for t in range(len(inputs)):
        x = np.zeros((vocab_size, 1), dtype=np.float32)
        x[inputs[t]] = 1
        z = Wx @ x + Wh @ h + b
        i, f, o, g = np.split(z, 4)
        i, f, o, g = sigmoid(i), sigmoid(f), sigmoid(o), np.tanh(g)
        c = f * c + i * g
        h = o * np.tanh(c)
        y = Wy @ h + by
        ys.append(np.exp(y) / np.sum(np.exp(y)))
    return np.hstack(ys), h, c


class CharLSTM(nn.Module):
    def __init__(self, vocab=12, hidden=16):
        super().__init__()
        self.Wx, self.Wh, self.b = randn(4 * hidden, vocab), randn(4 * hidden, hidden), randn(4 * hidden, 1)
        self.Wy, self.by = randn(vocab, hidden), randn(vocab, 1)
        self.vocab = vocab

    def forward(self, inputs, h, c):
        return lstm_forward(inputs, h, c, self.Wx, self.Wh, self.b, self.Wy, self.by, self.vocab)


# -- an im2col CNN (CS231n / numpy-ml style: np.pad and fancy indexing) --------------------------
def get_im2col_indices(x_shape, field_height, field_width, padding=1, stride=1):
    N, C, H, W = x_shape
    out_height = int((H + 2 * padding - field_height) / stride + 1)
    out_width = int((W + 2 * padding - field_width) / stride + 1)
    i0 = np.repeat(np.arange(field_height), field_width)
    i0 = np.tile(i0, C)
    i1 = stride * np.repeat(np.arange(out_height), out_width)
    j0 = np.tile(np.arange(field_width), field_height * C)
    j1 = stride * np.tile(np.arange(out_width), out_height)
    i = i0.reshape(-1, 1) + i1.reshape(1, -1)
    j = j0.reshape(-1, 1) + j1.reshape(1, -1)
    k = np.repeat(np.arange(C), field_height * field_width).reshape(-1, 1)
    return (k, i, j)


def im2col_indices(x, field_height, field_width, padding=1, stride=1):
    p = padding
    x_padded = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), mode="constant")
    k, i, j = get_im2col_indices(x.shape, field_height, field_width, padding, stride)
    cols = x_padded[:, k, i, j]
    C = x.shape[1]
    return cols.transpose(1, 2, 0).reshape(field_height * field_width * C, -1)


def conv_forward(X, W, b, stride=1, padding=1):
    n_filters, d_filter, h_filter, w_filter = W.shape
    n_x, d_x, h_x, w_x = X.shape
    h_out = (h_x - h_filter + 2 * padding) / stride + 1
    w_out = (w_x - w_filter + 2 * padding) / stride + 1
    h_out, w_out = int(h_out), int(w_out)
    X_col = im2col_indices(X, h_filter, w_filter, padding=padding, stride=stride)
    W_col = W.reshape(n_filters, -1)
    out = W_col @ X_col + b
    out = out.reshape(n_filters, h_out, w_out, n_x)
    return out.transpose(3, 0, 1, 2)


def maxpool_forward(X, size=2, stride=2):
    n, d, h, w = X.shape
    h_out, w_out = (h - size) // stride + 1, (w - size) // stride + 1
    X_reshaped = X.reshape(n * d, 1, h, w)
    X_col = im2col_indices(X_reshaped, size, size, padding=0, stride=stride)
    max_idx = np.argmax(X_col, axis=0)
    out = X_col[max_idx, range(max_idx.size)]
    return out.reshape(h_out, w_out, n, d).transpose(2, 3, 0, 1)


class Im2colCNN(nn.Module):
    def __init__(self):
        super().__init__()
        self.W1, self.b1 = randn(4, 3, 3, 3, scale=0.3), randn(4, 1)
        self.W2, self.b2 = randn(6, 4, 3, 3, scale=0.3), randn(6, 1)
        self.Wfc, self.bfc = randn(6 * 4 * 4, 5), randn(5)

    def forward(self, X):
        h = np.maximum(conv_forward(X, self.W1, self.b1), 0)
        h = maxpool_forward(h)
        h = np.maximum(conv_forward(h, self.W2, self.b2), 0)
        return h.reshape(h.shape[0], -1) @ self.Wfc + self.bfc


# -- Karpathy's min-char-rnn forward (dicts keyed by step, one-hot written through a dict entry) --
def min_char_rnn_forward(inputs, targets, hprev, Wxh, Whh, Why, bh, by, vocab_size):
    xs, hs, ys, ps = {}, {}, {}, {}
    hs[-1] = np.copy(hprev)
    loss = 0
    for t in range(len(inputs)):
        xs[t] = np.zeros((vocab_size, 1))
        xs[t][inputs[t]] = 1
        hs[t] = np.tanh(np.dot(Wxh, xs[t]) + np.dot(Whh, hs[t - 1]) + bh)
        ys[t] = np.dot(Why, hs[t]) + by
        ps[t] = np.exp(ys[t]) / np.sum(np.exp(ys[t]))
        loss += -np.log(ps[t][targets[t], 0])
    return loss, hs[len(inputs) - 1]


class MinCharRNN(nn.Module):
    def __init__(self, vocab=10, hidden=16):
        super().__init__()
        r = np.random.default_rng(5)
        self.Wxh, self.Whh = r.standard_normal((hidden, vocab)) * 0.01, r.standard_normal((hidden, hidden)) * 0.01
        self.Why = r.standard_normal((vocab, hidden)) * 0.01
        self.bh, self.by = np.zeros((hidden, 1)), np.zeros((vocab, 1))
        self.vocab = vocab

    def forward(self, inputs, targets, hprev):
        return min_char_rnn_forward(inputs, targets, hprev, self.Wxh, self.Whh, self.Why, self.bh, self.by, self.vocab)


# -- a CS231n-style two-layer net with its loss (batchnorm by hand, dx[np.arange(N), y] -= 1) ------
def affine_forward(x, w, b):
    return x.reshape(x.shape[0], -1).dot(w) + b


def relu_forward(x):
    out = x.copy()
    out[out < 0] = 0
    return out


def batchnorm_forward(x, gamma, beta, eps=1e-5):
    N, D = x.shape
    mu = 1.0 / N * np.sum(x, axis=0)
    xmu = x - mu
    var = 1.0 / N * np.sum(xmu**2, axis=0)
    return gamma * xmu / np.sqrt(var + eps) + beta


def softmax_loss(x, y):
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    N = x.shape[0]
    loss = -np.sum(log_probs[np.arange(N), y]) / N
    dx = np.exp(log_probs)
    dx[np.arange(N), y] -= 1
    dx /= N
    return loss, dx


class TwoLayerNet(nn.Module):
    def __init__(self):
        super().__init__()
        r = np.random.default_rng(6)
        self.W1, self.b1 = r.standard_normal((3 * 4 * 4, 10)), r.standard_normal(10)
        self.gamma, self.beta = r.standard_normal(10), r.standard_normal(10)

    def forward(self, x, y):
        h = relu_forward(batchnorm_forward(affine_forward(x, self.W1, self.b1), self.gamma, self.beta))
        return softmax_loss(h, y)
