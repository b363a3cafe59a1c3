"""Second-order sub-checks: the rule differentiated by the tape (`create_graph=True`)
against nudges of the op's own first-order rule (see gradledger.verify.second)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..compare import clear_of_zero, compare_scalar
from .base import SubCheck

if TYPE_CHECKING:
    from ..checks import Checker
    from ..report import Failure

from ..checks import ACCEPT  # noqa: E402


def second_order(c: Checker) -> Failure | None:
    """The recorded booking (`create_graph=True`) differentiated once more, against
    nudges of the first-order rule: see gradledger.verify.second. Skipped for an op
    that declares `order=1` (its rules do not claim to differentiate)."""
    if not c.plan.second_order or (c.stats is not None and c.stats.second_unchecked):
        return None
    from ..second import RuleNotOnTensors
    from ..second import second_order as nudge_second

    def outputs_of(*args):
        return c.call(args)

    scales = {i: clear_of_zero(c.scales[i], c.arrays[i]) for i in c.wrt}
    try:
        found = nudge_second(outputs_of, c.arrays, c.wrt, c.u_parts, scales,
                             c.rng, ACCEPT)
    except RuleNotOnTensors as why:
        if c.stats is not None:
            c.stats.second_unchecked = unchecked_note(c.op, why.error)
        return None
    except Exception as error:
        return c.fail("second order", f"differentiating the rule (create_graph=True) "
                          f"raised {type(error).__name__}: {error}", cotangent=c.u)
    estimate, analytic, terms = found
    if not np.isfinite(analytic) and np.isfinite(estimate.value):
        # the rule, differentiated as written, overflows (1 / (1 + exp(744))): what the tape
        # books there is not a wrong formula but a first-order rule not written for it
        if c.stats is not None:
            c.stats.remark("second order not checked where the rule differentiated by the "
                           "tape is not finite (its first order is)")
        return None
    result = compare_scalar(estimate, analytic, terms)
    if c.stats is not None and not result.failed:
        c.stats.approach("second order", result.fraction)
    if not result.failed:
        return None
    message = (f"<w, H v>: the rule differentiated by the tape gives {analytic:.10g}; "
               f"nudging the first-order rule gives {estimate.value:.10g}")
    return c.fail("second order", message, result,
                      reference="nudges of the op's own first-order rule",
                      cotangent=c.u)


def unchecked_note(op, error: Exception) -> str:
    """The verdict's scope when the rule cannot run on Tensors: what raised, how to fix."""
    return (f"first order verified; second order not checked: its rule cannot run on "
            f"Tensors (create_graph=True raised {type(error).__name__}: {error}). To have it "
            "checked, write the rule with numpy functions and operators that registered ops "
            "stand for (`gradledger ops` lists them); or declare order=1 in the Op(...) of "
            f"{op.name!r}, so that create_graph=True through it raises naming the op")


ROWS = (
    SubCheck("second order", "second order", "nudges of the op's own first-order rule",
             second_order, float64_only=True),
)
