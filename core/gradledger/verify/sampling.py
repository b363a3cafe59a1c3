"""Hypothesis strategies built from an op's declaration: dtypes, shapes, values, params.

Imported only when verifying (it imports hypothesis). Everything drawn for one
example is drawn by one composite strategy, so that hypothesis shrinks shapes,
values, params and the random cotangent together to a minimal counterexample.

- dtype: one of the op's declared `dtypes` (default float64, then float32);
- shapes: `mutually_broadcastable_shapes(signature=...)`, so elementwise ops meet
  broadcasting and matmul meets batches and 1-D operands; `(*)` operands (any
  shape) share one shape drawn by `array_shapes`. Sides run from 1 to 4; in about
  one example in LARGE_ODDS one dimension is stretched to 100-400 elements;
- values, each example in one of three modes: `edge` (hypothesis's edge-seeking
  floats, within +-BOUND where the domain is open), `uniform` (uniform within the
  declared interval; over an open end, uniform up to a scale drawn log-uniformly out
  to LARGE) and `log` (log-uniform magnitudes from MARGIN out to LARGE, or to the
  declared bound); always at least MARGIN from every declared kink and bound.
  Hypothesis draws up to DRAWN values per input; a larger input repeats them, each
  repeat moved by at most JITTER of itself (so a failure in a large input shrinks);
- frozen inputs: for ops with two or more differentiable inputs, which of them a
  second run passes without grad, and how (a Tensor, a numpy array, a Python number);
- params: from the `params` hint, a mapping of value lists or `params(shapes)`;
- `sample`, when declared, replaces shapes, values and params.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..signature import ANY_SHAPE, Signature, parse_signature
from . import hints
from .numeric import closed_bounds

MAX_DIMS = 3
"""Loop (batch) dimensions, or dimensions of a `(*)` operand, drawn at most."""
MAX_SIDE = 4
LARGE_SIDES = (100, 400)
"""A stretched dimension has between these many elements, or in about one stretched
example in LONG_ODDS between LONG_SIDES' (past 1,024: blocked code paths)."""
LONG_SIDES = (1100, 1500)
LONG_ODDS = 2
LARGE_CAP = 8192
"""A stretched input with more elements than this has its other dimensions set to 1."""
LARGE_ODDS = 8
"""About one example in LARGE_ODDS has one stretched dimension."""
DRAWN = 8
"""Hypothesis draws at most this many elements of each input (in C order); a numpy
Generator seeded by hypothesis fills the rest, so that an example's cost stays small."""
MODES = ("edge", "uniform", "log")
FROZEN_AS = ("tensor", "array", "number")


# -- the same seed draws the same examples, however the plugin is installed -------------
#
# Hypothesis mixes constants it finds in "local" source files (not under site-packages)
# into its draws: an editable install of a plugin would draw other examples than a
# regular install of the same plugin from one --seed. While the verifier draws, it sees
# no local constants (the switch is ours alone: other hypothesis tests are untouched).

_drawing = 0


def _no_local_constants() -> None:
    try:
        from hypothesis.internal.conjecture import providers
    except ImportError:  # pragma: no cover - a hypothesis without local constants
        return
    original = getattr(providers, "_get_local_constants", None)
    if original is None or getattr(original, "_gradledger", False):
        return
    empty = type(providers._local_constants)(
        integers=type(providers._local_constants.integers)(),
        floats=type(providers._local_constants.floats)(key=providers.float_to_int),
        bytes=type(providers._local_constants.bytes)(),
        strings=type(providers._local_constants.strings)())

    def local_constants():
        return empty if _drawing else original()

    local_constants._gradledger = True
    providers._get_local_constants = local_constants
    # constants are cached by constraints across test cases: ours have their own cache, so
    # that another test's local constants never reach the verifier's draws
    ours = providers.LRUCache(1024)
    maybe = providers.HypothesisProvider._maybe_draw_constant

    def maybe_draw_constant(self, *args, **kwargs):
        if not _drawing:
            return maybe(self, *args, **kwargs)
        saved = providers.CONSTANTS_CACHE
        providers.CONSTANTS_CACHE = ours
        try:
            return maybe(self, *args, **kwargs)
        finally:
            providers.CONSTANTS_CACHE = saved

    providers.HypothesisProvider._maybe_draw_constant = maybe_draw_constant


try:
    _no_local_constants()
except Exception:  # pragma: no cover - another hypothesis layout: draws as it does
    pass


class Unverifiable(Exception):
    """The op's declaration gives no way to sample valid inputs; the message says why."""


