"""Batch normalisation, as PyTorch's BatchNorm1d and BatchNorm2d.

In training a batch is normalised per channel by its own statistics (the op
`batch_norm`, one recorded op), and the running statistics move towards them:
`running = (1 - momentum) * running + momentum * batch`, the unbiased variance, as in
PyTorch. In eval mode the running statistics normalise instead. `running_mean`,
`running_var` and `num_batches_tracked` are buffers: in `state_dict()`, not parameters.
"""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Module):
    _dims: tuple = ()

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True,
                 dtype=np.float64) -> None:
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) \
                or num_features < 1:
            raise ValueError(f"{name} num_features: expected a positive int; got {num_features!r}")
        if momentum is not None and not 0.0 <= momentum <= 1.0:
            raise ValueError(f"{name} momentum: expected None or a number in [0, 1]; "
                             f"got {momentum!r}")
        self.num_features, self.eps, self.momentum = int(num_features), float(eps), momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = self.bias = None
        if affine:
            self.weight = Tensor(np.ones(num_features, dtype=dtype), requires_grad=True,
                                 name="bn.weight")
            self.bias = Tensor(np.zeros(num_features, dtype=dtype), requires_grad=True,
                               name="bn.bias")
        self.running_mean = self.running_var = self.num_batches_tracked = None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))

    def forward(self, x) -> Tensor:
        shape = np.shape(x.data if isinstance(x, Tensor) else x)
        if len(shape) not in self._dims or shape[1] != self.num_features:
            dims = " or ".join(f"{d}-d" for d in self._dims)
            raise ValueError(
                f"{type(self).__name__}({self.num_features}): expected a {dims} input with "
                f"{self.num_features} channels on axis 1; got shape {shape}"
            )
        training = self.training or self.running_mean is None
        momentum = self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked.data = np.asarray(self.num_batches_tracked.data) + 1
            if momentum is None:  # a cumulative moving average, as PyTorch's
                momentum = 1.0 / float(self.num_batches_tracked.data)
        running = self.training and self.track_running_stats
        return F.batch_norm(
            x, self.running_mean if running or not training else None,
            self.running_var if running or not training else None,
            self.weight, self.bias, training=training, momentum=momentum or 0.0, eps=self.eps,
        )

    def __repr__(self) -> str:
        return (f"{type(self).__name__}({self.num_features}, eps={self.eps}, "
                f"momentum={self.momentum}, affine={self.affine}, "
                f"track_running_stats={self.track_running_stats})")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs per channel C."""

    _dims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) images per channel C."""

    _dims = (4,)
