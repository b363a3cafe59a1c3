"""Shape ops: they move, copy or pad numbers; their vjp moves the grads back (and sums
the copies: broadcast_to, tile, repeat).

Each takes numpy's name and argument order (`np.flip(t, 0)`, `x.swapaxes(0, 1)`), but
flatten, which numpy has only as a method, follows torch.flatten(x, start_dim, end_dim).
"""

import numpy as np
from gradledger.errors import OpCallError
from gradledger.extend import Op, call, unbroadcast

ANY = "(*)->(*)"


def _restore(out_grad, x):
    """The grad of an op that only changed the shape: out_grad in x's shape."""
    return (np.reshape(out_grad, np.shape(x)),)


def transpose_vjp(out_grad, x, out, axes=None):
    inverse = None if axes is None else tuple(np.argsort([a % np.ndim(x) for a in axes]))
    return (np.transpose(out_grad, inverse),)


def reshape_params(shapes):
    """Verifier hint: a target shape with the same number of elements."""
    from hypothesis import strategies as st

    shape = shapes[0]
    size = int(np.prod(shape))
    targets = {(size,), (1, size), (size, 1), tuple(reversed(shape)), (1, *shape), (-1,)}
    return {"shape": st.sampled_from(sorted(targets))}


def transpose_params(shapes):
    """Verifier hint: no axes (reverse them all) or any permutation, some axes negative."""
    from hypothesis import strategies as st

    ndim = len(shapes[0])
    permutations = st.permutations(range(ndim)).map(tuple)
    flips = st.lists(st.booleans(), min_size=ndim, max_size=ndim)

    def written_negative(pair):
        axes, negative = pair
        return tuple(a - ndim if n else a for a, n in zip(axes, negative, strict=True))

    return {"axes": st.none() | permutations | st.tuples(permutations, flips).map(written_negative)}


def squeeze_vjp(out_grad, x, out, axis=None):
    return _restore(out_grad, x)


def expand_dims_vjp(out_grad, x, out, axis):
    return _restore(out_grad, x)


def broadcast_to_vjp(out_grad, x, out, shape):
    """Every copy's grad, summed back into the element it copied."""
    return (unbroadcast(out_grad, np.shape(x)),)


def flip_vjp(out_grad, x, out, axis=None):
    return (np.flip(out_grad, axis),)


def swapaxes_vjp(out_grad, x, out, axis1, axis2):
    return (np.swapaxes(out_grad, axis1, axis2),)


def moveaxis_vjp(out_grad, x, out, source, destination):
    return (np.moveaxis(out_grad, destination, source),)


def flatten(x, start_dim=0, end_dim=-1):
    """Axes start_dim..end_dim (inclusive, negative ones counted from the end) merged into
    one, as torch.flatten; x.flatten() is 1-D, as numpy's method."""
    shape = np.shape(x)
    if not shape:
        return np.reshape(x, (1,))
    ndim = len(shape)
    start, end = start_dim % ndim, end_dim % ndim
    if not (-ndim <= start_dim < ndim and -ndim <= end_dim < ndim) or start > end:
        raise OpCallError(
            f"start_dim {start_dim} and end_dim {end_dim} must be axes of a {ndim}-d array "
            "with start_dim at or before end_dim"
        )
    return np.reshape(x, shape[:start] + (-1,) + shape[end + 1:])


def flatten_vjp(out_grad, x, out, start_dim=0, end_dim=-1):
    return _restore(out_grad, x)


# -- padding and copies ----------------------------------------------------------------------


def _pad_widths(x, pad_width):
    """numpy's pad_width forms (n, (before, after), ((b0, a0), (b1, a1), ...)) per axis."""
    widths = np.broadcast_to(np.asarray(pad_width, dtype=np.int64), (np.ndim(x), 2))
    if np.any(widths < 0):
        raise OpCallError(f"pad widths must be >= 0; got {pad_width!r}")
    return widths


COPYING_MODES = ("edge", "reflect", "symmetric", "wrap")
"""np.pad's modes that fill the border with copies of x's own elements."""


def _check_pad_mode(x, mode, widths):
    if mode != "constant" and mode not in COPYING_MODES:
        raise OpCallError(f"mode must be 'constant' or one of {COPYING_MODES}; got {mode!r}")
    if mode != "constant" and any(n == 0 and (b or a) for (b, a), n in
                                  zip(widths, np.shape(x), strict=True)):
        raise OpCallError(f"mode {mode!r} cannot pad an empty axis; got shape {np.shape(x)}")


