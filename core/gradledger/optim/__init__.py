"""Optimisers: learning is stepping downhill (the seed's section 5).

    for w in parameters:
        w.data -= learning_rate * w.grad
        w.grad = 0            # clear the ledger for the next round

`SGD(params, lr).step()` is that loop; `zero_grad()` clears the ledger. `Adam`,
`AdamW`, parameter groups and `lr_scheduler` follow PyTorch's names and update rules.

To the last bit: the optimisers compute PyTorch's operations in PyTorch's order, but
PyTorch's CPU kernels round `a + s * b` once (a fused multiply-add) where numpy rounds
twice, so about one element in ten differs from PyTorch by a rounding at each step
(measured against torch 2.14.1, float32 and float64: at most a few ulps per step).
The learning-rate schedules agree with PyTorch's bit for bit.
"""

from __future__ import annotations

from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]
