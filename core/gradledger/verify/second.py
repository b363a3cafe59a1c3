"""Second derivatives, checked: the recorded booking against nudges of the rule itself.

For outputs weighed by a cotangent u, the first-order rule gives `g(x) = J(x)^T u`, one
grad per input. Differentiating `<w, g(x)>` again — through the tape, with the rules
running on Tensors (`create_graph=True`) — gives `H_w`, and its product with a direction
v is compared with the nudge method applied to the *first-order rule*:

    d/dt <w, g(x + t v)>  at t = 0          (central differences, Richardson)

So a wrong second derivative (a rule that is not differentiable where it claims to be,
or differentiates to the wrong thing) is caught against the op's own first-order rule,
which the other sub-checks have already held to the forward rule.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np

from ..autograd import grad, inner
from ..dtypes import mixed_dtypes
from ..tensor import Tensor, as_data
from . import numeric


class RuleNotOnTensors(Exception):
    """The first-order rule raised when run on Tensors (`create_graph=True`): its second
    derivative cannot be taken, so it cannot be checked. Not a wrong gradient: the first
    order was verified on arrays; `error` is what the rule raised."""

    def __init__(self, error: Exception) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


@contextmanager
def underflow_watch() -> Iterator[list]:
    """Inside: numpy's ufuncs report an underflow (a nonzero result rounded to a subnormal
    or to 0) by appending to the yielded list, instead of staying silent. Exact zeros are
    not underflows (0 * x is exact), so a rule's own zero paths do not count."""
    seen: list = []
    with np.errstate(under="call", call=lambda kind, flag: seen.append(kind)):
        yield seen


