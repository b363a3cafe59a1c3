"""`Op`: one operation as a plugin declares it — its forward rule, its local rule, its hints."""

from __future__ import annotations

import functools
import inspect
import numbers
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np

from .signature import Signature, parse_signature


@dataclass(frozen=True, eq=False)
class Op:
    """An operation, declared as data.

    name:
        Unique identifier, a Python identifier: the op is called as `gl.NAME(...)`
        and `gl.ops.NAME(...)`.
    forward:
        `forward(*arrays, **params) -> array`. Must not modify its inputs. A forward
        rule that finds the call wrong (labels out of range) raises OpCallError saying
        why; the tape adds the op's name and plugin.
    local_grad:
        For elementwise ops only (every operand `()` in the signature, one output).
        `local_grad(*arrays, out, **params) -> tuple`, one local derivative
        `d out / d input` per input (an array broadcastable to `out`, a number, or
        None for an input that gets no gradient). The core books
        `input.grad += unbroadcast(local * out_grad)`.
    vjp:
        For any op. `vjp(out_grad, *arrays, out, **params) -> tuple`, one contribution
        per input, already in that input's shape, or None where an input gets no
        gradient. Return new arrays or views; never an array kept elsewhere (a cache, a
        module constant): a new array becomes a leaf's `.grad` without a copy. If the
        function has a parameter named `needs_grad`, the core passes
        a tuple of booleans saying which inputs want a gradient, so that expensive
        contributions nobody needs can be skipped (return None for them).
        With several outputs, `out_grad` is a tuple with one cotangent per output:
        an array of zeros for a floating output nobody used, None for an output that
        cannot carry a gradient (integers, booleans); `out` is the tuple of outputs.
    signature:
        numpy gufunc-style core dimensions: `"(),()->()"` for a broadcasting binary
        elementwise op, `"(n,k),(k,m)->(n,m)"` for matmul, `"(*)->(*)"` for an
        operand of any shape whose result shape the params decide; `"(*)->(*),(*)"`
        for two outputs (forward returns a tuple); `"[(*)]->(*)"` when the last input
        is a sequence of tensors (concatenate), `"(*)...->(*)"` when it repeats
        (einsum). A variadic input reaches the rules flattened:
        `forward(*fixed, *elements, **params)`, one grad per element.
    constants:
        Indices of inputs that are constants, never differentiated (pow's exponent,
        integer labels). A tensor that requires grad there is an error.
    param_order:
        The names of the params a call may give by position after the inputs, in
        order: `x.sum(1)` is `sum(x, axis=1)`. Default: the forward's own parameters
        after the inputs, in its order (so numpy's order, for a numpy function).
    leading_params:
        Params given by position before the inputs, as numpy's einsum takes its
        subscripts: `gl.einsum("ij,jk->ik", a, b)`.
    out_shape:
        `out_shape(*input_shapes, **params) -> shape` (a tuple of shapes for several
        outputs): how the output shape follows from the inputs' and the params.
        Required when an output core dimension names no input dimension (a
        convolution's `"(n,c,h,w),(o,c,kh,kw)->(n,o,p,q)"`); the verifier checks the
        forward rule against it.
    differentiable:
        False for an op no output of which carries a gradient (comparisons, argmax):
        it declares no rule, and its outputs never require grad.
    numpy_names:
        numpy functions and ufuncs this op stands for besides `np.NAME` itself
        (mul: `("multiply",)`): `np.multiply(t, 2)` on a Tensor dispatches here, with
        numpy's arguments passed through unchanged.
    dtypes:
        The dtypes the op supports; the verifier samples each. Float names
        ("float64", "float32") are real inputs giving real outputs. Complex names
        ("complex128", "complex64") say the op takes complex inputs (its outputs complex
        or real: abs); "float64->complex128" says real inputs give a complex output
        (rfft). An op that names no complex dtype and returns complex for inputs that
        require grad is an error (see docs/plugins.md, "Complex numbers").
    saves:
        True when the forward also returns values saved for the rules:
        `forward(*arrays, **params) -> (out, saved)`, `saved` a tuple of whatever the
        rule needs (arrays, numbers); the rules then take a keyword `saved` and receive
        that tuple, locked read-only like saved inputs. Under `create_graph=True` the
        rules run on Tensors and get `saved=None`: they recompute what they need from
        the inputs they declare in `reads` (or the op declares `order=1`).
        `op.forward` is then the forward without the saved values (the output alone),
        as callers other than the tape want it; `op.saving_forward` is the function given.
    saved_constants:
        True when what the forward saves is constant where the op is differentiable
        (a mask of winners, a permutation, a random draw): its derivative is zero, so
        under `create_graph=True` the rules get the saved values too, rather than
        `saved=None`, and need not recompute them (nor read the inputs to do it).
    reads:
        Which inputs and outputs the rules read: names of the forward's parameters
        (its inputs), and `"out"` for the output(s). Default None: all of them, as
        before. The tape drops the rest of a call's arrays when it records it, so an
        intermediate only an unread input held is freed at once (relu reads
        `("out",)`, add `()`). A rule may still read the shape, dtype, ndim and size
        of an input it does not read; anything else raises an error naming the op.
        Inputs that take no gradient (constants) and numpy scalars are always kept.
    order:
        How many times the op's rules can be differentiated: None (any number: the
        rules use only operators and numpy functions that registered ops stand for, so
        they run on Tensors for `create_graph=True`), or 1 when they cannot;
        `create_graph=True` through such an op raises, naming it.

    Verifier hints (plain data, or callables that build hypothesis strategies
    lazily, so that declaring an op never imports hypothesis):

    domain:
        One entry per input: None (any real) or `(low, high)`, an open interval where
        either bound may be None. log: `((0, None),)`. A bound wrapped in `Closed`
        belongs to the domain, and the rule gives the one-sided derivative there:
        x**1.5 is `((Closed(0.0), None),)`.
    kinks:
        One entry per input: the points where the derivative does not exist or blows
        up (relu: `((0.0,),)`; div's denominator: `((), (0.0,))`). The verifier keeps
        its samples a safe distance away.
    params:
        How to sample the non-differentiable keyword params: a mapping
        `{name: [values...]}`, or a callable `params(shapes) -> {name: strategy}`
        given the sampled input shapes.
    sample:
        Escape hatch for inputs that depend on each other: a callable returning a
        hypothesis strategy of `(arrays, params)`.
    skip_variants:
        `{variant: why}` for call variants the verifier must not try on this op (an op
        that needs contiguous input: `{"non-contiguous": "the C kernel needs C order"}`);
        the report shows each with its reason. docs/verifier.md lists the variants.

    override:
        Set True to replace an op of the same name on purpose.
    doc:
        What the op computes; its first line is shown by `gradledger ops`, the whole
        text by `help(gl.NAME)`.

    `plugin`, `distribution` and `version` are provenance, filled in by the registry.
    """

    name: str
    forward: Callable | None = None
    local_grad: Callable | None = None
    vjp: Callable | None = None
    signature: str | None = None
    constants: tuple = ()
    domain: tuple | None = None
    kinks: tuple | None = None
    params: Mapping | Callable | None = None
    sample: Callable | None = None
    param_order: tuple | None = None
    leading_params: tuple = ()
    out_shape: Callable | None = None
    differentiable: bool = True
    numpy_names: tuple = ()
    dtypes: tuple = ("float64", "float32")
    saves: bool = False
    reads: tuple | None = None
    saved_constants: bool = False
    order: int | None = None
    override: bool = False
    doc: str = ""
    skip_variants: Mapping | None = None
    plugin: str | None = None
    distribution: str | None = None
    version: str | None = None
    overrides: Op | None = field(default=None, repr=False)

    sig: Signature | None = field(init=False, repr=False, default=None)
    nin: int = field(init=False, repr=False, default=-1)
    variadic: str | None = field(init=False, repr=False, default=None)
    vjp_wants_needs: bool = field(init=False, repr=False, default=False)
    param_names: frozenset | None = field(init=False, repr=False, default=None)
    positional: tuple = field(init=False, repr=False, default=())
    multi: bool = field(init=False, repr=False, default=False)
    arity: int = field(init=False, repr=False, default=-1)
    guarded: bool = field(init=False, repr=False, default=False)
    saving_forward: Callable | None = field(init=False, repr=False, default=None)
    kept: frozenset | None = field(init=False, repr=False, default=None)
    keeps_out: bool = field(init=False, repr=False, default=True)
    trims: bool = field(init=False, repr=False, default=False)
    run: Callable | None = field(init=False, repr=False, default=None)
    special: bool = field(init=False, repr=False, default=False)
    complex: bool = field(init=False, repr=False, default=False)

    def __post_init__(self) -> None:
        self._split_saving_forward()
        try:
            sig = parse_signature(self.signature)
        except ValueError:
            sig = None
        nin = sig.nin if sig is not None else -1
        object.__setattr__(self, "sig", sig)
        object.__setattr__(self, "nin", nin)
        object.__setattr__(self, "variadic", sig.variadic if sig is not None else None)
        object.__setattr__(self, "multi", sig is not None and sig.nout != 1)
        # What the tape calls (the forward as given, saved values and all), and whether a
        # call's result needs more than the one-output path (several outputs, saved values).
        object.__setattr__(self, "run", self.saving_forward or self.forward)
        object.__setattr__(self, "special", self.multi or self.saves is True)
        # What the tape's hot path reads, one attribute each: the input count a call that
        # needs no binding has (-1: always bind), and whether requiring grad needs a look.
        plain = self.variadic is None and not self.leading_params
        object.__setattr__(self, "arity", nin if plain else -1)
        object.__setattr__(self, "guarded", bool(self.constants) or self.differentiable is not True)
        object.__setattr__(self, "vjp_wants_needs", _accepts(self.vjp, "needs_grad"))
        # The keyword params a call may pass: those the forward and the rule both take.
        rule, skip = (self.local_grad, nin) if self.local_grad is not None else (self.vjp, nin + 1)
        fixed = nin - 1 if self.variadic else nin
        names = [_keywords(self.forward, fixed)]
        if self.differentiable:
            names.append(_keywords(rule, skip - 1 if self.variadic else skip))
        known = [n for n in names if n is not None]
        object.__setattr__(self, "param_names",
                           frozenset.intersection(*known) - RESERVED if known else None)
        order = self.param_order
        if order is None:
            order = tuple(_ordered_keywords(self.forward, fixed))
        object.__setattr__(self, "positional", tuple(order))
        self._resolve_reads(fixed)
        object.__setattr__(self, "complex", _names_complex(self.dtypes))

    def _split_saving_forward(self) -> None:
        """For `saves=True`: keep the function given as `saving_forward` and make
        `forward` the output alone (a forward given back by `dataclasses.replace` is
        unwrapped first)."""
        forward = getattr(self.forward, "__gl_saving__", self.forward)
        rules = {name: getattr(getattr(self, name), "__gl_saving__", getattr(self, name))
                 for name in ("local_grad", "vjp")}
        saving = self.saves is True and callable(forward)
        object.__setattr__(self, "saving_forward", forward if saving else None)
        object.__setattr__(self, "forward", _output_only(forward) if saving else forward)
        for name, rule in rules.items():
            if saving and callable(rule):
                rule = _given_saved(rule, forward, 0 if name == "local_grad" else 1)
            object.__setattr__(self, name, rule)

    def _resolve_reads(self, fixed: int) -> None:
        """`reads` as the tape uses it: the input indices kept (`kept`; None: all, and
        `-1` in it keeps every element of a variadic input) and whether the output is."""
        if self.reads is None or not isinstance(self.reads, tuple):
            return
        names = _input_names(self.forward, fixed)
        kept = set()
        for entry in self.reads:
            if entry == "out":
                continue
            if isinstance(entry, int) and not isinstance(entry, bool):
                kept.add(entry)
            elif entry in names:
                kept.add(names[entry])
        object.__setattr__(self, "kept", frozenset(kept))
        object.__setattr__(self, "keeps_out", "out" in self.reads)
        object.__setattr__(self, "trims", True)

    @property
    def nout(self) -> int | None:
        """How many outputs the forward rule returns (a tuple when more than one);
        None for a list of outputs whose length the params decide (split)."""
        return self.sig.nout if self.sig is not None else 1

    @property
    def rule(self) -> str:
        """Which gradient rule the op declares: local_grad, vjp, or none (no gradient)."""
        if self.local_grad is not None:
            return "local_grad"
        return "vjp" if self.vjp is not None else "none"

    @property
    def provenance(self) -> str:
        """Where the op came from: `plugin 'builtin', gradledger 0.1.0`."""
        return provenance(self.plugin, self.distribution, self.version)

    def problems(self) -> list[str]:
        """Everything wrong with this declaration, as sentences; empty when valid."""
        found = []
        if not isinstance(self.name, str) or not self.name.isidentifier():
            found.append(f"name must be a Python identifier such as 'softplus'; got {self.name!r}")
        elif self.name.startswith("_"):
            found.append(f"name must not start with '_'; got {self.name!r}")
        if not callable(self.forward):
            found.append(
                f"forward must be a callable forward(*arrays, **params); got {self.forward!r}"
            )
        rules = [r for r in ("local_grad", "vjp") if getattr(self, r) is not None]
        if self.differentiable is False:
            if rules:
                found.append(f"an op declared differentiable=False takes no rule; got {rules[0]}")
        elif self.differentiable is not True:
            found.append(f"differentiable must be True or False; got {self.differentiable!r}")
        elif len(rules) != 1:
            found.append(
                "exactly one of local_grad (elementwise ops) and vjp (any op) must be given; "
                f"got {' and '.join(rules) if rules else 'neither'}"
            )
        for rule in rules:
            if not callable(getattr(self, rule)):
                found.append(f"{rule} must be callable; got {getattr(self, rule)!r}")
        if self.sig is None:
            try:
                parse_signature(self.signature)
            except ValueError as error:
                found.append(str(error))
            return found
        if self.local_grad is not None and not self.sig.elementwise:
            found.append(
                f"local_grad is only for elementwise ops (every operand '()', a fixed number "
                f"of inputs, one output); signature {self.signature!r} needs a vjp instead"
            )
        new = self.sig.new_output_dims()
        if new and self.out_shape is None:
            found.append(
                f"output dimension(s) {', '.join(repr(d) for d in new)} of signature "
                f"{self.signature!r} name no input dimension: declare "
                "out_shape=lambda *input_shapes, **params: shape, saying how the params "
                "decide them"
            )
        if self.out_shape is not None and not callable(self.out_shape):
            found.append(f"out_shape must be a callable; got {self.out_shape!r}")
        found.extend(self._call_problems())
        found.extend(self._hint_problems())
        return found

    def _call_problems(self) -> list[str]:
        found = []
        for name in ("param_order", "leading_params", "numpy_names"):
            value = getattr(self, name)
            if value is None and name == "param_order":
                continue
            if not isinstance(value, tuple) or not all(isinstance(v, str) for v in value):
                found.append(f"{name} must be a tuple of names; got {value!r}")
        if isinstance(self.leading_params, tuple) and RESERVED & set(self.leading_params):
            found.append(f"leading_params must not use the reserved names {sorted(RESERVED)}")
        if not isinstance(self.dtypes, tuple) or not self.dtypes:
            found.append(f"dtypes must be a non-empty tuple of float dtype names; got "
                         f"{self.dtypes!r}")
        else:
            for name in self.dtypes:
                if _dtype_entry(name) is None:
                    found.append(f"dtypes must name float or complex dtypes such as 'float32', "
                                 f"'complex128', or 'float64->complex128' (real inputs, "
                                 f"complex output); got {name!r}")
        return found

    def _hint_problems(self) -> list[str]:
        found = []
        nin = self.sig.nin
        fixed = nin - 1 if self.variadic else nin
        if not isinstance(self.constants, tuple) or not all(
            isinstance(i, int) and 0 <= i < fixed for i in self.constants
        ):
            found.append(
                f"constants must be a tuple of indices of fixed (non-variadic) inputs, below "
                f"{fixed}; got {self.constants!r}"
            )
        for hint, check in (("domain", _is_interval), ("kinks", _is_points)):
            value = getattr(self, hint)
            if value is None:
                continue
            if not isinstance(value, tuple) or len(value) != nin:
                found.append(
                    f"{hint} must be a tuple with one entry per input ({nin}); got {value!r}"
                )
            elif not all(entry is None or check(entry) for entry in value):
                found.append(f"{hint} has an entry that is not {check.__doc__}: {value!r}")
        if self.params is not None and not (
            callable(self.params) or isinstance(self.params, Mapping)
        ):
            found.append(
                f"params must be a mapping of value lists or a callable; got {self.params!r}"
            )
        if self.sample is not None and not callable(self.sample):
            found.append(f"sample must be a callable returning a strategy; got {self.sample!r}")
        found.extend(self._saving_problems(nin))
        if self.skip_variants is not None and not (
            isinstance(self.skip_variants, Mapping)
            and all(isinstance(k, str) and isinstance(v, str)
                    for k, v in self.skip_variants.items())
        ):
            found.append("skip_variants must be a mapping {variant name: why}; got "
                         f"{self.skip_variants!r}")
        if self.order is not None and not (isinstance(self.order, int) and self.order >= 1):
            found.append(f"order must be None (any order) or an int >= 1; got {self.order!r}")
        if not isinstance(self.override, bool):
            found.append(f"override must be True or False; got {self.override!r}")
        return found


    def _saving_problems(self, nin: int) -> list[str]:
        found = []
        if not isinstance(self.saves, bool):
            found.append(f"saves must be True or False; got {self.saves!r}")
        if not isinstance(self.saved_constants, bool):
            found.append(f"saved_constants must be True or False; got {self.saved_constants!r}")
        elif self.saved_constants and self.saves is not True:
            found.append(f"saved_constants={self.saved_constants!r} says what the forward "
                         "saves; it needs saves=True")
        if self.saves is True and not self.differentiable:
            found.append("an op declared differentiable=False has no rule to save values for; "
                         "drop saves=True")
        if self.reads is None:
            return found
        names = _input_names(self.forward, nin - 1 if self.variadic else nin)
        if not isinstance(self.reads, tuple):
            return [*found, f"reads must be a tuple of input names (the forward's "
                            f"parameters) and 'out'; got {self.reads!r}"]
        for entry in self.reads:
            if isinstance(entry, int) and not isinstance(entry, bool):
                if not 0 <= entry < nin:
                    found.append(f"reads: input index {entry} is out of range (the op has "
                                 f"{nin} input(s))")
            elif entry != "out" and entry not in names:
                found.append(
                    f"reads names {entry!r}, which is neither 'out' nor one of the forward's "
                    f"inputs ({', '.join(repr(n) for n in names) or 'none found'})"
                )
        return found