def pad(x, pad_width, mode="constant", constant_values=0):
    """x surrounded by constant_values (mode 'constant'), or by copies of its own elements
    (modes 'edge', 'reflect', 'symmetric', 'wrap'), pad_width as np.pad's."""
    widths = _pad_widths(x, pad_width)
    _check_pad_mode(x, mode, widths)
    if mode == "constant":
        return np.pad(x, widths, mode="constant", constant_values=constant_values)
    return np.pad(x, widths, mode=mode)  # constant_values is read by mode 'constant' only


def _pad_sources(n, before, after, mode):
    """Which element of an axis of length n each padded place copies: np.pad of the
    positions themselves (the copying modes only move elements)."""
    return np.pad(np.arange(n), (before, after), mode=mode)


def pad_vjp(out_grad, x, out, pad_width, mode="constant", constant_values=0):
    """Constant: the grad of the interior (the padding takes none). The copying modes: per
    axis, every place's grad summed onto the element it copies (a product with a 0/1
    table, so it runs on Tensors too)."""
    widths = _pad_widths(x, pad_width)
    if mode == "constant":
        inside = tuple(slice(before, before + n)
                       for (before, _), n in zip(widths, np.shape(x), strict=True))
        return (out_grad[inside],)
    g = out_grad
    dtype = np.result_type(x)
    for axis in reversed(range(np.ndim(x))):
        (before, after), n = widths[axis], np.shape(x)[axis]
        if not before and not after:
            continue
        table = np.eye(n, dtype=dtype)[_pad_sources(n, before, after, mode)]
        g = np.moveaxis(np.moveaxis(g, axis, -1) @ table, -1, axis)
    return (g,)


def tile_vjp(out_grad, x, out, reps):
    """Each copy's grad summed: out_grad viewed as (reps_0, n_0, reps_1, n_1, ...)."""
    reps = (reps,) if np.ndim(reps) == 0 else tuple(reps)
    ndim = max(np.ndim(x), len(reps))
    shape = (1,) * (ndim - np.ndim(x)) + np.shape(x)
    reps = (1,) * (ndim - len(reps)) + reps
    paired = np.reshape(out_grad, [size for pair in zip(reps, shape, strict=True)
                                   for size in pair])
    return (np.reshape(np.sum(paired, axis=tuple(range(0, 2 * ndim, 2))), np.shape(x)),)


def repeat_vjp(out_grad, x, out, repeats, axis=None):
    """Each element's copies' grads, summed (an element repeated 0 times gets 0): an int
    count by a reshape, counts per element by scatter_add (getitem's transpose)."""
    shape = np.shape(x)
    if axis is None:
        axis, n = 0, int(np.prod(shape, dtype=np.int64))
    else:
        axis, n = axis % len(shape), shape[axis % len(shape)]
    counts = np.broadcast_to(np.asarray(repeats, dtype=np.int64), (n,))
    g = np.moveaxis(out_grad, axis, -1)
    if np.ndim(repeats) == 0:
        copies = int(counts[0]) if n else 0
        grad = np.sum(np.reshape(g, np.shape(g)[:-1] + (n, copies)), axis=-1)
    else:  # each copy's grad added into the element it copies (scatter_add, exact)
        owner = np.repeat(np.arange(n), counts)
        grad = call("scatter_add", g, index=(Ellipsis, owner), shape=np.shape(g)[:-1] + (n,))
    return (np.reshape(np.moveaxis(grad, -1, axis), shape),)


# -- verifier hints ----------------------------------------------------------------------------


def squeeze_params(shapes):
    """Verifier hint: None, or any set of the size-1 axes (negative ones too)."""
    from hypothesis import strategies as st

    shape = shapes[0]
    ones = [a for a, n in enumerate(shape) if n == 1]
    choices = st.none()
    if ones:
        picked = st.lists(st.sampled_from(ones), min_size=1, unique=True)
        written = st.tuples(picked, st.booleans()).map(
            lambda p: tuple(a - len(shape) if p[1] else a for a in p[0]))
        choices = choices | written | st.sampled_from(ones)
    return {"axis": choices}


