"""dtype sub-checks: a float32 example in its own dtype against the same op in float64."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...tensor import as_data
from ..compare import NOISE_FACTOR, low_comparison
from .base import SubCheck

if TYPE_CHECKING:
    from ..checks import Checker
    from ..report import Failure

from ..checks import ACCEPT, Discard  # noqa: E402


def vs_float64(c: Checker) -> Failure | None:
    """A float32 (or other non-float64) example, run in its own dtype: its contract, and
    agreement with the float64 results that the checks above verified."""
    if not c.low:
        c.native_outs, c.native_grads = c.outs, c.grads
        c.native_cotangents = c.cotangents(c.outs)
        return None
    c.stage = "native"
    dtype = c.dtype
    leaves, args = c.fresh_args(c.native)
    try:
        outs = c.call(args)
    except Exception as error:
        return c.fail("forward", f"the op raised {type(error).__name__}: {error} on "
                          f"{dtype} inputs (it ran on the same values in float64)")
    allowed = c.allowed_dtypes(dtype)
    for k, (o, ref) in enumerate(zip(outs, c.outs, strict=True)):
        data = np.asarray(o.data)
        which = f"output {k + 1}" if len(outs) > 1 else "the output"
        if data.dtype.kind == "f" and data.dtype not in allowed:
            return c.fail("forward", f"{which} has dtype {data.dtype}; {dtype} inputs "
                              f"must give a {dtype} output")
        if data.shape != np.shape(ref.data):
            return c.fail("forward", f"{which} has shape {data.shape} on {dtype} "
                              f"inputs; {np.shape(ref.data)} on the same values in float64")
        if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
            raise Discard(f"the {dtype} {which} overflows where float64's is finite "
                          f"(beyond {dtype}'s range)")
    mutated = c.mutated(c.native, args, leaves)
    if mutated:
        return c.fail("forward", f"the forward rule modified {mutated} in place")
    cotangents = c.cotangents(outs)
    failure = c.backward_contract(outs, leaves, args, c.native, cotangents)
    if failure is not None:
        return failure
    grads = c.grads_of(leaves)
    c.native_outs, c.native_grads, c.native_cotangents = outs, grads, cotangents
    how_u = cotangents if c.multi else cotangents[0]
    got = {k: np.asarray(o.data) for k, o in enumerate(outs) if o.requires_grad}
    want = {k: np.asarray(c.outs[k].data) for k in got}
    size_u = sum(int(np.size(u)) for u in cotangents if u is not None)
    sums = {i: max(1.0, size_u / max(1, int(np.size(c.native[i])))) for i in c.wrt}
    unit = float(np.max(np.abs(c.u), initial=0.0))

    def compare(out_noise, grad_noise):
        return (low_comparison(got, want, {k: out_noise[k] for k in got}, dtype, unit=1.0),
                low_comparison(grads, c.grads, grad_noise, dtype, unit=unit, sums=sums))

    # The noise only widens the tolerance: an example this far inside it without the
    # noise passes whatever the noise is (its closest approach is then at most ACCEPT,
    # recorded as measured without the noise), and the three noise passes are skipped.
    outs_result, grads_result = compare({k: 0.0 for k in got}, {i: 0.0 for i in grads})
    if max(outs_result.fraction, grads_result.fraction) > ACCEPT:
        out_noise, grad_noise = c.rounding
        outs_result, grads_result = compare(out_noise, grad_noise)
    else:
        out_noise = grad_noise = None
    if outs_result.failed or grads_result.failed:
        # before it fails the op: the op's own spread in its dtype, measured (a float32
        # FFT, an ill-conditioned solve round inside by more than float64 shows)
        out_spread, grad_spread = own_spread(c, outs, grads, cotangents)
        for k, spread in out_spread.items():  # in place: outputs may be large
            if k in out_noise and np.shape(out_noise[k]) == np.shape(spread):
                out_noise[k] = np.fmax(out_noise[k], spread, out=spread)
        del out_spread
        grad_noise = {i: np.fmax(n, grad_spread[i]) if i in grad_spread else n
                      for i, n in grad_noise.items()}
        outs_result, grads_result = compare(out_noise, grad_noise)
    for result in (outs_result, grads_result):
        if c.stats is not None and not result.failed:
            c.stats.approach("vs float64", result.fraction)
    if outs_result.failed:
        outs_result.worst = None
        return c.fail(
            "vs float64", f"the {dtype} output is not the float64 output to within "
            f"{dtype} rounding{_spread_note(out_noise, dtype, 'output')}", outs_result,
            reference="the same op in float64", cotangent=how_u)
    if grads_result.failed:
        w = grads_result.worst
        return c.fail(
            "vs float64", f"the {dtype} grad of input x{w.input} is not the float64 grad "
            f"to within {dtype} rounding: element {w.index or '()'} is {w.analytic:.8g} in "
            f"{dtype}, {w.numeric:.8g} in float64{_spread_note(grad_noise, dtype, 'grad')}",
            grads_result, reference="the same op in float64", cotangent=how_u,
            expected={f"x{w.input}": grads_result.numeric})
    return None


def own_spread(c: Checker, outs, grads, cotangents) -> tuple[dict, dict]:
    """How far the op's own results in the example's dtype move when each input moves by
    one ulp of that dtype (alternately up and down): the dtype's own rounding inside the
    op (a float32 FFT's 0.7 ulp of its largest output, a solve's condition number times
    eps), measured on this example. One forward and one rule call in the example's dtype."""
    def moved(a):
        a = np.asarray(a)
        if a.dtype.kind != "f":
            return a
        up = np.arange(a.size).reshape(a.shape) % 2 == 0
        return as_data(np.where(up, np.nextafter(a, np.inf), np.nextafter(a, -np.inf))
                       .astype(a.dtype))

    try:
        nudged = [moved(a) for a in c.native]
        out = c.op.forward(*nudged, **c.ex.params)
        new_outs = list(out) if c.multi else [out]
        new_grads = c.call_rule(nudged, new_outs, [None if t is None else np.copy(t)
                                                   for t in cotangents])
    except Exception:  # judged by the checks above; no spread measured
        return {}, {}
    out_spread, grad_spread = {}, {}
    for k, (o, ref) in enumerate(zip(new_outs, outs, strict=False)):
        o, ref = np.asarray(o), np.asarray(ref.data)
        if o.dtype.kind == "f" and o.shape == ref.shape:  # one float64 array per output
            moved_k = np.asarray(np.subtract(o, ref, dtype=np.float64))
            out_spread[k] = np.abs(moved_k, out=moved_k)
    del new_outs, out
    for i in c.wrt:
        if np.shape(new_grads[i]) == np.shape(grads[i]):
            moved_i = np.asarray(np.subtract(new_grads[i], grads[i], dtype=np.float64))
            grad_spread[i] = np.abs(moved_i, out=moved_i)
        new_grads[i] = None
    return out_spread, grad_spread


