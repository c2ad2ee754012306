"""Layers with PyTorch's constructor arguments, parameter names, shapes and default initialisation.

A PyTorch ``state_dict`` converted with ``{k: v.detach().numpy() for k, v in sd.items()}`` loads
into the matching layer with ``load_state_dict``, and the layer then gives PyTorch's numbers.
Parameters are float32 unless a ``dtype`` is given.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import functional as F
from ..functional import _attend, _pair
from . import init
from .module import Module

__all__ = [
    "AvgPool2d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "GELU",
    "Identity",
    "LayerNorm",
    "Linear",
    "MaxPool2d",
    "MultiheadAttention",
    "ReLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
]

Array = Any


def _float_dtype(dtype: Any) -> np.dtype:
    dt = np.dtype(np.float32 if dtype is None else dtype)
    if dt.kind != "f":
        raise TypeError(f"layer parameters must have a floating dtype, got {dt}")
    return dt


def _positive_int(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value <= 0:
        raise ValueError(f"{name} must be a positive int, got {value!r}")
    return int(value)


# -- stateless layers -----------------------------------------------------------------------------


class Identity(Module):
    """Returns its input; any constructor arguments are ignored.

    Examples
    --------
    >>> Identity(54, unused="x")(3)
    3
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Array) -> Array:
        return input


class ReLU(Module):
    """``F.relu``.  ``inplace`` is accepted for compatibility (a new array is returned).

    Examples
    --------
    >>> import numpy as np
    >>> ReLU()(np.array([-1.0, 2.0], np.float32))
    array([0., 2.], dtype=float32)
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = bool(inplace)

    def forward(self, input: Array) -> Array:
        return F.relu(input)

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class GELU(Module):
    """``F.gelu`` with ``approximate="none"`` (erf) or ``"tanh"``.

    Examples
    --------
    >>> GELU(approximate="tanh")
    GELU(approximate='tanh')
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate

    def forward(self, input: Array) -> Array:
        return F.gelu(input, approximate=self.approximate)

    def extra_repr(self) -> str:
        return f"approximate={self.approximate!r}"


class Sigmoid(Module):
    """``F.sigmoid``.

    Examples
    --------
    >>> import numpy as np
    >>> Sigmoid()(np.zeros(2, np.float32))
    array([0.5, 0.5], dtype=float32)
    """

    def forward(self, input: Array) -> Array:
        return F.sigmoid(input)


class Tanh(Module):
    """``np.tanh``.

    Examples
    --------
    >>> import numpy as np
    >>> Tanh()(np.zeros(2, np.float32))
    array([0., 0.], dtype=float32)
    """

    def forward(self, input: Array) -> Array:
        return F.tanh(input)


