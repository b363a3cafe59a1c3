"""Linear algebra: products (matmul, dot, outer, einsum, tensordot) and np.linalg's
functions and decompositions. The decompositions' grads need distinct eigenvalues
(singular values): where two coincide, a loss of the eigenvalues alone keeps a finite
grad, and one that reads an eigenvector of the pair gets inf or NaN (those eigenvectors
are not unique). eigh and eig fix each eigenvector's sign (its components sum to >= 0),
so a column may be -1 times numpy's, and svd each column of U likewise (with its row of
Vh); qr makes R's diagonal positive (the unique QR); eig and eigvals sort the eigenvalues
ascending. LAPACK's own signs jump under nudges of 1e-3, which would make any loss of
those vectors discontinuous there.

For out = a @ b: a.grad += out.grad @ b.T and b.grad += a.T @ out.grad, each summed
over the batch dimensions its input was broadcast along.

solve, inv and det take np.linalg's names without the prefix: `gl.solve(a, b)`, and
`np.linalg.solve(ta, tb)` on Tensors dispatches to them. Matrices are batched over
leading dimensions, as in numpy.
"""

import functools

import numpy as np
from gradledger.extend import Op, OpCallError, unbroadcast


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
    side = st.integers(1, 3)
    kinds, leads = st.sampled_from(["scalar", "vector", "array"]), st.lists(side, max_size=1)
    array_of = functools.cache(lambda shape: hnp.arrays(np.float64, shape, elements=values))

    @st.composite
    def operands(draw):
        k = draw(side)
        a_shape = draw(st.sampled_from([(k,), (k, k), (draw(side), k, k)]))
        kind = draw(kinds)
        if kind == "scalar":
            b_shape = ()
        elif kind == "vector":
            b_shape = (k,)
        else:
            lead = tuple(draw(leads))
            b_shape = lead + (k, draw(side))
        if draw(st.booleans()):
            a_shape, b_shape = (b_shape, a_shape) if kind != "array" else (a_shape, b_shape)
        a = draw(array_of(a_shape))
        b = draw(array_of(b_shape))
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
        batches = hnp.mutually_broadcastable_shapes(signature=signature, max_side=3, max_dims=2)
        signs = st.sampled_from([1.0, -1.0])
        array_of = functools.cache(lambda shape: hnp.arrays(np.float64, shape, elements=values))

        @st.composite
        def operands(draw):
            shapes = draw(batches).input_shapes
            arrays = [draw(array_of(s)) for s in shapes]
            n = shapes[0][-1]
            sign = draw(signs)
            arrays[0] = arrays[0] + sign * (n + 1) * np.eye(n)
            return tuple(arrays), {}

        return operands()

    return sample


SOLVE = "(m,m),(m,n?)->(m,n?)"
SQUARE = "(m,m)->(m,m)"
ANY_SHAPE = "(*)->(*)"


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
            grad = _onto_diagonal(grad, term, unique, sizes, "".join(labels) + output)
        grads.append(grad.astype(np.result_type(x), copy=False))
    return tuple(grads)


def _onto_diagonal(grad, term, unique, sizes, used):
    """The grad of `unique`'s labels written onto the diagonal of `term` ('ii', 'lli'):
    each repeat of a label renamed and tied to the first by an identity matrix, one einsum
    (no writes into an array, so it runs on Tensors too)."""
    fresh = iter(c for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                 if c not in used)
    seen, renamed, ties = set(), [], []
    for c in term:
        if c in seen:
            other = next(fresh)
            renamed.append(other)
            ties.append((c + other, np.eye(sizes[c], dtype=np.result_type(grad))))
        else:
            seen.add(c)
            renamed.append(c)
    spec = ",".join([unique, *(t for t, _ in ties)]) + "->" + "".join(renamed)
    return np.einsum(spec, grad, *(eye for _, eye in ties))


def einsum_sample(draw_shapes=None):
    """Verifier hint: a few einsum programs with operands of matching shapes (1 to 3
    operands: a trace, a transpose, a product, a contraction chain)."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import arrays

    programs = [
        ("ij->ji", ["ij"]), ("ii->", ["ii"]), ("ij->", ["ij"]), ("ij,jk->ik", ["ij", "jk"]),
        ("i,i->", ["i", "i"]), ("ij,j->i", ["ij", "j"]), ("bij,bjk->bik", ["bij", "bjk"]),
        ("ij,jk,kl->il", ["ij", "jk", "kl"]), ("i,j->ij", ["i", "j"]),
        ("...ij,...jk->...ik", ["bij", "bjk"]), ("iij,j->i", ["iij", "j"]),
    ]

    chosen, sides = st.sampled_from(programs), st.integers(1, 3)
    values = st.floats(-2, 2, allow_nan=False, allow_infinity=False, allow_subnormal=False)
    array_of = functools.cache(lambda shape: arrays(np.float64, shape, elements=values))

    @st.composite
    def draw(draw_):
        subscripts, terms = draw_(chosen)
        size = {c: draw_(sides) for c in "".join(terms)}
        operands = tuple(draw_(array_of(tuple(size[c] for c in t))) for t in terms)
        return operands, {"subscripts": subscripts}

    return draw()


OPS.append(
    Op("einsum", lambda *operands, subscripts: np.einsum(subscripts, *operands),
       vjp=einsum_vjp, signature="(*)...->(*)", leading_params=("subscripts",),
       sample=einsum_sample,
       doc="Einstein summation: gl.einsum('ij,jk->ik', a, b), any number of operands"),
)


# -- more products (issue 21) ------------------------------------------------------------------

_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def _tensordot_subscripts(ndim_a, ndim_b, axes):
    """The einsum subscripts of np.tensordot(a, b, axes): (a's, b's, the result's)."""
    if isinstance(axes, (int, np.integer)):
        axes_a, axes_b = list(range(ndim_a - axes, ndim_a)), list(range(axes))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, (int, np.integer)) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, (int, np.integer)) else list(axes_b)
    axes_a = [a % ndim_a for a in axes_a]
    axes_b = [b % ndim_b for b in axes_b]
    a_labels = list(_LETTERS[:ndim_a])
    b_labels = list(_LETTERS[ndim_a:ndim_a + ndim_b])
    for a, b in zip(axes_a, axes_b, strict=True):
        b_labels[b] = a_labels[a]
    out = ([c for i, c in enumerate(a_labels) if i not in axes_a]
           + [c for i, c in enumerate(b_labels) if i not in axes_b])
    return "".join(a_labels), "".join(b_labels), "".join(out)


