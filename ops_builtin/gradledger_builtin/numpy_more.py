"""More of numpy's functions that numpy code reaches for: NaN-skipping sums and means,
sign and exponent manipulation, inner products, appends, partial sorts.

Each takes numpy's name and argument order, so `np.nansum(t)` and `np.inner(a, b)` on
Tensors reach it. The verifier draws finite inputs; NaN and infinities are tested by hand.
"""

import numpy as np
from gradledger.errors import OpCallError
from gradledger.extend import Op, unbroadcast

ANY = "(*)->(*)"
UNARY = "()->()"
BINARY = "(),()->()"


def _data(x):
    """The numbers of x (a Tensor's data, an array as is), for masks that take no grad."""
    return x if isinstance(x, (np.ndarray, np.generic)) else x.data


def _kept(value, x, axis, keepdims):
    from .reductions import _kept as kept

    return kept(value, x, axis, keepdims)


def core_sample(signature):
    """Verifier hint for ops with core dimensions (matvec, vecmat, matrix_transpose): shapes
    numpy's gufunc rules accept, batched and broadcasting."""

    def sample():
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp

        values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

        @st.composite
        def operands(draw):
            shapes = draw(hnp.mutually_broadcastable_shapes(signature=signature, max_side=3))
            return tuple(draw(hnp.arrays(np.float64, s, elements=values))
                         for s in shapes.input_shapes), {}

        return operands()

    return sample


def nansum_vjp(out_grad, x, out, axis=None, keepdims=False):
    """1 where x is a number, 0 where it is NaN (a NaN contributes nothing)."""
    numbers = ~np.isnan(_data(x))
    return (np.broadcast_to(_kept(out_grad, x, axis, keepdims), np.shape(x)) * numbers,)


def nanmean_vjp(out_grad, x, out, axis=None, keepdims=False):
    """1 / (count of numbers) where x is a number, 0 where it is NaN."""
    numbers = ~np.isnan(_data(x))
    count = np.sum(numbers, axis=axis, keepdims=True).astype(np.result_type(_data(x)))
    return (np.broadcast_to(_kept(out_grad, x, axis, keepdims), np.shape(x)) * numbers / count,)


def nan_to_num(x, copy=True, nan=0.0, posinf=None, neginf=None):
    return np.nan_to_num(x, copy=True, nan=nan, posinf=posinf, neginf=neginf)


def nan_to_num_local(x, out, copy=True, nan=0.0, posinf=None, neginf=None):
    """1 where x is finite (kept), 0 where it was replaced by a constant."""
    return (np.isfinite(_data(x)),)


def copysign_local(x, y, out):
    """|x| with y's sign: d/dx = sign(x) sign(y) (sign bits: -0.0 counts negative), d/dy 0."""
    return np.sign(x) * np.where(np.signbit(_data(y)), -1.0, 1.0), 0.0


def ldexp(x, n):
    n = np.asarray(n)
    if n.dtype.kind not in "iu":
        raise OpCallError(f"ldexp's exponents must be integers; got dtype {n.dtype}")
    return np.ldexp(x, n)


def rollaxis_vjp(out_grad, x, out, axis, start=0):
    """np.rollaxis is a moveaxis: move the axis back where it came from."""
    ndim = np.ndim(x)
    axis = axis % ndim
    start = start + ndim if start < 0 else start
    destination = start - 1 if start > axis else start
    return (np.moveaxis(out_grad, destination, axis),)


def inner_vjp(out_grad, a, b, out, needs_grad=(True, True)):
    """inner(a, b) sums over the last axes: out[i..., j...] = sum_k a[i..., k] b[j..., k]."""
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        grad_a = unbroadcast(out_grad * b, np.shape(a)) if needs_grad[0] else None
        grad_b = unbroadcast(out_grad * a, np.shape(b)) if needs_grad[1] else None
        return grad_a, grad_b
    na, nb = np.ndim(a) - 1, np.ndim(b) - 1
    letters = "abcdefghijklmnopqrstuvwxy"
    sa, sb = letters[:na] + "z", letters[na:na + nb] + "z"
    so = letters[:na + nb]
    grad_a = np.einsum(f"{so},{sb}->{sa}", out_grad, b) if needs_grad[0] else None
    grad_b = np.einsum(f"{so},{sa}->{sb}", out_grad, a) if needs_grad[1] else None
    return grad_a, grad_b


def append(x, values, axis=None):
    """np.append: x and values flattened and joined (axis None), or joined along axis."""
    return np.append(x, values, axis=axis)


def append_vjp(out_grad, x, values, out, axis=None):
    cut = np.size(x) if axis is None else np.shape(x)[axis]
    if axis is None:
        flat = np.reshape(out_grad, (-1,))
        return np.reshape(flat[:cut], np.shape(x)), np.reshape(flat[cut:], np.shape(values))
    first, second = np.split(out_grad, [cut], axis=axis)
    return first, second


def partition(x, kth, axis=-1, kind="introselect", order=None):
    """np.partition: the k-th element in its sorted place, smaller ones before, larger after
    (in the order numpy puts them)."""
    index = np.argpartition(_data(x), kth, axis=axis)
    if axis is None:
        return np.take_along_axis(np.reshape(x, (-1,)), index, axis=0)
    return np.take_along_axis(x, index, axis=axis)


