"""Deliberately wrong ops for the verifier's former blind spots (issue 11), each with its twin.

Each wrong op is a mistake a plugin author makes, on only some inputs: a float32 fast
path, an asymptotic branch far out, a blocked code path for large inputs, the
`needs_grad` shortcut, one segment of a table, a strict input check that a nudge
trips, an index with repeats. Its twin (same name with `_fixed` in place of
`wrong_`... see FIXED_OPS) is the same op with the mistake corrected, and must pass.
Two more twins are correct ops the verifier used to flag (false alarms).

Register with `gradledger.register_plugin(wrong_ops_blind.WRONG)` or `.FIXED`.
"""

import numpy as np
from gradledger.extend import Op, hookimpl, unbroadcast

UNARY = "()->()"


# -- 1. float32: a fast path with its own formula ------------------------------------------


def tanh_local_fast_path(x, out):
    if x.dtype == np.float32:  # "float32 fast path": copied from a polynomial variant
        return (1.0 - x * x,)  # should be 1 - out * out
    return (1.0 - out * out,)


def tanh_local(x, out):
    return (1.0 - out * out,)


# -- 2. far out: an asymptotic branch ------------------------------------------------------


def log_cosh(x):
    """log(cosh(x)) without overflow: |x| + log1p(exp(-2|x|)) - log 2."""
    a = np.abs(x)
    return a + np.log1p(np.exp(-2.0 * a)) - 0.6931471805599453  # log 2


def log_cosh_local_asymptote_unsigned(x, out):
    # for |x| > 200, tanh(x) is +-1 to the last digit: skip the call (sign forgotten)
    return (np.where(np.abs(x) > 200.0, 1.0, np.tanh(x)),)


def log_cosh_local_asymptote(x, out):
    return (np.where(np.abs(x) > 200.0, np.sign(x), np.tanh(x)),)


# -- 3. size: a blocked path for long rows ------------------------------------------------

BLOCK = 128


def reverse_cumsum_blocked_no_carry(g):
    """sum of g[j] for j >= i along the last axis; rows longer than BLOCK go block by
    block (cache-friendly), but each block forgets the total of the blocks after it."""
    n = np.shape(g)[-1]
    if n <= BLOCK:
        return np.flip(np.cumsum(np.flip(g, -1), -1), -1)
    out = np.empty(np.shape(g))
    for start in range(0, n, BLOCK):
        block = g[..., start:start + BLOCK]
        out[..., start:start + BLOCK] = np.flip(np.cumsum(np.flip(block, -1), -1), -1)
    return out


def reverse_cumsum_blocked(g):
    n = np.shape(g)[-1]
    if n <= BLOCK:
        return np.flip(np.cumsum(np.flip(g, -1), -1), -1)
    out = np.empty(np.shape(g))
    carry = np.zeros(np.shape(g)[:-1])
    for start in reversed(range(0, n, BLOCK)):
        block = g[..., start:start + BLOCK]
        out[..., start:start + BLOCK] = np.flip(np.cumsum(np.flip(block, -1), -1), -1) \
            + carry[..., np.newaxis]
        carry = out[..., start]
    return out


# -- 4. frozen inputs: the needs_grad shortcut, and the constant path -----------------------


def matmul_vjp_shortcut(out_grad, a, b, out, needs_grad=(True, True)):
    if not needs_grad[1]:  # b is a constant: a's grad alone, on its own code path
        return unbroadcast(out_grad @ b, np.shape(a)), None  # b's transpose forgotten
    return matmul_vjp(out_grad, a, b, out, needs_grad)


def matmul_vjp(out_grad, a, b, out, needs_grad=(True, True)):
    return (unbroadcast(out_grad @ np.swapaxes(b, -1, -2), np.shape(a)) if needs_grad[0]
            else None,
            unbroadcast(np.swapaxes(a, -1, -2) @ out_grad, np.shape(b)) if needs_grad[1]
            else None)