def second_order(outputs_of: Callable, arrays: list, wrt: list, u: list, scales: dict,
                 rng: np.random.Generator, accept_factor: float, zeros: dict | None = None,
                 sym_scales: dict | None = None, du_scale: float = 1.0):
    """`(estimate, analytic, terms, at_zero)` for `<w, d g(x, u)>` along `(v, du)`, where
    `g = J(x)^T u` is the first-order rule's grad of `outputs_of(*inputs)` (a list of
    output Tensors, one cotangent each in `u`, None for outputs without gradient).

    Both the inputs and the cotangent move (as gradgradcheck does): `d/du <w, J^T u>` along
    du is `<w, J^T du>`, so a linear op's rule that reads `out_grad.data` (its second
    derivative cut) shows. A first-order grad that does not depend on the inputs through
    the tape (a constant, or a rule that reached for `.data`) counts as 0 there, and the
    nudges say whether that is true.

    `zeros` (per input, the nudge scale of its elements that are exactly 0, 0 elsewhere):
    those elements, which the central nudges above leave alone (a rule built on |x| has a
    kink at 0 its forward need not declare), are nudged once more on each side; when the
    two one-sided estimates agree (no kink), `at_zero` is `(estimate, analytic, terms)`
    for that direction, else None.
    """
    w = {i: as_data(rng.uniform(-1.0, 1.0, np.shape(arrays[i]))) for i in wrt}
    v = {i: as_data(rng.uniform(-1.0, 1.0, np.shape(arrays[i])) * scales[i]) for i in wrt}
    floating = [k for k, uk in enumerate(u) if uk is not None]
    du = {k: as_data(rng.uniform(-1.0, 1.0, np.shape(u[k])) * du_scale) for k in floating}
    leaves = {i: Tensor(arrays[i], requires_grad=True) for i in wrt}
    u_leaves = {k: Tensor(u[k], requires_grad=True) for k in floating}
    args = [leaves.get(i, a) for i, a in enumerate(arrays)]
    try:
        with underflow_watch() as underflowed:
            outs = outputs_of(*args)
            pairs = [(outs[k], u_leaves[k]) for k in floating if outs[k].requires_grad]
            if not pairs:
                raise ValueError("no output carries a gradient")
            firsts = grad([o for o, _ in pairs], [leaves[i] for i in wrt],
                          [t for _, t in pairs], create_graph=True, allow_unused=True)
            total = inner((g, w[i]) for g, i in zip(firsts, wrt, strict=True)
                          if g is not None and g.requires_grad)
            targets = [leaves[i] for i in wrt] + [t for _, t in pairs]
            seconds = [None] * len(targets)
            if total is not None:
                seconds = grad(total, targets, allow_unused=True, retain_graph=True)
            # the symmetry check's second product: H s, for a fresh direction s (drawn last,
            # so the directions above are the ones drawn before it existed)
            s = {i: as_data(rng.uniform(-1.0, 1.0, np.shape(arrays[i])) * sym_scales[i])
                 for i in wrt} if sym_scales is not None else None
            total_s = None if s is None else inner(
                (g, s[i]) for g, i in zip(firsts, wrt, strict=True)
                if g is not None and g.requires_grad)
            seconds_s = [None] * len(wrt)
            if total_s is not None:
                seconds_s = grad(total_s, [leaves[i] for i in wrt], allow_unused=True)
    except Exception as error:
        raise RuleNotOnTensors(error) from error
    seconds_x = dict(zip(wrt, seconds[:len(wrt)], strict=True))
    moved_u = [k for k in floating if outs[k].requires_grad]
    seconds_u = dict(zip(moved_u, seconds[len(wrt):], strict=True))
    products = [np.zeros(()) if seconds_x[i] is None
                else np.asarray(seconds_x[i].data, dtype=np.float64) * v[i] for i in wrt]
    analytic = float(sum(np.sum(p) for p in products))
    terms = float(sum(np.sum(np.abs(p)) for p in products))
    products_u = [np.zeros(()) if seconds_u[k] is None
                  else np.asarray(seconds_u[k].data, dtype=np.float64) * du[k] for k in moved_u]
    analytic_u = float(sum(np.sum(p) for p in products_u))
    terms_u = float(sum(np.sum(np.abs(p)) for p in products_u))
    n = len(arrays)

    def first_order(*values):
        """The first-order rule's grads at the inputs and cotangents `values`, flattened."""
        fresh = {i: Tensor(values[i], requires_grad=True) for i in wrt}
        outs = outputs_of(*[fresh.get(i, a) for i, a in enumerate(values[:n])])
        cotangents = dict(zip(moved_u, values[n:], strict=True))
        kept = [k for k in moved_u if outs[k].requires_grad]
        gs = grad([outs[k] for k in kept], [fresh[i] for i in wrt],
                  [cotangents[k] for k in kept], allow_unused=True)
        return np.concatenate([np.ravel(np.zeros(np.shape(values[i])) if g is None
                                        else np.asarray(g.data, dtype=np.float64))
                               for g, i in zip(gs, wrt, strict=True)])

    weights = as_data(np.concatenate([np.ravel(w[i]) for i in wrt]))
    points = list(arrays) + [u[k] for k in moved_u]

    def accept(value, roundoff):
        return abs(value - analytic) <= accept_factor * (numeric.RTOL * terms + roundoff)

    estimate = numeric.directional(first_order, points, list(wrt), weights, v, accept=accept)
    # the nudged point x + t v is itself rounded, by eps |x| per element: the first-order
    # rule moves by |H w| eps |x| there (sin(800 x): a phase of 800 rounds by 1e-13)
    rounded = numeric.ROUNDOFF * numeric.EPS * float(sum(
        np.sum(np.abs(np.asarray(seconds_x[i].data, dtype=np.float64))
               * np.abs(np.asarray(arrays[i], dtype=np.float64)))
        for i in wrt if seconds_x[i] is not None)) / numeric.STEP
    estimate = numeric.Estimate(estimate.value, estimate.truncation,
                                estimate.roundoff + rounded)
    # The rule is linear in the cotangent: d/du <w, J^T u> along du is <w, J^T du> itself,
    # the first-order rule run with du for u (no nudge, no step error). The cotangent is
    # cast to the output's dtype there: its rounding is the tolerance.
    reference_u = float(np.dot(weights, first_order(*arrays, *[du[k] for k in moved_u])))
    rounding = max((float(np.finfo(np.asarray(outs[k].data).dtype).eps) for k in moved_u),
                   default=numeric.EPS)
    # the rule's own arithmetic cancels terms of the size |w| |du| |out| (softmax's
    # out * (g - <g, out>)): rounding of those, not of the result, is the bar
    scale = sum(float(np.sum(np.abs(w[i]))) for i in wrt) * max(
        (float(np.max(np.abs(du[k]), initial=0.0))
         * max(1.0, float(np.max(np.abs(np.asarray(outs[k].data, dtype=np.float64)),
                                 initial=0.0))) for k in moved_u), default=0.0)
    bar = 64 * rounding * (terms_u + abs(reference_u) + scale)
    moving_u = (numeric.Estimate(reference_u, 0.0, bar), analytic_u, terms_u)
    at_zero = None
    if zeros and any(np.any(z) for z in zeros.values()):
        cancel = sum(float(np.sum(np.abs(w[i]))) for i in wrt) * max(
            (float(np.max(np.abs(u[k]), initial=0.0))
             * max(1.0, float(np.max(np.abs(np.asarray(outs[k].data, dtype=np.float64)),
                                     initial=0.0))) for k in moved_u), default=0.0)
        at_zero = _at_zero(first_order, points, wrt, weights, seconds_x, zeros, rng, cancel)
    def refine(k: int) -> numeric.Estimate:
        """The same estimate with the step h / k (a would-be failure checks itself)."""
        again = numeric.directional(first_order, points, list(wrt), weights, v,
                                    h=numeric.STEP / k)
        return numeric.Estimate(again.value, again.truncation, again.roundoff + rounded * k)

    def rule_noise() -> float:
        """The rounding of the first-order rule along the nudge (`rule_spread`)."""
        return rule_spread(first_order, points, wrt, weights, v)

    directions = {"w": w, "v": v, "du": du, "moved_u": moved_u, "refine": refine,
                  "rule_noise": rule_noise}
    if s is not None:
        with underflow_watch() as more:
            directions["symmetry"] = _symmetry(w, s, seconds_x, dict(zip(wrt, seconds_s,
                                                                         strict=True)),
                                               wrt, u, outs, moved_u)
        # rounding to subnormals or 0 (x near 1e-308) is not the rounding the symmetry
        # check's bar models: a product a * b that underflows to 0 sends a rule down its
        # exact-zero path on one side only
        directions["underflow"] = bool(underflowed or more)

        def symmetry_moved(factor: float) -> float:
            """`<s, H w> - <w, H s>` with the inputs scaled by `factor` (1 + k eps)."""
            return _asymmetry(outputs_of, arrays, wrt, u, w, s, factor, pinned)

        pinned = {i: np.asarray(sym_scales[i]) == 0 for i in wrt}

        directions["symmetry_moved"] = symmetry_moved
    return estimate, analytic, terms, at_zero, directions, moving_u


