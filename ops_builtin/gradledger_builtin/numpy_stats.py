"""numpy's statistics and grid functions on Tensors: NaN-skipping spreads and products,
covariance and correlation, np.gradient, np.interp, np.correlate, np.select, np.meshgrid,
np.broadcast_arrays, np.copy, np.compress and np.extract (issue 21).

Each takes numpy's name and argument order, so `np.cov(t)` and `np.gradient(t)` on Tensors
reach it. The rules use only operators and numpy functions that registered ops stand for
(masks and index tables are constants), so they run on Tensors: second order works.
"""

import numpy as np
from gradledger.errors import OpCallError
from gradledger.extend import Op, unbroadcast

ANY = "(*)->(*)"


def _data(x):
    """The numbers of x (a Tensor's data; an array, list or number as is), for masks and
    tables that take no grad."""
    return x.data if hasattr(x, "requires_grad") else x


def _kept(value, x, axis, keepdims):
    from .reductions import _kept as kept

    return kept(value, x, axis, keepdims)


def _dtype(x):
    return np.result_type(_data(x))


# -- NaN-skipping spreads and products ---------------------------------------------------------


def _nan_centred(x, axis):
    """The numbers of x minus their mean (0 where x is NaN), and their count (kept axes)."""
    numbers = ~np.isnan(_data(x))
    count = np.sum(numbers, axis=axis, keepdims=True).astype(_dtype(x))
    mean = np.sum(np.where(numbers, x, 0.0), axis=axis, keepdims=True) / count
    return np.where(numbers, x - mean, 0.0), count


def nanvar(x, axis=None, ddof=0, keepdims=False):
    return np.nanvar(x, axis=axis, ddof=ddof, keepdims=keepdims)


def nanvar_vjp(out_grad, x, out, axis=None, ddof=0, keepdims=False):
    """2 (x - mean) / (count - ddof) over the numbers; NaNs get no grad."""
    centred, count = _nan_centred(x, axis)
    return (_kept(out_grad, x, axis, keepdims) * centred * (2.0 / (count - ddof)),)


def nanstd(x, axis=None, ddof=0, keepdims=False):
    return np.nanstd(x, axis=axis, ddof=ddof, keepdims=keepdims)


def nanstd_vjp(out_grad, x, out, axis=None, ddof=0, keepdims=False):
    """(x - mean) / ((count - ddof) std) over the numbers; undefined where they are all
    equal (std 0)."""
    centred, count = _nan_centred(x, axis)
    return (_kept(out_grad / out, x, axis, keepdims) * centred / (count - ddof),)


def nanprod_vjp(out_grad, x, out, axis=None, keepdims=False):
    """prod's rule with NaNs counted as 1: each number gets the product of the other
    numbers; NaNs get no grad."""
    from .reductions import prod_vjp

    numbers = ~np.isnan(_data(x))
    (grad,) = prod_vjp(out_grad, np.where(numbers, x, 1.0), out, axis=axis, keepdims=keepdims)
    return (np.where(numbers, grad, 0.0),)


def nancumsum(x, axis=None):
    """np.nancumsum (NaNs count as 0); float32 (and float16) accumulate in float64, as
    cumsum does (see there) and PyTorch's CPU kernel: a float32 running sum of 5,000
    values near -0.001 drifted 6e-5 from float64's in float32 accumulation."""
    dtype = np.result_type(x)
    wide = np.float64 if dtype.kind == "f" and dtype.itemsize < 8 else None
    return np.nancumsum(x, axis=axis, dtype=wide).astype(dtype, copy=False)


def nancumsum_vjp(out_grad, x, out, axis=None):
    """cumsum's rule (running sums of the grad from the end); NaNs get no grad."""
    from .reductions import cumsum_vjp

    numbers = ~np.isnan(_data(x))
    (grad,) = cumsum_vjp(out_grad, x, out, axis=axis)
    return (np.where(numbers, grad, 0.0),)