def partition_vjp(out_grad, x, out, kth, axis=-1, kind="introselect", order=None):
    """Each place's grad goes back to the element numpy moved there (the inverse
    permutation, differentiable through take_along_axis)."""
    if axis is None:
        index = np.argpartition(np.reshape(_data(x), (-1,)), kth)
        inverse = np.argsort(index)
        return (np.reshape(np.take_along_axis(out_grad, inverse, axis=0), np.shape(x)),)
    index = np.argpartition(_data(x), kth, axis=axis)
    inverse = np.argsort(index, axis=axis)
    return (np.take_along_axis(out_grad, inverse, axis=axis),)


def eigvalsh(a, UPLO="L"):
    """np.linalg.eigvalsh, computed with the eigenvectors, which it saves for the rule."""
    w, v = np.linalg.eigh(a, UPLO)
    return w, (v,)


def eigvalsh_vjp(out_grad, a, out, UPLO="L", saved=None):
    """d w_i = v_i^T da v_i, on the triangle numpy reads (eigh's rule without vectors)."""
    from .linalg import eigh_vjp

    w, v = (out, saved[0]) if saved is not None else np.linalg.eigh(a, UPLO)
    return eigh_vjp((out_grad, 0.0 * v), a, (w, v), UPLO)


# -- verifier hints ----------------------------------------------------------------------------


def nan_sample():
    """Verifier hint for nansum and nanmean: numbers (the verifier's nudges need them; NaNs
    are tested by hand), any axis, either keepdims."""

    def sample():
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp

        from .reductions import axis_params

        @st.composite
        def example(draw):
            shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4))
            values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)
            x = draw(hnp.arrays(np.float64, shape, elements=values))
            return (x,), {"axis": draw(axis_params(len(shape))), "keepdims": draw(st.booleans())}

        return example()

    return sample


def nan_to_num_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
        values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)
        x = draw(hnp.arrays(np.float64, shape, elements=values))
        return (x,), {"nan": draw(st.sampled_from([0.0, -1.5])),
                      "posinf": draw(st.sampled_from([None, 7.0]))}

    return example()


def rollaxis_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=3))
        values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)
        x = draw(hnp.arrays(np.float64, shape, elements=values))
        ndim = len(shape)
        return (x,), {"axis": draw(st.integers(-ndim, ndim - 1)),
                      "start": draw(st.integers(-ndim, ndim))}

    return example()


def inner_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def operands(draw):
        k = draw(st.integers(1, 3))
        a_shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)) + (k,)
        b_shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)) + (k,)
        if draw(st.booleans()):
            a_shape = draw(st.sampled_from([(), a_shape]))
        return (draw(hnp.arrays(np.float64, a_shape, elements=values)),
                draw(hnp.arrays(np.float64, b_shape, elements=values))), {}

    return operands()


def append_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def operands(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
        axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
        other = list(shape)
        if axis is None:
            other = list(draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3)))
        else:
            other[axis] = draw(st.integers(1, 3))
        x = draw(hnp.arrays(np.float64, shape, elements=values))
        v = draw(hnp.arrays(np.float64, tuple(other), elements=values))
        return (x, v), {"axis": axis}

    return operands()


def partition_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    from .reductions import _distinct_values

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
        axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
        n = int(np.prod(shape)) if axis is None else shape[axis]
        kth = draw(st.integers(-n, n - 1) | st.lists(st.integers(0, n - 1), min_size=1,
                                                       max_size=2, unique=True).map(tuple))
        return (_distinct_values(draw, shape),), {"kth": kth, "axis": axis}

    return example()


def symmetric_sample():
    from .linalg import separated_sample

    return separated_sample("sym")()


OPS = [
    Op("nansum", lambda x, axis=None, keepdims=False: np.nansum(x, axis=axis, keepdims=keepdims),
       vjp=nansum_vjp, signature=ANY, sample=nan_sample(),
       param_order=("axis", "dtype", "out", "keepdims"),
       doc="sum over axis (None: all), NaNs counted as 0; they get no grad"),
    Op("nanmean", lambda x, axis=None, keepdims=False: np.nanmean(x, axis=axis,
                                                                  keepdims=keepdims),
       vjp=nanmean_vjp, signature=ANY, sample=nan_sample(),
       param_order=("axis", "dtype", "out", "keepdims"),
       doc="mean of the numbers (NaNs skipped) over axis (None: all); NaNs get no grad"),
    Op("nan_to_num", nan_to_num, local_grad=nan_to_num_local, signature=UNARY,
       sample=nan_to_num_sample,
       doc="NaN and infinities replaced by numbers (nan, posinf, neginf); they get no grad"),
    Op("copysign", np.copysign, local_grad=copysign_local, signature=BINARY,
       kinks=((0.0,), (0.0,)), doc="|x| with the sign of y; y gets no grad"),
    Op("ldexp", ldexp, local_grad=lambda x, n, out: (np.exp2(n).astype(out.dtype), None),
       signature=BINARY, constants=(1,),
       sample=lambda: _ldexp_sample(), doc="x * 2 ** n for integers n (a constant)"),
    Op("rollaxis", lambda x, axis, start=0: np.rollaxis(x, axis, start), vjp=rollaxis_vjp,
       signature=ANY, sample=rollaxis_sample,
       doc="np.rollaxis: the axis moved to before position start"),
    Op("inner", np.inner, vjp=inner_vjp, signature="(*),(*)->(*)", sample=inner_sample,
       doc="np.inner: sums of products over the last axes (a scalar times an array)"),
    Op("append", append, vjp=append_vjp, signature="(*),(*)->(*)", sample=append_sample,
       doc="np.append: values after x, flattened (axis None) or along axis"),
    Op("partition", partition, vjp=partition_vjp, signature=ANY, sample=partition_sample,
       doc="np.partition: the kth element(s) in sorted place; grads go back where numpy "
           "took each element from"),
    Op("eigvalsh", eigvalsh, vjp=eigvalsh_vjp, signature="(m,m)->(m)", saves=True,
       sample=symmetric_sample,
       doc="np.linalg.eigvalsh: eigenvalues of a symmetric matrix (its UPLO triangle), "
           "ascending"),
]


