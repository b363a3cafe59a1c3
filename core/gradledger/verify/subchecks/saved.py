"""Saved values (`Op(saves=True)`): what a forward hands its rules must be a function of
the inputs and params, and an op drawing from a Generator must save its draw.

A Generator param is drawn from: two calls with one Generator draw twice. The verifier
calls an op many times on one example (nudges, call variants), so every call gets the
Generator as it was drawn, in the same state (`fixed_draws`): each call draws what the
first drew, and the op is checked as the fixed function of its draw. Its rule, though,
runs after the forward has drawn, so it cannot draw the same numbers again: it must read
them from what the forward saved. An op whose forward draws from its Generator param (moves
its state on) and saves nothing is refused here, with that advice, before nudges would
blame its rule for noise; one that draws from a copy (the Generator left as it was) can
draw the same numbers again in its rule, and is checked as any other op.
"""

from __future__ import annotations

from copy import deepcopy
from typing import TYPE_CHECKING

import numpy as np

from ..calls import copy
from .base import SubCheck

if TYPE_CHECKING:
    from ..checks import Checker
    from ..report import Failure


def fixed_draws(params: dict, at_start: dict) -> dict:
    """`params`, with every Generator among them a copy of its state as drawn: each call
    of the op draws the same numbers (the params themselves when none is a Generator)."""
    if not any(isinstance(v, np.random.Generator) for v in at_start.values()):
        return params
    return {name: deepcopy(at_start[name]) if isinstance(at_start.get(name), np.random.Generator)
            else value for name, value in params.items()}


def _generators(c: Checker) -> list[str]:
    return [name for name, value in c.params_at_start.items()
            if isinstance(value, np.random.Generator)]


def _same(a, b) -> bool:
    """Bit for bit (NaN where NaN), or equal for what is not an array."""
    if isinstance(a, (np.ndarray, np.generic)) or isinstance(b, (np.ndarray, np.generic)):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool(
            np.array_equal(a, b, equal_nan=a.dtype.kind in "fc"))
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    try:
        return bool(a == b)
    except Exception:  # something with no plain equality: its identity is all we can compare
        return a is b


def _state(generator: np.random.Generator):
    return generator.bit_generator.state


def _drawing(c: Checker, generators: list[str]) -> list[str]:
    """The Generator params that one forward on this example moves on (draws from). A
    forward that draws from a copy leaves its Generator as it was: its rule can draw the
    same numbers from the Generator it is given, so it needs no saved values."""
    params = deepcopy(c.params_at_start)
    before = {name: _state(params[name]) for name in generators}
    try:
        op_forward = c.op.saving_forward if c.op.saves else c.op.forward
        op_forward(*[copy(a) for a in c.arrays], **params)
    except Exception:  # the forward's own failure is reported by the rows that call it
        return []
    return [name for name in generators if not _same_state(before[name], _state(params[name]))]


def _same_state(a, b) -> bool:
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same_state(a[k], b[k]) for k in a)
    return _same(a, b)


def saved_values(c: Checker) -> Failure | None:
    """A Generator param needs saves=True; two forwards on the same inputs (Generators in
    the same state) save the same values."""
    op = c.op
    generators = _generators(c)
    if generators and not op.saves and op.differentiable:
        drew = _drawing(c, generators)
        if drew:
            names = ", ".join(repr(n) for n in drew)
            return c.fail("saved values", f"the op's forward draws from its np.random.Generator "
                          f"(param {names}) but saves nothing: its rule runs after the forward "
                          "drew, so it cannot see the draw, and no rule can be checked against "
                          "a forward that draws anew each call. Declare saves=True and return "
                          "(out, (draw,)) from the forward; the rule reads the draw from saved= "
                          "(docs/plugins.md, saved values). (A forward that draws from a copy "
                          "of the Generator, leaving it as it was, needs no saved values.)",
                          reference="the Generator's state before and after one forward")
    if not op.saves or c.forward_only:
        return None
    calls = []
    for _ in range(2):
        params = fixed_draws(deepcopy(c.params_at_start), c.params_at_start)
        try:
            calls.append(op.saving_forward(*[copy(a) for a in c.arrays], **params))
        except Exception as error:
            return c.fail("saved values", f"the saving forward raised {type(error).__name__}: "
                          f"{error} when called again on the same inputs",
                          reference="a second saving forward on the same inputs")
    (_, first), (_, second) = calls
    if not (isinstance(first, tuple) and isinstance(second, tuple)):
        return None  # the contract row says what the forward must return
    if len(first) != len(second):
        return c.fail("saved values", f"the forward saved {len(first)} values on one call and "
                      f"{len(second)} on another, on the same inputs and params",
                      reference="a second saving forward on the same inputs")
    for k, (a, b) in enumerate(zip(first, second, strict=True)):
        if not _same(a, b):
            drawn = (" (a Generator param is handed to each call in the same state, so a "
                     "draw from it repeats)" if generators else "")
            return c.fail("saved values", f"saved value {k + 1} is not a deterministic function "
                          f"of the inputs and params: two forwards on the same inputs saved "
                          f"different values{drawn}. A rule reading it would depend on which "
                          "call it came from; draw randomness from a Generator param, or from "
                          "a seed param", reference="a second saving forward on the same inputs")
    return None


SAVED_VALUES = SubCheck("saved values", "contract", "a second saving forward on the same "
                        "inputs and params (Generators in the state drawn)", saved_values)
ROWS = (SAVED_VALUES,)
