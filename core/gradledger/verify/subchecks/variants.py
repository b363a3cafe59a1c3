"""Call-variant sub-checks: the op called another way must book exactly the same grads
(no nudges: the reference is the grads the plain call booked)."""

from __future__ import annotations

from copy import deepcopy
from typing import TYPE_CHECKING

import numpy as np

from ...tape import apply
from ...tensor import Tensor
from ..calls import call_form, copy, fan_in, weigh
from ..compare import NOISE_FACTOR, exact_comparison, exactly_close
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
        want, got[i] = _finite_doubled(c.grads[i], got[i])
        if not exactly_close(got[i], want, c.exact_tolerance(np.float64)):
            result = exact_comparison(got[i], want, i, c.exact_tolerance(np.float64))
            return c.fail(
                "accumulation", f"two calls on the same inputs whose rules were handed "
                f"the very same cotangent array booked a grad for input x{i + 1} that is "
                "not twice one call's: the rule modifies its out_grad in place, or returns "
                "an array that the bookkeeping later writes into", result,
                reference="twice one call's grads (the same rule, called once)", **how)
    return None


def _finite_doubled(grads, got) -> tuple:
    """Twice `grads`, and `got`, with the elements where twice the grad is not finite (a
    grad near the largest float, sinh near 710) left out of the comparison (as zeros)."""
    with np.errstate(over="ignore", invalid="ignore"):
        doubled = 2 * np.asarray(grads, dtype=np.float64)
    finite = np.isfinite(doubled)
    if np.all(finite):
        return doubled, got
    return np.where(finite, doubled, 0.0), np.where(finite, got, 0.0)


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
    # the "two calls" variant rides along: a second call on other inputs is recorded
    # before this backward, so a rule that reads state the forward left outside the call
    # (a module global) books another call's numbers
    other = None if _declared_skip(c, "two calls") else _other_inputs(c, c.arrays)
    if other is not None:
        try:
            c.call(c.fresh_args(other)[1])
        except Exception:  # the other inputs are not valid for this op (a sample hint's)
            other = None
    try:
        c.backward(c.outs, c.cotangents(c.outs, scale=2.0),
                       retain=bool(c.ex.frozen))
    except Exception as error:
        if other is not None:
            return _two_calls(c, other)
        return c.fail("linearity", f"backward with cotangent 2u raised "
                          f"{type(error).__name__}: {error}", **how)
    rtol = c.exact_tolerance(np.float64)
    for i, grad in c.grads_of(c.leaves).items():
        doubled, grad = _finite_doubled(c.grads[i], grad)
        if not exactly_close(grad, doubled, rtol):
            if other is not None:
                found = _two_calls(c, other)
                if found is not None:
                    return found
            result = exact_comparison(grad, doubled, i, rtol)
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


# -- the call variants of issue 18: the same numbers must come out ------------------------
#
# Each runs in the example's own dtype and compares with the plain call of that dtype
# (`c.native_outs`, `c.native_grads`, booked for the cotangents `c.native_cotangents`),
# which the rows before have held to the nudge method and to float64.


def _declared_skip(c: Checker, variant: str) -> bool:
    why = c.plan.skip.get(variant)
    if why is None:
        return False
    if c.stats is not None:
        c.stats.fixed_notes.add(f"call variant {variant!r} not tried: {why} (declared by the "
                                "op's skip_variants)")
    return True


def _got(leaves: dict, i: int, like) -> np.ndarray:
    grad = leaves[i].grad
    return np.zeros(np.shape(like)) if grad is None else np.asarray(grad)


