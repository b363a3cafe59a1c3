"""The sub-checks run on every example: a table (`TABLE`) the engine walks, in order; the
first failure ends the example. One module per family under `subchecks/`: contract,
nudges, call variants, dtypes, second order; each row names what it compares with.

The first rows run in float64 (a float32 example's inputs are widened exactly first, and
it runs only the rows not marked float64-only there: the float64 examples run the rest);
`vs float64` and the rows after it run in the example's own dtype. `Checker` holds one
example's state (inputs, leaves, outputs, cotangents, grads) and the helpers the rows
share; `describe()` lists the table.

Grads are the ones a user gets: every backward goes through the real tape
(`gradledger.tape.apply` and `backward`), so the core's contract checks run too.
Nothing here imports hypothesis.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field

import numpy as np

from ..broadcast import unbroadcast
from ..tape import apply
from ..tensor import Tensor, as_data
from . import hints, numeric
from .calls import FAN_IN, FLOAT_NAMES, WEIGH, call_form, copy, fan_in, weigh, widen
from .compare import (
    EXACT_RTOL,
    Comparison,
    compare_elements,
    compare_scalar,
    same_bits,
    scalar_tolerance,
)
from .report import Failure, snippet

JACOBIAN_MAX = 64
"""Inputs with at most this many elements (all differentiable inputs together) get the
per-element check on every example."""
WORST_ELEMENT_MAX = 2048
"""A directional failure names the worst element when the inputs have at most this many."""
ACCEPT = 0.125
"""A plain central difference within this fraction of the tolerance (truncation left out)
is accepted without Richardson's two half steps; any other runs all four passes."""

__all__ = ["ACCEPT", "CHECKS", "EXACT_RTOL", "FAN_IN", "JACOBIAN_MAX", "TABLE", "WEIGH",
           "WORST_ELEMENT_MAX", "Checker", "Comparison", "Discard", "Stats", "compare_elements",
           "compare_scalar", "describe", "fan_in", "scalar_tolerance", "weigh"]


class Discard(Exception):
    """The example left what the op can be asked (its forward overflows far out in an open
    domain): not a finding about the op. The reason is counted in the report."""


@dataclass
class Stats:
    """Across an op's passing examples: how many, the worst directional errors, and per
    sub-check the closest approach to its tolerance (error / tolerance)."""

    examples: int = 0
    worst_abs: float = 0.0
    worst_rel: float = 0.0
    worst_fraction: float = 0.0
    by_check: dict = field(default_factory=dict)
    by_dtype: dict = field(default_factory=dict)
    discarded: dict = field(default_factory=dict)
    forward_only: int = 0
    steer: bool = False
    remarks: dict = field(default_factory=dict)
    """Findings that are not failures (a sub-check that could not judge an example), by
    text, with how many examples: `notes()` for the report."""
    fixed_notes: set = field(default_factory=set)
    """Notes about the op, not about examples (a call variant it declares inapplicable)."""
    second_unchecked: str | None = None
    """Set when the first-order rule cannot run on Tensors: the verdict's scope (the
    second-order check is not run on later examples)."""
    repeats: int = 0
    """Examples drawn again after an identical one passed, not checked again (`repeats`)."""
    passed: set = field(default_factory=set)
    """The keys (`repeats.example_key`) of the examples that passed."""

    def record(self, abs_error: float, rel_error: float, fraction: float) -> None:
        self.worst_abs = max(self.worst_abs, abs_error)
        self.worst_rel = max(self.worst_rel, rel_error)
        self.worst_fraction = max(self.worst_fraction, fraction)

    def remark(self, text: str) -> None:
        self.remarks[text] = self.remarks.get(text, 0) + 1

    def notes(self) -> list[str]:
        return sorted(self.fixed_notes) + [f"{text} ({n} example(s))"
                                           for text, n in self.remarks.items()]

    def approach(self, check: str, fraction: float) -> None:
        if np.isfinite(fraction):
            self.by_check[check] = max(self.by_check.get(check, 0.0), float(fraction))