def nan_spread_sample():
    """Verifier hint for nanvar and nanstd: spread-out numbers (std is not differentiable
    where they are all equal), any axis, ddof below the count, either keepdims."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    from .reductions import _distinct_values, axis_params, reduced_axes

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
        axis = draw(axis_params(len(shape)))
        count = int(np.prod([shape[a] for a in reduced_axes(len(shape), axis)], dtype=np.int64))
        if count < 2:
            shape, axis, count = shape + (2,), -1, 2
        x = _distinct_values(draw, shape)
        ddof = draw(st.integers(0, min(count - 1, 2)))
        return (x,), {"axis": axis, "ddof": ddof, "keepdims": draw(st.booleans())}

    return example()


def _single_axis_params(shapes):
    from .reductions import single_axis_params

    return single_axis_params(shapes)


def positive_sample():
    """Verifier hint for nanprod: values from 0.5 to 2 (products stay moderate)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    from .reductions import axis_params

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
        values = st.floats(0.5, 2.0, allow_nan=False, allow_subnormal=False)
        x = draw(hnp.arrays(np.float64, shape, elements=values))
        return (x,), {"axis": draw(axis_params(len(shape))), "keepdims": draw(st.booleans())}

    return example()


def nanmedian(x, axis=None, keepdims=False):
    return np.nanmedian(x, axis=axis, keepdims=keepdims)


def nanmedian_vjp(out_grad, x, out, axis=None, keepdims=False):
    """The middle number of each slice gets the grad; of an even count the two middle ones
    half each (ties: numpy's stable order). NaNs, and all-NaN slices, get none."""
    data = np.asarray(_data(x))
    moved = np.reshape(data, (-1,)) if axis is None else np.moveaxis(data, axis, -1)
    count = np.sum(~np.isnan(moved), axis=-1, keepdims=True)
    rank = np.argsort(np.argsort(moved, axis=-1, kind="stable"), axis=-1, kind="stable")
    low, high = (count - 1) // 2, count // 2
    share = ((rank == low) * 0.5 + (rank == high) * 0.5).astype(_dtype(x))
    share = np.reshape(share, np.shape(data)) if axis is None else np.moveaxis(share, -1, axis)
    return (_kept(out_grad, x, axis, keepdims) * share,)


def nanmedian_sample():
    from .numpy_more import median_sample

    return median_sample()


# -- covariance and correlation ----------------------------------------------------------------


def _variables(arrays, rowvar):
    """np.cov's table of observations: one row per variable (x's, then y's), as numpy
    builds it; and how many rows each input gave and whether it was transposed."""
    rows, layout = [], []
    for a in arrays:
        table = np.atleast_2d(a)
        flipped = not rowvar and np.shape(table)[0] != 1
        if flipped:
            table = np.swapaxes(table, 0, 1)
        rows.append(table)
        layout.append((np.shape(table)[0], flipped))
    return (rows[0] if len(rows) == 1 else np.concatenate(rows, axis=0)), layout


def _check_cov(arrays, ddof):
    if len(arrays) > 2:
        raise OpCallError(f"cov and corrcoef take x and at most one y; got {len(arrays)} arrays")
    for a in arrays:
        if np.ndim(a) > 2:
            raise OpCallError(f"cov takes 1-D or 2-D arrays; got shape {np.shape(a)}")
    if ddof is not None and not isinstance(ddof, (int, np.integer)):
        raise OpCallError(f"ddof must be an int; got {ddof!r}")


def _float_type(arrays):
    """float32 inputs compute in float32 (numpy's cov would widen them to float64)."""
    return np.result_type(*arrays, np.float16)


def cov(*arrays, rowvar=True, bias=False, ddof=None):
    """np.cov of x (and y): variables in rows (rowvar) or columns; no weights."""
    _check_cov(arrays, ddof)
    return np.cov(*arrays, rowvar=rowvar, bias=bias, ddof=ddof, dtype=_float_type(arrays))


def _cov_table_vjp(g_cov, table, fact):
    """C = Xc Xc^T / fact, Xc = X minus its row means: dX = (G + G^T) Xc / fact (the
    centring drops out, since the rows of Xc sum to 0)."""
    centred = table - np.mean(table, axis=1, keepdims=True)
    return (g_cov + np.swapaxes(g_cov, 0, 1)) @ centred / fact


