"""A neural-network kit built only from registered ops, with PyTorch's names.

Nothing here does math of its own: every layer calls registered ops looked up by
name when called (`matmul`, `conv2d`, `embedding`, ...), so a plugin that overrides
an op is what the network runs. `gl.nn.functional` holds the functional forms,
`gl.nn.utils` gradient clipping.
"""

from __future__ import annotations

from . import functional, utils
from .layers import (
    MLP,
    AvgPool2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    Linear,
    MaxPool2d,
    ReLU,
    Sigmoid,
    Tanh,
)
from .module import IncompatibleKeys, Module, Sequential, StateDictError

__all__ = [
    "MLP", "AvgPool2d", "Conv2d", "Dropout", "Embedding", "Flatten", "IncompatibleKeys",
    "LayerNorm", "Linear", "MaxPool2d", "Module", "ReLU", "Sequential", "Sigmoid",
    "StateDictError", "Tanh", "functional", "utils",
]
