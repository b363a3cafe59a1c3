"""Learning-rate schedules: change each parameter group's `lr` once per `scheduler.step()`.

As in PyTorch: make the scheduler after the optimiser (it records each group's
`initial_lr`), and call `scheduler.step()` once per epoch, after `optimizer.step()`.
The rules are PyTorch's own recursive ("chainable") forms, computed in the same
order, so the learning rates agree with `torch.optim.lr_scheduler` to the last bit.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Mapping

import numpy as np

from .optimizer import Optimizer

__all__ = ["CosineAnnealingLR", "LRScheduler", "LambdaLR", "LinearLR", "OneCycleLR",
           "ReduceLROnPlateau", "SequentialLR", "StepLR"]


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

    def step(self, epoch: int | None = None) -> None:
        """Move to the next epoch and set every group's lr for it. `step(epoch)` jumps to
        `epoch` (PyTorch's older form; SequentialLR uses it), by the closed form where the
        schedule has one."""
        self._step_count += 1
        if epoch is None:
            self.last_epoch += 1
            lrs = self.get_lr()
        else:
            self.last_epoch = epoch
            closed = getattr(self, "_get_closed_form_lr", None)
            lrs = closed() if closed is not None else self.get_lr()
        for group, lr in zip(self.optimizer.param_groups, lrs, strict=True):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rates the last `step()` set, one per group."""
        return list(self._last_lr)

    def state_dict(self) -> dict:
        """The scheduler's counters and settings (not the optimiser's): numbers and lists
        of numbers, so that `gl.save(scheduler.state_dict(), path)` writes them."""
        return {k: v for k, v in vars(self).items()
                if k != "optimizer" and not callable(v) and not k.startswith("_schedulers")}

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

    def _get_closed_form_lr(self) -> list[float]:
        return [base * self.gamma ** (self.last_epoch // self.step_size)
                for base in self.base_lrs]


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

    def _get_closed_form_lr(self) -> list[float]:
        t, T, eta_min = self.last_epoch, self.T_max, self.eta_min
        return [eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / T)) / 2
                for base in self.base_lrs]


def _number(owner: str, label: str, value, low: float, high: float = math.inf) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or \
            not low <= value <= high or not math.isfinite(value):
        raise ValueError(f"{owner} {label}: expected a number in [{low}, {high}]; got {value!r}")
    return float(value)


class LambdaLR(LRScheduler):
    """lr = initial_lr * lr_lambda(epoch); `lr_lambda` a function of the epoch, or a list
    of them, one per parameter group."""

    def __init__(self, optimizer: Optimizer, lr_lambda, last_epoch: int = -1) -> None:
        groups = len(optimizer.param_groups) if isinstance(optimizer, Optimizer) else 1
        lambdas = list(lr_lambda) if isinstance(lr_lambda, (list, tuple)) else \
            [lr_lambda] * groups
        if len(lambdas) != groups or not all(callable(f) for f in lambdas):
            raise ValueError(f"LambdaLR lr_lambda: expected a function of the epoch or a list of "
                             f"{groups} (one per parameter group); got {lr_lambda!r}")
        self.lr_lambdas = lambdas
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        return [base * f(self.last_epoch)
                for base, f in zip(self.base_lrs, self.lr_lambdas, strict=True)]

    def state_dict(self) -> dict:
        return {k: v for k, v in super().state_dict().items() if k != "lr_lambdas"}


class LinearLR(LRScheduler):
    """Scale the lr linearly from start_factor to end_factor over total_iters epochs, then
    hold it (a warm-up: LinearLR(opt, start_factor=0.01, total_iters=100))."""

    def __init__(self, optimizer: Optimizer, start_factor: float = 1.0 / 3, end_factor: float = 1.0,
                 total_iters: int = 5, last_epoch: int = -1) -> None:
        self.start_factor = _number("LinearLR", "start_factor", start_factor, 0.0, 1.0)
        if self.start_factor == 0:
            raise ValueError("LinearLR start_factor: expected a number in (0, 1]; got 0")
        self.end_factor = _number("LinearLR", "end_factor", end_factor, 0.0, 1.0)
        if isinstance(total_iters, bool) or not isinstance(total_iters, int) or total_iters < 1:
            raise ValueError(f"LinearLR total_iters: expected an int >= 1; got {total_iters!r}")
        self.total_iters = total_iters
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> list[float]:
        groups, t = self.optimizer.param_groups, self.last_epoch
        if t == 0:
            return [group["lr"] * self.start_factor for group in groups]
        if t > self.total_iters:
            return [group["lr"] for group in groups]
        step = self.end_factor - self.start_factor
        return [group["lr"] * (1.0 + step / (self.total_iters * self.start_factor
                                             + (t - 1) * step)) for group in groups]

    def _get_closed_form_lr(self) -> list[float]:
        fraction = min(self.total_iters, self.last_epoch) / self.total_iters
        return [base * (self.start_factor + (self.end_factor - self.start_factor) * fraction)
                for base in self.base_lrs]


