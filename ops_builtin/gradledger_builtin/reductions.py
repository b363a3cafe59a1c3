"""Reductions: over an axis (or several, negative ones too, or all), with keepdims.

Their vjp spreads the output's grad back over every element that was reduced.
Params come by position in numpy's order (`x.sum(1)`, `np.var(t, 0)`): the forward
rules are numpy's own functions where numpy has them, so a position numpy gives to
`dtype` or `out` is refused rather than taken for another param.

At a tie, max and min split the grad evenly among the tied elements (as JAX and
numpy-based autograd do; PyTorch's max over all elements does the same).
"""

import functools

import numpy as np
from gradledger.errors import OpCallError
from gradledger.extend import Op, call

ANY = "(*)->(*)"


def reduced_axes(ndim, axis):
    """The reduced axes as non-negative ints (all of them for None)."""
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(a % ndim for a in axes)


def _kept(value, x, axis, keepdims):
    """A reduction's result (or its grad) with the reduced axes back, as size 1.

    A reshape to the kept shape rather than np.expand_dims, which normalises and checks
    the axes again (the forward already did) at about three times the cost."""
    if keepdims:
        return value
    shape = np.shape(x)
    if axis is None:
        return np.reshape(value, (1,) * len(shape))
    axes = reduced_axes(len(shape), axis)
    return np.reshape(value, tuple(1 if a in axes else n for a, n in enumerate(shape)))


def _repeated(value, shape):
    """A 0-d array or numpy scalar repeated over `shape`: a read-only view, strides 0, as
    np.broadcast_to(value, shape) makes it, without that function's checks of arguments
    that cannot be wrong here (about 1 us against 4 us)."""
    single = np.asarray(value)
    return np.ndarray(shape, single.dtype, memoryview(single).toreadonly(), 0,
                      (0,) * len(shape))


def _spread(out_grad, x, axis, keepdims):
    """The output's grad, stretched back over the reduced axes (a read-only view).

    A reduction over all the axes (axis None, the loss's `sum`) has a single grad to
    repeat: on arrays, a view built directly (`_repeated`). On Tensors (a rule being
    differentiated) np.broadcast_to, which dispatches to the registered op."""
    if axis is None and not keepdims and type(out_grad) in _PLAIN:
        return _repeated(out_grad, x.shape)
    return np.broadcast_to(_kept(out_grad, x, axis, keepdims), np.shape(x))


_PLAIN = (np.ndarray, np.float64, np.float32, np.float16)
"""The types of a plain (not Tensor) grad of a floating reduction."""


def _count(x, axis):
    """How many elements each output reduces."""
    shape = np.shape(x)
    return int(np.prod([shape[a] for a in reduced_axes(len(shape), axis)], dtype=np.int64))


# -- sums and means ----------------------------------------------------------------------


def sum_(x, axis=None, keepdims=False):
    """np.sum: the very ufunc reduction np.sum runs (np.add.reduce), without np.sum's
    Python-level dispatch, which costs as much again as summing 1,000 numbers."""
    return np.add.reduce(x, axis=axis, keepdims=keepdims)


def mean(x, axis=None, keepdims=False):
    """np.mean. The mean of all of a float array is computed as np.mean computes it, the
    same pairwise sum divided by the count, without np.mean's Python-level steps (three
    times the cost of summing 1,000 numbers); the rest goes to np.mean."""
    if axis is None and not keepdims and x.__class__ is np.ndarray and x.size and (
            x.dtype == np.float64 or x.dtype == np.float32):
        return np.add.reduce(x, axis=None) / x.size
    return np.mean(x, axis=axis, keepdims=keepdims)


NUMPY_REDUCTION_ORDER = ("axis", "dtype", "out", "keepdims")
"""numpy's positional order for sum's and mean's params (dtype and out are refused)."""


def sum_vjp(out_grad, x, out, axis=None, keepdims=False):
    return (_spread(out_grad, x, axis, keepdims),)


