"""Plumbing the sub-checks share: the two helper ops (`fan_in`, `weigh`) and how flat
inputs become a call. Nothing here imports hypothesis."""

from __future__ import annotations

import numpy as np

from ..op import Op
from ..signature import SEQUENCE
from ..tape import apply
from ..tensor import Tensor, as_data

FAN_IN = Op(
    "verify_fan_in", forward=np.add, vjp=lambda out_grad, a, b, out: (out_grad, out_grad),
    signature="(*),(*)->(*)", doc="a + b; both inputs are handed the very same cotangent array",
)


def fan_in(a: Tensor, b: Tensor) -> Tensor:
    """`a + b`, whose rule hands the very same cotangent array to both inputs.

    Two paths that meet here book into one ledger entry with one shared array,
    which is how the accumulation check catches a rule that modifies its out_grad
    in place or returns a view the bookkeeping later writes into.
    """
    return apply(FAN_IN, (a, b), {})


def _weigh_forward(*outs, cotangents):
    total = 0.0
    for out, u in zip(outs, cotangents, strict=True):
        total = total + np.sum(np.asarray(u) * out)
    return np.asarray(total, dtype=np.result_type(*outs))[()]


def _weigh_vjp(out_grad, *outs, out, cotangents):
    if out_grad == 1:  # the cotangents themselves: the op's rule gets these very arrays
        return tuple(cotangents)
    return tuple(out_grad * u for u in cotangents)


WEIGH = Op(
    "verify_weigh", forward=_weigh_forward, vjp=_weigh_vjp, signature="(*)...->()",
    doc="sum_k <u_k, out_k>: the several outputs of one call, each weighed by its cotangent",
)


def weigh(outputs, cotangents) -> Tensor:
    """`sum_k <cotangents[k], outputs[k]>`, a scalar whose backward() hands each output its
    own cotangent (the very array given, in the output's dtype): how a call with several
    outputs is given one cotangent per output. Outputs whose cotangent is None are left out
    (integer and boolean outputs carry no gradient).
    """
    pairs = [(o, c) for o, c in zip(outputs, cotangents, strict=True) if c is not None]
    return apply(WEIGH, tuple(o for o, _ in pairs), {"cotangents": tuple(c for _, c in pairs)})


FLOAT_NAMES = frozenset({"float16", "float32", "float64", "half", "single", "double"})


def call_form(op, args) -> tuple:
    """Flat inputs as a user passes them: a sequence input as one list."""
    if op.variadic == SEQUENCE:
        fixed = op.nin - 1
        return (*args[:fixed], list(args[fixed:]))
    return tuple(args)


def flat(parts: list) -> np.ndarray:
    return np.concatenate([np.ravel(p) for p in parts]) if parts else np.zeros(0)


def widen(array):
    """A float input widened exactly to float64 (integers, booleans kept)."""
    if np.asarray(array).dtype.kind != "f" or np.asarray(array).dtype == np.float64:
        return array
    return as_data(np.asarray(array, dtype=np.float64))


def copy(value):
    return value.copy() if isinstance(value, (np.ndarray, np.generic)) else value
