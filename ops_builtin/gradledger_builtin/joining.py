"""Joining and splitting: concatenate and stack take a sequence of tensors, split gives a list.

Their rules are numpy's own inverse moves: the grad of a concatenation is split back
into pieces of each input's size; the grad of a split is the concatenation of the
pieces' grads (zeros for a piece nobody used).
"""

import functools

import numpy as np
from gradledger.errors import OpCallError
from gradledger.extend import Op

JOIN = "[(*)]->(*)"


def concatenate_forward(*arrays, axis=0):
    return np.concatenate(arrays, axis=axis)


def concatenate_vjp(out_grad, *arrays, out, axis=0):
    if axis is None:  # numpy flattens every input first
        ends = np.cumsum([np.size(a) for a in arrays])[:-1]
        return tuple(np.reshape(g, np.shape(a))
                     for g, a in zip(np.split(out_grad, ends), arrays, strict=True))
    ends = np.cumsum([np.shape(a)[axis] for a in arrays])[:-1]
    return tuple(np.split(out_grad, ends, axis=axis))


def stack_forward(*arrays, axis=0):
    return np.stack(arrays, axis=axis)


def stack_vjp(out_grad, *arrays, out, axis=0):
    return tuple(np.moveaxis(out_grad, axis, 0))


def split_vjp(out_grad, x, out, indices_or_sections, axis=0):
    return (np.concatenate(out_grad, axis=axis),)


def split_out_shape(shape, indices_or_sections, axis=0):
    """numpy's rule: n equal sections, or the pieces x[a:b] between the given indices."""
    axis = axis % len(shape)
    size = shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        lengths = [size // indices_or_sections] * indices_or_sections
    else:
        edges = [0, *indices_or_sections, size]
        lengths = [len(range(size)[a:b]) for a, b in zip(edges, edges[1:], strict=False)]
    return tuple(shape[:axis] + (n,) + shape[axis + 1:] for n in lengths)


def _joined_sample(new_axis: bool):
    """Verifier hint for concatenate (new_axis False) and stack: 1 to 4 arrays that agree
    in every dimension but the joining axis (concatenate) or in all of them (stack), and
    an axis valid for them, negative ones included."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import array_shapes, arrays

    values = st.floats(-10, 10, allow_nan=False, allow_infinity=False, allow_subnormal=False)

    base_shapes = array_shapes(min_dims=0 if new_axis else 1, max_dims=3, max_side=4)
    counts, sides = st.integers(1, 4), st.integers(0, 4)
    array_of = functools.cache(lambda shape: arrays(np.float64, shape, elements=values))

    @st.composite
    def draw(draw_):
        shape = draw_(base_shapes)
        ndim = len(shape) + new_axis
        axis = draw_(st.integers(-ndim, ndim - 1))
        count = draw_(counts)
        shapes = []
        for _ in range(count):
            own = list(shape)
            if not new_axis:
                own[axis] = draw_(sides)
            shapes.append(tuple(own))
        parts = tuple(draw_(array_of(s)) for s in shapes)
        return parts, {"axis": axis}

    return draw()


def split_sample():
    """Verifier hint: an array of at least one dimension, an axis, and a number of equal
    sections that divides it or sorted split indices (empty pieces included)."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import array_shapes, arrays

    values = st.floats(-10, 10, allow_nan=False, allow_infinity=False, allow_subnormal=False)

    shapes = array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=5)
    array_of = functools.cache(lambda shape: arrays(np.float64, shape, elements=values))

    @functools.cache
    def splits(size):
        sections = [n for n in range(1, size + 1) if size % n == 0]
        indices = st.lists(st.integers(0, size), max_size=3).map(sorted).map(tuple)
        return st.sampled_from(sections) | indices

    @st.composite
    def draw(draw_):
        shape = draw_(shapes)
        axis = draw_(st.integers(-len(shape), len(shape) - 1))
        how = draw_(splits(shape[axis]))
        x = draw_(array_of(shape))
        return (x,), {"indices_or_sections": how, "axis": axis}

    return draw()


OPS = [
    Op("concatenate", concatenate_forward, vjp=concatenate_vjp, signature=JOIN,
       sample=lambda: _joined_sample(new_axis=False), numpy_names=("concat",),
       doc="join a sequence of tensors along an existing axis: gl.concatenate([a, b], axis=0)"),
    Op("stack", stack_forward, vjp=stack_vjp, signature=JOIN,
       sample=lambda: _joined_sample(new_axis=True),
       doc="join a sequence of same-shaped tensors along a new axis: gl.stack([a, b], axis=0)"),
    Op("split", lambda x, indices_or_sections, axis=0: np.split(x, indices_or_sections, axis),
       vjp=split_vjp, signature="(*)->[(*)]", out_shape=split_out_shape, sample=split_sample,
       doc="split into a list of tensors: n equal sections, or at the given indices"),
]


# -- numpy's other joins and splits (issue 21) ----------------------------------------------


def _lifted(name, shape):
    """The shape numpy gives one input of vstack/hstack/column_stack/dstack before joining,
    and the axis it joins along."""
    ndim = len(shape)
    if name == "vstack":
        return (shape if ndim >= 2 else (1,) * (2 - ndim) + shape), 0
    if name == "hstack":
        return (shape if ndim >= 1 else (1,)), (0 if ndim <= 1 else 1)
    if name == "column_stack":
        return (shape + (1,) if ndim == 1 else shape if ndim >= 2 else (1, 1)), 1
    # dstack: np.atleast_3d, then axis 2
    lifted = {0: (1, 1, 1), 1: (1,) + shape + (1,), 2: shape + (1,)}.get(ndim, shape)
    return lifted, 2