def tensordot_vjp(out_grad, a, b, out, axes=2, needs_grad=(True, True)):
    """Each operand's grad is an einsum of the output's grad with the other operand."""
    sa, sb, so = _tensordot_subscripts(np.ndim(a), np.ndim(b), axes)
    grad_a = np.einsum(f"{so},{sb}->{sa}", out_grad, b) if needs_grad[0] else None
    grad_b = np.einsum(f"{so},{sa}->{sb}", out_grad, a) if needs_grad[1] else None
    return grad_a, grad_b


def tensordot_sample():
    """Verifier hint: operands and axes np.tensordot accepts (an int, or two lists)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def operands(draw):
        a_shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, max_side=3))
        count = draw(st.integers(0, len(a_shape)))
        if draw(st.booleans()):  # an int: a's last `count` axes with b's first
            axes, summed = count, list(a_shape[len(a_shape) - count:])
            b_shape = tuple(summed) + draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
        else:
            axes_a = draw(st.permutations(range(len(a_shape))))[:count]
            extra = draw(hnp.array_shapes(min_dims=0, max_dims=2, max_side=3))
            b_ndim = count + len(extra)
            axes_b = draw(st.permutations(range(b_ndim)))[:count]
            b_shape = [0] * b_ndim
            rest = iter(extra)
            for i in range(b_ndim):
                b_shape[i] = a_shape[axes_a[axes_b.index(i)]] if i in axes_b else next(rest)
            axes, b_shape = (list(axes_a), list(axes_b)), tuple(b_shape)
        a = draw(hnp.arrays(np.float64, a_shape, elements=values))
        b = draw(hnp.arrays(np.float64, b_shape, elements=values))
        return (a, b), {"axes": axes}

    return operands()


def _kron_parts(a, b):
    """a and b with numpy's leading 1s, and the interleaved shape of kron's result."""
    nd = max(np.ndim(a), np.ndim(b))
    sa = (1,) * (nd - np.ndim(a)) + np.shape(a)
    sb = (1,) * (nd - np.ndim(b)) + np.shape(b)
    return nd, sa, sb


def kron_vjp(out_grad, a, b, out, needs_grad=(True, True)):
    """out viewed as (a0, b0, a1, b1, ...) is a_i b_j: sum out_grad times the other."""
    nd, sa, sb = _kron_parts(a, b)
    paired = np.reshape(out_grad, [n for pair in zip(sa, sb, strict=True) for n in pair])
    grad_a = grad_b = None
    if needs_grad[0]:
        spread_b = np.reshape(b, [n for s in sb for n in (1, s)])
        grad_a = np.reshape(np.sum(paired * spread_b, axis=tuple(range(1, 2 * nd, 2))),
                            np.shape(a))
    if needs_grad[1]:
        spread_a = np.reshape(a, [n for s in sa for n in (s, 1)])
        grad_b = np.reshape(np.sum(paired * spread_a, axis=tuple(range(0, 2 * nd, 2))),
                            np.shape(b))
    return grad_a, grad_b


def cross(a, b, axisa=-1, axisb=-1, axisc=-1, axis=None):
    """np.cross of 3-vectors along axisa of a and axisb of b, the result's along axisc
    (axis, when given, sets all three)."""
    if axis is not None:
        axisa = axisb = axisc = axis
    if np.shape(a)[axisa] != 3 or np.shape(b)[axisb] != 3:
        raise OpCallError(f"cross takes 3-vectors (along axisa {axisa} of a, axisb {axisb} of "
                          f"b); got shapes {np.shape(a)} and {np.shape(b)}")
    return np.cross(a, b, axisa, axisb, axisc)


def cross_vjp(out_grad, a, b, out, axisa=-1, axisb=-1, axisc=-1, axis=None,
              needs_grad=(True, True)):
    """d(a x b) with the vector axes moved last: a.grad = b x g, b.grad = g x a, each
    summed over broadcast axes and moved back."""
    if axis is not None:
        axisa = axisb = axisc = axis
    a_last, b_last = np.moveaxis(a, axisa, -1), np.moveaxis(b, axisb, -1)
    g = np.moveaxis(out_grad, axisc, -1)
    grad_a = grad_b = None
    if needs_grad[0]:
        grad_a = np.moveaxis(unbroadcast(np.cross(b_last, g), np.shape(a_last)), -1, axisa)
    if needs_grad[1]:
        grad_b = np.moveaxis(unbroadcast(np.cross(g, a_last), np.shape(b_last)), -1, axisb)
    return grad_a, grad_b


def cross_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def operands(draw):
        shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_dims=2, max_side=3))
        axis = draw(st.integers(-1, 0))
        place = (lambda s: s + (3,)) if axis == -1 else (lambda s: (3,) + s)
        a = draw(hnp.arrays(np.float64, place(shapes.input_shapes[0]), elements=values))
        b = draw(hnp.arrays(np.float64, place(shapes.input_shapes[1]), elements=values))
        if axis == 0 and (a.ndim != b.ndim):
            axis = -1
            a, b = np.moveaxis(a, 0, -1), np.moveaxis(b, 0, -1)
        if draw(st.booleans()):
            return (a, b), {"axis": axis}
        axisa = draw(st.integers(-a.ndim, a.ndim - 1))
        axisb = draw(st.integers(-b.ndim, b.ndim - 1))
        a, b = np.moveaxis(a, axis, axisa), np.moveaxis(b, axis, axisb)
        ndim = np.cross(a, b, axisa, axisb).ndim
        return (a, b), {"axisa": axisa, "axisb": axisb,
                        "axisc": draw(st.integers(-ndim, ndim - 1))}

    return operands()


# -- decompositions (issue 21) ---------------------------------------------------------------


def _eye_like(n, x):
    return np.eye(n, dtype=np.result_type(x))


def svd(a, full_matrices=True, compute_uv=True, hermitian=False):
    """np.linalg.svd's U, S, Vh, each singular pair's sign chosen as eigh's (the columns of
    U sum to >= 0; the matching row of Vh flips with its column): a column of U and a row
    of Vh may be -1 times numpy's own, and U S Vh is the same. full_matrices=True is numpy's
    default: for a non-square a the extra columns of U (or rows of Vh) are arbitrary, so no
    loss can depend on them differentiably; it is refused there (pass full_matrices=False)."""
    if not compute_uv:  # np.linalg.svd(t, compute_uv=False) on a Tensor reaches svdvals
        raise OpCallError("compute_uv=False returns one array: call gl.svdvals(a) (or "
                          "np.linalg.svd(t, compute_uv=False)), the op for the singular values")
    m, n = np.shape(a)[-2:]
    if full_matrices and m != n:
        raise OpCallError(f"full_matrices=True on a {m}x{n} matrix gives {max(m, n) - min(m, n)}"
                          " arbitrary singular vectors with no gradient; pass "
                          "full_matrices=False")
    u, s, vh = np.linalg.svd(a, full_matrices=False, hermitian=hermitian)
    flip = _sign_flip(u)
    return u * flip, s, vh * _mT(flip)


def _sign_flip(vectors):
    """Per column of `vectors`, -1 where its components sum to < 0, else 1 (shape (..., 1,
    k)): LAPACK's signs jump under nudges of 1e-3 (measured), which would make any loss of
    the vectors discontinuous there; this choice is locally constant except where a column
    sums to 0. Complex vectors keep numpy's phases (a phase is not a sign to choose)."""
    sums = np.sum(vectors, axis=-2, keepdims=True)
    if np.iscomplexobj(sums):
        return np.ones(np.shape(sums), dtype=vectors.dtype)
    return np.where(sums < 0, -1.0, 1.0).astype(vectors.dtype)


