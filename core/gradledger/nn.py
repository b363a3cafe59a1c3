"""A small neural-network kit built only from registered ops: Module, Linear, MLP.

Nothing here does math of its own: a layer is `x @ W + b` and an activation, each a
registered op looked up by name when called, so a plugin that overrides `matmul` or
`relu` is what the network runs.

Initialisation is He (Kaiming) normal, `W ~ N(0, 2 / fan_in)`, suited to relu and
fine for tanh; biases start at 0. Every random draw comes from one generator:
pass `rng=` an int seed or a `np.random.Generator` for reproducible weights.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np

from .ops import ops
from .tensor import Tensor

__all__ = ["MLP", "Linear", "Module"]


class Module:
    """Base class: a callable holding parameters (tensors that require grad) and sub-modules.

    Subclasses set their parameters and sub-modules as attributes (lists and tuples
    of them too) and define `forward`; `module(x)` calls `forward(x)`.
    """

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, ...)")

    def __call__(self, *inputs):
        return self.forward(*inputs)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Every parameter once, in attribute order, with a dotted path: ('layers.0.W', W)."""
        seen: set[int] = set()
        for path, value in _walk(self, prefix):
            if id(value) not in seen:
                seen.add(id(value))
                yield path, value

    def parameters(self) -> list[Tensor]:
        """Every tensor that requires grad, in this module and its sub-modules, once each."""
        return [w for _, w in self.named_parameters()]

    def zero_grad(self) -> None:
        """Clear the ledger of every parameter: `w.grad = None`."""
        for w in self.parameters():
            w.grad = None

    def num_parameters(self) -> int:
        """How many numbers the parameters hold."""
        return sum(int(w.size) for w in self.parameters())


def _walk(value, path: str):
    if isinstance(value, Tensor):
        if value.requires_grad:
            yield path, value
    elif isinstance(value, Module):
        for key, attribute in vars(value).items():
            if not key.startswith("_"):
                yield from _walk(attribute, f"{path}.{key}" if path else key)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}.{i}" if path else str(i))


class Linear(Module):
    """`y = x @ W + b`: W has shape (in_features, out_features), b (out_features,).

    rng:    an int seed, a np.random.Generator, or None (a fresh, unseeded generator)
    name:   suffix for the display names of W and b (`W1`, `b1`), shown by gl.explain
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        rng: int | np.random.Generator | None = None,
        dtype=np.float64,
        name: str = "",
    ) -> None:
        for label, size in (("in_features", in_features), ("out_features", out_features)):
            if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 1:
                raise ValueError(f"Linear {label}: expected a positive int; got {size!r}")
        rng = np.random.default_rng(rng)
        scale = np.sqrt(2.0 / in_features)
        weights = rng.normal(0.0, scale, size=(in_features, out_features)).astype(dtype)
        self.W = Tensor(weights, requires_grad=True, name=f"W{name}")
        self.b = (
            Tensor(np.zeros(out_features, dtype=dtype), requires_grad=True, name=f"b{name}")
            if bias else None
        )

    @property
    def in_features(self) -> int:
        return self.W.shape[0]

    @property
    def out_features(self) -> int:
        return self.W.shape[1]

    def forward(self, x) -> Tensor:
        y = x @ self.W
        return y if self.b is None else y + self.b

    def __repr__(self) -> str:
        return f"Linear({self.in_features}, {self.out_features}, bias={self.b is not None})"


class MLP(Module):
    """A multi-layer perceptron: Linear layers with an activation between them.

    `MLP(2, [16, 16], 1)` maps (batch, 2) to (batch, 1) through two hidden layers
    of 16 (`hidden` may be one int for one hidden layer). `activation` is the name
    of a registered elementwise op ('relu', 'tanh') or a callable on tensors; the
    last layer has none (raw scores). Layer k's
    parameters are named `Wk` and `bk` (from 1) for gl.explain and gl.to_dot.
    """

    def __init__(
        self,
        in_features: int,
        hidden: Sequence[int],
        out_features: int,
        activation: str | Callable = "relu",
        rng: int | np.random.Generator | None = None,
        dtype=np.float64,
    ) -> None:
        rng = np.random.default_rng(rng)
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
