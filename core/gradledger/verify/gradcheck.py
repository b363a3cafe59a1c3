"""`gradcheck`: the verifier's directional and per-element checks on any composed function."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from ..errors import GradledgerError
from ..grad_mode import no_grad
from ..tensor import Tensor, as_data
from . import numeric
from .checks import ACCEPT, JACOBIAN_MAX, compare_elements, compare_scalar
from .compare import TINY
from .report import Failure, literal


class GradientMismatch(GradledgerError, AssertionError):
    """A gradient disagrees with the nudge method; `.failure` holds the details."""

    def __init__(self, failure: Failure) -> None:
        super().__init__("\n" + str(failure))
        self.failure = failure


def gradcheck(fn: Callable, *inputs, seed: int = 0, step: float = numeric.STEP,
              raise_on_failure: bool = True, order: int = 1) -> bool:
    """Check the grads backward books for `fn(*inputs)` against the nudge method.

    `fn` takes one gl.Tensor per input and returns a Tensor built from registered ops.
    Inputs are numbers, lists, arrays or gl.Tensors. Every input is checked except
    the constants: a gl.Tensor with `requires_grad=False`, or a numpy integer array.
    A random cotangent u (from `seed`) weighs the outputs; the check compares `<u, J v>`
    for a random direction v (central differences with Richardson extrapolation), and
    element by element when the inputs have at most 64 numbers or the directional
    check fails.
    Element k is nudged by at most `step * min(1, max(|x_k|, rms(x) / 10))` (1e-3 * step
    for an input of zeros), so keep inputs that far from kinks and domain edges. The half
    steps of Richardson's extrapolation run only when the plain central difference does
    not already agree.

    `order=2` checks second derivatives instead: `gradgradcheck`.

    Returns True, or raises GradientMismatch (returns False if `raise_on_failure` is False).
    """
    if order == 2:
        return gradgradcheck(fn, *inputs, seed=seed, raise_on_failure=raise_on_failure)
    if order != 1:
        raise ValueError(f"gradcheck checks order 1 or 2; got order={order!r}")
    arrays, wrt = _split_inputs(inputs)

    def forward(*values):
        with no_grad():  # the values as they are (no copy), as the tape holds an op's output
            out = fn(*(Tensor._result(v, False) for v in values))
        # the output's own dtype: a float32 output rounds by float32's eps (numeric._inner)
        return np.asarray(out.data if isinstance(out, Tensor) else out)

    leaves = {i: Tensor(arrays[i], requires_grad=True) for i in wrt}
    out = fn(*(leaves.get(i, Tensor(a)) for i, a in enumerate(arrays)))
    if not isinstance(out, Tensor) or not out.requires_grad:
        raise ValueError("gradcheck needs fn to return a gl.Tensor computed from its inputs; "
                         f"it returned {type(out).__name__}")
    draws, abs_u = _draws(seed, [np.shape(out.data), *(np.shape(arrays[i]) for i in wrt)])
    u = as_data(draws[0])  # read-only: the tape copies a cotangent before any rule sees it
    out.backward(u)
    # Each array the size of an input costs a visit to fresh memory, more than the
    # arithmetic on it: one for v (the nudge scale, scaled in place), one buffer for
    # the products grad * v, which then holds the nudged inputs.
    v, buffers, analytic, terms = {}, {}, 0.0, 0.0
    for i, draw in zip(wrt, draws[1:], strict=True):
        direction = numeric.element_scale(arrays[i])
        np.multiply(direction, draw, out=direction)
        v[i] = as_data(direction)
        grad = leaves[i].grad
        if direction.ndim:
            buffers[i] = np.empty(direction.shape)
        if grad is None:  # no path from this input to the output: its grad is zero
            continue
        product = np.asarray(np.multiply(grad, direction, out=buffers.get(i),
                                         dtype=np.float64))
        analytic += float(np.add.reduce(product, axis=None))
        terms += float(np.add.reduce(np.abs(product, out=product), axis=None))
    grads = {i: np.zeros(np.shape(arrays[i])) if leaves[i].grad is None
             else np.asarray(leaves[i].grad) for i in wrt}

    def accept(value, roundoff):
        return abs(value - analytic) <= ACCEPT * (numeric.RTOL * terms + roundoff)

    estimate = numeric.directional(forward, arrays, wrt, u, v, step, accept=accept,
                                   buffers=buffers, abs_u=abs_u)
    result = compare_scalar(estimate, analytic, terms)
    check = "directional"
    if result.failed or sum(np.size(arrays[i]) for i in wrt) <= JACOBIAN_MAX:
        numerics, bars = {}, {}
        for i in wrt:
            numerics[i], bars[i] = numeric.per_element(forward, arrays, i, u,
                                                        numeric.element_scale(arrays[i]), step)
        elements = compare_elements(numerics, bars, grads)
        if not result.failed and elements.failed:
            check, result = "jacobian", elements
        elif result.failed:
            result.worst, result.numeric, result.analytic = (
                elements.worst, elements.numeric, elements.analytic)
    if not result.failed:
        return True
    failure = Failure(
        check, "the grads backward booked for fn disagree with the nudge method",
        _snippet(arrays, wrt, u), result.numeric, result.analytic, result.abs_error,
        result.rel_error, result.tolerance, result.worst, result.fraction)
    if raise_on_failure:
        raise GradientMismatch(failure)
    return False



def gradgradcheck(fn: Callable, *inputs, seed: int = 0, raise_on_failure: bool = True) -> bool:
    """Check second derivatives of `fn(*inputs)`: the booking recorded with
    `create_graph=True` and differentiated again, against nudges of the first-order grads
    (`<w, H_u v>` for random u, w, v; see gradledger.verify.second). Inputs as `gradcheck`.

    Returns True, or raises GradientMismatch (returns False if `raise_on_failure` is False).
    """
    from .second import SYMMETRY_SPREAD, RuleNotOnTensors, asymmetry_spread, second_order

    arrays, wrt = _split_inputs(inputs)
    rng = np.random.Generator(np.random.SFC64(seed))

    def outputs_of(*args):
        out = fn(*(a if isinstance(a, Tensor) else Tensor(a) for a in args))
        if not isinstance(out, Tensor) or not out.requires_grad:
            raise ValueError("gradgradcheck needs fn to return a gl.Tensor computed from its "
                             f"inputs; it returned {type(out).__name__}")
        return [out]

    probe = outputs_of(*[Tensor(a, requires_grad=i in wrt) for i, a in enumerate(arrays)])[0]
    u = [as_data(_uniform(rng, np.shape(probe.data)))]
    scales = {i: numeric.element_scale(arrays[i]) for i in wrt}
    try:
        found = second_order(outputs_of, arrays, list(wrt), u, scales, rng, ACCEPT,
                             sym_scales=scales)
    except RuleNotOnTensors as why:  # the caller sees what the rule raised, as before
        raise why.error from None
    estimate, analytic, terms, _, directions, moving_u = found
    s_hw, w_hs, bar, _ = directions["symmetry"]
    if abs(s_hw - w_hs) > bar + TINY:  # its rounding, measured, before it fails
        bar += SYMMETRY_SPREAD * asymmetry_spread(directions, s_hw - w_hs)
    if abs(s_hw - w_hs) > bar + TINY:  # a Hessian that is not symmetric: no nudge needed
        size = max(abs(s_hw), abs(w_hs))
        failure = Failure(
            "symmetry", "the Hessian of fn's booking is not symmetric: <s, H w> = "
            f"{s_hw:.10g}, <w, H s> = {w_hs:.10g}", _snippet(arrays, wrt, u[0]), s_hw, w_hs,
            abs(s_hw - w_hs), abs(s_hw - w_hs) / size if size else math.inf, bar + TINY, None,
            abs(s_hw - w_hs) / (bar + TINY))
        if raise_on_failure:
            raise GradientMismatch(failure)
        return False
    result = compare_scalar(estimate, analytic, terms)
    if not result.failed:  # and with the cotangent moved: <w, J^T du>, exactly
        result = compare_scalar(*moving_u)
    if not result.failed:
        return True
    failure = Failure(
        "second order", "the second derivatives of fn (its booking differentiated) disagree "
        "with nudges of its first derivatives", _snippet(arrays, wrt, u[0]), result.numeric,
        result.analytic, result.abs_error, result.rel_error, result.tolerance, result.worst,
        result.fraction)
    if raise_on_failure:
        raise GradientMismatch(failure)
    return False


def _split_inputs(inputs) -> tuple[list, tuple]:
    """The inputs as arrays, and which of them to differentiate (not the constants)."""
    arrays, wrt = [], []
    for i, x in enumerate(inputs):
        if isinstance(x, Tensor):
            data, differentiate = np.asarray(x.data), x.requires_grad
        elif isinstance(x, np.ndarray) and x.dtype.kind in "biu":
            data, differentiate = x, False  # integer arrays (labels, indices) are constants
        else:
            data, differentiate = np.asarray(x, dtype=np.float64), True
        if differentiate:
            wrt.append(i)
        arrays.append(as_data(data))
    if not wrt:
        raise ValueError("gradcheck needs at least one input to differentiate; every input "
                         "given is a constant (a gl.Tensor with requires_grad=False)")
    return arrays, tuple(wrt)


_STREAMS: dict[int, tuple[np.ndarray, np.ndarray]] = {}
"""Per seed, the first numbers of its uniform stream and their magnitudes (read-only),
kept between calls."""
STREAM_KEEP = 1 << 17
"""Numbers kept per seed (1 MiB, and 1 MiB of their magnitudes); longer draws are made
afresh each call."""
STREAMS_KEPT = 2
"""Seeds whose stream is kept; one more forgets them all."""


def _draws(seed: int, shapes: list) -> tuple[list[np.ndarray], np.ndarray]:
    """Uniform numbers in [-1, 1), one array per shape, consecutive stretches of one stream
    drawn from `seed` (an SFC64 generator): the same numbers on every call with that seed;
    and the magnitudes of the first array, flat.

    Random numbers cost as much as a cheap op here (relu), and a seeded stream is the same
    on every call, so its first STREAM_KEEP numbers are drawn once per seed and kept; the
    arrays returned are read-only views into them. Longer draws are made afresh.
    """
    sizes = [math.prod(shape) for shape in shapes]
    total = sum(sizes)
    kept = _STREAMS.get(seed)
    if kept is None or kept[0].size < total:
        stream = _uniform(np.random.Generator(np.random.SFC64(seed)),
                          max(total, min(STREAM_KEEP, 4 * total)))
        magnitudes = np.abs(stream)
        stream.flags.writeable = magnitudes.flags.writeable = False
        kept = stream, magnitudes
        if stream.size <= STREAM_KEEP:
            if len(_STREAMS) >= STREAMS_KEPT:
                _STREAMS.clear()  # (not one by one: another thread may be here too)
            _STREAMS[seed] = kept
    stream, magnitudes = kept
    draws, start = [], 0
    for shape, size in zip(shapes, sizes, strict=True):
        draws.append(stream[start:start + size].reshape(shape))
        start += size
    return draws, magnitudes[:sizes[0]]


def _uniform(rng: np.random.Generator, shape) -> np.ndarray:
    """Uniform in [-1, 1), computed in place (random numbers cost more than the op here)."""
    values = rng.random(shape)
    values *= 2.0
    values -= 1.0
    return values


def _snippet(arrays, wrt, u) -> str:
    lines = ["import numpy as np", "import gradledger as gl", ""]
    for i, a in enumerate(arrays):
        if i in wrt:
            lines.append(f"x{i + 1} = gl.tensor({literal(a)}, requires_grad=True)")
        else:
            lines.append(f"x{i + 1} = gl.tensor({literal(a)})  # a constant")
    names = ", ".join(f"x{i + 1}" for i in range(len(arrays)))
    lines += [f"out = fn({names})  # your function", f"out.backward({literal(u)})"]
    lines += [f"print(x{i + 1}.grad)" for i in wrt]
    return "\n".join(lines)
