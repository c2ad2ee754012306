"""Devices: where a module's arrays live (``cpu``, or ``cuda:N`` through ``numba.cuda``).

Every array is materialized on the CPU first; moving to a CUDA device copies it with
``numba.cuda.to_device``.  ``cuda`` exists when ``numba.cuda.is_available()``; numba is imported
only when a CUDA device is asked for.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Mapping
from typing import Any, Union

import numpy as np

from ir import DeviceError

__all__ = ["device", "DeviceLike", "MapLocation", "cuda_available", "resolve", "to_device", "to_host", "device_of"]

_PATTERN = re.compile(r"^(cpu|cuda)(?::(\d{1,3}))?$")


class device:  # noqa: N801 - the public name mirrors torch.device
    """A device: ``device("cpu")``, ``device("cuda")``, ``device("cuda:1")``, ``device("cuda", 1)``.

    >>> device("cuda:1")
    device(type='cuda', index=1)
    >>> str(device("cpu"))
    'cpu'
    """

    __slots__ = ("type", "index")

    def __init__(self, spec: str | device, index: int | None = None) -> None:
        if isinstance(spec, device):
            spec, index = spec.type, spec.index if index is None else index
        if not isinstance(spec, str):
            raise DeviceError(f"a device is a string like 'cpu' or 'cuda:0', got {spec!r}")
        m = _PATTERN.match(spec.strip().lower())
        if m is None:
            raise DeviceError(f"unknown device {spec!r}; use 'cpu', 'cuda' or 'cuda:N'")
        kind, idx = m.group(1), m.group(2)
        if idx is not None and index is not None:
            raise DeviceError(f"device {spec!r} already has an index")
        index = int(idx) if idx is not None else index
        if kind == "cpu" and index not in (None, 0):
            raise DeviceError("the cpu device has no index")
        if kind == "cuda" and index is None:
            index = 0
        self.type = kind
        self.index = None if kind == "cpu" else index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type={self.type!r}" + ("" if self.index is None else f", index={self.index}") + ")"

    def __eq__(self, other: object) -> bool:
        try:
            other = device(other)  # type: ignore[arg-type]
        except DeviceError:
            return NotImplemented
        return (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


DeviceLike = Union[str, device]
MapLocation = Union[None, str, device, Mapping[str, Any], Callable[[str], Any]]


@functools.lru_cache(maxsize=1)
def _cuda() -> Any:
    try:
        from numba import cuda
    except ImportError:
        return None
    return cuda


def cuda_available() -> bool:
    cuda = _cuda()
    try:
        return bool(cuda is not None and cuda.is_available())
    except Exception:  # a broken driver is "no cuda"
        return False


def _check(dev: device) -> device:
    if dev.type == "cuda":
        if not cuda_available():
            raise DeviceError(
                f"device {dev} is not available on this machine (numba.cuda.is_available() is False); "
                "load with map_location='cpu'"
            )
        count = len(_cuda().gpus)
        if dev.index is not None and dev.index >= count:
            raise DeviceError(f"device {dev} does not exist: this machine has {count} CUDA device(s); "
                              "load with map_location='cpu' or pick another index")
    return dev


def resolve(saved: str, map_location: MapLocation) -> device:
    """The device an array saved on ``saved`` goes to under ``map_location`` (checked to exist)."""
    if map_location is None:
        target: Any = saved
    elif isinstance(map_location, (str, device)):
        target = map_location
    elif isinstance(map_location, Mapping):
        target = map_location.get(saved, saved)
    elif callable(map_location):
        target = map_location(saved)
        if target is None:
            target = saved
    else:
        raise DeviceError(
            f"map_location must be None, a device, a dict or a callable, got {type(map_location).__name__}"
        )
    return _check(device(target))


def device_of(array: Any) -> device:
    """The device an array lives on (NumPy arrays: ``cpu``; numba device arrays: ``cuda:N``)."""
    if isinstance(array, np.ndarray) or not hasattr(array, "copy_to_host"):
        return device("cpu")
    try:
        return device("cuda", int(array.gpu_data.device_id))
    except Exception:  # the CUDA simulator's arrays carry no device id
        return device("cuda:0")


def to_device(array: np.ndarray, dev: device) -> Any:
    """``array`` (on the CPU) moved to ``dev``."""
    if dev.type == "cpu":
        return array
    cuda = _cuda()
    with cuda.gpus[dev.index or 0]:
        return cuda.to_device(np.ascontiguousarray(array))


def to_host(array: Any) -> np.ndarray:
    """A NumPy array with the contents of ``array`` (a copy only for device arrays)."""
    if isinstance(array, np.ndarray):
        return array
    if hasattr(array, "copy_to_host"):
        return array.copy_to_host()
    return np.asarray(array)
