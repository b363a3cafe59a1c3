"""Undo numpy broadcasting on a gradient: the bookkeeping half of every broadcasting op."""

from __future__ import annotations

import numpy as np


def unbroadcast(grad, shape: tuple):
    """Sum `grad` over the axes that broadcasting stretched, so that it has `shape`.

    An input of shape (3, 1) broadcast against (4,) produced an output of shape
    (3, 4): each of its elements reached the loss through four outputs, so its
    grad is the sum over those four. Raises ValueError when `grad` could not have
    come from broadcasting `shape`.
    """
    grad_shape = np.shape(grad)
    if grad_shape == shape:
        return grad
    extra = len(grad_shape) - len(shape)
    if extra < 0 or any(n != 1 and n != grad_shape[extra + k] for k, n in enumerate(shape)):
        raise ValueError(f"a gradient of shape {grad_shape} cannot be reduced to shape {shape}")
    axes = tuple(range(extra)) + tuple(
        extra + k for k, n in enumerate(shape) if n == 1 and grad_shape[extra + k] != 1
    )
    if type(grad) is np.ndarray:  # np.sum's own reduction, without its layers of dispatch
        summed = np.add.reduce(grad, axis=axes, keepdims=True) if axes else grad
        summed = summed.reshape(shape)
    else:  # a Tensor (a rule running for create_graph): through its registered ops
        summed = np.sum(grad, axis=axes, keepdims=True) if axes else grad
        summed = np.reshape(summed, shape)
    return summed[()] if summed.ndim == 0 else summed