def provenance(plugin: str | None, distribution: str | None, version: str | None) -> str:
    """`plugin 'builtin', gradledger 0.1.0`, or `plugin 'mine', registered by hand`."""
    named = f"plugin {plugin!r}" if plugin else "no plugin"
    if distribution:
        return f"{named}, {distribution} {version or '(unknown version)'}"
    return f"{named}, registered by hand"


def _dtype_entry(entry) -> tuple | None:
    """A `dtypes` entry as (input dtype, output kind or None): "float32" -> (float32, None),
    "float64->complex128" -> (float64, "c"); None when it is no such entry."""
    if not isinstance(entry, str):
        return None
    names = entry.split("->")
    try:
        dtypes = [np.dtype(name.strip()) for name in names]
    except TypeError:
        return None
    if len(dtypes) == 1 and dtypes[0].kind in "fc":
        return dtypes[0], None
    if len(dtypes) == 2 and dtypes[0].kind == "f" and dtypes[1].kind == "c":
        return dtypes[0], "c"
    return None


def _names_complex(dtypes) -> bool:
    """Whether a `dtypes` declaration lets the op take or give complex numbers."""
    if not isinstance(dtypes, tuple):
        return False
    entries = [_dtype_entry(name) for name in dtypes]
    return any(e is not None and (e[0].kind == "c" or e[1] == "c") for e in entries)


