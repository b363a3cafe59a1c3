"""Hypothesis strategies built from an op's declaration: shapes, values, params.

Imported only when verifying (it imports hypothesis). Everything drawn for one
example is drawn by one composite strategy, so that hypothesis shrinks shapes,
values, params and the random cotangent together to a minimal counterexample.

- shapes: `mutually_broadcastable_shapes(signature=...)`, so elementwise ops meet
  broadcasting and matmul meets batches and 1-D operands; `(*)` operands (any
  shape) share one shape drawn by `array_shapes`;
- values: float64, inside each input's declared open domain (within +-BOUND where
  it is open-ended), at least MARGIN from every declared kink and bound;
- params: from the `params` hint, a mapping of value lists or `params(shapes)`;
- `sample`, when declared, replaces all of the above.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from ..signature import ANY_SHAPE
from . import hints

MAX_DIMS = 3
"""Loop (batch) dimensions, or dimensions of a `(*)` operand, drawn at most."""
MAX_SIDE = 4


class Unverifiable(Exception):
    """The op's declaration gives no way to sample valid inputs; the message says why."""


@dataclass
class Example:
    """One drawn example: the inputs as the tape holds them, the params, and more.

    `shared` is the x of the accumulation check `op(x, x)` (None when it does not
    apply); `seed` seeds the random cotangent and directions; `expected_shape` is
    the output shape the signature promises (None when the params decide).
    """

    arrays: list
    params: dict
    seed: int
    expected_shape: tuple | None = None
    shared: np.ndarray | None = None
    notes: list = field(default_factory=list)


def example_strategy(op) -> st.SearchStrategy:
    """Everything one check needs, drawn from `op`'s declaration; Unverifiable if impossible."""
    if not hints.differentiable_inputs(op):
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


def _shapes(op) -> st.SearchStrategy:
    """(input shapes, promised output shape or None)."""
    sig = op.sig
    if not sig.any_shape:
        return hnp.mutually_broadcastable_shapes(
            signature=sig.text.replace(" ", ""), max_dims=MAX_DIMS, max_side=MAX_SIDE
        ).map(lambda b: (tuple(b.input_shapes), tuple(b.result_shape)))

    @st.composite
    def any_shapes(draw):
        star = draw(hnp.array_shapes(min_dims=0, max_dims=MAX_DIMS + 1, max_side=MAX_SIDE))
        sizes = {}
        shapes = []
        for dims in sig.inputs:
            if dims == ANY_SHAPE:
                shapes.append(star)
            else:
                shapes.append(tuple(
                    sizes.setdefault(d.rstrip("?"), draw(st.integers(1, MAX_SIDE))) for d in dims
                ))
        return tuple(shapes), None

    return any_shapes()


# -- values ------------------------------------------------------------------------------


def elements(bounds: tuple, points: tuple) -> st.SearchStrategy:
    """float64 values in the open interval `bounds`, at least MARGIN from its ends and `points`."""
    low, high = bounds
    lo = -hints.BOUND if low is None else low
    hi = hints.BOUND if high is None else high
    if low is None and high is not None:
        lo = min(lo, high - hints.BOUND)
    if high is None and low is not None:
        hi = max(hi, low + hints.BOUND)
    margin = min(hints.MARGIN, (hi - lo) / 8)
    lo = lo + margin if low is not None else lo
    hi = hi - margin if high is not None else hi

    def away(x: float) -> float:
        for point in points:
            if abs(x - point) < margin:
                x = point + math.copysign(margin, x - point) if x != point else point + margin
        return x

    def safe(x: float) -> bool:
        return lo <= x <= hi and all(abs(x - p) >= margin * 0.999 for p in points)

    values = st.floats(lo, hi, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    return values.map(away).filter(safe) if points else values


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


def _tape_form(array, integral_ok: bool = False):
    """How the tape holds an input: float64 arrays, numpy scalars for 0-d values."""
    array = np.asarray(array)
    if not (integral_ok and array.dtype.kind in "biu"):
        array = array.astype(np.float64)
    return array[()] if array.ndim == 0 else array


def _shared(draw, op, shapes) -> np.ndarray | None:
    if not hints.reuses_inputs(op):
        return None
    shape = hints.shared_shape(op, shapes)
    bounds = hints.shared_interval(op)
    if shape is None or bounds is None:
        return None
    points = hints.kinks(op, 0) + hints.kinks(op, 1)
    return _tape_form(draw(_array(shape, elements(bounds, points))))


def _sampled_shared(op, arrays) -> np.ndarray | None:
    """For `sample`d ops, op(x, x) reuses a drawn input: only the hint knows valid values."""
    if not hints.reuses_inputs(op):
        return None
    shape = hints.shared_shape(op, [np.shape(a) for a in arrays])
    for array in arrays:
        if np.shape(array) == shape:
            return _tape_form(np.copy(array))
    return None


def _from_declaration(op) -> st.SearchStrategy:
    values = [elements(hints.interval(op, i), hints.kinks(op, i)) for i in range(op.nin)]
    shapes_strategy = _shapes(op)

    @st.composite
    def example(draw):
        shapes, expected = draw(shapes_strategy)
        params = draw(_params(op, shapes))
        arrays = [_tape_form(draw(_array(s, v))) for s, v in zip(shapes, values, strict=True)]
        shared = _shared(draw, op, shapes)
        seed = draw(st.integers(0, 2**32 - 1))
        return Example(arrays, params, seed, expected, shared)

    return example()


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

    @st.composite
    def example(draw):
        drawn = draw(strategy)
        try:
            arrays, params = drawn
            arrays = [_tape_form(a, integral_ok=i in op.constants) for i, a in enumerate(arrays)]
        except (TypeError, ValueError) as error:
            raise HintError(
                f"its sample hint drew {drawn!r}; expected (arrays, params), one array per "
                f"input ({op.nin})"
            ) from error
        if len(arrays) != op.nin or not isinstance(params, dict):
            raise HintError(
                f"its sample hint drew {len(arrays)} array(s) and params {params!r}; expected "
                f"{op.nin} array(s) and a dict"
            )
        shapes = [np.shape(a) for a in arrays]
        expected = hints.result_shape(op.sig, shapes) if _fits(op, shapes) else None
        shared = _sampled_shared(op, arrays)
        seed = draw(st.integers(0, 2**32 - 1))
        return Example(arrays, dict(params), seed, expected, shared)

    return example()


def _fits(op, shapes) -> bool:
    from ..signature import shape_mismatch

    return shape_mismatch(op.sig, shapes) is None