class SequentialLR(LRScheduler):
    """Run `schedulers` one after another, switching at the `milestones` (epochs):
    SequentialLR(opt, [LinearLR(opt, 0.01, total_iters=W), CosineAnnealingLR(opt, T)],
    milestones=[W]) is a warm-up then a cosine. Each later scheduler starts at its epoch 0."""

    def __init__(self, optimizer: Optimizer, schedulers: list, milestones: list[int],
                 last_epoch: int = -1) -> None:
        if not schedulers or not all(isinstance(s, LRScheduler) and s.optimizer is optimizer
                                     for s in schedulers):
            raise ValueError("SequentialLR schedulers: expected a non-empty list of schedulers "
                             "of the very optimizer given to SequentialLR")
        if len(milestones) != len(schedulers) - 1 or list(milestones) != sorted(milestones):
            raise ValueError(f"SequentialLR milestones: expected {len(schedulers) - 1} increasing "
                             f"epochs (one fewer than schedulers); got {milestones!r}")
        self.optimizer = optimizer
        self._schedulers = list(schedulers)
        self.milestones = list(milestones)
        self.last_epoch = last_epoch + 1
        self._step_count = 0
        for group in optimizer.param_groups:  # undo the schedulers' own first steps
            group["lr"] = group["initial_lr"]
        for scheduler in self._schedulers:
            scheduler.last_epoch -= 1
        first = self._schedulers[0]
        first.last_epoch += 1
        for group, lr in zip(optimizer.param_groups, first.get_lr(), strict=True):
            group["lr"] = lr
        first._last_lr = [group["lr"] for group in optimizer.param_groups]
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self._last_lr = first.get_last_lr()

    def step(self) -> None:  # noqa: D102 (the base class's)
        self.last_epoch += 1
        index = bisect.bisect_right(self.milestones, self.last_epoch)
        scheduler = self._schedulers[index]
        if index > 0 and self.milestones[index - 1] == self.last_epoch:
            scheduler.step(0)
        else:
            scheduler.step()
        self._last_lr = scheduler.get_last_lr()


class OneCycleLR(LRScheduler):
    """The 1cycle policy (Smith & Topin 2018), as torch.optim.lr_scheduler.OneCycleLR: the lr
    climbs from max_lr / div_factor to max_lr over pct_start of total_steps, then anneals
    to that start / final_div_factor; momentum (SGD's `momentum`, Adam's beta1) moves the
    other way between max_momentum and base_momentum. Step it once per batch."""

    def __init__(self, optimizer: Optimizer, max_lr, total_steps: int | None = None,
                 epochs: int | None = None, steps_per_epoch: int | None = None,
                 pct_start: float = 0.3, anneal_strategy: str = "cos",
                 cycle_momentum: bool = True, base_momentum: float = 0.85,
                 max_momentum: float = 0.95, div_factor: float = 25.0,
                 final_div_factor: float = 1e4, three_phase: bool = False,
                 last_epoch: int = -1) -> None:
        if total_steps is None:
            if epochs is None or steps_per_epoch is None:
                raise ValueError("OneCycleLR: give total_steps, or epochs and steps_per_epoch")
            total_steps = epochs * steps_per_epoch
        if isinstance(total_steps, bool) or not isinstance(total_steps, int) or total_steps < 1:
            raise ValueError(f"OneCycleLR total_steps: expected an int >= 1; got {total_steps!r}")
        if anneal_strategy not in ("cos", "linear"):
            raise ValueError(f"OneCycleLR anneal_strategy: expected 'cos' or 'linear'; "
                             f"got {anneal_strategy!r}")
        pct_start = _number("OneCycleLR", "pct_start", pct_start, 0.0, 1.0)
        self.total_steps, self.anneal_strategy = total_steps, anneal_strategy
        up = float(pct_start * total_steps) - 1
        if three_phase:
            self._phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (float(2 * pct_start * total_steps) - 2, "max_lr", "initial_lr",
                             "base_momentum", "max_momentum"),
                            (total_steps - 1, "initial_lr", "min_lr", "max_momentum",
                             "max_momentum")]
        else:
            self._phases = [(up, "initial_lr", "max_lr", "max_momentum", "base_momentum"),
                            (total_steps - 1, "max_lr", "min_lr", "base_momentum",
                             "max_momentum")]
        groups = optimizer.param_groups
        max_lrs = list(max_lr) if isinstance(max_lr, (list, tuple)) else [max_lr] * len(groups)
        self.cycle_momentum = cycle_momentum
        if cycle_momentum and not all("momentum" in g or "betas" in g for g in groups):
            raise ValueError("OneCycleLR cycle_momentum: the optimizer has neither momentum nor "
                             "betas; pass cycle_momentum=False")
        for group, top in zip(groups, max_lrs, strict=True):
            if last_epoch == -1:
                group["initial_lr"] = top / div_factor
                group["max_lr"] = top
                group["min_lr"] = group["initial_lr"] / final_div_factor
            if cycle_momentum:
                self._set_momentum(group, max_momentum)
                group["max_momentum"], group["base_momentum"] = max_momentum, base_momentum
        super().__init__(optimizer, last_epoch)

    @staticmethod
    def _set_momentum(group: dict, value: float) -> None:
        if "betas" in group:
            group["betas"] = (value, *group["betas"][1:])
        else:
            group["momentum"] = value

    def _anneal(self, start: float, end: float, pct: float) -> float:
        if self.anneal_strategy == "cos":
            return end + (start - end) / 2.0 * (math.cos(math.pi * pct) + 1)
        return (end - start) * pct + start

    def get_lr(self) -> list[float]:
        step = self.last_epoch
        if step > self.total_steps:
            raise ValueError(f"OneCycleLR: stepped {step} times, past total_steps "
                             f"{self.total_steps}")
        lrs = []
        for group in self.optimizer.param_groups:
            start_step = 0.0
            for i, (end_step, lr_from, lr_to, m_from, m_to) in enumerate(self._phases):
                if step <= end_step or i == len(self._phases) - 1:
                    pct = (step - start_step) / (end_step - start_step)
                    lr = self._anneal(group[lr_from], group[lr_to], pct)
                    if self.cycle_momentum:
                        self._set_momentum(group, self._anneal(group[m_from], group[m_to], pct))
                    break
                start_step = end_step
            lrs.append(lr)
        return lrs