def _stacker(name):
    function = getattr(np, name)

    def forward(*arrays):
        return function(arrays)

    def typed_forward(*arrays, dtype=None, casting="same_kind"):
        """vstack and hstack take numpy's dtype and casting (np.row_stack passes them)."""
        if dtype is not None:
            raise OpCallError(f"{name}'s dtype is not supported: cast the result with "
                              f".astype({dtype!r})")
        return function(arrays, casting=casting)

    def vjp(out_grad, *arrays, out, dtype=None, casting="same_kind"):
        lifted = [_lifted(name, np.shape(a)) for a in arrays]
        axis = lifted[0][1]
        ends = np.cumsum([shape[axis] for shape, _ in lifted])[:-1]
        pieces = np.split(out_grad, [int(e) for e in ends], axis=axis)
        return tuple(np.reshape(p, np.shape(a)) for p, a in zip(pieces, arrays, strict=True))

    return (typed_forward if name in ("vstack", "hstack") else forward), vjp


def _stack_sample(name):
    """Verifier hint: 1 to 4 arrays that numpy's `name` joins."""

    def sample():
        from hypothesis import strategies as st
        from hypothesis.extra.numpy import arrays

        values = st.floats(-10, 10, allow_nan=False, allow_infinity=False,
                           allow_subnormal=False)

        @st.composite
        def draw(draw_):
            ndim = draw_(st.integers(1 if name == "column_stack" else 0, 3))
            if name == "column_stack":
                ndim = min(ndim, 2)
            base = [draw_(st.integers(1, 4)) for _ in range(ndim)]
            count = draw_(st.integers(1, 4))
            parts = []
            for _ in range(count):
                shape = list(base)
                lifted, axis = _lifted(name, tuple(base))
                if ndim and len(lifted) == ndim:  # joined along one of its own axes
                    shape[axis] = draw_(st.integers(1, 4))
                parts.append(draw_(arrays(np.float64, tuple(shape), elements=values)))
            return tuple(parts), {}

        return draw()

    return sample


def _splitter(name, axis_of):
    function = getattr(np, name)

    def forward(x, indices_or_sections, axis=None):
        axis = axis_of(np.ndim(x)) if axis is None else axis
        if name == "array_split":
            return np.array_split(x, indices_or_sections, axis)
        return function(x, indices_or_sections)

    def vjp(out_grad, x, out, indices_or_sections, axis=None):
        axis = axis_of(np.ndim(x)) if axis is None else axis
        return (np.concatenate(out_grad, axis=axis),)

    def out_shape(shape, indices_or_sections, axis=None):
        axis = axis_of(len(shape)) if axis is None else axis
        empty = np.broadcast_to(np.empty((), dtype=np.int8), shape)
        return tuple(p.shape for p in np.array_split(empty, indices_or_sections, axis))

    return forward, vjp, out_shape


def _split_sample(min_dims, axis_of):
    def sample():
        from hypothesis import strategies as st
        from hypothesis.extra.numpy import array_shapes, arrays

        values = st.floats(-10, 10, allow_nan=False, allow_infinity=False,
                           allow_subnormal=False)

        @st.composite
        def draw(draw_):
            shape = draw_(array_shapes(min_dims=min_dims, max_dims=3, min_side=1, max_side=5))
            axis = axis_of(len(shape))
            params = {}
            if axis is None:  # array_split: any axis, any number of sections
                axis = draw_(st.integers(-len(shape), len(shape) - 1))
                params["axis"] = axis
                sections = st.integers(1, 6)
            else:
                size = shape[axis]
                sections = st.sampled_from([n for n in range(1, size + 1) if size % n == 0])
            indices = st.lists(st.integers(0, shape[axis]), max_size=3).map(sorted).map(tuple)
            params["indices_or_sections"] = draw_(sections | indices)
            x = draw_(arrays(np.float64, shape, elements=values))
            return (x,), params

        return draw()

    return sample


for _name in ("vstack", "hstack", "column_stack", "dstack"):
    _forward, _vjp = _stacker(_name)
    OPS.append(Op(_name, _forward, vjp=_vjp, signature=JOIN, sample=_stack_sample(_name),
                  numpy_names=("row_stack",) if _name == "vstack" else (),
                  doc=f"np.{_name}: join a sequence of tensors"))

for _name, _axis_of, _min in (("array_split", lambda ndim: 0, 1),
                              ("hsplit", lambda ndim: 0 if ndim == 1 else 1, 1),
                              ("vsplit", lambda ndim: 0, 2), ("dsplit", lambda ndim: 2, 3)):
    _forward, _vjp, _shape = _splitter(_name, _axis_of)
    OPS.append(Op(_name, _forward, vjp=_vjp, signature="(*)->[(*)]", out_shape=_shape,
                  sample=_split_sample(_min, _axis_of if _name != "array_split" else
                                       (lambda ndim: None)),
                  doc=f"np.{_name}: a list of tensors; sections need not divide the axis"
                  if _name == "array_split" else f"np.{_name}: a list of tensors"))
