"""A neural-network kit built only from registered ops, with PyTorch's names.

Nothing here does math of its own: every layer calls registered ops looked up by
name when called (`matmul`, `conv2d`, `embedding`, ...), so a plugin that overrides
an op is what the network runs. `gl.nn.functional` holds the functional forms,
`gl.nn.utils` gradient clipping, `gl.nn.init` PyTorch's initialisers.

Importing it raises glibc's malloc thresholds for the process (`gl.nn.malloc`: a
training step's temporaries then reuse memory instead of page-faulting on fresh
pages); GRADLEDGER_MALLOC=default in the environment leaves malloc alone.
"""

from __future__ import annotations

from . import functional, init, malloc, utils
from .attention import MultiheadAttention
from .layers import (
    GELU,
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
from .loss import BCELoss, BCEWithLogitsLoss, CrossEntropyLoss, MSELoss
from .module import IncompatibleKeys, Module, Sequential, StateDictError
from .normalization import BatchNorm1d, BatchNorm2d
from .rnn import GRU, LSTM, GRUCell, LSTMCell

__all__ = [
    "GELU", "GRU", "LSTM", "MLP", "AvgPool2d", "BCELoss", "BCEWithLogitsLoss", "BatchNorm1d",
    "BatchNorm2d", "Conv2d", "CrossEntropyLoss", "Dropout", "Embedding", "Flatten", "GRUCell",
    "IncompatibleKeys", "LSTMCell", "LayerNorm", "Linear", "MSELoss", "MaxPool2d", "Module",
    "MultiheadAttention", "ReLU", "Sequential", "Sigmoid", "StateDictError", "Tanh",
    "functional", "init", "malloc", "utils",
]

malloc.tune_at_import()
