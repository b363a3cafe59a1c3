"""Linear algebra: matmul, 2-D, batched (leading dimensions broadcast) and 1-D as numpy does.

For out = a @ b: a.grad += out.grad @ b.T and b.grad += a.T @ out.grad, each summed
over the batch dimensions its input was broadcast along.
"""

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
    if a.ndim == 2 and b.ndim == 2:  # the common case, without lifting or unbroadcasting
        return (out_grad @ b.T if needs_grad[0] else None,
                a.T @ out_grad if needs_grad[1] else None)
    a2, b2, g2 = _as_matrices(a, b, out_grad)
    grad_a = grad_b = None
    if needs_grad[0]:
        grad_a = np.reshape(unbroadcast(g2 @ np.swapaxes(b2, -1, -2), np.shape(a2)), np.shape(a))
    if needs_grad[1]:
        grad_b = np.reshape(unbroadcast(np.swapaxes(a2, -1, -2) @ g2, np.shape(b2)), np.shape(b))
    return grad_a, grad_b


OPS = [
    Op("matmul", np.matmul, vjp=matmul_vjp, signature="(n?,k),(k,m?)->(n?,m?)",
       doc="matrix product a @ b (batched, broadcasting, 1-D as in numpy)"),
]


# -- einsum ------------------------------------------------------------------------


def _einsum_parts(subscripts: str, ndims: list[int]) -> tuple[list[str], str]:
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
    return labels, output


def einsum_vjp(out_grad, *operands, out, subscripts, needs_grad=None):
    """For each operand: the einsum of the output's grad with every other operand, onto
    that operand's labels. A label only that operand has (summed inside it) is spread
    back with ones; a repeated label (a diagonal, 'ii') is written onto the diagonal."""
    labels, output = _einsum_parts(subscripts, [np.ndim(o) for o in operands])
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
        values = st.floats(-2, 2, allow_nan=False, allow_infinity=False)
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