def _spread_note(noise: dict, dtype, what: str) -> str:
    largest = max((float(np.max(a, initial=0.0)) for a in noise.values()), default=0.0)
    return (f" (how far 1-ulp {dtype} perturbations move the {what}, measured on this "
            f"example: the op's own {dtype} spread and the float64 run's, at most "
            f"{largest:.3g}; the tolerance allows {NOISE_FACTOR:g} times it, per element)")


PATTERNS = ("up", "alternating", "random", "absolute")
"""How `rounding_noise` moves each array by one rounding (see there)."""


def rounding_noise(c: Checker) -> tuple[dict, dict]:
    """How far the float64 outputs and grads move when the inputs, the outputs and the
    cotangents move by one rounding of the example's dtype (four patterns: all up,
    alternating, random, and random by eps times the array's largest magnitude). That is
    the scale of what the dtype's own rounding does to a correct rule, reductions
    included. The last pattern moves zeros and small elements too, as the rounding of a
    sum they enter does: logsumexp of (0, -14, -14, ...) is log(1 + 4e-6), and the sum
    near 1 rounds by 2e-16 in one memory layout's order and not the other's, while moving
    each element by eps of itself moves the result by 1e-21."""
    eps = float(np.finfo(c.dtype).eps)
    outs64 = [np.asarray(o.data) for o in c.outs]
    out_noise = {k: np.zeros(np.shape(o)) for k, o in enumerate(outs64)}
    grad_noise = {i: np.zeros(np.shape(c.grads[i])) for i in c.wrt}
    cotangents = c.cotangents(c.outs)
    for pattern in PATTERNS:
        def wiggle(a, pattern=pattern):
            if a is None or np.asarray(a).dtype.kind != "f":
                return a
            a = np.asarray(a, dtype=np.float64)
            if pattern == "up":
                r = np.ones(np.shape(a))
            elif pattern == "alternating":
                r = np.where(np.arange(np.size(a)).reshape(np.shape(a)) % 2 == 0, 1.0, -1.0)
            else:
                r = c.rng.uniform(-1.0, 1.0, np.shape(a))
            if pattern == "absolute":
                return as_data(a + eps * float(np.max(np.abs(a), initial=0.0)) * r)
            return as_data(a * (1.0 + eps * r))

        moved = [wiggle(a) for a in c.arrays]
        try:
            out = c.op.forward(*moved, **c.params)
            outs = list(out) if c.multi else [out]
            grads = c.call_rule(moved, [wiggle(o) for o in outs],
                                    [wiggle(t) for t in cotangents])
        except Exception:  # a rule that raises here is judged by the checks above
            continue
        for k, o in enumerate(outs):
            o = np.asarray(o)
            if o.dtype.kind == "f" and np.shape(o) == np.shape(outs64[k]):
                out_noise[k] = np.fmax(out_noise[k], np.abs(o - outs64[k]))
        for i in c.wrt:
            if np.shape(grads[i]) == np.shape(grad_noise[i]):
                grad_noise[i] = np.fmax(grad_noise[i], np.abs(grads[i] - c.grads[i]))
    return out_noise, grad_noise


ROWS = (
    SubCheck("vs float64", "dtypes", "the same op in float64, to within what the dtype's "
             "rounding of inputs, outputs and cotangents moves it", vs_float64),
)
