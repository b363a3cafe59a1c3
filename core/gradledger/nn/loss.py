"""Loss modules, as PyTorch's: `criterion = CrossEntropyLoss(); loss = criterion(logits, y)`."""

from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module

__all__ = ["BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "MSELoss"]


class CrossEntropyLoss(Module):
    """F.cross_entropy(input, target, ignore_index=..., reduction=..., label_smoothing=...)."""

    def __init__(self, weight=None, ignore_index: int = -100, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        self._weight, self.ignore_index = weight, ignore_index
        self.reduction, self.label_smoothing = reduction, label_smoothing

    def forward(self, input, target) -> Tensor:
        return F.cross_entropy(input, target, self._weight, self.ignore_index, self.reduction,
                               self.label_smoothing)


class MSELoss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = reduction

    def forward(self, input, target) -> Tensor:
        return F.mse_loss(input, target, self.reduction)


class BCELoss(Module):
    """F.binary_cross_entropy: probabilities in, as torch.nn.BCELoss."""

    def __init__(self, weight=None, reduction: str = "mean") -> None:
        self._weight, self.reduction = weight, reduction

    def forward(self, input, target) -> Tensor:
        return F.binary_cross_entropy(input, target, self._weight, self.reduction)


class BCEWithLogitsLoss(Module):
    """F.binary_cross_entropy_with_logits: logits in, as torch.nn.BCEWithLogitsLoss."""

    def __init__(self, weight=None, reduction: str = "mean", pos_weight=None) -> None:
        self._weight, self.reduction, self._pos_weight = weight, reduction, pos_weight

    def forward(self, input, target) -> Tensor:
        return F.binary_cross_entropy_with_logits(input, target, self._weight, self.reduction,
                                                  self._pos_weight)