def _against_plain(c: Checker, check: str, what: str, outs, grads: dict | None, how: dict,
                   rtol_factor: float = 1.0, expected_of=None,
                   noise=None) -> Failure | None:
    """Outputs and grads of a variant call against the plain call's, exactly (up to
    rounding). `grads` maps each wrt input to its grad, in the plain input's layout."""
    rtol = c.exact_tolerance(c.dtype) * rtol_factor
    reference = "the plain call (every input a C-ordered array, every param given)"
    if outs is not None:
        for k, (o, ref) in enumerate(zip(outs, c.native_outs, strict=True)):
            got, want = np.asarray(getattr(o, "data", o)), np.asarray(ref.data)
            which = f"output {k + 1}" if len(outs) > 1 else "the output"
            if got.shape != want.shape or got.dtype != want.dtype:
                return c.fail(check, f"{what}, {which} has shape {got.shape} and dtype "
                              f"{got.dtype}; the plain call gives {want.shape} and {want.dtype}",
                              reference=reference, **_lazy(how))
            if want.dtype.kind == "f" and not exactly_close(got, want, rtol) and not (
                    _output_within_rounding(c, k, got, want)):
                result = exact_comparison(got, want, 0, rtol)
                result.worst = None
                return c.fail(check, f"{what}, {which} is not the plain call's", result,
                              reference=reference, **_lazy(how))
            if want.dtype.kind != "f" and not np.array_equal(got, want):
                return c.fail(check, f"{what}, {which} is not the plain call's",
                              reference=reference, **_lazy(how))
    def within_noise(i, got, want) -> bool:
        # how far one rounding of the example's dtype moves the grads (measured when
        # needed; `noise` maps them to the layout compared, where that differs)
        found = noise() if noise is not None else c.rounding[1]
        if found is None or i not in found or np.shape(found[i]) != np.shape(want):
            return False
        return _inside(found[i], got, want)

    for i in (() if grads is None else c.wrt):
        got, want = grads[i], c.native_grads[i]
        if np.shape(got) != np.shape(want):
            if within_noise(i, got, want):
                continue
            return c.fail(check, f"{what}, input x{i + 1}'s grad has shape {np.shape(got)}; "
                          f"the plain call books {np.shape(want)}", reference=reference,
                          **_lazy(how))
        if exactly_close(got, want, rtol) or within_noise(i, got, want):
            continue
        result = exact_comparison(got, want, i, rtol)
        expected = {f"x{i + 1}": want if expected_of is None else expected_of(i, want)}
        return c.fail(check, f"{what}, input x{i + 1} got another grad than in the plain "
                      "call", result, reference=reference, expected=expected, **_lazy(how))
    return None


def _output_within_rounding(c: Checker, k: int, got, want) -> bool:
    """Output k of a variant call within the measured rounding of the plain call's (var of
    equal values: a view reorders numpy's sums, 5e-32 for 0)."""
    found = c.rounding[0].get(k)
    return (found is not None and np.shape(found) == np.shape(want)
            and _inside(found, got, want))


def _inside(noise, got, want) -> bool:
    """`got` within NOISE_FACTOR times the largest of `noise` (a measured rounding of
    `want`: a rule that cancels terms far larger than its result, softmax's
    out * (g - <g, out>) where one output is 1 - 2e-9, rounds by eps of the terms; a view
    reorders numpy's sums) of `want`, everywhere: its largest, as any layout may come."""
    slack = NOISE_FACTOR * float(np.max(noise, initial=0.0))
    return bool(np.all(np.abs(np.asarray(got, dtype=np.float64) - want) <= slack))


def _lazy(how) -> dict:
    """A variant's snippet arguments, built only when it fails (literals cost)."""
    return how() if callable(how) else how


def _cotangent_how(c: Checker) -> dict:
    cotangents = c.native_cotangents
    return {"cotangent": cotangents if c.multi else cotangents[0]}


def outputs_alone(c: Checker) -> Failure | None:
    """An op with several floating outputs, each used alone (the tape sends the others'
    cotangents as zeros): the grads summed over the outputs are those of all together."""
    floating = [k for k, u in enumerate(c.native_cotangents) if u is not None]
    if not c.multi or len(floating) < 2 or _declared_skip(c, "outputs alone"):
        return None
    c.stage = "native"
    leaves, args = c.fresh_args(c.native)
    total = {i: 0.0 for i in c.wrt}
    try:
        outs = c.call(args)
        for k in floating:
            for leaf in leaves.values():
                leaf.grad = None
            outs[k].backward(copy(c.native_cotangents[k]), retain_graph=True)
            for i in c.wrt:
                total[i] = total[i] + _got(leaves, i, c.native[i])
    except Exception as error:
        return c.fail("outputs alone", f"backward from one output alone (the others unused) "
                      f"raised {type(error).__name__}: {error}", **_cotangent_how(c))
    try:
        code = _alone_snippet(c, floating)
    except Exception as error:
        code = f"# no snippet: {type(error).__name__}: {error}"
    failure = _against_plain(
        c, "outputs alone", "with each output used alone (the others unused: the tape hands "
        "the rule zero cotangents for them) and the grads summed over the outputs",
        None, total, {}, rtol_factor=len(floating))
    if failure is not None:
        failure.snippet = code
    return failure


