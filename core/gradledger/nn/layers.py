"""Layers built only from registered ops, each looked up by name when called.

Nothing here does math of its own: a layer is `x @ W + b`, a `conv2d`, an
`embedding` lookup ... each a registered op, so a plugin that overrides one is what
the network runs.

Initialisation: PyTorch's. Linear and Conv2d weights and biases are
U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (`kaiming_uniform_(a=sqrt(5))` for the weights, drawn
weight first, then bias); Embedding rows are N(0, 1) and LayerNorm starts as the
identity (weight 1, bias 0), as in PyTorch; the recurrent layers draw
U(-1/sqrt(hidden), 1/sqrt(hidden)) as PyTorch's.
(`gl.nn.init` re-initialises any parameter PyTorch's way.) Every draw without an `rng`
comes from the global generator (`gl.manual_seed`); pass `rng=` an int seed or a
`np.random.Generator` to give a layer its own.

Parameter names and layouts are PyTorch's, so that a PyTorch state dict loads as it
is: Linear.weight is (out_features, in_features), Conv2d.weight (out_channels,
in_channels, kh, kw), LSTM.weight_ih_l0 (4 hidden, input), and so on.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from ..ops import ops
from ..random import resolve
from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = [
    "GELU", "MLP", "AvgPool2d", "Conv2d", "Dropout", "Embedding", "Flatten", "LayerNorm", "Linear",
    "MaxPool2d", "ReLU", "Sigmoid", "Tanh",
]

Seed = int | np.random.Generator | None


def _positive(owner: str, label: str, size) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
        raise ValueError(f"{owner} {label}: expected a positive int; got {size!r}")
    return int(size)


def _pair(owner: str, label: str, value, minimum: int = 1) -> tuple[int, int]:
    pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    if len(pair) != 2 or not all(
        isinstance(v, (int, np.integer)) and not isinstance(v, bool) and v >= minimum
        for v in pair
    ):
        raise ValueError(
            f"{owner} {label}: expected an int >= {minimum} or a pair of them; got {value!r}"
        )
    return int(pair[0]), int(pair[1])


def _pytorch_uniform(rng, shape, fan_in, dtype) -> np.ndarray:
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default for Linear and Conv2d weights
    (kaiming_uniform_ with a = sqrt(5)) and biases."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)


class Linear(Module):
    """`y = x @ weight.T + bias`, with PyTorch's layout: weight (out_features, in_features),
    bias (out_features,), so that a PyTorch state dict loads as it is.

    rng:    None (the global generator, `gl.manual_seed`), an int seed or a np.random.Generator
    name:   suffix for the display names of weight and bias (`weight1`, `bias1`), shown by
            gl.explain
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 rng: Seed = None, dtype=np.float64, name: str = "") -> None:
        in_features = _positive("Linear", "in_features", in_features)
        out_features = _positive("Linear", "out_features", out_features)
        rng = resolve(rng, "Linear rng")
        weights = _pytorch_uniform(rng, (out_features, in_features), in_features, dtype)
        self.weight = Tensor(weights, requires_grad=True, name=f"weight{name}")
        self.bias = (
            Tensor(_pytorch_uniform(rng, out_features, in_features, dtype), requires_grad=True,
                   name=f"bias{name}")
            if bias else None
        )

    @property
    def in_features(self) -> int:
        return self.weight.shape[1]

    @property
    def out_features(self) -> int:
        return self.weight.shape[0]

    @property
    def W(self):
        raise AttributeError(
            "Linear.W was (in_features, out_features); Linear now keeps PyTorch's layout: "
            "Linear.weight is (out_features, in_features) (W is weight.T) and Linear.bias is b"
        )

    b = W

    def forward(self, x) -> Tensor:
        return F.linear(x, self.weight, self.bias)

    def __repr__(self) -> str:
        return (f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None})")


