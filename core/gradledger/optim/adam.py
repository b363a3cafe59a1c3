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
        maximize, decoupled = group["maximize"], self._decoupled
        states = self.state
        for w in group["params"]:
            g = w.grad
            if g is None:
                continue
            if maximize:
                g = -g
            state = states.get(id(w))
            if state is None:
                state = states[id(w)] = {
                    "step": 0,
                    "exp_avg": np.zeros(np.shape(w.data), dtype=w.dtype),
                    "exp_avg_sq": np.zeros(np.shape(w.data), dtype=w.dtype),
                }
                if amsgrad:
                    state["max_exp_avg_sq"] = np.zeros(np.shape(w.data), dtype=w.dtype)
            state["step"] = step = state["step"] + 1
            m, v = state["exp_avg"], state["exp_avg_sq"]
            data = w.data
            bias2 = math.sqrt(1 - beta2**step)
            step_size = lr / (1 - beta1**step)
            if (g.__class__ is np.ndarray and data.__class__ is np.ndarray
                    and g.dtype == data.dtype == m.dtype == v.dtype
                    and g.shape == data.shape == m.shape == v.shape and 1 - beta1 < 0.5):
                # The same operations in the same order as below, in place on one scratch
                # array: no temporaries (a step of small parameters is mostly numpy calls).
                t = self._scratch(data)
                if weight_decay and not decoupled:
                    g = g + weight_decay * data
                np.subtract(g, m, out=t)  # m += (1 - beta1) * (g - m)
                t *= 1 - beta1
                m += t
                v *= beta2  # v += (1 - beta2) * g * g
                np.multiply(g, 1 - beta2, out=t)
                t *= g
                v += t
                if amsgrad:
                    v = np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                np.sqrt(v, out=t)  # denom = sqrt(v) / sqrt(1 - beta2**t) + eps
                t /= bias2
                t += eps
                np.divide(m, t, out=t)  # step_size * (m / denom)
                t *= step_size
                if data.flags.writeable:
                    if weight_decay and decoupled:
                        data *= 1 - lr * weight_decay
                    data -= t
                else:
                    if weight_decay and decoupled:
                        data = data * (1 - lr * weight_decay)
                    write(w, data - t)
                continue
            if weight_decay:
                if decoupled:
                    data = data * (1 - lr * weight_decay)
                else:
                    g = g + weight_decay * data
            _lerp_(m, g, 1 - beta1)
            v *= beta2
            v += (1 - beta2) * g * g
            if amsgrad:
                np.maximum(state["max_exp_avg_sq"], v, out=state["max_exp_avg_sq"])
                v = state["max_exp_avg_sq"]
            denom = np.sqrt(v) / bias2 + eps
            write(w, data - step_size * (m / denom))

    def _scratch(self, like: np.ndarray) -> np.ndarray:
        """A scratch array of `like`'s shape and dtype, kept across steps (not state: it
        holds nothing between the parameters' updates)."""
        key = (like.shape, like.dtype)
        buffers = self.__dict__.setdefault("_buffers", {})
        t = buffers.get(key)
        if t is None:
            t = buffers[key] = np.empty(like.shape, dtype=like.dtype)
        return t


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
