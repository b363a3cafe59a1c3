"""Stochastic gradient descent: the seed's `w -= lr * w.grad`, with PyTorch's options."""

from __future__ import annotations

import numpy as np

from .optimizer import LR, Optimizer, flag, non_negative, write

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, dampening, Nesterov momentum and
    weight decay, stepping as PyTorch's `torch.optim.SGD` does. For each parameter w:

        g = w.grad + weight_decay * w                      (weight_decay > 0)
        b = g on the first step, else momentum * b + (1 - dampening) * g
        g = g + momentum * b if nesterov else b            (momentum > 0)
        w = w - lr * g

    (`maximize=True` starts from -w.grad). With `momentum=0` this is the seed's step,
    `w -= lr * w.grad`. Parameters whose grad is None (no backward reached them) are
    left alone, their momentum buffer too. Hyperparameters may differ per parameter
    group (see `Optimizer`).
    """

    _checks = {
        "lr": LR,
        "momentum": (non_negative, "a finite number >= 0, e.g. 0.9"),
        "dampening": (non_negative, "a finite number >= 0, e.g. 0"),
        "weight_decay": (non_negative, "a finite number >= 0, e.g. 1e-4"),
        "nesterov": (flag, "True or False"),
        "maximize": (flag, "True or False"),
    }

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0.0, dampening: float = 0.0,
                 weight_decay: float = 0.0, nesterov: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov,
                                      maximize=maximize))

    def _check_group(self, group: dict) -> None:
        if group["nesterov"] and (group["momentum"] <= 0 or group["dampening"] != 0):
            raise ValueError(
                f"SGD nesterov=True needs momentum > 0 and dampening = 0; got momentum "
                f"{group['momentum']} and dampening {group['dampening']}"
            )

    @property
    def momentum(self) -> float:
        return self.param_groups[0]["momentum"]

    def _step_group(self, group: dict) -> None:
        lr, momentum, dampening = group["lr"], group["momentum"], group["dampening"]
        weight_decay, nesterov = group["weight_decay"], group["nesterov"]
        for w in group["params"]:
            g = w.grad
            if g is None:
                continue
            if group["maximize"]:
                g = -g
            if weight_decay:
                g = g + weight_decay * w.data
            if momentum:
                state = self.state.setdefault(id(w), {})
                buffer = state.get("momentum_buffer")
                if buffer is None:
                    # A copy: the buffer must not alias the ledger.
                    buffer = state["momentum_buffer"] = np.array(g, dtype=w.dtype, copy=True)
                else:
                    buffer *= momentum
                    buffer += (1 - dampening) * g
                g = g + momentum * buffer if nesterov else buffer
            write(w, w.data - lr * g)
