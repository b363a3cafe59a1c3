"""Contract sub-checks: the forward runs and keeps its promises; backward books one grad
per input in its shape and dtype. Reference: the op's declaration and the tape's contract."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...tensor import as_data
from ..calls import flat
from .base import SubCheck

if TYPE_CHECKING:
    from ..checks import Checker
    from ..report import Failure


def forward(c: Checker) -> Failure | None:
    return c.forward_contract(c.arrays, np.float64)


HUGE = 2.0 ** 900
"""Outputs larger than this (exp near 709) get cotangents scaled down by a power of 2, so
that <u, out>, its nudges and sums of grads stay finite; exact, so nothing else changes."""


def cotangent_scale(outs) -> float:
    """1, or the power of 2 that brings the largest output down to about HUGE."""
    big = 0.0
    for o in outs:
        data = np.asarray(o.data)
        if o.requires_grad and data.size:  # no |out| array: outputs may be huge
            big = max(big, abs(float(np.max(data))), abs(float(np.min(data))))
    if not big > HUGE or not np.isfinite(big):
        return 1.0
    return float(2.0 ** -int(np.ceil(np.log2(big / HUGE))))


def grad_contract(c: Checker) -> Failure | None:
    parts = []
    c.u_factor = factor = cotangent_scale(c.outs)
    for o in c.outs:
        if not o.requires_grad:
            parts.append(None)
            continue
        u = c.rng.uniform(-1.0, 1.0, np.shape(o.data))
        if factor != 1.0:
            u = u * factor
        if c.low:  # one cotangent for both stages: exact in the example's dtype
            u = u.astype(c.dtype).astype(np.float64)
        parts.append(as_data(u))
    c.u_parts = parts
    c.u = parts[0] if not c.multi else flat([p for p in parts if p is not None])
    failure = c.backward_contract(c.outs, c.leaves, c.args, c.arrays,
                                      c.cotangents(c.outs))
    if failure is not None:
        return failure
    c.grads = c.grads_of(c.leaves)
    return None


ROWS = (
    SubCheck("forward", "contract", "the declaration (signature or out_shape, dtypes, "
             "finite values) and the inputs as given (untouched)", forward),
    SubCheck("grad contract", "contract", "the tape's contract: one finite grad per input in "
             "its shape and dtype; cotangent and inputs untouched", grad_contract),
)