def mean_vjp(out_grad, x, out, axis=None, keepdims=False):
    count = np.size(x) // max(np.size(out), 1)
    return (_spread(out_grad / count, x, axis, keepdims),)


def cumsum(x, axis=None):
    """Running sums along axis (None: of the flattened x), as np.cumsum; float32 (and
    float16) accumulate in float64, as PyTorch's CPU kernel does: a running sum has no
    pairwise trick, so its rounding error would otherwise grow with the axis' length."""
    dtype = np.result_type(x)
    wide = np.float64 if dtype.kind == "f" and dtype.itemsize < 8 else None
    return np.cumsum(x, axis=axis, dtype=wide).astype(dtype, copy=False)


def cumsum_vjp(out_grad, x, out, axis=None):
    """x[i] reaches every out[j] with j >= i: running sums of out_grad from the end."""
    if axis is None:
        return (np.reshape(np.flip(call("cumsum", np.flip(out_grad))), np.shape(x)),)
    return (np.flip(call("cumsum", np.flip(out_grad, axis), axis=axis), axis),)


# -- extremes ------------------------------------------------------------------------------


def _extreme(reduce):
    """max or min, saving where the winners are (a mask of x's shape, one byte an element):
    the rule needs neither x nor the output, so the tape keeps neither."""

    def forward(x, axis=None, keepdims=False):
        out = reduce(x, axis=axis, keepdims=keepdims)
        return out, (x == _kept(out, x, axis, keepdims),)

    forward.__name__ = forward.__qualname__ = reduce.__name__
    return forward


NUMPY_EXTREME_ORDER = ("axis", "out", "keepdims", "initial", "where")
"""np.max's and np.min's positional order for their params (out, initial, where refused)."""