@dataclass
class Example:
    """One drawn example: the inputs as the tape holds them, the params, and more.

    `dtype` is the float dtype of the differentiable inputs; `shared` is the x of the
    accumulation check `op(x, x)` (None when it does not apply); `seed` seeds the
    random cotangent and directions; `expected_shape` is the output shapes (one per
    output) the signature promises (None when the params decide; the checks ask a
    declared `out_shape` then); `frozen` the differentiable
    inputs that the frozen-inputs check passes without grad, `frozen_as` how;
    `mode` how the values were drawn; `large` whether a dimension was stretched.
    """

    arrays: list
    params: dict
    seed: int
    expected_shape: tuple | None = None
    shared: np.ndarray | None = None
    dtype: np.dtype = field(default_factory=lambda: np.dtype(np.float64))
    frozen: tuple = ()
    frozen_as: str = "tensor"
    mode: str = "edge"
    large: bool = False
    notes: list = field(default_factory=list)


def example_strategy(op) -> st.SearchStrategy:
    """Everything one check needs, drawn from `op`'s declaration; Unverifiable if impossible."""
    if op.differentiable is not False and not hints.differentiable_inputs(op):
        raise Unverifiable("every input is declared a constant: there is no gradient to check")
    if op.sample is not None:
        return _from_sample(op)
    required = hints.required_params(op)
    if op.params is None:
        missing = list(required)
    elif isinstance(op.params, Mapping):
        missing = [p for p in required if p not in op.params]
    else:
        missing = []  # a params(shapes) callable: checked when it is called
    if missing:
        raise Unverifiable(
            f"its forward rule needs the param(s) {', '.join(map(repr, missing))}, and the op "
            "declares no `params` hint (a mapping {name: [values]} or a callable "
            "params(shapes) -> {name: strategy}) nor a `sample` hint"
        )
    return _from_declaration(op)


# -- shapes ------------------------------------------------------------------------------


def flat_signature(sig: Signature, count: int) -> Signature:
    """`sig` for one call with `count` flat inputs: a variadic last input written out
    `count - nin + 1` times, as numpy's gufunc grammar has it."""
    if sig.variadic is None:
        return sig
    written = ",".join("(" + ("*" if d == ANY_SHAPE else ",".join(d)) + ")"
                       for d in sig.flat_inputs(count))
    outputs = ",".join("(" + ("*" if d == ANY_SHAPE else ",".join(d)) + ")"
                       for d in sig.outputs)
    return parse_signature(f"{written}->{outputs}")


KEEP_EXTENDING = 1 - 1 / (1 + MAX_DIMS / 2)
"""Loop dimensions: after each, an input gets another with this chance (about MAX_DIMS / 2
on average, as hypothesis's `mutually_broadcastable_shapes` draws them)."""
OPTIONAL_ABSENT = 1 / 8
"""An optional core dimension (`n?`) is left out with this chance (as hypothesis does)."""


def _shapes(sig: Signature) -> st.SearchStrategy:
    """(input shapes, the promised output shapes or None), for a signature without
    variadic inputs.

    The shapes are decoded from one drawn byte string (see `decode_shapes`): one
    hypothesis choice instead of the two dozen that `mutually_broadcastable_shapes` makes,
    which cost more than the check itself on a cheap op. The bytes shrink towards zero,
    and zero bytes decode to the smallest shapes."""
    known = not sig.any_shape and not sig.new_output_dims() and sig.nout is not None
    if known:
        count = 2 * len(_core_names(sig)) + MAX_DIMS * (1 + len(sig.inputs))
    else:
        count = 1 + MAX_DIMS + len(_core_names(sig))
    return _digits(count).map(lambda raw: _with_result(sig, decode_shapes(sig, raw, known),
                                                       known))


def _with_result(sig: Signature, shapes: tuple, known: bool) -> tuple:
    return shapes, (hints.result_shapes(sig, shapes) if known else None)


def _core_names(sig: Signature) -> list:
    """The named core dimensions of the inputs and outputs, in order of appearance."""
    names = []
    for dims in (*sig.inputs, *sig.outputs):
        if dims == ANY_SHAPE:
            continue
        for d in dims:
            name = d.rstrip("?")
            if not name.isdigit() and name not in names:
                names.append(name)
    return names


