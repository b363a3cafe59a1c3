"""Optimisers: learning is stepping downhill (the seed's section 5).

    for w in parameters:
        w.data -= learning_rate * w.grad
        w.grad = 0            # clear the ledger for the next round

`SGD(params, lr).step()` is that loop; `zero_grad()` clears the ledger. `Adam`,
`AdamW`, parameter groups and `lr_scheduler` follow PyTorch's names and update rules.
"""

from __future__ import annotations

from . import lr_scheduler
from .adam import Adam, AdamW
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["SGD", "Adam", "AdamW", "Optimizer", "lr_scheduler"]