def max_vjp(out_grad, x, out, saved, axis=None, keepdims=False):
    """The grad goes to the maximum; tied maxima share it evenly.

    The winners are the mask the forward saved; they are counted in x's dtype (counted
    as ints they would be int64, and a float32 grad divided by int64 counts is float64)."""
    (winners,) = saved
    counts = np.sum(winners, axis=axis, keepdims=True, dtype=x.dtype)
    return (np.multiply(winners, _kept(out_grad, x, axis, keepdims) / counts),)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over axis, shifted by the maximum so that nothing overflows."""
    peak = np.max(x, axis=axis, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    return out if keepdims else np.squeeze(out, axis=reduced_axes(np.ndim(x), axis))


def logsumexp_vjp(out_grad, x, out, axis=None, keepdims=False):
    """d logsumexp / d x is the softmax of x over the reduced axes."""
    return (_kept(out_grad, x, axis, keepdims) * np.exp(x - _kept(out, x, axis, keepdims)),)


# -- products ------------------------------------------------------------------------------


def _exclusive_cumprod(x):
    """Along the last axis: the product of the elements before each one (1 for the first)."""
    ones = np.ones_like(x[..., :1])
    return np.cumprod(np.concatenate([ones, x[..., :-1]], axis=-1), axis=-1)


def _products_of_the_others(flat):
    """Along the last axis, for each element, the product of all the others; no division,
    so zeros (one or several) get exact values.

    On arrays: the products before and after each element, by running products, O(K).
    On Tensors (a rule being differentiated, where no op stands for np.cumprod): the
    product of each row of a K x K table holding the elements with a 1 on the diagonal,
    O(K**2), differentiable through prod itself.
    """
    if isinstance(flat, np.ndarray):
        # in float64 (complex128) for narrower inputs, and so returned: a running product
        # may pass float32's range where each product of the others does not (1e-15, 1e20,
        # 1e20: 1e40 on the way), or a product of the others where the grad, times its
        # cotangent, does not; inf * 1e-20 would book inf or nan for a grad of 1e20
        wide = flat.astype(np.result_type(flat.dtype, np.float64), copy=False)
        before = _exclusive_cumprod(wide)
        after = np.flip(_exclusive_cumprod(np.flip(wide, -1)), -1)
        return before * after
    k = np.shape(flat)[-1]
    table = np.where(np.eye(k, dtype=bool), 1.0, flat[..., np.newaxis, :])
    return np.prod(table, axis=-1)


def prod_vjp(out_grad, x, out, axis=None, keepdims=False):
    """d prod / d x_i is the product of the others."""
    ndim = np.ndim(x)
    axes = reduced_axes(ndim, axis)
    kept = tuple(a for a in range(ndim) if a not in axes)
    moved = np.transpose(x, kept + axes)
    flat = np.reshape(moved, np.shape(moved)[:len(kept)] + (-1,))
    others = np.reshape(_products_of_the_others(flat), np.shape(moved))
    others = np.transpose(others, tuple(np.argsort(kept + axes)))
    grad = _kept(out_grad, x, axis, keepdims) * others
    if isinstance(grad, np.ndarray):  # rounded once to float32 (complex64) inputs' dtype
        grad = grad.astype(np.result_type(x), copy=False)
    return (grad,)


# -- spread ----------------------------------------------------------------------------------


def var_vjp(out_grad, x, out, axis=None, ddof=0, keepdims=False):
    """2 (x - mean) / (N - ddof)."""
    centred = x - np.mean(x, axis=axis, keepdims=True)
    return (_kept(out_grad, x, axis, keepdims) * centred * (2.0 / (_count(x, axis) - ddof)),)


def std_vjp(out_grad, x, out, axis=None, ddof=0, keepdims=False):
    """(x - mean) / ((N - ddof) std); undefined where every element is equal (std 0),
    except over a single element: its std is 0 whatever it is, so its derivative is 0."""
    centred = x - np.mean(x, axis=axis, keepdims=True)
    if _count(x, axis) == 1:  # centred is 0 exactly; 0 * out_grad keeps the graph's shape
        return (_kept(out_grad, x, axis, keepdims) * centred,)
    scale = _kept(out_grad / out, x, axis, keepdims) / (_count(x, axis) - ddof)
    return (scale * centred,)


# -- norms -----------------------------------------------------------------------------------

VECTOR_ORDERS = "None, any nonzero number, inf or -inf (0 counts nonzeros: no grad)"
MATRIX_ORDERS = (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf)


def _is_matrix_norm(x, axis) -> bool:
    """numpy's rule: a matrix norm over two axes, or of a 2-D x with axis None."""
    return (axis is None and np.ndim(x) == 2) or (isinstance(axis, tuple) and len(axis) == 2)


def _check_norm(x, ord, axis):
    if _is_matrix_norm(x, axis):
        if ord not in MATRIX_ORDERS:
            raise OpCallError(f"a matrix norm takes ord in {MATRIX_ORDERS}; got {ord!r}")
        return
    if isinstance(ord, str):
        raise OpCallError(f"ord={ord!r} is a matrix norm; over one axis ord must be "
                          f"{VECTOR_ORDERS}")
    if ord is not None and not isinstance(ord, (int, float, np.integer, np.floating)):
        raise OpCallError(f"ord must be {VECTOR_ORDERS}; got {ord!r}")
    several = (axis is None and np.ndim(x) != 1) or (isinstance(axis, tuple) and len(axis) != 1)
    if several and ord not in (None, 1, 2):
        raise OpCallError(f"ord={ord!r} over several axes of a {np.ndim(x)}-d array: give one "
                          "axis, or two for a matrix norm (numpy refuses it too); ord None or "
                          "2 is the 2-norm of all the elements, 1 the sum of their |x|")


