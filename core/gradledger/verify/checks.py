"""The sub-checks run on every example, in order; the first failure ends the example.

The first six run in float64 (a float32 example's inputs are widened exactly first, and
it runs only forward, grad contract and directional there: the float64 examples run the
rest):

    forward        it runs; float64 out; the signature's output shape; finite; inputs untouched
    grad contract  backward runs; one grad per input, in its shape and dtype, finite; the
                   cotangent and the inputs untouched; no lower-precision result from the rule
    directional    <u, J v> by the nudge method (Richardson) against sum_i <grad_i, v_i>
    jacobian       the nudge loop over every element (inputs up to JACOBIAN_MAX elements,
                   and on any directional failure, to name the worst element)
    accumulation   op(x, x) books both paths; two calls handed the very same cotangent
                   array book twice one call's grads
    linearity      a zero cotangent books zero; a cotangent 2u books twice u's grads

then, in the example's own dtype:

    vs float64     (float32 examples) forward and grads contract in float32, and agree with
                   the same op in float64 to within what float32 rounding of the inputs and
                   the output moves them
    frozen inputs  some inputs passed without grad (a Tensor, a numpy array or a Python
                   number): the others get the grads they get when every input requires grad

Grads are the ones a user gets: every backward goes through the real tape
(`gradledger.tape.apply` and `backward`), so the core's contract checks run too.
Nothing here imports hypothesis.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..broadcast import unbroadcast
from ..op import Op
from ..signature import SEQUENCE
from ..tape import apply
from ..tensor import Tensor, as_data
from . import hints, numeric
from .report import Failure, WorstElement, snippet

CHECKS = ("forward", "grad contract", "directional", "jacobian", "accumulation", "linearity",
          "vs float64", "frozen inputs")
JACOBIAN_MAX = 64
"""Inputs with at most this many elements (all differentiable inputs together) get the
per-element check on every example."""
WORST_ELEMENT_MAX = 1024
"""A directional failure names the worst element when the inputs have at most this many."""
EXACT_RTOL = 1e-12
"""Tolerance of checks that compare grads with grads (fan-in, linearity, frozen inputs) in
float64: exact up to rounding. In another dtype: 16 eps of it. Both with a floor of 16 times
the dtype's smallest normal number, so that subnormal grads never fail on "tolerance 0"."""
ACCEPT = 0.125
"""A plain central difference within this fraction of the tolerance (truncation left out)
is accepted without Richardson's two half steps; any other runs all four passes."""
NOISE_FACTOR = 64.0
"""vs float64: the float32 result may be off by this many times how far float32 rounding of
the inputs and the output moves the float64 result, plus LOW_RTOL of its size."""
LOW_RTOL_ULPS = 32.0
"""vs float64: the relative part of the tolerance, in units of the dtype's eps, applied to
each element's size plus 1e-3 of the largest element's."""


class Discard(Exception):
    """The example left what the op can be asked (its forward overflows far out in an open
    domain): not a finding about the op. The reason is counted in the report."""

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

    def record(self, abs_error: float, rel_error: float, fraction: float) -> None:
        self.worst_abs = max(self.worst_abs, abs_error)
        self.worst_rel = max(self.worst_rel, rel_error)
        self.worst_fraction = max(self.worst_fraction, fraction)

    def approach(self, check: str, fraction: float) -> None:
        if np.isfinite(fraction):
            self.by_check[check] = max(self.by_check.get(check, 0.0), float(fraction))


@dataclass
class Comparison:
    """Numeric against analytic, with the tolerance that decides."""

    numeric: object
    analytic: object
    abs_error: float
    rel_error: float
    fraction: float  # worst |error| / tolerance; above 1 fails
    worst: WorstElement | None = None
    tolerance: float | None = None

    @property
    def failed(self) -> bool:
        return not self.fraction <= 1.0


def scalar_tolerance(terms: float, error_bar: float) -> float:
    """RTOL of the terms' size plus the estimate's error bars, never below a tiny floor."""
    return numeric.RTOL * terms + error_bar + TINY


TINY = 16 * float(np.finfo(np.float64).tiny)


def compare_scalar(estimate: numeric.Estimate, analytic: float, terms: float) -> Comparison:
    """A directional derivative against `<grad, v>`; `terms` is sum |grad * v|."""
    tolerance = scalar_tolerance(terms, estimate.error_bar)
    error = abs(estimate.value - analytic)
    size = max(abs(estimate.value), abs(analytic))
    rel = error / size if size > 0 else (0.0 if error == 0 else np.inf)
    fraction = _fraction(error, tolerance)
    return Comparison(estimate.value, analytic, error, rel, fraction, tolerance=tolerance)


def compare_elements(numerics: dict, bars: dict, analytics: dict) -> Comparison:
    """Per-element grads against the nudge loop; names the worst element."""
    largest = max((float(np.max(np.abs(a), initial=0.0)) for a in analytics.values()), default=0.0)
    worst, best_fraction, abs_error, rel_error = None, -1.0, 0.0, 0.0
    worst_i = None
    for i, num in numerics.items():
        ana = np.asarray(analytics[i], dtype=np.float64)
        error = np.abs(num - ana)
        size = np.maximum(np.abs(num), np.abs(ana))
        tolerance = numeric.RTOL * size + bars[i] + numeric.FLOOR * largest + TINY
        with np.errstate(divide="ignore", invalid="ignore"):
            fractions = np.where(error == 0, 0.0, error / tolerance)
            rels = np.where(error == 0, 0.0, error / size)
        fractions = np.where(np.isnan(fractions), np.inf, fractions)
        if error.size == 0:
            continue
        abs_error = max(abs_error, float(np.nanmax(np.where(np.isnan(error), np.inf, error))))
        rel_error = max(rel_error, float(np.nanmax(np.where(np.isnan(rels), np.inf, rels))))
        k = np.unravel_index(int(np.argmax(fractions)), np.shape(num))
        if fractions[k] > best_fraction:
            best_fraction, worst_i = float(fractions[k]), i
            worst = WorstElement(i + 1, tuple(int(j) for j in k), float(num[k]), float(ana[k]))
    if worst_i is None:
        return Comparison(None, None, 0.0, 0.0, 0.0)
    return Comparison(numerics[worst_i], np.asarray(analytics[worst_i]), abs_error, rel_error,
                      best_fraction, worst)