def _ldexp_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def example(draw):
        shapes = draw(hnp.mutually_broadcastable_shapes(signature=BINARY, max_side=3))
        values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)
        x = draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=values))
        n = draw(hnp.arrays(np.int32, shapes.input_shapes[1], elements=st.integers(-4, 4)))
        return (x, n), {}

    return example()



# -- ranges, products (issue 21; complex parts: elementwise.py) ---------------------------------


def linspace(start, stop, num=50, endpoint=True, axis=0):
    """np.linspace between tensors start and stop (scalars or arrays, broadcasting)."""
    if not isinstance(num, (int, np.integer)) or num < 0:
        raise OpCallError(f"num must be an int >= 0; got {num!r}")
    return np.linspace(start, stop, num, endpoint=endpoint, axis=axis)


def _fractions(num, endpoint, dtype):
    """t_k, out_k = start + t_k (stop - start)."""
    steps = (num - 1 if endpoint else num) or 1
    return (np.arange(num) / steps).astype(dtype)


def linspace_vjp(out_grad, start, stop, out, num=50, endpoint=True, axis=0,
                 needs_grad=(True, True)):
    """d out_k / d start = 1 - t_k, d out_k / d stop = t_k, summed over k (and broadcasting)."""
    shape = np.broadcast_shapes(np.shape(start), np.shape(stop))
    ndim = len(shape) + 1
    t = _fractions(num, endpoint, np.result_type(out))
    if num == 1 and endpoint:
        t = np.zeros(1, dtype=t.dtype)
    axis = axis % ndim
    t = np.reshape(t, (1,) * axis + (num,) + (1,) * (ndim - axis - 1))
    g = np.moveaxis(out_grad * t, axis, 0)
    g_all = np.moveaxis(out_grad, axis, 0)
    to_stop = np.sum(g, axis=0)
    to_start = np.sum(g_all, axis=0) - to_stop
    return (unbroadcast(to_start, np.shape(start)) if needs_grad[0] else None,
            unbroadcast(to_stop, np.shape(stop)) if needs_grad[1] else None)


def linspace_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
        start = draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=values))
        stop = draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=values))
        ndim = len(shapes.result_shape) + 1
        return (start, stop), {"num": draw(st.integers(0, 6)), "endpoint": draw(st.booleans()),
                               "axis": draw(st.integers(-ndim, ndim - 1))}

    return example()


def vdot_vjp(out_grad, a, b, out, needs_grad=(True, True)):
    """The dot product of the flattened inputs."""
    return (np.reshape(out_grad * np.ravel(b), np.shape(a)) if needs_grad[0] else None,
            np.reshape(out_grad * np.ravel(a), np.shape(b)) if needs_grad[1] else None)


def vdot_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def operands(draw):
        a_shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=3))
        size = int(np.prod(a_shape))
        b_shape = draw(st.sampled_from([(size,), a_shape, tuple(reversed(a_shape))]))
        return (draw(hnp.arrays(np.float64, a_shape, elements=values)),
                draw(hnp.arrays(np.float64, b_shape, elements=values))), {}

    return operands()


def multi_dot(*arrays):
    return np.linalg.multi_dot(arrays)


def multi_dot_vjp(out_grad, *arrays, out):
    """Each matrix's grad: (product before it)^T g (product after it)^T, vectors at the ends
    lifted to a row and a column as numpy does."""
    mats = list(arrays)
    first_vector, last_vector = np.ndim(mats[0]) == 1, np.ndim(mats[-1]) == 1
    if first_vector:
        mats[0] = mats[0][np.newaxis, :]
    if last_vector:
        mats[-1] = mats[-1][:, np.newaxis]
    g = out_grad
    if first_vector:
        g = g[np.newaxis, ...]
    if last_vector:
        g = g[..., np.newaxis]
    g = np.reshape(g, (np.shape(mats[0])[0], np.shape(mats[-1])[1]))
    grads = []
    for i in range(len(mats)):
        left = g
        for m in reversed(mats[i + 1:]):
            left = left @ np.swapaxes(m, -1, -2)
        for m in mats[:i]:
            left = np.swapaxes(m, -1, -2) @ left
        grads.append(np.reshape(left, np.shape(arrays[i])))
    return tuple(grads)


