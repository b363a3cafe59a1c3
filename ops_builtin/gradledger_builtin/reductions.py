"""Reductions: sum and mean over an axis (or several, or all), with keepdims.

Their vjp spreads the output's grad back over every element that was reduced.
"""

import numpy as np
from gradledger.extend import Op

ANY = "(*)->(*)"


def _reduced_axes(ndim, axis):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(a % ndim for a in axes)


def _spread(out_grad, x, axis, keepdims):
    """The output's grad, stretched back over the reduced axes (a read-only view)."""
    if not keepdims:
        out_grad = np.expand_dims(out_grad, _reduced_axes(np.ndim(x), axis))
    return np.broadcast_to(out_grad, np.shape(x))


def sum_vjp(out_grad, x, out, axis=None, keepdims=False):
    return (_spread(out_grad, x, axis, keepdims),)


def mean_vjp(out_grad, x, out, axis=None, keepdims=False):
    count = np.size(x) // max(np.size(out), 1)
    return (_spread(out_grad / count, x, axis, keepdims),)


def axis_params(ndim):
    """Verifier hint: any valid axis of an ndim-array: None, one (maybe negative), or a tuple."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import valid_tuple_axes

    axes = st.none()
    if ndim:
        axes = axes | st.integers(-ndim, ndim - 1) | valid_tuple_axes(ndim, min_size=1)
    return axes


def reduction_params(shapes):
    """Verifier hint: any valid axis (None, one, or a tuple) and either keepdims."""
    from hypothesis import strategies as st

    return {"axis": axis_params(len(shapes[0])), "keepdims": st.booleans()}


OPS = [
    Op("sum", np.sum, vjp=sum_vjp, signature=ANY, params=reduction_params,
       doc="sum over axis (None: all), keepdims"),
    Op("mean", np.mean, vjp=mean_vjp, signature=ANY, params=reduction_params,
       doc="mean over axis (None: all), keepdims"),
]
