"""The checks of a complex example: an op that declares complex dtypes, sampled in one.

A complex input z = x + i y is two real numbers, and a real loss has a derivative along
each: the rule's grad (docs/plugins.md, "Complex numbers": d loss / dx + i d loss / dy)
predicts the change of `L = Re <u, f(z)>` (u a random complex cotangent) along a nudge
`z + t v` as `Re sum(conj(grad) v)`. Two nudges check it: along real directions v, and
along imaginary ones i v, each by the nudge method of `numeric.richardson` on the
forward rule, in complex128. The example is then run in complex64 (as drawn, or rounded
from complex128 when the op declares both) and must agree with complex128 to within
float32-like rounding: each complex example checks both precisions, and the report
counts it under both. An op whose rules run on Tensors
gets the same two nudges on its first-order grads (second order, through
create_graph=True).

An op of real inputs with a complex output ("float64->complex128": rfft) gets the real
nudges only. Plain numpy and the tape; nothing here imports hypothesis.
"""

from __future__ import annotations

import numpy as np

from ..autograd import grad as tape_grad
from ..tape import apply
from ..tensor import Tensor, as_data
from . import hints, numeric
from .calls import call_form
from .checks import ACCEPT, Discard, Stats
from .compare import compare_scalar
from .report import Failure, snippet

LOW_ULPS = 256.0
"""complex64 against complex128: each element within this many float32 eps of the sum of
its own size and the largest element's."""


LARGEST = 1 << 16
"""A complex example whose outputs have more elements than this is discarded: its dozen
passes would take minutes (kron of two stretched inputs), and the real examples of the
same op check large sizes."""
NOISE_FACTOR = 64.0
"""... plus this many times how far one complex64 rounding of the inputs moves the
complex128 result (as the real checks' `vs float64` allows)."""