def _fraction(error: float, tolerance: float) -> float:
    if error == 0:
        return 0.0
    if not np.isfinite(error) or tolerance <= 0:
        return np.inf
    return error / tolerance


class Checker:
    """Runs the sub-checks on one example of one op (`run()` returns the first Failure).

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
        self.wrt = hints.differentiable_inputs(op, self.n)
        self.rng = np.random.default_rng(example.seed)
        self.dtype = np.dtype(example.dtype)
        self.low = self.dtype != np.float64
        # The float64 stage works on the inputs widened exactly to float64.
        self.native = list(example.arrays)
        self.arrays = [_widen(a) for a in example.arrays]
        self.shared = None if example.shared is None else _widen(example.shared)
        self.scales = {
            i: hints.nudge_scale(self.arrays[i], hints.interval(op, i), hints.kinks(op, i))
            for i in self.wrt
        }
        self.notes: list[str] = []
        self.check = "forward"
        self.stage = "float64"
        self.forward_only = False
        self.multi = bool(getattr(op, "multi", False))
        self.u = self.u_parts = None

    # -- calling the op -----------------------------------------------------------------

    def call(self, args):
        """The op through the tape, called as a user calls it; a list of output Tensors."""
        result = apply(self.op, _call_form(self.op, args), self.ex.params)
        return list(result) if self.multi else [result]

    def forward_rule(self, *arrays):
        """The forward rule alone; several floating outputs as one flat vector."""
        out = self.op.forward(*arrays, **self.ex.params)
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
                failure = self._fail(self.check, f"checking raised {type(error).__name__}: "
                                     f"{error}")
        if failure is None and self.stats is not None:
            self.stats.examples += 1
            name = self.dtype.name
            self.stats.by_dtype[name] = self.stats.by_dtype.get(name, 0) + 1
            self.stats.forward_only += self.forward_only
        return failure

    def _run(self) -> Failure | None:
        checks = [self.forward, self.grad_contract, self.directional, self.jacobian,
                  self.accumulation, self.linearity, self.vs_float64, self.frozen_inputs,
                  self.second_order]
        if self.low:  # the float64 examples run these; a float32 one is about float32
            checks = [c for c in checks if c not in (self.jacobian, self.accumulation,
                                                    self.linearity, self.second_order)]
        for check in checks:
            self.check = check.__name__.replace("_", " ")
            failure = check()
            if failure is not None:
                return failure
            if self.forward_only and check == self.forward:
                return self._native_forward() if self.low else None
        return None

    # -- helpers ------------------------------------------------------------------------

    def _args(self, arrays) -> tuple[dict, list]:
        """Fresh leaves for the differentiable inputs (for an op without gradient, every
        floating input that is not a constant: its outputs must still not require grad);
        copies of the constants."""
        wrt = self.wrt or [i for i, a in enumerate(arrays)
                           if i not in self.op.constants and np.asarray(a).dtype.kind == "f"]
        leaves = {i: Tensor(arrays[i], requires_grad=True) for i in wrt}
        args = [leaves[i] if i in leaves else _copy(a) for i, a in enumerate(arrays)]
        return leaves, args

    def _fail(self, check: str, message: str, comparison: Comparison | None = None,
              reference: str | None = None, **how) -> Failure:
        arrays = self.native if self.stage == "native" else self.arrays
        if self.low and self.stage == "float64" and check != "forward":
            message += (f" (a {self.dtype} example, checked first in float64: its inputs "
                        "widened exactly)")
        if "cotangent" in how and self.multi and how["cotangent"] is self.u:
            how["cotangent"] = self.u_parts
        try:
            code = snippet(self.op, arrays, self.op.constants, self.ex.params, **how)
        except Exception as error:  # a param no snippet can spell: say so, keep the finding
            code = f"# no snippet: {type(error).__name__}: {error}"
        failure = Failure(check, message, code, params=dict(self.ex.params))
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

    def _grads(self, leaves: dict) -> dict:
        return {i: (np.zeros(np.shape(leaves[i].data), dtype=np.asarray(leaves[i].data).dtype)
                    if leaves[i].grad is None else np.asarray(leaves[i].grad)) for i in self.wrt}

    def _mutated(self, originals, args, leaves) -> str | None:
        for i, original in enumerate(originals):
            now = leaves[i].data if i in leaves else args[i]
            if not _same_bits(now, original):
                return f"input x{i + 1}"
        return None

    def _far_out(self) -> float:
        """The largest magnitude among the inputs: beyond BOUND is beyond the edge draws."""
        return max((float(np.max(np.abs(a), initial=0.0)) for a in self.arrays
                    if np.asarray(a).dtype.kind == "f"), default=0.0)

    def _not_finite(self, what: str) -> Failure:
        far = self._far_out()
        if far > hints.BOUND:
            raise Discard(f"{what} not finite at inputs as large as {far:.3g} (beyond "
                          f"+-{hints.BOUND:g})")
        return self._fail(
            "forward", f"{what} not finite at inputs inside the declared domain; "
            "if the op is undefined there, declare a narrower `domain` (or `kinks`)")

    def _nudged(self, check: str, run):
        """Run a nudge estimate; a forward rule that raises at a nudged point is a finding."""
        try:
            return run(), None
        except Exception as error:
            return None, self._fail(
                check, f"the forward rule raised {type(error).__name__}: {error} at a nudged "
                "point (every nudge stays inside the declared domain and clear of the "
                "declared kinks)", cotangent=self.u)

    def _exact_tolerance(self, dtype) -> float:
        dtype = np.dtype(dtype)
        return EXACT_RTOL if dtype == np.float64 else 16 * float(np.finfo(dtype).eps)

    def _allowed_dtypes(self, dtype) -> set:
        """Float dtypes an output may have: the inputs', or one a param names (astype)."""
        allowed = {np.dtype(dtype)}
        for value in self.ex.params.values():
            if isinstance(value, np.dtype) or (isinstance(value, type)
                                               and issubclass(value, np.generic)):
                named = np.dtype(value)
            elif isinstance(value, str) and value in _FLOAT_NAMES:
                named = np.dtype(value)
            else:
                continue
            if named.kind == "f":
                allowed.add(named)
        return allowed

    def _expected_shapes(self, arrays) -> list | None:
        """The output shapes promised: by the declared `out_shape`, else by the signature."""
        if self.op.out_shape is not None:
            shapes = self.op.out_shape(*(np.shape(a) for a in arrays), **self.ex.params)
            return [tuple(s) for s in shapes] if self.multi else [tuple(shapes)]
        expected = self.ex.expected_shape
        return None if expected is None else [tuple(s) for s in expected]

    # -- forward ------------------------------------------------------------------------

    def forward(self) -> Failure | None:
        return self._forward_contract(self.arrays, np.float64)

    def _native_forward(self) -> Failure | None:
        """A forward-only example in a lower precision: its own forward contract."""
        self.stage = "native"
        return self._forward_contract(self.native, self.dtype)

    def _forward_contract(self, arrays, dtype) -> Failure | None:
        leaves, args = self._args(arrays)
        try:
            outs = self.call(args)
        except Exception as error:
            return self._fail("forward", f"the op raised {type(error).__name__}: {error}")
        try:
            expected = self._expected_shapes(arrays)
        except Exception as error:
            return self._fail("forward", f"its out_shape raised {type(error).__name__}: "
                              f"{error}")
        datas = [np.asarray(o.data) for o in outs]
        if expected is not None and len(expected) != len(datas):
            return self._fail("forward", f"the op gave {len(datas)} output(s); its "
                              f"{'out_shape' if self.op.out_shape else 'signature'} promises "
                              f"{len(expected)}")
        allowed = self._allowed_dtypes(dtype)
        for k, data in enumerate(datas):
            which = f"output {k + 1}" if len(datas) > 1 else "the output"
            if data.dtype.kind == "f" and data.dtype not in allowed:
                return self._fail("forward", f"{which} has dtype {data.dtype}; {np.dtype(dtype)} "
                                  f"inputs must give a {np.dtype(dtype)} output")
            if data.dtype.kind not in "biuf":
                return self._fail("forward", f"{which} has dtype {data.dtype}; expected numbers")
            if expected is not None and data.shape != expected[k]:
                promise = "out_shape" if self.op.out_shape is not None else (
                    f"signature {self.op.signature!r}")
                return self._fail(
                    "forward", f"{which} has shape {data.shape}; its {promise} promises "
                    f"{expected[k]} for inputs of shapes "
                    f"{', '.join(str(np.shape(a)) for a in arrays)}")
            if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
                return self._not_finite(f"{which} is")
        mutated = self._mutated(arrays, args, leaves)
        if mutated:
            return self._fail("forward", f"the forward rule modified {mutated} in place")
        floating = [k for k, o in enumerate(outs) if o.requires_grad]
        if self.op.differentiable is False or not self.wrt:
            grads = [k + 1 for k, o in enumerate(outs) if o.requires_grad]
            if grads:
                return self._fail("forward", f"output(s) {grads} of an op declared "
                                  "differentiable=False require grad")
            self.forward_only = True
            return None
        if not floating:  # integer or boolean outputs only: no gradient to check
            self.forward_only = True
            return None
        if dtype == np.float64:
            self.leaves, self.args, self.outs = leaves, args, outs
            self.floating = floating
        return None

    # -- grad contract ----------------------------------------------------------------------

    def _cotangents(self, outs, scale=1.0, dtype=None) -> list:
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

    def _backward(self, outs, cotangents, retain: bool = True) -> None:
        """Backward from the outputs, each with its cotangent (one output: its own backward)."""
        if not self.multi:
            outs[0].backward(cotangents[0], retain_graph=retain)
        else:
            weigh(outs, cotangents).backward(retain_graph=retain)

    def grad_contract(self) -> Failure | None:
        parts = []
        for o in self.outs:
            if not o.requires_grad:
                parts.append(None)
                continue
            u = self.rng.uniform(-1.0, 1.0, np.shape(o.data))
            if self.low:  # one cotangent for both stages: exact in the example's dtype
                u = u.astype(self.dtype).astype(np.float64)
            parts.append(as_data(u))
        self.u_parts = parts
        self.u = parts[0] if not self.multi else _flat([p for p in parts if p is not None])
        failure = self._backward_contract(self.outs, self.leaves, self.args, self.arrays,
                                          self._cotangents(self.outs))
        if failure is not None:
            return failure
        self.grads = self._grads(self.leaves)
        return None

    def _backward_contract(self, outs, leaves, args, originals, cotangents) -> Failure | None:
        before = [None if c is None else np.copy(c) for c in cotangents]
        how = {"cotangent": cotangents if self.multi else cotangents[0]}
        try:
            self._backward(outs, cotangents)
        except Exception as error:
            return self._fail("grad contract", f"backward raised {type(error).__name__}: {error}",
                              **how)
        for i in self.wrt:
            grad, data = leaves[i].grad, leaves[i].data
            if grad is None:
                self.notes.append(f"the rule gave no grad for input x{i + 1} (taken as zero)")
                continue
            dtype = np.asarray(data).dtype
            if np.shape(grad) != np.shape(data) or np.asarray(grad).dtype != dtype:
                return self._fail(
                    "grad contract", f"input x{i + 1}'s grad has shape {np.shape(grad)} and "
                    f"dtype {np.asarray(grad).dtype}; expected the input's shape "
                    f"{np.shape(data)} and {dtype}", **how)
            if not np.all(np.isfinite(grad)):
                far = self._far_out()
                if far > hints.BOUND:
                    raise Discard(f"a grad not finite at inputs as large as {far:.3g} (beyond "
                                  f"+-{hints.BOUND:g})")
                return self._fail("grad contract", f"input x{i + 1}'s grad is not finite at "
                                  "inputs inside the declared domain", **how)
        for now, then in zip(cotangents, before, strict=True):
            if now is not None and not _same_bits(now, then):
                return self._fail("grad contract", "the rule modified its out_grad (the "
                                  "cotangent) in place; rules must not write into the arrays "
                                  "they are given", **how)
        mutated = self._mutated(originals, args, leaves)
        if mutated:
            return self._fail("grad contract", f"the rule modified {mutated} in place", **how)
        return self._rule_precision(originals, outs, cotangents, how)

    def _rule_precision(self, originals, outs, cotangents, how) -> Failure | None:
        """The tape casts a rule's result to the input's dtype; a narrower result lost digits."""
        op, arrays = self.op, [_copy(a) for a in originals]
        try:
            results = self._call_rule(arrays, [o.data for o in outs],
                                      [_copy(c) for c in cotangents], raw=True)
        except Exception:  # the tape ran this rule already; its own errors were reported there
            return None
        for i, result in enumerate(results):
            dtype = getattr(result, "dtype", None)
            want = np.asarray(originals[i]).dtype
            if (dtype is not None and dtype.kind == "f" and want.kind == "f"
                    and dtype.itemsize < want.itemsize):
                return self._fail(
                    "grad contract", f"the {op.rule} rule returned a {dtype} result for input "
                    f"x{i + 1}, a {want} input: the tape casts it back, but the digits are lost",
                    **how)
        return None

    def _call_rule(self, arrays, outs: list, cotangents: list, raw: bool = False):
        """The op's rule called directly: its raw results, or one float64 grad per wrt input."""
        op = self.op
        out = tuple(outs) if self.multi else outs[0]
        u = tuple(cotangents) if self.multi else cotangents[0]
        if op.local_grad is not None:
            results = op.local_grad(*arrays, out=out, **self.ex.params)
        elif op.vjp_wants_needs:
            needs = tuple(i in self.wrt for i in range(len(arrays)))
            results = op.vjp(u, *arrays, out=out, needs_grad=needs, **self.ex.params)
        else:
            results = op.vjp(u, *arrays, out=out, **self.ex.params)
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

    # -- directional ----------------------------------------------------------------------

    def directional(self) -> Failure | None:
        v = {i: as_data(self.rng.uniform(-1.0, 1.0, np.shape(self.grads[i])) * self.scales[i])
             for i in self.wrt}
        products = [np.asarray(self.grads[i], dtype=np.float64) * v[i] for i in self.wrt]
        analytic = float(sum(np.sum(p) for p in products))
        terms = float(sum(np.sum(np.abs(p)) for p in products))

        def accept(value, roundoff):
            return abs(value - analytic) <= ACCEPT * (numeric.RTOL * terms + roundoff)

        estimate, failure = self._nudged("directional", lambda: numeric.directional(
            self.forward_rule, self.arrays, self.wrt, self.u, v, accept=accept))
        if failure is not None:
            return failure
        # the nudged point x + t v is itself rounded, by eps |x| per element
        rounded = numeric.ROUNDOFF * numeric.EPS * float(sum(
            np.sum(np.abs(self.grads[i]) * np.abs(self.arrays[i])) for i in self.wrt))
        rounded /= numeric.STEP
        estimate = numeric.Estimate(estimate.value, estimate.truncation,
                                    estimate.roundoff + rounded)
        result = compare_scalar(estimate, analytic, terms)
        if self.stats is not None and not result.failed:
            self.stats.record(result.abs_error, result.rel_error, result.fraction)
            self.stats.approach("directional", result.fraction)
            if self.stats.steer:
                _target(result.fraction)
        if not result.failed:
            return None
        worst = None
        if self._size() <= WORST_ELEMENT_MAX:
            worst, failure = self._nudged("directional", self._elements)
            if failure is not None:
                return failure
        message = (f"<u, J v> by the nudge method is {estimate.value:.10g}; the rule's "
                   f"sum_i <grad_i, v_i> is {analytic:.10g}")
        failure = self._fail("directional", message, result, **self._how_plain(worst))
        if worst is not None:
            failure.worst = worst.worst
            failure.numeric, failure.analytic = worst.numeric, worst.analytic
            failure.max_abs_error = max(failure.max_abs_error, worst.abs_error)
        return failure

    def second_order(self) -> Failure | None:
        """The recorded booking (`create_graph=True`) differentiated once more, against
        nudges of the first-order rule: see gradledger.verify.second. Skipped for an op
        that declares `order=1` (its rules do not claim to differentiate)."""
        if self.op.order is not None and self.op.order < 2:
            return None
        from .second import second_order

        def outputs_of(*args):
            return self.call(args)

        scales = {i: _clear_of_zero(self.scales[i], self.arrays[i]) for i in self.wrt}
        try:
            found = second_order(outputs_of, self.arrays, self.wrt, self.u_parts, scales,
                                 self.rng, ACCEPT)
        except Exception as error:
            return self._fail("second order", f"differentiating the rule (create_graph=True) "
                              f"raised {type(error).__name__}: {error}", cotangent=self.u)
        estimate, analytic, terms = found
        result = compare_scalar(estimate, analytic, terms)
        if self.stats is not None and not result.failed:
            self.stats.approach("second order", result.fraction)
        if not result.failed:
            return None
        message = (f"<w, H v>: the rule differentiated by the tape gives {analytic:.10g}; "
                   f"nudging the first-order rule gives {estimate.value:.10g}")
        return self._fail("second order", message, result,
                          reference="nudges of the op's own first-order rule",
                          cotangent=self.u)

    def _size(self) -> int:
        return sum(int(np.size(self.arrays[i])) for i in self.wrt)

    def _elements(self) -> Comparison:
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
                self.forward_rule, self.arrays, i, self.u, self.scales[i], accept=accept)
            bars[i] = bars[i] + numeric.ROUNDOFF * numeric.EPS * np.abs(analytic) * np.abs(
                np.asarray(self.arrays[i], dtype=np.float64)) / (numeric.STEP * self.scales[i])
        return compare_elements(numerics, bars, self.grads)

    def _how_plain(self, comparison: Comparison | None) -> dict:
        expected = None
        if comparison is not None and comparison.worst is not None:
            expected = {f"x{comparison.worst.input}": comparison.numeric}
        return {"cotangent": self.u, "expected": expected}

    # -- jacobian -------------------------------------------------------------------------

    def jacobian(self) -> Failure | None:
        if self._size() > JACOBIAN_MAX:
            return None
        result, failure = self._nudged("jacobian", self._elements)
        if failure is not None:
            return failure
        if self.stats is not None and not result.failed:
            self.stats.approach("jacobian", result.fraction)
        if not result.failed:
            return None
        w = result.worst
        message = (f"the nudge loop gives {w.numeric:.10g} for element {w.index or '()'} of "
                   f"input x{w.input}; the rule booked {w.analytic:.10g}")
        return self._fail("jacobian", message, result, **self._how_plain(result))

    # -- accumulation ---------------------------------------------------------------------

    def accumulation(self) -> Failure | None:
        return self._reused_input() or self._fan_in()

    def _reused_input(self) -> Failure | None:
        shared = self.shared
        if shared is None or self.multi:
            return None
        if self.ex.params and any(np.shape(a) != np.shape(shared) for a in self.arrays):
            return None  # the params were drawn for the inputs' shapes, not for x's
        how = {"call": "shared", "shared": shared}
        x = Tensor(shared, requires_grad=True)
        try:
            y = apply(self.op, (x, x), self.ex.params)
        except Exception as error:
            return self._fail("accumulation", f"op(x, x) raised {type(error).__name__}: {error}",
                              **how)
        if not np.all(np.isfinite(y.data)):
            return None  # op(x, x) is undefined here (div at x = 0): nothing to accumulate
        u = as_data(self.rng.uniform(-1.0, 1.0, np.shape(y.data)))
        how["cotangent"] = u
        try:
            y.backward(u)
        except Exception as error:
            return self._fail("accumulation", f"backward of op(x, x) raised "
                              f"{type(error).__name__}: {error}", **how)
        grad = np.zeros(np.shape(shared)) if x.grad is None else np.asarray(x.grad)
        bounds = hints.shared_interval(self.op)
        scale = hints.nudge_scale(shared, bounds, hints.kinks(self.op, 0) + hints.kinks(self.op, 1))
        v = as_data(self.rng.uniform(-1.0, 1.0, np.shape(shared)) * scale)

        def twice(z):
            return self.forward_rule(z, z)

        analytic = float(np.sum(grad * v))
        terms = float(np.sum(np.abs(grad * v)))
        estimate, failure = self._nudged("accumulation", lambda: numeric.directional(
            twice, [shared], (0,), u, {0: v},
            accept=lambda value, roundoff: abs(value - analytic)
            <= ACCEPT * (numeric.RTOL * terms + roundoff)))
        if failure is not None:
            return failure
        result = compare_scalar(estimate, analytic, terms)
        if not result.failed:
            return None
        if np.size(shared) <= WORST_ELEMENT_MAX:
            try:
                numerics, bars = numeric.per_element(twice, [shared], 0, u, scale)
            except Exception:  # the scalar comparison above is the finding; keep it
                numerics = None
            if numerics is not None:
                elements = compare_elements({0: numerics}, {0: bars}, {0: grad})
                result.worst, result.numeric, result.analytic = (
                    elements.worst, elements.numeric, elements.analytic)
                how["expected"] = {"x1": elements.numeric}
        return self._fail(
            "accumulation", "op(x1, x1), one tensor passed as both inputs, did not book the sum "
            f"of both paths: the nudge method on x -> op(x, x) gives <u, J v> = "
            f"{estimate.value:.10g}, the booked grad gives {analytic:.10g}", result,
            reference="the nudge method on x -> op(x, x)", **how)

    def _fan_in(self) -> Failure | None:
        leaves, args = self._args(self.arrays)
        how = {"call": "fan_in", "cotangent": self.u}
        try:
            first, second = self.call(args), self.call(args)
            if self.multi:
                cotangents = self._cotangents(first)
                joined = fan_in(weigh(first, cotangents), weigh(second, cotangents))
                joined.backward()
            else:
                joined = fan_in(first[0], second[0])
                joined.backward(_copy(self.u))
        except Exception as error:
            return self._fail("accumulation", f"two calls on the same inputs, joined, raised "
                              f"{type(error).__name__}: {error}", **how)
        got = self._grads(leaves)
        for i in self.wrt:
            want = 2 * self.grads[i]
            if not _exactly_close(got[i], want, self._exact_tolerance(np.float64)):
                result = _exact_comparison(got[i], want, i, self._exact_tolerance(np.float64))
                return self._fail(
                    "accumulation", f"two calls on the same inputs whose rules were handed "
                    f"the very same cotangent array booked a grad for input x{i + 1} that is "
                    "not twice one call's: the rule modifies its out_grad in place, or returns "
                    "an array that the bookkeeping later writes into", result,
                    reference="twice one call's grads (the same rule, called once)", **how)
        return None

    # -- linearity -------------------------------------------------------------------------

    def linearity(self) -> Failure | None:
        for leaf in self.leaves.values():
            leaf.grad = None
        zeros = self._cotangents(self.outs, scale=0.0)
        how = {"cotangent": zeros if self.multi else zeros[0]}
        try:
            self._backward(self.outs, zeros)
        except Exception as error:
            return self._fail("linearity", f"backward with a zero cotangent raised "
                              f"{type(error).__name__}: {error}", **how)
        for i, grad in self._grads(self.leaves).items():
            if np.any(grad != 0):
                result = _exact_comparison(grad, np.zeros(np.shape(grad)), i, 0.0)
                return self._fail("linearity", f"a zero cotangent booked a nonzero grad into "
                                  f"input x{i + 1}; a rule must be linear in out_grad", result,
                                  reference="zero (a zero cotangent)", **how)
        for leaf in self.leaves.values():
            leaf.grad = None
        how = {"cotangent": self.u, "scale": 2.0}
        try:
            self._backward(self.outs, self._cotangents(self.outs, scale=2.0),
                           retain=bool(self.ex.frozen))
        except Exception as error:
            return self._fail("linearity", f"backward with cotangent 2u raised "
                              f"{type(error).__name__}: {error}", **how)
        rtol = self._exact_tolerance(np.float64)
        for i, grad in self._grads(self.leaves).items():
            if not _exactly_close(grad, 2 * self.grads[i], rtol):
                result = _exact_comparison(grad, 2 * self.grads[i], i, rtol)
                return self._fail("linearity", f"cotangent 2u booked a grad into input x{i + 1} "
                                  "that is not twice u's; a rule must be linear in out_grad",
                                  result, reference="twice the grads booked for cotangent u "
                                  "(the same rule)", **how)
        return None

    # -- vs float64 -------------------------------------------------------------------------

    def vs_float64(self) -> Failure | None:
        """A float32 (or other non-float64) example, run in its own dtype: its contract, and
        agreement with the float64 results that the checks above verified."""
        if not self.low:
            self.native_outs, self.native_grads = self.outs, self.grads
            self.native_cotangents = self._cotangents(self.outs)
            return None
        self.stage = "native"
        dtype = self.dtype
        leaves, args = self._args(self.native)
        try:
            outs = self.call(args)
        except Exception as error:
            return self._fail("forward", f"the op raised {type(error).__name__}: {error} on "
                              f"{dtype} inputs (it ran on the same values in float64)")
        allowed = self._allowed_dtypes(dtype)
        for k, (o, ref) in enumerate(zip(outs, self.outs, strict=True)):
            data = np.asarray(o.data)
            which = f"output {k + 1}" if len(outs) > 1 else "the output"
            if data.dtype.kind == "f" and data.dtype not in allowed:
                return self._fail("forward", f"{which} has dtype {data.dtype}; {dtype} inputs "
                                  f"must give a {dtype} output")
            if data.shape != np.shape(ref.data):
                return self._fail("forward", f"{which} has shape {data.shape} on {dtype} "
                                  f"inputs; {np.shape(ref.data)} on the same values in float64")
            if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
                raise Discard(f"the {dtype} {which} overflows where float64's is finite "
                              f"(beyond {dtype}'s range)")
        mutated = self._mutated(self.native, args, leaves)
        if mutated:
            return self._fail("forward", f"the forward rule modified {mutated} in place")
        cotangents = self._cotangents(outs)
        failure = self._backward_contract(outs, leaves, args, self.native, cotangents)
        if failure is not None:
            return failure
        grads = self._grads(leaves)
        self.native_outs, self.native_grads, self.native_cotangents = outs, grads, cotangents
        how_u = cotangents if self.multi else cotangents[0]
        out_noise, grad_noise = self._rounding_noise()
        got = {k: np.asarray(o.data) for k, o in enumerate(outs) if o.requires_grad}
        want = {k: np.asarray(self.outs[k].data) for k in got}
        result = _low_comparison(got, want, {k: out_noise[k] for k in got}, dtype, unit=1.0)
        if self.stats is not None and not result.failed:
            self.stats.approach("vs float64", result.fraction)
        if result.failed:
            result.worst = None
            return self._fail(
                "vs float64", f"the {dtype} output is not the float64 output to within "
                f"{dtype} rounding", result, reference="the same op in float64",
                cotangent=how_u)
        result = _low_comparison(grads, self.grads, grad_noise, dtype,
                                 unit=float(np.max(np.abs(self.u), initial=0.0)))
        if self.stats is not None and not result.failed:
            self.stats.approach("vs float64", result.fraction)
        if result.failed:
            w = result.worst
            return self._fail(
                "vs float64", f"the {dtype} grad of input x{w.input} is not the float64 grad "
                f"to within {dtype} rounding: element {w.index or '()'} is {w.analytic:.8g} in "
                f"{dtype}, {w.numeric:.8g} in float64", result,
                reference="the same op in float64", cotangent=how_u,
                expected={f"x{w.input}": result.numeric})
        return None

    def _rounding_noise(self) -> tuple[dict, dict]:
        """How far the float64 outputs and grads move when the inputs, the outputs and the
        cotangents move by one rounding of the example's dtype (three patterns: all up,
        alternating, random). That is the scale of what the dtype's own rounding does to a
        correct rule, reductions included."""
        eps = float(np.finfo(self.dtype).eps)
        outs64 = [np.asarray(o.data) for o in self.outs]
        out_noise = {k: np.zeros(np.shape(o)) for k, o in enumerate(outs64)}
        grad_noise = {i: np.zeros(np.shape(self.grads[i])) for i in self.wrt}
        cotangents = self._cotangents(self.outs)
        for pattern in ("up", "alternating", "random"):
            def wiggle(a, pattern=pattern):
                if a is None or np.asarray(a).dtype.kind != "f":
                    return a
                a = np.asarray(a, dtype=np.float64)
                if pattern == "up":
                    r = np.ones(np.shape(a))
                elif pattern == "alternating":
                    r = np.where(np.arange(np.size(a)).reshape(np.shape(a)) % 2 == 0, 1.0, -1.0)
                else:
                    r = self.rng.uniform(-1.0, 1.0, np.shape(a))
                return as_data(a * (1.0 + eps * r))

            moved = [wiggle(a) for a in self.arrays]
            try:
                out = self.op.forward(*moved, **self.ex.params)
                outs = list(out) if self.multi else [out]
                grads = self._call_rule(moved, [wiggle(o) for o in outs],
                                        [wiggle(c) for c in cotangents])
            except Exception:  # a rule that raises here is judged by the checks above
                continue
            for k, o in enumerate(outs):
                o = np.asarray(o)
                if o.dtype.kind == "f" and np.shape(o) == np.shape(outs64[k]):
                    out_noise[k] = np.fmax(out_noise[k], np.abs(o - outs64[k]))
            for i in self.wrt:
                if np.shape(grads[i]) == np.shape(grad_noise[i]):
                    grad_noise[i] = np.fmax(grad_noise[i], np.abs(grads[i] - self.grads[i]))
        return out_noise, grad_noise

    # -- frozen inputs ----------------------------------------------------------------------

    def frozen_inputs(self) -> Failure | None:
        """Some inputs without grad: the others' grads are the ones booked when all require it."""
        frozen, how_given = self.ex.frozen, self.ex.frozen_as
        frozen = tuple(i for i in frozen if i in self.wrt)
        if not frozen or len(frozen) == len(self.wrt):
            return None
        self.stage = "native"
        arrays = self.native
        leaves = {i: Tensor(arrays[i], requires_grad=True) for i in self.wrt if i not in frozen}
        args = []
        for i, a in enumerate(arrays):
            if i in leaves:
                args.append(leaves[i])
            elif i in frozen and how_given == "tensor":
                args.append(Tensor(a))
            elif i in frozen and how_given == "number":
                args.append(float(a))
            else:
                args.append(_copy(a))
        cotangents = self.native_cotangents
        how = {"call": "frozen", "frozen": frozen, "frozen_as": how_given,
               "cotangent": cotangents if self.multi else cotangents[0]}
        given = {"tensor": "a Tensor without grad", "array": "a numpy array",
                 "number": "a Python number"}[how_given]
        names = ", ".join(f"x{i + 1}" for i in frozen)
        try:
            outs = self.call(args)
            self._backward(outs, [None if c is None else _copy(c) for c in cotangents],
                           retain=False)
        except Exception as error:
            return self._fail("frozen inputs", f"with {names} given as {given}, the op or its "
                              f"rule raised {type(error).__name__}: {error}", **how)
        rtol = self._exact_tolerance(self.dtype)
        for o, ref in zip(outs, self.native_outs, strict=True):
            if not _exactly_close(o.data, ref.data, rtol):
                result = _exact_comparison(o.data, ref.data, 0, rtol)
                result.worst = None
                return self._fail("frozen inputs", f"with {names} given as {given}, the forward "
                                  "gives another output", result,
                                  reference="the output when every input requires grad", **how)
        for i, leaf in leaves.items():
            grad = (np.zeros(np.shape(leaf.data)) if leaf.grad is None
                    else np.asarray(leaf.grad))
            want = self.native_grads[i]
            if not _exactly_close(grad, want, rtol):
                result = _exact_comparison(grad, want, i, rtol)
                return self._fail(
                    "frozen inputs", f"with {names} given as {given} (so `needs_grad` says "
                    f"they take no grad), input x{i + 1} got another grad than when every "
                    "input requires grad", result,
                    reference="the grads booked when every input requires grad", **how)
        return None