def expand_dims_params(shapes):
    """Verifier hint: one new axis anywhere, or two (negative ones too)."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import valid_tuple_axes

    ndim = len(shapes[0])
    pairs = valid_tuple_axes(ndim + 2, min_size=2, max_size=2)
    return {"axis": st.integers(-ndim - 1, ndim) | pairs}


def broadcast_to_params(shapes):
    """Verifier hint: new leading axes, and size-1 axes stretched."""
    from hypothesis import strategies as st

    shape = shapes[0]
    lead = st.lists(st.integers(1, 3), max_size=2).map(tuple)
    stretched = st.tuples(*[st.integers(1, 3) if n == 1 else st.just(n) for n in shape])
    return {"shape": st.tuples(lead, stretched).map(lambda p: p[0] + p[1])}


def any_axes_params(shapes):
    """Verifier hint: None, one axis or several (negative ones too)."""
    from .reductions import axis_params

    return {"axis": axis_params(len(shapes[0]))}


def pad_params(shapes):
    """pad_width as an int, a pair, or a pair per axis; either of two constants; every
    mode (the copying ones need elements to copy: no empty axis)."""
    from hypothesis import strategies as st

    ndim = len(shapes[0])
    width = st.integers(0, 2)
    pair = st.tuples(width, width)
    modes = ("constant",) + (COPYING_MODES if all(shapes[0]) else ())
    return {"pad_width": width | pair | st.tuples(*[pair] * ndim),
            "constant_values": st.sampled_from([0.0, -1.5]), "mode": st.sampled_from(modes)}


def tile_params(shapes):
    """Verifier hint: reps an int, or a tuple shorter than, as long as or longer than x's ndim."""
    from hypothesis import strategies as st

    return {"reps": st.integers(1, 3) | st.lists(st.integers(1, 3), max_size=4).map(tuple)}


def repeat_params(shapes):
    """Verifier hint: an int count (0 too), or one count per element along axis."""
    from hypothesis import strategies as st

    shape = shapes[0]
    ndim = len(shape)
    size = int(np.prod(shape, dtype=np.int64))

    @st.composite
    def counts_and_axis(draw):
        axis = draw(st.none() | st.integers(-ndim, ndim - 1)) if ndim else None
        n = size if axis is None else shape[axis]
        per_element = st.lists(st.integers(0, 3), min_size=n, max_size=n)
        return draw(st.integers(0, 3) | per_element), axis

    drawn = st.shared(counts_and_axis(), key=("repeat", shape))
    return {"repeats": drawn.map(lambda p: p[0]), "axis": drawn.map(lambda p: p[1])}


def with_axes(params):
    """Verifier hint for ops that need an axis: arrays of at least one dimension (numpy has
    none to name in a 0-d array), params from `params(shapes)`."""

    def sample():
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp

        shapes = hnp.array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4)
        values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)
        by_shape = {}  # params(shapes)'s strategies, built once per shape, not per example

        @st.composite
        def example(draw):
            shape = draw(shapes)
            x = draw(hnp.arrays(np.float64, shape, elements=values))
            if shape not in by_shape:
                by_shape[shape] = params((shape,))
            return (x,), {name: draw(strategy) for name, strategy in by_shape[shape].items()}

        return example()

    return sample


def swapaxes_params(shapes):
    """Any two axes (negative ones too), maybe the same one."""
    from hypothesis import strategies as st

    ndim = len(shapes[0])
    return {"axis1": st.integers(-ndim, ndim - 1), "axis2": st.integers(-ndim, ndim - 1)}


