"""Random programs over the Tensor's surface — every index form numpy accepts (nested tuples
and repeats included), masks, numpy functions on tensors — checked against numpy itself:
values against `x[index]`, grads against `np.add.at` and against the nudge method."""

import gradledger as gl
import numpy as np
import pytest
from gradledger.verify import gradcheck
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes, arrays, basic_indices

FUZZ = settings(suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def positions(draw, side: int, length: int):
    """One axis's integer positions (repeats likely) in one of numpy's spellings."""
    picks = draw(st.lists(st.integers(-side, side - 1), min_size=length, max_size=length))
    form = draw(st.sampled_from(["list", "tuple", "array", "2-d list"]))
    if form == "tuple":
        return tuple(picks)
    if form == "array":
        return np.array(picks, dtype=draw(st.sampled_from([np.intp, np.int32, np.int8])))
    if form == "2-d list":  # broadcasts against the others' (length,)
        return [picks, picks[::-1]]
    return picks


@st.composite
def numpy_indices(draw, shape: tuple):
    """Any index numpy accepts for an array of `shape`: basic ones, integer positions in
    every spelling (lists, tuples inside the tuple, arrays, several axes, repeats), with
    slices, None and Ellipsis between them; boolean masks; a bare list; Python bools."""
    form = draw(st.sampled_from(["basic", "positions", "positions", "mask", "list", "bool"]))
    if form == "basic":
        return draw(basic_indices(shape, allow_newaxis=True, allow_ellipsis=True))
    if form == "bool":
        return draw(st.booleans())
    if form == "list":  # a bare list: positions on axis 0 (a list of lists: a 2-D array)
        picks = draw(positions(shape[0], draw(st.integers(1, 4))))
        return list(picks) if not isinstance(picks, np.ndarray) else picks.tolist()
    if form == "mask":
        axes = draw(st.integers(1, len(shape)))
        mask = draw(arrays(np.bool_, shape[:axes]))
        rest = [draw(st.slices(side)) for side in shape[axes:]]
        return (mask, *rest) if rest and draw(st.booleans()) else mask
    length = draw(st.integers(1, 4))
    keep = draw(st.integers(1, len(shape)))  # entries for the first (or, after an Ellipsis,
    ellipsis = draw(st.sampled_from(["none", "after", "before"]))  # the last) `keep` axes
    axes = range(len(shape) - keep, len(shape)) if ellipsis == "before" else range(keep)
    chosen = draw(st.lists(st.booleans(), min_size=keep, max_size=keep))
    chosen[draw(st.integers(0, keep - 1))] = True  # at least one axis takes positions
    entries = [draw(positions(shape[axis], length)) if advanced
               else draw(st.one_of(st.slices(shape[axis]), st.integers(-shape[axis],
                                                                       shape[axis] - 1)))
               for axis, advanced in zip(axes, chosen, strict=True)]
    if ellipsis != "none":
        entries.insert(0 if ellipsis == "before" else len(entries), Ellipsis)
    if draw(st.booleans()):
        entries.insert(draw(st.integers(0, len(entries))), None)
    return tuple(entries)


@st.composite
def indexed_arrays(draw):
    shape = draw(array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
    index = draw(numpy_indices(shape))
    values = st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False)
    x = draw(arrays(np.float64, shape, elements=values))
    picked_shape = np.zeros(shape)[index].shape
    w = draw(arrays(np.float64, picked_shape, elements=values))
    return x, index, w


@settings(FUZZ, max_examples=200)
@given(indexed_arrays())
def test_any_numpy_index_reads_numpys_values_and_books_np_add_at_grads(case):
    x, index, w = case
    t = gl.tensor(x, requires_grad=True)
    picked = t[index]
    np.testing.assert_array_equal(picked.data, x[index])
    gl.sum(picked * w).backward()
    expected = np.zeros_like(x)
    np.add.at(expected, index, w)  # numpy's own reading: each repeat adds
    np.testing.assert_allclose(t.grad, expected, rtol=1e-12, atol=0)


NUMPY_FUNCTIONS = {
    "sin": lambda y: np.sin(y),
    "tanh * 2": lambda y: np.multiply(np.tanh(y), 2.0),
    "exp of -square": lambda y: np.exp(-np.square(y)),
    "sum over the last axis": lambda y: np.sum(y, axis=-1, keepdims=True) * y,
    "concatenate with itself": lambda y: np.concatenate([y, 2.0 * y], axis=-1),
}

DETACHING = {
    "np.mean of a list": lambda y: np.mean([y, y]),
    "np.linalg.norm of a list": lambda y: np.linalg.norm([y, y]),
    "np.r_": lambda y: np.r_[y, y],
    "np.append": lambda y: np.append([y], [y]),
    "np.asarray": lambda y: np.asarray(y),
}


@st.composite
def surface_programs(draw):
    x, index, _ = draw(indexed_arrays())
    function = draw(st.sampled_from(sorted(NUMPY_FUNCTIONS)))
    shaped = NUMPY_FUNCTIONS[function](np.atleast_1d(np.zeros(x.shape)[index])).shape
    mask_dtype = draw(st.sampled_from([np.bool_, np.bool_, np.bool_, np.int64, np.float64]))
    mask = draw(arrays(np.int64, shaped, elements=st.integers(0, 2))).astype(mask_dtype)
    detaching = draw(st.sampled_from(sorted(DETACHING)))
    return x, index, function, mask, detaching


@settings(FUZZ, max_examples=60)
@given(surface_programs())
def test_programs_of_indexes_masks_and_numpy_functions_match_the_nudge_method(case):
    x, index, function, mask, detaching = case

    def program(t):
        y = t[index]
        z = NUMPY_FUNCTIONS[function](y if y.ndim else y.reshape(1))
        return np.sum(np.where(mask, z, 0.5 * z * z))

    if mask.dtype != np.bool_:  # a mask of numbers is refused, never read as weights
        with pytest.raises(gl.OpCallError, match="booleans"):
            program(gl.tensor(x, requires_grad=True))
        mask = mask != 0
    assert gradcheck(program, x)
    t = gl.tensor(x, requires_grad=True)
    with pytest.raises(gl.RequiresGradError, match=r"t\.detach\(\)"):
        DETACHING[detaching](t[index])  # numpy code with no op: refused, never detached
