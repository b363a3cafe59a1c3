"""Indexing: `x[index]` with numpy's full semantics, as the op `getitem`.

The index is a non-differentiable param. The rule books the output's grad back into
the places it was read from: a plain assignment for basic indices (ints, slices,
None, ...), where no element is read twice, and a scatter-add for advanced indices
(integer arrays, boolean masks), where a repeated index accumulates, as the seed's
`+=` says it must.
"""

import numpy as np
from gradledger.extend import Op


def _is_advanced(index) -> bool:
    parts = index if isinstance(index, tuple) else (index,)
    return any(isinstance(p, (np.ndarray, list)) for p in parts)


def getitem_vjp(out_grad, x, out, index):
    grad = np.zeros_like(np.asarray(x))
    if _is_advanced(index):
        np.add.at(grad, index, out_grad)
    else:
        grad[index] = out_grad
    return (grad[()] if grad.ndim == 0 else grad,)


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


OPS = [
    Op("getitem", lambda x, index: x[index], vjp=getitem_vjp, signature="(*)->(*)",
       params=index_params,
       doc="x[index], numpy's indexing: ints, slices, None, ..., integer arrays, boolean "
           "masks; repeated indices accumulate their grads"),
]