def svd_vjp(cotangents, a, out, full_matrices=True, compute_uv=True, hermitian=False):
    """Townsend's 'Differentiating the singular value decomposition' (2016), real case, as
    HIPS autograd writes it; undefined where two singular values coincide or one is 0."""
    gu, gs, gvh = cotangents
    u, s, vh = out
    v, gv = _mT(vh), _mT(gvh)
    m, n = np.shape(a)[-2:]
    k = min(m, n)
    eye = _eye_like(k, s)
    gaps = s[..., np.newaxis, :] ** 2 - s[..., :, np.newaxis] ** 2 + eye
    utgu = _mT(u) @ gu
    vtgv = _mT(v) @ gv
    t = _over_gaps(utgu - _mT(utgu), gaps, eye) * s[..., np.newaxis, :]
    t = t + eye * gs[..., :, np.newaxis]
    t = t + s[..., :, np.newaxis] * _over_gaps(vtgv - _mT(vtgv), gaps, eye)
    grad = u @ t @ vh
    if m < n:
        grad = grad + (u / s[..., np.newaxis, :]) @ _mT(gv) @ (_eye_like(n, s) - v @ vh)
    elif m > n:
        grad = grad + _mT((v / s[..., np.newaxis, :]) @ _mT(gu) @ (_eye_like(m, s) - u @ _mT(u)))
    return (grad,)


def svd_out_shape(shape, full_matrices=True, compute_uv=True, hermitian=False):
    *batch, m, n = shape
    k = min(m, n)
    return (tuple(batch) + (m, k), tuple(batch) + (k,), tuple(batch) + (k, n))


def svdvals_vjp(out_grad, a, out, saved=None):
    """d s_i = u_i^T da v_i. The op saves nothing (computing the vectors in the forward
    costs 7.6x numpy's svdvals at 128 x 128 for a 26% smaller forward plus backward:
    benchmarks/bench_saved_decompositions.py); lstsq passes its own SVD's."""
    u, vh = saved if saved is not None else np.linalg.svd(a, full_matrices=False)[::2]
    return ((u * out_grad[..., np.newaxis, :]) @ vh,)


SIGN_MARGIN = 0.05
"""eigh's and svd's vectors take the sign that makes their components sum to >= 0, a sign
that flips where a sum crosses 0: the verifier's matrices keep every sum this far from 0
(the nudges move a vector's sum by about 1e-2 at most there), so no nudge crosses a flip."""


def separated_sample(kind):
    """Verifier hint: matrices whose singular values (kind 'svd', any m x n) or
    eigenvalues (kind 'sym', square) are at least about 0.5 apart and away from 0, batched:
    a diagonal of distinct spaced values, rotated, plus a small random part."""

    def sample():
        from hypothesis import assume
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp

        small = st.floats(-0.05, 0.05, allow_nan=False, allow_subnormal=False)

        @st.composite
        def matrices(draw):
            m = draw(st.integers(1, 4))
            n = m if kind in ("sym", "spd") else draw(st.integers(1, 4))
            batch = draw(st.sampled_from([(), (2,)]))
            k = min(m, n)
            order = draw(st.permutations(range(k)))
            signs = draw(st.lists(st.sampled_from([-1.0, 1.0]), min_size=k, max_size=k))
            values = np.array([(1.0 + i) for i in order])
            if kind == "sym":
                values = values * np.array(signs)
            if kind == "spd":
                values = values + 0.5
            noise = draw(hnp.arrays(np.float64, batch + (m, n), elements=small))
            seed = draw(st.integers(0, 2 ** 16))
            rng = np.random.default_rng(seed)
            q1 = np.linalg.qr(rng.standard_normal((m, m)))[0]
            q2 = q1 if kind in ("sym", "spd") else np.linalg.qr(rng.standard_normal((n, n)))[0]
            core = np.zeros((m, n))
            core[np.arange(k), np.arange(k)] = values
            a = q1 @ core @ q2.T + noise
            if kind in ("sym", "spd"):
                a = (a + np.swapaxes(a, -1, -2)) / 2
            if kind in ("sym", "svd"):  # clear of where a vector's sign flips (see eigh)
                vectors = eigh(a)[1] if kind == "sym" else svd(a, full_matrices=False)[0]
                assume(bool(np.all(np.abs(np.sum(vectors, axis=-2)) >= SIGN_MARGIN)))
            return (a,), {"full_matrices": False} if kind == "svd" else {}

        return matrices()

    return sample