def multi_dot_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def chain(draw):
        count = draw(st.integers(2, 4))
        sizes = [draw(st.integers(1, 3)) for _ in range(count + 1)]
        shapes = [(sizes[i], sizes[i + 1]) for i in range(count)]
        if draw(st.booleans()):
            shapes[0] = (sizes[1],)
        if draw(st.booleans()):
            shapes[-1] = (sizes[-2],)
        return tuple(draw(hnp.arrays(np.float64, s, elements=values)) for s in shapes), {}

    return chain()


OPS += [
    Op("linspace", linspace, vjp=linspace_vjp, signature="(*),(*)->(*)",
       sample=linspace_sample, param_order=("num", "endpoint", "retstep", "dtype", "axis"),
       doc="np.linspace from tensors start to stop (no retstep), num points along axis"),
    Op("vdot", np.vdot, vjp=vdot_vjp, signature="(*),(*)->()", sample=vdot_sample,
       doc="np.vdot of real tensors: the dot product of the flattened inputs"),
    Op("multi_dot", multi_dot, vjp=multi_dot_vjp, signature="[(*)]->(*)",
       sample=multi_dot_sample,
       doc="np.linalg.multi_dot: a chain of matrix products (vectors allowed at the ends)"),
]


# -- numpy 2's array-API names, predicates, and a few reductions (issue 21) -----------------------


def _predicate(name):
    return Op(name, getattr(np, name), differentiable=False, signature=UNARY,
              doc=f"np.{name}, elementwise; a boolean tensor without grad")


def _ptp_share(x, out, axis, keepdims, extreme):
    kept = _kept(extreme(x, axis=axis, keepdims=True), x, None, True)
    winners = (x == kept) * np.result_type(x).type(1)
    return winners / np.sum(winners, axis=axis, keepdims=True)


def ptp_vjp(out_grad, x, out, axis=None, keepdims=False):
    """max - min: the grad to the maximum, minus it to the minimum (ties split evenly)."""
    g = _kept(out_grad, x, axis, keepdims)
    return (g * (_ptp_share(x, out, axis, keepdims, np.max)
                 - _ptp_share(x, out, axis, keepdims, np.min)),)


def average(x, axis=None, weights=None, returned=False, keepdims=False):
    """np.average with constant weights (a param: they take no grad)."""
    if returned:
        raise OpCallError("returned=True gives two arrays; call np.sum(weights) yourself")
    out = np.average(x, axis=axis, weights=weights, keepdims=keepdims)
    return np.asarray(out).astype(np.result_type(x), copy=False)


def average_vjp(out_grad, x, out, axis=None, weights=None, returned=False, keepdims=False):
    """weights / sum(weights) along axis (1 / count without weights)."""
    g = _kept(out_grad, x, axis, keepdims)
    if weights is None:
        count = np.size(x) // max(np.size(out), 1)
        return (np.broadcast_to(g / count, np.shape(x)),)
    w = np.asarray(weights, dtype=np.result_type(_data(x)))
    if axis is not None and w.ndim == 1 and np.ndim(x) > 1:
        w = np.reshape(w, tuple(-1 if a == axis % np.ndim(x) else 1 for a in range(np.ndim(x))))
    share = w / np.sum(np.broadcast_to(w, np.shape(x)), axis=axis, keepdims=True)
    return (g * np.broadcast_to(share, np.shape(x)),)


def average_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
        x = draw(hnp.arrays(np.float64, shape, elements=values))
        axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
        weights = None
        if draw(st.booleans()):
            w_shape = shape if axis is None else draw(st.sampled_from([shape, (shape[axis],)]))
            weights = draw(hnp.arrays(np.float64, w_shape, elements=st.floats(0.5, 2.0)))
        return (x,), {"axis": axis, "weights": weights, "keepdims": draw(st.booleans())}

    return example()


def trapezoid(y, x=None, dx=1.0, axis=-1):
    """np.trapezoid (np.trapz in numpy 1) with constant sample points x or spacing dx."""
    integrate = getattr(np, "trapezoid", None) or np.trapz
    return np.asarray(integrate(y, x=x, dx=dx, axis=axis)).astype(np.result_type(y), copy=False)


def trapezoid_vjp(out_grad, y, out, x=None, dx=1.0, axis=-1):
    """y_i's weight: half the widths of the intervals either side of it."""
    n = np.shape(y)[axis]
    widths = np.diff(np.asarray(x, dtype=np.float64)) if x is not None else np.full(n - 1, dx)
    weights = np.zeros(n)
    weights[:-1] += widths / 2
    weights[1:] += widths / 2
    weights = weights.astype(np.result_type(_data(y)))
    shape = [1] * np.ndim(y)
    shape[axis] = n
    return (np.expand_dims(out_grad, axis) * np.reshape(weights, shape),)


def trapezoid_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=4))
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        y = draw(hnp.arrays(np.float64, shape, elements=values))
        points = None
        if draw(st.booleans()):
            points = np.cumsum(draw(hnp.arrays(np.float64, shape[axis],
                                               elements=st.floats(0.1, 2.0))))
        return (y,), {"x": points, "dx": draw(st.sampled_from([1.0, 0.5])), "axis": axis}

    return example()