def _alone_snippet(c: Checker, floating: list) -> str:
    from ..report import literal, snippet

    base = snippet(c.op, c.native, c.op.constants, c.params_at_start).splitlines()[:-1]
    parts = ", ".join("None" if u is None else literal(u) for u in c.native_cotangents)
    lines = [*base, f"u = [{parts}]"]
    lines.append(f"for k in {tuple(floating)!r}:  # each output alone; .grad sums them")
    lines.append("    outs[k].backward(u[k], retain_graph=True)")
    for i in c.wrt:
        lines.append(f"print(x{i + 1}.grad)  # with all outputs together (gl.verify.weigh(outs, "
                     f"u).backward()): {_show(c.native_grads[i])}")
    return "\n".join(lines)


def _show(value) -> str:
    from ..report import _show as show

    return show(value)


LAYOUTS = ("transposed", "reversed")


def non_contiguous(c: Checker) -> Failure | None:
    """Inputs passed as views (`x.T` of a transposed array: Fortran order; `x[::-1]` of a
    reversed one: a negative stride) and cotangents likewise: the same numbers."""
    if _declared_skip(c, "non-contiguous"):
        return None
    chosen = {i: ("transposed" if np.ndim(c.native[i]) >= 2 and c.rng.random() < 0.5
                  else "reversed") for i in c.wrt if np.ndim(c.native[i]) >= 1}
    cotangents = c.native_cotangents
    strided = [u is not None and np.ndim(u) >= 1 for u in cotangents]
    if not chosen and not any(strided):
        return None
    c.stage = "native"
    storage, wrap = list(c.native), {}
    for i, layout in chosen.items():
        a = np.asarray(c.native[i])
        storage[i] = a.T.copy() if layout == "transposed" else a[::-1].copy()
        wrap[i] = "{}.T" if layout == "transposed" else "{}[::-1]"
    views = []
    for u in cotangents:
        if u is None or np.ndim(u) == 0:
            views.append(None if u is None else copy(u))
        elif np.ndim(u) >= 2:
            views.append(np.asfortranarray(u))
        else:
            views.append(np.asarray(u)[::-1].copy()[::-1])

    def how():
        codes = []
        for u in cotangents:
            if u is None:
                codes.append("None")
            elif np.ndim(u) == 0:
                codes.append(_literal(u))
            elif np.ndim(u) >= 2:
                codes.append(f"np.asfortranarray({_literal(u)})")
            else:
                codes.append(f"{_literal(np.asarray(u)[::-1])}[::-1]")
        return {"arrays": storage, "wrap": wrap,
                "cotangent_code": ("[" + ", ".join(codes) + "]") if c.multi else codes[0],
                "cotangent": cotangents if c.multi else cotangents[0]}

    what = ("with " + ", ".join(f"x{i + 1} passed as {'x.T' if lay == 'transposed' else 'x[::-1]'}"
                                for i, lay in chosen.items())
            + (" and " if chosen else "with ") + "cotangents that are views "
            "(Fortran order, negative strides)")

    def to_storage(i, want):
        layout = chosen.get(i)
        return want.T if layout == "transposed" else want[::-1] if layout else want

    # The forward and the rule are called directly (as the tape calls them, views passed
    # through). The forward on views may round differently (numpy's strided loops are not
    # its SIMD ones): its outputs agree to rounding; the rule is then handed the very same
    # numbers as the plain call's, as views, so its own layout handling is all that differs.
    viewed = [_view(a, chosen.get(i)) if i in chosen else copy(a)
              for i, a in enumerate(c.native)]
    try:
        outs = c.op.forward(*viewed, **deepcopy(c.params_at_start))
    except Exception as error:
        return c.fail("non-contiguous", f"{what}, the forward raised "
                      f"{type(error).__name__}: {error}", **how())
    outs = list(outs) if c.multi else [outs]
    failure = _against_plain(c, "non-contiguous", what, outs, None, how,
                             rtol_factor=16.0)
    if failure is not None:
        return failure
    plain_outs = [np.asarray(o.data) for o in c.native_outs]
    viewed_outs = [_view(o, "transposed" if np.ndim(o) >= 2 else "reversed")
                   if np.ndim(o) >= 1 else o for o in plain_outs]
    try:
        got = c.call_rule(viewed, viewed_outs, views)
    except Exception as error:
        return c.fail("non-contiguous", f"{what}, the rule raised {type(error).__name__}: "
                      f"{error}", **how())
    for i in c.wrt:
        if np.shape(got[i]) != np.shape(c.native_grads[i]):
            return c.fail("non-contiguous", f"{what}, the rule's grad for input x{i + 1} has "
                          f"shape {np.shape(got[i])}; the plain call books "
                          f"{np.shape(c.native_grads[i])}", **how())
    # compared in the layout of the snippet's leaves (x1 holds x.T's array)
    saved = c.native_grads
    c.native_grads = {i: to_storage(i, np.asarray(g)) for i, g in saved.items()}
    def noise():
        return {i: to_storage(i, np.asarray(g)) for i, g in c.rounding[1].items()}
    try:
        return _against_plain(c, "non-contiguous", what + " (the rule handed the very same "
                              "numbers as views)", None,
                              {i: to_storage(i, np.asarray(g)) for i, g in got.items()}, how,
                              noise=noise, rtol_factor=16.0)
    finally:
        c.native_grads = saved