def _split_rows(g_table, arrays, layout):
    grads, start = [], 0
    for a, (count, flipped) in zip(arrays, layout, strict=True):
        part = g_table[start:start + count]
        start += count
        if flipped:
            part = np.swapaxes(part, 0, 1)
        grads.append(np.reshape(part, np.shape(a)))
    return tuple(grads)


def _fact(table, bias, ddof):
    if ddof is None:
        ddof = 0 if bias else 1
    return np.shape(table)[1] - ddof


def cov_vjp(out_grad, *arrays, out, rowvar=True, bias=False, ddof=None):
    table, layout = _variables(arrays, rowvar)
    k = np.shape(table)[0]
    g = np.reshape(out_grad, (k, k))
    return _split_rows(_cov_table_vjp(g, table, _fact(table, bias, ddof)), arrays, layout)


def corrcoef(*arrays, rowvar=True):
    _check_cov(arrays, None)
    return np.corrcoef(*arrays, rowvar=rowvar, dtype=_float_type(arrays))


def corrcoef_vjp(out_grad, *arrays, out, rowvar=True):
    """R = C / sqrt(d d^T), d = diag(C): dC = G / sqrt(d d^T) plus, on the diagonal,
    -(sum_j G_kj R_kj + G_jk R_jk) / (2 d_k); then cov's rule."""
    table, layout = _variables(arrays, rowvar)
    k = np.shape(table)[0]
    fact = np.shape(table)[1] - 1
    centred = table - np.mean(table, axis=1, keepdims=True)
    c = centred @ np.swapaxes(centred, 0, 1) / fact
    eye = np.eye(k, dtype=_dtype(table))
    d = np.sum(c * eye, axis=1)
    scale = np.sqrt(d[:, np.newaxis] * d[np.newaxis, :])
    r = c / scale
    g = np.reshape(out_grad, (k, k))
    gr = g * r
    g_d = -(np.sum(gr, axis=1) + np.sum(gr, axis=0)) / (2.0 * d)
    g_cov = g / scale + eye * g_d[np.newaxis, :]
    return _split_rows(_cov_table_vjp(g_cov, table, fact), arrays, layout)


def cov_sample(correlation):
    """Verifier hint: x (1-D or 2-D) and maybe y with as many observations, rowvar either
    way; spread-out values (a constant variable has no correlation)."""

    def sample():
        from hypothesis import strategies as st

        from .reductions import _distinct_values

        @st.composite
        def example(draw):
            n = draw(st.integers(3, 5))
            rowvar = draw(st.booleans())
            arrays = []
            for _ in range(draw(st.integers(1, 2))):
                k = draw(st.integers(0, 3))
                shape = (n,) if k == 0 else ((k, n) if rowvar else (n, k))
                arrays.append(_distinct_values(draw, shape) + draw(st.integers(-5, 5)) * 0.1)
            if correlation:
                return tuple(arrays), {"rowvar": rowvar}
            bias = draw(st.booleans())
            ddof = draw(st.sampled_from([None, 0, 1, 2]))
            return tuple(arrays), {"rowvar": rowvar, "bias": bias, "ddof": ddof}

        return example()

    return sample


# -- np.gradient -------------------------------------------------------------------------------


def _axes(ndim, axis):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(a % ndim for a in axes)


def _spacings(spacing):
    if spacing is None:
        return ()
    if isinstance(spacing, (tuple, list)):
        return tuple(spacing)
    return (spacing,)


def gradient(f, spacing=None, axis=None, edge_order=1):
    """np.gradient: central differences inside, one-sided at the edges, along each axis;
    a list of arrays, one per axis (numpy gives one array for one axis)."""
    if np.ndim(f) == 0:
        raise OpCallError("np.gradient needs an array of at least one dimension; got a scalar")
    out = np.gradient(f, *_spacings(spacing), axis=axis, edge_order=edge_order)
    return [out] if isinstance(out, np.ndarray) else list(out)


def _difference_matrix(n, spacing, edge_order, dtype):
    """D[i, j] = d out_i / d f_j along one axis: np.gradient is linear in f."""
    args = () if spacing is None else (spacing,)
    return np.gradient(np.eye(n), *args, axis=0, edge_order=edge_order).astype(dtype)


