"""Deliberately wrong ops for the verifier's blind spots of issue 18, each with its twin.

Each wrong op is a mistake a plugin author makes, on only some calls: a fast path for an
unused output, a flat write that assumes C order, a rule whose default for a param differs
from the forward's, a compacted grad tuple when a sequence element is frozen, a broadcast
grad averaged, state kept in a module global between forward and rule, a param edited in
place, an integer output buffer, a blocked path for rows past 1,024, a linear rule that
reads `.data` (its second derivative cut), a Hessian wrong exactly at 0,
a Hessian asymmetric at an exact 0 (cumprod's grads past a zero held constant), a rule
wrong for an op with a Generator param (its snippet must spell the Generator), a rule
wrong only on a closed domain bound (a guarded 0 / 0 given the wrong limit). Its twin
(`fixed_` for `wrong_`) is the same op with the mistake corrected, and must pass.

Register with `gradledger.register_plugin(wrong_ops_round3.WRONG)` or `.FIXED`.
"""

import copy
import functools

import numpy as np
from gradledger.extend import Closed, Op, hookimpl, unbroadcast

UNARY = "()->()"


class Twin(tuple):
    """(the wrong value, the fixed value) of one Op field."""


def _pair(name, **fields):
    wrong = Op(f"wrong_{name}", **{k: v[0] if isinstance(v, Twin) else v
                                   for k, v in fields.items()})
    fixed = Op(f"fixed_{name}", **{k: v[1] if isinstance(v, Twin) else v
                                   for k, v in fields.items()})
    return wrong, fixed


# -- 1. an unused output: a fast path when its cotangent is zero --------------------------


def sincos(x):
    return np.sin(x), np.cos(x)


def sincos_vjp_fast_path(out_grad, x, out):
    g_sin, g_cos = out_grad
    if g_cos is None or not np.any(g_cos):  # only sin used: skip the cos half
        return (g_sin * out[0],)  # should be g_sin * cos(x) = g_sin * out[1]
    return (g_sin * out[1] - g_cos * out[0],)


def sincos_vjp(out_grad, x, out):
    g_sin, g_cos = out_grad
    if g_cos is None or not np.any(g_cos):
        return (g_sin * out[1],)
    return (g_sin * out[1] - g_cos * out[0],)


# -- 2. layout: the flat grad written in memory order ------------------------------------


def flat_cumsum(x):
    return np.cumsum(x)


def flat_cumsum_vjp_memory_order(out_grad, x, out):
    reverse = np.cumsum(out_grad[::-1])[::-1]
    grad = np.empty_like(x)
    grad.ravel(order="K")[:] = reverse  # memory order: x.T's is not C order
    return (grad,)


def flat_cumsum_vjp(out_grad, x, out):
    return (np.cumsum(out_grad[::-1])[::-1].reshape(np.shape(x)),)


# -- 3. a param's default: the rule assumes another --------------------------------------


def sum_squares(x, axis=-1):
    return np.sum(x * x, axis=axis)


def sum_squares_vjp_default_none(out_grad, x, out, axis=None):
    if axis is None:  # "reduced over everything"
        return (2.0 * x * out_grad,)
    return (2.0 * x * np.expand_dims(out_grad, axis),)


def sum_squares_vjp(out_grad, x, out, axis=-1):
    return (2.0 * x * np.expand_dims(out_grad, axis),)


def sum_squares_params(shapes):
    from hypothesis import strategies as st

    ndim = len(shapes[0])
    return {"axis": st.integers(-ndim, ndim - 1)}


# -- 4. a frozen element of a sequence input: the grads compacted ------------------------


def product(*xs):
    return functools.reduce(np.multiply, xs)


def _others(xs, k):
    rest = [x for j, x in enumerate(xs) if j != k]
    return functools.reduce(np.multiply, rest) if rest else np.ones_like(xs[k])


def product_vjp_compacted(out_grad, *xs, out, needs_grad):
    grads = [unbroadcast(out_grad * _others(xs, k), np.shape(x))
             for k, x in enumerate(xs) if needs_grad[k]]
    return tuple(grads) + (None,) * (len(xs) - len(grads))  # misaligned past a frozen one


def product_vjp(out_grad, *xs, out, needs_grad):
    return tuple(unbroadcast(out_grad * _others(xs, k), np.shape(x)) if needs_grad[k]
                 else None for k, x in enumerate(xs))