def decode_shapes(sig: Signature, raw, broadcast: bool = True) -> tuple:
    """The input shapes that the bytes `raw` spell for `sig` (all zeros: the smallest).

    A signature with a `(*)` operand, or whose outputs only a declared rule can size
    (`broadcast` False): a number of dimensions (0 to MAX_DIMS), then their sides, for
    every `(*)` operand; each named core dimension a side, always present; no loop
    dimensions. Otherwise, as numpy's
    gufunc broadcasting has it: each named core dimension a side (1 to MAX_SIDE), and an
    optional one (`n?`) sometimes left out, for every operand at once; then up to MAX_DIMS
    loop dimensions, each with one side that every operand takes or replaces by 1, every
    operand stopping at its own count (an operand without an optional dimension gets none,
    lest numpy read a loop dimension as the missing core one).
    """
    raw = [int(b) for b in raw]
    names = _core_names(sig)
    if not broadcast:
        ndim = raw[0] % (MAX_DIMS + 1)
        star = tuple(1 + b % MAX_SIDE for b in raw[1:1 + ndim])
        sides = {name: 1 + raw[1 + MAX_DIMS + k] % MAX_SIDE for k, name in enumerate(names)}
        return tuple(star if dims == ANY_SHAPE else tuple(_side(d, sides) for d in dims)
                     for dims in sig.inputs)
    sides, present, at = {}, {}, 0
    for name in names:
        sides[name] = 1 + raw[at] % MAX_SIDE
        present[name] = raw[at + 1] >= 256 * OPTIONAL_ABSENT
        at += 2
    cores, grows = [], []
    for dims in sig.inputs:
        kept = [d for d in dims if not d.endswith("?") or present[d.rstrip("?")]]
        cores.append(tuple(_side(d, sides) for d in kept))
        grows.append(len(kept) == len(dims))
    loops = [[] for _ in sig.inputs]
    for _ in range(MAX_DIMS):
        side = 1 + raw[at] % MAX_SIDE
        for k, byte in enumerate(raw[at + 1:at + 1 + len(sig.inputs)]):
            grows[k] = grows[k] and (byte >> 1) >= 128 * (1 - KEEP_EXTENDING)
            if grows[k]:
                loops[k].append(side if byte & 1 else 1)
        at += 1 + len(sig.inputs)
    return tuple(tuple(reversed(loop)) + core for loop, core in zip(loops, cores, strict=True))


def _side(dim: str, sides: dict) -> int:
    name = dim.rstrip("?")
    return int(name) if name.isdigit() else sides[name]


def stretch(sig, shapes: tuple, choice: int, side: int) -> tuple:
    """`shapes` with one dimension stretched to `side` elements, keeping them valid.

    The dimensions that can stretch are every named core dimension (all its
    occurrences together), every loop (batch) position where some input is longer than 1
    (every input whose size there is not 1: broadcasting stays as drawn), and each axis
    of a `(*)` operand (all `(*)` operands together);
    `choice` picks one of them (modulo their count). An operand of shape () of a `(*)`
    op becomes a vector.
    """
    shapes = [tuple(s) for s in shapes]
    options = []
    if sig.any_shape:
        star = next((s for d, s in zip(sig.inputs, shapes, strict=True) if d == ANY_SHAPE), None)
        if star is not None:
            options += [("star", axis) for axis in range(max(len(star), 1))]
    else:
        cores = []
        for dims, shape in zip(sig.inputs, shapes, strict=True):
            present = dims if len(shape) >= len(dims) else tuple(
                d for d in dims if not d.endswith("?"))
            cores.append(present)
            options += [("core", d.rstrip("?")) for d in present
                        if ("core", d.rstrip("?")) not in options]
        loops = max(len(s) - len(c) for s, c in zip(shapes, cores, strict=True))
        for k in range(loops):  # only where some input is longer than 1: the same broadcasting
            sizes = [s[len(s) - len(c) - 1 - k] for s, c in zip(shapes, cores, strict=True)
                     if len(s) - len(c) - 1 - k >= 0]
            if any(n > 1 for n in sizes):
                options.append(("loop", k))
    if not options:
        return tuple(shapes)
    kind, which = options[choice % len(options)]
    out = []
    for i, shape in enumerate(shapes):
        dims = sig.inputs[i]
        if kind == "star":
            if dims == ANY_SHAPE:
                shape = shape or (1,)
                shape = shape[:which] + (side,) + shape[which + 1:]
        elif kind == "core":
            present = dims if len(shape) >= len(dims) else tuple(
                d for d in dims if not d.endswith("?"))
            core_start = len(shape) - len(present)
            shape = tuple(side if j >= core_start and present[j - core_start].rstrip("?") == which
                          else n for j, n in enumerate(shape))
        else:  # a loop position, counted from the right of the loop dimensions
            present = dims if len(shape) >= len(dims) else tuple(
                d for d in dims if not d.endswith("?"))
            loop = len(shape) - len(present)
            j = loop - 1 - which
            if 0 <= j and shape[j] != 1:
                shape = shape[:j] + (side,) + shape[j + 1:]
        out.append(shape)
    if max(math.prod(s) for s in out) > LARGE_CAP:  # other dimensions to 1, keeping the long one
        out = [tuple(n if n == side or n == 1 else 1 for n in s) if kind != "core" else
               _ones_but_core(sig.inputs[i], s) for i, s in enumerate(out)]
    return tuple(out)


