"""Optimisers: learning is stepping downhill (the seed's section 5).

    for w in parameters:
        w.data -= learning_rate * w.grad
        w.grad = 0            # clear the ledger for the next round

`SGD(params, lr).step()` is that loop; `zero_grad()` clears the ledger.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .tensor import Tensor, as_data

__all__ = ["SGD"]


class SGD:
    """Stochastic gradient descent, with optional (heavy-ball) momentum.

    params:    the tensors to learn, or a `gl.nn.Module` (its `parameters()`)
    lr:        the learning rate: how big a step we dare to take (finite, >= 0)
    momentum:  0 for the seed's plain step; else each step follows a running
               velocity `v = momentum * v + w.grad`, `w -= lr * v` (as PyTorch does)

    `step()` moves every parameter that has a grad against it; parameters whose grad
    is None (no backward reached them) are left alone. `zero_grad()` sets every
    `.grad` to None, so the next backward starts a fresh ledger.
    """

    def __init__(self, params, lr: float, momentum: float = 0.0) -> None:
        self.params = _parameter_list(params)
        self.lr = _hyperparameter("lr", lr, "a finite number >= 0, e.g. 0.1")
        self.momentum = _hyperparameter("momentum", momentum, "a finite number >= 0, e.g. 0.9")
        self._velocity: list = [None] * len(self.params)

    def step(self) -> None:
        """Nudge every parameter against its gradient: `w -= lr * w.grad`."""
        for i, w in enumerate(self.params):
            if w.grad is None:
                continue
            direction = w.grad
            if self.momentum:
                previous = self._velocity[i]
                # A copy on the first step: the velocity must not alias the ledger.
                direction = (np.copy(w.grad) if previous is None
                             else self.momentum * previous + w.grad)
                self._velocity[i] = direction
            moved = np.asarray(w.data - self.lr * direction, dtype=w.data.dtype)
            w.data = as_data(moved)

    def zero_grad(self) -> None:
        """Clear the ledger of every parameter: `w.grad = None`."""
        for w in self.params:
            w.grad = None

    def __repr__(self) -> str:
        return f"SGD({len(self.params)} parameters, lr={self.lr}, momentum={self.momentum})"


def _parameter_list(params) -> list[Tensor]:
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Tensor) or not isinstance(params, Iterable):
        raise TypeError(
            f"SGD expected an iterable of gl.Tensor parameters (or a gl.nn.Module); "
            f"got {type(params).__name__}. Pass a list: SGD([w, b], lr=0.1)."
        )
    params = list(params)
    if not params:
        raise ValueError("SGD got an empty parameter list; expected at least one gl.Tensor")
    for i, w in enumerate(params):
        if not isinstance(w, Tensor):
            raise TypeError(f"SGD parameter {i}: expected a gl.Tensor; got {type(w).__name__}")
        if not w.requires_grad:
            raise ValueError(
                f"SGD parameter {i} ({w.name or 'unnamed'}, shape {w.shape}) does not require "
                "grad, so backward never books its gradient; create it with "
                "gl.tensor(..., requires_grad=True)"
            )
    return params


def _hyperparameter(name: str, value, expected: str) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"SGD {name}: expected {expected}; got {value!r}") from None
    if not math.isfinite(number) or number < 0:
        raise ValueError(f"SGD {name}: expected {expected}; got {value!r}")
    return number