def hypot_vjp_cached(out_grad, a, b, out, needs_grad=(True, True)):
    # with b constant, rebuild the norm from a alone: "b is fixed anyway" (it is not zero)
    r = out if all(needs_grad) else np.abs(a)
    return (unbroadcast(out_grad * a / r, np.shape(a)) if needs_grad[0] else None,
            unbroadcast(out_grad * b / r, np.shape(b)) if needs_grad[1] else None)


def hypot_vjp(out_grad, a, b, out, needs_grad=(True, True)):
    return (unbroadcast(out_grad * a / out, np.shape(a)) if needs_grad[0] else None,
            unbroadcast(out_grad * b / out, np.shape(b)) if needs_grad[1] else None)


# -- 5. a narrow band: one segment of a slope table ----------------------------------------

KNOTS = np.linspace(0.0, 1.0, 11)
CURVE = np.array([0.0, 0.05, 0.12, 0.2, 0.31, 0.45, 0.58, 0.7, 0.8, 0.9, 1.0])
SLOPES_TYPO = np.array([0.5, 0.7, 0.8, 1.1, 1.4, 1.3, 1.3, 1.0, 1.0, 1.0])  # segment 6: 1.2
SLOPES = np.diff(CURVE) / np.diff(KNOTS)


def calibrate(x):
    return np.interp(x, KNOTS, CURVE).astype(np.result_type(x))


def calibrate_local_typo(x, out):
    segment = np.clip(np.searchsorted(KNOTS, x) - 1, 0, 9)
    return (SLOPES_TYPO[segment],)


def calibrate_local(x, out):
    segment = np.clip(np.searchsorted(KNOTS, x) - 1, 0, 9)
    return (SLOPES[segment],)


# -- 6. a strict input check that a nudge trips ---------------------------------------------


def entropy_strict(p):
    """Entropy of a distribution over the last axis; refuses anything that does not sum to 1."""
    if np.any(np.abs(np.sum(p, axis=-1) - 1.0) > 1e-9):
        raise ValueError("p must sum to 1 over its last axis")
    return -np.sum(p * np.log(p), axis=-1)


def entropy(p):
    return -np.sum(p * np.log(p), axis=-1)


def entropy_vjp(out_grad, p, out):
    return (-(np.log(p) + 1.0) * np.expand_dims(out_grad, -1),)


def distributions():
    """Verifier hint: rows of positive numbers summing to 1."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    def normalized(raw):
        return (raw / np.sum(raw, axis=-1, keepdims=True),), {}

    return hnp.arrays(np.float64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
                      elements=st.floats(0.1, 1.0)).map(normalized)


# -- 7. an index param with repeats: grads that do not accumulate --------------------------


def take_vjp_overwrites(out_grad, x, out, index):
    grad = np.zeros(np.shape(x))
    grad[index] += out_grad  # repeated indices keep one contribution, not their sum
    return (grad,)


def take_vjp(out_grad, x, out, index):
    grad = np.zeros(np.shape(x))
    np.add.at(grad, index, out_grad)
    return (grad,)


def take_params(shapes):
    """Verifier hint: integer arrays of positions along axis 0, repeats likely."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    n = shapes[0][0]
    return {"index": hnp.arrays(np.intp, st.integers(1, 6), elements=st.integers(0, n - 1))}


# -- 8. false alarms the verifier used to raise on correct ops ----------------------------


def gaussian_local(x, out):
    return (-2.0 * x * out,)


def gaussian_local_wrong(x, out):
    return (-x * out,)  # the factor 2 of the chain rule forgotten


def solve_vjp(out_grad, a, b, out):
    """x = a^-1 b: grad b = a^-T g, grad a = -(a^-T g) x^T."""
    grad_b = np.linalg.solve(np.swapaxes(a, -1, -2), out_grad)
    return -grad_b @ np.swapaxes(out, -1, -2), grad_b


def solve_vjp_untransposed(out_grad, a, b, out):
    grad_b = np.linalg.solve(a, out_grad)  # should solve with a transposed
    return -grad_b @ np.swapaxes(out, -1, -2), grad_b