class ComplexChecker:
    """Runs the complex checks on one example (`run()` returns the first Failure)."""

    def __init__(self, op, example, stats: Stats | None = None) -> None:
        self.op = op
        self.ex = example
        self.stats = stats
        self.dtype = np.dtype(example.dtype)
        self.plan = hints.plan(op)
        self.wrt = self.plan.wrt(len(example.arrays))
        self.rng = np.random.default_rng([example.seed, 2])
        self.native = list(example.arrays)
        self.arrays = [_widen(a) for a in example.arrays]
        self.multi = bool(getattr(op, "multi", False))
        self.check = "forward"
        self.forward_only = False
        self.hessian = None  # (w, H w), once the second-order rows have booked it

    # -- helpers ---------------------------------------------------------------------

    def call(self, arrays, leaves_for=None):
        """The op through the tape on `arrays`: (output Tensors, leaves by input index)."""
        wrt = self.wrt if leaves_for is None else leaves_for
        leaves = {i: Tensor(arrays[i], requires_grad=True) for i in wrt}
        args = [leaves.get(i, a) for i, a in enumerate(arrays)]
        result = apply(self.op, call_form(self.op, args), self.ex.params)
        return (list(result) if self.multi else [result]), leaves

    def forward_rule(self, arrays) -> list:
        out = self.op.forward(*arrays, **self.ex.params)
        return list(out) if self.multi else [out]

    def grads(self, outs, leaves, cotangents, create_graph=False) -> dict:
        pairs = [(o, u) for o, u in zip(outs, cotangents, strict=True) if u is not None]
        found = tape_grad([o for o, _ in pairs], [leaves[i] for i in self.wrt],
                          [u if isinstance(u, Tensor) else as_data(np.asarray(u))
                           for _, u in pairs],
                          create_graph=create_graph, allow_unused=True)
        return {i: g for i, g in zip(self.wrt, found, strict=True)}

    def fail(self, check: str, message: str, comparison=None, stage: str | None = None
             ) -> Failure:
        arrays = self.native if stage == "native" else self.arrays
        inputs = {f"x{i + 1}": a for i, a in enumerate(arrays)}
        failure = Failure(check, message, inputs=inputs, params=dict(self.ex.params),
                          dtype=self.dtype.name)
        if comparison is not None:
            failure.numeric, failure.analytic = comparison.numeric, comparison.analytic
            failure.max_abs_error, failure.max_rel_error = (comparison.abs_error,
                                                           comparison.rel_error)
            failure.tolerance = comparison.tolerance
            failure.tolerance_fraction = comparison.fraction
        try:
            failure.snippet = snippet(self.op, arrays, tuple(self.op.constants), self.ex.params)
        except Exception:  # a snippet is a courtesy: never let it hide the finding
            failure.snippet = ""
        return failure

    # -- the checks ------------------------------------------------------------------

    def run(self) -> Failure | None:
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
            if name == "complex64":  # its nudges ran in complex128, on the widened inputs
                by = self.stats.by_dtype
                by["complex128"] = by.get("complex128", 0) + 1
        return failure

    def _run(self) -> Failure | None:
        self.check = "forward"
        try:
            outs, leaves = self.call(self.arrays)
        except Exception as error:
            return self.fail("forward", f"the op raised {type(error).__name__}: {error} on "
                             f"a {self.dtype} example")
        datas = [np.asarray(o.data) for o in outs]
        if not all(np.all(np.isfinite(d)) for d in datas if d.dtype.kind in "fc"):
            raise Discard("the forward is not finite on the complex example")
        if sum(d.size for d in datas) > LARGEST:
            raise Discard(f"a complex example with more than {LARGEST:,} output elements "
                          "(the real examples check those sizes)")
        carrying = [o.requires_grad for o in outs]
        if not any(carrying):
            return self.fail("forward", "no output requires grad on a complex example: a "
                             "complex op's output must carry the gradient")
        self.cotangents = [self._cotangent(d) if c else None
                           for d, c in zip(datas, carrying, strict=True)]
        self.check = "backward"
        grads = self.grads(outs, leaves, self.cotangents)
        # complex128 outputs and grads on the widened inputs: a complex64 example's
        # `vs complex128` compares with these (the same values), not a second call
        self.first = ([np.asarray(d) for d in datas],
                      {i: None if g is None else np.asarray(g.data) for i, g in grads.items()})
        self.grad = {i: (np.zeros(np.shape(self.arrays[i]), np.asarray(self.arrays[i]).dtype)
                         if g is None else np.asarray(g.data)) for i, g in grads.items()}
        for i in self.wrt:
            want = np.asarray(self.arrays[i]).dtype
            if self.grad[i].dtype != want or self.grad[i].shape != np.shape(self.arrays[i]):
                return self.fail("backward", f"the grad of input x{i + 1} has dtype "
                                 f"{self.grad[i].dtype} and shape {self.grad[i].shape}; "
                                 f"expected the input's {want} and {np.shape(self.arrays[i])}")
        for kind in self._directions():
            self.check = f"{kind} nudge"
            failure = self.nudge(kind)
            if failure is not None:
                return failure
        for native, dtype in self._low_precision():
            self.check = "vs complex128"
            self.native, self.dtype = native, dtype
            failure = self.vs_complex128()
            if failure is not None:
                return failure
            if self.stats is not None and self.ex.dtype != dtype:
                self.stats.by_dtype[dtype.name] = self.stats.by_dtype.get(dtype.name, 0) + 1
        self.dtype = np.dtype(self.ex.dtype)
        if self.plan.second_order and self.ex.large:
            if self.stats is not None:  # its cost grows with the square of the size
                self.stats.remark("second order not checked on large complex examples")
        elif self.plan.second_order:
            for kind in self._directions():
                self.check = f"second order, {kind}"
                failure = self.second_order(kind)
                if failure is not None:
                    return failure
        return None

    def _low_precision(self) -> list:
        """The example in complex64 (its inputs and its dtype), when the op declares it: a
        complex64 example as drawn; a complex128 one rounded to complex64 too, so that
        every complex example checks both precisions."""
        if self.dtype == np.complex64:
            return [(self.native, self.dtype)]
        declared = {str(d) for d in self.op.dtypes}
        inputs_complex = any(np.asarray(a).dtype.kind == "c" for a in self.native)
        wanted = "complex64" if inputs_complex else "float32->complex64"
        if wanted not in {d.replace(" ", "") for d in declared}:
            return []
        narrow = [as_data(np.asarray(a).astype(np.complex64 if np.asarray(a).dtype.kind == "c"
                                                else np.float32))
                  if i in self.wrt or np.asarray(a).dtype.kind in "fc" and
                  i not in self.op.constants else a
                  for i, a in enumerate(self.native)]
        narrow = [n[()] if np.ndim(n) == 0 and isinstance(n, np.ndarray) else n for n in narrow]
        return [(narrow, np.dtype(np.complex64))]

    def _directions(self) -> tuple:
        complex_in = any(np.asarray(self.arrays[i]).dtype.kind == "c" for i in self.wrt)
        return ("real", "imaginary") if complex_in else ("real",)

    def _cotangent(self, data):
        shape = np.shape(data)
        u = self.rng.uniform(-1.0, 1.0, shape)
        if data.dtype.kind == "c":
            u = u + 1j * self.rng.uniform(-1.0, 1.0, shape)
        return u

    def _direction(self, kind: str) -> dict:
        v = {}
        for i in self.wrt:
            x = np.asarray(self.arrays[i])
            step = self.rng.uniform(-1.0, 1.0, np.shape(x)) * _scale(x, self.plan.kinks(i))
            v[i] = step * 1j if kind == "imaginary" and x.dtype.kind == "c" else step
        return v

    def _estimate(self, function, v, analytic, terms):
        """d/dt function(arrays + t v) by `numeric.richardson`, compared with `analytic`."""

        def phi(t, magnitude):
            moved = list(self.arrays)
            for i in self.wrt:
                moved[i] = as_data(np.asarray(self.arrays[i] + t * v[i]))
            return function(moved, magnitude)

        def accept(value, roundoff):  # as the real rows: two passes where they agree
            return abs(value - analytic) <= ACCEPT * (numeric.RTOL * terms + roundoff)

        estimate = numeric.richardson(phi, accept=accept)
        result = compare_scalar(estimate, analytic, terms)
        if result.failed:
            for k in (2, 4):  # a nudge that checks itself: refine before failing
                refined = numeric.richardson(phi, h=numeric.STEP / k)
                again = compare_scalar(refined, analytic, terms)
                if not again.failed:
                    return again
        return result

    def nudge(self, kind: str) -> Failure | None:
        v = self._direction(kind)
        products = [np.real(np.conj(self.grad[i]) * v[i]) for i in self.wrt]
        analytic = float(sum(np.sum(p) for p in products))
        terms = float(sum(np.sum(np.abs(self.grad[i] * v[i])) for i in self.wrt))

        def loss(moved, magnitude):
            return _real_inner(self.cotangents, self.forward_rule(moved), magnitude)

        result = self._estimate(loss, v, analytic, terms)
        if self.stats is not None and not result.failed:
            self.stats.record(result.abs_error, result.rel_error, result.fraction)
            self.stats.approach(f"complex {kind}", result.fraction)
        if not result.failed:
            return None
        return self.fail(
            f"{kind} nudge", f"along {kind} directions v, d/dt Re <u, f(z + t v)> by the "
            f"nudge method is {result.numeric:.10g}; the rule's Re sum(conj(grad) v) is "
            f"{analytic:.10g}", result)

    def _reference(self, arrays) -> tuple:
        """Outputs and grads in complex128 on `arrays` (numpy arrays), by the tape."""
        outs, leaves = self.call(arrays)
        grads = self.grads(outs, leaves, self.cotangents)
        return ([np.asarray(o.data) for o in outs],
                {i: None if g is None else np.asarray(g.data) for i, g in grads.items()})

    def _rounding_noise(self, arrays, datas, grads) -> tuple:
        """How far the complex128 outputs and grads move when the inputs, the outputs and
        the cotangents move by one complex64 rounding (three patterns: all up, alternating,
        random; real and imaginary parts alike): what a correct rule does in complex64
        (sin far from 0, tanh's 1 - out**2 near out = +-1). The rule is called directly,
        as the real checks' `vs float64` does."""
        eps = float(np.finfo(self.dtype).eps)
        out_noise = [np.zeros(np.shape(d)) for d in datas]
        grad_noise = {i: np.zeros(np.shape(arrays[i])) for i in grads}
        for pattern in ("up", "alternating", "random"):
            def wiggle(a, pattern=pattern):
                if a is None or np.asarray(a).dtype.kind not in "fc":
                    return a
                a = np.asarray(a)
                if pattern == "up":
                    r = np.ones(a.shape)
                elif pattern == "alternating":
                    r = np.where(np.arange(a.size).reshape(a.shape) % 2 == 0, 1.0, -1.0)
                else:
                    r = self.rng.uniform(-1.0, 1.0, a.shape)
                moved = a.real * (1.0 + eps * r)
                if a.dtype.kind == "c":
                    moved = moved + 1j * a.imag * (1.0 - eps * r)
                return as_data(np.asarray(moved, dtype=a.dtype))

            moved = [a if i in self.op.constants else wiggle(a) for i, a in enumerate(arrays)]
            try:
                outs = self.forward_rule(moved)
                rule = self._rule(moved, [wiggle(o) for o in datas],
                                  [wiggle(u) for u in self.cotangents])
            except Exception:  # a rule that raises here is judged by the checks above
                continue
            for k, o in enumerate(outs):
                o = np.asarray(o)
                if o.shape == out_noise[k].shape:
                    out_noise[k] = np.fmax(out_noise[k], np.nan_to_num(
                        np.abs(o - datas[k]), nan=0.0, posinf=0.0))
            for i in grads:
                g = rule.get(i)
                if g is not None and grads[i] is not None and np.shape(g) == np.shape(grads[i]):
                    grad_noise[i] = np.fmax(grad_noise[i], np.nan_to_num(
                        np.abs(g - grads[i]), nan=0.0, posinf=0.0))
        return out_noise, grad_noise

    def _rule(self, arrays, outs, cotangents) -> dict:
        """The op's rule called directly (no tape): each input's grad, by index."""
        op, params = self.op, self.ex.params
        out = tuple(outs) if self.multi else outs[0]
        if op.local_grad is not None:
            u = cotangents[0]
            found = {}
            for i, local in enumerate(op.local_grad(*arrays, out=out, **params)):
                if i in self.wrt and local is not None:
                    local = np.conj(local) if np.iscomplexobj(local) else local
                    grad = np.asarray(local * u)
                    found[i] = _summed_to(grad, np.shape(arrays[i]))
            return found
        u = tuple(cotangents) if self.multi else cotangents[0]
        extra = {"needs_grad": tuple(i in self.wrt for i in range(len(arrays)))} \
            if op.vjp_wants_needs else {}
        result = op.vjp(u, *arrays, out=out, **extra, **params)
        return {i: np.asarray(g) for i, g in enumerate(result) if i in self.wrt and g is not None}

    def vs_complex128(self) -> Failure | None:
        """The example in its own dtype (complex64): outputs and grads within float32-like
        rounding of the complex128 ones on the same (widened) values, allowing for how
        far one rounding of the inputs moves them."""
        arrays = [_widen(a) for a in self.native]
        if self.ex.dtype == self.dtype:  # drawn in complex64: self.arrays are these values
            datas, reference = self.first
        else:
            datas, reference = self._reference(arrays)
        measured = []

        def noise() -> tuple:  # measured only when a comparison needs more than LOW_ULPS
            if not measured:
                measured.append(self._rounding_noise(arrays, datas, reference))
            return measured[0]

        try:
            outs, leaves = self.call(self.native)
        except Exception as error:
            return self.fail("vs complex128", f"the op raised {type(error).__name__}: {error} "
                             f"on {self.dtype} inputs (it ran in complex128)", stage="native")
        narrow = np.finfo(self.dtype).dtype
        named = {np.dtype(p) for p in self.ex.params.values()
                 if isinstance(p, (np.dtype, type(np.float32)))}
        for k, (o, want) in enumerate(zip(outs, datas, strict=True)):
            got = np.asarray(o.data)
            if got.dtype.kind in "fc" and got.dtype.itemsize > np.dtype(self.dtype).itemsize \
                    and got.dtype not in named and np.finfo(got.dtype).dtype != narrow:
                return self.fail("vs complex128", f"output {k + 1} has dtype {got.dtype}; "
                                 f"{self.dtype} inputs must give {self.dtype} (or {narrow}) "
                                 "outputs", stage="native")
            if got.dtype.kind in "fc" and not np.all(np.isfinite(got)):
                raise Discard(f"the {self.dtype} output {k + 1} overflows where complex128's "
                              f"is finite (beyond {self.dtype}'s range)")
            failure = self._close(f"output {k + 1}", got, want,
                                  noise=lambda k=k: noise()[0][k])
            if failure is not None:
                return failure
        grads = self.grads(outs, leaves, self.cotangents)
        largest = float(np.finfo(self.dtype).max)
        for i, g in grads.items():
            if g is None or reference[i] is None:
                continue
            want = np.asarray(reference[i])
            if np.any(np.abs(want.real) > largest) or np.any(np.abs(want.imag) > largest):
                raise Discard(f"the complex128 grad of input x{i + 1} lies beyond "
                              f"{self.dtype}'s range (its {self.dtype} grad cannot be it)")
            failure = self._close(f"the grad of input x{i + 1}", np.asarray(g.data),
                                  reference[i], np.asarray(self.native[i]).dtype,
                                  noise=lambda i=i: noise()[1][i])
            if failure is not None:
                return failure
        return None

    def _close(self, what, got, want, dtype=None, noise=None) -> Failure | None:
        """`got` within LOW_ULPS of `want`, plus NOISE_FACTOR times `noise()` (how far one
        rounding moves the complex128 results; measured only when LOW_ULPS is not enough:
        it only widens the tolerance)."""
        if dtype is not None and got.dtype != dtype:
            return self.fail("vs complex128", f"{what} has dtype {got.dtype}; expected "
                             f"{dtype}", stage="native")
        eps = float(np.finfo(self.dtype).eps)
        error = np.abs(np.asarray(got, dtype=np.complex128) - want)
        size = float(np.max(np.abs(want), initial=0.0))
        tolerance = LOW_ULPS * eps * (np.abs(want) + size) + 1e-30
        if np.all(error <= tolerance):
            return None
        if noise is not None:
            tolerance = tolerance + NOISE_FACTOR * noise()
        if np.all(error <= tolerance):
            return None
        worst = float(np.max(error / tolerance))
        return self.fail("vs complex128", f"{what} in {self.dtype} is not the complex128 one "
                         f"to within {LOW_ULPS:g} eps of its size (worst: {worst:.3g} times "
                         "the tolerance)", stage="native")

    def second_order(self, kind: str) -> Failure | None:
        """The first-order grads, differentiated: d/dt Re <w, grad(z + t v)> by the nudge
        method against the second-order grads that create_graph=True books."""
        if getattr(self, "hessian", None) is None:
            # H w, booked once per example: the real and the imaginary directions apply it
            w = {i: self._cotangent(self.grad[i]) for i in self.wrt}
            try:
                outs, leaves = self.call(self.arrays)
                grads = self.grads(outs, leaves, self.cotangents, create_graph=True)
                terms_ = [np.real(np.sum(Tensor(np.conj(w[i])) * g)) for i, g in grads.items()
                          if g is not None and g.requires_grad]
                if not terms_:
                    self.hessian = (w, None)
                else:
                    total = terms_[0]
                    for t in terms_[1:]:
                        total = total + t
                    found = tape_grad([total], [leaves[i] for i in self.wrt],
                                      allow_unused=True)
                    self.hessian = (w, {i: (np.zeros(np.shape(self.arrays[i]),
                                                     np.asarray(self.arrays[i]).dtype)
                                            if g is None else np.asarray(g.data))
                                        for i, g in zip(self.wrt, found, strict=True)})
            except Exception as error:
                return self.fail(f"second order, {kind}", f"differentiating the grads raised "
                                 f"{type(error).__name__}: {error}")
        w, second = self.hessian
        if second is None:
            return None  # grads that do not depend on the inputs: linear ops
        v = self._direction(kind)
        analytic = float(sum(np.sum(np.real(np.conj(second[i]) * v[i])) for i in self.wrt))
        terms = float(sum(np.sum(np.abs(second[i] * v[i])) for i in self.wrt))

        def loss(moved, magnitude):
            outs, leaves = self.call(moved)
            first = self.grads(outs, leaves, self.cotangents)
            value = size = 0.0
            for i in self.wrt:
                g = first[i]
                if g is None:
                    continue
                g = np.asarray(g.data)
                value += float(np.sum(np.real(np.conj(w[i]) * g)))
                size += float(np.sum(np.abs(w[i]) * (np.abs(g) + 1.0)))
            return value, (size if magnitude else None)

        result = self._estimate(loss, v, analytic, terms)
        if self.stats is not None and not result.failed:
            self.stats.approach(f"complex second order, {kind}", result.fraction)
        if result.failed:
            return self.fail(
                f"second order, {kind}", f"along {kind} directions, d/dt Re <w, grad(z + t v)> "
                f"by the nudge method is {result.numeric:.10g}; the second-order grads "
                f"(create_graph=True) give {analytic:.10g}", result)
        return None


