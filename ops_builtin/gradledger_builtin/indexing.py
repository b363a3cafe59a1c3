"""Indexing: `x[index]` with numpy's full semantics, as the op `getitem`, and its
transpose `scatter_add`.

The index is a non-differentiable param, read as numpy reads it (`x[t]` gives it in
that form: a tuple of ints, slices, None, Ellipsis and arrays). getitem's rule books the
output's grad back into the places it was read from — `scatter_add`, itself a registered
op: a plain assignment for basic indices (ints, slices, None, ...), where no element is
read twice, and `np.add.at` for advanced indices (integer arrays, boolean masks, and any
sequence — a list, or a tuple inside the index tuple — which numpy reads as an array),
where a repeated index accumulates, as the seed's `+=` says it must. The two are each
other's rule, so both differentiate to any order.

Index arrays are integers (positions) or booleans (a mask), as in numpy. A uint8 array,
which numpy reads as positions and older PyTorch as a mask, is refused: say which.
"""

import numpy as np
from gradledger.extend import Op, OpCallError, call

_ADVANCED = (np.ndarray, list, tuple, range, bool, np.bool_)


def _is_advanced(index) -> bool:
    """Whether numpy reads `index` as an advanced index (arrays, sequences, booleans)."""
    parts = index if type(index) is tuple else (index,)
    return any(isinstance(p, _ADVANCED) for p in parts)


def _check_index_arrays(index) -> None:
    parts = index if type(index) is tuple else (index,)
    for part in parts:
        if type(part) is not np.ndarray or part.dtype.kind in "bi":
            continue
        if part.dtype == np.uint8:
            raise OpCallError(
                "an index array of dtype uint8 means positions to numpy and a mask to "
                "PyTorch (before 2.0): write m.astype(bool) for a mask, m.astype(np.intp) "
                "for positions"
            )
        if part.dtype.kind != "u":
            raise OpCallError(
                f"index arrays are integers (positions) or booleans (a mask); got dtype "
                f"{part.dtype}. For a mask of numbers write m != 0 (or m > 0.5); for "
                "positions, m.astype(np.intp)"
            )


def getitem(x, index):
    """x[index], numpy's reading; index arrays must be positions or masks (see the module)."""
    _check_index_arrays(index)
    return x[index]


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
    Op("getitem", getitem,
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