# -- 5. (*) operands broadcast: a grad averaged instead of summed -------------------------


def mean_unbroadcast(grad, shape):
    extra = np.ndim(grad) - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + k for k, n in enumerate(shape) if n == 1 and np.shape(grad)[extra + k] != 1)
    reduced = np.mean(grad, axis=axes, keepdims=True) if axes else grad
    return np.reshape(reduced, shape)


def scaled_vjp_mean(out_grad, a, b, out):
    return mean_unbroadcast(out_grad * b, np.shape(a)), mean_unbroadcast(out_grad * a, np.shape(b))


def scaled_vjp(out_grad, a, b, out):
    return unbroadcast(out_grad * b, np.shape(a)), unbroadcast(out_grad * a, np.shape(b))


# -- 6. state kept between forward and rule in a module global ---------------------------

_CACHE = {}


def softmax_cached(x):
    e = np.exp(x - np.max(x, axis=-1, keepdims=True))
    p = e / np.sum(e, axis=-1, keepdims=True)
    _CACHE["p"] = p  # "saves recomputing it in the rule"
    return p


def softmax_vjp_cached(out_grad, x, out):
    p = _CACHE["p"]  # the last call's, not necessarily this one's
    return (p * (out_grad - np.sum(out_grad * p, axis=-1, keepdims=True)),)


def softmax_vjp(out_grad, x, out):
    return (out * (out_grad - np.sum(out_grad * out, axis=-1, keepdims=True)),)


# -- 7. a param edited in place ---------------------------------------------------------


def take(x, index):
    return np.take(x, index, axis=-1)


def take_vjp_in_place(out_grad, x, out, index):
    n = np.shape(x)[-1]
    index[index < 0] += n  # normalises the caller's own array
    grad = np.zeros(np.shape(x))
    np.add.at(np.moveaxis(grad, -1, 0), index, np.moveaxis(out_grad, -1, 0))
    return (grad,)


def take_vjp(out_grad, x, out, index):
    n = np.shape(x)[-1]
    index = np.where(index < 0, index + n, index)
    grad = np.zeros(np.shape(x), dtype=np.result_type(x, out_grad))
    np.add.at(np.moveaxis(grad, -1, 0), index, np.moveaxis(out_grad, -1, 0))
    return (grad,)


def take_params(shapes):
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    n = shapes[0][-1]
    return {"index": hnp.arrays(np.intp, st.integers(1, 3), elements=st.integers(-n, n - 1))}


# -- 8. an integer output buffer --------------------------------------------------------


def rounded(x):
    out = np.empty(np.shape(x), dtype=np.int64)  # "counts are whole numbers"
    np.rint(x, out=out, casting="unsafe")
    return out


def rounded_float(x):
    return np.rint(x)


# -- 9. a blocked path for rows past 1,024 -----------------------------------------------

BLOCK = 1024


def row_norm2(x):
    return np.sum(x * x, axis=-1)


def row_norm2_vjp_blocked(out_grad, x, out):
    n = np.shape(x)[-1]
    if n <= BLOCK:
        return (2.0 * x * out_grad[..., np.newaxis],)
    grad = np.empty(np.shape(x), dtype=x.dtype)
    for start in range(0, n, BLOCK):  # blocked for cache, the last block's factor forgotten
        factor = 2.0 if start + BLOCK < n else 1.0
        grad[..., start:start + BLOCK] = factor * x[..., start:start + BLOCK] \
            * out_grad[..., np.newaxis]
    return (grad,)


def row_norm2_vjp(out_grad, x, out):
    return (2.0 * x * out_grad[..., np.newaxis],)


# -- 10. a linear op whose rule reads .data: its second derivative cut ------------------


def scatter_rows(x, index):
    return np.take(x, index, axis=0)


def scatter_rows_vjp_data(out_grad, x, out, index):
    grad = np.zeros(np.shape(x), dtype=np.asarray(getattr(out_grad, "data", out_grad)).dtype)
    np.add.at(grad, index, getattr(out_grad, "data", out_grad))  # .data: "np.add.at needs it"
    return (grad,)