def norm(x, ord=None, axis=None, keepdims=False):
    """np.linalg.norm with every ord numpy accepts: vector norms over one axis (ord None or
    2, 1, any p, inf, -inf, 0), matrix norms over two axes or of a 2-D x (None or 'fro',
    'nuc', 1, -1, 2, -2, inf, -inf). Over all the axes of an n-d x (axis None) or over a
    tuple of other than two axes, ord None is the 2-norm of those elements."""
    _check_norm(x, ord, axis)
    if _is_matrix_norm(x, axis):
        return np.linalg.norm(x, ord, axis, keepdims)
    if ord is None or ord == 2:
        return np.sqrt(np.sum(x * x, axis=axis, keepdims=keepdims))
    if ord == 1:
        return np.sum(np.abs(x), axis=axis, keepdims=keepdims)
    return np.linalg.norm(x, ord, axis, keepdims)


def _extreme_share(values, kept_out, axis):
    """1 at the elements equal to the reduction's result, split evenly among ties."""
    winners = (values == kept_out) * np.result_type(values).type(1)
    return winners / np.sum(winners, axis=axis, keepdims=True)


def _matrix_norm_vjp(out_grad, x, out, ord, axis, keepdims):
    ndim = np.ndim(x)
    rows, cols = (ndim - 2, ndim - 1) if axis is None else (axis[0] % ndim, axis[1] % ndim)
    m = np.moveaxis(x, (rows, cols), (-2, -1))
    g = _kept(out_grad, x, axis if axis is not None else (rows, cols), keepdims)
    g = np.moveaxis(g, (rows, cols), (-2, -1))
    value = np.moveaxis(_kept(out, x, axis if axis is not None else (rows, cols), keepdims),
                        (rows, cols), (-2, -1))
    if ord is None or ord == "fro":
        grad = g * m / value
    elif ord == "nuc" or ord in (2, -2):
        u, _, vh = np.linalg.svd(m, full_matrices=False)
        if ord == 2:
            u, vh = u[..., :, :1], vh[..., :1, :]
        elif ord == -2:
            u, vh = u[..., :, -1:], vh[..., -1:, :]
        grad = g * (u @ vh)
    else:  # 1, -1: a column's sum of |x|; inf, -inf: a row's
        over = -2 if ord in (1, -1) else -1
        sums = np.sum(np.abs(m), axis=over, keepdims=True)
        grad = g * np.sign(m) * _extreme_share(sums, value, -1 if over == -2 else -2)
    return (np.moveaxis(grad, (-2, -1), (rows, cols)),)


def norm_vjp(out_grad, x, out, ord=None, axis=None, keepdims=False):
    """x / |x|_2 for the 2-norm (undefined at 0), sign(x) for the 1-norm (0 at 0),
    sign(x) |x|^(p-1) / |x|_p^(p-1) for a p-norm, the extreme element(s) for inf and -inf
    (ties split evenly), 0 for ord 0; matrix norms: x / |x|_F, U Vh (nuc), the top or
    bottom singular pair (2, -2), the extreme column (1, -1) or row (inf, -inf)."""
    if _is_matrix_norm(x, axis):
        return _matrix_norm_vjp(out_grad, x, out, ord, axis, keepdims)
    if ord is None or ord == 2:
        return (_kept(out_grad / out, x, axis, keepdims) * x,)
    if ord == 1:
        return (_kept(out_grad, x, axis, keepdims) * np.sign(x),)
    if ord == 0:
        return (0.0 * x,)
    g = _kept(out_grad, x, axis, keepdims)
    value = _kept(out, x, axis, keepdims)
    magnitude = np.abs(x)
    if ord in (np.inf, -np.inf):
        return (g * np.sign(x) * _extreme_share(magnitude, value, axis),)
    return (g * np.sign(x) * (magnitude / value) ** (ord - 1),)


# -- verifier hints ------------------------------------------------------------------------


