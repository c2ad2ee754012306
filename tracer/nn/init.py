"""Parameter initialisation: PyTorch's ``torch.nn.init`` schemes on NumPy arrays.

All draws come from one module-level ``np.random.Generator`` (:data:`generator`, shared with the
``dropout`` op); :func:`manual_seed` resets it, so ``manual_seed(0); nn.Linear(4, 2)`` always
gives the same weights.  The functions with a trailing underscore fill an existing array in place
and return it, like PyTorch's.

Examples
--------
>>> import numpy as np
>>> from tracer.nn import init
>>> init.manual_seed(0)
>>> w = init.kaiming_uniform_(np.empty((4, 16), np.float32), a=5 ** 0.5)
>>> bool(np.abs(w).max() <= 1 / 16 ** 0.5), w.dtype
(True, dtype('float32'))
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ir.ops.nn import generator as _generator
from ir.ops.nn import reseed

__all__ = [
    "calculate_fan_in_and_fan_out",
    "calculate_gain",
    "constant_",
    "generator",
    "kaiming_normal_",
    "kaiming_uniform_",
    "manual_seed",
    "normal_",
    "ones_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]

#: The package's random generator (parameter initialisation and dropout masks), an
#: ``np.random.Generator`` made on first use (``import tracer`` does not import ``numpy.random``).
generator: np.random.Generator


def __getattr__(name: str) -> Any:  # PEP 562: ``generator`` is ``ir.ops.nn.GENERATOR``, made on first use
    if name == "generator":
        return _generator()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def manual_seed(seed: int) -> None:
    """Reseed :data:`generator` (and so every later initialisation and dropout mask).

    Examples
    --------
    >>> manual_seed(1); a = uniform_(np.empty(3))
    >>> manual_seed(1); b = uniform_(np.empty(3))
    >>> bool((a == b).all())
    True
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    reseed(int(seed))


def calculate_fan_in_and_fan_out(array: np.ndarray) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight: ``(in * receptive field, out * receptive field)``.

    Examples
    --------
    >>> calculate_fan_in_and_fan_out(np.empty((16, 3, 5, 5)))
    (75, 400)
    """
    if array.ndim < 2:
        raise ValueError("fan in and fan out can not be computed for an array with fewer than 2 dimensions")
    receptive = math.prod(array.shape[2:])
    return array.shape[1] * receptive, array.shape[0] * receptive


_LINEAR = {"linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid"}


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table).

    Examples
    --------
    >>> calculate_gain("relu") == 2 ** 0.5
    True
    """
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"negative_slope {slope!r} is not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _fill(array: np.ndarray, values: np.ndarray) -> np.ndarray:
    if not isinstance(array, np.ndarray):
        raise TypeError(f"init functions fill an np.ndarray in place, got {type(array).__name__}")
    array[...] = values
    return array


def uniform_(array: np.ndarray, a: float = 0.0, b: float = 1.0) -> np.ndarray:
    """Fill ``array`` with draws from U(a, b).

    Examples
    --------
    >>> w = uniform_(np.empty((2, 3), np.float32), -0.1, 0.1)
    >>> bool((np.abs(w) <= 0.1).all()), w.dtype
    (True, dtype('float32'))
    """
    return _fill(array, _generator().uniform(a, b, size=array.shape))


def normal_(array: np.ndarray, mean: float = 0.0, std: float = 1.0) -> np.ndarray:
    """Fill ``array`` with draws from N(mean, std**2).

    Examples
    --------
    >>> w = normal_(np.empty(100_000), 1.0, 0.5)
    >>> round(float(w.mean()), 1), round(float(w.std()), 1)
    (1.0, 0.5)
    """
    return _fill(array, _generator().normal(mean, std, size=array.shape))


def constant_(array: np.ndarray, val: Any) -> np.ndarray:
    """Fill ``array`` with ``val``.

    Examples
    --------
    >>> constant_(np.empty(3, np.float32), 0.5)
    array([0.5, 0.5, 0.5], dtype=float32)
    """
    return _fill(array, np.asarray(val))


def zeros_(array: np.ndarray) -> np.ndarray:
    """Fill ``array`` with zeros.

    Examples
    --------
    >>> zeros_(np.empty(2))
    array([0., 0.])
    """
    return constant_(array, 0)


def ones_(array: np.ndarray) -> np.ndarray:
    """Fill ``array`` with ones.

    Examples
    --------
    >>> ones_(np.empty(2))
    array([1., 1.])
    """
    return constant_(array, 1)


def _kaiming_std(array: np.ndarray, a: float, mode: str, nonlinearity: str) -> float:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(array)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        return 0.0
    return calculate_gain(nonlinearity, a) / math.sqrt(fan)


def kaiming_uniform_(array: np.ndarray, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> np.ndarray:
    """He uniform: U(-b, b) with ``b = gain * sqrt(3 / fan)`` (Linear and Conv use ``a=sqrt(5)``).

    Examples
    --------
    >>> w = kaiming_uniform_(np.empty((64, 32)), nonlinearity="relu")
    >>> bool(np.abs(w).max() <= (6 / 32) ** 0.5)
    True
    """
    bound = math.sqrt(3.0) * _kaiming_std(array, a, mode, nonlinearity)
    return uniform_(array, -bound, bound)


def kaiming_normal_(array: np.ndarray, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> np.ndarray:
    """He normal: N(0, std**2) with ``std = gain / sqrt(fan)``.

    Examples
    --------
    >>> w = kaiming_normal_(np.empty((500, 200)), mode="fan_out", nonlinearity="relu")
    >>> round(float(w.std()), 3) == round((2 / 500) ** 0.5, 3)
    True
    """
    return normal_(array, 0.0, _kaiming_std(array, a, mode, nonlinearity))


def xavier_uniform_(array: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Glorot uniform: U(-b, b) with ``b = gain * sqrt(6 / (fan_in + fan_out))``.

    Examples
    --------
    >>> w = xavier_uniform_(np.empty((30, 10)))
    >>> bool(np.abs(w).max() <= (6 / 40) ** 0.5)
    True
    """
    fan_in, fan_out = calculate_fan_in_and_fan_out(array)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(array, -bound, bound)


def xavier_normal_(array: np.ndarray, gain: float = 1.0) -> np.ndarray:
    """Glorot normal: N(0, std**2) with ``std = gain * sqrt(2 / (fan_in + fan_out))``.

    Examples
    --------
    >>> w = xavier_normal_(np.empty((600, 400)))
    >>> round(float(w.std()), 3) == round((2 / 1000) ** 0.5, 3)
    True
    """
    fan_in, fan_out = calculate_fan_in_and_fan_out(array)
    return normal_(array, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)))


def _fan_in_uniform_(bias: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """PyTorch's default bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with the weight's fan-in."""
    fan_in, _ = calculate_fan_in_and_fan_out(weight)
    bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
    return uniform_(bias, -bound, bound)