def frexp_vjp(cotangents, x, out):
    """x = m 2**e with e piecewise constant: d m / d x = 2**-e; the exponent takes none."""
    g_mantissa, _ = cotangents
    _, exponent = out
    return (g_mantissa * np.exp2(-np.asarray(exponent, dtype=np.float64)).astype(
        np.result_type(_data(x))),)


def frexp_sample():
    """Verifier hint: values away from powers of 2 (where the exponent jumps)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    near = st.builds(lambda k, m, s: s * m * 2.0 ** k, st.integers(-6, 6),
                     st.floats(0.55, 0.95), st.sampled_from([-1.0, 1.0]))

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=4))
        return (draw(hnp.arrays(np.float64, shape, elements=near)),), {}

    return example()


def vecdot(a, b, axis=-1):
    return np.sum(a * b, axis=axis)


def vecdot_vjp(out_grad, a, b, out, axis=-1, needs_grad=(True, True)):
    g = np.expand_dims(out_grad, axis)
    return (unbroadcast(g * b, np.shape(a)) if needs_grad[0] else None,
            unbroadcast(g * a, np.shape(b)) if needs_grad[1] else None)


def vecdot_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def operands(draw):
        shapes = draw(hnp.mutually_broadcastable_shapes(signature="(n),(n)->()", max_side=3))
        a, b = (draw(hnp.arrays(np.float64, s, elements=values)) for s in shapes.input_shapes)
        return (a, b), {}

    return operands()


def vector_norm(x, axis=None, keepdims=False, ord=2):
    """np.linalg.vector_norm: a vector norm over the flattened x (axis None) or axes."""
    return np.linalg.vector_norm(x, axis=axis, keepdims=keepdims, ord=ord)


def vector_norm_vjp(out_grad, x, out, axis=None, keepdims=False, ord=2):
    """norm's vector rule on x with the normed axes moved last and flattened into one."""
    from .reductions import norm_vjp

    ndim = np.ndim(x)
    axes = tuple(range(ndim)) if axis is None else tuple(
        a % ndim for a in (axis if isinstance(axis, tuple) else (axis,)))
    rest = tuple(a for a in range(ndim) if a not in axes)
    moved = np.transpose(x, rest + axes)
    flat = np.reshape(moved, np.shape(moved)[:len(rest)] + (-1,))
    g = np.reshape(out_grad, np.shape(flat)[:-1])
    value = np.reshape(out, np.shape(flat)[:-1])
    (grad,) = norm_vjp(g, flat, value, ord=ord, axis=-1)
    grad = np.reshape(grad, np.shape(moved))
    return (np.transpose(grad, tuple(np.argsort(rest + axes))),)


def matrix_norm_vjp(out_grad, x, out, keepdims=False, ord="fro"):
    from .reductions import norm_vjp

    return norm_vjp(out_grad, x, out, ord=ord, axis=(-2, -1), keepdims=keepdims)


def vector_norm_sample():
    """Verifier hint: values at least 1/2 from 0 with distinct magnitudes, any axes, every
    vector ord."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    from .reductions import axis_params

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=3))
        size = int(np.prod(shape, dtype=np.int64))
        signs = np.array(draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=size,
                                       max_size=size))).reshape(shape)
        order = np.array(draw(st.permutations(range(size)))).reshape(shape)
        ord = draw(st.sampled_from([2, 1, 3, 0.5, -1, np.inf, -np.inf, 0]))
        return (signs * (0.5 + 0.25 * order),), {"axis": draw(axis_params(len(shape))),
                                                  "keepdims": draw(st.booleans()), "ord": ord}

    return example()


def matrix_norm_sample():
    """Verifier hint: (batches of) matrices, every matrix ord; distinct singular values for
    nuc, 2 and -2, distinct row and column sums (magnitudes 2**k / 8) for the others."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    from .reductions import MATRIX_ORDERS

    @st.composite
    def example(draw):
        shape = draw(st.sampled_from([(), (2,)])) + draw(
            hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=3))
        ord = draw(st.sampled_from(MATRIX_ORDERS))
        rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
        if ord in ("nuc", 2, -2):
            x = rng.standard_normal(shape) * 0.05
            k = min(shape[-2:])
            x[..., np.arange(k), np.arange(k)] += 1.0 + np.arange(k)
        else:
            size = int(np.prod(shape))
            x = (rng.choice([-1.0, 1.0], size) * 2.0 ** rng.permutation(size) / 8).reshape(shape)
        return (x,), {"keepdims": draw(st.booleans()), "ord": "fro" if ord is None else ord}

    return example()


