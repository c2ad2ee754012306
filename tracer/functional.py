"""``tracer.functional``: the functions of ``torch.nn.functional`` that models need, in NumPy.

Every function takes NumPy arrays and returns NumPy arrays with PyTorch's numbers (float32 to
within ``rtol=1e-5``), and keeps float32 inputs float32.  They are written only with operations
the tracer records (operators, registered NumPy functions, array methods, shape reads), so a
traced model stays correct for other batch sizes; what NumPy lacks (``erf``, ``conv2d``, pooling,
``dropout``) is a registered op called through :func:`tracer.dispatch.call_op`.

Examples
--------
>>> import numpy as np
>>> from tracer import functional as F
>>> F.softmax(np.array([[1.0, 2.0, 3.0]]), dim=-1)
array([[0.09003057, 0.24472847, 0.66524096]])
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from ir import ScriptError

from .dispatch import call_op

__all__ = [
    "avg_pool2d",
    "batch_norm",
    "conv2d",
    "dropout",
    "embedding",
    "gelu",
    "layer_norm",
    "linear",
    "log_softmax",
    "max_pool2d",
    "relu",
    "scaled_dot_product_attention",
    "sigmoid",
    "softmax",
    "tanh",
]

Array = Any  # an np.ndarray, or the tracer's stand-in for one
_SQRT1_2 = 0.7071067811865476  # 1 / sqrt(2)
_SQRT_2_OVER_PI = 0.7978845608028654  # sqrt(2 / pi)


def _pair(value: Any, name: str) -> tuple[int, int]:
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 1:
        return _pair(value[0], name)
    if isinstance(value, (tuple, list)) and len(value) == 2:
        return _pair(value[0], name)[0], _pair(value[1], name)[0]
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


# -- activations ----------------------------------------------------------------------------------


def linear(input: Array, weight: Array, bias: Array | None = None) -> Array:
    """``input @ weight.T + bias``, like ``torch.nn.functional.linear``.

    Parameters
    ----------
    input : array, shape (..., in_features)
    weight : array, shape (out_features, in_features)
    bias : array, shape (out_features,), optional

    Returns
    -------
    array, shape (..., out_features)

    Examples
    --------
    >>> import numpy as np
    >>> linear(np.ones((2, 3), np.float32), np.ones((4, 3), np.float32), np.arange(4, dtype=np.float32))
    array([[3., 4., 5., 6.],
           [3., 4., 5., 6.]], dtype=float32)
    """
    out = input @ weight.T
    if bias is not None:
        out = out + bias
    return out


def relu(input: Array) -> Array:
    """``max(input, 0)`` elementwise (NaN stays NaN).

    Examples
    --------
    >>> import numpy as np
    >>> relu(np.array([-1.0, 0.5], dtype=np.float32))
    array([0. , 0.5], dtype=float32)
    """
    return np.maximum(input, 0)


def gelu(input: Array, approximate: str = "none") -> Array:
    """Gaussian error linear unit: ``x * Phi(x)``, or its tanh approximation.

    Parameters
    ----------
    input : array
    approximate : {"none", "tanh"}
        ``"none"``: ``0.5 * x * (1 + erf(x / sqrt(2)))``; ``"tanh"``:
        ``0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))``.

    Examples
    --------
    >>> import numpy as np
    >>> gelu(np.array([-1.0, 0.0, 1.0], dtype=np.float32))
    array([-0.15865526,  0.        ,  0.8413447 ], dtype=float32)
    >>> gelu(np.array([1.0, 2.0], dtype=np.float32), approximate="tanh")
    array([0.841192 , 1.9545977], dtype=float32)
    """
    if approximate == "none":
        return input * 0.5 * (1.0 + call_op("erf", input * _SQRT1_2))
    if approximate == "tanh":
        inner = _SQRT_2_OVER_PI * (input + 0.044715 * (input * input * input))
        return 0.5 * input * (1.0 + np.tanh(inner))
    raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")


def sigmoid(input: Array) -> Array:
    """The logistic function ``1 / (1 + exp(-x))``, computed without overflow.

    Examples
    --------
    >>> import numpy as np
    >>> sigmoid(np.array([-20.0, 0.0, 2.0], dtype=np.float32))
    array([2.0611537e-09, 5.0000000e-01, 8.8079703e-01], dtype=float32)
    """
    e = np.exp(-np.abs(input))  # in (0, 1]: never overflows
    return np.where(input >= 0, 1.0, e) / (1.0 + e)


def tanh(input: Array) -> Array:
    """Hyperbolic tangent, elementwise (``np.tanh``).

    Examples
    --------
    >>> import numpy as np
    >>> tanh(np.array([0.0, 1.0], dtype=np.float32))
    array([0.       , 0.7615942], dtype=float32)
    """
    return np.tanh(input)


def _known_rank(input: Array) -> int | None:
    """``input.ndim``, or None for a scripted argument whose rank is not known when compiling
    (code that only checks the rank skips the check; the program's ops check shapes when run)."""
    try:
        return input.ndim
    except ScriptError:
        return None


def _softmax_dim(input: Array, dim: int | None, name: str) -> int:
    if dim is not None:
        return dim  # no rank needed (a scripted argument of unknown rank)
    ndim = input.ndim
    warnings.warn(
        f"Implicit dimension choice for {name} has been deprecated; pass dim= explicitly",
        UserWarning,
        stacklevel=3,
    )
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Array, dim: int | None = None, dtype: Any = None) -> Array:
    """``exp(x) / sum(exp(x))`` along ``dim``, shifted by the maximum for stability.

    Parameters
    ----------
    input : array
    dim : int
        The axis to normalise.  ``None`` picks PyTorch's legacy default (0 for rank 0, 1 and 3,
        else 1) with a warning.
    dtype : dtype, optional
        Cast ``input`` to this dtype first.

    Examples
    --------
    >>> import numpy as np
    >>> softmax(np.array([0.0, np.log(3.0)], dtype=np.float32), dim=0)
    array([0.25, 0.75], dtype=float32)
    """
    dim = _softmax_dim(input, dim, "softmax")
    if dtype is not None:
        input = input.astype(dtype)
    e = np.exp(input - input.max(axis=dim, keepdims=True))
    return e / e.sum(axis=dim, keepdims=True)