SYMMETRY_RTOL = 1e-8
"""The symmetry check's relative floor, of the terms' size: what 64 eps cannot cover when
the rule's arithmetic is ill-conditioned (a solve of condition number 3,000 books its two
Hessian products 4e-14 apart). An asymmetric Hessian is off by far more (order 1)."""


def _symmetry(w, s, h_w, h_s, wrt, u, outs, moved_u) -> tuple:
    """`(<s, H w>, <w, H s>, bar)`: the Hessian of `<u, f(x)>` the tape books, applied to w
    and to s; a twice-differentiable f has a symmetric Hessian, so the two agree to within
    rounding. No nudge: exact zeros, kinks declared or not, any point is seen as it is.

    The bar: 64 eps of the terms' size, plus of what the rule's arithmetic cancels (terms
    of the size |w| |s| |u| max(1, |out|), as the other second-order bars), plus
    SYMMETRY_RTOL of the terms' size (conditioning the bar does not model)."""
    def product(a, b):
        if b is None:
            return 0.0, 0.0
        p = np.asarray(a, dtype=np.float64) * np.asarray(b.data, dtype=np.float64)
        return float(np.sum(p)), float(np.sum(np.abs(p)))

    a = [product(s[i], h_w[i]) for i in wrt]
    b = [product(w[i], h_s[i]) for i in wrt]
    s_hw, terms_a = sum(x for x, _ in a), sum(t for _, t in a)
    w_hs, terms_b = sum(x for x, _ in b), sum(t for _, t in b)
    cancel = sum(float(np.sum(np.abs(w[i]))) for i in wrt) * max(
        (float(np.max(np.abs(s[i]), initial=0.0)) for i in wrt), default=0.0) * max(
        (float(np.max(np.abs(u[k]), initial=0.0))
         * max(1.0, float(np.max(np.abs(np.asarray(outs[k].data, dtype=np.float64)),
                                 initial=0.0))) for k in moved_u), default=0.0)
    rounding = max((float(np.finfo(np.asarray(outs[k].data).dtype).eps) for k in moved_u),
                   default=numeric.EPS)
    bar = 64 * rounding * (terms_a + terms_b + cancel) + SYMMETRY_RTOL * (terms_a + terms_b)
    return s_hw, w_hs, bar, s


