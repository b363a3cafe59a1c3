"""Learning-rate schedules: change each parameter group's `lr` once per `scheduler.step()`.

As in PyTorch: make the scheduler after the optimiser (it records each group's
`initial_lr`), and call `scheduler.step()` once per epoch, after `optimizer.step()`.
The rules are PyTorch's own recursive ("chainable") forms, computed in the same
order, so the learning rates agree with `torch.optim.lr_scheduler` to the last bit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from .optimizer import Optimizer

__all__ = ["CosineAnnealingLR", "LRScheduler", "StepLR"]


class LRScheduler:
    """Base class: `step()` advances `last_epoch` and sets every group's lr to `get_lr()`.

    last_epoch: the index of the last epoch (-1: start afresh, setting every group's
                `initial_lr` to its current lr; otherwise each group must have an
                `initial_lr` already, as when resuming).
    """

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        name = type(self).__name__
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{name} expected a gl.optim optimiser (SGD, Adam, ...); "
                f"got {type(optimizer).__name__}"
            )
        if isinstance(last_epoch, bool) or not isinstance(last_epoch, int) or last_epoch < -1:
            raise ValueError(f"{name} last_epoch: expected an int >= -1; got {last_epoch!r}")
        self.optimizer = optimizer
        for i, group in enumerate(optimizer.param_groups):
            if last_epoch == -1:
                group.setdefault("initial_lr", group["lr"])
            elif "initial_lr" not in group:
                raise KeyError(
                    f"{name}: resuming at last_epoch={last_epoch} needs each parameter group's "
                    f"'initial_lr'; group {i} has none (start with last_epoch=-1)"
                )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self._step_count = 0
        self.step()

    def get_lr(self) -> list[float]:
        """Each group's learning rate for epoch `last_epoch`."""
        raise NotImplementedError(f"{type(self).__name__} must define get_lr()")

    def step(self) -> None:
        """Move to the next epoch and set every group's lr for it."""
        self._step_count += 1
        self.last_epoch += 1
        for group, lr in zip(self.optimizer.param_groups, self.get_lr(), strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last `step()` set, one per group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """The scheduler's counters and settings (not the optimiser's): numbers and lists
        of numbers, so that `gl.save(scheduler.state_dict(), path)` writes them."""
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state: Mapping) -> None:
        """Restore counters and settings from `state_dict()` (or from `gl.load`: its arrays
        become numbers and lists again)."""
        unknown = sorted(set(state) - set(vars(self)))
        if unknown:
            raise KeyError(
                f"{type(self).__name__}.load_state_dict: unexpected key(s) "
                f"{', '.join(map(repr, unknown))}; expected {', '.join(self.state_dict())}"
            )
        for key, value in state.items():
            setattr(self, key, value.tolist() if isinstance(value, np.ndarray) else value)


class StepLR(LRScheduler):
    """Multiply every group's lr by `gamma` every `step_size` epochs:
    lr = initial_lr * gamma ** (epoch // step_size)."""

    def __init__(self, optimizer: Optimizer, step_size: int, gamma: float = 0.1,
                 last_epoch: int = -1) -> None:
        if isinstance(step_size, bool) or not isinstance(step_size, int) or step_size < 1:
            raise ValueError(f"StepLR step_size: expected an int >= 1; got {step_size!r}")
        if not (isinstance(gamma, (int, float)) and math.isfinite(gamma) and gamma >= 0):
            raise ValueError(f"StepLR gamma: expected a finite number >= 0; got {gamma!r}")
        self.step_size = step_size
        self.gamma = float(gamma)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups = self.optimizer.param_groups
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return [group["lr"] for group in groups]
        return [group["lr"] * self.gamma for group in groups]


class CosineAnnealingLR(LRScheduler):
    """Anneal every group's lr from its initial value to `eta_min` along half a cosine
    over `T_max` epochs (SGDR without restarts, Loshchilov & Hutter 2017):

        lr(t) = eta_min + (initial_lr - eta_min) * (1 + cos(pi * t / T_max)) / 2

    computed, as PyTorch does, recursively from the previous epoch's lr (so a lr set by
    hand between steps is followed). Past T_max it climbs back, with period 2 * T_max.
    """

    def __init__(self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0,
                 last_epoch: int = -1) -> None:
        if isinstance(T_max, bool) or not isinstance(T_max, int) or T_max < 1:
            raise ValueError(f"CosineAnnealingLR T_max: expected an int >= 1; got {T_max!r}")
        if not (isinstance(eta_min, (int, float)) and math.isfinite(eta_min) and eta_min >= 0):
            raise ValueError(
                f"CosineAnnealingLR eta_min: expected a finite number >= 0; got {eta_min!r}"
            )
        self.T_max = T_max
        self.eta_min = float(eta_min)
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups, t, T, eta_min = self.optimizer.param_groups, self.last_epoch, self.T_max, \
            self.eta_min
        if t == 0:
            return [group["lr"] for group in groups]
        if self._step_count == 1 and t > 0:  # resumed: the closed form
            return [eta_min + (base - eta_min) * (1 + math.cos(t * math.pi / T)) / 2
                    for base in self.base_lrs]
        if (t - 1 - T) % (2 * T) == 0:  # leaving the trough: the recursion would divide by 0
            return [group["lr"] + (base - eta_min) * (1 - math.cos(math.pi / T)) / 2
                    for base, group in zip(self.base_lrs, groups, strict=True)]
        return [(1 + math.cos(math.pi * t / T)) / (1 + math.cos(math.pi * (t - 1) / T))
                * (group["lr"] - eta_min) + eta_min for group in groups]
