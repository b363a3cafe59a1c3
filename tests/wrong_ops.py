"""Deliberately wrong ops: the verifier's honesty test (tests/test_verify_honesty.py).

Each op has a correct forward and a local rule with one classic mistake. Register
them by hand: `gradledger.register_plugin(wrong_ops)`. The verifier must fail every
one of them with a shrunk counterexample.
"""

import numpy as np
from gradledger.extend import Op, hookimpl, unbroadcast
from gradledger_builtin.shape import transpose_params

UNARY = "()->()"
BINARY = "(),()->()"


# -- a factor-2 error, a wrong sign ------------------------------------------------------

factor_two = Op("wrong_factor_two", np.sin, local_grad=lambda x, out: (2.0 * np.cos(x),),
                signature=UNARY, doc="sin, its derivative doubled")

wrong_sign = Op("wrong_sign", np.cos, local_grad=lambda x, out: (np.sin(x),),
                signature=UNARY, doc="cos, its derivative's sign flipped")


# -- matmul with a missing transpose ---------------------------------------------------


def matmul_missing_transpose_vjp(out_grad, a, b, out):
    return out_grad @ b, a.T @ out_grad  # should be out_grad @ b.T


matmul_missing_transpose = Op(
    "wrong_matmul_transpose", np.matmul, vjp=matmul_missing_transpose_vjp,
    signature="(n,k),(k,m)->(n,m)", doc="a @ b, grad of a missing the transpose of b")


# -- a broadcast grad reduced by mean instead of sum -----------------------------------


def mean_unbroadcast(grad, shape):
    extra = np.ndim(grad) - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + k for k, n in enumerate(shape) if n == 1 and np.shape(grad)[extra + k] != 1)
    reduced = np.mean(grad, axis=axes, keepdims=True) if axes else grad
    return np.reshape(reduced, shape)


broadcast_by_mean = Op(
    "wrong_broadcast_reduction", np.multiply,
    vjp=lambda g, a, b, out: (mean_unbroadcast(g * b, np.shape(a)),
                              mean_unbroadcast(g * a, np.shape(b))),
    signature=BINARY, doc="a * b, broadcast grads averaged instead of summed")


# -- a binary op that forgets one input's grad ----------------------------------------

forgets_one_input = Op(
    "wrong_forgets_input", np.multiply,
    vjp=lambda g, a, b, out: (unbroadcast(g * b, np.shape(a)), None),
    signature=BINARY, doc="a * b, no grad for b")


# -- a rule correct only on square matrices -------------------------------------------


def row_mean_vjp(out_grad, x, out):
    rows = np.shape(x)[-2]  # should be the number of columns, np.shape(x)[-1]
    return (np.broadcast_to(np.expand_dims(out_grad, -1) / rows, np.shape(x)),)


square_only = Op(
    "wrong_square_only", lambda x: np.mean(x, axis=-1), vjp=row_mean_vjp,
    signature="(n,m)->(n)", doc="mean of each row, grad divided by the row count")


# -- a rule wrong only for negative inputs ----------------------------------------------

negatives_only = Op(
    "wrong_for_negatives", lambda x: x * x * x, local_grad=lambda x, out: (3.0 * x * np.abs(x),),
    signature=UNARY, doc="x ** 3, derivative 3 x |x| (wrong sign below 0)")


# -- a rule wrong only on one axis of a reduction -------------------------------------


def sum_axis_vjp(out_grad, x, out, axis):
    return (np.broadcast_to(np.expand_dims(out_grad, 0), np.shape(x)),)  # right for axis 0 only


one_axis_only = Op(
    "wrong_one_axis", lambda x, axis: np.sum(x, axis=axis), vjp=sum_axis_vjp,
    signature="(n,m)->(*)", params={"axis": [0, 1]},
    doc="sum of a matrix over axis 0 or 1, grad spread as if over axis 0")


# -- contract breaches the nudge method alone would miss ------------------------------

affine_rule = Op(
    "wrong_affine_rule", np.sin, vjp=lambda g, x, out: (g * np.cos(x) + 1e-12,),
    signature=UNARY, doc="sin, its grad off by 1e-12: not linear in the cotangent")


def scaling_in_place_vjp(out_grad, x, out):
    out_grad *= 1.0000001  # writes into the cotangent it was handed
    return (out_grad * 2.0 * x,)


mutates_cotangent = Op(
    "wrong_mutates_cotangent", lambda x: x * x, vjp=scaling_in_place_vjp,
    signature=UNARY, doc="x * x, its rule writes into out_grad")


def negating_forward(x):
    if isinstance(x, np.ndarray):
        np.negative(x, out=x)  # "saves memory", and leaves the caller's x negated
        return -3.0 * x
    return 3.0 * x


mutates_input = Op(
    "wrong_mutates_input", negating_forward, local_grad=lambda x, out: (3.0,),
    signature=UNARY, doc="3 x, its forward negates its input in place")


def transpose_positive_axes_vjp(out_grad, x, out, axes=None):
    inverse = None if axes is None else tuple(np.argsort(axes))  # wrong for negative axes
    return (np.transpose(out_grad, inverse),)


negative_axes = Op(
    "wrong_negative_axes", lambda x, axes=None: np.transpose(x, axes),
    vjp=transpose_positive_axes_vjp, signature="(*)->(*)", params=transpose_params,
    doc="transpose whose vjp inverts axes=(-1, 0) as if it were (0, 1) (a bug gradledger had)")


WRONG_OPS = [factor_two, wrong_sign, matmul_missing_transpose, broadcast_by_mean,
             forgets_one_input, square_only, negatives_only, one_axis_only,
             affine_rule, mutates_cotangent, mutates_input, negative_axes]


@hookimpl
def gradledger_register_ops(registry):
    for op in WRONG_OPS:
        registry.register(op)
