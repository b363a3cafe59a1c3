"""Linear algebra: products (matmul, dot, outer) and np.linalg's solve, inv and det.

For out = a @ b: a.grad += out.grad @ b.T and b.grad += a.T @ out.grad, each summed
over the batch dimensions its input was broadcast along.

solve, inv and det take np.linalg's names without the prefix: `gl.solve(a, b)`, and
`np.linalg.solve(ta, tb)` on Tensors dispatches to them. Matrices are batched over
leading dimensions, as in numpy.
"""

import functools

import numpy as np
from gradledger.extend import Op, unbroadcast


def _as_matrices(a, b, out_grad):
    """Lift 1-D operands to matrices (as numpy's matmul does), and out_grad with them."""
    a2 = a[np.newaxis, :] if np.ndim(a) == 1 else a
    b2 = b[:, np.newaxis] if np.ndim(b) == 1 else b
    batch = np.broadcast_shapes(np.shape(a2)[:-2], np.shape(b2)[:-2])
    g2 = np.reshape(out_grad, batch + (np.shape(a2)[-2], np.shape(b2)[-1]))
    return a2, b2, g2


def matmul_vjp(out_grad, a, b, out, needs_grad=(True, True)):
    """Matrices and vectors (the common cases) directly; stacks of them through
    `_as_matrices`, whose grads are summed over the batch axes they were broadcast along.

    A 1-D operand's grad is the outer product of the other operand's grad with the
    vector, a broadcasting multiply: the same numbers as the (n, 1) @ (1, m) matrix
    product (each a single product), without lifting, reshaping or unbroadcasting."""
    a_ndim, b_ndim = a.ndim, b.ndim
    if a_ndim <= 2 and b_ndim <= 2:
        if a_ndim == 2 and b_ndim == 2:
            return (out_grad @ b.T if needs_grad[0] else None,
                    a.T @ out_grad if needs_grad[1] else None)
        if a_ndim == 2:  # (n, k) @ (k,) -> (n,)
            return (out_grad[:, np.newaxis] * b if needs_grad[0] else None,
                    out_grad @ a if needs_grad[1] else None)
        if b_ndim == 2:  # (k,) @ (k, m) -> (m,)
            return (b @ out_grad if needs_grad[0] else None,
                    a[:, np.newaxis] * out_grad if needs_grad[1] else None)
        return (out_grad * b if needs_grad[0] else None,  # (k,) @ (k,) -> ()
                out_grad * a if needs_grad[1] else None)
    a2, b2, g2 = _as_matrices(a, b, out_grad)
    grad_a = grad_b = None
    if needs_grad[0]:
        grad_a = np.reshape(unbroadcast(g2 @ np.swapaxes(b2, -1, -2), np.shape(a2)), np.shape(a))
    if needs_grad[1]:
        grad_b = np.reshape(unbroadcast(np.swapaxes(a2, -1, -2) @ g2, np.shape(b2)), np.shape(b))
    return grad_a, grad_b


def _mT(a):
    """The matrix transpose of the last two axes (batched)."""
    return np.swapaxes(a, -1, -2)


# -- products ----------------------------------------------------------------------------------


def outer_vjp(out_grad, a, b, out, needs_grad=(True, True)):
    """out[i, j] = a_i b_j over the flattened inputs."""
    grad_a = grad_b = None
    if needs_grad[0]:
        grad_a = np.reshape(out_grad @ np.reshape(b, (-1,)), np.shape(a))
    if needs_grad[1]:
        grad_b = np.reshape(np.reshape(a, (-1,)) @ out_grad, np.shape(b))
    return grad_a, grad_b


def dot_vjp(out_grad, a, b, out, needs_grad=(True, True)):
    """np.dot's cases: a scalar times an array; otherwise one matrix product, a as (P, k)
    times b as (k, Q) (b's second-to-last axis moved first), and its two transposes."""
    grad_a = grad_b = None
    if np.ndim(a) == 0 or np.ndim(b) == 0:
        if needs_grad[0]:
            grad_a = np.sum(out_grad * b) if np.ndim(a) == 0 else out_grad * b
        if needs_grad[1]:
            grad_b = np.sum(out_grad * a) if np.ndim(b) == 0 else out_grad * a
        return grad_a, grad_b
    k = np.shape(a)[-1]
    a2 = np.reshape(a, (-1, k))
    moved = np.moveaxis(b, -2, 0) if np.ndim(b) > 1 else b
    b2 = np.reshape(moved, (k, -1))
    g2 = np.reshape(out_grad, (np.shape(a2)[0], np.shape(b2)[1]))
    if needs_grad[0]:
        grad_a = np.reshape(g2 @ np.transpose(b2), np.shape(a))
    if needs_grad[1]:
        grad_b = np.reshape(np.transpose(a2) @ g2, np.shape(moved))
        if np.ndim(b) > 1:
            grad_b = np.moveaxis(grad_b, 0, -2)
    return grad_a, grad_b