class Closed(float):
    """A domain bound the op includes: `domain=((Closed(0.0), None),)` is x >= 0.

    The op is defined at the bound and its rule gives the one-sided derivative there
    (from inside the domain). The verifier sometimes places elements exactly on a closed
    bound and nudges them one-sidedly, into the domain; an open bound (a plain number) is
    never sampled nor nudged across."""

    def __repr__(self) -> str:
        return f"Closed({float(self)!r})"


def _is_interval(entry) -> bool:
    """None or a (low, high) pair of numbers or None with low < high"""
    if not (isinstance(entry, tuple) and len(entry) == 2):
        return False
    low, high = entry
    if not all(b is None or isinstance(b, numbers.Real) for b in entry):
        return False
    return low is None or high is None or low < high


def _is_points(entry) -> bool:
    """None or a tuple of numbers"""
    return isinstance(entry, tuple) and all(isinstance(p, numbers.Real) for p in entry)


RESERVED = frozenset({"out", "needs_grad", "saved"})
"""Keywords the tape passes to rules itself: no op param may use them."""


def _keywords(function, skip: int) -> frozenset | None:
    """The keyword params `function` takes after its first `skip` positional ones;
    None when it takes any (**kwargs) or cannot be inspected."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names, taken = set(), 0
    for p in parameters:
        if p.kind in positional and taken < skip:
            taken += 1
        elif p.kind is not inspect.Parameter.VAR_POSITIONAL:
            names.add(p.name)
    return frozenset(names)


def _ordered_keywords(function, skip: int) -> list[str]:
    """The names of `function`'s parameters after its first `skip` positional ones, in order."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names, taken = [], 0
    for p in parameters:
        if p.kind in positional and taken < skip:
            taken += 1
        elif p.kind in (*positional, inspect.Parameter.KEYWORD_ONLY):
            names.append(p.name)
    return names


