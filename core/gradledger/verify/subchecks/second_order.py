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
    zeros = {i: np.where(np.asarray(c.arrays[i]) == 0, c.scales[i], 0.0) for i in c.wrt}
    try:
        found = nudge_second(outputs_of, c.arrays, c.wrt, c.u_parts, scales,
                             c.rng, ACCEPT, zeros=zeros)
    except RuleNotOnTensors as why:
        if c.stats is not None:
            c.stats.second_unchecked = unchecked_note(c.op, why.error)
        return None
    except Exception as error:
        return c.fail("second order", f"differentiating the rule (create_graph=True) "
                          f"raised {type(error).__name__}: {error}", cotangent=c.u)
    estimate, analytic, terms, at_zero, directions, moving_u = found
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
    if result.failed:
        message = (f"<w, H v>: the rule differentiated by the tape gives {analytic:.10g}; "
                   f"nudging the first-order rule gives {estimate.value:.10g}")
        return _second_failure(c, message, result, directions, directions["v"], {})
    reference_u, analytic_u, terms_u = moving_u
    result = compare_scalar(reference_u, analytic_u, terms_u)
    if c.stats is not None and not result.failed:
        c.stats.approach("second order", result.fraction)
    if result.failed:
        message = (f"<w, d(J^T u)/du du>, the cotangent moved: the rule differentiated by "
                   f"the tape gives {analytic_u:.10g}; the first-order rule run with du gives "
                   f"{reference_u.value:.10g} (it is linear in u): a rule that reads "
                   "out_grad.data (np.add.at) cuts its second derivative")
        failure = _second_failure(c, message, result, directions,
                                  {i: np.zeros(np.shape(c.arrays[i])) for i in c.wrt},
                                  directions["du"])
        failure.reference = "the first-order rule run with the cotangent du"
        return failure
    if at_zero is None:
        return None
    estimate, analytic, terms, v0 = at_zero
    result = compare_scalar(estimate, analytic, terms)
    if c.stats is not None and not result.failed:
        c.stats.approach("second order", result.fraction)
    if not result.failed:
        return None
    message = (f"<w, H v> at the inputs that are exactly 0, nudged on both sides (the sides "
               f"agree): the rule differentiated by the tape gives {analytic:.10g}; nudging "
               f"the first-order rule gives {estimate.value:.10g}")
    return _second_failure(c, message, result, directions, v0, {})


def _second_failure(c: Checker, message, result, directions, v, du) -> Failure:
    failure = c.fail("second order", message, result,
                     reference="nudges of the op's own first-order rule", cotangent=c.u)
    try:
        failure.snippet = _second_snippet(c, directions, v, du, result.numeric)
    except Exception as error:
        failure.snippet = f"# no snippet: {type(error).__name__}: {error}"
    return failure


def _second_snippet(c: Checker, directions, v, du, expected) -> str:
    """A program that differentiates the rule as the check did (create_graph=True) and
    prints <w, d(J^T u)> along (v, du): the number the report calls the tape's."""
    from ..report import literal, snippet

    base = snippet(c.op, c.arrays, c.op.constants, c.params_at_start).splitlines()[:-1]
    outs = "outs" if c.multi else "[out]"
    xs = ", ".join(f"x{i + 1}" for i in c.wrt)
    moved = directions["moved_u"]
    u = ", ".join("None" if p is None else f"gl.tensor({literal(p)}, requires_grad=True)"
                  for p in c.u_parts)
    lines = [*base, f"u = [{u}]  # the cotangents: they move too"]
    lines.append(f"firsts = gl.grad([{outs}[k] for k in {moved!r}], [{xs}], "
                 f"[u[k] for k in {moved!r}], create_graph=True, allow_unused=True)")
    lines.append("w = [" + ", ".join(literal(directions["w"][i]) for i in c.wrt) + "]")
    lines.append("total = sum(gl.sum(g * wi) for g, wi in zip(firsts, w) if g is not None)")
    lines.append(f"moving = [{xs}] + [u[k] for k in {moved!r}]")
    lines.append("seconds = (gl.grad(total, moving, allow_unused=True)"
                 " if getattr(total, 'requires_grad', False) else [None] * len(moving))")
    dirs = [literal(v[i]) for i in c.wrt] + [
        literal(du[k]) if k in du else f"np.zeros_like(u[{k}].data)" for k in moved]
    lines.append("v = [" + ", ".join(dirs) + "]  # the direction (inputs, then cotangents)")
    lines.append("hvp = float(sum(np.sum(np.asarray(s.data) * d) for s, d in zip(seconds, v)"
                 " if s is not None))")
    lines.append(f"print(hvp)  # nudging the first-order rule gives {float(expected):.10g}")
    return "\n".join(lines)


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