def _ones_but_core(dims, shape: tuple) -> tuple:
    """`shape` with its loop (batch) dimensions set to 1."""
    if dims == ANY_SHAPE:
        return shape
    core = min(len(dims), len(shape))
    return (1,) * (len(shape) - core) + tuple(shape[len(shape) - core:])


# -- values ------------------------------------------------------------------------------


def _limits(bounds: tuple, points: tuple, reach: float) -> tuple[float, float, float]:
    """(lo, hi, margin): where values may go, open ends reaching out to +-reach."""
    low, high = bounds
    lo = -reach if low is None else low
    hi = reach if high is None else high
    if low is None and high is not None:
        lo = min(lo, high - reach)
    if high is None and low is not None:
        hi = max(hi, low + reach)
    margin = min(hints.MARGIN, (hi - lo) / 8)
    lo = lo + margin if low is not None else lo
    hi = hi - margin if high is not None else hi
    return lo, hi, margin


def elements(bounds: tuple, points: tuple) -> st.SearchStrategy:
    """float64 values in the open interval `bounds`, at least MARGIN from its ends and `points`.

    Hypothesis's edge-seeking floats: open ends reach out to +-BOUND.
    """
    lo, hi, margin = _limits(bounds, points, hints.BOUND)

    def away(x: float) -> float:
        for point in points:
            if abs(x - point) < margin:
                x = point + math.copysign(margin, x - point) if x != point else point + margin
        return x

    def safe(x: float) -> bool:
        return lo <= x <= hi and all(abs(x - p) >= margin * 0.999 for p in points)

    values = st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return values.map(away).filter(safe) if points else values


def place(units: np.ndarray, bounds: tuple, points: tuple, mode: str,
          reach_unit: float = 1.0) -> np.ndarray:
    """Map numbers in [0, 1] to float64 values across the whole declared interval.

    `uniform`: uniform within a bounded interval; over an open end, uniform up to a
    reach of 10 ** (-1 + reach_unit * 7), from 0.1 out to LARGE. `log`: magnitudes
    (distances from the finite bound, if one) log-uniform from MARGIN out to LARGE or
    the far bound; a two-sided choice (sign, or which bound) takes the lower half of
    [0, 1]. Every value then keeps MARGIN from each kink and bound.
    """
    units = np.asarray(units, dtype=np.float64)
    low, high = bounds
    top = math.log10(hints.LARGE)
    if mode == "uniform":
        reach = 10.0 ** (-1.0 + reach_unit * (top + 1.0)) if low is None or high is None else 1.0
        lo, hi, margin = _limits(bounds, points, reach)
        x = lo + (hi - lo) * units
    else:
        lo, hi, margin = _limits(bounds, points, hints.LARGE)
        two_sided = (low is None) == (high is None)
        side = units < 0.5
        t = np.where(side, 2 * units, 2 * units - 1) if two_sided else units
        bottom = math.log10(margin)
        if low is None and high is None:
            magnitude = 10.0 ** (bottom + t * (top - bottom))
            x = np.where(side, -magnitude, magnitude)
        else:
            far = math.log10(max(hi - lo, 2 * margin))
            distance = 10.0 ** (bottom + t * (far - bottom))
            if two_sided:
                x = np.where(side, low + distance, high - distance)
            elif low is not None:
                x = low + distance
            else:
                x = high - distance
    x = np.clip(x, lo, hi)
    for point in points:
        close = np.abs(x - point) < margin
        x = np.where(close, point + np.where(x >= point, margin, -margin), x)
    return np.asarray(x, dtype=np.float64)