def _view(a, layout):
    """`a`'s values in a non-contiguous array: Fortran order, or a negative stride."""
    a = np.asarray(a)
    if layout == "transposed" and a.ndim >= 2:
        return np.asfortranarray(a)
    return a[::-1].copy()[::-1] if a.ndim >= 1 else a


def _literal(value) -> str:
    from ..report import literal

    return literal(value)


def defaults(c: Checker) -> Failure | None:
    """A param with a default, left out: the same numbers as with the default given."""
    names = [p for p in c.plan.defaults if p in c.ex.params]
    if not names or _declared_skip(c, "defaults"):
        return None
    name = names[int(c.rng.integers(len(names)))]
    default = c.plan.defaults[name]
    c.stage = "native"
    given = {**deepcopy(c.params_at_start), name: default}
    left = {k: v for k, v in deepcopy(c.params_at_start).items() if k != name}
    cotangents = c.native_cotangents
    results = []
    drawn = _canon(c.params_at_start[name])
    if drawn is not None and drawn == _canon(default):
        # the default was drawn: the call with it given is the plain call, already made
        results.append((c.native_outs, c.native_grads))
    for params in ((left,) if results else (given, left)):
        leaves, args = c.fresh_args(c.native)
        try:
            outs = apply(c.op, call_form(c.op, args), params)
            outs = list(outs) if c.multi else [outs]
            c.backward(outs, [None if t is None else copy(t) for t in cotangents], retain=False)
        except Exception as error:
            if params is given:
                return None  # the default, given explicitly, is not a value it takes
            return c.fail("defaults", f"with the param {name!r} left out (its default "
                          f"{default!r}), the op or its rule raised {type(error).__name__}: "
                          f"{error}", omit=(name,), **_cotangent_how(c))
        results.append((outs, {i: _got(leaves, i, c.native[i]) for i in c.wrt}))
    (outs_given, grads_given), (outs_left, grads_left) = results
    saved = c.native_outs, c.native_grads
    c.native_outs, c.native_grads = outs_given, grads_given
    try:
        return _against_plain(
            c, "defaults", f"with the param {name!r} left out (the forward's default "
            f"{default!r} applies; does the rule assume another?)", outs_left, grads_left,
            {"omit": (name,), **_cotangent_how(c)})
    finally:
        c.native_outs, c.native_grads = saved


def _other_inputs(c: Checker, arrays: list) -> list | None:
    """Other inputs for a second call: each differentiable one moved by up to half its
    nudge scale (inside the domain, clear of kinks), elementwise at random."""
    other, changed = list(arrays), False
    for i in c.wrt:
        a = np.asarray(arrays[i], dtype=np.float64)
        moved = a + 0.5 * c.scales[i] * c.rng.uniform(-1.0, 1.0, np.shape(a))
        changed = changed or not np.array_equal(moved, a)
        other[i] = moved if np.ndim(moved) else moved[()]
    return other if changed else None


