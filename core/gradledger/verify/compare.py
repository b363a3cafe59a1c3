"""Comparisons the sub-checks make: a nudge estimate against a rule, grads against grads,
a low-precision result against float64. Each returns a `Comparison` whose `fraction`
(worst error / tolerance) above 1 fails. Plain numpy; nothing here imports hypothesis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import numeric
from .report import WorstElement

EXACT_RTOL = 1e-12
"""Tolerance of checks that compare grads with grads (fan-in, linearity, frozen inputs) in
float64: exact up to rounding. In another dtype: 16 eps of it. Both with a floor of 16 times
the dtype's smallest normal number, so that subnormal grads never fail on "tolerance 0"."""
NOISE_FACTOR = 64.0
"""vs float64: the float32 result may be off by this many times how far float32 rounding of
the inputs and the output moves the float64 result, plus LOW_RTOL of its size."""
LOW_RTOL_ULPS = 32.0
"""vs float64: the relative part of the tolerance, in units of the dtype's eps, applied to
each element's size plus 1e-3 of the largest element's."""


@dataclass
class Comparison:
    """Numeric against analytic, with the tolerance that decides."""

    numeric: object
    analytic: object
    abs_error: float
    rel_error: float
    fraction: float  # worst |error| / tolerance; above 1 fails
    worst: WorstElement | None = None
    tolerance: float | None = None

    @property
    def failed(self) -> bool:
        return not self.fraction <= 1.0


def scalar_tolerance(terms: float, error_bar: float) -> float:
    """RTOL of the terms' size plus the estimate's error bars, never below a tiny floor."""
    return numeric.RTOL * terms + error_bar + TINY


TINY = 16 * float(np.finfo(np.float64).tiny)


def compare_scalar(estimate: numeric.Estimate, analytic: float, terms: float) -> Comparison:
    """A directional derivative against `<grad, v>`; `terms` is sum |grad * v|."""
    tolerance = scalar_tolerance(terms, estimate.error_bar)
    error = abs(estimate.value - analytic)
    size = max(abs(estimate.value), abs(analytic))
    rel = error / size if size > 0 else (0.0 if error == 0 else np.inf)
    fraction = _fraction(error, tolerance)
    return Comparison(estimate.value, analytic, error, rel, fraction, tolerance=tolerance)


def compare_elements(numerics: dict, bars: dict, analytics: dict) -> Comparison:
    """Per-element grads against the nudge loop; names the worst element."""
    largest = max((float(np.max(np.abs(a), initial=0.0)) for a in analytics.values()), default=0.0)
    worst, best_fraction, abs_error, rel_error = None, -1.0, 0.0, 0.0
    worst_i = None
    for i, num in numerics.items():
        ana = np.asarray(analytics[i], dtype=np.float64)
        error = np.abs(num - ana)
        size = np.maximum(np.abs(num), np.abs(ana))
        tolerance = numeric.RTOL * size + bars[i] + numeric.FLOOR * largest + TINY
        with np.errstate(divide="ignore", invalid="ignore"):
            fractions = np.where(error == 0, 0.0, error / tolerance)
            rels = np.where(error == 0, 0.0, error / size)
        fractions = np.where(np.isnan(fractions), np.inf, fractions)
        if error.size == 0:
            continue
        abs_error = max(abs_error, float(np.nanmax(np.where(np.isnan(error), np.inf, error))))
        rel_error = max(rel_error, float(np.nanmax(np.where(np.isnan(rels), np.inf, rels))))
        k = np.unravel_index(int(np.argmax(fractions)), np.shape(num))
        if fractions[k] > best_fraction:
            best_fraction, worst_i = float(fractions[k]), i
            worst = WorstElement(i + 1, tuple(int(j) for j in k), float(num[k]), float(ana[k]))
    if worst_i is None:
        return Comparison(None, None, 0.0, 0.0, 0.0)
    return Comparison(numerics[worst_i], np.asarray(analytics[worst_i]), abs_error, rel_error,
                      best_fraction, worst)


def _fraction(error: float, tolerance: float) -> float:
    if error == 0:
        return 0.0
    if not np.isfinite(error) or tolerance <= 0:
        return np.inf
    return error / tolerance



