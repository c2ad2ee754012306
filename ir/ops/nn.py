"""Neural-network operators that NumPy lacks: ``erf``, ``conv2d``, pooling and ``dropout``.

Each reference follows PyTorch's semantics (NCHW layout, output sizes, padding rules) and is
written with NumPy only.  ``tracer.functional`` calls them through ``tracer.dispatch.call_op``,
normalising ints to pairs first, so the ops themselves take tuples.

Dropout draws its masks from :data:`GENERATOR`, the one random generator of the package
(``tracer.nn.init.manual_seed`` reseeds it).
"""

from __future__ import annotations

import functools
import math
import threading
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from ..types import AnyType, Dim, ScalarType, TensorType
from .registry import OpKind, defop

NN = OpKind.NN

#: The random generator behind ``dropout`` and ``tracer.nn.init`` (reseed with :func:`reseed`):
#: ``GENERATOR`` (an ``np.random.Generator``), made on first use by :func:`generator`, since
#: importing ``numpy.random`` takes a quarter of ``import tracer`` and loading a model needs none.
_GENERATOR_LOCK = threading.Lock()


def generator() -> np.random.Generator:
    """:data:`GENERATOR`, the package's one random generator (seeded with 0 when first made)."""
    g = globals().get("GENERATOR")
    if g is None:
        with _GENERATOR_LOCK:
            g = globals().get("GENERATOR")
            if g is None:
                g = globals()["GENERATOR"] = np.random.Generator(np.random.PCG64(0))
    return g


def __getattr__(name: str) -> Any:  # PEP 562: ``GENERATOR`` is made on first use
    if name == "GENERATOR":
        return generator()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def reseed(seed: int) -> None:
    """Reset :data:`GENERATOR` to the stream of ``seed`` (the object itself is kept)."""
    generator().bit_generator.state = np.random.PCG64(seed).state


# -- erf ------------------------------------------------------------------------------------------
#
# For |x| < 1.75 (float64 path):
#     erf(x) = 2/sqrt(pi) * x * exp(-x^2) * sum_k (2x^2)^k / (1*3*...*(2k+1))
# a series of positive terms (no cancellation), 28 terms; exp(-x^2) uses an exact split of x^2 so
# that its argument carries no rounding error.  For |x| >= 1.75, the continued fraction
#     erfc(x) = exp(-x^2)/sqrt(pi) * 2x / (2x^2+1 - 1*2/(2x^2+5 - 3*4/(2x^2+9 - ...)))
# with 30 levels, and erf(x) = 1 for |x| >= 6 (erfc(6) < 2**-55).  Absolute error below 1e-15.
# The float32 path evaluates in float64 a degree-12 Chebyshev economisation of erf(x)/x in x^2 on
# |x| < 2 (fitted on first use to the series above) and a 12-level fraction beyond: error < 1e-11,
# far below float32's resolution, for a third of the cost.

_TWO_OVER_SQRT_PI = 2.0 / math.sqrt(math.pi)
_ONE_FROM = 6.0
_CHUNK = 1 << 16


def _series_coeffs(n: int) -> list[float]:
    out = [1.0]
    for k in range(1, n):
        out.append(out[-1] * 2.0 / (2 * k + 1))
    return out


_SERIES_END, _SERIES = 1.75, _series_coeffs(28)


def _horner(coeffs: Any, z: np.ndarray) -> np.ndarray:
    acc = np.full_like(z, coeffs[-1])
    for c in coeffs[-2::-1]:
        acc *= z
        acc += c
    return acc


def _exp_minus_square(a: np.ndarray) -> np.ndarray:
    """``exp(-a*a)`` with ``a*a`` split exactly into ``hi + lo`` (Dekker); in place where it can."""
    hi = a * a
    ah = a * 134217729.0  # 2**27 + 1: Veltkamp split a = ah + al
    al = np.subtract(ah, a)
    np.subtract(ah, al, out=ah)
    np.subtract(a, ah, out=al)
    lo = ah * ah
    lo -= hi
    ah *= al
    ah *= 2.0
    lo += ah
    al *= al
    lo += al  # a*a == hi + lo exactly
    np.negative(hi, out=hi)
    np.exp(hi, out=hi)
    np.subtract(1.0, lo, out=lo)
    hi *= lo
    return hi