def _two_calls(c: Checker, other: list) -> Failure | None:
    """Linearity's 2u pass failed with a second call recorded before it: the same without
    that call tells whether the second call is to blame."""
    how = _cotangent_how_plain(c)
    what = ("with a second call of the op (on inputs moved a little) recorded between a call "
            "and its backward")
    between = [f"other = gl.ops.{c.op.name}({_other_args(c, other)})  # a second call, "
               "on other inputs, before backward"]
    leaves, args = c.fresh_args(c.arrays)
    try:
        outs = c.call(args)
        c.backward(outs, c.cotangents(outs), retain=False)
    except Exception:
        return None  # the plain call fails too: linearity's finding
    alone = c.grads_of(leaves)
    rtol = c.exact_tolerance(np.float64)
    if not all(exactly_close(alone[i], c.grads[i], rtol) for i in c.wrt):
        return None
    leaves, args = c.fresh_args(c.arrays)
    try:
        outs = c.call(args)
        c.call(c.fresh_args(other)[1])
        c.backward(outs, c.cotangents(outs), retain=False)
    except Exception as error:
        return c.fail("two calls", f"{what}, the rule raised {type(error).__name__}: {error}",
                      between=between, **how)
    got = c.grads_of(leaves)
    for i in c.wrt:
        if not exactly_close(got[i], c.grads[i], rtol):
            result = exact_comparison(got[i], c.grads[i], i, rtol)
            return c.fail("two calls", f"{what}, input x{i + 1} got another grad than when "
                          "backward follows its call: the rule reads state another call "
                          "changed", result, reference="the same call, backward right after "
                          "it", between=between, expected={f"x{i + 1}": c.grads[i]}, **how)
    return None


def _cotangent_how_plain(c: Checker) -> dict:
    parts = c.cotangents(c.outs)
    return {"cotangent": parts if c.multi else parts[0]}


def _other_args(c: Checker, other: list) -> str:
    from ..report import source

    parts = [f"gl.tensor({_literal(a)})" if i in c.wrt else _literal(a)
             for i, a in enumerate(other)]
    if c.op.variadic == "sequence":
        fixed = c.op.nin - 1
        parts = parts[:fixed] + ["[" + ", ".join(parts[fixed:]) + "]"]
    kwargs = "".join(f", {k}={source(v)}" for k, v in c.params_at_start.items())
    return ", ".join(parts) + kwargs


def broadcast_operands(c: Checker) -> Failure | None:
    """`(*)` operands of different (broadcastable) shapes: one operand shrunk to size 1 on
    some axes books the sum, over those axes, of what its broadcast copy books."""
    star = [i for i in c.wrt if i in c.plan.star]
    if len(star) < 2 or c.multi or _declared_skip(c, "broadcast operands"):
        return None
    shape = np.shape(c.native[star[0]])
    if any(np.shape(c.native[i]) != shape for i in star) or not any(n > 1 for n in shape):
        return None
    j = star[int(c.rng.integers(len(star)))]
    axes = tuple(k for k, n in enumerate(shape) if n > 1 and c.rng.random() < 0.5) or (
        next(k for k, n in enumerate(shape) if n > 1),)
    full = np.asarray(c.native[j])
    small = full[tuple(slice(0, 1) if k in axes else slice(None) for k in range(full.ndim))]
    small = small.copy()
    c.stage = "native"
    broad = list(c.native)
    broad[j] = np.broadcast_to(small, shape).copy()
    results = []
    for arrays in (broad, [small if k == j else a for k, a in enumerate(c.native)]):
        leaves, args = c.fresh_args(arrays)
        try:
            outs = c.call(args)
            c.backward(outs, [copy(t) for t in c.native_cotangents], retain=False)
        except Exception:
            if arrays is broad:
                return None
            if c.stats is not None:
                c.stats.fixed_notes.add("call variant 'broadcast operands' not tried: the "
                                        "forward refuses (*) operands of different shapes")
            return None
        results.append((outs, {i: _got(leaves, i, arrays[i]) for i in c.wrt}))
    (outs_ref, grads_ref), (outs, grads) = results
    count = int(np.prod([shape[k] for k in axes]))
    grads_ref[j] = np.sum(grads_ref[j], axis=axes, keepdims=True)
    narrowed = [small if k == j else a for k, a in enumerate(c.native)]
    saved = c.native_outs, c.native_grads
    c.native_outs, c.native_grads = outs_ref, grads_ref
    try:
        return _against_plain(
            c, "broadcast operands", f"with x{j + 1} of shape {small.shape} broadcast against "
            f"the other operands' {shape}", outs, grads,
            {"arrays": narrowed, **_cotangent_how(c)}, rtol_factor=count)
    finally:
        c.native_outs, c.native_grads = saved