def _summed_to(grad, shape):
    """A broadcast local times the cotangent, summed back to the input's shape."""
    from ..broadcast import unbroadcast

    return unbroadcast(grad, shape) if grad.shape != shape else grad


def _widen(a):
    """complex64 to complex128, float32 to float64 (exactly); the rest as it is."""
    array = np.asarray(a)
    if array.dtype.kind == "c" and array.dtype != np.complex128:
        return as_data(array.astype(np.complex128))
    if array.dtype.kind == "f" and array.dtype != np.float64:
        return as_data(array.astype(np.float64))
    return a


def _scale(x, points) -> np.ndarray:
    """How far each element may be nudged: `hints.nudge_scale` for complex numbers (their
    modulus), kept from every declared kink by the distance in the complex plane."""
    size = np.abs(np.asarray(x))
    flat = size.reshape(-1)
    rms = float(np.sqrt(np.dot(flat, flat) / flat.size)) if flat.size else 0.0
    scale = np.full(size.shape, hints.MARGIN) if rms == 0 else np.maximum(size, 0.1 * rms)
    scale = np.minimum(scale, 1.0)
    for p in points:
        scale = np.minimum(scale, np.abs(np.asarray(x) - p))
    return scale


def _real_inner(cotangents, outs, magnitude) -> tuple:
    """Re sum(conj(u) f) over the outputs with a cotangent, and the size of its terms."""
    value, size = 0.0, 0.0
    for u, f in zip(cotangents, outs, strict=True):
        if u is None:
            continue
        f = np.asarray(f)
        value += float(np.sum(np.real(np.conj(u) * f)))
        if magnitude:  # an output in a lower precision (astype) rounds by its own eps
            coarse = float(np.finfo(f.dtype).eps) / numeric.EPS if f.dtype.kind in "fc" else 1
            size += coarse * float(np.sum(np.abs(u) * (np.abs(f) + 1.0)))
    return value, (size if magnitude else None)
