"""`gl.nn.utils`: gradient clipping, as `torch.nn.utils`."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from ..tensor import Tensor, as_data

__all__ = ["clip_grad_norm_", "clip_grad_value_"]


def _tensors(parameters, what: str) -> list[Tensor]:
    if hasattr(parameters, "parameters") and callable(parameters.parameters):
        parameters = parameters.parameters()
    if isinstance(parameters, Tensor):
        return [parameters]
    if not isinstance(parameters, Iterable):
        raise TypeError(
            f"{what}: expected a gl.Tensor, an iterable of them or a gl.nn.Module; "
            f"got {type(parameters).__name__}"
        )
    parameters = list(parameters)
    for i, w in enumerate(parameters):
        if not isinstance(w, Tensor):
            raise TypeError(f"{what} parameter {i}: expected a gl.Tensor; got {type(w).__name__}")
    return parameters


def _scale_grad(w: Tensor, factor) -> None:
    """w.grad *= factor, in place when the ledger's array may be written."""
    grad = w.grad
    if grad.__class__ is np.ndarray and grad.flags.writeable:
        grad *= factor
    else:
        w.grad = as_data(np.asarray(grad * factor, dtype=np.result_type(grad)))


def clip_grad_norm_(parameters, max_norm: float, norm_type: float = 2.0,
                    error_if_nonfinite: bool = False) -> np.float64:
    """Scale the grads of `parameters` together so that their joint norm is at most max_norm.

    As `torch.nn.utils.clip_grad_norm_`: total = the norm_type-norm of the per-tensor
    norms (the norm of all grads as one vector; norm_type may be inf), then every grad
    is multiplied by min(1, max_norm / (total + 1e-6)). Parameters without grad are
    skipped. Returns the total norm before clipping (a numpy float64). A non-finite
    total raises with `error_if_nonfinite=True`; otherwise the grads become NaN, as
    PyTorch's do.
    """
    if isinstance(max_norm, bool) or not isinstance(max_norm, (int, float, np.floating)) or \
            not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_ max_norm: expected a number >= 0; got {max_norm!r}")
    norm_type = float(norm_type)
    if not norm_type > 0:
        raise ValueError(f"clip_grad_norm_ norm_type: expected a number > 0 or inf; "
                         f"got {norm_type!r}")
    with_grad = [w for w in _tensors(parameters, "clip_grad_norm_") if w.grad is not None]
    if not with_grad:
        return np.float64(0.0)
    norms = np.array([_norm(np.asarray(w.grad, dtype=np.float64), norm_type)
                      for w in with_grad])
    total = np.float64(_norm(norms, norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise FloatingPointError(
            f"clip_grad_norm_: the total {norm_type}-norm of the gradients is {total}, so they "
            "cannot be clipped; pass error_if_nonfinite=False to clip anyway (giving NaN grads)"
        )
    factor = min(max_norm / (total + 1e-6), 1.0)
    for w in with_grad:
        _scale_grad(w, factor)
    return total


def _norm(values: np.ndarray, norm_type: float) -> float:
    if norm_type == math.inf:
        return np.max(np.abs(values)) if values.size else 0.0
    if norm_type == 2.0:
        flat = values.ravel()
        return math.sqrt(np.dot(flat, flat))
    return np.sum(np.abs(values) ** norm_type) ** (1.0 / norm_type)


def clip_grad_value_(parameters, clip_value: float) -> None:
    """Clip every grad of `parameters` into [-clip_value, clip_value], in place."""
    if isinstance(clip_value, bool) or not isinstance(clip_value, (int, float)) or \
            not clip_value >= 0:
        raise ValueError(f"clip_grad_value_ clip_value: expected a number >= 0; "
                         f"got {clip_value!r}")
    for w in _tensors(parameters, "clip_grad_value_"):
        if w.grad is not None:
            w.grad = as_data(np.clip(w.grad, -clip_value, clip_value))