SYMMETRY_MOVES = (1, -1, 2, -2, 3, -3)
"""A symmetry check about to fail scales the inputs by 1 + k eps for these k (the same
factor for every element: zeros, signs, ties and order stay as they are; elements on a
declared kink or domain bound stay put) and measures how far `<s, H w> - <w, H s>` moves:
the rounding of the two products on this example."""

SYMMETRY_SPREAD = 16.0
"""Safety factor on that measured spread. Rounding that cancels to 1e-15 is quasi-discrete
(the moved points often book the same value, or 0), so a few moves see less than its range;
an asymmetric Hessian is asymmetric at the moved points too, and its spread is rounding."""


def _asymmetry(outputs_of, arrays, wrt, u, w, s, factor: float, pinned: dict) -> float:
    """`<s, H w> - <w, H s>` booked by the tape at the inputs `x * factor`, the elements
    `pinned` kept (the same directions and cotangents): one forward, one backward with
    create_graph, two more."""
    leaves = {i: Tensor(np.where(pinned[i], arrays[i], np.asarray(arrays[i]) * factor),
                        requires_grad=True) for i in wrt}
    outs = outputs_of(*[leaves.get(i, a) for i, a in enumerate(arrays)])
    kept = [k for k, uk in enumerate(u) if uk is not None and outs[k].requires_grad]
    firsts = grad([outs[k] for k in kept], [leaves[i] for i in wrt], [u[k] for k in kept],
                  create_graph=True, allow_unused=True)
    live = [(g, i) for g, i in zip(firsts, wrt, strict=True)
            if g is not None and g.requires_grad]
    if not live:
        return 0.0
    total_w = inner((g, w[i]) for g, i in live)
    h_w = grad(total_w, [leaves[i] for i in wrt], allow_unused=True, retain_graph=True)
    total_s = inner((g, s[i]) for g, i in live)
    h_s = grad(total_s, [leaves[i] for i in wrt], allow_unused=True)

    def dot(hs, d):
        return float(sum(np.sum(np.asarray(h.data, dtype=np.float64) * d[i])
                         for h, i in zip(hs, wrt, strict=True) if h is not None))

    return dot(h_w, s) - dot(h_s, w)


def asymmetry_spread(directions: dict, asymmetry: float) -> float:
    """How far `<s, H w> - <w, H s>` (here `asymmetry`) moves when every input is scaled
    by 1 + k eps, k in SYMMETRY_MOVES: the rounding of the two products, measured on this
    example, whatever the scale of the op's curvature (a correlation of one variable is
    the constant 1; its rule books that Hessian as terms of 1/var that cancel to 1e-15, or
    to 0). A Hessian that is asymmetric stays so under such moves: exact zeros, ties, signs
    and order are kept. Four more Hessian bookings, so only for a check about to fail."""
    moved = directions.get("symmetry_moved")
    if moved is None:
        return 0.0
    spread = 0.0
    for k in SYMMETRY_MOVES:
        try:
            again = moved(1.0 + k * numeric.EPS)
        except Exception:  # the rule raised at the moved point: no spread from it
            continue
        if np.isfinite(again):
            spread = max(spread, abs(again - asymmetry))
    return spread


RULE_SPREAD = 16.0
"""Safety factor on the first-order rule's measured rounding (`rule_spread`), divided by
the nudge's step: the bar the second-order row adds before it fails."""
RULE_OFFSETS = (-0.2869, -0.2377, -0.0787, 0.0, 0.0843, 0.2311, 0.3269)
"""Where `rule_spread` samples the rule: t = h (1 + offset). Unevenly spaced on purpose:
a rule rounded to a grid (logaddexp's) and sampled at even steps can move by one grid
step per sample, its rounding then the same at every sample and invisible to the fit."""