def scatter_rows_vjp(out_grad, x, out, index):
    onehot = (np.asarray(index)[:, np.newaxis] == np.arange(np.shape(x)[0])).astype(
        out_grad.dtype)
    return (onehot.T @ out_grad,)


def scatter_rows_params(shapes):
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    n = shapes[0][0]
    return {"index": hnp.arrays(np.intp, st.integers(1, 4), elements=st.integers(0, n - 1))}


# -- 11. a second derivative wrong exactly at 0 -----------------------------------------


def x_sin_x_local_guarded(x, out):
    # sin x + x cos x, with sin x read off the output as out / x, guarded "against 0/0":
    # right at x = 0 (0 + 0), but the guard's constant branch differentiates to 0 there,
    # so the second derivative at exactly 0 is 1, not 2
    safe = np.where(x == 0, 1.0, x)
    return (np.where(x == 0, 0.0, out / safe) + x * np.cos(x),)


def x_sin_x_local(x, out):
    return (np.sin(x) + x * np.cos(x),)


# -- 12. a Hessian asymmetric at an exact 0 (cumprod after its first zero) ---------------


def _others_cumprod(x):
    """table[..., i, j] = prod of x[..., k] for k <= j, k != i (no division: exact at 0)."""
    k = np.shape(x)[-1]
    table = np.where(np.eye(k, dtype=bool), 1.0, x[..., np.newaxis, :])
    return np.cumprod(table, axis=-1)


def _cumprod_grad(out_grad, x):
    dtype = np.asarray(getattr(x, "data", x)).dtype
    upper = np.triu(np.ones((np.shape(x)[-1],) * 2, dtype=dtype))  # j >= i
    return np.sum(_others_cumprod(x) * upper * out_grad[..., np.newaxis, :], axis=-1)


def cumprod_vjp_zero_tail(out_grad, x, out):
    data = np.asarray(getattr(x, "data", x))
    if not np.any(data == 0):
        return (_cumprod_grad(out_grad, x),)
    # "past a row's first zero every product holds that zero: their grads are 0, skip them"
    # -- right in value, but a constant there: d grad_i / d x_zero is lost for i past it
    past = np.cumsum(np.cumsum(data == 0, axis=-1), axis=-1) > 1
    return (np.where(past, 0.0, _cumprod_grad(out_grad, x)),)


def cumprod_vjp(out_grad, x, out):
    return (_cumprod_grad(out_grad, x),)


# -- 13. a Generator param: its snippet spells it as runnable Python ---------------------


def _weights(rng, shape, like):
    """Weights drawn from a copy of the caller's Generator: the same on every call."""
    return copy.deepcopy(rng).uniform(0.5, 2.0, shape).astype(np.result_type(like))


def jitter(x, rng):
    return x + 0.1 * np.sin(x * _weights(rng, np.shape(x), getattr(x, "dtype", np.float64)))


def jitter_vjp_no_chain(out_grad, x, out, rng):
    w = _weights(rng, np.shape(x), getattr(x, "dtype", np.float64))
    return (out_grad * (1 + 0.1 * np.cos(x * w)),)  # the inner derivative w forgotten


def jitter_vjp(out_grad, x, out, rng):
    w = _weights(rng, np.shape(x), getattr(x, "dtype", np.float64))
    return (out_grad * (1 + 0.1 * w * np.cos(x * w)),)


def jitter_params(shapes):
    from hypothesis import strategies as st

    return {"rng": st.integers(0, 2**16).map(np.random.default_rng)}


# -- 14. a rule wrong only on a closed domain bound: a guarded limit ----------------------


def root_sine(x):
    """sqrt(x) sin(sqrt(x)) for x >= 0: x - x**2 / 6 + ... near 0, slope 1 there."""
    r = np.sqrt(x)
    return r * np.sin(r)


def _root_sine_local(limit):
    def local(x, out):
        # d/dx = sin(r) / (2 r) + cos(r) / 2, r = sqrt(x); sin(r) / (2 r) is 0 / 0 at x = 0,
        # guarded (the double where, so that it runs on Tensors too) with its limit there
        r = np.sqrt(x)
        safe = np.where(r > 0, r, 1.0)
        return (np.where(r > 0, np.sin(safe) / (2 * safe), limit) + np.cos(r) / 2,)

    return local


root_sine_local_guarded = _root_sine_local(0.0)  # "sin r / 2r vanishes at 0": it is 1/2
root_sine_local = _root_sine_local(0.5)


