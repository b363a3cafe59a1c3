"""What the verifier found, for people (text) and machines (`to_dict`, JSON).

A `Failure` is one failing sub-check on the shrunk, minimal counterexample; it
carries a Python snippet that reproduces it with nothing but numpy and gradledger.
An `OpReport` is the verdict on one op: PASS, FAIL or UNVERIFIABLE.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..op import provenance

PASS, FAIL, UNVERIFIABLE = "PASS", "FAIL", "UNVERIFIABLE"


@dataclass
class WorstElement:
    """The element that misses its reference by the most (in units of its tolerance):
    `numeric` is the reference's value (the nudge method, or what the sub-check compares
    with), `analytic` what the op gave."""

    input: int  # 1-based, as in the snippet's x1, x2, ...
    index: tuple
    numeric: float
    analytic: float

    def __str__(self) -> str:
        where = f"x{self.input}"
        if self.index:
            where += f"[{', '.join(map(str, self.index))}]"
        return f"{where}: expected {self.numeric:.10g}, got {self.analytic:.10g}"


@dataclass
class Failure:
    """One failing sub-check: which, why, the numbers, and a snippet that reproduces it."""

    check: str
    message: str
    snippet: str = ""
    numeric: object = None
    analytic: object = None
    max_abs_error: float | None = None
    max_rel_error: float | None = None
    tolerance: float | None = None
    worst: WorstElement | None = None
    tolerance_fraction: float | None = None
    inputs: dict = field(default_factory=dict)
    params: dict = field(default_factory=dict)
    reference: str = "the nudge method"
    """What `numeric` is: the reference this sub-check compares the op's results with."""
    analytic_label: str = "the op's rule, through the tape"
    dtype: str = "float64"

    def lines(self) -> list[str]:
        out = [f"sub-check:  {self.check}", f"what:       {self.message}"]
        if self.dtype != "float64":
            out.append(f"dtype:      {self.dtype}")
        if self.max_abs_error is not None:
            out.append(
                f"error:      max abs {self.max_abs_error:.3g}, max rel {self.max_rel_error:.3g}"
                + (f" (tolerance {self.tolerance:.3g})" if self.tolerance is not None else "")
            )
        if self.worst is not None:
            out.append(f"worst:      {self.worst}")
        if self.numeric is not None:
            out.append(f"expected:   {_show(self.numeric)}   ({self.reference})")
        if self.analytic is not None:
            out.append(f"got:        {_show(self.analytic)}   ({self.analytic_label})")
        if self.snippet:
            out.append("reproduce (shrunk to a minimal counterexample):")
            out.extend("    " + line if line else "" for line in self.snippet.splitlines())
        return out

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def to_dict(self) -> dict:
        return {
            "check": self.check,
            "message": self.message,
            "dtype": self.dtype,
            "reference": self.reference,
            "numeric": _plain(self.numeric),
            "analytic": _plain(self.analytic),
            "max_abs_error": _number(self.max_abs_error),
            "max_rel_error": _number(self.max_rel_error),
            "tolerance": _number(self.tolerance),
            "tolerance_fraction": _number(self.tolerance_fraction),
            "worst_element": None if self.worst is None else {
                "input": self.worst.input, "index": list(self.worst.index),
                "numeric": _number(self.worst.numeric),
                "analytic": _number(self.worst.analytic),
            },
            "inputs": {name: _plain(value) for name, value in self.inputs.items()},
            "params": {name: repr(value) for name, value in self.params.items()},
            "snippet": self.snippet,
        }

    # -- display (IPython and Jupyter): the text above, not the dataclass's fields -----

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        return _html_pre(str(self))


