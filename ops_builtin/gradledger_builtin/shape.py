"""Shape ops: reshape and transpose move numbers around; their vjp moves grads back."""

import numpy as np
from gradledger.extend import Op

ANY = "(*)->(*)"


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


OPS = [
    Op("reshape", lambda x, shape: np.reshape(x, shape),
       vjp=lambda out_grad, x, out, shape: (np.reshape(out_grad, np.shape(x)),),
       signature=ANY, params=reshape_params, doc="the same numbers in a new shape"),
    Op("transpose", lambda x, axes=None: np.transpose(x, axes), vjp=transpose_vjp,
       signature=ANY, params=transpose_params, doc="permute axes (None: reverse them)"),
]
