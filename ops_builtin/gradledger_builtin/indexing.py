"""Indexing: `x[index]` with numpy's full semantics, as the op `getitem`, and its
transpose `scatter_add`.

The index is a non-differentiable param. getitem's rule books the output's grad back
into the places it was read from — `scatter_add`, itself a registered op: a plain
assignment for basic indices (ints, slices, None, ...), where no element is read
twice, and `np.add.at` for advanced indices (integer arrays, boolean masks), where a
repeated index accumulates, as the seed's `+=` says it must. The two are each other's
rule, so both differentiate to any order.
"""

import numpy as np
from gradledger.extend import Op, call


def _is_advanced(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (np.ndarray, list)) for p in parts)


def scatter_add(values, index, shape):
    """zeros(shape) with `values` added at `index` (repeated indices accumulate)."""
    out = np.zeros(shape, dtype=np.result_type(values))
    if _is_advanced(index):
        np.add.at(out, index, values)
    else:
        out[index] = values
    return out[()] if out.ndim == 0 else out


def index_params(shapes):
    """Verifier hint: basic indices (ints, slices, None, ...), integer-array indices
    (repeats included), boolean masks, and a slice mixed with an integer array."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays, basic_indices, integer_array_indices

    shape = shapes[0]
    index = basic_indices(shape, allow_newaxis=True, allow_ellipsis=True)
    if shape and all(shape):
        index = (index
                 | integer_array_indices(shape, result_shape=st.sampled_from([(1,), (3,), (2, 2)]))
                 | arrays(np.bool_, shape))
        if len(shape) >= 2:
            index = index | st.tuples(
                st.slices(shape[0]),
                arrays(np.intp, st.integers(1, 3), elements=st.integers(-shape[1], shape[1] - 1)),
            )
    return {"index": index}


def scatter_sample():
    """Verifier hint: a target shape, an index into it, and values of the indexed shape."""
    import functools

    from hypothesis import strategies as st
    from hypothesis.extra.numpy import array_shapes, arrays

    values = st.floats(-10, 10, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    shapes = array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4)
    index_of = functools.cache(lambda shape: index_params([shape])["index"])
    array_of = functools.cache(lambda shape: arrays(np.float64, shape, elements=values))

    @st.composite
    def draw(draw_):
        shape = draw_(shapes)
        index = draw_(index_of(shape))
        picked = np.zeros(shape)[index]
        x = draw_(array_of(np.shape(picked)))
        return (x,), {"index": index, "shape": shape}

    return draw()


OPS = [
    Op("getitem", lambda x, index: x[index],
       vjp=lambda out_grad, x, out, index: (
           call("scatter_add", out_grad, index=index, shape=np.shape(x)),),
       signature="(*)->(*)", params=index_params,
       doc="x[index], numpy's indexing: ints, slices, None, ..., integer arrays, boolean "
           "masks; repeated indices accumulate their grads"),
    Op("scatter_add", scatter_add,
       vjp=lambda out_grad, values, out, index, shape: (call("getitem", out_grad, index=index),),
       signature="(*)->(*)", sample=scatter_sample,
       doc="zeros(shape) with values added at index (repeats accumulate): getitem's transpose"),
]
