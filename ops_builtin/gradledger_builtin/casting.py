"""Casting: the same numbers in another dtype. The grad is cast back to the input's dtype."""

import numpy as np
from gradledger.extend import Op


def astype_params(shapes):
    """Verifier hint: a float dtype to cast to."""
    from hypothesis import strategies as st

    return {"dtype": st.sampled_from([np.dtype("float64"), np.dtype("float32")])}


OPS = [
    Op("astype", lambda x, dtype: x.astype(dtype),
       vjp=lambda out_grad, x, out, dtype: (out_grad.astype(x.dtype),),
       signature="(*)->(*)", params=astype_params,
       doc="the same numbers as dtype; an integer or boolean result carries no grad"),
]
