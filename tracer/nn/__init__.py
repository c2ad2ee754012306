"""``tracer.nn``: the ``Module`` base class and PyTorch-compatible layers.

Layers have PyTorch's constructor arguments, parameter names and shapes, so a converted PyTorch
``state_dict`` loads with ``load_state_dict``; ``tracer.nn.init`` holds the initialisers and the
random seed.
"""

from . import init
from .containers import ModuleList, Sequential
from .layers import (
    GELU,
    AvgPool2d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    Linear,
    MaxPool2d,
    MultiheadAttention,
    ReLU,
    Sigmoid,
    Softmax,
    Tanh,
)
from .module import Module

__all__ = [
    "GELU",
    "AvgPool2d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "LayerNorm",
    "Linear",
    "MaxPool2d",
    "Module",
    "ModuleList",
    "MultiheadAttention",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "init",
]