class Softmax(Module):
    """``F.softmax`` along ``dim``.

    Examples
    --------
    >>> import numpy as np
    >>> Softmax(dim=-1)(np.zeros((1, 4), np.float32))
    array([[0.25, 0.25, 0.25, 0.25]], dtype=float32)
    """

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Array) -> Array:
        return F.softmax(input, self.dim)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class Dropout(Module):
    """``F.dropout`` while training; the identity in eval mode.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones(3, np.float32)
    >>> Dropout(0.5).eval()(x) is x
    True
    """

    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
        self.p = float(p)
        self.inplace = bool(inplace)

    def forward(self, input: Array) -> Array:
        return F.dropout(input, self.p, self.training)

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Flatten(Module):
    """Merge axes ``start_dim..end_dim`` into one; sizes are read from the input, so a traced
    model keeps working for other batch sizes.

    Examples
    --------
    >>> import numpy as np
    >>> Flatten()(np.zeros((2, 3, 4, 5))).shape
    (2, 60)
    >>> Flatten(0, 1)(np.zeros((2, 3, 4))).shape
    (6, 4)
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = int(start_dim)
        self.end_dim = int(end_dim)

    def forward(self, input: Array) -> Array:
        ndim = input.ndim
        if ndim == 0:
            return input.reshape(1)
        if not (-ndim <= self.start_dim < ndim and -ndim <= self.end_dim < ndim):
            raise IndexError(f"Flatten({self.start_dim}, {self.end_dim}) is out of range for a {ndim}-d input")
        start, end = self.start_dim % ndim, self.end_dim % ndim
        if start > end:
            raise ValueError("Flatten: start_dim cannot come after end_dim")
        if start == end:
            return input
        shape = input.shape
        if isinstance(input, np.ndarray) and input.size == 0:  # -1 is ambiguous for empty arrays
            return input.reshape((*shape[:start], math.prod(shape[start:end + 1]), *shape[end + 1:]))
        return input.reshape((*shape[:start], -1, *shape[end + 1:]))

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class MaxPool2d(Module):
    """``F.max_pool2d`` over ``(N, C, H, W)`` or ``(C, H, W)``; ``stride`` defaults to the kernel.

    Examples
    --------
    >>> MaxPool2d(2)
    MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
    """

    #: The rank ``tracer.script`` fixes (checked when the program runs) for an input whose rank is
    #: unknown when compiling: batched ``(N, C, H, W)``.
    input_rank = 4

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                 return_indices: bool = False, ceil_mode: bool = False) -> None:
        super().__init__()
        if return_indices:
            raise NotImplementedError("MaxPool2d(return_indices=True) is not supported")
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = False
        self.ceil_mode = bool(ceil_mode)

    def forward(self, input: Array) -> Array:
        return F.max_pool2d(input, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class AvgPool2d(Module):
    """``F.avg_pool2d`` over ``(N, C, H, W)`` or ``(C, H, W)``; ``stride`` defaults to the kernel.

    Examples
    --------
    >>> AvgPool2d(3, stride=1, padding=1)
    AvgPool2d(kernel_size=3, stride=1, padding=1)
    """

    #: The rank ``tracer.script`` fixes (checked when the program runs) for an input whose rank is
    #: unknown when compiling: batched ``(N, C, H, W)``.
    input_rank = 4

    def __init__(self, kernel_size: Any, stride: Any = None, padding: Any = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = bool(ceil_mode)
        self.count_include_pad = bool(count_include_pad)
        self.divisor_override = divisor_override

    def forward(self, input: Array) -> Array:
        return F.avg_pool2d(input, self.kernel_size, self.stride, self.padding, self.ceil_mode,
                            self.count_include_pad, self.divisor_override)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


# -- layers with parameters -----------------------------------------------------------------------


class Linear(Module):
    """``y = x @ weight.T + bias`` with ``weight`` of shape ``(out_features, in_features)``.

    Initialised like PyTorch: ``weight`` by ``kaiming_uniform_(a=sqrt(5))``, ``bias`` from
    U(-1/sqrt(in_features), 1/sqrt(in_features)).

    Examples
    --------
    >>> import numpy as np
    >>> m = Linear(4, 2)
    >>> m
    Linear(in_features=4, out_features=2, bias=True)
    >>> [(k, v.shape) for k, v in m.state_dict().items()]
    [('weight', (2, 4)), ('bias', (2,))]
    >>> m(np.zeros((3, 4), np.float32)).shape
    (3, 2)
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        self.in_features = int(in_features)
        self.out_features = int(out_features)
        dt = _float_dtype(dtype)
        self.weight = np.empty((self.out_features, self.in_features), dt)
        if bias:
            self.bias = np.empty(self.out_features, dt)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            init._fan_in_uniform_(self.bias, self.weight)

    def forward(self, input: Array) -> Array:
        return F.linear(input, self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, bias={self.bias is not None}"


class Conv2d(Module):
    """2-d convolution over ``(N, C, H, W)``; ``weight`` is ``(out, in // groups, kH, kW)``.

    ``padding`` is an int, a pair, ``"valid"`` or ``"same"`` (stride 1).  Only
    ``padding_mode="zeros"`` is supported.

    Examples
    --------
    >>> import numpy as np
    >>> m = Conv2d(3, 8, 3, padding=1, groups=1)
    >>> m
    Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    >>> m(np.zeros((2, 3, 16, 16), np.float32)).shape
    (2, 8, 16, 16)
    """

    #: The rank ``tracer.script`` fixes (checked when the program runs) for an input whose rank is
    #: unknown when compiling: batched ``(N, C, H, W)``.
    input_rank = 4

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True, padding_mode: str = "zeros",
                 dtype: Any = None) -> None:
        super().__init__()
        groups = _positive_int(groups, "groups")
        if in_channels % groups:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode != "zeros":
            raise NotImplementedError(f"padding_mode={padding_mode!r} is not supported; only 'zeros' is")
        self.in_channels = int(in_channels)
        self.out_channels = int(out_channels)
        self.kernel_size = _pair(kernel_size, "kernel_size")
        self.stride = _pair(stride, "stride")
        self.dilation = _pair(dilation, "dilation")
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(f"padding must be 'same', 'valid', an int or a pair, got {padding!r}")
            if padding == "same" and self.stride != (1, 1):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding: Any = padding
        else:
            self.padding = _pair(padding, "padding")
        self.groups = groups
        self.padding_mode = padding_mode
        dt = _float_dtype(dtype)
        self.weight = np.empty((self.out_channels, self.in_channels // groups, *self.kernel_size), dt)
        if bias:
            self.bias = np.empty(self.out_channels, dt)
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            init._fan_in_uniform_(self.bias, self.weight)

    def forward(self, input: Array) -> Array:
        return F.conv2d(input, self.weight, self.bias, self.stride, self.padding, self.dilation,
                        self.groups)

    def extra_repr(self) -> str:
        s = f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}"
        if self.padding != (0, 0):
            s += f", padding={self.padding}"
        if self.dilation != (1, 1):
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        return s


class LayerNorm(Module):
    """``F.layer_norm`` over the trailing ``normalized_shape`` axes, with ``weight``/``bias``.

    Examples
    --------
    >>> m = LayerNorm(8)
    >>> m, [(k, v.shape) for k, v in m.state_dict().items()]
    (LayerNorm((8,), eps=1e-05, elementwise_affine=True, bias=True), [('weight', (8,)), ('bias', (8,))])
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype: Any = None) -> None:
        super().__init__()
        shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
        self.normalized_shape = tuple(int(d) for d in shape)
        self.eps = float(eps)
        self.elementwise_affine = bool(elementwise_affine)
        dt = _float_dtype(dtype)
        if elementwise_affine:
            self.weight = np.ones(self.normalized_shape, dt)
            if bias:
                self.bias = np.zeros(self.normalized_shape, dt)
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if self.weight is not None:
            init.ones_(self.weight)
        if self.bias is not None:
            init.zeros_(self.bias)

    def forward(self, input: Array) -> Array:
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}, "
                f"bias={self.bias is not None}")


class BatchNorm2d(Module):
    """Batch normalisation over the channels of ``(N, C, H, W)`` input.

    In eval mode it uses ``running_mean``/``running_var``; in training mode the batch's own
    statistics, and (for real arrays, not while tracing) updates the running statistics and
    ``num_batches_tracked`` in place like PyTorch (``momentum=None``: cumulative average).

    Examples
    --------
    >>> import numpy as np
    >>> m = BatchNorm2d(3)
    >>> [(k, v.shape, v.dtype.name) for k, v in m.state_dict().items()][2:]
    [('running_mean', (3,), 'float32'), ('running_var', (3,), 'float32'), ('num_batches_tracked', (), 'int64')]
    >>> _ = m(np.ones((2, 3, 4, 4), np.float32)); int(m.num_batches_tracked)
    1
    """

    #: The rank ``tracer.script`` fixes (checked when the program runs) for an input whose rank is
    #: unknown when compiling: ``(N, C, H, W)``.
    input_rank = 4

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: Any = None, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = int(num_features)
        self.eps = float(eps)
        self.momentum = momentum
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        dt = _float_dtype(dtype)
        if affine:
            self.weight = np.ones(self.num_features, dt)
        else:
            self.register_parameter("weight", None)
        if affine and bias:
            self.bias = np.zeros(self.num_features, dt)
        else:
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dt))
            self.register_buffer("running_var", np.ones(self.num_features, dt))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def reset_running_stats(self) -> None:
        if self.track_running_stats:
            self._buffers["running_mean"][...] = 0
            self._buffers["running_var"][...] = 1
            self._buffers["num_batches_tracked"][...] = 0

    def reset_parameters(self) -> None:
        self.reset_running_stats()
        if self.affine:
            init.ones_(self._parameters["weight"])
        if self._parameters["bias"] is not None:
            init.zeros_(self._parameters["bias"])

    def forward(self, input: Array) -> Array:
        if input.ndim != 4:
            raise ValueError(f"BatchNorm2d expected 4D input (got {input.ndim}D input)")
        factor = 0.0 if self.momentum is None else self.momentum
        track = self.track_running_stats
        if self.training and track and isinstance(input, np.ndarray):
            count = self._buffers["num_batches_tracked"]
            count += 1  # in place: the buffer itself
            if self.momentum is None:
                factor = 1.0 / float(count)
        use_batch_stats = self.training or not track
        stats = (self.running_mean, self.running_var) if track else (None, None)
        return F.batch_norm(input, *stats, self.weight, self.bias, use_batch_stats, factor,
                            self.eps)

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class Embedding(Module):
    """A lookup table: ``weight[input]`` with ``weight`` of shape ``(num_embeddings, embedding_dim)``.

    Initialised from N(0, 1), with the ``padding_idx`` row zeroed.

    Examples
    --------
    >>> import numpy as np
    >>> m = Embedding(10, 3, padding_idx=0)
    >>> m(np.array([[0, 4]])).shape, bool((m.weight[0] == 0).all())
    ((1, 2, 3), True)
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 max_norm: float | None = None, norm_type: float = 2.0, scale_grad_by_freq: bool = False,
                 sparse: bool = False, _weight: np.ndarray | None = None, dtype: Any = None) -> None:
        super().__init__()
        if max_norm is not None:
            raise NotImplementedError("Embedding(max_norm=...) is not supported; renormalise the weight yourself")
        self.num_embeddings = int(num_embeddings)
        self.embedding_dim = int(embedding_dim)
        if padding_idx is not None:
            if not -self.num_embeddings <= padding_idx < self.num_embeddings:
                raise ValueError("padding_idx must be within num_embeddings")
            padding_idx = int(padding_idx) % self.num_embeddings
        self.padding_idx = padding_idx
        self.max_norm = None
        self.norm_type = float(norm_type)
        self.scale_grad_by_freq = bool(scale_grad_by_freq)
        self.sparse = bool(sparse)
        dt = _float_dtype(dtype)
        if _weight is None:
            self.weight = np.empty((self.num_embeddings, self.embedding_dim), dt)
            self.reset_parameters()
        else:
            if tuple(_weight.shape) != (self.num_embeddings, self.embedding_dim):
                raise ValueError("Shape of weight does not match num_embeddings and embedding_dim")
            self.weight = np.array(_weight, dtype=dt if dtype is not None else None, copy=True)

    @classmethod
    def from_pretrained(cls, embeddings: np.ndarray, freeze: bool = True, padding_idx: int | None = None,
                        **kwargs: Any) -> Embedding:
        """An ``Embedding`` whose weight is a copy of the 2-d array ``embeddings``."""
        if np.ndim(embeddings) != 2:
            raise ValueError("Embeddings parameter is expected to be 2-dimensional")
        rows, cols = np.shape(embeddings)
        return cls(rows, cols, padding_idx=padding_idx, _weight=np.asarray(embeddings),
                   dtype=np.asarray(embeddings).dtype, **kwargs)

    def reset_parameters(self) -> None:
        init.normal_(self.weight)
        if self.padding_idx is not None:
            self.weight[self.padding_idx] = 0

    def forward(self, input: Array) -> Array:
        return F.embedding(input, self.weight, self.padding_idx)

    def extra_repr(self) -> str:
        s = f"{self.num_embeddings}, {self.embedding_dim}"
        if self.padding_idx is not None:
            s += f", padding_idx={self.padding_idx}"
        if self.norm_type != 2:
            s += f", norm_type={self.norm_type}"
        if self.scale_grad_by_freq:
            s += ", scale_grad_by_freq=True"
        if self.sparse:
            s += ", sparse=True"
        return s


