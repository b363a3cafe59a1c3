"""What an op's declaration says about where it may be sampled and nudged.

Plain numpy: nothing here imports hypothesis. `sampling` turns these facts into
strategies; `checks` uses them to size each element's nudge.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass

import numpy as np

from ..signature import ANY_SHAPE, Signature, shape_mismatch

MARGIN = 1e-3
"""Samples keep at least this distance from every declared kink and domain bound."""

BOUND = 100.0
"""Where a domain is open-ended, hypothesis's edge-seeking draws stay within +-BOUND."""

LARGE = 1e6
"""Where a domain is open-ended, the log-uniform draws reach magnitudes up to LARGE."""

DTYPES = ("float64", "float32")
"""The float dtypes an op supports when it does not declare `dtypes`."""


@dataclass(frozen=True)
class Plan:
    """What one op's declaration says, derived once (`plan(op)`): per declared input its
    interval and kinks, the dtypes to draw, which inputs take a gradient, whether op(x, x)
    and the second-order check apply. Flat inputs (a variadic input's elements) map to
    their declared input."""

    nin: int
    variadic: str | None
    intervals: tuple
    kink_points: tuple
    dtypes: tuple
    constants: frozenset
    differentiable: bool
    second_order: bool
    reuses: bool
    shared: tuple | None
    skip: dict
    """Call variants the op declares cannot apply to it: {variant: why}."""
    defaults: dict
    """The forward's params with a plain default (None, a bool, a number, a string, a
    tuple of them): {name: default}; the `defaults` variant leaves each out."""
    star: tuple
    """The declared inputs of shape `(*)` that take a gradient."""

    def declared(self, i: int) -> int:
        return min(i, self.nin - 1) if self.variadic is not None else i

    def interval(self, i: int) -> tuple:
        return self.intervals[self.declared(i)]

    def kinks(self, i: int) -> tuple:
        return self.kink_points[self.declared(i)]

    def wrt(self, count: int | None = None) -> tuple:
        """The (flat, `count` of them) inputs that take a gradient."""
        if not self.differentiable:
            return ()
        count = self.nin if count is None else count
        return tuple(i for i in range(count) if i not in self.constants)


_PLANS: dict = {}


def plan(op) -> Plan:
    """The op's `Plan`, derived from its declaration once (an op is immutable)."""
    found = _PLANS.get(id(op))
    if found is not None and found[0] is op:
        return found[1]
    made = Plan(op.nin, op.variadic,
                tuple(interval(op, i) for i in range(op.nin)),
                tuple(kinks(op, i) for i in range(op.nin)),
                dtypes(op), frozenset(op.constants),
                getattr(op, "differentiable", True) is not False,
                op.order is None or op.order >= 2,
                reuses_inputs(op), shared_interval(op) if reuses_inputs(op) else None,
                dict(op.skip_variants or {}), plain_defaults(op),
                tuple(i for i, dims in enumerate(op.sig.inputs)
                      if dims == ANY_SHAPE and i not in op.constants))
    if len(_PLANS) > 4096:
        _PLANS.clear()
    _PLANS[id(op)] = (op, made)
    return made


def declared(op, i: int) -> int:
    """The declared input that flat input i belongs to (the elements of a variadic last
    input all belong to it)."""
    return min(i, op.nin - 1) if op.variadic is not None else i


def interval(op, i: int) -> tuple:
    """The declared open interval `(low, high)` of (flat) input i; None marks an open end."""
    i = declared(op, i)
    if op.domain is None or op.domain[i] is None:
        return (None, None)
    return op.domain[i]


def kinks(op, i: int) -> tuple:
    """The declared kinks of (flat) input i (points where its derivative does not exist)."""
    i = declared(op, i)
    if op.kinks is None or op.kinks[i] is None:
        return ()
    return tuple(float(k) for k in op.kinks[i])


def nudge_scale(x, bounds: tuple = (None, None), points: tuple = ()) -> np.ndarray:
    """Per element, how far it may be nudged (the step is `h * scale`, h at most 1e-3).

    `min(1, |x_k| or a tenth of the input's RMS if larger, distance to the nearest
    kink or bound)`: relative to each value's own scale, so that a matrix of scale
    0.01 is nudged by 1e-3 of itself, not by 10%; never across a kink or out of the
    domain; and an element close to a singularity (log near 0) is nudged in
    proportion, so the finite difference keeps its relative accuracy there.
    An input of zeros only is nudged by 1e-3 (times h).
    """
    x = np.asarray(x, dtype=np.float64)
    flat = x.reshape(-1)
    rms = float(np.sqrt(np.dot(flat, flat) / flat.size)) if flat.size else 0.0
    scale = np.abs(x, out=np.empty(x.shape))  # an array even for 0-d x
    if rms == 0:
        scale[...] = MARGIN
    else:
        np.maximum(scale, 0.1 * rms, out=scale)
    np.minimum(scale, 1.0, out=scale)
    for edge in (*points, *(b for b in bounds if b is not None)):
        np.minimum(scale, np.abs(x - edge), out=scale)
    return scale


def shared_interval(op) -> tuple | None:
    """The intersection of the domains of a binary op's two inputs; None when empty."""
    lows = [b for b in (interval(op, 0)[0], interval(op, 1)[0]) if b is not None]
    highs = [b for b in (interval(op, 0)[1], interval(op, 1)[1]) if b is not None]
    low, high = (max(lows) if lows else None), (min(highs) if highs else None)
    if low is not None and high is not None and high - low <= 4 * MARGIN:
        return None
    return (low, high)


