"""The sub-checks run on every example, in order; the first failure ends the example.

    forward        it runs; float64 out; the signature's output shape; finite; inputs untouched
    grad contract  backward runs; one grad per input, in its shape and dtype, finite; the
                   cotangent and the inputs untouched; no lower-precision result from the rule
    directional    <u, J v> by the nudge method (Richardson) against sum_i <grad_i, v_i>
    jacobian       the nudge loop over every element (inputs up to JACOBIAN_MAX elements,
                   and on any directional failure, to name the worst element)
    accumulation   op(x, x) books both paths; two calls handed the very same cotangent
                   array book twice one call's grads
    linearity      a zero cotangent books zero; a cotangent 2u books twice u's grads

Grads are the ones a user gets: every backward goes through the real tape
(`gradledger.tape.apply` and `backward`), so the core's contract checks run too.
Nothing here imports hypothesis.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..op import Op
from ..tape import apply
from ..tensor import Tensor, as_data
from . import hints, numeric
from .report import Failure, WorstElement, snippet

CHECKS = ("forward", "grad contract", "directional", "jacobian", "accumulation", "linearity")
JACOBIAN_MAX = 64
"""Inputs with at most this many elements (all differentiable inputs together) get the
per-element check on every example."""
WORST_ELEMENT_MAX = 4096
"""A directional failure names the worst element when the inputs have at most this many."""
EXACT_RTOL = 1e-12
"""Tolerance of checks that compare grads with grads (fan-in, linearity): exact up to rounding."""

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


@dataclass
class Stats:
    """Across an op's passing examples: how many, and the worst directional errors."""

    examples: int = 0
    worst_abs: float = 0.0
    worst_rel: float = 0.0
    worst_fraction: float = 0.0

    def record(self, abs_error: float, rel_error: float, fraction: float) -> None:
        self.worst_abs = max(self.worst_abs, abs_error)
        self.worst_rel = max(self.worst_rel, rel_error)
        self.worst_fraction = max(self.worst_fraction, fraction)


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