class MultiheadAttention(Module):
    """Multi-head attention with PyTorch's parameters: ``in_proj_weight`` ``(3E, E)``,
    ``in_proj_bias`` ``(3E,)`` and ``out_proj`` (a ``Linear(E, E)``), or separate
    ``q_proj_weight``/``k_proj_weight``/``v_proj_weight`` when ``kdim``/``vdim`` differ from E.

    ``batch_first`` defaults to True here (PyTorch's default is False).  ``forward`` returns
    ``(output, weights)`` like PyTorch; ``weights`` is ``None`` unless ``need_weights``.
    Boolean masks are True where attention is *not* allowed; float masks are added.

    Examples
    --------
    >>> import numpy as np
    >>> m = MultiheadAttention(8, 2)
    >>> [(k, v.shape) for k, v in m.state_dict().items()]
    [('in_proj_weight', (24, 8)), ('in_proj_bias', (24,)), ('out_proj.weight', (8, 8)), ('out_proj.bias', (8,))]
    >>> x = np.zeros((3, 5, 8), np.float32)
    >>> out, w = m(x, x, x)
    >>> out.shape, w.shape
    ((3, 5, 8), (3, 5, 5))
    """

    #: The rank ``tracer.script`` fixes (checked when the program runs) for an input whose rank is
    #: unknown when compiling: batched query, key and value.
    input_rank = 3

    def __init__(self, embed_dim: int, num_heads: int, dropout: float = 0.0, bias: bool = True,
                 add_bias_kv: bool = False, add_zero_attn: bool = False, kdim: int | None = None,
                 vdim: int | None = None, batch_first: bool = True, dtype: Any = None) -> None:
        super().__init__()
        embed_dim = _positive_int(embed_dim, "embed_dim")
        num_heads = _positive_int(num_heads, "num_heads")
        if embed_dim % num_heads:
            raise ValueError(f"embed_dim {embed_dim} must be divisible by num_heads {num_heads}")
        if add_bias_kv or add_zero_attn:
            raise NotImplementedError("MultiheadAttention(add_bias_kv=True / add_zero_attn=True) is not supported")
        self.embed_dim = embed_dim
        self.kdim = embed_dim if kdim is None else int(kdim)
        self.vdim = embed_dim if vdim is None else int(vdim)
        self._qkv_same_embed_dim = self.kdim == embed_dim and self.vdim == embed_dim
        self.num_heads = num_heads
        self.dropout = float(dropout)
        self.batch_first = bool(batch_first)
        self.head_dim = embed_dim // num_heads
        dt = _float_dtype(dtype)
        if self._qkv_same_embed_dim:
            self.in_proj_weight = np.empty((3 * embed_dim, embed_dim), dt)
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                self.register_parameter(name, None)
        else:
            self.q_proj_weight = np.empty((embed_dim, embed_dim), dt)
            self.k_proj_weight = np.empty((embed_dim, self.kdim), dt)
            self.v_proj_weight = np.empty((embed_dim, self.vdim), dt)
            self.register_parameter("in_proj_weight", None)
        if bias:
            self.in_proj_bias = np.empty(3 * embed_dim, dt)
        else:
            self.register_parameter("in_proj_bias", None)
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dt)
        self._reset_parameters()

    def _reset_parameters(self) -> None:
        if self._qkv_same_embed_dim:
            init.xavier_uniform_(self._parameters["in_proj_weight"])
        else:
            for name in ("q_proj_weight", "k_proj_weight", "v_proj_weight"):
                init.xavier_uniform_(self._parameters[name])
        if self._parameters["in_proj_bias"] is not None:
            init.zeros_(self._parameters["in_proj_bias"])
            init.zeros_(self.out_proj._parameters["bias"])

    def forward(self, query: Array, key: Array, value: Array, key_padding_mask: Array | None = None,
                need_weights: bool = True, attn_mask: Array | None = None, average_attn_weights: bool = True,
                is_causal: bool = False) -> tuple[Array, Array | None]:
        """Attend from ``query`` ``(B, L, E)`` to ``key``/``value`` ``(B, S, kdim/vdim)``.

        ``key_padding_mask`` is ``(B, S)``; ``attn_mask`` is ``(L, S)`` or ``(B * num_heads, L, S)``.
        Unbatched inputs ``(L, E)`` are accepted too.  ``is_causal`` is only a hint that
        ``attn_mask`` is causal, as in PyTorch: the mask must be passed.
        """
        if is_causal and attn_mask is None:
            raise ValueError("is_causal=True is a hint that attn_mask is causal; pass the causal attn_mask as well")
        batched = query.ndim == 3
        if not batched:
            query, key, value = np.expand_dims(query, 0), np.expand_dims(key, 0), np.expand_dims(value, 0)
            if key_padding_mask is not None:
                key_padding_mask = np.expand_dims(key_padding_mask, 0)
        elif not self.batch_first:
            query, key, value = np.swapaxes(query, 0, 1), np.swapaxes(key, 0, 1), np.swapaxes(value, 0, 1)
        bsz, tgt_len = query.shape[0], query.shape[1]
        src_len = key.shape[1]
        heads, head_dim = self.num_heads, self.head_dim
        if self._qkv_same_embed_dim:
            w_q, w_k, w_v = np.split(self.in_proj_weight, 3)
        else:
            w_q, w_k, w_v = self.q_proj_weight, self.k_proj_weight, self.v_proj_weight
        b_q = b_k = b_v = None
        in_bias = self.in_proj_bias
        if in_bias is not None:
            b_q, b_k, b_v = np.split(in_bias, 3)
        q = F.linear(query, w_q, b_q).reshape(bsz, tgt_len, heads, head_dim).transpose(0, 2, 1, 3)
        k = F.linear(key, w_k, b_k).reshape(bsz, src_len, heads, head_dim).transpose(0, 2, 1, 3)
        v = F.linear(value, w_v, b_v).reshape(bsz, src_len, heads, head_dim).transpose(0, 2, 1, 3)

        add: list[Array] = []
        block: list[Array] = []
        if attn_mask is not None:
            mask = attn_mask.reshape(bsz, heads, tgt_len, src_len) if attn_mask.ndim == 3 else attn_mask
            (block if mask.dtype == np.bool_ else add).append(mask)
        if key_padding_mask is not None:
            mask = key_padding_mask.reshape(bsz, 1, 1, src_len)
            (block if mask.dtype == np.bool_ else add).append(mask)
        dropout_p = self.dropout if self.training else 0.0
        # PyTorch's need_weights path uses a plain softmax (NaN for a fully masked row), the
        # other path its safe softmax (zeros).
        safe = not need_weights and bool(add or block)
        out, weights = _attend(q, k, v, math.sqrt(1.0 / head_dim), add, block, dropout_p, safe)
        out = self.out_proj(out.transpose(0, 2, 1, 3).reshape(bsz, tgt_len, self.embed_dim))
        if not batched:
            out = out[0]
        elif not self.batch_first:
            out = np.swapaxes(out, 0, 1)
        if not need_weights:
            return out, None
        if average_attn_weights:
            weights = weights.mean(axis=1)
        return out, (weights if batched else weights[0])