def _erf_over_x(a: np.ndarray) -> np.ndarray:
    """``erf(a) / a`` for ``0 <= a <= 2`` by the positive series (float64, ~1e-16 relative)."""
    series = _SERIES if np.all(a <= _SERIES_END) else _series_coeffs(40)
    return _TWO_OVER_SQRT_PI * _exp_minus_square(a) * _horner(series, a * a)


def _economized(end: float, degree: int) -> np.ndarray:
    """Power coefficients in ``w = 2 x^2 / end^2 - 1`` of a Chebyshev fit of ``erf(x)/x`` on [0, end]."""
    cheb = np.polynomial.chebyshev
    coeffs = cheb.chebinterpolate(lambda w: _erf_over_x(np.sqrt((w + 1.0) * (end * end / 2.0))), degree)
    return cheb.cheb2poly(coeffs)


_F32_END = 2.0


@functools.cache
def _f32_poly() -> np.ndarray:
    """The float32 path's coefficients, fitted on first use (not at import)."""
    return _economized(_F32_END, 12)


def _erfc_fraction(v: np.ndarray, levels: int) -> np.ndarray:
    """``erfc(v)`` for ``v >= 1.75`` by the even continued fraction (relative error ~1e-16)."""
    z = 2.0 * v * v
    f = z + (4 * levels + 1)
    for k in range(levels, 0, -1):
        f = z + (4 * k - 3) - (2 * k - 1) * (2 * k) / f
    return _exp_minus_square(v) * _TWO_OVER_SQRT_PI * v / f


def _erf_abs(a: np.ndarray, precise: bool) -> np.ndarray:
    """erf of ``a = |x|`` (float64, 1-d); NaN stays NaN, ``inf`` gives 1."""
    end, levels = (_SERIES_END, 30) if precise else (_F32_END, 12)
    lo = np.minimum(a, end)
    z = lo * lo
    if precise:
        out = _horner(_SERIES, z)
        out *= _exp_minus_square(lo)
        out *= _TWO_OVER_SQRT_PI
    else:
        z *= 2.0 / (end * end)
        z -= 1.0
        out = _horner(_f32_poly(), z)
    out *= lo
    tail = a >= end
    if tail.any():
        v = np.minimum(a[tail], _ONE_FROM)
        out[tail] = np.where(v >= _ONE_FROM, 1.0, 1.0 - _erfc_fraction(v, levels))
    return out


def _erf_rule(x):
    if isinstance(x, ScalarType):
        return ScalarType("float")
    if not isinstance(x, TensorType):
        return AnyType()
    if x.dtype is not None and x.dtype.kind == "c":
        raise TypeError("erf is not defined for complex arrays")
    dtype = None if x.dtype is None else (x.dtype if x.dtype.kind == "f" else np.dtype(np.float64))
    return TensorType(dtype, x.shape)


@defop("erf", OpKind.ELEMENTWISE, infer=_erf_rule)
def erf(x):
    """The error function, elementwise.

    Floating inputs keep their dtype (float32 is computed in float64 and rounded once); integer
    and bool inputs give float64.  Accurate to about 1e-15 absolute in float64.

    Examples
    --------
    >>> import numpy as np
    >>> erf(np.array([0.0, 0.5, -3.0], dtype=np.float32))
    array([ 0.       ,  0.5204999, -0.9999779], dtype=float32)
    """
    arr = np.asarray(x)
    if arr.dtype.kind == "c":
        raise TypeError("erf is not defined for complex arrays")
    out_dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
    flat = arr.ravel()
    res = np.empty(flat.shape, out_dtype)
    for i in range(0, flat.size, _CHUNK):  # chunks keep the temporaries in cache
        part = flat[i:i + _CHUNK].astype(np.float64)
        r = _erf_abs(np.abs(part), out_dtype.itemsize >= 8)
        res[i:i + _CHUNK] = np.copysign(r, part, out=r)
    res = res.reshape(arr.shape)
    if isinstance(x, np.ndarray):
        return res
    if isinstance(x, (bool, int, float)):
        return float(res)
    return res[()]


# -- shared helpers for the 2-d window ops --------------------------------------------------------


