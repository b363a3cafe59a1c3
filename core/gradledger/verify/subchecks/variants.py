"""Call-variant sub-checks: the op called another way must book exactly the same grads
(no nudges: the reference is the grads the plain call booked)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ...tensor import Tensor
from ..calls import copy, fan_in, weigh
from ..compare import exact_comparison, exactly_close
from .base import SubCheck

if TYPE_CHECKING:
    from ..checks import Checker
    from ..report import Failure


def fan_in_twice(c: Checker) -> Failure | None:
    leaves, args = c.fresh_args(c.arrays)
    how = {"call": "fan_in", "cotangent": c.u}
    try:
        first, second = c.call(args), c.call(args)
        if c.multi:
            cotangents = c.cotangents(first)
            joined = fan_in(weigh(first, cotangents), weigh(second, cotangents))
            joined.backward()
        else:
            joined = fan_in(first[0], second[0])
            joined.backward(copy(c.u))
    except Exception as error:
        return c.fail("accumulation", f"two calls on the same inputs, joined, raised "
                          f"{type(error).__name__}: {error}", **how)
    got = c.grads_of(leaves)
    for i in c.wrt:
        want = 2 * c.grads[i]
        if not exactly_close(got[i], want, c.exact_tolerance(np.float64)):
            result = exact_comparison(got[i], want, i, c.exact_tolerance(np.float64))
            return c.fail(
                "accumulation", f"two calls on the same inputs whose rules were handed "
                f"the very same cotangent array booked a grad for input x{i + 1} that is "
                "not twice one call's: the rule modifies its out_grad in place, or returns "
                "an array that the bookkeeping later writes into", result,
                reference="twice one call's grads (the same rule, called once)", **how)
    return None


def linearity(c: Checker) -> Failure | None:
    for leaf in c.leaves.values():
        leaf.grad = None
    zeros = c.cotangents(c.outs, scale=0.0)
    how = {"cotangent": zeros if c.multi else zeros[0]}
    try:
        c.backward(c.outs, zeros)
    except Exception as error:
        return c.fail("linearity", f"backward with a zero cotangent raised "
                          f"{type(error).__name__}: {error}", **how)
    for i, grad in c.grads_of(c.leaves).items():
        if np.any(grad != 0):
            result = exact_comparison(grad, np.zeros(np.shape(grad)), i, 0.0)
            return c.fail("linearity", f"a zero cotangent booked a nonzero grad into "
                              f"input x{i + 1}; a rule must be linear in out_grad", result,
                              reference="zero (a zero cotangent)", **how)
    for leaf in c.leaves.values():
        leaf.grad = None
    how = {"cotangent": c.u, "scale": 2.0}
    try:
        c.backward(c.outs, c.cotangents(c.outs, scale=2.0),
                       retain=bool(c.ex.frozen))
    except Exception as error:
        return c.fail("linearity", f"backward with cotangent 2u raised "
                          f"{type(error).__name__}: {error}", **how)
    rtol = c.exact_tolerance(np.float64)
    for i, grad in c.grads_of(c.leaves).items():
        if not exactly_close(grad, 2 * c.grads[i], rtol):
            result = exact_comparison(grad, 2 * c.grads[i], i, rtol)
            return c.fail("linearity", f"cotangent 2u booked a grad into input x{i + 1} "
                              "that is not twice u's; a rule must be linear in out_grad",
                              result, reference="twice the grads booked for cotangent u "
                              "(the same rule)", **how)
    return None


def frozen_inputs(c: Checker) -> Failure | None:
    """Some inputs without grad: the others' grads are the ones booked when all require it."""
    frozen, how_given = c.ex.frozen, c.ex.frozen_as
    frozen = tuple(i for i in frozen if i in c.wrt)
    if not frozen or len(frozen) == len(c.wrt):
        return None
    c.stage = "native"
    arrays = c.native
    leaves = {i: Tensor(arrays[i], requires_grad=True) for i in c.wrt if i not in frozen}
    args = []
    for i, a in enumerate(arrays):
        if i in leaves:
            args.append(leaves[i])
        elif i in frozen and how_given == "tensor":
            args.append(Tensor(a))
        elif i in frozen and how_given == "number":
            args.append(float(a))
        else:
            args.append(copy(a))
    cotangents = c.native_cotangents
    how = {"call": "frozen", "frozen": frozen, "frozen_as": how_given,
           "cotangent": cotangents if c.multi else cotangents[0]}
    given = {"tensor": "a Tensor without grad", "array": "a numpy array",
             "number": "a Python number"}[how_given]
    names = ", ".join(f"x{i + 1}" for i in frozen)
    try:
        outs = c.call(args)
        c.backward(outs, [None if t is None else copy(t) for t in cotangents],
                       retain=False)
    except Exception as error:
        return c.fail("frozen inputs", f"with {names} given as {given}, the op or its "
                          f"rule raised {type(error).__name__}: {error}", **how)
    rtol = c.exact_tolerance(c.dtype)
    for o, ref in zip(outs, c.native_outs, strict=True):
        if not exactly_close(o.data, ref.data, rtol):
            result = exact_comparison(o.data, ref.data, 0, rtol)
            result.worst = None
            return c.fail("frozen inputs", f"with {names} given as {given}, the forward "
                              "gives another output", result,
                              reference="the output when every input requires grad", **how)
    for i, leaf in leaves.items():
        grad = (np.zeros(np.shape(leaf.data)) if leaf.grad is None
                else np.asarray(leaf.grad))
        want = c.native_grads[i]
        if not exactly_close(grad, want, rtol):
            result = exact_comparison(grad, want, i, rtol)
            return c.fail(
                "frozen inputs", f"with {names} given as {given} (so `needs_grad` says "
                f"they take no grad), input x{i + 1} got another grad than when every "
                "input requires grad", result,
                reference="the grads booked when every input requires grad", **how)
    return None


FAN_IN = SubCheck("accumulation", "call variants", "twice one call's grads (two calls handed "
                  "the very same cotangent array)", fan_in_twice, float64_only=True)
LINEARITY = SubCheck("linearity", "call variants", "zero for a zero cotangent; twice u's grads "
                     "for 2u", linearity, float64_only=True)
FROZEN = SubCheck("frozen inputs", "call variants", "the grads booked when every input "
                  "requires grad", frozen_inputs)