class MLP(Module):
    """A multi-layer perceptron: Linear layers with an activation between them.

    `MLP(2, [16, 16], 1)` maps (batch, 2) to (batch, 1) through two hidden layers
    of 16 (`hidden` may be one int for one hidden layer). `activation` is the name
    of a registered elementwise op ('relu', 'tanh') or a callable on tensors; the
    last layer has none (raw scores). Layer k's
    parameters are named `weightk` and `biask` (from 1) for gl.explain and gl.to_dot.
    """

    def __init__(self, in_features: int, hidden: Sequence[int], out_features: int,
                 activation: str | Callable = "relu", rng: Seed = None,
                 dtype=np.float64) -> None:
        rng = resolve(rng, "MLP rng")
        hidden = [hidden] if isinstance(hidden, (int, np.integer)) else list(hidden)
        sizes = [in_features, *hidden, out_features]
        self.layers = [
            Linear(n_in, n_out, rng=rng, dtype=dtype, name=str(k))
            for k, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:], strict=True), start=1)
        ]
        if isinstance(activation, str):
            getattr(ops, activation)  # fail now, naming the op, if nobody registered it
        elif not callable(activation):
            raise TypeError(
                f"MLP activation: expected an op name such as 'relu' or a callable; "
                f"got {activation!r}"
            )
        self.activation = activation

    def forward(self, x) -> Tensor:
        activate = (
            getattr(ops, self.activation) if isinstance(self.activation, str) else self.activation
        )
        *hidden, last = self.layers
        for layer in hidden:
            x = activate(layer(x))
        return last(x)

    def __repr__(self) -> str:
        sizes = [self.layers[0].in_features] + [layer.out_features for layer in self.layers]
        name = self.activation if isinstance(self.activation, str) else "custom"
        return f"MLP({' -> '.join(map(str, sizes))}, activation={name!r})"