def _pair(value: Any, name: str) -> tuple[int, int]:
    """``value`` as a pair of ints (an int is repeated)."""
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        return int(value), int(value)
    if isinstance(value, (tuple, list)) and len(value) == 2 and all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value
    ):
        return int(value[0]), int(value[1])
    raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")


def _positive(pair: tuple[int, int], name: str) -> tuple[int, int]:
    if min(pair) <= 0:
        raise ValueError(f"{name} must be positive, got {pair}")
    return pair


def _conv_padding(padding: Any, kernel: tuple[Dim, Dim], dilation: tuple[int, int],
                  stride: tuple[int, int]) -> tuple[tuple[Dim, Dim], tuple[Dim, Dim]] | None:
    """``((top, bottom), (left, right))`` from an int, a pair, a pair of pairs, or "same"/"valid".

    ``None`` when the padding is "same" and the kernel size is not known.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0), (0, 0)
        if padding != "same":
            raise ValueError(f"padding must be 'same', 'valid', an int or a pair, got {padding!r}")
        if stride != (1, 1):
            raise ValueError("padding='same' is not supported for strided convolutions; use explicit padding")
        if not all(isinstance(k, int) for k in kernel):
            return None
        out = []
        for k, d in zip(kernel, dilation):
            total = d * (k - 1)  # type: ignore[operator]
            out.append((total // 2, total - total // 2))
        return out[0], out[1]
    if isinstance(padding, (tuple, list)) and len(padding) == 2 and all(isinstance(p, (tuple, list)) for p in padding):
        (t, b), (lft, r) = _pair(padding[0], "padding"), _pair(padding[1], "padding")
        pads = ((t, b), (lft, r))
    else:
        ph, pw = _pair(padding, "padding")
        pads = ((ph, ph), (pw, pw))
    if min(min(p) for p in pads) < 0:
        raise ValueError(f"padding must be non-negative, got {padding!r}")
    return pads


def _conv_out(size: Dim, k: Dim, s: int, pads: tuple[Dim, Dim], d: int) -> Dim:
    if not (isinstance(size, int) and isinstance(k, int) and all(isinstance(p, int) for p in pads)):
        return None
    out = (size + pads[0] + pads[1] - d * (k - 1) - 1) // s + 1  # type: ignore[operator]
    if out <= 0:
        raise ValueError(
            f"conv2d: input size {size} with padding {pads}, kernel {k} and dilation {d} gives output size "
            f"{out}; the output size is too small (use a smaller kernel or more padding)"
        )
    return out


def _pool_out(size: Dim, k: int, s: int, p: int, d: int, ceil_mode: bool, op: str) -> Dim:
    if not isinstance(size, int):
        return None
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1  # the last window must start inside the input or its left padding
    if out <= 0:
        raise ValueError(
            f"{op}: input size {size} with kernel {k}, stride {s}, padding {p} and dilation {d} gives "
            f"output size {out}; the output size is too small"
        )
    return out


def _tensor(t: Any, op: str, arg: str) -> TensorType:
    if not isinstance(t, TensorType):
        raise TypeError(f"{op}: {arg} must be an array, got {t}")
    return t


def _spatial_rank(shape: tuple | None, op: str) -> None:
    if shape is not None and len(shape) not in (3, 4):
        raise ValueError(f"{op} expects a 3-d (C, H, W) or 4-d (N, C, H, W) input, got rank {len(shape)}")


def _window_view(xp: np.ndarray, i: int, j: int, out_hw: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """The strided slice of ``xp`` seen by kernel element ``(i, j)`` (offsets already dilated)."""
    (ho, wo), (sh, sw) = out_hw, stride
    return xp[..., i:i + (ho - 1) * sh + 1:sh, j:j + (wo - 1) * sw + 1:sw]


def _padded(x: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]], fill: Any) -> np.ndarray:
    (t, b), (lft, r) = pads
    if not (t or b or lft or r):
        return x
    h, w = x.shape[-2:]
    xp = np.full((*x.shape[:-2], h + t + b, w + lft + r), fill, dtype=x.dtype)
    xp[..., t:t + h, lft:lft + w] = x
    return xp


# -- conv2d ---------------------------------------------------------------------------------------


def _conv2d_rule(x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    x = _tensor(x, "conv2d", "input")
    w = _tensor(weight, "conv2d", "weight")
    dtypes = [t.dtype for t in (x, w, bias) if isinstance(t, TensorType)]
    dtype = None if any(d is None for d in dtypes) else np.result_type(*dtypes)
    stride = _positive(_pair(stride, "stride"), "stride")
    dilation = _positive(_pair(dilation, "dilation"), "dilation")
    if not isinstance(groups, int) or groups <= 0:
        raise ValueError(f"conv2d: groups must be a positive int, got {groups!r}")
    _spatial_rank(x.shape, "conv2d")
    if w.shape is not None and len(w.shape) != 4:
        raise ValueError(f"conv2d: weight must be 4-d (out, in/groups, kH, kW), got rank {len(w.shape)}")
    o, cg, kh, kw = w.shape if w.shape is not None else (None, None, None, None)
    if isinstance(o, int) and o % groups:
        raise ValueError(f"conv2d: {o} output channels are not divisible by groups={groups}")
    if isinstance(bias, TensorType) and bias.shape is not None and (
        len(bias.shape) != 1 or (isinstance(o, int) and isinstance(bias.shape[0], int) and bias.shape[0] != o)
    ):
        raise ValueError(f"conv2d: bias of shape {bias.shape} does not match {o} output channels")
    pads = _conv_padding(padding, (kh, kw), dilation, stride)
    if x.shape is None:
        return TensorType(dtype, None)
    c, h, wd = x.shape[-3:]
    if isinstance(c, int) and isinstance(cg, int) and c != cg * groups:
        raise ValueError(
            f"conv2d: input has {c} channels but weight expects {cg} x groups={groups} = {cg * groups}"
        )
    if padding == "same":
        ho, wo = h, wd
    elif pads is None:
        ho = wo = None
    else:
        ho = _conv_out(h, kh, stride[0], pads[0], dilation[0])
        wo = _conv_out(wd, kw, stride[1], pads[1], dilation[1])
    return TensorType(dtype, (*x.shape[:-3], o, ho, wo))


@defop("conv2d", NN, infer=_conv2d_rule)
def conv2d(x, weight, bias=None, stride=(1, 1), padding=(0, 0), dilation=(1, 1), groups=1):
    """2-d cross-correlation over an ``(N, C, H, W)`` or ``(C, H, W)`` input, like ``torch``.

    ``weight`` is ``(out, C // groups, kH, kW)``; ``padding`` is a pair ``(pH, pW)``, a pair of
    pairs ``((top, bottom), (left, right))``, ``"valid"`` or ``"same"`` (stride 1; odd total
    padding puts the extra row/column at the bottom/right, as PyTorch does).

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> conv2d(x, np.ones((1, 1, 2, 2), np.float32), stride=(2, 2))
    array([[[[10., 18.],
             [42., 50.]]]], dtype=float32)
    """
    x, w = np.asarray(x), np.asarray(weight)
    unbatched = x.ndim == 3
    if unbatched:
        x = x[None]
    if x.ndim != 4 or w.ndim != 4:
        raise ValueError(f"conv2d expects a 4-d input and a 4-d weight, got shapes {x.shape} and {w.shape}")
    sh, sw = _positive(_pair(stride, "stride"), "stride")
    dh, dw = _positive(_pair(dilation, "dilation"), "dilation")
    n, c, h, wd = x.shape
    o, cg, kh, kw = w.shape
    if groups <= 0 or o % groups or c != cg * groups:
        raise ValueError(
            f"conv2d: input with {c} channels, weight of shape {w.shape} and groups={groups} do not fit; "
            f"need input channels = weight.shape[1] * groups and out channels divisible by groups"
        )
    pads = _conv_padding(padding, (kh, kw), (dh, dw), (sh, sw))
    assert pads is not None
    ho = _conv_out(h, kh, sh, pads[0], dh)
    wo = _conv_out(wd, kw, sw, pads[1], dw)
    xp = _padded(x, pads, 0)  # type: ignore[arg-type]
    s_n, s_c, s_h, s_w = xp.strides
    cols = as_strided(
        xp,
        shape=(n, groups, cg, kh, kw, ho, wo),
        strides=(s_n, cg * s_c, s_c, dh * s_h, dw * s_w, sh * s_h, sw * s_w),
        writeable=False,
    ).reshape(n, groups, cg * kh * kw, ho * wo)  # type: ignore[operator]
    out = np.matmul(w.reshape(groups, o // groups, cg * kh * kw), cols).reshape(n, o, ho, wo)
    if bias is not None:
        b = np.asarray(bias).reshape(o, 1, 1)
        if np.result_type(out, b) == out.dtype:
            out += b
        else:
            out = out + b
    return out[0] if unbatched else out


# -- pooling --------------------------------------------------------------------------------------


def _pool_params(kernel_size, stride, padding, dilation, op: str):
    k = _positive(_pair(kernel_size, "kernel_size"), "kernel_size")
    s = _positive(_pair(stride, "stride"), "stride")
    p = _pair(padding, "padding")
    d = _positive(_pair(dilation, "dilation"), "dilation")
    if min(p) < 0 or p[0] > k[0] // 2 or p[1] > k[1] // 2:
        raise ValueError(f"{op}: padding {p} must be non-negative and at most half the kernel size {k}")
    return k, s, p, d


def _pool_rule(x, k, s, p, d, ceil_mode, op):
    _spatial_rank(x.shape, op)
    if x.shape is None:
        return None
    h, w = x.shape[-2:]
    return (*x.shape[:-2], _pool_out(h, k[0], s[0], p[0], d[0], ceil_mode, op),
            _pool_out(w, k[1], s[1], p[1], d[1], ceil_mode, op))


def _max_pool2d_rule(x, kernel_size, stride, padding=(0, 0), dilation=(1, 1), ceil_mode=False):
    x = _tensor(x, "max_pool2d", "input")
    k, s, p, d = _pool_params(kernel_size, stride, padding, dilation, "max_pool2d")
    return TensorType(x.dtype, _pool_rule(x, k, s, p, d, ceil_mode, "max_pool2d"))


def _lowest(dtype: np.dtype) -> Any:
    if dtype.kind == "f":
        return -np.inf
    if dtype.kind in "iu":
        return np.iinfo(dtype).min
    if dtype.kind == "b":
        return False
    raise TypeError(f"max_pool2d does not support dtype {dtype}")


@defop("max_pool2d", NN, infer=_max_pool2d_rule)
def max_pool2d(x, kernel_size, stride, padding=(0, 0), dilation=(1, 1), ceil_mode=False):
    """Largest value of each ``kernel_size`` window (padding counts as ``-inf``), like ``torch``.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> max_pool2d(x, (2, 2), (2, 2))
    array([[[[ 5.,  7.],
             [13., 15.]]]], dtype=float32)
    """
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"max_pool2d expects a 3-d or 4-d input, got shape {x.shape}")
    k, s, p, d = _pool_params(kernel_size, stride, padding, dilation, "max_pool2d")
    h, w = x.shape[-2:]
    ho = _pool_out(h, k[0], s[0], p[0], d[0], ceil_mode, "max_pool2d")
    wo = _pool_out(w, k[1], s[1], p[1], d[1], ceil_mode, "max_pool2d")
    # rows needed by the last window beyond the input and its top padding (ceil_mode may add some)
    extra_h = max(0, (ho - 1) * s[0] + d[0] * (k[0] - 1) + 1 - p[0] - h)  # type: ignore[operator]
    extra_w = max(0, (wo - 1) * s[1] + d[1] * (k[1] - 1) + 1 - p[1] - w)  # type: ignore[operator]
    xp = _padded(x, ((p[0], extra_h), (p[1], extra_w)), _lowest(x.dtype))
    out = None
    for i in range(k[0]):
        for j in range(k[1]):
            win = _window_view(xp, i * d[0], j * d[1], (ho, wo), s)  # type: ignore[arg-type]
            out = win.copy() if out is None else np.maximum(out, win, out=out)
    return out


def _avg_pool2d_rule(x, kernel_size, stride, padding=(0, 0), ceil_mode=False, count_include_pad=True,
                     divisor_override=None):
    x = _tensor(x, "avg_pool2d", "input")
    k, s, p, d = _pool_params(kernel_size, stride, padding, 1, "avg_pool2d")
    if x.dtype is not None and x.dtype.kind not in "fiu":
        raise TypeError(f"avg_pool2d does not support dtype {x.dtype}")
    return TensorType(x.dtype, _pool_rule(x, k, s, p, d, ceil_mode, "avg_pool2d"))


def _window_counts(n_out: int, k: int, s: int, p: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Per output position: window length clipped to the padded input, and to the input itself."""
    start = np.arange(n_out) * s - p
    end = np.minimum(start + k, size + p)
    return end - start, np.minimum(end, size) - np.maximum(start, 0)


@defop("avg_pool2d", NN, infer=_avg_pool2d_rule)
def avg_pool2d(x, kernel_size, stride, padding=(0, 0), ceil_mode=False, count_include_pad=True,
               divisor_override=None):
    """Mean of each ``kernel_size`` window (zero padding), with PyTorch's divisor rules.

    The divisor is the window size clipped to the padded input (``count_include_pad=True``),
    or to the input itself, or ``divisor_override``.  Integer inputs divide with truncation.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.arange(16, dtype=np.float32).reshape(1, 1, 4, 4)
    >>> avg_pool2d(x, (2, 2), (2, 2))
    array([[[[ 2.5,  4.5],
             [10.5, 12.5]]]], dtype=float32)
    """
    x = np.asarray(x)
    if x.ndim not in (3, 4):
        raise ValueError(f"avg_pool2d expects a 3-d or 4-d input, got shape {x.shape}")
    if x.dtype.kind not in "fiu":
        raise TypeError(f"avg_pool2d does not support dtype {x.dtype}")
    k, s, p, _ = _pool_params(kernel_size, stride, padding, 1, "avg_pool2d")
    if divisor_override is not None and divisor_override == 0:
        raise ValueError("avg_pool2d: divisor_override must not be zero")
    h, w = x.shape[-2:]
    ho = _pool_out(h, k[0], s[0], p[0], 1, ceil_mode, "avg_pool2d")
    wo = _pool_out(w, k[1], s[1], p[1], 1, ceil_mode, "avg_pool2d")
    extra_h = max(0, (ho - 1) * s[0] + k[0] - p[0] - h)  # type: ignore[operator]
    extra_w = max(0, (wo - 1) * s[1] + k[1] - p[1] - w)  # type: ignore[operator]
    acc_dtype = x.dtype if x.dtype.kind == "f" else np.dtype(np.int64)
    xp = _padded(x.astype(acc_dtype, copy=False), ((p[0], extra_h), (p[1], extra_w)), 0)
    acc = None
    for i in range(k[0]):
        for j in range(k[1]):
            win = _window_view(xp, i, j, (ho, wo), s)  # type: ignore[arg-type]
            acc = win.copy() if acc is None else np.add(acc, win, out=acc)
    if divisor_override is not None:
        div: Any = np.asarray(int(divisor_override))
    else:
        full_h, in_h = _window_counts(ho, k[0], s[0], p[0], h)  # type: ignore[arg-type]
        full_w, in_w = _window_counts(wo, k[1], s[1], p[1], w)  # type: ignore[arg-type]
        div = np.outer(full_h, full_w) if count_include_pad else np.outer(in_h, in_w)
        div = np.maximum(div, 1)  # an empty window sums to 0 and averages to 0
    if x.dtype.kind == "f":
        return acc / div.astype(x.dtype)
    q = np.abs(acc) // np.abs(div) * (np.sign(acc) * np.sign(div))  # C-style truncating division
    return q.astype(x.dtype)


# -- dropout --------------------------------------------------------------------------------------


def _dropout_rule(x, p, training=True):
    x = _tensor(x, "dropout", "input")
    if x.dtype is not None and x.dtype.kind != "f":
        raise TypeError(f"dropout needs a floating-point array, got {x.dtype}")
    return x


@defop("dropout", NN, infer=_dropout_rule, pure=False)
def dropout(x, p, training=True):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    The mask comes from :data:`GENERATOR`; with ``training=False`` or ``p == 0`` the input is
    returned unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> y = dropout(np.ones(1000, np.float32), 0.25)
    >>> sorted(set(y.tolist())), y.dtype
    ([0.0, 1.3333333730697632], dtype('float32'))
    """
    x = np.asarray(x)
    if x.dtype.kind != "f":
        raise TypeError(f"dropout needs a floating-point array, got {x.dtype}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, got {p}")
    if not training or p == 0:
        return x
    if p == 1:
        return np.zeros_like(x)
    keep = generator().random(x.shape) >= p
    return x * keep * (1.0 / (1.0 - p))