def gradient_vjp(cotangents, f, out, spacing=None, axis=None, edge_order=1):
    """The transpose of each axis' difference operator applied to its output's grad."""
    axes = _axes(np.ndim(f), axis)
    spacings = _spacings(spacing)
    if len(spacings) == 1:
        spacings = spacings * len(axes)
    total = None
    for k, a in enumerate(axes):
        matrix = _difference_matrix(np.shape(f)[a], spacings[k] if spacings else None,
                                    edge_order, _dtype(f))
        g = np.moveaxis(cotangents[k], a, -1) @ matrix
        g = np.moveaxis(g, -1, a)
        total = g if total is None else total + g
    return (total,)


def gradient_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    from .reductions import axis_params

    values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        edge_order = draw(st.sampled_from([1, 2]))
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=edge_order + 1,
                                      max_side=5))
        f = draw(hnp.arrays(np.float64, shape, elements=values))
        axis = draw(axis_params(len(shape)))
        spacing = draw(st.sampled_from([None, 0.5, 2.0]))
        return (f,), {"spacing": spacing, "axis": axis, "edge_order": edge_order}

    return example()


# -- np.interp ---------------------------------------------------------------------------------


def interp(x, xp, fp, left=None, right=None, period=None):
    """np.interp: piecewise-linear values fp at points xp (increasing, a constant), read
    at x; left and right (default fp's ends) outside."""
    if period is not None:
        raise OpCallError("interp's period is not supported: wrap x into one period first")
    if np.ndim(xp) != 1 or np.ndim(fp) != 1 or np.shape(xp) != np.shape(fp) or not np.size(xp):
        raise OpCallError(f"interp takes 1-D xp and fp of one length; got shapes "
                          f"{np.shape(xp)} and {np.shape(fp)}")
    return np.asarray(np.interp(x, xp, fp, left, right)).astype(
        np.result_type(x, fp, np.float16), copy=False)


def _segments(x, xp):
    """For each x: the segment [xp_i, xp_i+1] it falls in, its fraction t along it, and
    whether it lies inside [xp_0, xp_-1] (outside: the constant ends)."""
    xs = np.reshape(_data(x), (-1,))
    points = np.asarray(_data(xp), dtype=np.float64)
    n = points.shape[0]
    i = np.clip(np.searchsorted(points, xs, side="right") - 1, 0, max(n - 2, 0))
    inside = (xs >= points[0]) & (xs <= points[-1])
    return i, inside, n


def interp_vjp(out_grad, x, xp, fp, out, left=None, right=None, period=None,
               needs_grad=(True, False, True)):
    """Inside: d out / d x is the segment's slope, and fp_i, fp_i+1 get 1 - t and t; left of
    xp_0 fp_0 gets the grad (unless left is given), right of xp_-1 fp_-1 (unless right);
    outside, x gets none. Kinks at the points xp."""
    i, inside, n = _segments(x, xp)
    points = np.asarray(_data(xp), dtype=_dtype(fp))
    g = np.reshape(out_grad, (-1,))
    grad_x = grad_fp = None
    if n == 1:
        if needs_grad[2]:
            grad_fp = np.reshape(np.sum(g), (1,)) * 1.0
        if needs_grad[0]:
            grad_x = np.zeros(np.shape(x), dtype=_dtype(x))
        return grad_x, None, grad_fp
    width = points[i + 1] - points[i]
    xs = np.reshape(x, (-1,))
    t = (xs - points[i]) / width
    low = np.eye(n, dtype=points.dtype)[i]  # one row per x: 1 at its segment's start
    high = np.eye(n, dtype=points.dtype)[i + 1]
    if needs_grad[0]:
        slope = ((high - low) @ fp) / width
        grad_x = np.reshape(np.where(inside, g * slope, 0.0), np.shape(x))
    if needs_grad[2]:
        xs_data = np.reshape(_data(x), (-1,))
        below = (xs_data < points[0]) * 1.0 if left is None else 0.0 * xs_data
        above = (xs_data > points[-1]) * 1.0 if right is None else 0.0 * xs_data
        in_g = np.where(inside, g, 0.0)
        grad_fp = (in_g * (1.0 - t)) @ low + (in_g * t) @ high
        ends = np.zeros(n, dtype=points.dtype)
        ends[0], ends[-1] = 1.0, 0.0
        grad_fp = grad_fp + np.sum(g * below) * ends + np.sum(g * above) * ends[::-1]
    return grad_x, None, grad_fp