_FLOAT_NAMES = frozenset({"float16", "float32", "float64", "half", "single", "double"})


def _call_form(op, args) -> tuple:
    """Flat inputs as a user passes them: a sequence input as one list."""
    if op.variadic == SEQUENCE:
        fixed = op.nin - 1
        return (*args[:fixed], list(args[fixed:]))
    return tuple(args)


def _flat(parts: list) -> np.ndarray:
    return np.concatenate([np.ravel(p) for p in parts]) if parts else np.zeros(0)


def _widen(array):
    """A float input widened exactly to float64 (integers, booleans kept)."""
    if np.asarray(array).dtype.kind != "f" or np.asarray(array).dtype == np.float64:
        return array
    return as_data(np.asarray(array, dtype=np.float64))


def _low_comparison(got: dict, want: dict, noise: dict, dtype, unit: float = 0.0) -> Comparison:
    """Results in a low-precision dtype against float64, element by element.

    `unit` is added to each element's size: the forward compares with `unit=1`, as the
    directional check's cancellation bar does, because a forward rounds intermediate
    values of order 1 even where its output is tiny (log cosh x near 0, computed as
    |x| + log1p(exp(-2|x|)) - log 2, keeps about 7 digits of the 0.69, not of x**2 / 2);
    grads compare with `unit` = the largest cotangent element, a rule's local
    derivatives of order 1 rounded (softmax - onehot at the label: p - 1 in float32).
    """
    info = np.finfo(dtype)
    eps, tiny = float(info.eps), 16 * float(info.tiny)
    largest = max((float(np.max(np.abs(w), initial=0.0)) for w in want.values()), default=0.0)
    worst, fraction, abs_error, rel_error, worst_i = None, 0.0, 0.0, 0.0, None
    for i, g in got.items():
        g = np.asarray(g, dtype=np.float64)
        w = np.asarray(want[i], dtype=np.float64)
        error = np.abs(g - w)
        if error.size == 0:
            continue
        tolerance = (NOISE_FACTOR * noise[i]
                     + LOW_RTOL_ULPS * eps * (np.abs(w) + 1e-3 * largest + unit) + tiny)
        with np.errstate(divide="ignore", invalid="ignore"):
            fractions = np.where(error == 0, 0.0, error / tolerance)
            rels = np.where(error == 0, 0.0, error / np.maximum(np.abs(w), np.abs(g)))
        fractions = np.where(np.isnan(fractions), np.inf, fractions)
        k = np.unravel_index(int(np.argmax(fractions)), np.shape(g))
        abs_error = max(abs_error, float(np.max(error)))
        rel_error = max(rel_error, float(np.max(rels)))
        if worst_i is None or fractions[k] > fraction:
            fraction, worst_i = float(fractions[k]), i
            worst = WorstElement(i + 1, tuple(int(j) for j in k), float(w[k]), float(g[k]))
            tol_k = float(tolerance[k])
    if worst_i is None:
        return Comparison(None, None, 0.0, 0.0, 0.0)
    return Comparison(np.asarray(want[worst_i]), np.asarray(got[worst_i]), abs_error, rel_error,
                      fraction, worst, tol_k)