def dot_sample():
    """Verifier hint: operands np.dot accepts: a scalar and an array, vectors, matrices and
    stacks of them (a's last axis as long as b's only or second-to-last one).

    The first operand is a vector or a stack of square matrices, so that the verifier's
    accumulation check, dot(a, a), is a valid call too.
    """
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-5.0, 5.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def operands(draw):
        side = st.integers(1, 3)
        k = draw(side)
        a_shape = draw(st.sampled_from([(k,), (k, k), (draw(side), k, k)]))
        kind = draw(st.sampled_from(["scalar", "vector", "array"]))
        if kind == "scalar":
            b_shape = ()
        elif kind == "vector":
            b_shape = (k,)
        else:
            lead = draw(st.lists(side, max_size=1).map(tuple))
            b_shape = lead + (k, draw(side))
        if draw(st.booleans()):
            a_shape, b_shape = (b_shape, a_shape) if kind != "array" else (a_shape, b_shape)
        a = draw(hnp.arrays(np.float64, a_shape, elements=values))
        b = draw(hnp.arrays(np.float64, b_shape, elements=values))
        return (a, b), {}

    return operands()


# -- np.linalg ---------------------------------------------------------------------------------


def solve(a, b):
    """x with a @ x = b, as np.linalg.solve: b a vector (M,) or a stack of (M, K) matrices."""
    return np.linalg.solve(a, b)


def solve_vjp(out_grad, a, b, out, needs_grad=(True, True)):
    """b.grad = a^-T g; a.grad = -b.grad x^T, each summed over broadcast batch axes."""
    vector = np.ndim(b) == 1
    g = out_grad[..., np.newaxis] if vector else out_grad
    x = out[..., np.newaxis] if vector else out
    grad_b = np.linalg.solve(_mT(a), g)
    grad_a = None
    if needs_grad[0]:
        grad_a = unbroadcast(-grad_b @ _mT(x), np.shape(a))
    if not needs_grad[1]:
        return grad_a, None
    grad_b = grad_b[..., 0] if vector else grad_b
    return grad_a, unbroadcast(grad_b, np.shape(b))


def inv_vjp(out_grad, a, out):
    """-inv^T g inv^T."""
    return (-_mT(out) @ out_grad @ _mT(out),)


def det_vjp(out_grad, a, out):
    """d det / d a = det a^-T (Jacobi's formula); undefined where a is singular."""
    return ((out_grad * out)[..., np.newaxis, np.newaxis] * _mT(np.linalg.inv(a)),)


def well_conditioned(signature):
    """Verifier hint: square matrices that are diagonally dominant (so invertible, and
    far from singular: the inverse, solve and det are smooth there), batched."""

    def sample():
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp

        values = st.floats(-1.0, 1.0, allow_nan=False, allow_subnormal=False)

        @st.composite
        def operands(draw):
            shapes = draw(hnp.mutually_broadcastable_shapes(signature=signature, max_side=3,
                                                            max_dims=2)).input_shapes
            arrays = [draw(hnp.arrays(np.float64, s, elements=values)) for s in shapes]
            n = shapes[0][-1]
            sign = draw(st.sampled_from([1.0, -1.0]))
            arrays[0] = arrays[0] + sign * (n + 1) * np.eye(n)
            return tuple(arrays), {}

        return operands()

    return sample


SOLVE = "(m,m),(m,n?)->(m,n?)"
SQUARE = "(m,m)->(m,m)"


OPS = [
    Op("matmul", np.matmul, vjp=matmul_vjp, signature="(n?,k),(k,m?)->(n?,m?)", reads=(0, 1),
       doc="matrix product a @ b (batched, broadcasting, 1-D as in numpy)"),
    Op("dot", np.dot, vjp=dot_vjp, signature="(*),(*)->(*)", sample=dot_sample,
       doc="np.dot: scalar product, inner product, matrix product, or a sum over a's last "
           "axis and b's second-to-last"),
    Op("outer", np.outer, vjp=outer_vjp, signature="(*),(*)->(*)",
       doc="outer product of the flattened inputs, (a.size, b.size)"),
    Op("solve", solve, vjp=solve_vjp, signature=SOLVE, sample=well_conditioned(SOLVE),
       doc="np.linalg.solve: x with a @ x = b, batched; a vector b gives a vector x"),
    Op("inv", np.linalg.inv, vjp=inv_vjp, signature=SQUARE, sample=well_conditioned(SQUARE),
       doc="np.linalg.inv: the inverse of square matrices, batched"),
    Op("det", np.linalg.det, vjp=det_vjp, signature="(m,m)->()",
       sample=well_conditioned("(m,m)->()"),
       doc="np.linalg.det: the determinant of square matrices, batched"),
]


