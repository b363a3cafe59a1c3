"""`gl.nn.functional`: PyTorch's functional forms, each a registered op or a few of them.

Names and argument conventions are `torch.nn.functional`'s (`dim=` for the axis,
`F.embedding(input, weight)`, `F.linear` with PyTorch's (out, in) weight), so that
code reads as it does there; each function calls the registered ops by name.
"""

from __future__ import annotations

import math

import numpy as np

from ..ops import ops
from ..tensor import Tensor

__all__ = [
    "avg_pool2d", "conv2d", "cross_entropy", "dropout", "embedding", "flatten", "layer_norm",
    "linear", "log_softmax", "max_pool2d", "mse_loss", "relu", "sigmoid", "softmax", "tanh",
]

_REDUCTIONS = ("mean", "sum", "none")


def _shape(x) -> tuple:
    return np.shape(x.data if isinstance(x, Tensor) else x)


def relu(input) -> Tensor:
    """max(input, 0)."""
    return ops.relu(input)


def tanh(input) -> Tensor:
    return ops.tanh(input)


def sigmoid(input) -> Tensor:
    """1 / (1 + exp(-input))."""
    return ops.sigmoid(input)


def softmax(input, dim: int = -1) -> Tensor:
    """exp(input) / sum(exp(input)) along `dim` (the op `softmax`, axis=dim)."""
    return ops.softmax(input, axis=dim)


def log_softmax(input, dim: int = -1) -> Tensor:
    """input - logsumexp(input) along `dim` (the op `log_softmax`, axis=dim)."""
    return ops.log_softmax(input, axis=dim)


def cross_entropy(input, target, reduction: str = "mean") -> Tensor:
    """-log softmax(input)[target]: logits (N, C) (classes on the last axis), integer
    labels (N,); reduction 'mean' (default), 'sum' or 'none' (the op `cross_entropy`)."""
    return ops.cross_entropy(input, target, reduction=reduction)


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """(input - target) ** 2, averaged ('mean'), summed ('sum') or not reduced ('none')."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"mse_loss reduction: expected one of {_REDUCTIONS}; got {reduction!r}")
    squared = (input - target) ** 2
    if reduction == "none":
        return squared
    return ops.mean(squared) if reduction == "mean" else ops.sum(squared)


def linear(input, weight, bias=None) -> Tensor:
    """input @ weight.T + bias, with PyTorch's weight layout (out_features, in_features)."""
    out = input @ weight.T
    return out if bias is None else out + bias


def conv2d(input, weight, bias=None, stride=1, padding=0) -> Tensor:
    """Cross-correlation of NCHW `input` with OIHW `weight` (the op `conv2d`), plus the
    per-channel `bias` (O,) if given."""
    out = ops.conv2d(input, weight, stride=stride, padding=padding)
    if bias is None:
        return out
    return out + ops.reshape(bias, shape=(1, -1, 1, 1))


def max_pool2d(input, kernel_size, stride=None, padding=0) -> Tensor:
    """The maximum of each window of the last two axes; stride defaults to kernel_size."""
    return ops.max_pool2d(input, kernel_size=kernel_size, stride=stride, padding=padding)


def avg_pool2d(input, kernel_size, stride=None, padding=0) -> Tensor:
    """The mean of each window of the last two axes (zero padding counts, as in PyTorch)."""
    return ops.avg_pool2d(input, kernel_size=kernel_size, stride=stride, padding=padding)


def embedding(input, weight) -> Tensor:
    """The rows `weight[input]` for integer ids `input` (PyTorch's argument order; the op
    `embedding(weight, ids)`)."""
    return ops.embedding(weight, input)


def check_probability(owner: str, p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{owner} p: expected a probability in [0, 1]; got {p!r}")
    return float(p)


def dropout(input, p: float = 0.5, training: bool = True,
            rng: int | np.random.Generator | None = None) -> Tensor:
    """In training, zero each element with probability p and scale the rest by 1 / (1 - p)
    (the op `dropout`, with a seed drawn from `rng`); otherwise return `input` unchanged."""
    p = check_probability("dropout", p)
    if not training or p == 0.0:
        return input
    seed = int(np.random.default_rng(rng).integers(2**32))
    return ops.dropout(input, p=p, seed=seed)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """(input - mean) / sqrt(var + eps) over the last len(normalized_shape) dimensions
    (biased variance, as PyTorch), then `* weight + bias` if given."""
    shape = ((normalized_shape,) if isinstance(normalized_shape, (int, np.integer))
             else tuple(normalized_shape))
    input_shape = _shape(input)
    if not shape or tuple(input_shape[len(input_shape) - len(shape):]) != shape:
        raise ValueError(
            f"layer_norm: expected an input whose last dimensions are normalized_shape "
            f"{shape}; got an input of shape {input_shape}"
        )
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"layer_norm eps: expected a finite number >= 0; got {eps!r}")
    axes = tuple(range(-len(shape), 0))
    if not isinstance(input, Tensor):
        input = Tensor(input)
    centred = input - ops.mean(input, axis=axes, keepdims=True)
    variance = ops.mean(centred * centred, axis=axes, keepdims=True)
    out = centred * (variance + eps) ** -0.5
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return out


def flatten(input, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """Merge the dimensions start_dim..end_dim (negative counts from the end) into one,
    as `torch.flatten`; the op `reshape`."""
    shape = _shape(input)
    ndim = max(len(shape), 1)
    start = start_dim + ndim if start_dim < 0 else start_dim
    end = end_dim + ndim if end_dim < 0 else end_dim
    if not 0 <= start <= end < ndim:
        raise ValueError(
            f"flatten: expected 0 <= start_dim <= end_dim < ndim (negative dims count from the "
            f"end); got start_dim={start_dim}, end_dim={end_dim} for shape {shape}"
        )
    merged = int(np.prod(shape[start:end + 1], dtype=np.int64))
    return ops.reshape(input, shape=(*shape[:start], merged, *shape[end + 1:]))