def interp_sample():
    """Verifier hint: increasing points xp (at least 1 apart), values fp, and x anywhere
    but within 0.1 of a point (the kinks), some outside the range."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-5.0, 5.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        n = draw(st.integers(2, 5))
        xp = np.cumsum(draw(hnp.arrays(np.float64, n, elements=st.floats(1.0, 2.0)))) - 3.0
        fp = draw(hnp.arrays(np.float64, n, elements=values))
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=4))
        x = draw(hnp.arrays(np.float64, shape, elements=st.floats(-5.0, float(xp[-1]) + 2.0)))
        near = np.abs(np.reshape(x, (-1, 1)) - xp[np.newaxis, :]) < 0.1
        x = np.where(np.reshape(np.any(near, axis=1), np.shape(x)), x + 0.25, x)
        ends = draw(st.sampled_from([{}, {"left": -7.0}, {"right": 3.0}]))
        return (x, xp, fp), ends

    return example()


# -- correlate, select, grids, copies, compress ------------------------------------------------


def correlate(a, v, mode="valid"):
    from .numpy_more import convolve

    if mode not in ("full", "same", "valid"):
        raise OpCallError(f"mode must be 'full', 'same' or 'valid'; got {mode!r}")
    return convolve(a, np.flip(v), mode)


def correlate_vjp(out_grad, a, v, out, mode="valid", needs_grad=(True, True)):
    """np.correlate(a, v) of real arrays is np.convolve(a, v reversed): convolve's rule, the
    grad of v reversed back."""
    from .numpy_more import convolve_vjp

    grad_a, grad_v = convolve_vjp(out_grad, a, np.flip(v), None, mode, needs_grad)
    return grad_a, (np.flip(grad_v) if grad_v is not None else None)


def correlate_sample():
    from .numpy_more import convolve_sample

    return convolve_sample()


def _as_mask(condition):
    if isinstance(condition, (list, tuple)):
        return np.asarray([_data(c) for c in condition], dtype=bool)
    return np.asarray(_data(condition), dtype=bool)


def select(*choices, condlist, default=0):
    """np.select: where the first true condition of condlist is k, choice k; default
    elsewhere (a constant)."""
    if len(condlist) != len(choices):
        raise OpCallError(f"select takes one choice per condition; got {len(condlist)} "
                          f"conditions and {len(choices)} choices")
    return np.select([_as_mask(c) for c in condlist], list(choices), _data(default))


def select_vjp(out_grad, *choices, out, condlist, default=0):
    """Each choice gets the grad where it was chosen (its condition the first true one)."""
    taken = np.zeros(np.shape(out_grad), dtype=bool)
    grads = []
    for c, choice in zip(condlist, choices, strict=True):
        mask = np.broadcast_to(_as_mask(c), np.shape(out_grad)) & ~taken
        taken = taken | mask
        grads.append(unbroadcast(np.where(mask, out_grad, 0.0), np.shape(choice)))
    return tuple(grads)


def select_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
        count = draw(st.integers(1, 3))
        conds = [draw(hnp.arrays(bool, shape)) for _ in range(count)]
        choices = tuple(draw(hnp.arrays(np.float64, draw(st.sampled_from([shape, ()])),
                                        elements=values)) for _ in range(count))
        return choices, {"condlist": conds, "default": draw(st.sampled_from([0.0, 1.5]))}

    return example()


def meshgrid(*xi, copy=True, sparse=False, indexing="xy"):
    if indexing not in ("xy", "ij"):
        raise OpCallError(f"indexing must be 'xy' or 'ij'; got {indexing!r}")
    return [np.array(g) for g in np.meshgrid(*xi, sparse=sparse, indexing=indexing)]


def _grid_axis(k, count, indexing):
    """The axis of the grid along which input k varies."""
    if indexing == "xy" and count >= 2 and k < 2:
        return 1 - k
    return k


def meshgrid_vjp(cotangents, *xi, out, copy=True, sparse=False, indexing="xy"):
    """Input k varies along one axis of its grid: its grad is the grid's grad summed over
    the other axes."""
    count = len(xi)
    grads = []
    for k, (x, g) in enumerate(zip(xi, cotangents, strict=True)):
        a = _grid_axis(k, count, indexing)
        others = tuple(b for b in range(np.ndim(g)) if b != a)
        grads.append(np.reshape(np.sum(g, axis=others), np.shape(x)))
    return tuple(grads)


def meshgrid_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        count = draw(st.integers(1, 3))
        xi = tuple(draw(hnp.arrays(np.float64, draw(st.integers(1, 3)), elements=values))
                   for _ in range(count))
        return xi, {"sparse": draw(st.booleans()),
                    "indexing": draw(st.sampled_from(["xy", "ij"]))}

    return example()


def broadcast_arrays(*arrays, subok=False):
    return [np.array(b) for b in np.broadcast_arrays(*arrays)]


def broadcast_arrays_vjp(cotangents, *arrays, out, subok=False):
    """Each input gets its output's grad summed back to its own shape."""
    return tuple(unbroadcast(g, np.shape(a)) for g, a in zip(cotangents, arrays, strict=True))