RANGE_MARGIN = 2.0 ** 10
"""A low-precision grad that overflows is discarded, not failed, when the float64 results
come within this factor of the dtype's largest number."""


class Checker:
    """Runs the sub-check table on one example of one op (`run()` returns the first Failure).

    Inputs are flat (a variadic input's elements one by one); outputs are a list (one
    for most ops). Raises `Discard` for an example the op cannot be asked about.
    `forward_only` is True after `run()` when the example had no gradient to check (an
    op declared `differentiable=False`, or no floating output).
    """

    def __init__(self, op, example, stats: Stats | None = None) -> None:
        self.op = op
        self.ex = example
        self.stats = stats
        self.n = len(example.arrays)
        self.plan = hints.plan(op)
        self.wrt = self.plan.wrt(self.n)
        self.rng = np.random.default_rng(example.seed)
        self.dtype = np.dtype(example.dtype)
        self.low = self.dtype != np.float64
        # The float64 stage works on the inputs widened exactly to float64.
        self.native = list(example.arrays)
        self.arrays = [widen(a) for a in example.arrays]
        self.shared = None if example.shared is None else widen(example.shared)
        self.scales = {
            i: numeric.element_scale(self.arrays[i], self.plan.interval(i),
                                    self.plan.kinks(i))
            for i in self.wrt
        }
        self.notes: list[str] = []
        self.check = "forward"
        self.stage = "float64"
        self.forward_only = False
        self.multi = bool(getattr(op, "multi", False))
        self.u = self.u_parts = None
        self.u_factor = 1.0  # the cotangents' power-of-2 scale (1 but near overflow)
        # the params as drawn, before any call: the first call's state (a Generator's)
        self.params_at_start = deepcopy(example.params)
        self._rounding: tuple[dict, dict] | None = None
        self.second_found = None  # the rule differentiated by the tape (second-order rows)

    @property
    def rounding(self) -> tuple[dict, dict]:
        """How far one rounding of the example's dtype, of the inputs, the outputs and the
        cotangents, moves the op's float64 outputs and grads: `(per output, per input)`,
        measured on this example when first asked (`subchecks.dtypes.rounding_noise`: three
        more forwards and rule calls, so only for a comparison about to fail). The vs float64
        row and the call variants allow differences of this size."""
        if self._rounding is None:
            from .subchecks.dtypes import rounding_noise

            self._rounding = rounding_noise(self)
        return self._rounding

    @property
    def params(self) -> dict:
        """The example's params for one call: a Generator among them in the state drawn,
        so every call draws what the first drew (see subchecks/saved.py)."""
        return fixed_draws(self.ex.params, self.params_at_start)

    def call(self, args):
        """The op through the tape, called as a user calls it; a list of output Tensors."""
        result = apply(self.op, call_form(self.op, args), self.params)
        return list(result) if self.multi else [result]

    def forward_rule(self, *arrays):
        """The forward rule alone; several floating outputs as one flat vector."""
        out = self.op.forward(*arrays, **self.params)
        if not self.multi:
            return out
        floats = [np.ravel(o) for o in out if np.asarray(o).dtype.kind == "f"]
        if not floats:
            return np.zeros(0)
        return np.concatenate(floats)

    def run(self) -> Failure | None:
        """Every sub-check in order; the first Failure, or None when the example passes."""
        with np.errstate(all="ignore"):
            try:
                failure = self._run()
            except Discard:
                raise
            except Exception as error:  # never let an op (or a bug of ours) stop the run
                failure = self.fail(self.check, f"checking raised {type(error).__name__}: "
                                     f"{error}")
        if failure is None and self.stats is not None:
            self.stats.examples += 1
            name = self.dtype.name
            self.stats.by_dtype[name] = self.stats.by_dtype.get(name, 0) + 1
            self.stats.forward_only += self.forward_only
        return failure

    def _run(self) -> Failure | None:
        for row in TABLE:
            if self.low and row.float64_only:  # a float32 example is about float32
                continue
            self.check = row.name
            failure = row.run(self)
            if failure is not None:
                if row.family in ("nudges", "second order", "dtypes"):
                    # a forward that moves by itself makes nudges measure its noise: say so
                    failure = DETERMINISTIC.run(self) or failure
                return failure
            if self.forward_only and row.name == "forward":
                return self.native_forward() if self.low else None
        return None

    def fresh_args(self, arrays) -> tuple[dict, list]:
        """Fresh leaves for the differentiable inputs (for an op without gradient, every
        floating input that is not a constant: its outputs must still not require grad);
        copies of the constants."""
        wrt = self.wrt or [i for i, a in enumerate(arrays)
                           if i not in self.op.constants and np.asarray(a).dtype.kind == "f"]
        leaves = {i: Tensor(arrays[i], requires_grad=True) for i in wrt}
        args = [leaves[i] if i in leaves else copy(a) for i, a in enumerate(arrays)]
        return leaves, args

    def fail(self, check: str, message: str, comparison: Comparison | None = None,
              reference: str | None = None, **how) -> Failure:
        arrays = how.pop("arrays", None)
        if arrays is None:
            arrays = self.native if self.stage == "native" else self.arrays
        if self.low and self.stage == "float64" and check != "forward":
            message += (f" (a {self.dtype} example, checked first in float64: its inputs "
                        "widened exactly)")
        if "cotangent" in how and self.multi and how["cotangent"] is self.u:
            how["cotangent"] = self.u_parts
        try:
            code = snippet(self.op, arrays, self.op.constants, self.params_at_start, **how)
        except Exception as error:  # a param no snippet can spell: say so, keep the finding
            code = f"# no snippet: {type(error).__name__}: {error}"
        failure = Failure(check, message, code, params=dict(self.params_at_start))
        if reference is not None:
            failure.reference = reference
        if how.get("call") == "shared":
            failure.inputs = {"x1": how["shared"]}
        else:
            failure.inputs = {f"x{i + 1}": a for i, a in enumerate(arrays)}
        failure.dtype = str(self.dtype)
        if comparison is not None:
            failure.tolerance_fraction = comparison.fraction
            failure.numeric, failure.analytic = comparison.numeric, comparison.analytic
            failure.max_abs_error = comparison.abs_error
            failure.max_rel_error = comparison.rel_error
            failure.tolerance, failure.worst = comparison.tolerance, comparison.worst
        return failure

    def grads_of(self, leaves: dict) -> dict:
        return {i: (np.zeros(np.shape(leaves[i].data), dtype=np.asarray(leaves[i].data).dtype)
                    if leaves[i].grad is None else np.asarray(leaves[i].grad)) for i in self.wrt}

    def mutated(self, originals, args, leaves) -> str | None:
        for i, original in enumerate(originals):
            now = leaves[i].data if i in leaves else args[i]
            if not same_bits(now, original):
                return f"input x{i + 1}"
        return None

    def far_out(self) -> float:
        """The largest magnitude among the inputs: beyond BOUND is beyond the edge draws."""
        return max((float(np.max(np.abs(a), initial=0.0)) for a in self.arrays
                    if np.asarray(a).dtype.kind == "f"), default=0.0)

    def beyond_range(self) -> None:
        """A low-precision example whose grad overflows: Discard it when the float64 run's
        outputs or grads (verified above) come within RANGE_MARGIN of the dtype's largest
        number, where a correct rule's sums may overflow on the way (cumprod's running sums
        over 1,165 float32 values near -1.08: terms of 3e38). Else nothing: it fails."""
        top = float(np.finfo(self.dtype).max) / RANGE_MARGIN
        values = [np.asarray(self.grads[j]) for j in self.wrt]
        values += [np.asarray(o.data) for o in self.outs]
        largest = max((float(np.max(np.abs(a), initial=0.0)) for a in values
                       if a.dtype.kind == "f" and a.size), default=0.0)
        if np.isfinite(largest) and largest >= top:
            raise Discard(f"a {self.dtype} grad overflows where float64's is finite and as "
                          f"large as {largest:.3g} (within {RANGE_MARGIN:g}x of {self.dtype}'s "
                          "range)")

    def not_finite(self, what: str) -> Failure:
        far = self.far_out()
        if far > hints.BOUND:
            raise Discard(f"{what} not finite at inputs as large as {far:.3g} (beyond "
                          f"+-{hints.BOUND:g})")
        return self.fail(
            "forward", f"{what} not finite at inputs inside the declared domain; "
            "if the op is undefined there, declare a narrower `domain` (or `kinks`)")

    def nudged(self, check: str, run):
        """Run a nudge estimate; a forward rule that raises at a nudged point is a finding."""
        try:
            return run(), None
        except Exception as error:
            return None, self.fail(
                check, f"the forward rule raised {type(error).__name__}: {error} at a nudged "
                "point (every nudge stays inside the declared domain and clear of the "
                "declared kinks)", cotangent=self.u)

    def exact_tolerance(self, dtype) -> float:
        dtype = np.dtype(dtype)
        return EXACT_RTOL if dtype == np.float64 else 16 * float(np.finfo(dtype).eps)

    def allowed_dtypes(self, dtype) -> set:
        """Float dtypes an output may have: the inputs', or one a param names (astype)."""
        allowed = {np.dtype(dtype)}
        for value in self.ex.params.values():
            if isinstance(value, np.dtype) or (isinstance(value, type)
                                               and issubclass(value, np.generic)):
                named = np.dtype(value)
            elif isinstance(value, str) and value in FLOAT_NAMES:
                named = np.dtype(value)
            else:
                continue
            if named.kind == "f":
                allowed.add(named)
        return allowed

    def named_dtypes(self) -> set:
        """Non-float dtypes a param names (astype(x, "int32")): outputs may take them."""
        named = set()
        for value in self.ex.params.values():
            try:
                if isinstance(value, (np.dtype, str)) or (
                        isinstance(value, type) and issubclass(value, (np.generic, int, bool))):
                    named.add(np.dtype(value))
            except TypeError:
                continue
        return named

    def expected_shapes(self, arrays) -> list | None:
        """The output shapes promised: by the declared `out_shape`, else by the signature."""
        if self.op.out_shape is not None:
            shapes = self.op.out_shape(*(np.shape(a) for a in arrays), **self.ex.params)
            return [tuple(s) for s in shapes] if self.multi else [tuple(shapes)]
        expected = self.ex.expected_shape
        return None if expected is None else [tuple(s) for s in expected]

    def native_forward(self) -> Failure | None:
        """A forward-only example in a lower precision: its own forward contract."""
        self.stage = "native"
        return self.forward_contract(self.native, self.dtype)

    def forward_contract(self, arrays, dtype) -> Failure | None:
        leaves, args = self.fresh_args(arrays)
        try:
            outs = self.call(args)
        except Exception as error:
            return self.fail("forward", f"the op raised {type(error).__name__}: {error}")
        try:
            expected = self.expected_shapes(arrays)
        except Exception as error:
            return self.fail("forward", f"its out_shape raised {type(error).__name__}: "
                              f"{error}")
        datas = [np.asarray(o.data) for o in outs]
        if expected is not None and len(expected) != len(datas):
            return self.fail("forward", f"the op gave {len(datas)} output(s); its "
                              f"{'out_shape' if self.op.out_shape else 'signature'} promises "
                              f"{len(expected)}")
        allowed = self.allowed_dtypes(dtype)
        for k, data in enumerate(datas):
            which = f"output {k + 1}" if len(datas) > 1 else "the output"
            if data.dtype.kind == "f" and data.dtype not in allowed:
                return self.fail("forward", f"{which} has dtype {data.dtype}; {np.dtype(dtype)} "
                                  f"inputs must give a {np.dtype(dtype)} output")
            if data.dtype.kind not in "biuf":
                return self.fail("forward", f"{which} has dtype {data.dtype}; expected numbers")
            if expected is not None and data.shape != expected[k]:
                promise = "out_shape" if self.op.out_shape is not None else (
                    f"signature {self.op.signature!r}")
                return self.fail(
                    "forward", f"{which} has shape {data.shape}; its {promise} promises "
                    f"{expected[k]} for inputs of shapes "
                    f"{', '.join(str(np.shape(a)) for a in arrays)}")
            if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
                return self.not_finite(f"{which} is")
        mutated = self.mutated(arrays, args, leaves)
        if mutated:
            return self.fail("forward", f"the forward rule modified {mutated} in place")
        floating = [k for k, o in enumerate(outs) if o.requires_grad]
        if self.op.differentiable is False or not self.wrt:
            grads = [k + 1 for k, o in enumerate(outs) if o.requires_grad]
            if grads:
                return self.fail("forward", f"output(s) {grads} of an op declared "
                                  "differentiable=False require grad")
            self.forward_only = True
            return None
        if not floating:  # integer or boolean outputs only: no gradient to check
            named = self.named_dtypes()
            kinds = {d.dtype.kind for d in datas}
            if not (kinds <= {n.kind for n in named}):
                which = ", ".join(str(d.dtype) for d in datas)
                return self.fail(
                    "forward", f"the op is differentiable, but its output ({which}) is not "
                    f"floating for {np.dtype(dtype)} inputs: it carries no gradient, so every "
                    "grad through it is silently lost. Return the inputs' dtype, or declare "
                    "differentiable=False")
            self.forward_only = True
            return None
        if dtype == np.float64:
            self.leaves, self.args, self.outs = leaves, args, outs
            self.floating = floating
        return None

    def cotangents(self, outs, scale=1.0, dtype=None) -> list:
        """One cotangent per output (None where it carries no gradient), from self.u_parts."""
        parts = []
        for k, o in enumerate(outs):
            part = self.u_parts[k]
            if part is None or not o.requires_grad:
                parts.append(None)
                continue
            part = part * scale if scale != 1.0 else part
            parts.append(as_data(np.asarray(part, dtype=dtype or np.asarray(o.data).dtype)))
        return parts

    def backward(self, outs, cotangents, retain: bool = True) -> None:
        """Backward from the outputs, each with its cotangent (one output: its own backward)."""
        if not self.multi:
            outs[0].backward(cotangents[0], retain_graph=retain)
        else:
            weigh(outs, cotangents).backward(retain_graph=retain)

    def backward_contract(self, outs, leaves, args, originals, cotangents) -> Failure | None:
        before = [None if c is None else np.copy(c) for c in cotangents]
        how = {"cotangent": cotangents if self.multi else cotangents[0]}
        try:
            self.backward(outs, cotangents)
        except Exception as error:
            return self.fail("grad contract", f"backward raised {type(error).__name__}: {error}",
                              **how)
        for i in self.wrt:
            grad, data = leaves[i].grad, leaves[i].data
            if grad is None:
                self.notes.append(f"the rule gave no grad for input x{i + 1} (taken as zero)")
                continue
            dtype = np.asarray(data).dtype
            if np.shape(grad) != np.shape(data) or np.asarray(grad).dtype != dtype:
                return self.fail(
                    "grad contract", f"input x{i + 1}'s grad has shape {np.shape(grad)} and "
                    f"dtype {np.asarray(grad).dtype}; expected the input's shape "
                    f"{np.shape(data)} and {dtype}", **how)
            if not np.all(np.isfinite(grad)):
                far = self.far_out()
                if far > hints.BOUND:
                    raise Discard(f"a grad not finite at inputs as large as {far:.3g} (beyond "
                                  f"+-{hints.BOUND:g})")
                if self.low and self.stage == "native":
                    self.beyond_range()
                return self.fail("grad contract", f"input x{i + 1}'s grad is not finite at "
                                  "inputs inside the declared domain", **how)
        for now, then in zip(cotangents, before, strict=True):
            if now is not None and not same_bits(now, then):
                return self.fail("grad contract", "the rule modified its out_grad (the "
                                  "cotangent) in place; rules must not write into the arrays "
                                  "they are given", **how)
        mutated = self.mutated(originals, args, leaves)
        if mutated:
            return self.fail("grad contract", f"the rule modified {mutated} in place", **how)
        return self.rule_precision(originals, outs, cotangents, how)

    def rule_precision(self, originals, outs, cotangents, how) -> Failure | None:
        """The tape casts a rule's result to the input's dtype; a narrower result lost digits."""
        op, arrays = self.op, [copy(a) for a in originals]
        try:
            results = self.call_rule(arrays, [o.data for o in outs],
                                      [copy(c) for c in cotangents], raw=True)
        except Exception:  # the tape ran this rule already; its own errors were reported there
            return None
        for i, result in enumerate(results):
            dtype = getattr(result, "dtype", None)
            want = np.asarray(originals[i]).dtype
            if (dtype is not None and dtype.kind == "f" and want.kind == "f"
                    and dtype.itemsize < want.itemsize):
                return self.fail(
                    "grad contract", f"the {op.rule} rule returned a {dtype} result for input "
                    f"x{i + 1}, a {want} input: the tape casts it back, but the digits are lost",
                    **how)
        return None

    def call_rule(self, arrays, outs: list, cotangents: list, raw: bool = False):
        """The op's rule called directly: its raw results, or one float64 grad per wrt input."""
        op = self.op
        out = tuple(outs) if self.multi else outs[0]
        u = tuple(cotangents) if self.multi else cotangents[0]
        if op.local_grad is not None:
            results = op.local_grad(*arrays, out=out, **self.params)
        elif op.vjp_wants_needs:
            needs = tuple(i in self.wrt for i in range(len(arrays)))
            results = op.vjp(u, *arrays, out=out, needs_grad=needs, **self.params)
        else:
            results = op.vjp(u, *arrays, out=out, **self.params)
        if raw:
            return results
        grads = {}
        for i in self.wrt:
            result = results[i]
            if result is None:
                grads[i] = np.zeros(np.shape(arrays[i]))
            elif op.local_grad is not None:
                grads[i] = np.asarray(unbroadcast(np.asarray(result) * u, np.shape(arrays[i])),
                                      dtype=np.float64)
            else:
                grads[i] = np.asarray(result, dtype=np.float64)
        return grads

    def size(self) -> int:
        return sum(int(np.size(self.arrays[i])) for i in self.wrt)

    def elements(self, h: float = numeric.STEP) -> Comparison:
        """The nudge loop over every element (step h of each element's scale) against the
        rule's grads."""
        numerics, bars = {}, {}
        largest = max((float(np.max(np.abs(g), initial=0.0)) for g in self.grads.values()),
                      default=0.0)
        for i in self.wrt:
            analytic = np.asarray(self.grads[i], dtype=np.float64)

            def accept(index, value, roundoff, analytic=analytic):
                a = analytic[index]
                return abs(value - a) <= ACCEPT * (numeric.RTOL * max(abs(value), abs(a))
                                                   + roundoff + numeric.FLOOR * largest)

            numerics[i], bars[i] = numeric.per_element(
                self.forward_rule, self.arrays, i, self.u, self.scales[i], h=h, accept=accept)
            scale = self.scales[i]  # 0 on a bound: not nudged (its bar is inf already)
            bars[i] = bars[i] + numeric.ROUNDOFF * numeric.EPS * np.abs(analytic) * np.abs(
                np.asarray(self.arrays[i], dtype=np.float64)) / (
                h * np.where(scale > 0, scale, np.inf))
        return compare_elements(numerics, bars, self.grads)

    def how_plain(self, comparison: Comparison | None) -> dict:
        expected = None
        if comparison is not None and comparison.worst is not None:
            expected = {f"x{comparison.worst.input}": comparison.numeric}
        return {"cotangent": self.u, "expected": expected}


def describe() -> list[tuple[str, str, str]]:
    """(name, family, reference) of each row of the table, in the order they run."""
    return [(row.name, row.family, row.reference) for row in TABLE]


from .subchecks import TABLE  # noqa: E402  (the rows use Checker's helpers)
from .subchecks.saved import fixed_draws  # noqa: E402
from .subchecks.variants import DETERMINISTIC  # noqa: E402

CHECKS = tuple(dict.fromkeys(row.name for row in TABLE))