@dataclass
class OpReport:
    """The verdict on one op.

    status:       PASS, FAIL or UNVERIFIABLE (`ok` is True only for PASS)
    examples:     examples that passed every sub-check (for a failure: before the first one)
    worst_*:      over the passing examples, the directional check's largest errors and
                  the largest error of any compared sub-check as a fraction of its
                  tolerance (1.0 would fail)
    closest:      per sub-check, that closest approach to the tolerance
    dtypes:       passing examples per dtype
    discarded:    examples left out, by reason (an overflow far out in an open domain)
    repeats:      examples drawn again, identical to one that passed, and not checked again
                  (not counted in `examples`; see gradledger.verify.repeats)
    scope:        what was checked when less than everything: "forward contract only" for
                  an op declared differentiable=False (still PASS or FAIL, never skipped);
                  "first order verified; second order not checked" (why, how to fix) for
                  an op whose rule cannot run on Tensors (PASS: a correct first order)
    notes:        what else the run says (a sub-check that does not apply, and why)
    failure:      the failing sub-check on the shrunk counterexample (FAIL)
    reason:       why the op cannot be verified (UNVERIFIABLE)
    """

    op: str
    plugin: str | None
    distribution: str | None
    version: str | None
    status: str
    examples: int = 0
    seconds: float = 0.0
    worst_abs_error: float = 0.0
    worst_rel_error: float = 0.0
    worst_tolerance_fraction: float = 0.0
    failure: Failure | None = None
    reason: str | None = None
    settings: dict = field(default_factory=dict)
    closest: dict = field(default_factory=dict)
    dtypes: dict = field(default_factory=dict)
    discarded: dict = field(default_factory=dict)
    repeats: int = 0
    scope: str | None = None
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status == PASS

    @property
    def provenance(self) -> str:
        return provenance(self.plugin, self.distribution, self.version)

    def row(self) -> tuple:
        """op, plugin, examples, worst error, status: one line of the CLI's table.

        The worst error is the largest error seen as a fraction of its tolerance
        (above 1 fails): over the passing examples, or for a failure the failing
        example's own ("-" when its sub-check compares no numbers: a contract breach).
        """
        forward_only = bool(self.scope) and not self.scope.startswith("first order")
        worst = f"{self.worst_tolerance_fraction:.1e}" if self.examples and not forward_only \
            else "-"
        if self.failure is not None:
            fraction = self.failure.tolerance_fraction
            worst = "-" if fraction is None else f"{fraction:.1e}"
        status = self.status if self.failure is None else f"{self.status} ({self.failure.check})"
        if self.scope and self.failure is None and self.status == PASS:
            only = "first order only" if self.scope.startswith("first order") else "forward only"
            status = f"{self.status} ({only})"
        return (self.op, self.plugin or "-", self.examples, worst, status)

    def __str__(self) -> str:
        head = f"{self.status}  op {self.op!r} ({self.provenance})"
        if self.status == PASS:
            dtypes = ", ".join(f"{n} {d}" for d, n in sorted(self.dtypes.items()))
            text = (f"{head}: {self.examples} examples ({dtypes or 'none'}); closest approach "
                    f"to a tolerance {self.worst_tolerance_fraction:.1e} of it")
            text += self._discards() + self._repeats()
            for line in ([self.scope] if self.scope else []) + self.notes:
                text += f"\n  {line}"
            return text
        if self.status == UNVERIFIABLE:
            return f"{head}\n  cannot be verified: {self.reason}"
        lines = [head, f"  failed after {self.examples} passing example(s){self._discards()}"
                       f"{self._repeats()}"]
        lines.extend("  " + line if line else "" for line in self.failure.lines())
        return "\n".join(lines)

    def _discards(self) -> str:
        if not self.discarded:
            return ""
        reasons = "; ".join(f"{n} x {why}" for why, n in sorted(self.discarded.items()))
        return f"; {sum(self.discarded.values())} example(s) discarded: {reasons}"

    def _repeats(self) -> str:
        if not self.repeats:
            return ""
        return f"; {self.repeats} repeat(s) of a passing example not checked again"

    def to_dict(self) -> dict:
        return {
            "op": self.op,
            "plugin": self.plugin,
            "distribution": self.distribution,
            "version": self.version,
            "status": self.status,
            "examples": self.examples,
            "seconds": round(self.seconds, 3),
            "worst_abs_error": _number(self.worst_abs_error),
            "worst_rel_error": _number(self.worst_rel_error),
            "worst_tolerance_fraction": _number(self.worst_tolerance_fraction),
            "closest_by_check": {k: _number(v) for k, v in self.closest.items()},
            "examples_by_dtype": dict(self.dtypes),
            "discarded": dict(self.discarded),
            "repeats": self.repeats,
            "scope": self.scope,
            "notes": list(self.notes),
            "failure": None if self.failure is None else self.failure.to_dict(),
            "reason": self.reason,
            "settings": self.settings,
        }

    # -- display (IPython and Jupyter): a table row and the text, not the fields --------

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(str(self))

    def _repr_html_(self) -> str:
        from html import escape

        head = "".join(f"<th>{h}</th>" for h in ("op", "plugin", "examples", "worst", "status"))
        row = "".join(f"<td>{escape(str(cell))}</td>" for cell in self.row())
        return f"<table><tr>{head}</tr><tr>{row}</tr></table>" + _html_pre(str(self))


def _html_pre(text: str) -> str:
    from html import escape

    return f"<pre>{escape(text)}</pre>"


# -- snippets ------------------------------------------------------------------------------


def literal(value) -> str:
    """Python source that rebuilds the array `value` exactly (float reprs round-trip)."""
    array = np.asarray(value)
    if array.ndim == 0:
        return f"np.{array.dtype.name}({array.item()!r})"
    text = repr(array.tolist())
    if array.dtype != np.float64 and array.dtype.kind != "i":
        return f"np.array({text}, dtype=np.{array.dtype.name})"
    if array.dtype == np.float64 and array.size and all(float(x).is_integer() for x in array.flat):
        return f"np.array({text}, dtype=np.float64)"
    return f"np.array({text})"