def compare_scalar(estimate: numeric.Estimate, analytic: float, terms: float) -> Comparison:
    """A directional derivative against `<grad, v>`; `terms` is sum |grad * v|."""
    tolerance = numeric.RTOL * terms + estimate.error_bar
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
        tolerance = numeric.RTOL * size + bars[i] + numeric.FLOOR * largest
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
    """Runs the sub-checks on one example of one op (`run()` returns the first Failure)."""

    def __init__(self, op, example, stats: Stats | None = None) -> None:
        self.op = op
        self.ex = example
        self.stats = stats
        self.wrt = hints.differentiable_inputs(op)
        self.rng = np.random.default_rng(example.seed)
        self.scales = {
            i: hints.nudge_scale(example.arrays[i], hints.interval(op, i), hints.kinks(op, i))
            for i in self.wrt
        }
        self.notes: list[str] = []

    def forward_rule(self, *arrays):
        return self.op.forward(*arrays, **self.ex.params)

    def run(self) -> Failure | None:
        with np.errstate(all="ignore"):
            for check in (self.forward, self.grad_contract, self.directional, self.jacobian,
                          self.accumulation, self.linearity):
                failure = check()
                if failure is not None:
                    return failure
        if self.stats is not None:
            self.stats.examples += 1
        return None

    # -- helpers ------------------------------------------------------------------------

    def _args(self) -> tuple[dict, list]:
        """Fresh leaves for the differentiable inputs; copies of the constants."""
        leaves = {i: Tensor(self.ex.arrays[i], requires_grad=True) for i in self.wrt}
        args = [leaves[i] if i in leaves else _copy(a) for i, a in enumerate(self.ex.arrays)]
        return leaves, args

    def _fail(self, check: str, message: str, comparison: Comparison | None = None,
              **how) -> Failure:
        code = snippet(self.op.name, self.ex.arrays, self.op.constants, self.ex.params, **how)
        failure = Failure(check, message, code, params=dict(self.ex.params))
        if how.get("call") == "shared":
            failure.inputs = {"x1": how["shared"]}
        else:
            failure.inputs = {f"x{i + 1}": a for i, a in enumerate(self.ex.arrays)}
        if comparison is not None:
            failure.tolerance_fraction = comparison.fraction
            failure.numeric, failure.analytic = comparison.numeric, comparison.analytic
            failure.max_abs_error = comparison.abs_error
            failure.max_rel_error = comparison.rel_error
            failure.tolerance, failure.worst = comparison.tolerance, comparison.worst
        return failure

    def _grads(self, leaves: dict) -> dict:
        return {i: (np.zeros(np.shape(leaves[i].data)) if leaves[i].grad is None
                    else np.asarray(leaves[i].grad)) for i in self.wrt}

    def _mutated(self, args, leaves) -> str | None:
        for i, original in enumerate(self.ex.arrays):
            now = leaves[i].data if i in leaves else args[i]
            if not _same_bits(now, original):
                return f"input {i + 1} (x{i + 1})"
        return None

    # -- forward ------------------------------------------------------------------------

    def forward(self) -> Failure | None:
        self.leaves, self.args = self._args()
        try:
            self.out = apply(self.op, self.args, self.ex.params)
        except Exception as error:
            return self._fail("forward", f"the op raised {type(error).__name__}: {error}")
        data = np.asarray(self.out.data)
        if data.dtype != np.float64:
            return self._fail("forward", f"the output has dtype {data.dtype}; float64 inputs "
                              "must give a float64 output")
        expected = self.ex.expected_shape
        if expected is not None and data.shape != expected:
            return self._fail(
                "forward", f"the output has shape {data.shape}; the signature "
                f"{self.op.signature!r} promises {expected} for inputs of shapes "
                f"{', '.join(str(np.shape(a)) for a in self.ex.arrays)}"
            )
        if not np.all(np.isfinite(data)):
            return self._fail(
                "forward", "the output is not finite at inputs inside the declared domain; "
                "if the op is undefined there, declare a narrower `domain` (or `kinks`)"
            )
        mutated = self._mutated(self.args, self.leaves)
        if mutated:
            return self._fail("forward", f"the forward rule modified {mutated} in place")
        return None

    # -- grad contract ----------------------------------------------------------------------

    def grad_contract(self) -> Failure | None:
        shape = np.shape(self.out.data)
        self.u = as_data(self.rng.uniform(-1.0, 1.0, shape))
        u_before = np.copy(self.u)
        how = {"cotangent": self.u}
        try:
            self.out.backward(self.u, retain_graph=True)
        except Exception as error:
            return self._fail("grad contract", f"backward raised {type(error).__name__}: {error}",
                              **how)
        for i in self.wrt:
            grad, data = self.leaves[i].grad, self.leaves[i].data
            if grad is None:
                self.notes.append(f"the rule gave no grad for input {i + 1} (taken as zero)")
                continue
            if np.shape(grad) != np.shape(data) or np.asarray(grad).dtype != np.float64:
                return self._fail(
                    "grad contract", f"input {i + 1}'s grad has shape {np.shape(grad)} and dtype "
                    f"{np.asarray(grad).dtype}; expected the input's shape {np.shape(data)} "
                    "and float64", **how)
            if not np.all(np.isfinite(grad)):
                return self._fail("grad contract", f"input {i + 1}'s grad is not finite at "
                                  "inputs inside the declared domain", **how)
        if not _same_bits(self.u, u_before):
            return self._fail("grad contract", "the rule modified its out_grad (the cotangent) "
                              "in place; rules must not write into the arrays they are given",
                              **how)
        mutated = self._mutated(self.args, self.leaves)
        if mutated:
            return self._fail("grad contract", f"the rule modified {mutated} in place", **how)
        self.grads = self._grads(self.leaves)
        return self._rule_precision(how)

    def _rule_precision(self, how) -> Failure | None:
        """The tape casts a rule's result to the input's dtype; a float32 result lost digits."""
        op, arrays = self.op, [_copy(a) for a in self.ex.arrays]
        try:
            if op.local_grad is not None:
                results = op.local_grad(*arrays, out=self.out.data, **self.ex.params)
            elif op.vjp_wants_needs:
                needs = tuple(i in self.wrt for i in range(op.nin))
                results = op.vjp(_copy(self.u), *arrays, out=self.out.data, needs_grad=needs,
                                 **self.ex.params)
            else:
                results = op.vjp(_copy(self.u), *arrays, out=self.out.data, **self.ex.params)
        except Exception:  # the tape ran this rule already; its own errors were reported there
            return None
        for i, result in enumerate(results):
            dtype = getattr(result, "dtype", None)
            if dtype is not None and dtype.kind == "f" and dtype.itemsize < 8:
                return self._fail(
                    "grad contract", f"the {op.rule} rule returned a {dtype} result for input "
                    f"{i + 1}, a float64 input: the tape casts it back, but the digits are lost",
                    **how)
        return None

    # -- directional ----------------------------------------------------------------------

    def directional(self) -> Failure | None:
        v = {i: as_data(self.rng.uniform(-1.0, 1.0, np.shape(self.grads[i])) * self.scales[i])
             for i in self.wrt}
        products = [np.asarray(self.grads[i]) * v[i] for i in self.wrt]
        analytic = float(sum(np.sum(p) for p in products))
        terms = float(sum(np.sum(np.abs(p)) for p in products))
        estimate = numeric.directional(self.forward_rule, self.ex.arrays, self.wrt, self.u, v)
        result = compare_scalar(estimate, analytic, terms)
        if self.stats is not None and not result.failed:
            self.stats.record(result.abs_error, result.rel_error, result.fraction)
            _target(result.fraction)
        if not result.failed:
            return None
        worst = self._elements() if self._size() <= WORST_ELEMENT_MAX else None
        message = (f"<u, J v> by the nudge method is {estimate.value:.10g}; the rule's "
                   f"sum_i <grad_i, v_i> is {analytic:.10g}")
        failure = self._fail("directional", message, result, **self._how_plain(worst))
        if worst is not None:
            failure.worst = worst.worst
            failure.numeric, failure.analytic = worst.numeric, worst.analytic
            failure.max_abs_error = max(failure.max_abs_error, worst.abs_error)
        return failure

    def _size(self) -> int:
        return sum(int(np.size(self.ex.arrays[i])) for i in self.wrt)

    def _elements(self) -> Comparison:
        numerics, bars = {}, {}
        for i in self.wrt:
            numerics[i], bars[i] = numeric.per_element(
                self.forward_rule, self.ex.arrays, i, self.u, self.scales[i])
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
        result = self._elements()
        if not result.failed:
            return None
        w = result.worst
        message = (f"the nudge loop gives {w.numeric:.10g} for element {w.index or '()'} of "
                   f"input {w.input}; the rule booked {w.analytic:.10g}")
        return self._fail("jacobian", message, result, **self._how_plain(result))

    # -- accumulation ---------------------------------------------------------------------

    def accumulation(self) -> Failure | None:
        return self._reused_input() or self._fan_in()

    def _reused_input(self) -> Failure | None:
        shared = self.ex.shared
        if shared is None:
            return None
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

        estimate = numeric.directional(twice, [shared], (0,), u, {0: v})
        result = compare_scalar(estimate, float(np.sum(grad * v)), float(np.sum(np.abs(grad * v))))
        if not result.failed:
            return None
        if np.size(shared) <= WORST_ELEMENT_MAX:
            numerics, bars = numeric.per_element(twice, [shared], 0, u, scale)
            elements = compare_elements({0: numerics}, {0: bars}, {0: grad})
            result.worst, result.numeric, result.analytic = (
                elements.worst, elements.numeric, elements.analytic)
            how["expected"] = {"x1": elements.numeric}
        return self._fail(
            "accumulation", "op(x1, x1), one tensor passed as both inputs, did not book the sum "
            f"of both paths: the nudge method gives <u, J v> = {estimate.value:.10g}, the "
            f"booked grad gives {float(np.sum(grad * v)):.10g}", result, **how)

    def _fan_in(self) -> Failure | None:
        leaves, args = self._args()
        how = {"call": "fan_in", "cotangent": self.u}
        try:
            joined = fan_in(apply(self.op, args, self.ex.params),
                            apply(self.op, args, self.ex.params))
            joined.backward(_copy(self.u))
        except Exception as error:
            return self._fail("accumulation", f"two calls on the same inputs, joined, raised "
                              f"{type(error).__name__}: {error}", **how)
        got = self._grads(leaves)
        for i in self.wrt:
            want = 2 * self.grads[i]
            if not _exactly_close(got[i], want):
                result = _exact_comparison(got[i], want, i)
                return self._fail(
                    "accumulation", f"two calls on the same inputs whose rules were handed "
                    f"the very same cotangent array booked a grad for input {i + 1} that is not "
                    "twice one call's: the rule modifies its out_grad in place, or returns an "
                    "array that the bookkeeping later writes into", result, **how)
        return None

    # -- linearity -------------------------------------------------------------------------

    def linearity(self) -> Failure | None:
        for leaf in self.leaves.values():
            leaf.grad = None
        zero = as_data(np.zeros(np.shape(self.u)))
        how = {"cotangent": zero}
        try:
            self.out.backward(zero, retain_graph=True)
        except Exception as error:
            return self._fail("linearity", f"backward with a zero cotangent raised "
                              f"{type(error).__name__}: {error}", **how)
        for i, grad in self._grads(self.leaves).items():
            if np.any(grad != 0):
                result = _exact_comparison(grad, np.zeros(np.shape(grad)), i)
                return self._fail("linearity", f"a zero cotangent booked a nonzero grad into "
                                  f"input {i + 1}; a rule must be linear in out_grad", result,
                                  **how)
        for leaf in self.leaves.values():
            leaf.grad = None
        how = {"cotangent": self.u, "scale": 2.0}
        try:
            self.out.backward(2.0 * self.u)
        except Exception as error:
            return self._fail("linearity", f"backward with cotangent 2u raised "
                              f"{type(error).__name__}: {error}", **how)
        for i, grad in self._grads(self.leaves).items():
            if not _exactly_close(grad, 2 * self.grads[i]):
                result = _exact_comparison(grad, 2 * self.grads[i], i)
                return self._fail("linearity", f"cotangent 2u booked a grad into input {i + 1} "
                                  "that is not twice u's; a rule must be linear in out_grad",
                                  result, **how)
        return None


def _same_bits(a, b) -> bool:
    """Bit for bit, so that even 0.0 turned into -0.0 counts as a change."""
    a, b = np.asarray(a), np.asarray(b)
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def _copy(value):
    return value.copy() if isinstance(value, (np.ndarray, np.generic)) else value


def _exactly_close(got, want) -> bool:
    got, want = np.asarray(got), np.asarray(want)
    scale = float(np.max(np.abs(want), initial=0.0))
    return bool(np.all(np.abs(got - want) <= EXACT_RTOL * scale))


def _exact_comparison(got, want, i: int) -> Comparison:
    """`got` (booked) against `want` (what the rule's own single call implies), worst element."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    error = np.abs(got - want)
    k = np.unravel_index(int(np.argmax(error)), error.shape) if error.size else ()
    size = float(np.max(np.maximum(np.abs(got), np.abs(want)), initial=0.0))
    abs_error = float(np.max(error, initial=0.0))
    worst = WorstElement(i + 1, tuple(int(j) for j in k), float(want[k]), float(got[k]))
    tolerance = EXACT_RTOL * size
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