def rule_spread(first_order: Callable, points: list, wrt: list, weights, v: dict) -> float:
    """The rounding of `<w, g(x + t v)>`, the first-order rule's grads weighed along the
    nudge, measured on this example: at t = h (1 + offset), RULE_OFFSETS, the largest
    distance from the cubic fitted through the seven values (a smooth rule is a cubic
    there to within its fourth derivative times (0.3 h)^4; its rounding is not). Nudging
    the rule divides its rounding by the step, and that rounding can be far above
    eps |g|: logaddexp's rule exp(x - out) at x = 4987.2 and 4971.3 reads out rounded to
    9e-13 while its grads change by 1e-7 per unit, so its second-order nudges scattered by
    1% around the right Hessian (moving the inputs by a few units in their last place
    moves out with them, and shows none of it). A wrong rule is off by far more than its
    rounding. Seven more first-order runs, so only for a check about to fail."""
    def phi(t: float) -> float:
        moved = list(points)
        for i in wrt:
            moved[i] = points[i] + t * v[i]
        return float(np.dot(weights, first_order(*moved)))

    offsets = np.array(RULE_OFFSETS)
    try:
        values = np.array([phi(numeric.STEP * (1.0 + d)) for d in offsets])
    except Exception:  # the rule raised near the nudged point: nothing measured
        return 0.0
    if not np.all(np.isfinite(values)):
        return 0.0
    values = values - values[3]
    fit = np.polynomial.polynomial.polyfit(offsets, values, 3)
    residual = values - np.polynomial.polynomial.polyval(offsets, fit)
    return float(np.max(np.abs(residual)))


def _at_zero(first_order, points, wrt, weights, seconds_x, zeros, rng, cancel=0.0):
    """One-sided nudges of the elements that are exactly 0, on both sides (Richardson on
    h and h/2); None when the sides disagree (a kink at 0 the forward need not declare)."""
    v0 = {i: as_data(rng.choice([-1.0, 1.0], np.shape(points[i])) * zeros[i]) for i in wrt}
    analytic = float(sum(np.sum(np.asarray(seconds_x[i].data, dtype=np.float64) * v0[i])
                         for i in wrt if seconds_x[i] is not None))
    terms = float(sum(np.sum(np.abs(np.asarray(seconds_x[i].data, dtype=np.float64) * v0[i]))
                      for i in wrt if seconds_x[i] is not None))

    def phi(t):
        moved = list(points)
        for i in wrt:
            moved[i] = points[i] + t * v0[i]
        return float(np.dot(weights, first_order(*moved)))

    h = numeric.STEP
    base = phi(0.0)
    sides, truncation = [], 0.0
    for sign in (1.0, -1.0):
        far, near = phi(sign * h), phi(sign * h / 2)
        d_far, d_near = sign * (far - base) / h, sign * (near - base) / (h / 2)
        sides.append(2 * d_near - d_far)
        truncation = max(truncation, abs(d_near - d_far))
    # the first-order rule rounds terms of the size |w| |u| |out| (cancel), not of |base|
    roundoff = 64 * numeric.EPS * (abs(base) + cancel + 1e-300) / h
    spread = abs(sides[0] - sides[1])
    size = max(abs(sides[0]), abs(sides[1]), terms)
    if spread > 1e-3 * size + roundoff:
        return None  # the first-order rule has a kink at 0: no second derivative there
    estimate = numeric.Estimate((sides[0] + sides[1]) / 2, spread + truncation, roundoff)
    return estimate, analytic, terms, v0


def _weighed(outputs: list, u: list) -> Tensor:
    """`sum_k <u_k, out_k>` over the outputs that carry a gradient (float64 cotangents
    weigh float32 outputs too: no mixed-dtype warning for that)."""
    with mixed_dtypes("ignore"):
        total = inner((out, cotangent) for out, cotangent in zip(outputs, u, strict=True)
                      if out.requires_grad)
    if total is None:
        raise ValueError("no output carries a gradient")
    return total