def eigh(a, UPLO="L"):
    """np.linalg.eigh, each eigenvector's sign chosen so that its components sum to >= 0.

    LAPACK's signs jump under nudges smaller than 1e-3 (measured), which would make any
    loss of the eigenvectors discontinuous there; this sign is locally constant except
    where a column sums to 0. So a column may be -1 times numpy's own."""
    w, v = np.linalg.eigh(a, UPLO)
    return w, v * _sign_flip(v)


def _numbers(x):
    return x.data if hasattr(x, "requires_grad") else x


def _over_gaps(m, gaps, eye):
    """m / gaps off the diagonal (0 on it). Where two eigenvalues (or singular values)
    coincide, a gap of 0: 0 if m is 0 there (a loss that reads no eigenvector of that
    pair, eigvalsh's own rule among them: the eigenvalues' grad stays finite), else
    infinite (those eigenvectors are not unique, so they have no derivative)."""
    idle = (np.asarray(_numbers(gaps)) == 0) & (np.asarray(_numbers(m)) == 0)
    if not np.any(idle):
        return m / gaps * (1.0 - eye)
    return np.where(idle, 0.0, m / np.where(idle, 1.0, gaps)) * (1.0 - eye)


def eigh_vjp(cotangents, a, out, UPLO="L"):
    """A = V diag(w) V^T: grad = V (diag(gw) + F * (V^T gV)) V^T with F_ij = 1/(w_j - w_i)
    off the diagonal; undefined where eigenvalues coincide (degenerate: the eigenvectors
    are not unique there). numpy reads one triangle of a (UPLO), so the grad lives on
    that triangle: the symmetric grad's off-diagonal entries, doubled there."""
    gw, gv = cotangents
    w, v = out
    n = np.shape(a)[-1]
    eye = _eye_like(n, w)
    gaps = w[..., np.newaxis, :] - w[..., :, np.newaxis] + eye
    inner = eye * gw[..., np.newaxis, :] + _over_gaps(_mT(v) @ gv, gaps, eye)
    g = v @ inner @ _mT(v)
    sym = g + _mT(g)
    below = np.tril(np.ones((n, n), dtype=bool), -1)
    if UPLO.upper() != "L":
        below = _mT(below)
    return (eye * g + np.where(below, sym, 0.0),)


def cholesky(a, upper=False):
    try:
        return np.linalg.cholesky(a, upper=upper)
    except np.linalg.LinAlgError as error:
        raise OpCallError(f"cholesky needs a symmetric positive definite matrix: {error}") \
            from None


def cholesky_vjp(out_grad, a, out, upper=False):
    """Murray's 'Differentiation of the Cholesky decomposition' (2016): S = L^-T Phi(L^T
    gL) L^-1 with Phi the lower triangle, diagonal halved; numpy reads the lower triangle
    (upper: the upper one), so the grad lives there: S + S^T off the diagonal, S on it."""
    lower = _mT(out) if upper else out
    g = _mT(out_grad) if upper else out_grad
    n = np.shape(a)[-1]
    eye = _eye_like(n, lower)
    phi = np.tril(_mT(lower) @ g) * (1.0 - 0.5 * eye)
    s = np.linalg.solve(_mT(lower), _mT(np.linalg.solve(_mT(lower), _mT(phi))))
    grad = np.tril(s + _mT(s), -1) + eye * s
    return (_mT(grad) if upper else grad,)


def slogdet_vjp(cotangents, a, out):
    """The sign is piecewise constant (no grad); d log|det a| = a^-T."""
    _, g = cotangents
    return (g[..., np.newaxis, np.newaxis] * _mT(np.linalg.inv(a)),)


def pinv(a, rcond=None, hermitian=False):
    if rcond is None:
        return np.linalg.pinv(a, hermitian=hermitian)
    return np.linalg.pinv(a, rcond, hermitian=hermitian)


def pinv_vjp(out_grad, a, out, rcond=None, hermitian=False):
    """Golub and Pereyra's derivative of the pseudo-inverse of a matrix of full rank:
    -P^T G P^T + (I - A P) G^T P P^T + P^T P G^T (I - P A), P = pinv(A); undefined where the
    rank changes."""
    p = out
    m, n = np.shape(a)[-2:]
    term1 = -_mT(p) @ out_grad @ _mT(p)
    term2 = (_eye_like(m, p) - a @ p) @ _mT(out_grad) @ p @ _mT(p)
    term3 = _mT(p) @ p @ _mT(out_grad) @ (_eye_like(n, p) - p @ a)
    return (term1 + term2 + term3,)