OPS += [
    *[_predicate(name) for name in ("isnan", "isinf", "isfinite", "signbit")],
    Op("positive", np.positive, local_grad=lambda x, out: (1.0,), signature=UNARY,
       doc="+x, a copy"),
    Op("float_power", np.float_power,
       local_grad=lambda x, p, out: (np.where(np.logical_and(p == 0, x == 0), 0.0,
                                                       p * np.float_power(x, p - 1)),
                                     np.where(x == 0, 0.0, out * np.log(np.where(x == 0, 1.0,
                                                                                  x)))),
       signature=BINARY, domain=((0.0, None), (-3.0, 3.0)), dtypes=("float64",),
       doc="x ** p computed in float64 (np.float_power); the exponent's grad x ** p log(x)"),
    Op("floor_divide", np.floor_divide, local_grad=lambda a, b, out: (0.0, 0.0),
       signature=BINARY, sample=lambda: __import__(
           "gradledger_builtin.ufuncs", fromlist=["remainder_sample"]).remainder_sample(),
       doc="floor(a / b) (Python's //); grad 0 (none where a / b is an integer)"),
    Op("heaviside", np.heaviside, local_grad=lambda x, h0, out: (0.0, x == 0),
       signature=BINARY, kinks=((0.0,), ()),
       doc="0 for x < 0, h0 at 0, 1 for x > 0; grad 0 to x, 1 to h0 where x == 0"),
    Op("ptp", lambda x, axis=None, keepdims=False: np.ptp(x, axis=axis, keepdims=keepdims),
       vjp=ptp_vjp, signature=ANY, sample=lambda: __import__(
           "gradledger_builtin.reductions", fromlist=["distinct_sample"]).distinct_sample(),
       param_order=("axis", "out", "keepdims"),
       doc="max - min over axis (None: all); ties split the grad evenly"),
    Op("average", average, vjp=average_vjp, signature=ANY, sample=average_sample,
       doc="np.average with constant weights (None: the mean) over axis"),
    Op("trapezoid", trapezoid, vjp=trapezoid_vjp, signature=ANY, sample=trapezoid_sample,
       numpy_names=("trapz",),
       doc="np.trapezoid: the trapezoidal rule along axis, constant x or dx"),
    Op("frexp", np.frexp, vjp=frexp_vjp, signature="(*)->(*),(*)", sample=frexp_sample,
       doc="mantissa and (integer) exponent, x = m 2 ** e; d m / d x = 2 ** -e"),
    Op("vecdot", vecdot, vjp=vecdot_vjp, signature="(*),(*)->(*)", sample=vecdot_sample,
       doc="np.vecdot of real tensors: sum(a * b) along axis, broadcasting"),
    Op("matrix_transpose", lambda x: np.swapaxes(x, -1, -2),
       vjp=lambda out_grad, x, out: (np.swapaxes(out_grad, -1, -2),),
       signature="(m,n)->(n,m)", sample=core_sample("(m,n)->(n,m)"),
       doc="the last two axes swapped (np.matrix_transpose)"),
    Op("vector_norm", vector_norm, vjp=vector_norm_vjp, signature=ANY,
       sample=vector_norm_sample, kinks=((0.0,),),
       doc="np.linalg.vector_norm: any vector ord over the flattened x or axes"),
    Op("matrix_norm", lambda x, keepdims=False, ord="fro": np.linalg.matrix_norm(
        x, keepdims=keepdims, ord=ord), vjp=matrix_norm_vjp, signature="(*)->(*)",
       sample=matrix_norm_sample,
       doc="np.linalg.matrix_norm: a matrix norm of the last two axes (every ord)"),
]


# -- a last few: logical predicates, NaN-skipping extremes, medians, flat diagonals ----------


def _logical(name, binary):
    return Op(name, getattr(np, name), differentiable=False,
              signature=BINARY if binary else UNARY,
              doc=f"np.{name}, elementwise; a boolean tensor without grad")


def nanextreme_vjp(out_grad, x, out, axis=None, keepdims=False):
    """The grad goes to the extreme number (NaNs skipped); tied extremes share it evenly."""
    winners = (_data(x) == _data(_kept(out, x, axis, keepdims))) * np.result_type(
        _data(x)).type(1)
    share = _kept(out_grad, x, axis, keepdims) / np.sum(winners, axis=axis, keepdims=True)
    return (winners * share,)


def median(x, axis=None, keepdims=False):
    return np.median(x, axis=axis, keepdims=keepdims)