def _clear_of_zero(scale, x) -> np.ndarray:
    """The second-order check's nudge scale: the first-order one, but never across 0.

    A first-order rule built on |x| (softsign's 1 / (1 + |x|)**2) has a kink at 0 that the
    op need not declare: its forward is smooth there. An element within a nudge of 0
    (3e-65 beside a 1.0, whose RMS sets the nudge) is moved by at most half its own size,
    so the nudges of the rule stay on one side of 0; an element at 0 is not moved."""
    x = np.abs(np.asarray(x, dtype=np.float64))
    return np.minimum(scale, x / (2 * numeric.STEP))


def _same_bits(a, b) -> bool:
    """Bit for bit, so that even 0.0 turned into -0.0 counts as a change."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _copy(value):
    return value.copy() if isinstance(value, (np.ndarray, np.generic)) else value


def _exactly_close(got, want, rtol: float = EXACT_RTOL) -> bool:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    scale = float(np.max(np.abs(want), initial=0.0))
    return bool(np.all(np.abs(got - want) <= rtol * scale + TINY))


def _exact_comparison(got, want, i: int, rtol: float = EXACT_RTOL) -> Comparison:
    """`got` (booked) against `want` (the reference), worst element; `numeric` is the
    reference, `analytic` what was booked."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    error = np.abs(got - want)
    k = np.unravel_index(int(np.argmax(error)), error.shape) if error.size else ()
    size = float(np.max(np.maximum(np.abs(got), np.abs(want)), initial=0.0))
    abs_error = float(np.max(error, initial=0.0))
    worst = WorstElement(i + 1, tuple(int(j) for j in k), float(want[k]), float(got[k]))
    tolerance = rtol * float(np.max(np.abs(want), initial=0.0)) + TINY
    return Comparison(want, got, abs_error, abs_error / size if size else np.inf,
                      _fraction(abs_error, tolerance), worst, tolerance)


def _target(fraction: float) -> None:
    """Steer hypothesis towards examples where the error comes closest to the tolerance."""
    try:
        from hypothesis import target
        from hypothesis.errors import InvalidArgument
    except ImportError:  # pragma: no cover - checks also run without hypothesis (gradcheck)
        return
    try:
        target(float(min(fraction, 1e300)), label="directional error / tolerance")
    except InvalidArgument:  # not inside a hypothesis test
        pass