PAIRS = [
    _pair("unused_output", forward=sincos, vjp=Twin((sincos_vjp_fast_path, sincos_vjp)),
          signature="()->(),()", doc="(sin x, cos x); with cos unused, a fast path typo"),
    _pair("memory_order", forward=flat_cumsum,
          vjp=Twin((flat_cumsum_vjp_memory_order, flat_cumsum_vjp)), signature="(*)->(*)",
          order=1, doc="cumsum of x flattened; the grad written in x's memory order"),
    _pair("default_axis", forward=sum_squares,
          vjp=Twin((sum_squares_vjp_default_none, sum_squares_vjp)), signature="(m,n)->(*)",
          params=sum_squares_params, doc="sum of squares over axis (default -1); the rule "
          "defaults to None"),
    _pair("frozen_element", forward=product,
          vjp=Twin((product_vjp_compacted, product_vjp)), signature="[(*)]->(*)",
          doc="the product of a list's elements; frozen ones shift the grads"),
    _pair("broadcast_mean", forward=np.multiply, vjp=Twin((scaled_vjp_mean, scaled_vjp)),
          signature="(*),(*)->(*)", doc="a * b; a broadcast grad averaged, not summed"),
    _pair("global_state", forward=softmax_cached,
          vjp=Twin((softmax_vjp_cached, softmax_vjp)), signature="(n)->(n)",
          doc="softmax over the last axis; the rule reads the last call's p"),
    _pair("param_in_place", forward=take, vjp=Twin((take_vjp_in_place, take_vjp)),
          signature="(n)->(*)", params=take_params, order=1,
          doc="x[..., index]; the rule normalises the caller's index array in place"),
    _pair("integer_output", forward=rounded,
          local_grad=Twin((lambda x, out: (np.ones_like(x),), None)),
          differentiable=Twin((True, False)), signature=UNARY,
          doc="rint(x) as int64; a straight-through grad (fixed: declared without one)"),
    _pair("blocked_long_rows", forward=row_norm2,
          vjp=Twin((row_norm2_vjp_blocked, row_norm2_vjp)), signature="(n)->()",
          doc="sum of squares of rows; rows past 1,024 lose a factor 2 in the last block"),
    _pair("data_in_rule", forward=scatter_rows,
          vjp=Twin((scatter_rows_vjp_data, scatter_rows_vjp)), signature="(n,k)->(*)",
          params=scatter_rows_params,
          doc="x[index] along axis 0; its rule reads out_grad.data (np.add.at)"),
    _pair("hessian_at_zero", forward=lambda x: x * np.sin(x),
          local_grad=Twin((x_sin_x_local_guarded, x_sin_x_local)), signature=UNARY,
          doc="x sin x; its rule's guard at 0 differentiates to the wrong thing there"),
    _pair("zero_tail", forward=lambda x: np.cumprod(x, axis=-1),
          vjp=Twin((cumprod_vjp_zero_tail, cumprod_vjp)), signature="(n)->(n)",
          domain=((-1.08, 1.08),),
          doc="cumprod along the last axis; past a row's first zero the grads are a constant "
              "0 (their derivative in that zero lost: the Hessian asymmetric there)"),
    _pair("closed_edge", forward=root_sine,
          local_grad=Twin((root_sine_local_guarded, root_sine_local)), signature=UNARY,
          domain=((Closed(0.0), None),),
          doc="sqrt(x) sin(sqrt(x)) on x >= 0; its rule's guard at 0 books slope 1/2, not 1"),
    _pair("generator_param", forward=jitter, vjp=Twin((jitter_vjp_no_chain, jitter_vjp)),
          signature="(*)->(*)", params=jitter_params,
          doc="x + 0.1 sin(x w), w drawn from a copy of a Generator param; the rule forgets w"),
]
WRONG_OPS = [wrong for wrong, _ in PAIRS]
FIXED_OPS = [fixed for _, fixed in PAIRS]


class _Plugin:
    def __init__(self, ops):
        self.ops = ops

    @hookimpl
    def gradledger_register_ops(self, registry):
        for op in self.ops:
            registry.register(op)


WRONG = _Plugin(WRONG_OPS)
FIXED = _Plugin(FIXED_OPS)
