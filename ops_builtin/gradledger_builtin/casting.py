"""Casting: the same numbers in another dtype. The grad is cast back to the input's dtype.

Complex to real keeps the real part (numpy warns and does the same); its grad is the
out_grad as a complex number. Real to complex: the real input's grad is the real part
of the out_grad (docs/plugins.md, "Complex numbers")."""

import numpy as np
from gradledger.extend import Op


def astype_params(shapes):
    """Verifier hint: a float dtype to cast to."""
    from hypothesis import strategies as st

    return {"dtype": st.sampled_from([np.dtype("float64"), np.dtype("float32")])}


def astype(x, dtype):
    if x.dtype.kind == "c" and np.dtype(dtype).kind != "c":
        return np.real(x).astype(dtype)
    return x.astype(dtype)


def astype_vjp(out_grad, x, out, dtype):
    if out_grad.dtype.kind == "c" and x.dtype.kind != "c":
        return (np.real(out_grad).astype(x.dtype),)
    return (out_grad.astype(x.dtype),)


OPS = [
    Op("astype", astype, vjp=astype_vjp,
       signature="(*)->(*)", params=astype_params, dtypes=("float64", "float32", "complex128",
                                                           "complex64"),
       doc="the same numbers as dtype; an integer or boolean result carries no grad"),
]