def log_softmax(input: Array, dim: int | None = None, dtype: Any = None) -> Array:
    """``log(softmax(x))`` along ``dim``, as ``x - max - log(sum(exp(x - max)))``.

    Examples
    --------
    >>> import numpy as np
    >>> log_softmax(np.array([0.0, np.log(3.0)], dtype=np.float32), dim=0)
    array([-1.3862944 , -0.28768212], dtype=float32)
    """
    dim = _softmax_dim(input, dim, "log_softmax")
    if dtype is not None:
        input = input.astype(dtype)
    shifted = input - input.max(axis=dim, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=dim, keepdims=True))


# -- normalisation --------------------------------------------------------------------------------


def layer_norm(
    input: Array,
    normalized_shape: int | Sequence[int],
    weight: Array | None = None,
    bias: Array | None = None,
    eps: float = 1e-5,
) -> Array:
    """Normalise over the last ``len(normalized_shape)`` axes to zero mean and unit variance.

    Uses the biased variance, then scales by ``weight`` and shifts by ``bias`` when given.

    Examples
    --------
    >>> import numpy as np
    >>> layer_norm(np.array([[1.0, 2.0, 3.0]], dtype=np.float32), 3)
    array([[-1.2247356,  0.       ,  1.2247356]], dtype=float32)
    """
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    rank = _known_rank(input)
    if not shape or (rank is not None and len(shape) > rank):
        raise ValueError(f"layer_norm: normalized_shape {shape} does not fit an input of rank {rank}")
    axes = tuple(range(-len(shape), 0))
    centered = input - input.mean(axis=axes, keepdims=True)
    var = (centered * centered).mean(axis=axes, keepdims=True)
    out = centered * (1.0 / np.sqrt(var + eps))
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def batch_norm(
    input: Array,
    running_mean: Array | None,
    running_var: Array | None,
    weight: Array | None = None,
    bias: Array | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Array:
    """Normalise each channel (axis 1) with running statistics, or with the batch's own.

    With ``training=True`` the statistics are the batch's mean and biased variance over every
    axis but 1; when ``input``, ``running_mean`` and ``running_var`` are real arrays the running
    statistics are then updated in place (``running = (1 - momentum) * running + momentum *
    batch``, with the unbiased variance), as PyTorch does.  A traced call never updates them.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.array([[1.0, 2.0], [3.0, 6.0]], dtype=np.float32)
    >>> batch_norm(x, np.array([2.0, 4.0], np.float32), np.array([1.0, 4.0], np.float32), eps=0.0)
    array([[-1., -1.],
           [ 1.,  1.]], dtype=float32)
    """
    ndim = input.ndim
    if ndim < 2:
        raise ValueError(f"batch_norm expects an input of rank >= 2 (N, C, ...), got rank {ndim}")
    shape = (1, -1) + (1,) * (ndim - 2)
    if training:
        axes = (0, *range(2, ndim))
        mean = input.mean(axis=axes)
        centered = input - mean.reshape(shape)
        var = (centered * centered).mean(axis=axes)
        if isinstance(input, np.ndarray):
            n = input.size // input.shape[1]
            if n <= 1:
                raise ValueError(
                    f"Expected more than 1 value per channel when training, got input of shape {input.shape}"
                )
            for stat, batch in ((running_mean, mean), (running_var, var * (n / (n - 1)))):
                if isinstance(stat, np.ndarray):
                    stat[...] = (1.0 - momentum) * stat + momentum * batch
    else:
        if running_mean is None or running_var is None:
            raise ValueError("batch_norm: running_mean and running_var are required when training=False")
        mean, var = running_mean, running_var
    alpha = 1.0 / np.sqrt(var + eps)
    if weight is not None:
        alpha = alpha * weight
    beta = -mean * alpha if bias is None else bias - mean * alpha
    return input * alpha.reshape(shape) + beta.reshape(shape)


# -- convolution and pooling ----------------------------------------------------------------------


def conv2d(
    input: Array,
    weight: Array,
    bias: Array | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Array:
    """2-d convolution (cross-correlation) over ``(N, C, H, W)`` or ``(C, H, W)`` input.

    Parameters
    ----------
    input : array, shape (N, C, H, W) or (C, H, W)
    weight : array, shape (out_channels, C // groups, kH, kW)
    bias : array, shape (out_channels,), optional
    stride, dilation : int or (int, int)
    padding : int, (int, int), "valid" or "same"
        Zero padding on both sides; ``"same"`` (stride 1 only) keeps the spatial size.
    groups : int

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((1, 1, 3, 3), np.float32)
    >>> conv2d(x, np.ones((1, 1, 3, 3), np.float32), padding=1)[0, 0]
    array([[4., 6., 4.],
           [6., 9., 6.],
           [4., 6., 4.]], dtype=float32)
    """
    if isinstance(padding, str):
        if padding not in ("same", "valid"):
            raise ValueError(f"padding must be 'same', 'valid', an int or a pair, got {padding!r}")
        pad: Any = padding
    else:
        pad = _pair(padding, "padding")
    return call_op(
        "conv2d", input, weight, bias,
        stride=_pair(stride, "stride"), padding=pad, dilation=_pair(dilation, "dilation"), groups=groups,
    )


def max_pool2d(
    input: Array,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
    return_indices: bool = False,
) -> Array:
    """Largest value in each window; ``stride`` defaults to ``kernel_size``.

    Padding counts as ``-inf`` and may be at most half the kernel.  ``return_indices`` is not
    supported.

    Examples
    --------
    >>> import numpy as np
    >>> max_pool2d(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 5.,  7.],
           [13., 15.]], dtype=float32)
    """
    if return_indices:
        raise NotImplementedError("max_pool2d(return_indices=True) is not supported; use argmax over windows")
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or stride == () or stride == [] else _pair(stride, "stride")
    return call_op(
        "max_pool2d", input, k, s,
        padding=_pair(padding, "padding"), dilation=_pair(dilation, "dilation"), ceil_mode=bool(ceil_mode),
    )


def avg_pool2d(
    input: Array,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Array:
    """Mean of each window; ``stride`` defaults to ``kernel_size``.

    The divisor follows PyTorch: the window clipped to the padded input when
    ``count_include_pad``, else to the input itself, or ``divisor_override`` when given.

    Examples
    --------
    >>> import numpy as np
    >>> avg_pool2d(np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4), 2)[0, 0]
    array([[ 2.5,  4.5],
           [10.5, 12.5]], dtype=float32)
    """
    k = _pair(kernel_size, "kernel_size")
    s = k if stride is None or stride == () or stride == [] else _pair(stride, "stride")
    return call_op(
        "avg_pool2d", input, k, s,
        padding=_pair(padding, "padding"), ceil_mode=bool(ceil_mode),
        count_include_pad=bool(count_include_pad), divisor_override=divisor_override,
    )


# -- embedding, dropout, attention ----------------------------------------------------------------


def embedding(
    input: Array,
    weight: Array,
    padding_idx: int | None = None,
    max_norm: float | None = None,
    norm_type: float = 2.0,
    scale_grad_by_freq: bool = False,
    sparse: bool = False,
) -> Array:
    """Rows of ``weight`` picked by the integer array ``input``: shape ``input.shape + (dim,)``.

    ``padding_idx``, ``scale_grad_by_freq`` and ``sparse`` only affect gradients and are
    accepted for compatibility; ``max_norm`` (which rewrites ``weight``) is not supported.

    Examples
    --------
    >>> import numpy as np
    >>> embedding(np.array([2, 0]), np.arange(6, dtype=np.float32).reshape(3, 2))
    array([[4., 5.],
           [0., 1.]], dtype=float32)
    """
    if max_norm is not None:
        raise NotImplementedError("embedding(max_norm=...) is not supported; renormalise the weight beforehand")
    try:
        kind = input.dtype.kind
    except ScriptError:  # scripted without example inputs: np.take refuses non-integers when it runs
        kind = "i"
    if kind not in "iu":
        raise TypeError(f"embedding indices must be an integer array, got dtype {input.dtype}")
    return np.take(weight, input, axis=0)


def dropout(input: Array, p: float = 0.5, training: bool = True, inplace: bool = False) -> Array:
    """Zero elements with probability ``p`` and scale the rest by ``1 / (1 - p)`` when training.

    The mask comes from ``tracer.nn.init``'s generator (seed it with ``manual_seed``).  With
    ``training=False`` the input is returned as is.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones(4, np.float32)
    >>> dropout(x, 0.5, training=False) is x
    True
    >>> sorted(set(dropout(np.ones(100, np.float32), 0.5).tolist()))
    [0.0, 2.0]
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    return call_op("dropout", input, float(p))


def _softmax_last(scores: Array, safe: bool) -> Array:
    """Softmax over the last axis; with ``safe`` a row that is all ``-inf`` gives zeros, not NaN."""
    m = scores.max(axis=-1, keepdims=True)
    if not safe:
        e = np.exp(scores - m)
        return e / e.sum(axis=-1, keepdims=True)
    dead = m == -np.inf
    e = np.exp(scores - np.where(dead, 0.0, m))
    return e / np.where(dead, 1.0, e.sum(axis=-1, keepdims=True))


def _attend(
    query: Array,
    key: Array,
    value: Array,
    scale: Any,
    add_masks: Sequence[Array] = (),
    block_masks: Sequence[Array] = (),
    dropout_p: float = 0.0,
    safe: bool = False,
) -> tuple[Array, Array]:
    """``softmax((q * scale) @ k^T + masks) @ v`` and the weights; ``block_masks`` are True where
    attention is not allowed."""
    scores = (query * scale) @ np.swapaxes(key, -1, -2)
    for m in add_masks:
        scores = scores + m
    for m in block_masks:
        scores = np.where(m, -np.inf, scores)
    weights = _softmax_last(scores, safe)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p)
    return weights @ value, weights


def scaled_dot_product_attention(
    query: Array,
    key: Array,
    value: Array,
    attn_mask: Array | None = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    enable_gqa: bool = False,
) -> Array:
    """``softmax(q @ k^T * scale + mask) @ v`` over ``(..., L, E)`` queries and ``(..., S, E)`` keys.

    Parameters
    ----------
    query, key, value : arrays, shapes (..., L, E), (..., S, E), (..., S, Ev)
    attn_mask : array, optional
        Broadcastable to ``(..., L, S)``: boolean (True = may attend) or added to the scores.
    dropout_p : float
        Dropout on the attention weights (applied whenever positive, as in PyTorch).
    is_causal : bool
        Query ``i`` attends to keys ``j <= i``; cannot be combined with ``attn_mask``.
    scale : float, optional
        Defaults to ``1 / sqrt(E)``.
    enable_gqa : bool
        Grouped-query attention: ``key``/``value`` have fewer heads (axis -3) than ``query``,
        each shared by ``query_heads // kv_heads`` consecutive query heads.

    Returns
    -------
    array, shape (..., L, Ev)
        Rows whose keys are all masked out are zero (PyTorch's safe softmax).

    Examples
    --------
    >>> import numpy as np
    >>> q = np.ones((1, 2, 4), np.float32)
    >>> v = np.arange(8, dtype=np.float32).reshape(1, 2, 4)
    >>> scaled_dot_product_attention(q, q, v, is_causal=True)
    array([[[0., 1., 2., 3.],
            [2., 3., 4., 5.]]], dtype=float32)
    """
    if scale is None:
        scale = query.shape[-1] ** -0.5
    block: list[Array] = []
    add: list[Array] = []
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: pass either attn_mask or is_causal=True, not both")
        rows = call_op("arange", query.shape[-2])
        cols = call_op("arange", key.shape[-2])
        block.append(rows[:, None] < cols[None, :])
    elif attn_mask is not None:
        if attn_mask.dtype == np.bool_:
            block.append(~attn_mask)
        else:
            add.append(attn_mask)
    if not enable_gqa:
        out, _ = _attend(query, key, value, scale, add, block, dropout_p, safe=bool(add or block))
        return out
    if query.ndim < 3:
        raise ValueError("enable_gqa needs inputs with a head axis: (..., heads, L, E)")
    *lead, hq, length, e = query.shape
    hk = key.shape[-3]
    group = hq // hk
    q = query.reshape((*lead, hk, group, length, e))
    k, v = np.expand_dims(key, -3), np.expand_dims(value, -3)
    add = [np.expand_dims(m, -3) if m.ndim >= 3 else m for m in add]
    block = [np.expand_dims(m, -3) if m.ndim >= 3 else m for m in block]
    out, _ = _attend(q, k, v, scale, add, block, dropout_p, safe=bool(add or block))
    return out.reshape((*lead, hq, length, value.shape[-1]))