def _accepts(function, name: str) -> bool:
    if not callable(function):
        return False
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _output_only(forward: Callable) -> Callable:
    """The forward of a `saves=True` op without its saved values: what callers other than
    the tape (the verifier, `to_html`'s replay) call."""

    @functools.wraps(forward)
    def output_only(*arrays, **params):
        return forward(*arrays, **params)[0]

    output_only.__gl_saving__ = forward
    return output_only


_MISSING = object()


def _given_saved(rule: Callable, forward: Callable, skip: int) -> Callable:
    """The rule of a `saves=True` op as callers other than the tape call it (the
    verifier: `rule(*arrays, out=...)`, no `saved`): given the saved values its forward
    makes of those arrays. The tape passes `saved=` itself."""

    @functools.wraps(rule)
    def given_saved(*args, saved=_MISSING, **kwargs):
        if saved is _MISSING:
            params = {k: v for k, v in kwargs.items() if k not in RESERVED}
            saved = forward(*args[skip:], **params)[1]
        return rule(*args, saved=saved, **kwargs)

    given_saved.__gl_saving__ = rule
    return given_saved


def _input_names(function, fixed: int) -> dict:
    """The names of `function`'s first `fixed` positional parameters (its inputs) -> their
    indices, and its `*args` name (a variadic input) -> -1."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return {}
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    names = {}
    for p in parameters:
        if p.kind in positional and len(names) < fixed:
            names[p.name] = len(names)
        elif p.kind is inspect.Parameter.VAR_POSITIONAL:
            names[p.name] = -1
    return names