def _canon(value):
    """A comparable picture of a param: arrays bit for bit, containers item by item; None
    for what may change legitimately (a Generator's state) or cannot be pictured."""
    if isinstance(value, np.ndarray):
        return ("array", value.dtype.str, value.shape, value.tobytes())
    if isinstance(value, (list, tuple)):
        return (type(value).__name__, tuple(_canon(v) for v in value))
    if isinstance(value, dict):
        return ("dict", tuple((k, _canon(v)) for k, v in value.items()))
    if value is None or isinstance(value, (bool, int, float, complex, str, np.generic)):
        return ("value", repr(value))
    return None


def params_unchanged(c: Checker) -> Failure | None:
    """After forward and backward, every param (arrays, lists) is bit for bit as drawn."""
    for name, before in c.params_at_start.items():
        then, now = _canon(before), _canon(c.ex.params.get(name))
        if then is not None and then != now:
            return c.fail("params unchanged", f"after forward and backward, the param {name!r} "
                          f"is {c.ex.params.get(name)!r}; it was {before!r}: the forward or the "
                          "rule modified it in place (a user's array, changed under them)",
                          reference="the params as drawn, bit for bit", cotangent=c.u,
                          named_params=(name,))
    return None


def deterministic(c: Checker) -> Failure | None:
    """Two forwards on the same inputs give the same outputs; else nudges would measure the
    forward's noise, and the report must blame the forward, not the rule."""
    if _declared_skip(c, "deterministic") or c.forward_only:
        return None
    try:
        again = c.op.forward(*[copy(a) for a in c.arrays], **deepcopy(c.params_at_start))
    except Exception as error:
        return c.fail("deterministic", f"the forward rule raised {type(error).__name__}: "
                      f"{error} when called a second time on the same inputs")
    again = list(again) if c.multi else [again]
    rtol = c.exact_tolerance(np.float64)
    for k, (o, first) in enumerate(zip(again, c.outs, strict=True)):
        got, want = np.asarray(o), np.asarray(first.data)
        same = (got.shape == want.shape and
                (exactly_close(got, want, rtol) if want.dtype.kind == "f"
                 else np.array_equal(got, want)))
        if not same:
            which = f"output {k + 1}" if len(again) > 1 else "the output"
            result = (exact_comparison(got, want, 0, rtol)
                      if got.shape == want.shape and want.dtype.kind == "f" else None)
            if result is not None:
                result.worst = None
            return c.fail("deterministic", f"the forward is not deterministic: called twice on "
                          f"the same inputs, {which} differs; nudges of a moving forward "
                          "measure its noise, so no rule can be checked against it (a "
                          "random op takes its Generator or seed as a param)", result,
                          reference="the first call on the same inputs")
    return None


DETERMINISTIC = SubCheck("deterministic", "call variants", "the first call on the same "
                         "inputs (a second forward)", deterministic)
PARAMS_UNCHANGED = SubCheck("params unchanged", "call variants", "the params as drawn, bit for "
                            "bit", params_unchanged)
OUTPUTS_ALONE = SubCheck("outputs alone", "call variants", "the grads of all outputs used "
                         "together (each output alone, summed)", outputs_alone)
NON_CONTIGUOUS = SubCheck("non-contiguous", "call variants", "the plain call (C-ordered "
                          "inputs and cotangents)", non_contiguous)
DEFAULTS = SubCheck("defaults", "call variants", "the call with the default given explicitly",
                    defaults)
BROADCAST = SubCheck("broadcast operands", "call variants", "the same call with the operand "
                     "broadcast to full size, its grad summed over the broadcast axes",
                     broadcast_operands)
