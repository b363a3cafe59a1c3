"""Joining and splitting: concatenate and stack take a sequence of tensors, split gives a list.

Their rules are numpy's own inverse moves: the grad of a concatenation is split back
into pieces of each input's size; the grad of a split is the concatenation of the
pieces' grads (zeros for a piece nobody used).
"""

import functools

import numpy as np
from gradledger.extend import Op

JOIN = "[(*)]->(*)"


def concatenate_forward(*arrays, axis=0):
    return np.concatenate(arrays, axis=axis)


def concatenate_vjp(out_grad, *arrays, out, axis=0):
    if axis is None:  # numpy flattens every input first
        ends = np.cumsum([np.size(a) for a in arrays])[:-1]
        return tuple(np.reshape(g, np.shape(a))
                     for g, a in zip(np.split(out_grad, ends), arrays, strict=True))
    ends = np.cumsum([np.shape(a)[axis] for a in arrays])[:-1]
    return tuple(np.split(out_grad, ends, axis=axis))


def stack_forward(*arrays, axis=0):
    return np.stack(arrays, axis=axis)


def stack_vjp(out_grad, *arrays, out, axis=0):
    return tuple(np.moveaxis(out_grad, axis, 0))


def split_vjp(out_grad, x, out, indices_or_sections, axis=0):
    return (np.concatenate(out_grad, axis=axis),)


def split_out_shape(shape, indices_or_sections, axis=0):
    """numpy's rule: n equal sections, or the pieces x[a:b] between the given indices."""
    axis = axis % len(shape)
    size = shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        lengths = [size // indices_or_sections] * indices_or_sections
    else:
        edges = [0, *indices_or_sections, size]
        lengths = [len(range(size)[a:b]) for a, b in zip(edges, edges[1:], strict=False)]
    return tuple(shape[:axis] + (n,) + shape[axis + 1:] for n in lengths)


def _joined_sample(new_axis: bool):
    """Verifier hint for concatenate (new_axis False) and stack: 1 to 4 arrays that agree
    in every dimension but the joining axis (concatenate) or in all of them (stack), and
    an axis valid for them, negative ones included."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import array_shapes, arrays

    values = st.floats(-10, 10, allow_nan=False, allow_infinity=False, allow_subnormal=False)

    base_shapes = array_shapes(min_dims=0 if new_axis else 1, max_dims=3, max_side=4)
    counts, sides = st.integers(1, 4), st.integers(0, 4)
    array_of = functools.cache(lambda shape: arrays(np.float64, shape, elements=values))

    @st.composite
    def draw(draw_):
        shape = draw_(base_shapes)
        ndim = len(shape) + new_axis
        axis = draw_(st.integers(-ndim, ndim - 1))
        count = draw_(counts)
        shapes = []
        for _ in range(count):
            own = list(shape)
            if not new_axis:
                own[axis] = draw_(sides)
            shapes.append(tuple(own))
        parts = tuple(draw_(array_of(s)) for s in shapes)
        return parts, {"axis": axis}

    return draw()


def split_sample():
    """Verifier hint: an array of at least one dimension, an axis, and a number of equal
    sections that divides it or sorted split indices (empty pieces included)."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import array_shapes, arrays

    values = st.floats(-10, 10, allow_nan=False, allow_infinity=False, allow_subnormal=False)

    shapes = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)
    array_of = functools.cache(lambda shape: arrays(np.float64, shape, elements=values))

    @functools.cache
    def splits(size):
        sections = [n for n in range(1, size + 1) if size % n == 0]
        indices = st.lists(st.integers(0, size), max_size=3).map(sorted).map(tuple)
        return st.sampled_from(sections) | indices

    @st.composite
    def draw(draw_):
        shape = draw_(shapes)
        axis = draw_(st.integers(-len(shape), len(shape) - 1))
        how = draw_(splits(shape[axis]))
        x = draw_(array_of(shape))
        return (x,), {"indices_or_sections": how, "axis": axis}

    return draw()


OPS = [
    Op("concatenate", concatenate_forward, vjp=concatenate_vjp, signature=JOIN,
       sample=lambda: _joined_sample(new_axis=False),
       doc="join a sequence of tensors along an existing axis: gl.concatenate([a, b], axis=0)"),
    Op("stack", stack_forward, vjp=stack_vjp, signature=JOIN,
       sample=lambda: _joined_sample(new_axis=True),
       doc="join a sequence of same-shaped tensors along a new axis: gl.stack([a, b], axis=0)"),
    Op("split", lambda x, indices_or_sections, axis=0: np.split(x, indices_or_sections, axis),
       vjp=split_vjp, signature="(*)->[(*)]", out_shape=split_out_shape, sample=split_sample,
       doc="split into a list of tensors: n equal sections, or at the given indices"),
]
