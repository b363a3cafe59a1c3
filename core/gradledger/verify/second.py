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

from collections.abc import Callable

import numpy as np

from ..autograd import grad, inner
from ..tensor import Tensor, as_data
from . import numeric


class RuleNotOnTensors(Exception):
    """The first-order rule raised when run on Tensors (`create_graph=True`): its second
    derivative cannot be taken, so it cannot be checked. Not a wrong gradient: the first
    order was verified on arrays; `error` is what the rule raised."""

    def __init__(self, error: Exception) -> None:
        super().__init__(f"{type(error).__name__}: {error}")
        self.error = error


def second_order(outputs_of: Callable, arrays: list, wrt: list, u: list, scales: dict,
                 rng: np.random.Generator, accept_factor: float):
    """`(estimate, analytic, terms)` for `<w, d g(x)/dx v>`, where `g = J^T u` is the
    first-order rule's grad of `outputs_of(*inputs)` (a list of output Tensors, one
    cotangent each in `u`, None for outputs without gradient).

    A first-order grad that does not depend on the inputs through the tape (a
    constant, or a rule that reached for `.data`) counts as a second derivative of 0,
    and the nudges say whether that is true (it is, for a linear op).
    """
    w = {i: as_data(rng.uniform(-1.0, 1.0, np.shape(arrays[i]))) for i in wrt}
    v = {i: as_data(rng.uniform(-1.0, 1.0, np.shape(arrays[i])) * scales[i]) for i in wrt}
    leaves = {i: Tensor(arrays[i], requires_grad=True) for i in wrt}
    args = [leaves.get(i, a) for i, a in enumerate(arrays)]
    try:
        firsts = grad(_weighed(outputs_of(*args), u), [leaves[i] for i in wrt],
                      create_graph=True, allow_unused=True)
        total = inner((g, w[i]) for g, i in zip(firsts, wrt, strict=True)
                      if g is not None and g.requires_grad)
        seconds = [None] * len(wrt)
        if total is not None:
            seconds = grad(total, [leaves[i] for i in wrt], allow_unused=True)
    except Exception as error:
        raise RuleNotOnTensors(error) from error
    products = [np.zeros(()) if s is None else np.asarray(s.data, dtype=np.float64) * v[i]
                for s, i in zip(seconds, wrt, strict=True)]
    analytic = float(sum(np.sum(p) for p in products))
    terms = float(sum(np.sum(np.abs(p)) for p in products))

    def first_order(*values):
        """The first-order rule's grads at `values`, flattened: the function nudged."""
        fresh = {i: Tensor(values[i], requires_grad=True) for i in wrt}
        outs = outputs_of(*[fresh.get(i, a) for i, a in enumerate(values)])
        gs = grad(_weighed(outs, u), [fresh[i] for i in wrt], allow_unused=True)
        return np.concatenate([np.ravel(np.zeros(np.shape(values[i])) if g is None
                                        else np.asarray(g.data, dtype=np.float64))
                               for g, i in zip(gs, wrt, strict=True)])

    weights = as_data(np.concatenate([np.ravel(w[i]) for i in wrt]))

    def accept(value, roundoff):
        return abs(value - analytic) <= accept_factor * (numeric.RTOL * terms + roundoff)

    estimate = numeric.directional(first_order, arrays, wrt, weights, v, accept=accept)
    return estimate, analytic, terms


def _weighed(outputs: list, u: list) -> Tensor:
    """`sum_k <u_k, out_k>` over the outputs that carry a gradient."""
    total = inner((out, cotangent) for out, cotangent in zip(outputs, u, strict=True)
                  if out.requires_grad)
    if total is None:
        raise ValueError("no output carries a gradient")
    return total
