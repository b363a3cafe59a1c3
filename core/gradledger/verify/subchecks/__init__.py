"""The sub-check table, one module per family; adding a check is adding a row.

Order matters: the contract rows set up the leaves, outputs, cotangents and grads the
others compare with; `vs float64` sets up the example's own-dtype results that the frozen
inputs row compares with.
"""

from __future__ import annotations

from . import contract, dtypes, nudges, saved, second_order, variants
from .base import SubCheck

TABLE: tuple[SubCheck, ...] = (
    contract.ROWS[0],
    contract.ROWS[1],
    variants.PARAMS_UNCHANGED,
    *saved.ROWS,
    *nudges.ROWS,
    variants.FAN_IN,
    variants.LINEARITY,
    *dtypes.ROWS,
    variants.FROZEN,
    variants.OUTPUTS_ALONE,
    variants.NON_CONTIGUOUS,
    variants.DEFAULTS,
    variants.BROADCAST,
    *second_order.ROWS,
)

__all__ = ["TABLE", "SubCheck"]