@functools.lru_cache(maxsize=64)
def _digits(count: int) -> st.SearchStrategy:
    """`count` bytes, one hypothesis choice: each value's leading base-256 digit, drawn about
    uniformly (hypothesis draws wide integer ranges mostly near their lower end) and shrunk
    towards 0. The digits after it come from a numpy Generator (see `_units`)."""
    return st.binary(min_size=count, max_size=count).map(
        lambda raw: np.frombuffer(raw, dtype=np.uint8))


def _units(digits, rng: np.random.Generator) -> np.ndarray:
    """Numbers in [0, 1): drawn leading digits, and a Generator's fraction of a digit."""
    digits = np.asarray(digits, dtype=np.float64)
    return (digits + rng.random(np.shape(digits))) / 256


def spread(rng: np.random.Generator, shape: tuple, bounds: tuple, points: tuple,
           mode: str) -> np.ndarray:
    """`place`d values from a numpy Generator (for stretched, large examples)."""
    return place(rng.random(shape), bounds, points, mode, rng.random())


def on_edge(array: np.ndarray, picks, bounds: tuple, dtype) -> np.ndarray:
    """A copy with about one in four of the first `len(picks)` elements exactly on a closed
    bound (`picks`: drawn bytes, 192 and up; 224 and up take the high bound when both are
    closed). Only bounds the example's dtype holds exactly (float32 has no 0.1)."""
    low, high = (b if b is not None and float(np.asarray(b, dtype=dtype)) == b else None
                 for b in bounds)
    array = np.array(array, dtype=np.float64)
    flat = array.reshape(-1)[:len(picks)]
    picks = np.asarray(picks)[:flat.size]
    if low is not None:
        flat[(picks >= 192) & ((picks < 224) | (high is None))] = low
    if high is not None:
        flat[(picks >= 224) | ((picks >= 192) & (low is None))] = high
    return array


JITTER = 1e-4
"""Repeated values are moved by up to this fraction of themselves (no exact ties)."""


def repeat(head: np.ndarray, size: int, rng: np.random.Generator, bounds: tuple) -> np.ndarray:
    """`size` values: `head`, then `head` again and again, each repeat moved by at most
    JITTER of itself, staying inside the open interval `bounds`."""
    head = np.asarray(head, dtype=np.float64)
    if size <= head.size:
        return head[:size]
    values = np.resize(head, size)
    rest = values[head.size:]
    rest *= 1.0 + JITTER * rng.uniform(-1.0, 1.0, rest.shape)
    low, high = bounds
    if low is not None or high is not None:
        span = (high if high is not None else np.inf) - (low if low is not None else -np.inf)
        inset = min(hints.MARGIN, span / 8) / 2
        np.clip(values, -np.inf if low is None else low + inset,
                np.inf if high is None else high - inset, out=values)
    return values


def _array(shape, strategy) -> st.SearchStrategy:
    return hnp.arrays(np.float64, shape, elements=strategy)


# -- params ------------------------------------------------------------------------------


class HintError(Exception):
    """An op's hint (params or sample) raised or returned something unusable."""


def _params(op, shapes) -> st.SearchStrategy:
    declared = op.params
    if declared is None:
        return st.just({})
    if callable(declared):
        try:
            declared = declared(shapes)
        except Exception as error:
            raise HintError(
                f"its params hint raised {type(error).__name__}: {error} (input shapes {shapes})"
            ) from error
        if not isinstance(declared, Mapping):
            raise HintError(f"its params hint returned {declared!r}; expected {{name: strategy}}")
    missing = [p for p in hints.required_params(op) if p not in declared]
    if missing:
        raise HintError(f"its params hint gives no strategy for the required param(s) {missing}")
    return st.fixed_dictionaries({name: _as_strategy(value) for name, value in declared.items()})


def _as_strategy(value) -> st.SearchStrategy:
    if isinstance(value, st.SearchStrategy):
        return value
    if isinstance(value, (list, tuple)):
        return st.sampled_from(list(value))
    return st.just(value)


# -- one example --------------------------------------------------------------------------


def _tape_form(array, dtype=np.float64, integral_ok: bool = False):
    """How the tape holds an input: arrays of `dtype`, numpy scalars for 0-d values."""
    array = np.asarray(array)
    if not (integral_ok and array.dtype.kind in "biu"):
        array = array.astype(dtype)
    return array[()] if array.ndim == 0 else array


def _input_dtype(entry) -> np.dtype:
    """The dtype the inputs are drawn in for one of `hints.dtypes(op)`: the entry itself
    for a float dtype, its real counterpart for a complex one (the imaginary parts come
    after, `_complex_form`), the left side of "float64->complex128"."""
    if isinstance(entry, str):
        return np.dtype(entry.split("->")[0].strip())
    entry = np.dtype(entry)
    return np.finfo(entry).dtype if entry.kind == "c" else entry