class Conv2d(Module):
    """2-D convolution (cross-correlation, as PyTorch's) of NCHW images: the op `conv2d`.

    weight: (out_channels, in_channels, kh, kw) and bias (out_channels,), both
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = in_channels kh kw, as PyTorch's.
    Output size per spatial axis: (size + 2 * padding - kernel) // stride + 1.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, rng: Seed = None, dtype=np.float64) -> None:
        in_channels = _positive("Conv2d", "in_channels", in_channels)
        out_channels = _positive("Conv2d", "out_channels", out_channels)
        self.kernel_size = _pair("Conv2d", "kernel_size", kernel_size)
        self.stride = _pair("Conv2d", "stride", stride)
        self.padding = _pair("Conv2d", "padding", padding, minimum=0)
        rng = resolve(rng, "Conv2d rng")
        shape = (out_channels, in_channels, *self.kernel_size)
        fan_in = in_channels * self.kernel_size[0] * self.kernel_size[1]
        self.weight = Tensor(_pytorch_uniform(rng, shape, fan_in, dtype), requires_grad=True,
                             name="conv.weight")
        self.bias = (Tensor(_pytorch_uniform(rng, out_channels, fan_in, dtype),
                            requires_grad=True, name="conv.bias") if bias else None)

    def forward(self, x) -> Tensor:
        return F.conv2d(x, self.weight, self.bias, stride=self.stride, padding=self.padding)

    def __repr__(self) -> str:
        out_channels, in_channels = self.weight.shape[:2]
        return (f"Conv2d({in_channels}, {out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}, padding={self.padding}, bias={self.bias is not None})")


class _Pool2d(Module):
    """A window reduction of the last two axes (`_pool`, a function of gl.nn.functional);
    stride defaults to kernel_size."""

    _pool = None

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        name = type(self).__name__
        self.kernel_size = _pair(name, "kernel_size", kernel_size)
        self.stride = None if stride is None else _pair(name, "stride", stride)
        self.padding = _pair(name, "padding", padding, minimum=0)

    def forward(self, x) -> Tensor:
        return type(self)._pool(x, self.kernel_size, self.stride, self.padding)

    def __repr__(self) -> str:
        stride = self.stride or self.kernel_size
        return f"{type(self).__name__}(kernel_size={self.kernel_size}, stride={stride})"


class MaxPool2d(_Pool2d):
    """The maximum of each kernel_size window of the last two axes (the op `max_pool2d`);
    stride defaults to kernel_size."""

    _pool = F.max_pool2d


class AvgPool2d(_Pool2d):
    """The mean of each kernel_size window of the last two axes (the op `avg_pool2d`);
    stride defaults to kernel_size."""

    _pool = F.avg_pool2d


class Embedding(Module):
    """A lookup table: `emb(ids)` is the rows `weight[ids]`, shape ids.shape + (embedding_dim,)
    (the op `embedding`; a repeated id's row grads add up). weight ~ N(0, 1).

    padding_idx: a row that starts as zeros and takes no gradient (as PyTorch's), for the
    id that pads sequences to one length; negative counts from the end.
    """

    def __init__(self, num_embeddings: int, embedding_dim: int, padding_idx: int | None = None,
                 rng: Seed = None, dtype=np.float64) -> None:
        num_embeddings = _positive("Embedding", "num_embeddings", num_embeddings)
        embedding_dim = _positive("Embedding", "embedding_dim", embedding_dim)
        if padding_idx is not None:
            if isinstance(padding_idx, bool) or not isinstance(padding_idx, (int, np.integer)) \
                    or not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding padding_idx: expected None or an int in [-{num_embeddings}, "
                    f"{num_embeddings}); got {padding_idx!r}"
                )
            padding_idx = int(padding_idx) % num_embeddings
        self.padding_idx = padding_idx
        rng = resolve(rng, "Embedding rng")
        weights = rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype)
        if padding_idx is not None:
            weights[padding_idx] = 0
        self.weight = Tensor(weights, requires_grad=True, name="embedding.weight")

    def forward(self, ids) -> Tensor:
        return F.embedding(ids, self.weight, padding_idx=self.padding_idx)

    def __repr__(self) -> str:
        extra = "" if self.padding_idx is None else f", padding_idx={self.padding_idx}"
        return f"Embedding({self.weight.shape[0]}, {self.weight.shape[1]}{extra})"


class Dropout(Module):
    """In training, zero each element with probability p and scale the rest by 1 / (1 - p);
    in eval mode (`module.eval()`), pass the input through. Each call draws a fresh mask
    from `rng` (None: the global generator, `gl.manual_seed`; an int seed; or a
    np.random.Generator)."""

    def __init__(self, p: float = 0.5, rng: Seed = None) -> None:
        self.p = F.check_probability("Dropout", p)
        self._rng = None if rng is None else resolve(rng, "Dropout rng")

    def forward(self, x) -> Tensor:
        return F.dropout(x, self.p, training=self.training, rng=self._rng)

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


class LayerNorm(Module):
    """Normalise over the last dimensions (`normalized_shape`) to mean 0 and variance 1
    (the biased variance, plus eps), then scale by `weight` and shift by `bias`."""

    def __init__(self, normalized_shape, eps: float = 1e-5, elementwise_affine: bool = True,
                 bias: bool = True, dtype=np.float64) -> None:
        shape = ((normalized_shape,) if isinstance(normalized_shape, (int, np.integer))
                 else tuple(normalized_shape))
        self.normalized_shape = tuple(_positive("LayerNorm", "normalized_shape", n)
                                      for n in shape)
        self.eps = float(eps)
        self.weight = self.bias = None
        if elementwise_affine:
            self.weight = Tensor(np.ones(self.normalized_shape, dtype=dtype), requires_grad=True,
                                 name="layer_norm.weight")
            self.bias = (Tensor(np.zeros(self.normalized_shape, dtype=dtype),
                                requires_grad=True, name="layer_norm.bias") if bias else None)

    def forward(self, x) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def __repr__(self) -> str:
        return f"LayerNorm({self.normalized_shape}, eps={self.eps})"


class Flatten(Module):
    """Merge the dimensions start_dim..end_dim into one (by default all but the batch's)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim, self.end_dim = start_dim, end_dim

    def forward(self, x) -> Tensor:
        return F.flatten(x, self.start_dim, self.end_dim)

    def __repr__(self) -> str:
        return f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim})"


class ReLU(Module):
    """max(x, 0), the op `relu`."""

    def forward(self, x) -> Tensor:
        return ops.relu(x)

    def __repr__(self) -> str:
        return "ReLU()"


class Tanh(Module):
    """The op `tanh`."""

    def forward(self, x) -> Tensor:
        return ops.tanh(x)

    def __repr__(self) -> str:
        return "Tanh()"


class Sigmoid(Module):
    """1 / (1 + exp(-x)), the op `sigmoid`."""

    def forward(self, x) -> Tensor:
        return ops.sigmoid(x)

    def __repr__(self) -> str:
        return "Sigmoid()"


class GELU(Module):
    """x Phi(x), Phi the standard normal CDF: approximate='none' (PyTorch's default, which
    needs an `erf` op) or 'tanh' (the op `gelu_tanh`)."""

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU approximate: expected 'none' or 'tanh'; got {approximate!r}")
        self.approximate = approximate

    def forward(self, x) -> Tensor:
        return F.gelu(x, approximate=self.approximate)

    def __repr__(self) -> str:
        return f"GELU(approximate={self.approximate!r})"
