"""The nudge method: the seed's naive loop, and the careful version the verifier uses.

`nudge_grad` is the seed's loop, literally: nudge one number, run the forward pass
again, divide the change in the loss by the nudge (a forward difference).

The verifier needs more accuracy than that, from few forward passes. It nudges
along a direction `t -> x + t v` and estimates `d/dt <u, f(x + t v)>` at t = 0 by
central differences at two steps, h and h/2, combined by Richardson extrapolation:

    D(h) = (phi(h) - phi(-h)) / 2h                       error O(h**2)
    R    = (4 D(h/2) - D(h)) / 3                         error O(h**4)

Four forward passes, whatever the size of x (two when the plain central difference
already agrees with the rule to within its rounding bar and RTOL: see `richardson`).
The estimate carries its own error bars: `|D(h/2) - D(h)|` bounds R's truncation
error (it is the size of the h**2 term R removed, far larger than what is left), and
floating-point cancellation in `phi(h) - phi(-h)` costs about `eps * sum|u| (|f| + 1) / h`.
A rule is wrong only when it misses the nudge by more than those bars plus `RTOL` of the
terms' size.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

EPS = float(np.finfo(np.float64).eps)
STEP = 1e-3
"""h: the largest nudge, as a fraction of each element's nudge scale (at most 1)."""
RTOL = 1e-6
"""Relative tolerance, against the sum of the magnitudes of the terms compared."""
ROUNDOFF = 64.0
"""Safety factor on the cancellation error eps * sum|u| (|f| + 1) / h."""
FLOOR = 1e-9
"""Per-element absolute tolerance, as a fraction of the largest grad element."""


ZERO_SCALE = 1e-3
"""The nudge scale of an element that is exactly 0 (it has no size of its own), before the
declared domain and kinks narrow it: the step there is STEP * ZERO_SCALE = 1e-6."""


SMALLEST_SCALE = 1e-290
"""No element is nudged by less than STEP times this (a subnormal 5e-324 nudged by 1e-3 of
itself does not move): its nudge stays resolvable next to its own size."""


def element_scale(x, bounds: tuple = (None, None), points: tuple = ()) -> np.ndarray:
    """Per element, how far it may be nudged (the step is `h * scale`, h at most 1e-3),
    from that element alone and the op's declared domain, never from its neighbours.

    `min(1, |x_k|)` (at least SMALLEST_SCALE), so that a value is nudged relative to its
    own size; an element that
    is exactly 0 gets ZERO_SCALE; then never further than the nearest declared kink or
    domain bound (a central nudge stays inside the domain: an element at a bound itself is
    not nudged). A solve whose input is exactly 0 beside inputs of size 1 is nudged by 1e-6
    there, not by a tenth of the others' size: the function's own scale near 0 may be far
    smaller (Kepler's equation near e = 1 is cubic within 1e-4 of M = 0).
    """
    x = np.asarray(x, dtype=np.float64)
    scale = np.abs(x, out=np.empty(x.shape))  # an array even for 0-d x
    np.clip(scale, SMALLEST_SCALE, 1.0, out=scale)
    scale[x == 0] = ZERO_SCALE
    for edge in (*points, *(b for b in bounds if b is not None)):
        np.minimum(scale, np.abs(x - edge), out=scale)
    return scale


def closed_bounds(bounds: tuple) -> tuple:
    """The bounds of a declared interval that belong to it (`Closed`), None for the others."""
    from ..op import Closed

    return tuple(b if isinstance(b, Closed) else None for b in bounds)


def edge_steps(x, bounds: tuple = (None, None), points: tuple = ()) -> np.ndarray:
    """Per element, the signed one-sided nudge scale of an element exactly on a closed
    bound (+ at the low bound, - at the high: into the domain), 0 elsewhere.

    Its size is `element_scale`'s for that element without the bound it sits on: min(1,
    |x|) (ZERO_SCALE at 0), never past a kink, the other bound or half the interval."""
    x = np.asarray(x, dtype=np.float64)
    low, high = closed_bounds(bounds)
    at_low = np.zeros(x.shape, dtype=bool) if low is None else x == low
    at_high = np.zeros(x.shape, dtype=bool) if high is None else x == high
    if not (np.any(at_low) or np.any(at_high)):
        return np.zeros(x.shape)
    scale = np.abs(x, out=np.empty(x.shape))
    np.clip(scale, SMALLEST_SCALE, 1.0, out=scale)
    scale[x == 0] = ZERO_SCALE
    if bounds[0] is not None and bounds[1] is not None:
        np.minimum(scale, (bounds[1] - bounds[0]) / 2, out=scale)
    for edge in points:
        far = np.abs(x - edge)
        np.minimum(scale, np.where(far > 0, far, scale), out=scale)
    return np.where(at_low, scale, 0.0) - np.where(at_high & ~at_low, scale, 0.0)


