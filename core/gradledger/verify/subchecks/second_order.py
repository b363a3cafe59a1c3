"""Second-order sub-checks: the rule differentiated by the tape (`create_graph=True`)
against nudges of the op's own first-order rule (see gradledger.verify.second)."""

from __future__ import annotations

from typing import TYPE_CHECKING

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
    if c.op.order is not None and c.op.order < 2:
        return None
    from ..second import second_order as nudge_second

    def outputs_of(*args):
        return c.call(args)

    scales = {i: clear_of_zero(c.scales[i], c.arrays[i]) for i in c.wrt}
    try:
        found = nudge_second(outputs_of, c.arrays, c.wrt, c.u_parts, scales,
                             c.rng, ACCEPT)
    except Exception as error:
        return c.fail("second order", f"differentiating the rule (create_graph=True) "
                          f"raised {type(error).__name__}: {error}", cotangent=c.u)
    estimate, analytic, terms = found
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


ROWS = (
    SubCheck("second order", "second order", "nudges of the op's own first-order rule",
             second_order, float64_only=True),
)