def source(value) -> str:
    """Python source for a param value that runs when pasted (with numpy as np).

    Handles numbers, strings, None, Ellipsis, slices, tuples, lists, dicts, numpy
    arrays, scalars, dtypes and scalar types; raises ValueError for anything else.
    """
    if value is None or isinstance(value, (bool, str)):
        return repr(value)
    if value is Ellipsis:
        return "..."
    if isinstance(value, np.dtype):
        return f"np.dtype({value.name!r})"
    if isinstance(value, type) and issubclass(value, np.generic):
        return f"np.{value.__name__}"
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.asarray(value)
        if array.ndim == 0:
            return f"np.{array.dtype.name}({array.item()!r})"
        return f"np.array({array.tolist()!r}, dtype=np.{array.dtype.name})"
    if isinstance(value, (int, float, complex)):
        return repr(value)
    if isinstance(value, slice):
        return f"slice({source(value.start)}, {source(value.stop)}, {source(value.step)})"
    if isinstance(value, tuple):
        items = ", ".join(source(v) for v in value)
        return f"({items},)" if len(value) == 1 else f"({items})"
    if isinstance(value, list):
        return "[" + ", ".join(source(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{source(k)}: {source(v)}" for k, v in value.items()) + "}"
    if isinstance(value, np.random.Generator):
        return generator_source(value)
    raise ValueError(f"cannot write {type(value).__name__} {value!r} as Python source")


SEEDS_TRIED = 4096
"""A Generator param is written `np.random.default_rng(SEED)` when its state is that of one
of these seeds (a params strategy's drawn seed, shrunk towards 0), else by its state."""
_SEED_OF: dict = {}


def generator_source(rng: np.random.Generator) -> str:
    """Python source that rebuilds `rng` in its exact state: `np.random.default_rng(SEED)`
    when it is one, else a Generator of its bit generator with the state set."""
    state = rng.bit_generator.state
    key = repr(state)
    if key not in _SEED_OF:
        _SEED_OF[key] = None
        if state.get("bit_generator") == "PCG64":
            for seed in range(SEEDS_TRIED):
                if repr(np.random.default_rng(seed).bit_generator.state) == key:
                    _SEED_OF[key] = seed
                    break
    seed = _SEED_OF[key]
    if seed is not None:
        return f"np.random.default_rng({seed})"
    name = type(rng.bit_generator).__name__
    return (f"(lambda g, s: setattr(g.bit_generator, 'state', s) or g)"
            f"(np.random.Generator(np.random.{name}()), {source(state)})")


def snippet(op, arrays: list, constants: tuple, params: dict, *, call: str = "plain",
            shared=None, cotangent=None, scale: float = 1.0, expected: dict | None = None,
            frozen: tuple = (), frozen_as: str = "tensor", wrap: dict | None = None,
            omit: tuple = (), cotangent_code: str | None = None, alone: int | None = None,
            between: tuple = (), named_params: tuple = ()) -> str:
    """A program that rebuilds the counterexample and prints what the rule booked.

    `op` is the Op (or its name). Inputs are x1, x2, ... in call order, flat (`constants=`
    counts them from 0: x1 is index 0); a sequence input is passed as a list of them.

    call:      "plain" for op(x1, x2, ...), "shared" for op(x, x), "fan_in" for two calls
               on the same inputs joined by `gradledger.verify.fan_in`, "frozen" for
               op(...) with the inputs `frozen` given without grad (`frozen_as`: "tensor",
               "array" or "number")
    cotangent: the output's grad passed to backward (times `scale`), or for an op with
               several outputs a list, one per output (None for one without grad); None
               to stop after forward
    expected:  per input name, the grad the reference gives (printed as a comment)
    wrap:      per flat input index, how the call passes it: "{}.T" passes x.T (the leaf
               holds the transposed array), "{}[::-1]" a reversed view
    omit:      params left out of the call (their defaults apply)
    cotangent_code: Python source for the cotangent u, in place of its literal
    alone:     for an op with several outputs, backward from this output alone
    between:   lines run after the call and before backward (a second call)
    named_params: params bound to a variable of their name, printed at the end
    """
    name = op if isinstance(op, str) else op.name
    variadic = None if isinstance(op, str) else op.variadic
    fixed = len(arrays) if variadic is None else op.nin - 1
    multi = not isinstance(op, str) and bool(getattr(op, "multi", False))
    lines = ["import numpy as np", "import gradledger as gl", ""]
    kwargs = "".join(f", {k}={k if k in named_params else source(v)}"
                     for k, v in params.items() if k not in omit)
    wrap = wrap or {}
    lines.extend(f"{k} = {source(params[k])}" for k in named_params)
    if call == "shared":
        names = ["x1"]
        lines.append(f"x1 = gl.tensor({literal(shared)}, requires_grad=True)")
        lines.append(f"out = gl.ops.{name}(x1, x1{kwargs})")
    else:
        names = []
        for i, array in enumerate(arrays):
            var = f"x{i + 1}"
            if i in constants:
                lines.append(f"{var} = {literal(array)}  # a constant (constants= index {i}): "
                             "takes no gradient")
            elif i in frozen and frozen_as == "tensor":
                lines.append(f"{var} = gl.tensor({literal(array)})  # no grad")
            elif i in frozen and frozen_as == "number":
                lines.append(f"{var} = {float(np.asarray(array))!r}  # a Python number")
            elif i in frozen:
                lines.append(f"{var} = {literal(array)}  # a plain numpy array")
            else:
                names.append(var)
                lines.append(f"{var} = gl.tensor({literal(array)}, requires_grad=True)")
        given = [wrap.get(i, "{}").format(f"x{i + 1}") for i in range(len(arrays))]
        if variadic == "sequence":
            given = given[:fixed] + ["[" + ", ".join(given[fixed:]) + "]"]
        args = ", ".join(given) + kwargs
        target = "outs" if multi else "out"
        if call == "fan_in":
            if multi:
                lines.append(f"outs, again = gl.ops.{name}({args}), gl.ops.{name}({args})")
            else:
                lines.append(f"out = gl.verify.fan_in(gl.ops.{name}({args}), "
                             f"gl.ops.{name}({args}))")
        else:
            lines.append(f"{target} = gl.ops.{name}({args})")
    lines.extend(between)
    if cotangent is None and cotangent_code is None:
        lines.append("print(outs)" if multi and call != "shared" else "print(out)")
        return "\n".join(lines)
    factor = "" if scale == 1.0 else f"{scale!r} * "
    if multi and alone is not None:
        lines.append(f"u = {cotangent_code or literal(cotangent[alone])}  # output "
                     f"{alone + 1}'s grad; the other outputs unused")
        lines.append(f"outs[{alone}].backward({factor}u)")
    elif multi and call != "shared" and cotangent_code is not None:
        lines.append(f"u = {cotangent_code}  # one cotangent per output (None: no grad)")
        lines.append("gl.verify.weigh(outs, u).backward()  # sum_k <u_k, outs_k>")
    elif multi and call != "shared":
        parts = ", ".join("None" if c is None else literal(c) for c in cotangent)
        lines.append(f"u = [{parts}]  # one cotangent per output (None: no grad)")
        scaled = "u" if scale == 1.0 else f"[None if c is None else {factor}c for c in u]"
        if call == "fan_in":
            lines.append(f"gl.verify.fan_in(gl.verify.weigh(outs, {scaled}), "
                         f"gl.verify.weigh(again, {scaled})).backward()")
        else:
            lines.append(f"gl.verify.weigh(outs, {scaled}).backward()  # sum_k <u_k, outs_k>")
    else:
        lines.append(f"u = {cotangent_code or literal(cotangent)}  # the output's grad "
                     "(cotangent)")
        lines.append(f"out.backward({factor}u)")
    lines.extend(f"print({k})  # drawn as {source(params[k])}" for k in named_params)
    for var in names:
        hint = ""
        if expected and var in expected:
            hint = f"  # expected {_show(expected[var])}"
        lines.append(f"print({var}.grad){hint}")
    return "\n".join(lines)


def _show(value) -> str:
    array = np.asarray(value, dtype=float) if value is not None else None
    if array is None:
        return "None"
    if array.ndim == 0:
        return f"{array.item():.10g}"
    return np.array2string(array, precision=6, separator=", ", threshold=24).replace("\n", "")


def _number(value):
    """A float for JSON: non-finite values (not JSON) become the strings 'nan', 'inf', '-inf'."""
    if value is None:
        return None
    value = float(value)
    return value if np.isfinite(value) else repr(value)


def _plain(value):
    """A number or an array for JSON: nested lists of floats; a complex one as
    `{"real": ..., "imag": ...}` (two such lists), never its real part alone."""
    if value is None:
        return None
    if np.iscomplexobj(value):
        array = np.asarray(value)
        return {"real": _plain(array.real), "imag": _plain(array.imag)}
    array = np.asarray(value, dtype=float)
    if array.ndim == 0:
        return _number(array.item())
    if np.all(np.isfinite(array)):
        return array.tolist()
    return np.vectorize(_number, otypes=[object])(array).tolist()