def broadcast_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        count = draw(st.integers(1, 3))
        shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=count, max_side=3))
        return tuple(draw(hnp.arrays(np.float64, s, elements=values))
                     for s in shapes.input_shapes), {}

    return example()


def _one_hot_rows(positions, size, dtype):
    """A (len(positions), size) table: row r has a 1 at positions[r]."""
    return np.eye(size, dtype=dtype)[positions]


def compress(a, condition, axis=None):
    """np.compress(condition, a, axis): the slices of a (flattened: elements) where the
    condition is true."""
    return np.compress(_as_mask(condition), a, axis=axis)


def compress_vjp(out_grad, a, out, condition, axis=None):
    """Each kept slice gets its grad back in place; the others none."""
    mask = _as_mask(condition)
    if axis is None:
        size = np.size(a)
        table = _one_hot_rows(np.flatnonzero(mask[:size]), size, _dtype(a))
        return (np.reshape(out_grad @ table, np.shape(a)),)
    axis = axis % np.ndim(a)
    n = np.shape(a)[axis]
    table = _one_hot_rows(np.flatnonzero(mask[:n]), n, _dtype(a))
    return (np.moveaxis(np.moveaxis(out_grad, axis, -1) @ table, -1, axis),)


def extract(a, condition):
    """np.extract(condition, a): the elements of a where the condition is true (flat)."""
    return np.extract(_as_mask(condition), a)


def extract_vjp(out_grad, a, out, condition):
    mask = np.reshape(_as_mask(condition), (-1,))
    table = _one_hot_rows(np.flatnonzero(mask), np.size(a), _dtype(a))
    return (np.reshape(out_grad @ table, np.shape(a)),)


def compress_sample(flat):
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
        a = draw(hnp.arrays(np.float64, shape, elements=values))
        if flat:
            return (a,), {"condition": draw(hnp.arrays(bool, shape))}
        axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
        n = int(np.prod(shape)) if axis is None else shape[axis]
        return (a,), {"condition": draw(hnp.arrays(bool, n)), "axis": axis}

    return example()