# -- einsum ------------------------------------------------------------------------


@functools.lru_cache(maxsize=256)
def _einsum_parts(subscripts: str, ndims: tuple[int, ...]) -> tuple[tuple[str, ...], str]:
    """Each operand's labels and the output's, explicit: `...` spelled out as capital
    letters (right-aligned), the implicit output made explicit as numpy does."""
    text = subscripts.replace(" ", "")
    inputs, arrow, output = text.partition("->")
    terms = inputs.split(",")
    if len(terms) != len(ndims):
        raise ValueError(f"einsum subscripts {subscripts!r} name {len(terms)} operand(s); "
                         f"got {len(ndims)}")
    spare = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in text]
    widest = max((n - len(t.replace("...", "")) for t, n in zip(terms, ndims, strict=True)
                  if "..." in t), default=0)
    ellipsis = "".join(spare[:widest])
    labels = []
    for term, ndim in zip(terms, ndims, strict=True):
        if "..." in term:
            width = ndim - len(term.replace("...", ""))
            term = term.replace("...", ellipsis[widest - width:])
        labels.append(term)
    if not arrow:
        counts = "".join(labels)
        output = ellipsis + "".join(sorted(c for c in set(counts) if counts.count(c) == 1
                                           and c not in ellipsis))
    else:
        output = output.replace("...", ellipsis)
    return tuple(labels), output


def einsum_vjp(out_grad, *operands, out, subscripts, needs_grad=None):
    """For each operand: the einsum of the output's grad with every other operand, onto
    that operand's labels. A label only that operand has (summed inside it) is spread
    back with ones; a repeated label (a diagonal, 'ii') is written onto the diagonal."""
    labels, output = _einsum_parts(subscripts, tuple(np.ndim(o) for o in operands))
    sizes = {c: n for term, o in zip(labels, operands, strict=True)
             for c, n in zip(term, np.shape(o), strict=True)}
    grads = []
    for i, (term, x) in enumerate(zip(labels, operands, strict=True)):
        if needs_grad is not None and not needs_grad[i]:
            grads.append(None)
            continue
        others = [t for j, t in enumerate(labels) if j != i]
        arrays = [o for j, o in enumerate(operands) if j != i]
        unique = "".join(dict.fromkeys(term))
        alone = "".join(c for c in unique if c not in output and not any(c in t for t in others))
        if alone:
            others.append(alone)
            arrays.append(np.ones(tuple(sizes[c] for c in alone), dtype=out_grad.dtype))
        spec = ",".join([output, *others]) + "->" + unique
        grad = np.einsum(spec, out_grad, *arrays)
        if unique != term:  # a repeated label: the grad lives on the diagonal
            full = np.zeros(np.shape(x), dtype=grad.dtype)
            np.einsum(f"{term}->{unique}", full)[...] = grad
            grad = full
        grads.append(grad.astype(np.result_type(x), copy=False))
    return tuple(grads)


def einsum_sample(draw_shapes=None):
    """Verifier hint: a few einsum programs with operands of matching shapes (1 to 3
    operands: a trace, a transpose, a product, a contraction chain)."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    programs = [
        ("ij->ji", ["ij"]), ("ii->", ["ii"]), ("ij->", ["ij"]), ("ij,jk->ik", ["ij", "jk"]),
        ("i,i->", ["i", "i"]), ("ij,j->i", ["ij", "j"]), ("bij,bjk->bik", ["bij", "bjk"]),
        ("ij,jk,kl->il", ["ij", "jk", "kl"]), ("i,j->ij", ["i", "j"]),
        ("...ij,...jk->...ik", ["bij", "bjk"]),
    ]

    @st.composite
    def draw(draw_):
        subscripts, terms = draw_(st.sampled_from(programs))
        size = {c: draw_(st.integers(1, 3)) for c in "".join(terms)}
        values = st.floats(-2, 2, allow_nan=False, allow_infinity=False, allow_subnormal=False)
        operands = tuple(draw_(arrays(np.float64, tuple(size[c] for c in t), elements=values))
                         for t in terms)
        return operands, {"subscripts": subscripts}

    return draw()


OPS.append(
    Op("einsum", lambda *operands, subscripts: np.einsum(subscripts, *operands),
       vjp=einsum_vjp, signature="(*)...->(*)", leading_params=("subscripts",),
       sample=einsum_sample,
       doc="Einstein summation: gl.einsum('ij,jk->ik', a, b), any number of operands"),
)