@dataclass(frozen=True)
class Estimate:
    """A finite-difference derivative with its error bars."""

    value: float
    truncation: float
    roundoff: float

    @property
    def error_bar(self) -> float:
        return self.truncation + self.roundoff


def _inner(u, out, magnitude: bool = True, abs_u=None, scratch=None
           ) -> tuple[float, float | None]:
    """`<u, out>`, and when asked the size its rounding error scales with.

    That size is `sum |u| * (|out| + 1)`: a forward pass rounds its intermediate
    values, and those are taken to be at least of order 1 even where the output is
    tiny (gelu(-6) = 0.5 x (1 + tanh(...)) loses digits of the 1 to cancellation).
    Dot products, so that no array the size of the output is allocated for the sums;
    `|out|` goes into `scratch` (a float64 array the caller no longer needs) when it fits.
    """
    u, out = np.asarray(u), np.asarray(out)
    coarse = 1.0  # an output in a lower precision (astype) rounds by its own eps
    if out.dtype != np.float64:
        if out.dtype.kind == "f" and out.dtype.itemsize < 8:
            coarse = float(np.finfo(out.dtype).eps) / EPS
        out = out.astype(np.float64)
    if u.shape != out.shape:  # a forward that breaks its shape: let numpy say how
        return float(np.sum(u * out)), (coarse * float(np.sum(np.abs(u) * (np.abs(out) + 1.0)))
                                        if magnitude else None)
    flat_u, flat_out = u.reshape(-1), out.reshape(-1)
    value = float(np.dot(flat_u, flat_out))
    if not magnitude:
        return value, None
    abs_u = np.abs(flat_u) if abs_u is None else np.asarray(abs_u).reshape(-1)
    if scratch is not None and scratch.size == flat_out.size:
        abs_out = np.abs(flat_out, out=scratch.reshape(-1))
    else:
        abs_out = np.abs(flat_out)
    return value, coarse * (float(np.dot(abs_u, abs_out)) + float(np.add.reduce(abs_u)))


def richardson(phi: Callable[[float, bool], tuple[float, float | None]],
               h: float = STEP, accept: Callable[[float, float], bool] | None = None) -> Estimate:
    """d phi / dt at 0 from phi(+-h) and phi(+-h/2).

    `phi(t, magnitude)` returns (value, the size of its terms or None); the size is
    asked for at t = h only (the four points are too close for it to differ).
    With `accept(value, roundoff)`, the plain central difference D(h) is returned
    (truncation bar 0) when accept says it already agrees: two forward passes
    instead of four. Richardson's half steps run only when needed.
    """
    (p1, size), (n1, _) = phi(h, True), phi(-h, False)
    wide = (p1 - n1) / (2 * h)
    roundoff = ROUNDOFF * EPS * size / h
    if accept is not None and accept(wide, roundoff):
        return Estimate(wide, 0.0, roundoff)
    (p2, _), (n2, _) = phi(h / 2, False), phi(-h / 2, False)
    narrow = (p2 - n2) / h
    value = narrow + (narrow - wide) / 3  # (4 narrow - wide) / 3, without 4 narrow's overflow
    return Estimate(value, abs(narrow - wide), roundoff)


def directional(forward: Callable, arrays: list, wrt: tuple, u, v: dict,
                h: float = STEP, accept: Callable[[float, float], bool] | None = None,
                buffers: dict | None = None, abs_u=None) -> Estimate:
    """`<u, J v>`: the change of `<u, forward(*arrays)>` along direction v (v[i] per input i).

    The nudged inputs are written into one float64 buffer per input, reused from one
    nudge to the next (so the forward must not keep its inputs, which no rule may);
    `buffers` may hand them in (one per input that is not 0-d), and `abs_u` |u| flat.
    """
    if buffers is None:
        buffers = {i: np.empty(np.shape(arrays[i])) for i in wrt if np.ndim(arrays[i])}
    scratch = next(iter(buffers.values()), None)

    def phi(t, magnitude):
        moved = list(arrays)
        for i in wrt:
            buffer = buffers.get(i)
            if buffer is None:
                moved[i] = arrays[i] + t * v[i]
            else:
                np.multiply(v[i], t, out=buffer)
                np.add(buffer, arrays[i], out=buffer)
                moved[i] = buffer
        # the nudged inputs are not needed once the forward has run: |out| may go there
        return _inner(u, forward(*moved), magnitude, abs_u, scratch)

    return richardson(phi, h, accept)