def low_comparison(got: dict, want: dict, noise: dict, dtype, unit: float = 0.0,
                   sums: dict | None = None) -> Comparison:
    """Results in a low-precision dtype against float64, element by element.

    `unit` is added to each element's size: the forward compares with `unit=1`, as the
    directional check's cancellation bar does, because a forward rounds intermediate
    values of order 1 even where its output is tiny (log cosh x near 0, computed as
    |x| + log1p(exp(-2|x|)) - log 2, keeps about 7 digits of the 0.69, not of x**2 / 2);
    grads compare with `unit` = the largest cotangent element, a rule's local
    derivatives of order 1 rounded (softmax - onehot at the label: p - 1 in float32).
    """
    info = np.finfo(dtype)
    eps, tiny = float(info.eps), 16 * float(info.tiny)
    largest = max((float(np.max(np.abs(w), initial=0.0)) for w in want.values()), default=0.0)
    worst, fraction, abs_error, rel_error, worst_i = None, 0.0, 0.0, 0.0, None
    for i, g in got.items():
        g = np.asarray(g, dtype=np.float64)
        w = np.asarray(want[i], dtype=np.float64)
        error = np.abs(g - w)
        if error.size == 0:
            continue
        tolerance = (NOISE_FACTOR * noise[i]
                     + LOW_RTOL_ULPS * eps * (np.abs(w) + 1e-3 * largest + unit) + tiny)
        if sums is not None and sums.get(i, 1) > 1:
            # a grad summed over many cotangent elements (a broadcast batch) rounds each
            # partial sum: sqrt(count) roundings of the largest grad's size
            tolerance = tolerance + eps * np.sqrt(sums[i]) * float(np.max(np.abs(w), initial=0.0))
        with np.errstate(divide="ignore", invalid="ignore"):
            fractions = np.where(error == 0, 0.0, error / tolerance)
            rels = np.where(error == 0, 0.0, error / np.maximum(np.abs(w), np.abs(g)))
        fractions = np.where(np.isnan(fractions), np.inf, fractions)
        k = np.unravel_index(int(np.argmax(fractions)), np.shape(g))
        abs_error = max(abs_error, float(np.max(error)))
        rel_error = max(rel_error, float(np.max(rels)))
        if worst_i is None or fractions[k] > fraction:
            fraction, worst_i = float(fractions[k]), i
            worst = WorstElement(i + 1, tuple(int(j) for j in k), float(w[k]), float(g[k]))
            tol_k = float(tolerance[k])
    if worst_i is None:
        return Comparison(None, None, 0.0, 0.0, 0.0)
    return Comparison(np.asarray(want[worst_i]), np.asarray(got[worst_i]), abs_error, rel_error,
                      fraction, worst, tol_k)


def clear_of_zero(scale, x) -> np.ndarray:
    """The second-order check's nudge scale: the first-order one, but never across 0.

    A first-order rule built on |x| (softsign's 1 / (1 + |x|)**2) has a kink at 0 that the
    op need not declare: its forward is smooth there. An element within a nudge of 0
    (3e-65 beside a 1.0, whose RMS sets the nudge) is moved by at most half its own size,
    so the nudges of the rule stay on one side of 0; an element at 0 is not moved."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    return np.minimum(scale, x / (2 * numeric.STEP))


def same_bits(a, b) -> bool:
    """Bit for bit, so that even 0.0 turned into -0.0 counts as a change."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def floor_of(want) -> float:
    """The absolute floor of an exact comparison: 16 times the smallest normal number of
    `want`'s dtype. Below it numbers are subnormal, and their rounding is absolute, not
    relative (float32 1.4e-45 * 0.5 + 1.4e-45 is 1.4e-45 or 2.8e-45 by the order of the
    sum): a float32 vecmat at 1.4e-45 failed a thorough run on it."""
    dtype = np.asarray(want).dtype
    return 16 * float(np.finfo(dtype).tiny) if dtype.kind in "fc" else TINY


def exactly_close(got, want, rtol: float = EXACT_RTOL) -> bool:
    floor = floor_of(want)
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = float(np.max(np.abs(want), initial=0.0))
    return bool(np.all(np.abs(got - want) <= rtol * scale + floor))


def exact_comparison(got, want, i: int, rtol: float = EXACT_RTOL) -> Comparison:
    """`got` (booked) against `want` (the reference), worst element; `numeric` is the
    reference, `analytic` what was booked."""
    floor = floor_of(want)
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    error = np.abs(got - want)
    k = np.unravel_index(int(np.argmax(error)), error.shape) if error.size else ()
    size = float(np.max(np.maximum(np.abs(got), np.abs(want)), initial=0.0))
    abs_error = float(np.max(error, initial=0.0))
    worst = WorstElement(i + 1, tuple(int(j) for j in k), float(want[k]), float(got[k]))
    tolerance = rtol * float(np.max(np.abs(want), initial=0.0)) + floor
    return Comparison(want, got, abs_error, abs_error / size if size else np.inf,
                      _fraction(abs_error, tolerance), worst, tolerance)


def steer(fraction: float) -> None:
    """Steer hypothesis towards examples where the error comes closest to the tolerance.

    An exact agreement (fraction 0: a linear op whose arithmetic is exact, a third of
    trace's and extract's examples) says nothing about where errors grow, and is not
    reported: on a plateau of equal scores hypothesis's target optimiser makes lateral
    moves through examples it has already seen, and a 2,000-example run of trace (and one
    of extract) spent ten minutes there without checking one more example."""
    if not fraction > 0:
        return
    try:
        from hypothesis import target
        from hypothesis.errors import InvalidArgument
    except ImportError:  # pragma: no cover - checks also run without hypothesis (gradcheck)
        return
    try:
        target(float(min(fraction, 1e300)), label="directional error / tolerance")
    except InvalidArgument:  # not inside a hypothesis test
        pass
