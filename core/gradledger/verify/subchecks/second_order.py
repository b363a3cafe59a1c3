"""Second-order sub-checks: the rule differentiated by the tape (`create_graph=True`)
against nudges of the op's own first-order rule (see gradledger.verify.second)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ..compare import TINY, Comparison, clear_of_zero, compare_scalar
from .base import SubCheck

if TYPE_CHECKING:
    from ..checks import Checker
    from ..report import Failure

from ..checks import ACCEPT  # noqa: E402
from ..numeric import STEP, Estimate  # noqa: E402
from ..second import (  # noqa: E402
    RULE_SPREAD,
    SYMMETRY_MOVES,
    SYMMETRY_SPREAD,
    asymmetry_spread,
)
from .nudges import sequence_text, steps  # noqa: E402


def _differentiated(c: Checker):
    """The rule differentiated by the tape, and the nudges to compare it with (computed
    once per example, by the first of the two rows): `(found, None)`, `(None, Failure)`,
    or `(None, None)` when second order is not checked."""
    if not c.plan.second_order or (c.stats is not None and c.stats.second_unchecked):
        return None, None
    if getattr(c, "second_found", None) is not None:
        return c.second_found, None
    from ..second import RuleNotOnTensors
    from ..second import second_order as nudge_second

    def outputs_of(*args):
        return c.call(args)

    scales = {i: clear_of_zero(c.scales[i], c.arrays[i]) for i in c.wrt}
    zeros = {i: np.where(np.asarray(c.arrays[i]) == 0, c.scales[i], 0.0) for i in c.wrt}
    try:
        found = nudge_second(outputs_of, c.arrays, c.wrt, c.u_parts, scales,
                             c.rng, ACCEPT, zeros=zeros, sym_scales=c.scales,
                             du_scale=c.u_factor)
    except RuleNotOnTensors as why:
        if c.stats is not None:
            c.stats.second_unchecked = unchecked_note(c.op, why.error)
        return None, None
    except Exception as error:
        return None, c.fail("second order", f"differentiating the rule (create_graph=True) "
                            f"raised {type(error).__name__}: {error}", cotangent=c.u)
    c.second_found = found
    return found, None


def symmetry(c: Checker) -> Failure | None:
    """<s, H w> against <w, H s>: the Hessian the tape books must be symmetric (no nudge,
    so it sees the point as it is: an exact 0, a kink)."""
    found, failure = _differentiated(c)
    if found is None:
        return failure
    directions = found[4]
    if "symmetry" not in directions:
        return None
    s_hw, w_hs, bar, s = directions["symmetry"]
    if not (np.isfinite(s_hw) and np.isfinite(w_hs)):
        return None  # the rule differentiated overflows: the second-order row says so
    error = abs(s_hw - w_hs)
    tolerance = bar + TINY
    fraction = 0.0 if error == 0 else error / tolerance
    spread = None
    if fraction > 1.0:  # about to fail: measure the rounding of the two products
        spread = asymmetry_spread(directions, s_hw - w_hs)
        tolerance += SYMMETRY_SPREAD * spread
        fraction = error / tolerance
    if fraction > 1.0 and directions.get("underflow"):
        if c.stats is not None:  # not judged: said in the report, never counted a pass
            c.stats.remark("symmetry not judged: the Hessian products underflowed (inputs "
                           "near the smallest normal number round to subnormals or 0)")
        return None
    if c.stats is not None and fraction <= 1.0:
        c.stats.approach("symmetry", fraction)
    if fraction <= 1.0:
        return None
    size = max(abs(s_hw), abs(w_hs))
    result = Comparison(s_hw, w_hs, error, error / size if size else np.inf, fraction,
                        tolerance=tolerance)
    moves = ", ".join(f"{k:+d}" for k in SYMMETRY_MOVES)
    message = (f"the Hessian the tape books is not symmetric: <s, H w> = {s_hw:.10g}, "
               f"<w, H s> = {w_hs:.10g} (H: the rule differentiated by the tape, "
               "create_graph=True; a rule whose grads are constants somewhere they depend "
               "on the inputs, or that differentiates to the wrong thing, breaks it; the "
               f"difference moves by at most {spread:.3g} when the inputs are scaled by "
               f"1 + k eps, k = {moves}: its rounding)")
    failure = c.fail("symmetry", message, result,
                     reference="the same Hessian applied the other way round", cotangent=c.u)
    try:
        failure.snippet = _symmetry_snippet(c, directions["w"], s, s_hw)
    except Exception as error:
        failure.snippet = f"# no snippet: {type(error).__name__}: {error}"
    return failure


def second_order(c: Checker) -> Failure | None:
    """The recorded booking (`create_graph=True`) differentiated once more, against
    nudges of the first-order rule: see gradledger.verify.second. Skipped for an op
    that declares `order=1` (its rules do not claim to differentiate)."""
    found, failure = _differentiated(c)
    if found is None:
        return failure
    estimate, analytic, terms, at_zero, directions, moving_u = found
    if not np.isfinite(analytic) and np.isfinite(estimate.value):
        # the rule, differentiated as written, overflows (1 / (1 + exp(744))): what the tape
        # books there is not a wrong formula but a first-order rule not written for it
        if c.stats is not None:
            c.stats.remark("second order not checked where the rule differentiated by the "
                           "tape is not finite (its first order is)")
        return None
    result = compare_scalar(estimate, analytic, terms)
    sequence, ks, distances = [estimate.value], [1], [abs(estimate.value - analytic)]
    if result.failed:  # a nudge that checks itself: refine the step before failing
        for k in steps(distances):
            try:
                refined = directions["refine"](k)
            except Exception:  # the first-order rule raised at a nearer point: keep h's
                break
            sequence.append(refined.value)
            ks.append(k)
            distances.append(abs(refined.value - analytic))
            again = compare_scalar(refined, analytic, terms)
            if not again.failed:
                result = again
                break
    noise = None
    if result.failed:  # still about to fail: allow the first-order rule's measured rounding
        noise = directions["rule_noise"]() + OUT_SPREAD * _out_rounding(c, directions["w"])
        noisy = Estimate(estimate.value, estimate.truncation,
                         estimate.roundoff + RULE_SPREAD * noise / STEP)
        again = compare_scalar(noisy, analytic, terms)
        if not again.failed:
            result = again
    if c.stats is not None and not result.failed:
        c.stats.approach("second order", result.fraction)
    if result.failed:
        message = (f"<w, H v>: the rule differentiated by the tape gives {analytic:.10g}; "
                   f"nudging the first-order rule gives {estimate.value:.10g} (the nudge "
                   f"refined, {sequence_text(ks, sequence)}: the estimates do not come to "
                   "the rule; the first-order rule's own rounding along the nudge, measured "
                   f"near the step h, is {noise:.3g})")
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


OUT_SPREAD = 1.0
"""`_out_rounding` counts for this much of the rule's rounding (RULE_SPREAD is applied to
the sum)."""


def _out_rounding(c: Checker, w: dict) -> float:
    """How far `<w, g>`, the rule's grads weighed, moves when the rule reads its inputs,
    outputs and cotangents rounded once more: `sum |w| * noise` over the grads' measured
    rounding (`Checker.rounding`, the allowance of the vs float64 row and the call
    variants). logaddexp's rule exp(x - out) at x = 4987.2 and 4971.3 reads out rounded to
    9e-13 while its grads change by 1e-7 per unit, so nudging it (the grads change by 1e-11
    over the step) scattered by 1% or more. Measured once per example, and only for a
    check about to fail."""
    try:
        noise = c.rounding[1]
    except Exception:  # the rule cannot be called on its own here: nothing measured
        return 0.0
    spread = sum(float(np.sum(np.abs(w[i]) * noise[i])) for i in c.wrt if i in noise)
    return spread if np.isfinite(spread) else 0.0


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


def _symmetry_snippet(c: Checker, w, s, s_hw) -> str:
    """A program that books the Hessian as the check did and prints both products."""
    from ..report import literal, snippet

    base = snippet(c.op, c.arrays, c.op.constants, c.params_at_start).splitlines()[:-1]
    outs = "outs" if c.multi else "[out]"
    xs = ", ".join(f"x{i + 1}" for i in c.wrt)
    keep = [k for k, p in enumerate(c.u_parts) if p is not None]
    u = ", ".join(literal(c.u_parts[k]) for k in keep)
    lines = [*base, f"u = [{u}]  # the cotangents"]
    lines.append(f"firsts = gl.grad([{outs}[k] for k in {keep!r}], [{xs}], u, "
                 "create_graph=True, allow_unused=True)")
    lines.append("w = [" + ", ".join(literal(w[i]) for i in c.wrt) + "]")
    lines.append("s = [" + ", ".join(literal(s[i]) for i in c.wrt) + "]")
    lines.append("def hessian_times(d):  # H d: the rule differentiated along d")
    lines.append("    total = sum(gl.sum(g * di) for g, di in zip(firsts, d) if g is not None)")
    lines.append(f"    return gl.grad(total, [{xs}], retain_graph=True, allow_unused=True)")
    lines.append("def dot(a, b):")
    lines.append("    return float(sum(np.sum(np.asarray(h.data) * d) for h, d in zip(a, b)"
                 " if h is not None))")
    lines.append("s_h_w = dot(hessian_times(w), s)")
    lines.append("w_h_s = dot(hessian_times(s), w)")
    lines.append(f"print(s_h_w, w_h_s)  # a symmetric Hessian gives the same number twice "
                 f"(the check: {float(s_hw):.10g})")
    return "\n".join(lines)


def unchecked_note(op, error: Exception) -> str:
    """The verdict's scope when the rule cannot run on Tensors: what raised, how to fix."""
    return (f"first order verified; second order not checked: its rule cannot run on "
            f"Tensors (create_graph=True raised {type(error).__name__}: {error}). To have it "
            "checked, write the rule with numpy functions and operators that registered ops "
            "stand for (`gradledger ops` lists them); or declare order=1 in the Op(...) of "
            f"{op.name!r}, so that create_graph=True through it raises naming the op")


ROWS = (
    SubCheck("symmetry", "second order", "the same Hessian applied the other way round: "
             "<s, H w> = <w, H s>, to within rounding (no nudge)", symmetry, float64_only=True),
    SubCheck("second order", "second order", "nudges of the op's own first-order rule",
             second_order, float64_only=True),
)