def one_sided(forward: Callable, arrays: list, i: int, index: tuple, u, step: float,
              h: float = STEP, base: tuple | None = None) -> Estimate:
    """d<u, forward>/dx at element `index` of input i, nudged to one side only: by `t *
    step` for t = h and h / 2 (step's sign points into the domain; an element on a closed
    bound). Forward differences D(h), D(h/2), combined by Richardson: `2 D(h/2) - D(h)`,
    error O(h**2), truncation bar |D(h/2) - D(h)|. Per unit of x (divided by step).
    `base`, `(phi(0), size)`, may be handed in: it is the same for every element."""
    x = np.asarray(arrays[i], dtype=np.float64)

    def phi(t, magnitude):
        moved = list(arrays)
        nudged = x.copy()
        nudged[index] += t * step
        moved[i] = nudged[()] if nudged.ndim == 0 else nudged
        return _inner(u, forward(*moved), magnitude)

    zero, size = phi(0.0, True) if base is None else base
    far, _ = phi(h, False)
    near, _ = phi(h / 2, False)
    wide, narrow = (far - zero) / h, (near - zero) / (h / 2)
    value = 2 * narrow - wide
    roundoff = ROUNDOFF * EPS * size / h
    s = abs(step)
    return Estimate(value / step, abs(narrow - wide) / s, 2 * roundoff / s)


def per_element(forward: Callable, arrays: list, i: int, u, scale,
                h: float = STEP, accept: Callable | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """The seed's nudge loop over every element of input i, done by `richardson`.

    Returns the numeric gradient of `<u, forward(*arrays)>` with respect to input i,
    and each element's error bar (truncation plus roundoff). `accept(index, value,
    roundoff)`, when given, lets an element that already agrees skip the half steps.
    """
    x = np.asarray(arrays[i], dtype=np.float64)
    scale = np.broadcast_to(np.asarray(scale, dtype=np.float64), x.shape)
    numeric, bars = np.zeros(x.shape), np.zeros(x.shape)
    for index in np.ndindex(x.shape):
        s = scale[index]
        if s == 0:  # on a bound or kink: not nudged here (a closed bound's own row does)
            bars[index] = np.inf
            continue

        def phi(t, magnitude, index=index, s=s):
            moved = list(arrays)
            nudged = x.copy()
            nudged[index] += t * s
            moved[i] = nudged[()] if nudged.ndim == 0 else nudged
            return _inner(u, forward(*moved), magnitude)

        ok = None if accept is None else (
            lambda value, roundoff, index=index, s=s: accept(index, value / s, roundoff / s))
        estimate = richardson(phi, h, ok)
        numeric[index] = estimate.value / s
        bars[index] = estimate.error_bar / s
    return numeric, bars


def nudge_grad(fn: Callable, *inputs, step: float = 1e-6) -> tuple:
    """The seed's naive method: nudge each number, rerun `fn`, divide the change by the nudge.

    `fn` takes one gl.Tensor per input (or the numbers themselves) and returns a
    scalar (a one-element Tensor or a number). Each input may be a number, a list,
    a numpy array or a gl.Tensor. Returns one numpy array per input, in that
    input's shape: `(fn(x + step) - fn(x)) / step` for every element, the forward
    difference of the seed's loop. It costs one forward pass per number, and its
    error is of the order of `step` (use `gradcheck` for a careful check).

    For the seed's example, `nudge_grad(lambda x: x * x, 5.0)` gives about 10, and
    with the seed's own step, `nudge_grad(lambda x: x * x, 5.0, step=0.01)` gives
    0.1001 / 0.01 = 10.01.
    """
    from ..grad_mode import no_grad
    from ..tensor import Tensor

    arrays = [np.array(x.data if isinstance(x, Tensor) else x, dtype=np.float64) for x in inputs]

    def loss(values):
        with no_grad():
            out = fn(*(Tensor(v) for v in values))
        value = np.asarray(out.data if isinstance(out, Tensor) else out)
        if value.size != 1:
            raise ValueError(
                f"nudge_grad needs fn to return a scalar (the loss); it returned shape "
                f"{value.shape}. Reduce it first, e.g. gl.sum(out)."
            )
        return float(value.reshape(()))

    original = loss(arrays)
    grads = []
    for i, x in enumerate(arrays):
        grad = np.zeros(x.shape)
        for index in np.ndindex(x.shape):
            nudged = list(arrays)
            nudged[i] = x.copy()
            nudged[i][index] += step
            grad[index] = (loss(nudged) - original) / step
        grads.append(grad)
    return tuple(grads)
