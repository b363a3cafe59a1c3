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
        if self._step_flat(group):
            return
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
                _update_moments(g, m, v, t, beta1, beta2)
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

    def _step_flat(self, group: dict) -> bool:
        """The step of a whole group at once, when every parameter has a grad of its own
        dtype and shape, all of one dtype, and their moments were made here as views into
        one flat array each: the grads copied into one flat array, then each of the
        step's operations once over all of them (per element the same operations in the
        same order as per parameter: the same bits), then each parameter moved by its
        slice. A step of many small parameters is mostly the numpy calls' own cost.
        Returns False, having changed nothing, when the group does not qualify."""
        params = group["params"]
        (beta1, beta2), weight_decay = group["betas"], group["weight_decay"]
        if (len(params) < 2 or group["amsgrad"] or not 1 - beta1 < 0.5
                or (weight_decay and not self._decoupled)):
            return False
        first = params[0].data
        if first.__class__ is not np.ndarray:
            return False
        dtype = first.dtype
        for w in params:
            g, data = w.grad, w.data
            if (data.__class__ is not np.ndarray or data.dtype != dtype
                    or not (g.__class__ is np.ndarray or isinstance(g, np.generic))
                    or g.dtype != dtype or g.shape != data.shape):
                return False
        flats = self.__dict__.setdefault("_flats", {})
        flat = flats.get(id(group))
        states = self.state
        if flat is None or flat.params != [id(w) for w in params] or flat.dtype != dtype:
            if any(id(w) in states for w in params):
                return False  # moments made elsewhere (another path, a loaded state)
            flat = flats[id(group)] = _Flat(params, dtype)
            for w, m, v in zip(params, flat.m_views, flat.v_views, strict=True):
                states[id(w)] = {"step": 0, "exp_avg": m, "exp_avg_sq": v}
        step = None
        for w, m, v in zip(params, flat.m_views, flat.v_views, strict=True):
            state = states.get(id(w))
            if (state is None or state.get("exp_avg") is not m
                    or state.get("exp_avg_sq") is not v or len(state) != 3
                    or w.data.shape != m.shape  # a parameter given a new shape
                    or (step is not None and state["step"] != step)):
                return False
            step = state["step"]
        step += 1
        lr, eps = group["lr"], group["eps"]
        G, m, v, t = flat.g, flat.m, flat.v, flat.t
        for view, w in zip(flat.g_views, params, strict=True):
            np.copyto(view, w.grad)
        if group["maximize"]:
            np.negative(G, out=G)
        _update_moments(G, m, v, t, beta1, beta2)
        np.sqrt(v, out=t)  # denom = sqrt(v) / sqrt(1 - beta2**t) + eps
        t /= math.sqrt(1 - beta2**step)
        t += eps
        np.divide(m, t, out=t)  # step_size * (m / denom)
        t *= lr / (1 - beta1**step)
        for w, update in zip(params, flat.t_views, strict=True):
            data = w.data
            if data.flags.writeable:
                if weight_decay:
                    data *= 1 - lr * weight_decay
                data -= update
            else:
                if weight_decay:
                    data = data * (1 - lr * weight_decay)
                write(w, data - update)
            states[id(w)]["step"] = step
        return True

    def _scratch(self, like: np.ndarray) -> np.ndarray:
        """A scratch array of `like`'s shape and dtype, kept across steps (not state: it
        holds nothing between the parameters' updates)."""
        key = (like.shape, like.dtype)
        buffers = self.__dict__.setdefault("_buffers", {})
        t = buffers.get(key)
        if t is None:
            t = buffers[key] = np.empty(like.shape, dtype=like.dtype)
        return t


class _Flat:
    """One group's flat arrays for Adam._step_flat: the moments (their per-parameter views
    are the state's exp_avg and exp_avg_sq), the grads' copy and a scratch array."""

    def __init__(self, params, dtype) -> None:
        self.params = [id(w) for w in params]
        self.dtype = dtype
        shapes = [w.data.shape for w in params]
        total = sum(math.prod(shape) for shape in shapes)
        self.m, self.v = np.zeros(total, dtype), np.zeros(total, dtype)
        self.g, self.t = np.empty(total, dtype), np.empty(total, dtype)
        self.m_views, self.v_views, self.g_views, self.t_views = [], [], [], []
        start = 0
        for shape in shapes:
            end = start + math.prod(shape)
            for flat, views in ((self.m, self.m_views), (self.v, self.v_views),
                                (self.g, self.g_views), (self.t, self.t_views)):
                views.append(flat[start:end].reshape(shape))
            start = end


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


def _update_moments(g, m, v, t, beta1: float, beta2: float) -> None:
    """Adam's moments in place, t a scratch array of g's shape: m += (1 - beta1) (g - m),
    then v += (1 - beta2) g g, in that order of operations (PyTorch's lerp and addcmul)."""
    np.subtract(g, m, out=t)
    t *= 1 - beta1
    m += t
    v *= beta2
    np.multiply(g, 1 - beta2, out=t)
    t *= g
    v += t