def median_vjp(out_grad, x, out, axis=None, keepdims=False):
    """The middle element gets the grad; of an even count the two middle ones half each
    (values tied with them share their places' grads evenly)."""
    data = _data(x)
    kept = _kept(out_grad, x, axis, keepdims)
    if axis is None:
        flat = np.reshape(data, (-1,))
        n = flat.size
        order = np.argsort(flat, kind="stable")
        weights = np.zeros(n, dtype=np.result_type(data))
        middle = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
        for k in middle:
            weights[order[k]] += 1.0 / len(middle)
        return (kept * np.reshape(weights, np.shape(x)),)
    axis = axis % np.ndim(x)
    moved = np.moveaxis(data, axis, -1)
    n = moved.shape[-1]
    order = np.argsort(moved, axis=-1, kind="stable")
    weights = np.zeros(moved.shape, dtype=np.result_type(data))
    middle = [n // 2] if n % 2 else [n // 2 - 1, n // 2]
    for k in middle:
        np.put_along_axis(weights, order[..., k:k + 1], 1.0 / len(middle), axis=-1)
    return (kept * np.moveaxis(weights, -1, axis),)


def median_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    from .reductions import _distinct_values

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
        axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
        return (_distinct_values(draw, shape),), {"axis": axis, "keepdims": draw(st.booleans())}

    return example()


def nan_distinct_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    from .reductions import _distinct_values, axis_params

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
        return (_distinct_values(draw, shape),), {"axis": draw(axis_params(len(shape))),
                                                  "keepdims": draw(st.booleans())}

    return example()


def diagflat_vjp(out_grad, x, out, k=0):
    """The k-th diagonal of the grad, back in x's shape."""
    return (np.reshape(np.diagonal(out_grad, k), np.shape(x)),)


def ediff1d(x, to_end=None, to_begin=None):
    if to_end is not None or to_begin is not None:
        raise OpCallError("to_end and to_begin are not supported: concatenate them yourself")
    return np.ediff1d(x)


def ediff1d_vjp(out_grad, x, out, to_end=None, to_begin=None):
    """np.diff of the flattened x: x_i gets g_(i-1) - g_i."""
    from .shape import _diff_once_vjp

    if np.size(x) < 2:
        return (np.zeros(np.shape(x), dtype=np.result_type(_data(x))),)
    return (np.reshape(_diff_once_vjp(out_grad, 0), np.shape(x)),)


def _matvec(x0, x1, /):
    """np.matvec (numpy >= 2.2) on an older numpy: the same product through matmul (its
    params named as the ufunc's, so the typed stub reads the same on every numpy)."""
    return np.matmul(x0, x1[..., None])[..., 0]


def _vecmat(x0, x1, /):
    """np.vecmat (numpy >= 2.2) of real arrays on an older numpy, through matmul."""
    return np.matmul(x0[..., None, :], x1)[..., 0, :]


def matvec_vjp(out_grad, a, v, out, needs_grad=(True, True)):
    """out = a @ v over the last axes, batched: a gets g v^T, v gets a^T g."""
    grad_a = unbroadcast(out_grad[..., :, np.newaxis] * v[..., np.newaxis, :], np.shape(a)) \
        if needs_grad[0] else None
    grad_v = unbroadcast(np.sum(a * out_grad[..., :, np.newaxis], axis=-2), np.shape(v)) \
        if needs_grad[1] else None
    return grad_a, grad_v


def vecmat_vjp(out_grad, v, a, out, needs_grad=(True, True)):
    """out = v @ a over the last axes, batched: v gets a g, a gets v g^T."""
    grad_v = unbroadcast(np.sum(a * out_grad[..., np.newaxis, :], axis=-1), np.shape(v)) \
        if needs_grad[0] else None
    grad_a = unbroadcast(v[..., :, np.newaxis] * out_grad[..., np.newaxis, :], np.shape(a)) \
        if needs_grad[1] else None
    return grad_v, grad_a


OPS += [
    *[_logical(name, binary) for name, binary in (
        ("logical_and", True), ("logical_or", True), ("logical_xor", True),
        ("logical_not", False))],
    Op("nanmax", lambda x, axis=None, keepdims=False: np.nanmax(x, axis=axis, keepdims=keepdims),
       vjp=nanextreme_vjp, signature=ANY, sample=nan_distinct_sample,
       param_order=("axis", "out", "keepdims"),
       doc="maximum over axis (None: all), NaNs skipped; ties share the grad evenly"),
    Op("nanmin", lambda x, axis=None, keepdims=False: np.nanmin(x, axis=axis, keepdims=keepdims),
       vjp=nanextreme_vjp, signature=ANY, sample=nan_distinct_sample,
       param_order=("axis", "out", "keepdims"),
       doc="minimum over axis (None: all), NaNs skipped; ties share the grad evenly"),
    Op("median", median, vjp=median_vjp, signature=ANY, sample=median_sample,
       param_order=("axis", "out", "overwrite_input", "keepdims"),
       doc="np.median over axis (None: all): the grad to the middle element (or the two "
           "middle ones, half each)"),
    Op("diagflat", lambda x, k=0: np.diagflat(x, k), vjp=diagflat_vjp, signature=ANY,
       sample=lambda: _small_with_k(), doc="the flattened x on the k-th diagonal of a "
                                             "square matrix"),
    Op("ediff1d", ediff1d, vjp=ediff1d_vjp, signature=ANY,
       doc="differences of the flattened x (no to_end, to_begin)"),
    Op("matvec", getattr(np, "matvec", _matvec), vjp=matvec_vjp, signature="(m,n),(n)->(m)",
       sample=core_sample("(m,n),(n)->(m)"),
       doc="np.matvec: matrix times vector over the last axes, batched"),
    Op("vecmat", getattr(np, "vecmat", _vecmat), vjp=vecmat_vjp, signature="(n),(n,m)->(m)",
       sample=core_sample("(n),(n,m)->(m)"),
       doc="np.vecmat of real tensors: vector times matrix over the last axes, batched"),
]


def _small_with_k():
    """Verifier hint for diagflat: up to 12 elements (its result is their count squared)
    and an offset k."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
        return (draw(hnp.arrays(np.float64, shape, elements=values)),), {
            "k": draw(st.integers(-2, 3))}

    return example()


def convolve(a, v, mode="full"):
    if np.ndim(a) != 1 or np.ndim(v) != 1 or not np.size(a) or not np.size(v):
        raise OpCallError(f"convolve takes two non-empty 1-D arrays; got shapes {np.shape(a)} "
                          f"and {np.shape(v)}")
    if mode not in ("full", "same", "valid"):
        raise OpCallError(f"mode must be 'full', 'same' or 'valid'; got {mode!r}")
    return np.convolve(a, v, mode)


def convolve_vjp(out_grad, a, v, out, mode="full", needs_grad=(True, True)):
    """The output's grad placed in the full convolution's positions (zeros elsewhere),
    then correlated with the other operand: x_i gets sum_k g_k y_(k-i)."""
    m, n = np.shape(a)[0], np.shape(v)[0]
    full = m + n - 1
    start = {"full": 0, "same": (min(m, n) - 1) // 2, "valid": min(m, n) - 1}[mode]
    length = np.shape(out_grad)[0]
    g = np.pad(out_grad, (start, full - start - length))
    grad_a = np.convolve(g, np.flip(v), "valid") if needs_grad[0] else None
    grad_v = np.convolve(g, np.flip(a), "valid") if needs_grad[1] else None
    return grad_a, grad_v


def convolve_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def operands(draw):
        a = draw(hnp.arrays(np.float64, draw(st.integers(1, 6)), elements=values))
        v = draw(hnp.arrays(np.float64, draw(st.integers(1, 6)), elements=values))
        return (a, v), {"mode": draw(st.sampled_from(["full", "same", "valid"]))}

    return operands()


def quantile(x, q, axis=None, method="linear", keepdims=False):
    """np.quantile with the default (linear) method; q a constant in [0, 1] (or several)."""
    if method != "linear":
        raise OpCallError(f"only method='linear' is supported; got method={method!r}")
    out = np.quantile(x, q, axis=axis, keepdims=keepdims)
    return np.asarray(out).astype(np.result_type(x), copy=False)


def quantile_vjp(out_grad, x, out, q, axis=None, method="linear", keepdims=False):
    """Linear interpolation between the sorted values at floor and ceil of q (n - 1): their
    elements get 1 - frac and frac of each quantile's grad (ties: numpy's stable order)."""
    data = _data(x)
    shape = np.shape(data)
    moved = np.reshape(data, (-1,)) if axis is None else np.moveaxis(data, axis, -1)
    n = moved.shape[-1]
    order = np.argsort(moved, axis=-1, kind="stable")
    qs = np.reshape(np.asarray(q, dtype=np.float64), (-1,))
    weights = np.zeros((len(qs),) + moved.shape, dtype=np.result_type(data))
    for j, qj in enumerate(qs):
        position = qj * (n - 1)
        low = min(int(np.floor(position)), n - 1)
        high = min(low + 1, n - 1)
        frac = position - low
        for place, share in ((low, 1.0 - frac), (high, frac)):
            w = np.zeros(moved.shape, dtype=weights.dtype)
            np.put_along_axis(w, order[..., place:place + 1], share, axis=-1)
            weights[j] += w
    if axis is None:
        weights = np.reshape(weights, (len(qs),) + shape)
        kept_shape = (1,) * len(shape)
    else:
        weights = np.moveaxis(weights, -1, axis % len(shape) + 1)
        kept_shape = tuple(1 if a == axis % len(shape) else d for a, d in enumerate(shape))
    g = np.reshape(out_grad, (len(qs),) + kept_shape)
    return (np.sum(g * weights, axis=0),)


def quantile_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    from .reductions import _distinct_values

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
        axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
        q = draw(st.floats(0.0, 1.0) | st.lists(st.floats(0.0, 1.0), min_size=1,
                                                 max_size=3).map(np.array))
        return (_distinct_values(draw, shape),), {"q": q, "axis": axis,
                                                  "keepdims": draw(st.booleans())}

    return example()


OPS += [
    Op("convolve", convolve, vjp=convolve_vjp, signature="(*),(*)->(*)",
       sample=convolve_sample,
       skip_variants={"broadcast operands": "its operands are two 1-D sequences whose lengths "
                      "define the result; they never broadcast"},
       doc="np.convolve of 1-D arrays, mode 'full', 'same' or 'valid'"),
    Op("quantile", quantile, vjp=quantile_vjp, signature=ANY, sample=quantile_sample,
       param_order=("q", "axis", "out", "overwrite_input", "method", "keepdims"),
       doc="np.quantile, linear method, q a constant: grads to the two sorted neighbours"),
]


def percentile(x, q, axis=None, method="linear", keepdims=False):
    """np.percentile: quantile at q / 100."""
    return quantile(x, np.asarray(q, dtype=np.float64) / 100.0, axis, method, keepdims)


def percentile_vjp(out_grad, x, out, q, axis=None, method="linear", keepdims=False):
    return quantile_vjp(out_grad, x, out, np.asarray(q, dtype=np.float64) / 100.0, axis,
                        method, keepdims)


OPS.append(
    Op("percentile", percentile, vjp=percentile_vjp, signature=ANY,
       sample=lambda: quantile_sample().map(
           lambda e: (e[0], {**e[1], "q": np.asarray(e[1]["q"]) * 100.0})),
       param_order=("q", "axis", "out", "overwrite_input", "method", "keepdims"),
       doc="np.percentile, linear method, q a constant in [0, 100]"),
)
