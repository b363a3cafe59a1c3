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


def pad(x, pad_width, mode="constant", constant_values=0):
    """x surrounded by constant_values, pad_width as np.pad's; only mode 'constant'."""
    if mode != "constant":
        raise OpCallError(f"only mode='constant' is supported; got mode={mode!r}")
    return np.pad(x, _pad_widths(x, pad_width), mode="constant", constant_values=constant_values)


def pad_vjp(out_grad, x, out, pad_width, mode="constant", constant_values=0):
    """The grad of the interior; the padding is constant and takes none."""
    widths = _pad_widths(x, pad_width)
    inside = tuple(slice(before, before + n)
                   for (before, _), n in zip(widths, np.shape(x), strict=True))
    return (out_grad[inside],)


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
    """pad_width as an int, a pair, or a pair per axis; either of two constants."""
    from hypothesis import strategies as st

    ndim = len(shapes[0])
    width = st.integers(0, 2)
    pair = st.tuples(width, width)
    return {"pad_width": width | pair | st.tuples(*[pair] * ndim),
            "constant_values": st.sampled_from([0.0, -1.5])}


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
       signature=ANY, params=transpose_params, doc="permute axes (None: reverse them)"),
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
       doc="surround with constant_values (default 0), pad_width as np.pad; mode 'constant'"),
    Op("tile", lambda x, reps: np.tile(x, reps), vjp=tile_vjp, signature=ANY,
       params=tile_params, doc="x repeated reps times along each axis, as np.tile"),
    Op("repeat", lambda x, repeats, axis=None: np.repeat(x, repeats, axis), vjp=repeat_vjp,
       signature=ANY, params=repeat_params,
       doc="each element repeated (an int, or one count per element) along axis (None: flat)"),
]