@functools.cache
def axis_params(ndim):
    """Verifier hint: any valid axis of an ndim-array: None, one (maybe negative), or a tuple."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import valid_tuple_axes

    axes = st.none()
    if ndim:  # tuples mix negative and non-negative axes
        axes = axes | st.integers(-ndim, ndim - 1) | valid_tuple_axes(ndim, min_size=1)
    return axes


def reduction_params(shapes):
    """Verifier hint: any valid axis (None, one, or a tuple) and either keepdims."""
    from hypothesis import strategies as st

    return {"axis": axis_params(len(shapes[0])), "keepdims": st.booleans()}


def single_axis_params(shapes):
    """Verifier hint: None or one axis, negative ones too (cumsum takes no tuple)."""
    from hypothesis import strategies as st

    ndim = len(shapes[0])
    return {"axis": st.none() | st.integers(-ndim, ndim - 1) if ndim else st.none()}


def single_axis_keepdims_params(shapes):
    """Verifier hint: None or one axis, and either keepdims (argmax takes no tuple)."""
    from hypothesis import strategies as st

    return {**single_axis_params(shapes), "keepdims": st.booleans()}


def norm_sample():
    """Verifier hint: vector norms of every kind over any axis, values at least 1/2 from 0
    with distinct magnitudes (a tie is inf's kink); matrix norms of every ord over two axes,
    with distinct singular values and row and column sums (magnitudes 2**k / 8, whose
    subsets have distinct sums)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    shapes = hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3)
    signs_of = st.sampled_from([-1.0, 1.0])
    matrix_orders = st.sampled_from(MATRIX_ORDERS)

    @st.composite
    def example(draw):
        shape = draw(shapes)
        size = int(np.prod(shape, dtype=np.int64))
        signs = np.array(draw(st.lists(signs_of, min_size=size,
                                       max_size=size))).reshape(shape)
        order = np.array(draw(st.permutations(range(size)))).reshape(shape)
        axis = draw(axis_params(len(shape)))
        keepdims = draw(st.booleans())
        if (axis is None and len(shape) == 2) or (isinstance(axis, tuple) and len(axis) == 2):
            ord = draw(matrix_orders)
            if ord in ("nuc", 2, -2):  # singular values distinct and away from 0
                rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
                x = rng.standard_normal(shape) * 0.05
                axes = (0, 1) if axis is None else axis
                moved = np.moveaxis(x, axes, (-2, -1))
                m, n = moved.shape[-2:]
                k = min(m, n)
                moved[..., np.arange(k), np.arange(k)] += 1.0 + np.arange(k)
                x = np.moveaxis(moved, (-2, -1), axes)
            else:
                x = signs * 2.0 ** order / 8
            return (x,), {"ord": ord, "axis": axis, "keepdims": keepdims}
        one_axis = isinstance(axis, int) or (axis is None and len(shape) == 1) or (
            isinstance(axis, tuple) and len(axis) == 1)
        ords = [None, 1, 2, 3, 0.5, -1, np.inf, -np.inf, 0] if one_axis else [None, 1, 2]
        x = signs * (0.5 + 0.25 * order)
        return (x,), {"ord": draw(st.sampled_from(ords)), "axis": axis, "keepdims": keepdims}

    return example()


def _distinct_values(draw, shape, spacing=0.1):
    """Values at least `spacing` apart, in an order hypothesis draws: no ties anywhere."""

    size = int(np.prod(shape, dtype=np.int64))
    order = draw(_permutations(size))
    return np.reshape((np.asarray(order, dtype=np.float64) - size / 2) * spacing, shape)


@functools.cache
def _permutations(size):
    from hypothesis import strategies as st

    return st.permutations(range(size))