def moveaxis_params(shapes):
    """One axis moved anywhere, or several (as many sources as destinations)."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import valid_tuple_axes

    ndim = len(shapes[0])
    counts = st.integers(1, ndim)
    axes = {n: valid_tuple_axes(ndim, min_size=n, max_size=n) for n in range(1, ndim + 1)}

    @st.composite
    def moves(draw):
        count = draw(counts)
        source = draw(axes[count])
        destination = draw(axes[count])
        return (source[0], destination[0]) if count == 1 else (source, destination)

    drawn = st.shared(moves(), key=("moveaxis", ndim))
    return {"source": drawn.map(lambda p: p[0]), "destination": drawn.map(lambda p: p[1])}


def flatten_params(shapes):
    """Verifier hint: any start_dim at or before end_dim, negative ones too."""
    from hypothesis import strategies as st

    ndim = len(shapes[0])
    if not ndim:
        return {"start_dim": st.just(0), "end_dim": st.just(-1)}
    drawn = st.shared(st.tuples(st.integers(0, ndim - 1), st.integers(0, ndim - 1)).map(sorted),
                      key=("flatten", ndim))
    return {"start_dim": drawn.map(lambda p: p[0]),
            "end_dim": drawn.map(lambda p: p[1] - ndim if p[1] % 2 else p[1])}


OPS = [
    Op("reshape", lambda x, shape: np.reshape(x, shape),
       vjp=lambda out_grad, x, out, shape: (np.reshape(out_grad, np.shape(x)),),
       signature=ANY, params=reshape_params, doc="the same numbers in a new shape"),
    Op("transpose", lambda x, axes=None: np.transpose(x, axes), vjp=transpose_vjp,
       signature=ANY, params=transpose_params, numpy_names=("permute_dims",),
       doc="permute axes (None: reverse them)"),
    Op("squeeze", lambda x, axis=None: np.squeeze(x, axis), vjp=squeeze_vjp, signature=ANY,
       params=squeeze_params, doc="drop size-1 axes (None: all of them)"),
    Op("expand_dims", lambda x, axis: np.expand_dims(x, axis), vjp=expand_dims_vjp,
       signature=ANY, params=expand_dims_params, doc="insert size-1 axes at axis (int or tuple)"),
    Op("broadcast_to", lambda x, shape: np.broadcast_to(x, shape), vjp=broadcast_to_vjp,
       signature=ANY, params=broadcast_to_params,
       doc="x broadcast to shape (a read-only view); the copies' grads are summed"),
    Op("flip", lambda x, axis=None: np.flip(x, axis), vjp=flip_vjp, signature=ANY,
       params=any_axes_params, doc="reverse the order along axis (None: every axis)"),
    Op("swapaxes", lambda x, axis1, axis2: np.swapaxes(x, axis1, axis2), vjp=swapaxes_vjp,
       signature=ANY, sample=with_axes(swapaxes_params), doc="interchange two axes"),
    Op("moveaxis", lambda x, source, destination: np.moveaxis(x, source, destination),
       vjp=moveaxis_vjp, signature=ANY, sample=with_axes(moveaxis_params),
       doc="move axes (int or tuple) from source to destination, the others keep their order"),
    Op("flatten", flatten, vjp=flatten_vjp, signature=ANY, params=flatten_params,
       doc="merge axes start_dim..end_dim into one (default all: 1-D), as torch.flatten"),
    Op("pad", pad, vjp=pad_vjp, signature=ANY, sample=with_axes(pad_params),
       param_order=("pad_width", "mode"),
       doc="surround with constant_values (default 0), or copies of the edge ('edge', "
           "'reflect', 'symmetric', 'wrap'), pad_width as np.pad"),
    Op("tile", lambda x, reps: np.tile(x, reps), vjp=tile_vjp, signature=ANY,
       params=tile_params, doc="x repeated reps times along each axis, as np.tile"),
    Op("repeat", lambda x, repeats, axis=None: np.repeat(x, repeats, axis), vjp=repeat_vjp,
       signature=ANY, params=repeat_params,
       doc="each element repeated (an int, or one count per element) along axis (None: flat)"),
]


# -- more of numpy's shape functions (issue 21) -------------------------------------------------


def roll_vjp(out_grad, x, out, shift, axis=None):
    """Rolled back by the same shift."""
    back = tuple(-s for s in shift) if isinstance(shift, (tuple, list)) else -shift
    return (np.roll(out_grad, back, axis),)


def rot90_vjp(out_grad, x, out, k=1, axes=(0, 1)):
    return (np.rot90(out_grad, -k, axes),)


def _diff_once_vjp(g, axis):
    """The transpose of one difference along axis: x_i gets g_(i-1) - g_i."""
    g = np.moveaxis(g, axis, -1)
    zero = np.zeros(np.shape(g)[:-1] + (1,), dtype=np.result_type(_data(g)))
    padded = np.concatenate([zero, g, zero], axis=-1)
    return np.moveaxis(padded[..., :-1] - padded[..., 1:], -1, axis)


def diff(x, n=1, axis=-1):
    """np.diff without prepend/append (refused: give them as tensors to concatenate)."""
    if not isinstance(n, (int, np.integer)) or n < 0:
        raise OpCallError(f"n must be a non-negative int; got {n!r}")
    return np.diff(x, n, axis)


def diff_vjp(out_grad, x, out, n=1, axis=-1):
    if np.shape(x)[axis] <= n:  # the result is empty: nothing reached x
        return (np.zeros(np.shape(x), dtype=np.result_type(_data(x))),)
    grad = out_grad
    for _ in range(n):
        grad = _diff_once_vjp(grad, axis)
    return (grad,)


def _others_cumprod(x):
    """table[..., i, j] = prod of x[..., k] for k <= j, k != i: x with x_i set to 1, run
    cumprod; no division, so zeros get exact grads."""
    k = np.shape(x)[-1]
    table = np.where(np.eye(k, dtype=bool), 1.0, x[..., np.newaxis, :])
    return np.cumprod(table, axis=-1)


def cumprod(x, axis=None):
    return np.cumprod(x, axis=axis)


def cumprod_vjp(out_grad, x, out, axis=None):
    """d out_j / d x_i = prod_(k <= j, k != i) x_k for j >= i. Without zeros, out_j / x_i
    summed by a running sum, O(K); with zeros (or on Tensors, for create_graph=True) an
    O(K**2) table, exact with zeros, differentiable (the table's cumprod is this op again)."""
    shape = np.shape(x)
    if axis is None:
        moved, g = np.reshape(x, (-1,)), np.reshape(out_grad, (-1,))
    else:
        moved, g = np.moveaxis(x, axis, -1), np.moveaxis(out_grad, axis, -1)
    k = np.shape(moved)[-1]
    if isinstance(moved, np.ndarray) and np.all(moved != 0):
        # no zeros: sum_(j >= i) g_j out_j / x_i, O(K) (a running sum from the end)
        out_moved = np.cumprod(moved, axis=-1)
        tail = np.flip(np.cumsum(np.flip(g * out_moved, -1), axis=-1), -1)
        grad = tail / moved
    else:
        upper = np.triu(np.ones((k, k), dtype=np.result_type(x)))  # j >= i
        grad = np.sum(_others_cumprod(moved) * upper * g[..., np.newaxis, :], axis=-1)
    if axis is None:
        return (np.reshape(grad, shape),)
    return (np.moveaxis(grad, -1, axis),)


def sort(x, axis=-1, kind=None, order=None):
    """np.sort, stable (a tie keeps the order of the elements, so its grads go back to the
    element numpy put there). Saves the permutation that sorts x (its argsort), so the
    rule scatters the grads back without sorting again and keeps neither x nor the output."""
    if order is not None:
        raise OpCallError("order= sorts structured arrays; a Tensor holds plain numbers")
    if axis is None:
        x = np.reshape(x, (-1,))
        axis = 0
    index = np.argsort(x, axis=axis, kind="stable")
    return np.take_along_axis(x, index, axis=axis), (index,)


def sort_vjp(out_grad, x, out, saved, axis=-1, kind=None, order=None):
    """Each sorted place's grad goes back where its element came from, by the permutation
    the forward saved: scattered in one pass on arrays; on Tensors (a rule being
    differentiated) a take_along_axis by the inverse permutation (differentiable: that
    op's vjp is a scatter)."""
    (index,) = saved
    along = 0 if axis is None else axis
    if isinstance(out_grad, np.ndarray):
        grad = np.empty(out_grad.shape, out_grad.dtype)
        np.put_along_axis(grad, index, out_grad, axis=along)
        return (np.reshape(grad, np.shape(x)),)
    inverse = np.argsort(index, axis=along)
    return (np.reshape(np.take_along_axis(out_grad, inverse, axis=along), np.shape(x)),)


def _data(x):
    """The numbers of x (a Tensor's data; an array as is), for integer index computations
    that take no gradient."""
    return x if isinstance(x, (np.ndarray, np.generic, list, tuple, int, float)) else x.data


def _take_index(ndim, indices, axis):
    """The fancy index that x[index] reads as np.take(x, indices, axis)."""
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise OpCallError(f"indices must be integers; got dtype {indices.dtype}")
    if axis is None:
        return indices
    return (slice(None),) * (axis % ndim) + (indices,)


def take(x, indices, axis=None, mode="raise"):
    """np.take: elements (axis None: of the flattened x) at integer indices; repeats allowed."""
    if mode != "raise":
        raise OpCallError(f"only mode='raise' is supported; got mode={mode!r}")
    if axis is None:
        return np.reshape(x, (-1,))[_take_index(np.ndim(x), indices, None)]
    return x[_take_index(np.ndim(x), indices, axis)]


def take_vjp(out_grad, x, out, indices, axis=None, mode="raise"):
    """Each taken element's grad added back where it was read (repeats accumulate)."""
    index = _take_index(np.ndim(x), indices, axis)
    if axis is None:
        flat = call("scatter_add", out_grad, index=index, shape=(int(np.size(x)),))
        return (np.reshape(flat, np.shape(x)),)
    return (call("scatter_add", out_grad, index=index, shape=np.shape(x)),)


def _along_axis_index(indices, axis, ndim):
    """The fancy index x[index] that is np.take_along_axis(x, indices, axis)."""
    indices = np.asarray(indices)
    if indices.dtype.kind not in "iu":
        raise OpCallError(f"indices must be integers; got dtype {indices.dtype}")
    if indices.ndim != ndim:
        raise OpCallError(f"indices must have as many dimensions as x ({ndim}); got "
                          f"{indices.ndim}")
    axis = axis % ndim
    shape = indices.shape
    grids = [np.arange(n).reshape((1,) * a + (n,) + (1,) * (ndim - a - 1))
             for a, n in enumerate(shape)]
    grids[axis] = indices
    return tuple(grids)


def take_along_axis(x, indices, axis):
    if axis is None:
        return np.take_along_axis(np.reshape(x, (-1,)), np.asarray(indices), 0)
    return np.take_along_axis(x, np.asarray(indices), axis)


def take_along_axis_vjp(out_grad, x, indices, out, axis):
    if axis is None:
        index = _along_axis_index(np.reshape(_data(indices), (-1,)), 0, 1)
        flat = call("scatter_add", out_grad, index=index, shape=(int(np.size(x)),))
        return np.reshape(flat, np.shape(x)), None
    index = _along_axis_index(_data(indices), axis, np.ndim(x))
    return call("scatter_add", out_grad, index=index, shape=np.shape(x)), None


def trace(x, offset=0, axis1=0, axis2=1):
    return np.trace(x, offset, axis1, axis2)


def _diagonal_mask(x, offset, axis1, axis2):
    """mask[i, r, c] = 1 where (r, c) is the i-th element of the offset diagonal."""
    n, m = np.shape(x)[axis1], np.shape(x)[axis2]
    count = max(0, min(n + min(offset, 0), m - max(offset, 0)))
    i = np.arange(count)[:, np.newaxis, np.newaxis]
    rows = np.arange(n)[np.newaxis, :, np.newaxis]
    cols = np.arange(m)[np.newaxis, np.newaxis, :]
    on = (rows == i + max(-offset, 0)) & (cols == i + max(offset, 0))
    return on.astype(np.result_type(x))


def trace_vjp(out_grad, x, out, offset=0, axis1=0, axis2=1):
    """1 on the offset diagonal of axes (axis1, axis2), times the grad of each trace."""
    n, m = np.shape(x)[axis1], np.shape(x)[axis2]
    eye = np.eye(n, m, k=offset, dtype=np.result_type(x))
    spread = out_grad[..., np.newaxis, np.newaxis] * eye
    return (np.moveaxis(spread, (-2, -1), (axis1, axis2)),)


def diagonal(x, offset=0, axis1=0, axis2=1):
    return np.diagonal(x, offset, axis1, axis2)


def diagonal_vjp(out_grad, x, out, offset=0, axis1=0, axis2=1):
    """Each diagonal element's grad back on its place: an einsum with a 0/1 mask."""
    mask = _diagonal_mask(x, offset, axis1, axis2)
    spread = np.einsum("...i,irc->...rc", out_grad, mask)
    return (np.moveaxis(spread, (-2, -1), (axis1 % np.ndim(x), axis2 % np.ndim(x))),)


def diag(x, k=0):
    if np.ndim(x) not in (1, 2):
        raise OpCallError(f"diag takes a 1-D or 2-D array; got {np.ndim(x)}-D")
    return np.diag(x, k)


def diag_vjp(out_grad, x, out, k=0):
    """A 1-D x was put on the k-th diagonal: read it back. A 2-D x's diagonal was read:
    put the grads back (diagonal's rule)."""
    if np.ndim(x) == 1:
        return (np.diagonal(out_grad, k),)
    return diagonal_vjp(out_grad, x, out, k, 0, 1)


def atleast(ndim):
    function = {1: np.atleast_1d, 2: np.atleast_2d, 3: np.atleast_3d}[ndim]
    return lambda x: function(x)


# -- verifier hints for these ------------------------------------------------------------------


def roll_params(shapes):
    """A shift (maybe negative, maybe longer than the axis) along None, one axis or several."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import valid_tuple_axes

    ndim = len(shapes[0])

    @st.composite
    def shift_and_axis(draw):
        if not ndim or draw(st.booleans()):
            return draw(st.integers(-5, 5)), None
        axes = draw(valid_tuple_axes(ndim, min_size=1))
        if len(axes) == 1 and draw(st.booleans()):
            return draw(st.integers(-5, 5)), axes[0]
        return tuple(draw(st.integers(-5, 5)) for _ in axes), axes

    drawn = st.shared(shift_and_axis(), key=("roll", ndim))
    return {"shift": drawn.map(lambda p: p[0]), "axis": drawn.map(lambda p: p[1])}


def at_least_dims(n, params=None):
    """Verifier hint: arrays of at least n dimensions, params from `params(shapes)`."""

    def sample():
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp

        @st.composite
        def example(draw):
            shape = draw(hnp.array_shapes(min_dims=n, max_dims=max(n, 3) + 1, max_side=4))
            values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)
            x = draw(hnp.arrays(np.float64, shape, elements=values))
            drawn = params((shape,)) if params else {}
            return (x,), {name: draw(strategy) for name, strategy in drawn.items()}

        return example()

    return sample


def rot90_params(shapes):
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import valid_tuple_axes

    ndim = len(shapes[0])
    return {"k": st.integers(-5, 5), "axes": valid_tuple_axes(ndim, min_size=2, max_size=2)}


def diff_params(shapes):
    from hypothesis import strategies as st

    ndim = len(shapes[0])
    return {"n": st.integers(0, 3), "axis": st.integers(-ndim, ndim - 1)}


def two_axes_params(offset_name):
    def params(shapes):
        from hypothesis import strategies as st
        from hypothesis.extra.numpy import valid_tuple_axes

        ndim = len(shapes[0])
        axes = st.shared(valid_tuple_axes(ndim, min_size=2, max_size=2), key=("2axes", ndim))
        return {offset_name: st.integers(-3, 3), "axis1": axes.map(lambda a: a[0]),
                "axis2": axes.map(lambda a: a[1])}

    return params


def diag_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=2, max_side=4))
        values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)
        x = draw(hnp.arrays(np.float64, shape, elements=values))
        return (x,), {"k": draw(st.integers(-3, 3))}

    return example()


def sort_params(shapes):
    from hypothesis import strategies as st

    ndim = len(shapes[0])
    return {"axis": st.none() | st.integers(-ndim, ndim - 1)}


def distinct_sample(params):
    """Verifier hint for sort: values at least 0.1 apart (a tie is a kink), any shape."""

    def sample():
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp

        from .reductions import _distinct_values

        @st.composite
        def example(draw):
            shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
            x = _distinct_values(draw, shape)
            drawn = params((shape,))
            return (x,), {name: draw(strategy) for name, strategy in drawn.items()}

        return example()

    return sample


def take_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
        values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)
        x = draw(hnp.arrays(np.float64, shape, elements=values))
        axis = draw(st.none() | st.integers(-len(shape), len(shape) - 1))
        n = int(np.prod(shape)) if axis is None else shape[axis]
        index_shape = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
        indices = draw(hnp.arrays(np.int64, index_shape, elements=st.integers(-n, n - 1)))
        return (x,), {"indices": indices, "axis": axis}

    return example()


def take_along_axis_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=4))
        values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)
        x = draw(hnp.arrays(np.float64, shape, elements=values))
        axis = draw(st.integers(-len(shape), len(shape) - 1))
        index_shape = list(shape)
        index_shape[axis] = draw(st.integers(1, 5))
        indices = draw(hnp.arrays(np.int64, tuple(index_shape),
                                  elements=st.integers(0, shape[axis] - 1)))
        return (x, indices), {"axis": axis}

    return example()


def single_axis(shapes):
    from .reductions import single_axis_params

    return single_axis_params(shapes)


OPS += [
    Op("ravel", lambda x: np.ravel(x), vjp=lambda out_grad, x, out: _restore(out_grad, x),
       signature=ANY, doc="the numbers in one dimension, in C order"),
    Op("roll", lambda x, shift, axis=None: np.roll(x, shift, axis), vjp=roll_vjp,
       signature=ANY, params=roll_params,
       doc="elements shifted along axis (None: the flattened x), wrapping around"),
    Op("fliplr", np.fliplr, vjp=lambda out_grad, x, out: (np.fliplr(out_grad),),
       signature=ANY, sample=at_least_dims(2), doc="reverse the order along axis 1"),
    Op("flipud", np.flipud, vjp=lambda out_grad, x, out: (np.flipud(out_grad),),
       signature=ANY, sample=at_least_dims(1), doc="reverse the order along axis 0"),
    Op("rot90", lambda x, k=1, axes=(0, 1): np.rot90(x, k, axes), vjp=rot90_vjp,
       signature=ANY, sample=at_least_dims(2, rot90_params),
       doc="rotate by 90 degrees k times in the plane of axes"),
    Op("atleast_1d", atleast(1), vjp=lambda out_grad, x, out: _restore(out_grad, x),
       signature=ANY, doc="x viewed with at least 1 dimension (one array per call)"),
    Op("atleast_2d", atleast(2), vjp=lambda out_grad, x, out: _restore(out_grad, x),
       signature=ANY, doc="x viewed with at least 2 dimensions (one array per call)"),
    Op("atleast_3d", atleast(3), vjp=lambda out_grad, x, out: _restore(out_grad, x),
       signature=ANY, doc="x viewed with at least 3 dimensions (one array per call)"),
    Op("diff", diff, vjp=diff_vjp, signature=ANY, sample=at_least_dims(1, diff_params),
       doc="n-th differences along axis (no prepend/append)"),
    Op("cumprod", cumprod, vjp=cumprod_vjp, signature=ANY, params=single_axis,
       domain=((-1.08, 1.08),),  # as prod's: a stretched input's products stay finite
       numpy_names=("cumulative_prod",),
       doc="running products along axis (None: of the flattened x); exact grads with zeros"),
    Op("sort", sort, vjp=sort_vjp, signature=ANY, sample=distinct_sample(sort_params),
       param_order=("axis", "kind", "order"), saves=True, saved_constants=True, reads=(),
       doc="sorted along axis (None: flattened), stable: a tie's grads go back to the "
           "elements in the order numpy placed them"),
    Op("argsort", lambda x, axis=-1, kind=None, order=None: np.argsort(x, axis, kind="stable"),
       differentiable=False, signature=ANY, sample=distinct_sample(sort_params),
       doc="the indices that sort x along axis (stable); no grad"),
    Op("take", take, vjp=take_vjp, signature=ANY, sample=take_sample,
       doc="elements at integer indices along axis (None: flattened), as np.take; repeated "
           "indices accumulate their grads"),
    Op("take_along_axis", take_along_axis, vjp=take_along_axis_vjp, signature="(*),(*)->(*)",
       constants=(1,), sample=take_along_axis_sample,
       doc="x at integer indices along axis (indices as many dims as x), as "
           "np.take_along_axis; repeats accumulate"),
    Op("tril", lambda x, k=0: np.tril(x, k), vjp=lambda out_grad, x, out, k=0: (
        np.tril(out_grad, k),), signature=ANY, sample=at_least_dims(2, lambda s: {
            "k": __import__("hypothesis").strategies.integers(-3, 3)}),
       doc="lower triangle (on and below the k-th diagonal) of the last two axes, the rest 0"),
    Op("triu", lambda x, k=0: np.triu(x, k), vjp=lambda out_grad, x, out, k=0: (
        np.triu(out_grad, k),), signature=ANY, sample=at_least_dims(2, lambda s: {
            "k": __import__("hypothesis").strategies.integers(-3, 3)}),
       doc="upper triangle (on and above the k-th diagonal) of the last two axes, the rest 0"),
    Op("trace", trace, vjp=trace_vjp, signature=ANY,
       sample=at_least_dims(2, two_axes_params("offset")),
       doc="sum along the offset diagonal of axes axis1, axis2"),
    Op("diagonal", diagonal, vjp=diagonal_vjp, signature=ANY,
       sample=at_least_dims(2, two_axes_params("offset")),
       doc="the offset diagonal of axes axis1, axis2, as the last axis"),
    Op("diag", diag, vjp=diag_vjp, signature=ANY, sample=diag_sample,
       doc="a 1-D x on the k-th diagonal of a square matrix; of a 2-D x, its k-th diagonal"),
]

