"""Adam and AdamW: steps scaled by running estimates of each gradient's first two moments."""

from __future__ import annotations

import math

import numpy as np

from .optimizer import LR, Optimizer, betas, flag, non_negative, write

__all__ = ["Adam", "AdamW"]


class Adam(Optimizer):
    """Adam (Kingma & Ba, 2015), stepping as PyTorch's `torch.optim.Adam` does. For each
    parameter w, at step t = 1, 2, ...:

        g = w.grad + weight_decay * w                      (weight_decay > 0: L2 penalty)
        m = m + (1 - beta1) * (g - m)                      (PyTorch's lerp; m, v start at 0)
        v = beta2 * v + (1 - beta2) * g * g
        v_max = max(v_max, v), used in place of v          (amsgrad=True)
        w = w - lr / (1 - beta1**t) * (m / (sqrt(v) / sqrt(1 - beta2**t) + eps))

    The operations and their order are PyTorch's (its single-tensor CPU path); see the
    gl.optim docstring for the last bit. `maximize=True` starts from -w.grad. A
    parameter's step count t advances only on steps where it has a grad.
    """

    _checks = {
        "lr": LR,
        "betas": (betas, "two numbers in [0, 1), e.g. (0.9, 0.999)"),
        "eps": (non_negative, "a finite number >= 0, e.g. 1e-8"),
        "weight_decay": (non_negative, "a finite number >= 0, e.g. 0"),
        "amsgrad": (flag, "True or False"),
        "maximize": (flag, "True or False"),
    }
    _decoupled = False

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 0.0, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                      amsgrad=amsgrad, maximize=maximize))

    def _step_group(self, group: dict) -> None:
        lr, (beta1, beta2), eps = group["lr"], group["betas"], group["eps"]
        weight_decay, amsgrad = group["weight_decay"], group["amsgrad"]
        for w in group["params"]:
            g = w.grad
            if g is None:
                continue
            if group["maximize"]:
                g = -g
            state = self.state.get(id(w))
            if state is None:
                state = self.state[id(w)] = {
                    "step": 0,
                    "exp_avg": np.zeros(np.shape(w.data), dtype=w.dtype),
                    "exp_avg_sq": np.zeros(np.shape(w.data), dtype=w.dtype),
                }
                if amsgrad:
                    state["max_exp_avg_sq"] = np.zeros(np.shape(w.data), dtype=w.dtype)
            state["step"] += 1
            step = state["step"]
            data = w.data
            if weight_decay:
                if self._decoupled:
                    data = data * (1 - lr * weight_decay)
                else:
                    g = g + weight_decay * data
            m, v = state["exp_avg"], state["exp_avg_sq"]
            _lerp_(m, g, 1 - beta1)
            v *= beta2
            v += (1 - beta2) * g * g
            if amsgrad:
                np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                v = state["max_exp_avg_sq"]
            step_size = lr / (1 - beta1**step)
            denom = np.sqrt(v) / math.sqrt(1 - beta2**step) + eps
            write(w, data - step_size * (m / denom))


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter, 2019): Adam with decoupled weight decay, as PyTorch's
    `torch.optim.AdamW`: each step first shrinks the parameter, `w = w * (1 - lr *
    weight_decay)`, then takes Adam's step (whose gradient carries no L2 term).
    The default weight_decay is 1e-2, as PyTorch's.
    """

    _decoupled = True

    def __init__(self, params, lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, weight_decay: float = 1e-2, amsgrad: bool = False, *,
                 maximize: bool = False) -> None:
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, maximize=maximize)


def _lerp_(start: np.ndarray, end, weight: float) -> None:
    """start += weight * (end - start) in place, as PyTorch's lerp computes it: from the
    nearer end, `end - (end - start) * (1 - weight)` when weight >= 0.5."""
    if abs(weight) < 0.5:
        start += weight * (end - start)
    else:
        np.subtract(end, (end - start) * (1 - weight), out=start)
