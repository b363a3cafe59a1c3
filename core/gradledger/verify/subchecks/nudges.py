"""Nudge sub-checks: the rule against the seed's nudge method on the forward rule
(directional derivatives, the per-element loop, and op(x, x) for binary ops)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import numpy as np

from ...tape import apply
from ...tensor import Tensor, as_data
from .. import numeric
from ..compare import compare_elements, compare_scalar, steer
from .base import SubCheck

if TYPE_CHECKING:
    from ..checks import Checker
    from ..report import Failure

from ..checks import ACCEPT, JACOBIAN_MAX, WORST_ELEMENT_MAX  # noqa: E402

REFINE = (2, 4, 8)
"""On a would-be failure, the nudge is refined to these fractions of its step,"""
FURTHER = (16, 32, 64, 128, 256, 512, 1024)
"""and on to these while each refined estimate comes at least APPROACH nearer the rule
than the one before: a function curved on a scale far below the step (lstsq's singular
values 1e-4 apart: 13, 27, 60, 128 at h to h/8, the rule's 218 at h/1000) is followed to
where the estimates settle, and estimates that settle away from the rule stop it."""
APPROACH = 0.9


def steps(distances: list) -> Iterator[int]:
    """The refinements k (a step h/k) of a would-be failure: REFINE, then FURTHER while the
    latest estimate came at least 10% nearer the rule; `distances` is |estimate - rule| at
    each step so far, h's first, which the caller appends as it goes."""
    yield from REFINE
    for k in FURTHER:
        if len(distances) < 2 or not distances[-1] < APPROACH * distances[-2]:
            return
        yield k


def sequence_text(ks: list, values: list) -> str:
    """"h: 13.1, h/2: 27.2, ..." for the estimates at the steps h/k tried."""
    return ", ".join(f"h/{k}: {x:.10g}" if k > 1 else f"h: {x:.10g}"
                     for k, x in zip(ks, values, strict=False) if x is not None)


def directional(c: Checker) -> Failure | None:
    v = {i: as_data(c.rng.uniform(-1.0, 1.0, np.shape(c.grads[i])) * c.scales[i])
         for i in c.wrt}
    products = [np.asarray(c.grads[i], dtype=np.float64) * v[i] for i in c.wrt]
    analytic = float(sum(np.sum(p) for p in products))
    terms = float(sum(np.sum(np.abs(p)) for p in products))

    def accept(value, roundoff):
        return abs(value - analytic) <= ACCEPT * (numeric.RTOL * terms + roundoff)

    estimate, failure = c.nudged("directional", lambda: numeric.directional(
        c.forward_rule, c.arrays, c.wrt, c.u, v, accept=accept))
    if failure is not None:
        return failure
    # the nudged point x + t v is itself rounded, by eps |x| per element
    rounded = numeric.ROUNDOFF * numeric.EPS * float(sum(
        np.sum(np.abs(c.grads[i]) * np.abs(c.arrays[i])) for i in c.wrt))
    rounded /= numeric.STEP
    estimate = numeric.Estimate(estimate.value, estimate.truncation,
                                estimate.roundoff + rounded)
    result = compare_scalar(estimate, analytic, terms)
    sequence, ks, distances = [estimate.value], [1], [abs(estimate.value - analytic)]
    if result.failed:
        # a nudge that checks itself: refine the step; a rule the estimates converge to
        # passes (the first step sat in a region its error bars do not model)
        for k in steps(distances):
            refined, failure = c.nudged("directional", lambda k=k: numeric.directional(
                c.forward_rule, c.arrays, c.wrt, c.u, v, h=numeric.STEP / k))
            if failure is not None:
                break
            sequence.append(refined.value)
            ks.append(k)
            distances.append(abs(refined.value - analytic))
            refined = numeric.Estimate(refined.value, refined.truncation,
                                       refined.roundoff + rounded * k)
            again = compare_scalar(refined, analytic, terms)
            if not again.failed:
                result = again
                break
    if c.stats is not None and not result.failed:
        c.stats.record(result.abs_error, result.rel_error, result.fraction)
        c.stats.approach("directional", result.fraction)
        if c.stats.steer:
            steer(result.fraction)
    if not result.failed:
        return None
    worst = None
    if c.size() <= WORST_ELEMENT_MAX:
        worst, failure = c.nudged("directional", c.elements)
        if failure is not None:
            return failure
    message = (f"<u, J v> by the nudge method is {estimate.value:.10g}; the rule's "
               f"sum_i <grad_i, v_i> is {analytic:.10g} (the nudge refined, "
               f"{sequence_text(ks, sequence)}: the estimates do not come to the rule)")
    failure = c.fail("directional", message, result, **c.how_plain(worst))
    if worst is not None:
        failure.worst = worst.worst
        failure.numeric, failure.analytic = worst.numeric, worst.analytic
        failure.max_abs_error = max(failure.max_abs_error, worst.abs_error)
    return failure


def closed_edge(c: Checker) -> Failure | None:
    """Elements exactly on a closed domain bound (`Closed`), which the central nudges leave
    alone: each nudged one-sidedly into the domain (`numeric.one_sided`, Richardson on h
    and h/2), against the grad the rule booked there."""
    steps = {i: numeric.edge_steps(c.arrays[i], c.plan.interval(i), c.plan.kinks(i))
             for i in c.wrt}
    steps = {i: s for i, s in steps.items() if np.any(s)}
    if not steps:
        return None
    analytics = {i: np.asarray(c.grads[i], dtype=np.float64) for i in steps}

    def estimates(h):
        base = numeric._inner(c.u, c.forward_rule(*c.arrays))
        numerics, bars = {}, {}
        for i, s in steps.items():
            numerics[i] = analytics[i].copy()  # elements off the bound: not compared here
            bars[i] = np.zeros(np.shape(s))
            x = np.asarray(c.arrays[i], dtype=np.float64)
            for index in (k for k in np.ndindex(np.shape(s)) if s[k] != 0):
                found = numeric.one_sided(c.forward_rule, c.arrays, i, index, c.u, s[index],
                                          h=h, base=base)
                numerics[i][index] = found.value
                # the nudged point is itself rounded, by eps |x| (as the other rows)
                bars[i][index] = found.error_bar + numeric.ROUNDOFF * numeric.EPS * abs(
                    analytics[i][index]) * abs(x[index]) / (h * abs(s[index]))
        return numerics, bars

    found, failure = c.nudged("closed edge", lambda: estimates(numeric.STEP))
    if failure is not None:
        return failure
    result = compare_elements(*found, analytics)
    sequence = [result.worst]
    if result.failed:  # refine the step before failing, as the directional row does
        for k in REFINE:
            refined, failure = c.nudged("closed edge",
                                        lambda k=k: estimates(numeric.STEP / k))
            if failure is not None:
                break
            again = compare_elements(*refined, analytics)
            sequence.append(again.worst)
            if not again.failed:
                result = again
                break
    if c.stats is not None and not result.failed:
        c.stats.approach("closed edge", result.fraction)
    if not result.failed:
        return None
    w = result.worst
    if np.isfinite(result.fraction) and result.fraction > 0:  # the worst element's own
        result.tolerance = abs(w.numeric - w.analytic) / result.fraction
    refined = ", ".join(f"h/{k}: {x.numeric:.10g}" if k > 1 else f"h: {x.numeric:.10g}"
                        for k, x in zip((1, *REFINE), sequence, strict=False))
    message = (f"element {w.index or '()'} of input x{w.input} sits on its closed domain bound "
               f"{float(c.arrays[w.input - 1][w.index]):.10g}; nudged one-sidedly into the "
               f"domain it gives {w.numeric:.10g} ({refined}); the rule booked {w.analytic:.10g}")
    return c.fail("closed edge", message, result, reference="one-sided nudges into the "
                  "domain of the forward rule", **c.how_plain(result))


def jacobian(c: Checker) -> Failure | None:
    if c.size() > JACOBIAN_MAX:
        return None
    result, failure = c.nudged("jacobian", c.elements)
    if failure is not None:
        return failure
    first = result.worst
    sequence, ks = [None if first is None else first.numeric], [1]
    distances = [np.inf if first is None else abs(first.numeric - first.analytic)]
    if result.failed:  # refine the step before failing, as the directional row does
        for k in steps(distances):
            refined, failure = c.nudged("jacobian", lambda k=k: c.elements(numeric.STEP / k))
            if failure is not None:
                break
            if not refined.failed:
                result = refined
                break
            # the element that failed first, at the finer step
            value = (float(refined.numeric[first.index]) if (
                first is not None and refined.worst is not None
                and refined.worst.input == first.input) else None)
            sequence.append(value)
            ks.append(k)
            distances.append(np.inf if value is None else abs(value - first.analytic))
    if c.stats is not None and not result.failed:
        c.stats.approach("jacobian", result.fraction)
    if not result.failed:
        return None
    w = result.worst
    message = (f"the nudge loop gives {w.numeric:.10g} for element {w.index or '()'} of "
               f"input x{w.input}; the rule booked {w.analytic:.10g} (the nudge refined, "
               f"{sequence_text(ks, sequence)}: the estimates do not come to the rule)")
    return c.fail("jacobian", message, result, **c.how_plain(result))


def reused_input(c: Checker) -> Failure | None:
    shared = c.shared
    if shared is None or c.multi:
        return None
    if c.ex.params and any(np.shape(a) != np.shape(shared) for a in c.arrays):
        return None  # the params were drawn for the inputs' shapes, not for x's
    if c.ex.large and any(np.size(a) < np.size(shared) for a in c.arrays):
        # A stretched example whose other operands the sampler kept small (outer, kron:
        # the output is their product): op(x, x) would stretch every operand, an output
        # of millions of elements (1,247 x 6 numbers made 2.6 GiB). Small examples check
        # op(x, x) for these ops.
        return None
    bounds = c.plan.shared
    if bounds is not None:  # x must lie in both inputs' declared domains (a sampled op's
        values = np.asarray(shared, dtype=np.float64)  # shared x is one drawn input)
        if (bounds[0] is not None and np.any(values <= bounds[0])) or (
                bounds[1] is not None and np.any(values >= bounds[1])):
            return None
    how = {"call": "shared", "shared": shared}
    x = Tensor(shared, requires_grad=True)
    try:
        y = apply(c.op, (x, x), c.params)
    except Exception as error:
        return c.fail("accumulation", f"op(x, x) raised {type(error).__name__}: {error}",
                          **how)
    if not np.all(np.isfinite(y.data)):
        return None  # op(x, x) is undefined here (div at x = 0): nothing to accumulate
    u = as_data(c.rng.uniform(-1.0, 1.0, np.shape(y.data)))
    how["cotangent"] = u
    try:
        y.backward(u)
    except Exception as error:
        return c.fail("accumulation", f"backward of op(x, x) raised "
                          f"{type(error).__name__}: {error}", **how)
    grad = np.zeros(np.shape(shared)) if x.grad is None else np.asarray(x.grad)
    scale = numeric.element_scale(shared, bounds, c.plan.kinks(0) + c.plan.kinks(1))
    v = as_data(c.rng.uniform(-1.0, 1.0, np.shape(shared)) * scale)

    def twice(z):
        return c.forward_rule(z, z)

    analytic = float(np.sum(grad * v))
    terms = float(np.sum(np.abs(grad * v)))
    estimate, failure = c.nudged("accumulation", lambda: numeric.directional(
        twice, [shared], (0,), u, {0: v},
        accept=lambda value, roundoff: abs(value - analytic)
        <= ACCEPT * (numeric.RTOL * terms + roundoff)))
    if failure is not None:
        return failure
    result = compare_scalar(estimate, analytic, terms)
    if not result.failed:
        return None
    if np.size(shared) <= WORST_ELEMENT_MAX:
        try:
            numerics, bars = numeric.per_element(twice, [shared], 0, u, scale)
        except Exception:  # the scalar comparison above is the finding; keep it
            numerics = None
        if numerics is not None:
            elements = compare_elements({0: numerics}, {0: bars}, {0: grad})
            result.worst, result.numeric, result.analytic = (
                elements.worst, elements.numeric, elements.analytic)
            how["expected"] = {"x1": elements.numeric}
    return c.fail(
        "accumulation", "op(x1, x1), one tensor passed as both inputs, did not book the sum "
        f"of both paths: the nudge method on x -> op(x, x) gives <u, J v> = "
        f"{estimate.value:.10g}, the booked grad gives {analytic:.10g}", result,
        reference="the nudge method on x -> op(x, x)", **how)


ROWS = (
    SubCheck("directional", "nudges", "<u, J v> by the nudge method (Richardson) on the "
             "forward rule", directional),
    SubCheck("jacobian", "nudges", "the nudge loop over every element of the forward rule",
             jacobian, float64_only=True),
    SubCheck("closed edge", "nudges", "one-sided nudges (Richardson) of the forward rule, "
             "into the domain, of each element on a closed domain bound", closed_edge,
             float64_only=True),
    SubCheck("accumulation", "nudges", "the nudge method on x -> op(x, x)", reused_input,
             float64_only=True),
)
