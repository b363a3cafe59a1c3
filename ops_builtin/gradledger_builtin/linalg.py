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