IMAG = (0.25, 1.5)
"""A complex example's imaginary parts: of either sign, their size drawn from this range,
so that it keeps away from the real axis, where the branch cuts of log and sqrt lie."""


def _complex_form(op, arrays: list, shared, entry, seed: int) -> tuple:
    """A complex example (a complex `entry` of the op's dtypes): each differentiable input
    drawn in real numbers gets an imaginary part; "float64->complex128" (real inputs, a
    complex output) keeps the inputs real. Returns (arrays, shared, the example's dtype):
    that of the complex output. A real entry changes nothing."""
    if isinstance(entry, str):
        return arrays, None, np.dtype(entry.split("->")[1].strip())
    entry = np.dtype(entry)
    if entry.kind != "c":
        return arrays, shared, entry
    rng = np.random.default_rng([seed, 21])
    made = []
    for i, a in enumerate(arrays):
        if i in op.constants or np.asarray(a).dtype.kind != "f":
            made.append(a)
            continue
        size = rng.uniform(*IMAG, np.shape(a)) * rng.choice([-1.0, 1.0], np.shape(a))
        made.append(_tape_form(np.asarray(a, dtype=np.float64) + 1j * size, entry))
    return made, None, entry


def _shared(op, shapes, arrays, rng_seed: int, dtype) -> np.ndarray | None:
    """The x of op(x, x): a drawn input that fits (copied), else values spread over the
    intersection of both inputs' domains."""
    if not hints.reuses_inputs(op):
        return None
    shape = hints.shared_shape(op, shapes)
    bounds = hints.plan(op).shared
    if shape is None or bounds is None:
        return None
    points = hints.plan(op).kinks(0) + hints.plan(op).kinks(1)
    lo, hi, margin = _limits(bounds, points, np.inf)
    for array in arrays:
        values = np.asarray(array, dtype=np.float64)
        if np.shape(array) == shape and np.all((values >= lo) & (values <= hi)) and all(
                np.all(np.abs(values - p) >= margin * 0.999) for p in points):
            return _tape_form(np.copy(array), dtype)
    rng = np.random.default_rng(rng_seed)
    return _tape_form(spread(rng, shape, bounds, points, "uniform"), dtype)


def _sampled_shared(op, arrays) -> np.ndarray | None:
    """For `sample`d ops, op(x, x) reuses a drawn input: only the hint knows valid values."""
    if not hints.reuses_inputs(op):
        return None
    shape = hints.shared_shape(op, [np.shape(a) for a in arrays])
    for array in arrays:
        if np.shape(array) == shape:
            return _tape_form(np.copy(array), np.asarray(array).dtype)
    return None


FROZEN_CHOICES = 3 * 2**12
"""The frozen-inputs choice is one integer below this: how (its remainder by 3) and which
inputs (a proper nonempty subset of the flat differentiable inputs, elements of a sequence
input included)."""


def _frozen_strategy(op) -> st.SearchStrategy:
    """One integer that `_frozen` decodes, once the number of flat inputs is known."""
    if len(hints.differentiable_inputs(op)) < 2 and op.variadic is None:
        return st.just(0)
    return st.integers(0, FROZEN_CHOICES - 1)


