"""`gl.nn.init`: PyTorch's initialisers, each filling a tensor's numbers in place.

`init.kaiming_uniform_(layer.weight, a=math.sqrt(5))` is what PyTorch's Linear does at
construction. Each function returns the tensor; the random ones draw from `generator`
(None: the global generator, `gl.manual_seed`; an int seed; or a np.random.Generator).
Fans follow PyTorch: fan_in = weight.shape[1] * receptive field, fan_out =
weight.shape[0] * receptive field, so (out, in) Linear and (out, in, kh, kw) Conv2d
weights give PyTorch's numbers.
"""

from __future__ import annotations

import math

import numpy as np

from ..random import resolve
from ..tensor import Tensor

__all__ = [
    "calculate_gain", "constant_", "kaiming_normal_", "kaiming_uniform_", "normal_", "ones_",
    "uniform_", "xavier_normal_", "xavier_uniform_", "zeros_",
]

_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d", "sigmoid")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity, as torch.nn.init.calculate_gain."""
    if nonlinearity in _LINEAR:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else float(param)
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}; expected one of "
                     f"{', '.join((*_LINEAR, 'tanh', 'relu', 'leaky_relu', 'selu'))}")


def _check(tensor, owner: str) -> Tensor:
    if not isinstance(tensor, Tensor):
        raise TypeError(f"init.{owner}: expected a gl.Tensor; got {type(tensor).__name__}")
    return tensor


def _fill(tensor: Tensor, values) -> Tensor:
    """The tensor's numbers replaced by `values` (in its dtype); its grad is left alone."""
    tensor.data = np.asarray(values, dtype=np.asarray(tensor.data).dtype).reshape(tensor.shape)
    return tensor


def _fans(tensor: Tensor, owner: str) -> tuple[int, int]:
    shape = tensor.shape
    if len(shape) < 2:
        raise ValueError(f"init.{owner}: fan in and fan out need a tensor of 2 or more "
                         f"dimensions; got shape {shape}")
    receptive = int(np.prod(shape[2:], dtype=np.int64))
    return shape[1] * receptive, shape[0] * receptive


def _fan(tensor: Tensor, mode: str, owner: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"init.{owner} mode: expected 'fan_in' or 'fan_out'; got {mode!r}")
    fan_in, fan_out = _fans(tensor, owner)
    return fan_in if mode == "fan_in" else fan_out


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0, generator=None) -> Tensor:
    """Fill with U(a, b)."""
    tensor = _check(tensor, "uniform_")
    return _fill(tensor, resolve(generator, "init generator").uniform(a, b, size=tensor.shape))


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, generator=None) -> Tensor:
    """Fill with N(mean, std^2)."""
    tensor = _check(tensor, "normal_")
    return _fill(tensor, resolve(generator, "init generator").normal(mean, std, size=tensor.shape))


def constant_(tensor: Tensor, val: float) -> Tensor:
    return _fill(_check(tensor, "constant_"), np.full(tensor.shape, val))


def zeros_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 0.0)


def ones_(tensor: Tensor) -> Tensor:
    return constant_(tensor, 1.0)


def xavier_uniform_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """U(-a, a), a = gain sqrt(6 / (fan_in + fan_out)) (Glorot & Bengio 2010)."""
    fan_in, fan_out = _fans(_check(tensor, "xavier_uniform_"), "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, generator)


def xavier_normal_(tensor: Tensor, gain: float = 1.0, generator=None) -> Tensor:
    """N(0, std^2), std = gain sqrt(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _fans(_check(tensor, "xavier_normal_"), "xavier_normal_")
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), generator)


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """U(-b, b), b = gain sqrt(3 / fan) (He et al. 2015); gain from `nonlinearity` and `a`."""
    fan = _fan(_check(tensor, "kaiming_uniform_"), mode, "kaiming_uniform_")
    bound = math.sqrt(3.0) * calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return uniform_(tensor, -bound, bound, generator)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu", generator=None) -> Tensor:
    """N(0, std^2), std = gain / sqrt(fan)."""
    fan = _fan(_check(tensor, "kaiming_normal_"), mode, "kaiming_normal_")
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan), generator)