def distinct_sample():
    """Verifier hint for max and min: no two elements tie (a tie is their kink, a relation
    between elements that per-input `kinks` cannot state); any axis, either keepdims."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)

    @st.composite
    def example(draw):
        shape = draw(shapes)
        x = _distinct_values(draw, shape)
        return (x,), {"axis": draw(axis_params(len(shape))), "keepdims": draw(st.booleans())}

    return example()


def spread_sample(distinct):
    """Verifier hint for var and std: any axis, ddof below the count reduced; for std the
    values differ (std is not differentiable where every element is equal, unless it is
    over a single element: 0 whatever the element, derivative 0)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    shapes = hnp.array_shapes(min_dims=0, max_dims=4, min_side=1, max_side=4)
    values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)
    array_of = functools.cache(lambda shape: hnp.arrays(np.float64, shape, elements=values))

    @st.composite
    def example(draw):
        shape = draw(shapes)
        axis = draw(axis_params(len(shape)))
        count = int(np.prod([shape[a] for a in reduced_axes(len(shape), axis)], dtype=np.int64))
        if distinct:
            x = _distinct_values(draw, shape) + draw(st.integers(-10, 10)) * 0.1
        else:
            x = draw(array_of(shape))
        ddof = draw(st.integers(0, min(count - 1, 2)))
        return (x,), {"axis": axis, "ddof": ddof, "keepdims": draw(st.booleans())}

    return example()


OPS = [
    Op("sum", sum_, vjp=sum_vjp, signature=ANY, params=reduction_params, reads=(),
       param_order=(*NUMPY_REDUCTION_ORDER, "initial", "where"),
       doc="sum over axis (None: all), keepdims"),
    Op("mean", mean, vjp=mean_vjp, signature=ANY, params=reduction_params, reads=(),
       param_order=(*NUMPY_REDUCTION_ORDER, "where"),
       doc="mean over axis (None: all), keepdims"),
    Op("cumsum", cumsum, vjp=cumsum_vjp, signature=ANY, params=single_axis_params, reads=(),
       param_order=("axis", "dtype", "out"), numpy_names=("cumulative_sum",),
       doc="running sums along axis (None: of the flattened x)"),
    Op("max", _extreme(np.max), vjp=max_vjp, signature=ANY, sample=distinct_sample,
       numpy_names=("amax",), saves=True, saved_constants=True, reads=(),
       param_order=NUMPY_EXTREME_ORDER,
       doc="maximum over axis (None: all), keepdims; tied maxima share the grad evenly"),
    Op("min", _extreme(np.min), vjp=max_vjp, signature=ANY, sample=distinct_sample,
       numpy_names=("amin",), saves=True, saved_constants=True, reads=(),
       param_order=NUMPY_EXTREME_ORDER,
       doc="minimum over axis (None: all), keepdims; tied minima share the grad evenly"),
    Op("logsumexp", logsumexp, vjp=logsumexp_vjp, signature=ANY, params=reduction_params,
       doc="log(sum(exp(x))) over axis (None: all), keepdims, without overflow"),
    Op("prod", np.prod, vjp=prod_vjp, signature=ANY, params=reduction_params, reads=("a",),
       domain=((-1.08, 1.08),),  # a stretched input's product stays finite: 1.08**8192 ~ 1e274
       doc="product over axis (None: all), keepdims; exact grads with zeros"),
    Op("var", np.var, vjp=var_vjp, signature=ANY, sample=lambda: spread_sample(False),
       doc="variance over axis (None: all), ddof, keepdims"),
    Op("std", np.std, vjp=std_vjp, signature=ANY, sample=lambda: spread_sample(True),
       doc="standard deviation over axis (None: all), ddof, keepdims; no grad where std = 0"),
    Op("norm", norm, vjp=norm_vjp, signature=ANY, sample=norm_sample, kinks=((0.0,),),
       doc="np.linalg.norm, every ord: vector norms over one axis, matrix norms over two "
           "(None: all the elements' 2-norm), keepdims"),
    Op("argmax", np.argmax, differentiable=False, signature=ANY,
       params=single_axis_keepdims_params,
       doc="index of the first maximum along axis (None: flattened)"),
    Op("argmin", np.argmin, differentiable=False, signature=ANY,
       params=single_axis_keepdims_params,
       doc="index of the first minimum along axis (None: flattened)"),
]