def _frozen(op, k: int, arrays) -> tuple[tuple, str]:
    """(which flat differentiable inputs the frozen-inputs check passes without grad, how):
    every element of a sequence input may be frozen, alone or with others."""
    wrt = hints.differentiable_inputs(op, len(arrays))
    if len(wrt) < 2:
        return (), "tensor"
    how = FROZEN_AS[k % len(FROZEN_AS)]
    mask = (k // len(FROZEN_AS)) % (2 ** len(wrt) - 2) + 1
    frozen = tuple(i for j, i in enumerate(wrt) if mask >> j & 1)
    if how == "number" and any(np.ndim(arrays[i]) for i in frozen):
        how = "array"
    return frozen, how


VARIADIC = (1, 4)
"""A variadic input gets between these many elements."""


def _from_declaration(op) -> st.SearchStrategy:
    fixed = op.nin - 1 if op.variadic is not None else op.nin
    counts = range(fixed + VARIADIC[0], fixed + VARIADIC[1] + 1) if op.variadic else [op.nin]
    sigs = {n: flat_signature(op.sig, n) for n in counts}
    strategies = {n: _shapes(sig) for n, sig in sigs.items()}
    count_strategy = st.sampled_from(list(counts))
    top = max(counts)
    plan = hints.plan(op)
    intervals = [plan.interval(i) for i in range(top)]
    kinks = [plan.kinks(i) for i in range(top)]
    edge_values = [elements(intervals[i], kinks[i]) for i in range(top)]
    closed = [closed_bounds(intervals[i]) for i in range(top)]
    edge_arrays = {}
    dtype_strategy = st.sampled_from(plan.dtypes)
    large_strategy = st.integers(1, LARGE_ODDS)
    stretch_strategy = _digits(2).map(  # (which dimension, its new side), about uniform
        lambda b: (int(b[0]), _stretched_side(int(b[1]))))
    mode_strategy = st.sampled_from(MODES)
    seed_strategy = st.integers(0, 2**32 - 1)
    frozen_strategy = _frozen_strategy(op)
    fixed_params = st.just({}) if op.params is None else (
        _params(op, None) if isinstance(op.params, Mapping) else None)
    params_by_shapes = {}  # a params(shapes) hint's strategies, built (and validated) once

    def params_for(shapes):
        key = tuple(tuple(s) for s in shapes)
        if key not in params_by_shapes:
            params_by_shapes[key] = _params(op, shapes)
        return params_by_shapes[key]

    @st.composite
    def example(draw):
        global _drawing
        _drawing += 1
        try:
            return drawn_example(draw)
        finally:
            _drawing -= 1

    def drawn_example(draw):
        # The same choices are drawn whether or not the example is large, so that the
        # shrinker can turn a large failing example into a small one.
        dtype = draw(dtype_strategy)
        count = draw(count_strategy)
        sig = sigs[count]
        shapes, expected = draw(strategies[count])
        large = draw(large_strategy) == LARGE_ODDS
        choice, side = draw(stretch_strategy)
        values_seed = draw(seed_strategy)
        small = shapes
        if large:
            shapes = stretch(sig, shapes, choice, side)
            expected = None if expected is None else hints.result_shapes(sig, shapes)
        params = draw(fixed_params if fixed_params is not None else params_for(shapes))
        if large and fixed_params is not None:
            shapes = _one_long_operand(op, sig, shapes, params, choice)
        mode = draw(mode_strategy)
        rng = np.random.default_rng(values_seed)
        arrays = []
        for i, shape in enumerate(shapes):
            # hypothesis draws (and shrinks) up to DRAWN values; the rest of the array
            # repeats them, each moved a little, so that a value that fails in a large
            # array is one hypothesis drew, and shrinks with it to a small example
            size = math.prod(shape)
            drawn = min(math.prod(small[i]), DRAWN)
            if mode == "edge":
                key = (i, drawn)
                if key not in edge_arrays:  # a strategy is built (and validated) once
                    edge_arrays[key] = _array((drawn,), edge_values[i])
                head = draw(edge_arrays[key])
            else:
                units = _units(draw(_digits(drawn + 1)), rng)
                head = place(units[1:], intervals[i], kinks[i], mode, units[0])
            arrays.append(repeat(head, size, rng, intervals[i]).reshape(shape))
            if closed[i] != (None, None):  # only ops that declare one draw this
                arrays[-1] = on_edge(arrays[-1], draw(_digits(drawn)), closed[i],
                                     _input_dtype(dtype))
        arrays = [_tape_form(a, _input_dtype(dtype)) for a in arrays]
        seed = draw(seed_strategy)
        shared = _shared(op, shapes, arrays, seed, _input_dtype(dtype))
        frozen, frozen_as = _frozen(op, draw(frozen_strategy), arrays)
        arrays, shared, dtype = _complex_form(op, arrays, shared, dtype, seed)
        return Example(arrays, params, seed, expected, shared, np.dtype(dtype), frozen,
                       frozen_as, mode, large)

    return example()


def _one_long_operand(op, sig, shapes: tuple, params: dict, choice: int) -> tuple:
    """Stretched `shapes` of an op with several `(*)` operands, with one of them long and
    the others of size 1 (broadcastable against it), where the op's forward accepts that.

    Stretched together, `(*)` operands of an op whose output is their product (outer,
    kron, tensordot) give outputs of millions of elements (1,500 x 1,500): seconds and
    hundreds of MiB per example for no more reach. Only an op whose output grows faster
    than its operands (every operand of 3 elements gives at least twice the output of 2)
    is narrowed, where its forward accepts the narrowed shapes; both are asked of its
    forward, on zeros (no draw: the examples do not change with it). Any other op (an
    elementwise one, whose rule may assume operands alike, as they are drawn) keeps the
    shapes stretched together."""
    star = [i for i, dims in enumerate(sig.inputs) if dims == ANY_SHAPE]
    if (len(star) < 2 or len(star) < len(shapes)
            or math.prod(math.prod(shapes[i]) for i in star) <= LARGE_CAP):
        return shapes
    small, larger = (_output_size(op, [(n,)] * len(shapes), params) for n in (2, 3))
    if small is None or larger is None or larger < 2 * small:
        return shapes
    keep = star[choice % len(star)]
    narrowed = tuple(shape if i == keep else (1,) * len(shape)
                     for i, shape in enumerate(shapes))
    size = _output_size(op, narrowed, params)
    return narrowed if size is not None and size <= LARGE_CAP else shapes


def _output_size(op, shapes, params: dict) -> int | None:
    """How many elements the forward gives for zeros of `shapes`; None if it raises."""
    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = op.forward(*[np.zeros(shape) for shape in shapes], **params)
    except Exception:  # the forward wants its (*) operands alike: keep them alike
        return None
    outs = out if getattr(op, "multi", False) else (out,)
    return sum(int(np.size(o)) for o in outs)


def _stretched_side(byte: int) -> int:
    """A stretched side from one byte: LARGE_SIDES, or LONG_SIDES for the top 1/LONG_ODDS."""
    cut = 256 - 256 // LONG_ODDS
    if byte < cut:
        low, high = LARGE_SIDES
        return low + byte * (high - low + 1) // cut
    low, high = LONG_SIDES
    return low + (byte - cut) * (high - low + 1) // (256 - cut)


def _from_sample(op) -> st.SearchStrategy:
    try:
        strategy = op.sample()
    except Exception as error:
        raise Unverifiable(f"its sample hint raised {type(error).__name__}: {error}") from error
    if not isinstance(strategy, st.SearchStrategy):
        raise Unverifiable(
            f"its sample hint returned {strategy!r}; expected a hypothesis strategy of "
            "(arrays, params)"
        )
    dtype_strategy = st.sampled_from(hints.dtypes(op))
    frozen_strategy = _frozen_strategy(op)
    seed_strategy = st.integers(0, 2**32 - 1)  # built (and validated) once

    @st.composite
    def example(draw):
        global _drawing
        _drawing += 1
        try:
            return sampled_example(draw)
        finally:
            _drawing -= 1

    def sampled_example(draw):
        drawn = draw(strategy)
        dtype = draw(dtype_strategy)
        try:
            arrays, params = drawn
            arrays = _flatten(op, list(arrays))
            arrays = [_tape_form(a, _input_dtype(dtype), integral_ok=i in op.constants)
                      for i, a in enumerate(arrays)]
        except (TypeError, ValueError) as error:
            raise HintError(
                f"its sample hint drew {drawn!r}; expected (arrays, params), one array per "
                f"input ({op.nin})"
            ) from error
        fixed = op.nin - 1 if op.variadic is not None else op.nin
        fits = (len(arrays) >= fixed + 1) if op.variadic else len(arrays) == op.nin
        if not fits or not isinstance(params, dict):
            raise HintError(
                f"its sample hint drew {len(arrays)} array(s) and params {params!r}; expected "
                f"{op.nin} array(s){' (the last one variadic)' if op.variadic else ''} and a "
                "dict"
            )
        shapes = [np.shape(a) for a in arrays]
        sig = flat_signature(op.sig, len(arrays))
        expected = hints.result_shapes(sig, shapes) if _fits(op, shapes) else None
        shared = _sampled_shared(op, arrays)
        frozen, frozen_as = _frozen(op, draw(frozen_strategy), arrays)
        seed = draw(seed_strategy)
        arrays, shared, dtype = _complex_form(op, arrays, shared, dtype, seed)
        return Example(arrays, dict(params), seed, expected, shared, np.dtype(dtype), frozen,
                       frozen_as, "sample")

    return example()


def _flatten(op, arrays: list) -> list:
    """A sample hint may give a sequence input as one list of arrays: flatten it."""
    if op.variadic is not None and arrays and isinstance(arrays[-1], (list, tuple)):
        return arrays[:-1] + list(arrays[-1])
    return arrays


def _fits(op, shapes) -> bool:
    from ..signature import shape_mismatch

    return shape_mismatch(op.sig, shapes) is None