OPS = [
    Op("nanvar", nanvar, vjp=nanvar_vjp, signature=ANY, sample=nan_spread_sample,
       param_order=("axis", "dtype", "out", "ddof", "keepdims"),
       doc="variance of the numbers (NaNs skipped) over axis (None: all), ddof; NaNs get "
           "no grad"),
    Op("nanstd", nanstd, vjp=nanstd_vjp, signature=ANY, sample=nan_spread_sample,
       param_order=("axis", "dtype", "out", "ddof", "keepdims"),
       doc="standard deviation of the numbers (NaNs skipped) over axis, ddof; NaNs get no "
           "grad"),
    Op("nanprod", lambda x, axis=None, keepdims=False: np.nanprod(x, axis=axis,
                                                                  keepdims=keepdims),
       vjp=nanprod_vjp, signature=ANY, sample=positive_sample,
       param_order=("axis", "dtype", "out", "keepdims"),
       doc="product of the numbers (NaNs counted as 1) over axis (None: all)"),
    Op("nancumsum", nancumsum, vjp=nancumsum_vjp,
       signature=ANY, params=lambda shapes: _single_axis_params(shapes),
       param_order=("axis", "dtype", "out"),
       doc="running sums along axis (None: flattened), NaNs counted as 0"),
    Op("nanmedian", nanmedian, vjp=nanmedian_vjp, signature=ANY, sample=nanmedian_sample,
       param_order=("axis", "out", "overwrite_input", "keepdims"),
       doc="np.nanmedian over axis (None: all): the grad to the middle number (or the two "
           "middle ones, half each); NaNs get none"),
    Op("cov", cov, vjp=cov_vjp, signature="(*)...->(*)", sample=cov_sample(False),
       doc="np.cov of x (and y): variables in rows (rowvar) or columns, bias or ddof; no "
           "weights"),
    Op("corrcoef", corrcoef, vjp=corrcoef_vjp, signature="(*)...->(*)",
       sample=cov_sample(True),
       doc="np.corrcoef of x (and y): Pearson correlations of the variables"),
    Op("gradient", gradient, vjp=gradient_vjp, signature="(*)->[(*)]", sample=gradient_sample,
       doc="np.gradient: a list of the differences along each axis (central inside, "
           "edge_order-sided at the ends); np.gradient gives one array for one axis"),
    Op("interp", interp, vjp=interp_vjp, signature="(*),(*),(*)->(*)", constants=(1,),
       sample=interp_sample,
       skip_variants={"broadcast operands": "xp and fp are one 1-D table; x any shape"},
       doc="np.interp: piecewise-linear fp at increasing points xp (a constant), read at x"),
    Op("correlate", correlate, vjp=correlate_vjp, signature="(*),(*)->(*)",
       sample=correlate_sample,
       skip_variants={"broadcast operands": "its operands are two 1-D sequences whose lengths "
                      "define the result; they never broadcast"},
       doc="np.correlate of real 1-D arrays (np.convolve with v reversed), mode 'valid' "
           "(default), 'same' or 'full'"),
    Op("select", select, vjp=select_vjp, signature="[(*)]->(*)", leading_params=("condlist",),
       param_order=("default",), sample=select_sample,
       doc="np.select(condlist, choicelist, default): the choice of the first true "
           "condition; default (a constant) elsewhere"),
    Op("meshgrid", meshgrid, vjp=meshgrid_vjp, signature="(*)...->[(*)]",
       sample=meshgrid_sample,
       doc="np.meshgrid: coordinate grids of 1-D inputs ('xy' or 'ij' indexing, sparse)"),
    Op("broadcast_arrays", broadcast_arrays, vjp=broadcast_arrays_vjp,
       signature="(*)...->[(*)]", sample=broadcast_sample,
       doc="np.broadcast_arrays: the inputs broadcast against each other (copies)"),
    Op("copy", lambda x, order="K", subok=False: np.array(x, copy=True),
       vjp=lambda out_grad, x, out, order="K", subok=False: (out_grad,), signature=ANY,
       doc="np.copy (and x.copy()): the same numbers, a new tensor"),
    Op("compress", compress, vjp=compress_vjp, signature=ANY,
       leading_params=("condition",), sample=lambda: compress_sample(False),
       doc="np.compress(condition, a, axis): the slices (None: flat elements) where the "
           "condition holds"),
    Op("extract", extract, vjp=extract_vjp, signature=ANY, leading_params=("condition",),
       sample=lambda: compress_sample(True),
       doc="np.extract(condition, a): the elements where the condition holds, flattened"),
]


# -- answers without a gradient: truth tests, counts, positions --------------------------------


def _reduction_params(shapes):
    from .reductions import reduction_params

    return reduction_params(shapes)


def _one_axis(example):
    (x,), params = example
    axis = params["axis"]
    if isinstance(axis, tuple):
        axis = axis[0]
    if np.ndim(x) == 0:
        axis = None
    return (x,), {**params, "axis": axis}


def _distinct_single_axis():
    """Verifier hint for nanargmax and nanargmin: no ties, one axis or None."""
    from .reductions import distinct_sample

    return distinct_sample().map(_one_axis)


def _partition_sample():
    from .numpy_more import partition_sample

    return partition_sample()