def dtypes(op) -> tuple:
    """The dtypes the op declares it supports (default float64 and float32), each drawn
    for examples: a numpy dtype (float: the real checks; complex: the complex checks,
    `verify.complexcheck`), or the text of a "float64->complex128" entry (real inputs, a
    complex output: the complex checks)."""
    declared = getattr(op, "dtypes", None) or DTYPES
    return tuple(d.replace(" ", "") if isinstance(d, str) and "->" in d else np.dtype(d)
                 for d in declared)


def differentiable_inputs(op, count: int | None = None) -> tuple:
    """Indices of the (flat, `count` of them) inputs that take a gradient: every input but
    the declared constants; none for an op declared `differentiable=False`."""
    if getattr(op, "differentiable", True) is False:
        return ()
    count = op.nin if count is None else count
    return tuple(i for i in range(count) if i not in op.constants)


def reuses_inputs(op) -> bool:
    """Whether the accumulation check's op(x, x) applies, from the signature: exactly two
    inputs as written (no variadic one), both taking a gradient. (With params, the check
    also needs both drawn inputs to have x's shape: the params were drawn for them.)"""
    return (op.nin == 2 and op.variadic is None and not op.constants
            and getattr(op, "differentiable", True) is not False)


def reuse_note(op) -> str | None:
    """Why op(x, x) is never checked for this op, for the report (None when it may be)."""
    if getattr(op, "differentiable", True) is False:
        return None
    if op.nin != 2 or op.variadic is not None:
        return None
    if op.constants:
        return "op(x, x) not checked: one of its two inputs is a constant"
    return None


def shared_shape(op, shapes) -> tuple | None:
    """A shape x for which `op(x, x)` fits the signature, or None.

    Tried in order: input 1's shape, input 2's shape, then input 1's shape with every
    core dimension set to the first one's size (a square matrix, for matmul).
    """
    sig = op.sig
    candidates = [tuple(shapes[0]), tuple(shapes[1])]
    dims = sig.inputs[0]
    if dims != ANY_SHAPE and dims and len(shapes[0]) >= len(dims):
        loop = tuple(shapes[0][: len(shapes[0]) - len(dims)])
        candidates.append(loop + (shapes[0][len(loop)],) * len(dims))
    for shape in candidates:
        if shape_mismatch(sig, [shape, shape]) is None:
            return shape
    return None


def result_shape(sig: Signature, shapes) -> tuple | None:
    """The (first) output shape the signature promises for these (flat) input shapes
    (None for `(*)`)."""
    found = result_shapes(sig, shapes)
    return None if found is None else found[0]


def result_shapes(sig: Signature, shapes) -> tuple | None:
    """Every output shape the signature promises for these (flat) input shapes; None when
    an operand is `(*)`, an output is a list, or an output dimension names no input's."""
    if ANY_SHAPE in sig.outputs or ANY_SHAPE in sig.inputs or sig.nout is None:
        return None
    if sig.new_output_dims():
        return None
    inputs = sig.flat_inputs(len(shapes))
    sizes, loops = {}, []
    for dims, shape in zip(inputs, shapes, strict=True):
        shape = tuple(shape)
        if len(shape) < len(dims):
            dims = tuple(d for d in dims if not d.endswith("?"))
        core = len(dims)
        loops.append(shape[: len(shape) - core])
        for name, size in zip(dims, shape[len(shape) - core:], strict=True):
            sizes[name.rstrip("?")] = size
    loop = tuple(np.broadcast_shapes(*loops))
    return tuple(loop + tuple(sizes[d.rstrip("?")] for d in dims if d.rstrip("?") in sizes)
                 for dims in sig.outputs)


def index_strategy(shape: tuple, *, masks: bool = True, mixed: bool = True):
    """Verifier hint for indexing ops (getitem): every kind of numpy index into `shape`.

    Basic indices (ints, slices, None, Ellipsis: hypothesis's `basic_indices`), integer
    arrays (`integer_array_indices`, repeated positions included, since they are drawn
    independently and shrink towards 0), boolean masks of the whole shape, and a slice
    mixed with an integer array. Imports hypothesis when called:
    `params=lambda shapes: {"index": index_strategy(shapes[0])}`.
    """
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays, basic_indices, integer_array_indices

    shape = tuple(shape)
    index = basic_indices(shape, allow_newaxis=True, allow_ellipsis=True)
    if shape and all(shape):
        repeated = st.sampled_from([(1,), (3,), (2, 2)])
        index = index | integer_array_indices(shape, result_shape=repeated)
        if masks:
            index = index | arrays(np.bool_, shape)
        if mixed and len(shape) >= 2:
            index = index | st.tuples(
                st.slices(shape[0]),
                arrays(np.intp, st.integers(1, 3), elements=st.integers(-shape[1], shape[1] - 1)),
            )
    return index


def _plain(value) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    return isinstance(value, tuple) and all(_plain(v) for v in value)


def _params_after_inputs(op) -> list:
    """The forward's parameters beyond its array inputs (neither *args nor **kwargs)."""
    try:
        parameters = list(inspect.signature(op.forward).parameters.values())
    except (TypeError, ValueError):
        return []
    positional = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    fixed = op.nin - 1 if op.variadic is not None else op.nin
    found, taken = [], 0
    for p in parameters:
        if p.kind in positional and taken < fixed:
            taken += 1
        elif p.kind not in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            found.append(p)
    return found


def plain_defaults(op) -> dict:
    """The forward's keyword params (beyond its inputs) that have a plain default."""
    return {p.name: p.default for p in _params_after_inputs(op)
            if p.default is not inspect.Parameter.empty and _plain(p.default)}


def required_params(op) -> tuple:
    """Keyword params the forward rule needs (no default) beyond its array inputs."""
    return tuple(p.name for p in _params_after_inputs(op)
                 if p.default is inspect.Parameter.empty)