def small_systems():
    """Verifier hint: well-conditioned systems of scale 0.01 (a matrix scaled down)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def systems(draw):
        n = draw(st.integers(1, 4))
        k = draw(st.integers(1, 3))
        noise = draw(hnp.arrays(np.float64, (n, n), elements=st.floats(-0.3, 0.3)))
        b = draw(hnp.arrays(np.float64, (n, k), elements=st.floats(-1.0, 1.0)))
        return (0.01 * (np.eye(n) * 2.0 + noise), 0.01 * b), {}

    return systems()


def _pair(name, **fields):
    """A wrong op and its fixed twin. They are first-order ops, as most plugin ops are
    (their rules use numpy freely: searchsorted, np.add.at): they declare order=1."""
    fields.setdefault("order", 1)
    wrong = Op(f"wrong_{name}", **{k: v[0] if isinstance(v, Twin) else v
                                   for k, v in fields.items()})
    fixed = Op(f"fixed_{name}", **{k: v[1] if isinstance(v, Twin) else v
                                   for k, v in fields.items()})
    return wrong, fixed


class Twin(tuple):
    """(the wrong value, the fixed value) of one Op field."""


PAIRS = [
    _pair("float32_fast_path", forward=np.tanh,
          local_grad=Twin((tanh_local_fast_path, tanh_local)), signature=UNARY,
          doc="tanh; its float32 branch differentiates 1 - x**2 instead of 1 - tanh**2"),
    _pair("asymptote_sign", forward=log_cosh,
          local_grad=Twin((log_cosh_local_asymptote_unsigned, log_cosh_local_asymptote)),
          signature=UNARY, doc="log cosh x; beyond |x| = 200 its grad forgets the sign"),
    _pair("blocked_rows", forward=lambda x: np.cumsum(x, axis=-1),
          vjp=Twin((lambda g, x, out: (reverse_cumsum_blocked_no_carry(g),),
                    lambda g, x, out: (reverse_cumsum_blocked(g),))),
          signature="(n)->(n)",
          doc="cumsum along rows; rows longer than 128 lose the later blocks' total"),
    _pair("needs_grad_shortcut", forward=np.matmul,
          vjp=Twin((matmul_vjp_shortcut, matmul_vjp)), signature="(n,k),(k,m)->(n,m)",
          doc="a @ b; with b constant, a's grad misses the transpose of b"),
    _pair("constant_path", forward=np.hypot, vjp=Twin((hypot_vjp_cached, hypot_vjp)),
          signature="(),()->()", kinks=((0.0,), (0.0,)),
          doc="hypot(a, b); with b constant, its rule rebuilds the norm from a alone"),
    _pair("one_segment", forward=calibrate,
          local_grad=Twin((calibrate_local_typo, calibrate_local)), signature=UNARY,
          domain=((0.0, 1.0),), kinks=(tuple(KNOTS[1:-1]),),
          doc="a piecewise-linear calibration curve; segment (0.6, 0.7) has a slope typo"),
    _pair("strict_input", forward=Twin((entropy_strict, entropy)), vjp=entropy_vjp,
          signature="(n)->()", sample=distributions,
          doc="entropy of rows; its forward refuses a row that does not sum to 1"),
    _pair("repeated_index", forward=lambda x, index: x[index],
          vjp=Twin((take_vjp_overwrites, take_vjp)), signature="(n)->(*)",
          params=take_params, doc="x[index] along axis 0; repeats overwrite instead of add"),
    _pair("gaussian", forward=lambda x: np.exp(-x * x),
          local_grad=Twin((gaussian_local_wrong, gaussian_local)), signature=UNARY,
          doc="exp(-x**2); its grad underflows to subnormals far out (a former false alarm)"),
    _pair("solve", forward=np.linalg.solve, vjp=Twin((solve_vjp_untransposed, solve_vjp)),
          signature="(n,n),(n,k)->(n,k)", sample=small_systems,
          doc="solve a x = b on matrices of scale 0.01 (a former false alarm)"),
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