def full_rank_sample():
    """Verifier hint: m x n matrices of full rank, well conditioned: a rotated diagonal of
    values 1 to 2, plus a small random part."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    small = st.floats(-0.1, 0.1, allow_nan=False, allow_subnormal=False)

    @st.composite
    def matrices(draw):
        m, n = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
        core = np.zeros((m, n))
        k = min(m, n)
        core[np.arange(k), np.arange(k)] = rng.uniform(1.0, 2.0, k)
        q1 = np.linalg.qr(rng.standard_normal((m, m)))[0]
        q2 = np.linalg.qr(rng.standard_normal((n, n)))[0]
        a = q1 @ core @ q2.T + draw(hnp.arrays(np.float64, (m, n), elements=small))
        return (a,), {}

    return matrices()


def matrix_power(a, n):
    if not isinstance(n, (int, np.integer)):
        raise OpCallError(f"n must be an int; got {n!r}")
    return np.linalg.matrix_power(a, n)


def matrix_power_vjp(out_grad, a, out, n):
    """d(A^n) = sum_k A^k dA A^(n-1-k); a negative n through the inverse B = A^-1, whose
    grad -B^T gB B^T goes to A."""
    base = a if n >= 0 else np.linalg.inv(a)
    count = abs(n)
    powers = [None] * max(count, 1)
    eye = _eye_like(np.shape(a)[-1], a)
    if count:
        powers[0] = eye + 0 * base  # a Tensor if base is one
        for k in range(1, count):
            powers[k] = powers[k - 1] @ base
    grad = 0 * _mT(base)
    for k in range(count):
        grad = grad + _mT(powers[k]) @ out_grad @ _mT(powers[count - 1 - k])
    if n < 0:
        grad = -_mT(base) @ grad @ _mT(base)
    return (grad,)


def matrix_power_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-0.5, 0.5, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        k = draw(st.integers(1, 3))
        batch = draw(st.sampled_from([(), (2,)]))
        a = draw(hnp.arrays(np.float64, batch + (k, k), elements=values)) + 1.5 * np.eye(k)
        return (a,), {"n": draw(st.integers(-3, 4))}

    return example()


def qr(a, mode="reduced"):
    """np.linalg.qr's reduced Q and R, with R's diagonal made >= 0 (a column of Q and the
    matching row of R may be -1 times numpy's; Q R is the same): the unique QR of a full
    rank a, smooth in a. LAPACK's Householder signs flip where a pivot crosses 0, which
    made a loss of Q or R jump within a nudge of 1e-3 (a thorough verify run saw it)."""
    if mode != "reduced":
        raise OpCallError(f"only mode='reduced' is differentiable here; got mode={mode!r}")
    m, n = np.shape(a)[-2:]
    if m < n:
        raise OpCallError(f"qr's gradient needs m >= n; got a {m}x{n} matrix")
    q, r = np.linalg.qr(a, mode="reduced")
    diagonal = np.diagonal(r, axis1=-2, axis2=-1)
    if np.iscomplexobj(diagonal):  # complex: numpy's phases (a phase is not a sign)
        return q, r
    flip = np.where(diagonal < 0, -1.0, 1.0).astype(r.dtype)
    return q * flip[..., np.newaxis, :], r * flip[..., :, np.newaxis]


def qr_vjp(cotangents, a, out, mode="reduced"):
    """For m >= n (Walter and Lehmann; Seeger et al. 2017): M = R gR^T - gQ^T Q,
    grad = (gQ + Q copyltu(M)) R^-T, copyltu copying the lower triangle to the upper."""
    gq, gr = cotangents
    q, r = out
    m_ = r @ _mT(gr) - _mT(gq) @ q
    copied = np.tril(m_) + _mT(np.tril(m_, -1))
    rhs = gq + q @ copied
    return (_mT(np.linalg.solve(r, _mT(rhs))),)


def qr_out_shape(shape, mode="reduced"):
    *batch, m, n = shape
    return (tuple(batch) + (m, n), tuple(batch) + (n, n))


def tall_sample():
    """Verifier hint for qr: m >= n matrices of full rank, well conditioned."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    small = st.floats(-0.1, 0.1, allow_nan=False, allow_subnormal=False)

    @st.composite
    def matrices(draw):
        n = draw(st.integers(1, 3))
        m = draw(st.integers(n, 4))
        rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
        core = np.zeros((m, n))
        core[np.arange(n), np.arange(n)] = rng.uniform(1.0, 2.0, n)
        q1 = np.linalg.qr(rng.standard_normal((m, m)))[0]
        q2 = np.linalg.qr(rng.standard_normal((n, n)))[0]
        return (q1 @ core @ q2.T + draw(hnp.arrays(np.float64, (m, n), elements=small)),), {}

    return matrices()


OPS += [
    Op("tensordot", lambda a, b, axes=2: np.tensordot(a, b, axes), vjp=tensordot_vjp,
       signature="(*),(*)->(*)", sample=tensordot_sample,
       doc="np.tensordot: sum products over axes (an int: a's last with b's first; or two "
           "lists)"),
    Op("kron", np.kron, vjp=kron_vjp, signature="(*),(*)->(*)",
       doc="Kronecker product: blocks a_i * b"),
    Op("cross", cross, vjp=cross_vjp, signature="(*),(*)->(*)", sample=cross_sample,
       doc="cross product of 3-vectors along axis (broadcasting)"),
    Op("svd", svd, vjp=svd_vjp, signature="(*)->(*),(*),(*)", out_shape=svd_out_shape,
       sample=separated_sample("svd"), param_order=("full_matrices", "compute_uv", "hermitian"),
       doc="np.linalg.svd: U, S, Vh (batched), each column of U signed to sum to >= 0 (its "
           "row of Vh with it); full_matrices=True only for square matrices; no grad where "
           "singular values coincide or vanish"),
    Op("svdvals", np.linalg.svdvals, vjp=svdvals_vjp, signature="(m,n)->(k)",
       out_shape=lambda shape: shape[:-2] + (min(shape[-2:]),),
       sample=separated_sample("svdvals"),
       doc="np.linalg.svdvals: the singular values, largest first (batched)"),
    Op("eigh", eigh, vjp=eigh_vjp, signature="(m,m)->(m),(m,m)", sample=separated_sample("sym"),
       doc="np.linalg.eigh: eigenvalues (ascending) and eigenvectors of a symmetric matrix "
           "(its UPLO triangle); no grad where eigenvalues coincide"),
    Op("cholesky", cholesky, vjp=cholesky_vjp, signature=SQUARE, sample=separated_sample("spd"),
       doc="np.linalg.cholesky: L with L L^T = a (its lower triangle), a positive definite"),
    Op("slogdet", lambda a: tuple(np.linalg.slogdet(a)), vjp=slogdet_vjp,
       signature="(m,m)->(),()", sample=well_conditioned("(m,m)->()"),
       doc="np.linalg.slogdet: the sign (no grad) and log |det a|, batched"),
    Op("pinv", pinv, vjp=pinv_vjp, signature="(m,n)->(n,m)", sample=full_rank_sample,
       doc="np.linalg.pinv: the Moore-Penrose pseudo-inverse; grads at full rank"),
    Op("matrix_power", matrix_power, vjp=matrix_power_vjp, signature=SQUARE,
       sample=matrix_power_sample, doc="np.linalg.matrix_power: a ** n (an int, negative: "
                                       "of the inverse), batched"),
    Op("qr", qr, vjp=qr_vjp, signature="(*)->(*),(*)", out_shape=qr_out_shape,
       sample=tall_sample, doc="np.linalg.qr, mode 'reduced', m >= n: Q and R, R's diagonal "
       ">= 0 (the unique QR)"),
]


def eig(a):
    """np.linalg.eig of a real matrix whose eigenvalues are real (complex ones are refused:
    gradledger's tensors are real), sorted ascending (LAPACK's order jumps under a nudge of
    a triangular matrix), each unit eigenvector's sign chosen as eigh's (its components
    sum to >= 0)."""
    w, v = np.linalg.eig(a)
    if np.iscomplexobj(w) and not np.any(w.imag) and not np.any(v.imag):
        w, v = w.real, v.real  # numpy >= 2.5 answers complex even when every part is real
    if np.iscomplexobj(w):
        raise OpCallError("the matrix has complex eigenvalues; gradledger's tensors are real, "
                          "so eig is differentiable here only where every eigenvalue is real "
                          "(a symmetric matrix: use eigh)")
    order = np.argsort(w, axis=-1, kind="stable")
    w = np.take_along_axis(w, order, axis=-1)
    v = np.take_along_axis(v, order[..., np.newaxis, :], axis=-1)
    return w, v * _sign_flip(v)


def eig_vjp(cotangents, a, out):
    """Real case of PyTorch's linalg_eig_backward (Giles 2008, with unit eigenvectors):
    grad = V^-T (diag(gw) + (V^T gV - V^T V diag(V^T gV)) / E) V^T, E_ij = w_j - w_i off the
    diagonal; undefined where eigenvalues coincide."""
    gw, gv = cotangents
    w, v = out
    n = np.shape(a)[-1]
    eye = _eye_like(n, w)
    vt_gv = _mT(v) @ gv
    inner = vt_gv - (_mT(v) @ v) @ (eye * vt_gv)
    e = w[..., np.newaxis, :] - w[..., :, np.newaxis] + eye
    core = eye * gw[..., np.newaxis, :] + _over_gaps(inner, e, eye)
    return (np.linalg.solve(_mT(v), core @ _mT(v)),)


def usable_eigenvectors(p) -> bool:
    """Whether P's columns make eig's verifier an eigenvector basis it can nudge: P well
    conditioned (cond < 100) and each normalised column's sum SIGN_MARGIN clear of 0."""
    if not np.all(np.linalg.cond(p) < 100):
        return False
    vectors = p / np.linalg.norm(p, axis=-2, keepdims=True)  # eig's, up to sign
    return bool(np.all(np.abs(np.sum(vectors, axis=-2)) >= SIGN_MARGIN))


def real_spectrum_sample():
    """Verifier hint: P diag(w) P^-1 with eigenvalues 1 apart, P = I plus at most 0.3 per
    element, kept well conditioned (cond < 100: four -0.3s make it singular) and with each
    eigenvector's sum SIGN_MARGIN clear of 0 (a column of P sums to 1 - 1.2 at worst)."""
    from hypothesis import assume
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    small = st.floats(-0.3, 0.3, allow_nan=False, allow_subnormal=False)

    @st.composite
    def matrices(draw):
        n = draw(st.integers(1, 4))
        batch = draw(st.sampled_from([(), (2,)]))
        p = draw(hnp.arrays(np.float64, batch + (n, n), elements=small)) + np.eye(n)
        assume(usable_eigenvectors(p))
        order = np.array(draw(st.permutations(range(n))), dtype=np.float64)
        w = order - n / 2 + 0.25
        return (p @ (w[:, np.newaxis] * np.linalg.inv(p)),), {}

    return matrices()


def lstsq(a, b, rcond=None):
    """np.linalg.lstsq through one SVD of a, which it saves for the rule: x = V S^-1 U^T b,
    the residuals' sums of squares (for m > n), the rank, the singular values."""
    u, s, vh = np.linalg.svd(a, full_matrices=False)
    m, n = np.shape(a)[-2:]
    cutoff = (np.finfo(np.result_type(a)).eps * max(m, n) if rcond is None else rcond)
    rank = int(np.sum(s > cutoff * s[..., :1])) if np.size(s) else 0
    if rank != n:
        raise OpCallError(f"lstsq is differentiable here for a of full column rank ({n}); "
                          f"this one has rank {rank}")
    vector = np.ndim(b) == 1
    b2 = b[:, np.newaxis] if vector else b
    x = _mT(vh) @ ((_mT(u) @ b2) / s[:, np.newaxis])
    residuals = np.sum((b2 - a @ x) ** 2, axis=0) if m > n else np.zeros(0, dtype=s.dtype)
    x = x[:, 0] if vector else x
    return (x, residuals.astype(s.dtype, copy=False), np.asarray(rank), s), (u, vh)


def lstsq_vjp(cotangents, a, b, out, rcond=None, needs_grad=(True, True), saved=None):
    """x = pinv(a) b; the residuals r = |b - a x|^2 by the envelope theorem (-2 (b - a x)
    x^T for a, 2 (b - a x) for b); s as svdvals. pinv comes from the saved SVD."""
    gx, gr, _, gs = cotangents
    x, residuals, _, s = out
    if saved is not None:
        u, vh = saved
        p = _mT(vh) @ (_mT(u) / s[:, np.newaxis])
    else:
        p = np.linalg.pinv(a)
    vector = np.ndim(b) == 1
    b2 = b[:, np.newaxis] if vector else b
    x2 = x[:, np.newaxis] if vector else x
    gx2 = gx[:, np.newaxis] if vector else gx
    grad_p = gx2 @ _mT(b2)
    grad_a = pinv_vjp(grad_p, a, p)[0]
    grad_b = _mT(p) @ gx2
    if np.size(residuals):
        error = b2 - a @ x2
        gr2 = np.reshape(gr, (1, -1))
        grad_a = grad_a - 2.0 * (error * gr2) @ _mT(x2)
        grad_b = grad_b + 2.0 * error * gr2
    grad_a = grad_a + svdvals_vjp(gs, a, s, saved=saved)[0]
    grad_b = grad_b[:, 0] if vector else grad_b
    return (grad_a if needs_grad[0] else None, grad_b if needs_grad[1] else None)


def lstsq_sample():
    """Verifier hint: a tall or square a of full rank (full_rank_sample's), a vector or a
    matrix b."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)
    small = st.floats(-0.1, 0.1, allow_nan=False, allow_subnormal=False)

    @st.composite
    def operands(draw):
        n = draw(st.integers(1, 3))
        m = draw(st.integers(n, 4))
        rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
        core = np.zeros((m, n))
        core[np.arange(n), np.arange(n)] = rng.uniform(1.0, 2.0, n)
        q1 = np.linalg.qr(rng.standard_normal((m, m)))[0]
        q2 = np.linalg.qr(rng.standard_normal((n, n)))[0]
        a = q1 @ core @ q2.T + draw(hnp.arrays(np.float64, (m, n), elements=small))
        b_shape = draw(st.sampled_from([(m,), (m, 1), (m, 2)]))
        return (a, draw(hnp.arrays(np.float64, b_shape, elements=values))), {}

    return operands()


OPS += [
    Op("eig", eig, vjp=eig_vjp, signature="(m,m)->(m),(m,m)", sample=real_spectrum_sample,
       doc="np.linalg.eig of a real matrix with real eigenvalues (complex ones refused), "
           "sorted ascending; no grad where eigenvalues coincide"),
    Op("lstsq", lstsq, vjp=lstsq_vjp, signature="(*),(*)->(*),(*),(*),(*)", saves=True,
       sample=lstsq_sample, param_order=("rcond",),
       doc="np.linalg.lstsq: x, residuals, rank (no grad), singular values; a of full "
           "column rank"),
]


# -- eigenvalues alone, condition numbers (issue 21) ---------------------------------------


def eigvals(a):
    """np.linalg.eigvals of a real matrix whose eigenvalues are real (complex ones are
    refused), sorted ascending as eig's: LAPACK's order jumps under a nudge of a triangular
    matrix. Computed with the eigenvectors, which it saves for the rule."""
    w, v = eig(a)
    return w, (v,)


def eigvals_vjp(out_grad, a, out, saved=None):
    """d w_i = u_i^T da v_i / u_i^T v_i (left and right eigenvectors): eig's rule without
    vectors."""
    if saved is not None:
        w, v = out, saved[0]
    else:
        w, v = np.linalg.eig(a) if hasattr(a, "requires_grad") else eig(a)
    return eig_vjp((out_grad, 0.0 * v), a, (w, v))


def cond(x, p=None):
    """np.linalg.cond, saving what the rule needs for the norms other than the 2-norm:
    x^-1 and the two norms (p None, 2, -2 save nothing: the rule takes one SVD)."""
    if p not in MATRIX_ORDERS:
        raise OpCallError(f"p must be one of {MATRIX_ORDERS}; got {p!r}")
    if p in (None, 2, -2):  # the vectors would cost up to 10x numpy's forward: not saved
        return np.linalg.cond(x, p), ()
    inverse = np.linalg.inv(x)
    norm_x = np.linalg.matrix_norm(x, ord=p)
    norm_inv = np.linalg.matrix_norm(inverse, ord=p)
    return norm_x * norm_inv, (inverse, norm_x, norm_inv)


def cond_vjp(out_grad, x, out, p=None, saved=None):
    """cond = |x| |x^-1| in the p norm: the norm's rule for each factor, the second through
    the inverse (d x^-1 = -x^-1 dx x^-1). For p None, 2, -2, from one SVD: s_1 / s_n
    moves by u_1 v_1^T / s_n - s_1 u_n v_n^T / s_n^2 (its inverse for p = -2)."""
    from .numpy_more import matrix_norm_vjp

    if p in (None, 2, -2):
        u, s, vh = np.linalg.svd(x)
        big, small = s[..., 0], s[..., -1]
        top = u[..., :, :1] * vh[..., :1, :]
        bottom = u[..., :, -1:] * vh[..., -1:, :]
        if p == -2:
            d_big, d_small = -small / big ** 2, 1.0 / big
        else:
            d_big, d_small = 1.0 / small, -big / small ** 2
        g = out_grad[..., np.newaxis, np.newaxis]
        return (g * (d_big[..., np.newaxis, np.newaxis] * top
                     + d_small[..., np.newaxis, np.newaxis] * bottom),)
    ord = 2 if p is None else p
    if saved is not None:
        inverse, norm_x, norm_inv = saved
    else:
        inverse = np.linalg.inv(x)
        norm_x = np.linalg.matrix_norm(x, ord=ord)
        norm_inv = np.linalg.matrix_norm(inverse, ord=ord)
    (grad,) = matrix_norm_vjp(out_grad * norm_inv, x, norm_x, ord=ord)
    (grad_inv,) = matrix_norm_vjp(out_grad * norm_x, inverse, norm_inv, ord=ord)
    return (grad - _mT(inverse) @ grad_inv @ _mT(inverse),)


MATRIX_ORDERS = (None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf)


def cond_sample():
    """Verifier hint: square matrices with distinct singular values away from 0 (the 2-norm
    ords); for the others, entries away from 0 with distinct row and column sums."""
    from hypothesis import strategies as st

    @st.composite
    def example(draw):
        p = draw(st.sampled_from(MATRIX_ORDERS))
        n = draw(st.integers(1, 3))
        batch = draw(st.sampled_from([(), (2,)]))
        rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
        if p in (None, 2, -2, "nuc", "fro"):
            q1 = np.linalg.qr(rng.standard_normal((n, n)))[0]
            q2 = np.linalg.qr(rng.standard_normal((n, n)))[0]
            core = np.diag(1.0 + np.arange(n) * 0.75)
            a = q1 @ core @ q2.T + 0.01 * rng.standard_normal(batch + (n, n))
        else:  # powers of 2 (distinct sums of magnitudes), signs at random, a heavy diagonal
            magnitudes = 2.0 ** rng.permutation(n * n).reshape(n, n) / 2 ** (n * n)
            a = magnitudes * rng.choice([-1.0, 1.0], (n, n)) + np.diag(
                np.full(n, 2.0 ** (n * n)) / 2 ** (n * n) * 4)
            a = np.broadcast_to(a, batch + (n, n)).copy()
        return (a,), {"p": p}

    return example()


OPS += [
    Op("eigvals", eigvals, vjp=eigvals_vjp, signature="(m,m)->(m)", saves=True,
       sample=real_spectrum_sample,
       doc="np.linalg.eigvals of a real matrix with real eigenvalues (complex ones refused), "
           "sorted ascending; no grad where eigenvalues coincide"),
    Op("cond", cond, vjp=cond_vjp, signature="(m,m)->()", sample=cond_sample, saves=True,
       param_order=("p",),
       doc="np.linalg.cond: |x| |x^-1| in the p norm (None: s_max / s_min); every p"),
]


# -- tensor equations (issue 21) -----------------------------------------------------------


def _tensor_square(a, ind):
    rows = int(np.prod(np.shape(a)[:ind], dtype=np.int64))
    return rows, np.shape(a)[ind:], np.shape(a)[:ind]


def tensorinv(a, ind=2):
    """np.linalg.tensorinv: the inverse of a read as a (prod of its first ind axes) square
    matrix, shaped a.shape[ind:] + a.shape[:ind]."""
    if not isinstance(ind, (int, np.integer)) or ind <= 0:
        raise OpCallError(f"ind must be a positive int; got {ind!r}")
    return np.linalg.tensorinv(a, ind)


def tensorinv_vjp(out_grad, a, out, ind=2):
    """inv's rule on the matrices: -inv^T g inv^T, shaped back."""
    rows, _, _ = _tensor_square(a, ind)
    inverse = np.reshape(out, (-1, rows))
    g = np.reshape(out_grad, (-1, rows))
    return (np.reshape(-_mT(inverse) @ g @ _mT(inverse), np.shape(a)),)


def tensorsolve(a, b, axes=None):
    """np.linalg.tensorsolve: x with tensordot(a, x, x.ndim) = b (no axes reordering)."""
    if axes is not None:
        raise OpCallError("tensorsolve's axes is not supported: move them with np.moveaxis")
    return np.linalg.tensorsolve(a, b)


def tensorsolve_vjp(out_grad, a, b, out, axes=None, needs_grad=(True, True)):
    """solve's rule on a read as a matrix (b's size rows) and b flattened."""
    rows = int(np.size(b))
    matrix = np.reshape(a, (rows, -1))
    grad_a, grad_b = solve_vjp(np.reshape(out_grad, (-1,)), matrix, np.reshape(b, (-1,)),
                               np.reshape(out, (-1,)), needs_grad)
    return (np.reshape(grad_a, np.shape(a)) if grad_a is not None else None,
            np.reshape(grad_b, np.shape(b)) if grad_b is not None else None)


def tensor_square_sample(solve):
    """Verifier hint: a well-conditioned square matrix of size 1 to 6, given the shape of
    a tensor (ind = 1 or 2 leading axes), and for tensorsolve a right-hand side."""
    from hypothesis import strategies as st

    @st.composite
    def example(draw):
        lead = draw(st.sampled_from([(2,), (3,), (2, 2), (1, 3), (2, 3)]))
        n = int(np.prod(lead))
        rng = np.random.default_rng(draw(st.integers(0, 2 ** 16)))
        q = np.linalg.qr(rng.standard_normal((n, n)))[0]
        matrix = q @ np.diag(rng.uniform(1.0, 2.0, n)) @ q.T + 0.1 * rng.standard_normal((n, n))
        if solve:
            trail = draw(st.sampled_from([(n,)] + ([(2, n // 2)] if n % 2 == 0 else [])))
            return (np.reshape(matrix, lead + trail), rng.standard_normal(lead)), {"axes": None}
        trail = draw(st.sampled_from([(n,)] + ([(n // 2, 2)] if n % 2 == 0 else [])))
        return (np.reshape(matrix, lead + trail),), {"ind": len(lead)}

    return example()


OPS += [
    Op("tensorinv", tensorinv, vjp=tensorinv_vjp, signature=ANY_SHAPE,
       sample=lambda: tensor_square_sample(False), param_order=("ind",),
       doc="np.linalg.tensorinv: the inverse of a read as a square matrix (ind leading axes)"),
    Op("tensorsolve", tensorsolve, vjp=tensorsolve_vjp, signature="(*),(*)->(*)",
       sample=lambda: tensor_square_sample(True), param_order=("axes",),
       skip_variants={"broadcast operands": "a's leading axes are b's shape; they never "
                      "broadcast"},
       doc="np.linalg.tensorsolve: x with tensordot(a, x, x.ndim) = b (no axes)"),
]