def sorted_and_values_sample():
    """Verifier hint for searchsorted and digitize: increasing values (bins) and any values
    to place among them."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-5.0, 5.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        edges = np.unique(draw(hnp.arrays(np.float64, draw(st.integers(1, 5)), elements=values)))
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=4))
        return (edges, draw(hnp.arrays(np.float64, shape, elements=values))), {}

    return example()


def _digitize_sample():
    return sorted_and_values_sample().map(lambda e: ((e[0][1], e[0][0]), e[1]))


def _no_grad(name, forward, signature=ANY, **hints):
    return Op(name, forward, differentiable=False, signature=signature,
              doc=hints.pop("doc", f"np.{name}; no grad (its answer is boolean or integer)"),
              **hints)


OPS += [
    _no_grad("all", lambda x, axis=None, keepdims=False: np.all(x, axis=axis, keepdims=keepdims),
             params=_reduction_params, param_order=("axis", "out", "keepdims"),
             doc="np.all: whether every element is nonzero, over axis (None: all); no grad"),
    _no_grad("any", lambda x, axis=None, keepdims=False: np.any(x, axis=axis, keepdims=keepdims),
             params=_reduction_params, param_order=("axis", "out", "keepdims"),
             doc="np.any: whether some element is nonzero, over axis (None: all); no grad"),
    _no_grad("count_nonzero", lambda x, axis=None, keepdims=False: np.asarray(
        np.count_nonzero(x, axis=axis, keepdims=keepdims)), params=_reduction_params,
        doc="np.count_nonzero over axis (None: all); no grad"),
    _no_grad("argwhere", np.argwhere, doc="np.argwhere: the indices of nonzero elements, one "
                                          "row each; no grad"),
    _no_grad("flatnonzero", np.flatnonzero,
             doc="np.flatnonzero: the flat indices of nonzero elements; no grad"),
    _no_grad("nanargmax", lambda x, axis=None, keepdims=False: np.asarray(
        np.nanargmax(x, axis=axis, keepdims=keepdims)), sample=_distinct_single_axis,
        param_order=("axis", "out", "keepdims"),
        doc="np.nanargmax: the position of the largest number (NaNs skipped); no grad"),
    _no_grad("nanargmin", lambda x, axis=None, keepdims=False: np.asarray(
        np.nanargmin(x, axis=axis, keepdims=keepdims)), sample=_distinct_single_axis,
        param_order=("axis", "out", "keepdims"),
        doc="np.nanargmin: the position of the smallest number (NaNs skipped); no grad"),
    _no_grad("argpartition", lambda x, kth, axis=-1: np.argpartition(x, kth, axis=axis),
             sample=_partition_sample, param_order=("kth", "axis", "kind", "order"),
             doc="np.argpartition: the positions that would partition x; no grad"),
    _no_grad("searchsorted", lambda a, v, side="left": np.searchsorted(a, v, side),
             signature="(*),(*)->(*)", sample=sorted_and_values_sample,
             param_order=("side", "sorter"),
             skip_variants={"broadcast operands": "a is a sorted 1-D table, v any shape"},
             doc="np.searchsorted: where each v would go in the sorted a; no grad"),
    _no_grad("digitize", lambda x, bins, right=False: np.digitize(x, bins, right),
             signature="(*),(*)->(*)", sample=_digitize_sample, param_order=("right",),
             skip_variants={"broadcast operands": "bins is a sorted 1-D table, x any shape"},
             doc="np.digitize: the bin of each x; no grad"),
    _no_grad("isin", lambda element, test_elements, invert=False: np.isin(
        element, test_elements, invert=invert), signature="(*),(*)->(*)",
        skip_variants={"broadcast operands": "test_elements is a set of values, not broadcast"},
        doc="np.isin: whether each element is among test_elements; no grad"),
    *[_no_grad(name, getattr(np, name), signature="()->()")
      for name in ("isposinf", "isneginf", "isreal", "iscomplex")],
    _no_grad("matrix_rank", lambda a, tol=None, hermitian=False: np.asarray(
        np.linalg.matrix_rank(a, tol, hermitian)), signature="(m,n)->()",
        doc="np.linalg.matrix_rank: the number of singular values above tol; no grad"),
]