class ReduceLROnPlateau:
    """Multiply the lr by `factor` when a metric has stopped improving for `patience` epochs,
    as torch.optim.lr_scheduler.ReduceLROnPlateau: `scheduler.step(val_loss)` each epoch.

    mode 'min' (lower is better) or 'max'; an improvement must beat the best by
    `threshold` (relative with threshold_mode 'rel', absolute with 'abs'); after a
    reduction, `cooldown` epochs pass before bad epochs count again; no lr goes below
    `min_lr` (a number or one per group), and a change smaller than `eps` is skipped.
    """

    def __init__(self, optimizer: Optimizer, mode: str = "min", factor: float = 0.1,
                 patience: int = 10, threshold: float = 1e-4, threshold_mode: str = "rel",
                 cooldown: int = 0, min_lr=0.0, eps: float = 1e-8) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"ReduceLROnPlateau expected a gl.optim optimiser; "
                            f"got {type(optimizer).__name__}")
        if mode not in ("min", "max") or threshold_mode not in ("rel", "abs"):
            raise ValueError(f"ReduceLROnPlateau: mode must be 'min' or 'max' and threshold_mode "
                             f"'rel' or 'abs'; got {mode!r} and {threshold_mode!r}")
        if not 0.0 <= factor < 1.0:
            raise ValueError(f"ReduceLROnPlateau factor: expected a number in [0, 1); "
                             f"got {factor!r}")
        self.optimizer = optimizer
        groups = optimizer.param_groups
        self.min_lrs = list(min_lr) if isinstance(min_lr, (list, tuple)) else \
            [min_lr] * len(groups)
        self.mode, self.factor, self.patience = mode, factor, patience
        self.threshold, self.threshold_mode = threshold, threshold_mode
        self.cooldown, self.eps = cooldown, eps
        self.best = math.inf if mode == "min" else -math.inf
        self.num_bad_epochs = self.cooldown_counter = 0
        self.last_epoch = 0
        self._last_lr = [group["lr"] for group in groups]

    def _better(self, current: float) -> bool:
        best, t = self.best, self.threshold
        if self.mode == "min":
            return current < (best * (1.0 - t) if self.threshold_mode == "rel" else best - t)
        return current > (best * (1.0 + t) if self.threshold_mode == "rel" else best + t)

    def step(self, metrics) -> None:
        """Book one epoch's metric; reduce the lr if it has not improved for too long."""
        current = float(metrics)
        self.last_epoch += 1
        if self._better(current):
            self.best, self.num_bad_epochs = current, 0
        else:
            self.num_bad_epochs += 1
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.num_bad_epochs = 0
        if self.num_bad_epochs > self.patience:
            for group, floor in zip(self.optimizer.param_groups, self.min_lrs, strict=True):
                new = max(group["lr"] * self.factor, floor)
                if group["lr"] - new > self.eps:
                    group["lr"] = new
            self.cooldown_counter, self.num_bad_epochs = self.cooldown, 0
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        return list(self._last_lr)

    def state_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k != "optimizer"}

    def load_state_dict(self, state: Mapping) -> None:
        for key, value in state.items():
            setattr(self, key, value.tolist() if isinstance(value, np.ndarray) else value)
