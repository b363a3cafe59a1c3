"""Fused layer ops: linear, linear_bias, batch_norm, layer_norm, the tanh GELU (also after a
Linear), an LSTM cell, step and sequence, masked_fill, scaled-dot-product attention (also
over a packed qkv), token plus position embeddings.

A layer PyTorch runs as one kernel is one recorded op here too, with one rule, rather
than the eight or nine elementwise ops and reductions it is made of.

Batch normalisation's statistics (the means and variances, and the sums of the
backward pass) are accumulated in float64 and rounded once to the input's dtype: numpy
sums a reduction over non-contiguous axes (a batch norm's N, H, W) one element after
another, whose float32 rounding error grows with the count, where PyTorch's kernels
keep it near one rounding. A layer norm reduces x's last, contiguous axes, which numpy
sums pairwise (and over one last axis on arrays, BLAS products with a vector of ones, blocked
as well): it stays in x's dtype. The rules are written with numpy functions and operators
that registered ops stand for, so they run on Tensors and differentiate again.
"""

import functools
import math

import numpy as np
from gradledger.errors import OpCallError
from gradledger.extend import Op, call, unbroadcast

from .linalg import matmul_vjp
from .nn import _ids, embedding_vjp

ANY = "(*)->(*)"

# -- linear ----------------------------------------------------------------------------------


def linear(x, weight):
    """x @ weight.T: weight (out_features, in_features), as torch.nn.functional.linear
    without its bias (an op has a fixed number of inputs; the bias is an add). A stack of
    weights (..., out, in) broadcasts as matmul's operands do."""
    if np.ndim(weight) == 2:
        return _rows_matmul(x, np.transpose(weight))
    return np.matmul(x, np.swapaxes(weight, -1, -2))


@functools.lru_cache(maxsize=64)
def _ones(n, dtype):
    """A read-only vector of n ones, kept: the right operand of the BLAS row sums below
    (only ever read by matmul, never returned)."""
    ones = np.ones(n, dtype=dtype)
    ones.flags.writeable = False
    return ones


def _rows_matmul(a, b):
    """a (..., k) @ b (k, m). On an array with several leading axes, one matmul of every
    row at once: numpy's matmul runs one small BLAS call per leading index (a GPT's
    (32, 12, 64) input: 32 calls of 12 rows, about 3x slower than one of 384)."""
    if a.__class__ is np.ndarray and a.ndim > 2:
        return np.matmul(a.reshape(-1, a.shape[-1]), b).reshape(*a.shape[:-1], b.shape[-1])
    return np.matmul(a, b)


def linear_vjp(out_grad, x, weight, out, needs_grad=(True, True)):
    """matmul's rule for x @ weight^T: x.grad = out_grad @ weight; weight.grad =
    out_grad^T x, for a matrix weight one matmul of every leading row at once."""
    if np.ndim(weight) == 2 and np.ndim(x) >= 2:
        o, k = np.shape(weight)
        return (_rows_matmul(out_grad, weight) if needs_grad[0] else None,
                np.matmul(np.transpose(np.reshape(out_grad, (-1, o))), np.reshape(x, (-1, k)))
                if needs_grad[1] else None)
    grad_x, grad_wt = matmul_vjp(out_grad, x, np.swapaxes(weight, -1, -2), out, needs_grad)
    return grad_x, None if grad_wt is None else np.swapaxes(grad_wt, -1, -2)


def linear_sample(bias: bool = False):
    """Verifier hint: x (..., in) with 0 to 2 leading axes, weight (out, in), and with
    `bias` a bias (out,)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        lead = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
        k, o = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        x = draw(hnp.arrays(np.float64, lead + (k,), elements=values))
        weight = draw(hnp.arrays(np.float64, (o, k), elements=values))
        if not bias:
            return (x, weight), {}
        return (x, weight, draw(hnp.arrays(np.float64, (o,), elements=values))), {}

    return example()


def _linear_bias_check(weight, bias):
    w, b = np.shape(weight), np.shape(bias)
    if len(w) != 2 or b != (w[0],):
        raise OpCallError(
            f"linear_bias takes weight (out_features, in_features) and bias (out_features,); "
            f"got weight {w}, bias {b}"
        )


def linear_bias(x, weight, bias):
    """x @ weight.T + bias: weight (out_features, in_features), bias (out_features,), as
    torch.nn.functional.linear with its bias, in one op. On arrays the bias is added in
    place into the product's buffer."""
    _linear_bias_check(weight, bias)
    out = _rows_matmul(x, np.transpose(weight))
    if (out.__class__ is np.ndarray and bias.__class__ is np.ndarray and out.ndim
            and out.dtype == np.result_type(out, bias)):
        out += bias
        return out
    return out + bias


def linear_bias_vjp(out_grad, x, weight, bias, out, needs_grad=(True, True, True)):
    """linear's rule for x and weight; bias.grad sums out_grad over every leading axis."""
    grad_x, grad_w = linear_vjp(out_grad, x, weight, out, needs_grad[:2])
    grad_b = None
    if needs_grad[2]:
        grad_b = _row_sum(out_grad)
    return grad_x, grad_w, grad_b


def _row_sum(g):
    """g summed over every leading axis, (..., o) -> (o,). On a float array one BLAS
    product with a vector of ones (5x faster than numpy's reduction over a GPT's (32, 12)
    leading axes, and blocked: no worse rounded)."""
    if g.__class__ is np.ndarray and g.ndim > 1 and g.dtype.kind == "f" and g.flags.c_contiguous:
        rows = g.reshape(-1, g.shape[-1])
        return np.matmul(_ones(rows.shape[0], g.dtype), rows)
    lead = tuple(range(np.ndim(g) - 1))
    return np.sum(g, axis=lead) if lead else g


def linear_bias_sample():
    """Verifier hint: linear's, with a bias (out,)."""
    return linear_sample(bias=True)


# -- normalisation ---------------------------------------------------------------------------


def _mean(a, axes, wide=True):
    """The mean over `axes` (kept); accumulated in float64 for a float array when `wide`."""
    if wide and a.__class__ is np.ndarray and a.dtype != np.float64:
        return np.mean(a, axis=axes, keepdims=True, dtype=np.float64).astype(a.dtype)
    return np.mean(a, axis=axes, keepdims=True)


def _sum(a, axes, wide=True):
    if wide and a.__class__ is np.ndarray and a.dtype != np.float64:
        return np.sum(a, axis=axes, keepdims=True, dtype=np.float64).astype(a.dtype)
    return np.sum(a, axis=axes, keepdims=True)


def _normalised(x, axes, eps, wide=True):
    """(x - mean) / sqrt(var + eps) over `axes` (the biased variance), and 1 / sqrt(var + eps)."""
    centred = x - _mean(x, axes, wide)
    variance = _mean(centred * centred, axes, wide) + eps
    # 1 / sqrt on arrays (numpy's power has no fast loop for -0.5); the pow op on Tensors
    if variance.__class__ is not np.ndarray:
        invstd = variance ** -0.5
        return centred * invstd, invstd
    invstd = 1 / np.sqrt(variance)
    if centred.__class__ is np.ndarray and centred.dtype == np.result_type(centred, invstd):
        return np.multiply(centred, invstd, out=centred), invstd  # centred is ours: in place
    return centred * invstd, invstd


def _affine_vjp(out_grad, x, weight, axes, eps, needs_grad, view, param_axes, wide=True,
                stats=None):
    """The normalisation's rule: with xhat the normalised x and g' = out_grad * weight,
    x.grad = invstd (g' - mean(g') - xhat mean(g' xhat)); weight.grad = sum(out_grad xhat);
    bias.grad = sum(out_grad), the statistics over `axes`, the parameters' sums over
    `param_axes`; `view` is the shape weight broadcasts against x as. `stats`: the
    forward's (xhat, invstd), else recomputed from x."""
    xhat, invstd = _normalised(x, axes, eps, wide) if stats is None else stats
    shape = np.shape(weight)
    w = np.reshape(weight, view) if view != shape else weight
    grad_x = grad_w = grad_b = None
    if needs_grad[0]:
        scaled = out_grad * w
        grad_x = invstd * (scaled - _mean(scaled, axes, wide)
                           - xhat * _mean(scaled * xhat, axes, wide))
    if needs_grad[1]:
        grad_w = np.reshape(_sum(out_grad * xhat, param_axes), shape)
    if needs_grad[2]:
        grad_b = np.reshape(_sum(out_grad, param_axes), shape)
    return grad_x, grad_w, grad_b


def _batch_axes(x, weight, bias):
    shape = np.shape(x)
    if len(shape) < 2:
        raise OpCallError(f"batch_norm takes x of shape (N, C, ...); got shape {shape}")
    c = shape[1]
    if np.shape(weight) != (c,) or np.shape(bias) != (c,):
        raise OpCallError(
            f"batch_norm: weight and bias must have shape (C,) = ({c},) for x of shape "
            f"{shape}; got {np.shape(weight)} and {np.shape(bias)}"
        )
    return (0, *range(2, len(shape))), (1, c) + (1,) * (len(shape) - 2)


_MATVEC_SPAN = 4096  # longest per-channel run summed by BLAS in x's own dtype (see below)


def channel_sums(x3):
    """Per-channel sums of x3 (N, C, L), float64 (C,): each (n, c) row of L numbers summed
    by one BLAS matrix-vector product (for L <= 4096: BLAS sums in blocks, within a few
    roundings of x's dtype), those N partial sums added in float64. Three to six times
    numpy's float64-accumulating reduction over the non-contiguous axes (N, L)."""
    n, c, span = x3.shape
    if span <= _MATVEC_SPAN and x3.dtype.kind == "f":
        rows = np.matmul(x3, np.ones(span, dtype=x3.dtype))
    else:
        rows = np.add.reduce(x3, axis=2, dtype=np.float64)
    return np.add.reduce(rows, axis=0, dtype=np.float64)


def channel_dots(a3, b3):
    """Per-channel sums of a3 * b3 (both (N, C, L)), float64 (C,): each (n, c) row's dot
    product in the arrays' dtype (a BLAS-blocked sum, as `channel_sums`, without the
    products' temporary), those N partial sums added in float64."""
    if a3.shape[2] <= _MATVEC_SPAN and a3.dtype.kind == "f" and a3.dtype == b3.dtype:
        rows = np.vecdot(a3, b3)
    else:
        rows = np.add.reduce(a3 * b3, axis=2, dtype=np.float64)
    return np.add.reduce(rows, axis=0, dtype=np.float64)


def channel_statistics(x3):
    """The per-channel mean and biased variance (float64, (C,)) of x3 (N, C, L), and x3
    minus its mean (x3's dtype): the mean's sum, then the centred squares' sum."""
    count = x3.shape[0] * x3.shape[2]
    mean = channel_sums(x3) / count
    centred = _by_channel(np.subtract, x3, mean.astype(x3.dtype))
    return mean, channel_dots(centred, centred) / count, centred


def _by_channel(ufunc, x3, values, out=None):
    """ufunc(x3, each channel's value) for x3 (N, C, L) and values (C,): the values
    repeated L times into one (C L,) row, against x3 as N rows of C L. The same numbers
    as broadcasting values[:, None], in N long inner loops rather than N C loops of L
    (3x faster on a CNN's (64, 32, 64))."""
    n, c, span = x3.shape
    row = np.repeat(values, span)
    flat = np.reshape(x3, (n, c * span))
    if out is None:
        return np.reshape(ufunc(flat, row), x3.shape)
    ufunc(flat, row, out=np.reshape(out, (n, c * span)))
    return out


def batch_norm(x, weight, bias, eps=1e-5):
    """Training-mode batch normalisation of x (N, C, ...) per channel C: the statistics over
    every axis but C, then `* weight + bias` (each (C,)), as torch.nn.functional.batch_norm
    with training=True.

    For float x the output is the centred x times weight / sqrt(var + eps) (one factor
    per channel, rounded once), plus bias; the op saves the centred x, 1 / sqrt(var +
    eps), and the batch's float64 mean and biased variance, (C,) each, from which
    F.batch_norm moves the running statistics without computing them again. The rule
    folds 1 / sqrt(var + eps) into its per-channel factors: two passes over x fewer than
    normalising first. For other x it saves the normalised x and 1 / sqrt(var + eps)."""
    _batch_axes(x, weight, bias)
    if x.dtype.kind != "f" or not x.size:
        axes, channel = _batch_axes(x, weight, bias)
        xhat, invstd = _normalised(x, axes, eps)
        return xhat * np.reshape(weight, channel) + np.reshape(bias, channel), (xhat, invstd)
    n, c = x.shape[:2]
    mean, variance, centred = channel_statistics(np.reshape(x, (n, c, -1)))
    invstd = 1.0 / np.sqrt(variance + eps)
    scale = (invstd * weight).astype(np.result_type(x.dtype, weight))
    out = _by_channel(np.multiply, centred, scale)
    _by_channel(np.add, out, bias, out=out)
    return np.reshape(out, x.shape), (np.reshape(centred, x.shape),
                                      invstd.astype(x.dtype)[:, np.newaxis], mean, variance)


def batch_norm_vjp(out_grad, x, weight, bias, out, saved=None, eps=1e-5,
                   needs_grad=(True, True, True)):
    """The normalisation's rule (see `_affine_vjp`). On arrays from the forward's saved
    centred x and float64 variance, with xhat = centred invstd folded into per-channel
    factors: weight.grad = invstd sum(out_grad centred) and x.grad = invstd weight
    (out_grad - centred invstd mean(out_grad xhat) - mean(out_grad)), the sums by
    `channel_sums` and `channel_dots` (no temporary of the products); on Tensors
    (create_graph=True, `saved` None) recomputed from x with ops."""
    axes, channel = _batch_axes(x, weight, bias)
    if (saved is None or out_grad.__class__ is not np.ndarray or weight.__class__ is not np.ndarray
            or x.dtype.kind != "f" or not x.size):
        return _affine_vjp(out_grad, x, weight, axes, eps, needs_grad, channel, axes)
    centred, variance = saved[0], saved[3]
    invstd = 1.0 / np.sqrt(variance + eps)
    n, c = x.shape[:2]
    g3 = np.reshape(out_grad, (n, c, -1))
    centred3 = np.reshape(centred, (n, c, -1))
    sum_g = channel_sums(g3)
    sum_gx = invstd * channel_dots(g3, centred3)  # sum(out_grad xhat)
    grad_x = grad_w = grad_b = None
    if needs_grad[0]:
        count = g3.shape[0] * g3.shape[2]
        dtype = np.result_type(out_grad, weight)
        grad_x = _by_channel(np.multiply, centred3, (invstd * (sum_gx / count)).astype(dtype))
        np.subtract(g3, grad_x, out=grad_x)
        _by_channel(np.subtract, grad_x, (sum_g / count).astype(dtype), out=grad_x)
        _by_channel(np.multiply, grad_x, (invstd * weight).astype(dtype), out=grad_x)
        grad_x = np.reshape(grad_x, x.shape)
    if needs_grad[1]:
        grad_w = sum_gx.astype(np.result_type(out_grad, weight))
    if needs_grad[2]:
        grad_b = sum_g.astype(np.result_type(out_grad, bias))
    return grad_x, grad_w, grad_b


def _layer_axes(x, weight, bias):
    shape, normalized = np.shape(x), np.shape(weight)
    k = len(normalized)
    if k == 0 or shape[len(shape) - k:] != normalized or np.shape(bias) != normalized:
        raise OpCallError(
            f"layer_norm: weight and bias must have the shape of x's last dimensions (the "
            f"normalized_shape); got x {shape}, weight {normalized}, bias {np.shape(bias)}"
        )
    return tuple(range(-k, 0))


def _rows_plain(*arrays):
    """Whether a layer norm over one last axis can take the row path: float arrays of one
    dtype (float32 or float64)."""
    dtype = arrays[0].dtype if arrays[0].__class__ is np.ndarray else None
    return (dtype in (np.float32, np.float64) and np.ndim(arrays[1]) == 1
            and all(a.__class__ is np.ndarray and a.dtype == dtype for a in arrays))


def _last_sums(a):
    """a summed over its last axis (kept): for a C-ordered float array one BLAS product
    with a vector of ones (numpy's reduction over short rows is ~10x slower)."""
    if (a.__class__ is np.ndarray and a.dtype in (np.float32, np.float64) and a.ndim
            and a.flags.c_contiguous and a.size):
        rows = np.matmul(np.reshape(a, (-1, a.shape[-1])), _ones(a.shape[-1], a.dtype))
        return np.reshape(rows, (*a.shape[:-1], 1))
    return np.sum(a, axis=-1, keepdims=True)


def _row_means(rows):
    """Each row's mean, (n,): one BLAS product with a vector of ones (numpy's reduction
    over 64-element rows took 10x as long), blocked like a pairwise sum."""
    return np.matmul(rows, _ones(rows.shape[1], rows.dtype)) / rows.shape[1]


def _layer_norm_rows(x, weight, bias, eps):
    """layer_norm over one last axis on arrays, x viewed as rows: (out, xhat, invstd),
    xhat shaped as x and invstd as x with its last axis 1."""
    rows = np.reshape(x, (-1, x.shape[-1]))
    centred = rows - _row_means(rows)[:, None]
    invstd = _row_means(centred * centred)
    invstd += eps
    np.sqrt(invstd, out=invstd)
    np.reciprocal(invstd, out=invstd)
    xhat = np.multiply(centred, invstd[:, None], out=centred)
    out = xhat * weight
    out += bias
    return (np.reshape(out, x.shape), np.reshape(xhat, x.shape),
            np.reshape(invstd, (*x.shape[:-1], 1)))


def _layer_norm_rows_vjp(out_grad, weight, xhat, invstd, needs_grad):
    """The rule of _layer_norm_rows: x.grad = invstd (g' - mean(g') - xhat mean(g' xhat))
    with g' = out_grad weight, each mean over a row and taken by BLAS; weight.grad and
    bias.grad sum over the rows by BLAS too."""
    e = xhat.shape[-1]
    g = np.reshape(out_grad, (-1, e))
    xh = np.reshape(xhat, (-1, e))
    grad_x = grad_w = grad_b = None
    if needs_grad[0]:
        scaled = g * weight
        product = scaled * xh
        mean_gx = _row_means(product)
        scaled -= _row_means(scaled)[:, None]
        np.multiply(xh, mean_gx[:, None], out=product)
        scaled -= product
        scaled *= np.reshape(invstd, (-1, 1))
        grad_x = np.reshape(scaled, np.shape(out_grad))
    if needs_grad[1] or needs_grad[2]:
        ones = _ones(g.shape[0], g.dtype)
        if needs_grad[1]:
            grad_w = np.matmul(ones, g * xh)
        if needs_grad[2]:
            grad_b = np.matmul(ones, g)
    return grad_x, grad_w, grad_b


def layer_norm(x, weight, bias, eps=1e-5):
    """(x - mean) / sqrt(var + eps) over x's last weight.ndim dimensions (the biased
    variance), then `* weight + bias`: torch.nn.functional.layer_norm. Saves the
    normalised x and 1 / sqrt(var + eps) for the rule."""
    axes = _layer_axes(x, weight, bias)
    if _rows_plain(x, weight, bias) and x.ndim >= 1 and x.size:
        out, xhat, invstd = _layer_norm_rows(x, weight, bias, eps)
        return out, (xhat, invstd)
    xhat, invstd = _normalised(x, axes, eps, wide=False)
    out = xhat * weight
    if out.dtype == np.result_type(out, bias):
        out += bias
    else:
        out = out + bias
    return out, (xhat, invstd)


def layer_norm_vjp(out_grad, x, weight, bias, out, saved=None, eps=1e-5,
                   needs_grad=(True, True, True)):
    axes = _layer_axes(x, weight, bias)
    leading = tuple(range(np.ndim(x) - len(axes)))
    stats = saved if out_grad.__class__ is np.ndarray else None
    if (stats is not None and len(axes) == 1 and _rows_plain(out_grad, weight, *stats)
            and out_grad.size):
        return _layer_norm_rows_vjp(out_grad, weight, stats[0], stats[1], needs_grad)
    return _affine_vjp(out_grad, x, weight, axes, eps, needs_grad, np.shape(weight), leading,
                       wide=False, stats=stats)


def _spread(draw, shape):
    """Values at least 0.2 apart, so that no slice's variance is near 0 (the verifier nudges
    every number; a near-constant slice makes 1 / sqrt(var + eps) steep)."""
    from hypothesis import strategies as st

    size = int(np.prod(shape))
    order = draw(st.permutations(range(size)))
    return np.reshape(np.asarray(order, dtype=np.float64) * 0.2 - 0.1 * size, shape)


def batch_norm_sample():
    """Verifier hint: x (N, C, ...) with N * (spatial size) >= 2, weight and bias (C,)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        n, c = draw(st.integers(2, 3)), draw(st.integers(1, 3))
        spatial = draw(st.sampled_from([(), (2,), (2, 1)]))
        x = _spread(draw, (n, c, *spatial))
        weight = draw(hnp.arrays(np.float64, (c,), elements=values))
        bias = draw(hnp.arrays(np.float64, (c,), elements=values))
        return (x, weight, bias), {"eps": draw(st.sampled_from([1e-5, 0.1]))}

    return example()


def layer_norm_sample():
    """Verifier hint: x (..., normalized_shape) with at least 2 normalised numbers."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        lead = draw(st.sampled_from([(), (2,), (2, 1)]))
        normalized = draw(st.sampled_from([(2,), (3,), (2, 2)]))
        x = _spread(draw, lead + normalized)
        weight = draw(hnp.arrays(np.float64, normalized, elements=values))
        bias = draw(hnp.arrays(np.float64, normalized, elements=values))
        return (x, weight, bias), {"eps": draw(st.sampled_from([1e-5, 0.1]))}

    return example()


# -- activations -----------------------------------------------------------------------------

GELU_C = float(np.sqrt(2.0 / np.pi))  # a Python float: float32 stays float32
GELU_A = 0.044715


GELU_TAIL = -3.0
"""Below this x, gelu_tanh takes 1 + t and 1 - t^2 (t = tanh(a), a = c (x + 0.044715 x^3))
from e = exp(2a): 2e / (1 + e) and 4e / (1 + e)^2. From t itself both cancel: t is -1 to
within its rounding there, and float32's 1 - t^2 at x = -5.3 kept no digit (its grad came
out 7x float64's: 6e-6 against 8e-7, where the rule's other term multiplies it by 10)."""


def _gelu_tail(x):
    """(1 + t, 1 - t^2) for x below GELU_TAIL (a few elements), without cancellation."""
    e = np.exp(2.0 * GELU_C * (x + GELU_A * (x * x * x)))
    d = 1.0 + e
    return 2.0 * e / d, 4.0 * e / (d * d)


def gelu_tanh(x):
    """0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), PyTorch's GELU(approximate='tanh').

    The inner polynomial as x (c + a c x^2) (c = sqrt(2/pi), a = 0.044715), in place in
    one buffer: no cube through numpy's slow power loop, and three temporaries where
    the formula as written makes nine. Saves t = tanh(inner) for the rule. Below
    GELU_TAIL, 1 + t comes from exp (see there): the output keeps its relative precision
    in the far negative tail."""
    if x.__class__ is not np.ndarray and not isinstance(x, np.generic):
        t = np.tanh(GELU_C * (x + GELU_A * (x * x * x)))  # a Tensor: the tape records
        return 0.5 * x * (1.0 + t), (t,)
    scalar = x.__class__ is not np.ndarray or x.ndim == 0
    x = np.array(x, ndmin=1, copy=None)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    inner = x * x
    inner *= GELU_A * GELU_C
    inner += GELU_C
    inner *= x
    t = np.tanh(inner, out=inner)
    out = t + 1.0
    out *= x
    out *= 0.5
    tail = x < GELU_TAIL
    if tail.any():
        xt = x[tail]
        out[tail] = 0.5 * xt * _gelu_tail(xt)[0]
    return (out[0], (t[0],)) if scalar else (out, (t,))


def gelu_tanh_local(x, out, saved=None):
    """0.5 (1 + t) + 0.5 x (1 - t^2) (c + 3 a c x^2), t = tanh(inner): with the forward's
    saved t on arrays (in place, four temporaries fewer); recomputed on Tensors. Below
    GELU_TAIL, 1 + t and 1 - t^2 come from exp (see there)."""
    if x.__class__ is not np.ndarray and not isinstance(x, np.generic):
        t = np.tanh(GELU_C * (x + GELU_A * (x * x * x)))  # a Tensor: the tape records
        return (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C
                * (1.0 + 3.0 * GELU_A * (x * x)),)
    scalar = x.__class__ is not np.ndarray or x.ndim == 0
    x = np.array(x, ndmin=1, copy=None)
    if x.dtype.kind != "f":
        x = x.astype(np.float64)
    if saved is None:
        t = np.tanh(GELU_C * (x + GELU_A * (x * x * x)))
    else:
        t = np.array(saved[0], ndmin=1, copy=None)
    slope = x * x
    slope *= 1.5 * GELU_A * GELU_C
    slope += 0.5 * GELU_C
    slope *= x
    square = t * t
    np.subtract(1.0, square, out=square)
    slope *= square
    square = np.multiply(t, 0.5, out=square)
    slope += square
    slope += 0.5
    tail = x < GELU_TAIL
    if tail.any():
        xt = x[tail]
        plus, minus_square = _gelu_tail(xt)
        slope[tail] = (0.5 * plus + 0.5 * xt * minus_square * GELU_C
                       * (1.0 + 3.0 * GELU_A * (xt * xt)))
    return (slope[0] if scalar else slope,)


# -- a Linear layer and its GELU -------------------------------------------------------------


def linear_gelu(x, weight, bias):
    """gelu_tanh(x @ weight.T + bias): a transformer MLP's first Linear and its tanh GELU
    in one op, PyTorch's F.gelu(fc(x), approximate='tanh'). Saves the pre-activation and
    the GELU's tanh."""
    pre = linear_bias(x, weight, bias)
    out, (t,) = gelu_tanh(pre)
    return out, (pre, t)


def linear_gelu_vjp(out_grad, x, weight, bias, out, saved=None,
                    needs_grad=(True, True, True)):
    """The GELU's slope at the pre-activation times out_grad, then linear_bias's rule. On
    arrays from the saved pre-activation and tanh (the product in place into the slope);
    on Tensors both recomputed by ops."""
    if saved is not None and out_grad.__class__ is np.ndarray:
        pre, t = saved
        (slope,) = gelu_tanh_local(pre, out, saved=(t,))
        grad_pre = np.multiply(slope, out_grad, out=slope) if (
            slope.dtype == np.result_type(slope, out_grad)) else slope * out_grad
    else:
        pre = linear_bias(x, weight, bias)
        grad_pre = gelu_tanh_local(pre, None)[0] * out_grad
    return linear_bias_vjp(grad_pre, x, weight, bias, None, needs_grad)


# -- recurrent -------------------------------------------------------------------------------


def _sigmoid(x):
    return call("sigmoid", x)


def _lstm_gates(gates, bias):
    """The activated gates i, f, g, o (PyTorch's order) of gates + bias, split four ways."""
    z = gates + bias
    h = np.shape(z)[-1] // 4
    return (_sigmoid(z[..., :h]), _sigmoid(z[..., h:2 * h]), np.tanh(z[..., 2 * h:3 * h]),
            _sigmoid(z[..., 3 * h:]))


def _lstm_check(gates, bias, c):
    g, b, cs = np.shape(gates), np.shape(bias), np.shape(c)
    if not g or g[-1] % 4 or b != (g[-1],) or cs != (*g[:-1], g[-1] // 4):
        raise OpCallError(
            f"lstm_cell takes gates (..., 4 hidden), bias (4 hidden,) and c (..., hidden); got "
            f"gates {g}, bias {b}, c {cs}"
        )


def _activated(gates, bias):
    """On arrays: the activated gates [i, f, g, o] side by side, (..., 4 hidden), in one
    buffer: sigmoid as 1 / (1 + exp(-z)) in place (PyTorch's formula: exp overflowing to
    inf gives exactly 0, and both tails keep their relative precision), tanh for g."""
    z = gates + bias
    h = z.shape[-1] // 4
    g = np.tanh(z[..., 2 * h:3 * h])
    np.negative(z, out=z)
    with np.errstate(over="ignore"):
        np.exp(z, out=z)
    z += 1
    np.reciprocal(z, out=z)
    z[..., 2 * h:3 * h] = g
    return z


def lstm_cell(gates, bias, c):
    """One LSTM step from its pre-activations: with i, f, g, o the activated gates of
    gates + bias, c' = f c + i g and h' = o tanh(c'). Returns h' and c' side by side,
    (..., 2 hidden): one output, split by the caller. Saves the activated gates and
    tanh(c') for the rule."""
    _lstm_check(gates, bias, c)
    if not all(a.__class__ is np.ndarray and a.dtype.kind == "f" for a in (gates, bias, c)):
        i, f, g, o = _lstm_gates(gates, bias)
        c_next = f * c + i * g
        t = np.tanh(c_next)
        return np.concatenate([o * t, c_next], axis=-1), (np.concatenate([i, f, g, o], axis=-1), t)
    act = _activated(gates, bias)
    h = np.shape(c)[-1]
    i, f, g, o = act[..., :h], act[..., h:2 * h], act[..., 2 * h:3 * h], act[..., 3 * h:]
    out = np.empty((*act.shape[:-1], 2 * h), dtype=np.result_type(act, c))
    c_next = out[..., h:]
    np.multiply(f, c, out=c_next)
    c_next += i * g
    t = np.tanh(c_next)
    np.multiply(o, t, out=out[..., :h])
    return out, (act, t)


def lstm_cell_vjp(out_grad, gates, bias, c, out, saved=None, needs_grad=(True, True, True)):
    """Through c' and h': dc' = grad_c' + grad_h' o (1 - tanh(c')^2); each gate's grad is its
    activation's derivative times what multiplies it; bias.grad sums the gates' grad over
    the leading axes; c.grad = dc' f. The activated gates and tanh(c') the forward saved
    on arrays; recomputed on Tensors."""
    hidden = np.shape(c)[-1]
    grad_h, grad_c = out_grad[..., :hidden], out_grad[..., hidden:]
    if saved is not None and out_grad.__class__ is np.ndarray:
        act, t = saved
        i, f, g, o = (act[..., :hidden], act[..., hidden:2 * hidden],
                      act[..., 2 * hidden:3 * hidden], act[..., 3 * hidden:])
        dc = grad_h * o
        dc *= 1 - t * t
        dc += grad_c
        d_gates = np.empty((*dc.shape[:-1], 4 * hidden), dtype=dc.dtype)
        np.multiply(dc * g, i * (1 - i), out=d_gates[..., :hidden])
        np.multiply(dc * c, f * (1 - f), out=d_gates[..., hidden:2 * hidden])
        np.multiply(dc * i, 1 - g * g, out=d_gates[..., 2 * hidden:3 * hidden])
        np.multiply(grad_h * t, o * (1 - o), out=d_gates[..., 3 * hidden:])
    else:
        i, f, g, o = _lstm_gates(gates, bias)
        t = np.tanh(out[..., hidden:])
        dc = grad_c + grad_h * o * (1 - t * t)
        d_gates = np.concatenate([dc * g * i * (1 - i), dc * c * f * (1 - f),
                                  dc * i * (1 - g * g), grad_h * t * o * (1 - o)], axis=-1)
    grad_bias = None
    if needs_grad[1]:
        lead = tuple(range(np.ndim(d_gates) - 1))
        grad_bias = np.sum(d_gates, axis=lead) if lead else d_gates
    return d_gates if needs_grad[0] else None, grad_bias, dc * f if needs_grad[2] else None


def _step_gates(x_proj, h, weight):
    """x_proj + h @ weight.T: an LSTM step's pre-activations (before the bias)."""
    shapes = np.shape(x_proj), np.shape(h), np.shape(weight)
    if (len(shapes[2]) != 2 or not shapes[0] or not shapes[1] or shapes[2][0] != shapes[0][-1]
            or shapes[2][1] != shapes[1][-1]):
        raise OpCallError(
            f"lstm_step takes x_proj (..., 4 hidden), h (..., hidden) and weight_hh "
            f"(4 hidden, hidden); got x_proj {shapes[0]}, h {shapes[1]}, weight_hh {shapes[2]}"
        )
    return x_proj + np.matmul(h, np.transpose(weight))


def lstm_step(x_proj, h, weight_hh, bias_hh, c):
    """One LSTM step from the input's projection: lstm_cell(x_proj + h @ weight_hh.T,
    bias_hh, c), one op where linear, add and lstm_cell are three. Returns [h', c']
    (..., 2 hidden); saves lstm_cell's values (on float arrays of one dtype and one
    leading shape, _step_arrays' instead)."""
    arrays = (x_proj, h, weight_hh, bias_hh, c)
    if all(a.__class__ is np.ndarray for a in arrays):
        hidden = _step_shape(x_proj, h, weight_hh, bias_hh, c)
        if hidden:
            return _step_arrays(x_proj, h, weight_hh, bias_hh, c, hidden)
    return lstm_cell(_step_gates(x_proj, h, weight_hh), bias_hh, c)


def _step_shape(x_proj, h, weight_hh, bias_hh, c):
    """The hidden size where _step_arrays applies: float arrays of one dtype, x_proj
    (..., 4H), h and c (..., H) with x_proj's leading axes, weight_hh (4H, H), bias_hh
    (4H,); else 0 (the general path, which broadcasts and checks)."""
    dtype = x_proj.dtype
    if dtype.kind != "f" or not (h.dtype == weight_hh.dtype == bias_hh.dtype == c.dtype
                                 == dtype):
        return 0
    shape = x_proj.shape
    hidden = weight_hh.shape[-1] if weight_hh.ndim == 2 else 0
    if (not hidden or len(shape) < 1 or shape[-1] != 4 * hidden
            or weight_hh.shape[0] != 4 * hidden or bias_hh.shape != (4 * hidden,)
            or h.shape != (*shape[:-1], hidden) or c.shape != h.shape):
        return 0
    return hidden


def _step_arrays(x_proj, h, weight_hh, bias_hh, c, hidden):
    """lstm_step on float arrays of one dtype and one leading shape: the pre-activations
    in one (n, 4H) buffer (h @ weight_hh.T, then x_proj and the bias added in place), the
    sigmoid as lstm_cell's 1 / (1 + exp(-z)) over the whole buffer at once (its g block,
    taken through tanh first and kept apart, is not used), then c' and h' straight into
    the output. Saves the buffer, tanh(g) and tanh(c')."""
    shape = x_proj.shape
    rows = h.reshape(-1, hidden) if h.ndim != 2 else h
    z = np.matmul(rows, weight_hh.T)
    z += x_proj.reshape(-1, 4 * hidden) if x_proj.ndim != 2 else x_proj
    z += bias_hh
    g = np.tanh(z[:, 2 * hidden:3 * hidden])
    np.negative(z, out=z)
    with np.errstate(over="ignore"):  # exp(-z) overflowing to inf: the sigmoid is 0
        np.exp(z, out=z)
    z += 1
    np.reciprocal(z, out=z)
    out = np.empty((z.shape[0], 2 * hidden), dtype=z.dtype)
    c_next = out[:, hidden:]
    np.multiply(z[:, hidden:2 * hidden], c.reshape(-1, hidden) if c.ndim != 2 else c,
                out=c_next)
    c_next += z[:, :hidden] * g
    t = np.tanh(c_next)
    np.multiply(z[:, 3 * hidden:], t, out=out[:, :hidden])
    return out.reshape(*shape[:-1], 2 * hidden), (z, g, t)


def _step_vjp_arrays(grad_h, grad_c, h, weight_hh, c, saved, hidden, needs_grad):
    """lstm_step_vjp from _step_arrays' saved values, on arrays: lstm_cell's rule with the
    sigmoids' slopes s - s^2 taken over the whole gate buffer at once (as lstm_seq's rule
    takes them), then the products of the step's gates' grads, d weight_hh in parts of
    the rows where that brings each within OpenBLAS's small-matrix path."""
    z, g, t = saved
    n = z.shape[0]
    lead = grad_h.shape[:-1]
    if grad_h.ndim != 2:
        grad_h, grad_c = grad_h.reshape(n, hidden), grad_c.reshape(n, hidden)
    c = c.reshape(n, hidden) if c.ndim != 2 else c
    i, f, o = z[:, :hidden], z[:, hidden:2 * hidden], z[:, 3 * hidden:]
    dc = np.multiply(t, t)
    np.subtract(1, dc, out=dc)
    dc *= o
    dc *= grad_h
    dc += grad_c  # dc' = grad_c' + grad_h' o (1 - tanh(c')^2)
    d = np.multiply(z, z)
    np.subtract(z, d, out=d)  # s (1 - s); the g block is replaced below
    d_i, d_f, d_g, d_o = (d[:, k * hidden:(k + 1) * hidden] for k in range(4))
    d_i *= g
    d_i *= dc
    d_f *= c
    d_f *= dc
    np.multiply(g, g, out=d_g)
    np.subtract(1, d_g, out=d_g)
    d_g *= i
    d_g *= dc
    d_o *= t
    d_o *= grad_h
    grad_h = None
    if needs_grad[1]:
        parts = next((k for k in (1, 2, 4, 8) if n % k == 0
                      and _small_product(n // k, 4 * hidden, hidden)), 1)
        grad_h = np.matmul(d.reshape(parts, n // parts, 4 * hidden), weight_hh)
    return (d.reshape(*lead, 4 * hidden) if needs_grad[0] else None,
            grad_h.reshape(*lead, hidden) if needs_grad[1] else None,
            np.matmul(d.T, h.reshape(n, hidden) if h.ndim != 2 else h)
            if needs_grad[2] else None,
            _row_sum(d) if needs_grad[3] else None,
            np.multiply(dc, f).reshape(*lead, hidden) if needs_grad[4] else None)


def lstm_step_vjp(out_grad, x_proj, h, weight_hh, bias_hh, c, out, saved=None,
                  needs_grad=(True, True, True, True, True)):
    """lstm_cell's rule gives the pre-activations' grad d; then x_proj.grad = d,
    h.grad = d weight_hh, weight_hh.grad = d^T h (over every leading row)."""
    if _fast_step_saved(saved, out_grad):
        hidden = np.shape(c)[-1]
        return _step_vjp_arrays(out_grad[..., :hidden], out_grad[..., hidden:], h, weight_hh,
                                c, saved, hidden, needs_grad)
    gates = (None if saved is not None and len(saved) == 2 and out_grad.__class__ is np.ndarray
             else _step_gates(x_proj, h, weight_hh))
    d_gates, grad_bias, grad_c = lstm_cell_vjp(
        out_grad, gates, bias_hh, c, out, saved=None if gates is not None else saved,
        needs_grad=(True, needs_grad[3], needs_grad[4]))
    grad_x = unbroadcast(d_gates, np.shape(x_proj)) if needs_grad[0] else None
    grad_h = unbroadcast(np.matmul(d_gates, weight_hh), np.shape(h)) if needs_grad[1] else None
    grad_w = None
    if needs_grad[2]:
        four, hidden = np.shape(weight_hh)
        rows = np.reshape(np.broadcast_to(h, (*np.shape(d_gates)[:-1], hidden)), (-1, hidden))
        grad_w = np.matmul(np.transpose(np.reshape(d_gates, (-1, four))), rows)
    return grad_x, grad_h, grad_w, grad_bias, grad_c


def lstm_step_sample():
    """Verifier hint: x_proj (N, 4H), h (N, H), weight_hh (4H, H), bias (4H,), c (N, H)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        lead = draw(st.sampled_from([(), (1,), (2,), (1, 2)]))
        hidden = draw(st.integers(1, 3))
        arrays = [draw(hnp.arrays(np.float64, shape, elements=values)) for shape in (
            lead + (4 * hidden,), lead + (hidden,), (4 * hidden, hidden), (4 * hidden,),
            lead + (hidden,))]
        return tuple(arrays), {}

    return example()


def _fast_step_saved(saved, out_grad) -> bool:
    """Whether lstm_step_vjp takes _step_arrays' saved values as they are."""
    return (saved is not None and len(saved) == 3 and out_grad.__class__ is np.ndarray
            and out_grad.dtype == saved[0].dtype)


def _input_step_check(x, h, weight_ih, bias_ih, weight_hh, bias_hh, c):
    xs, hs, wi, bi, wh, bh, cs = (np.shape(a) for a in (x, h, weight_ih, bias_ih, weight_hh,
                                                         bias_hh, c))
    hidden = wh[1] if len(wh) == 2 else 0
    if (not hidden or wh[0] != 4 * hidden or len(wi) != 2 or wi[0] != 4 * hidden or not xs
            or xs[-1] != wi[1] or bi != (4 * hidden,) or bh != (4 * hidden,) or not hs
            or hs[-1] != hidden or cs != np.broadcast_shapes(xs[:-1], hs[:-1]) + (hidden,)):
        raise OpCallError(
            f"lstm_input_step takes x (..., in), h and c (..., hidden), weight_ih (4 hidden, "
            f"in), bias_ih (4 hidden,), weight_hh (4 hidden, hidden) and bias_hh (4 hidden,), "
            f"c with the leading axes of x and h broadcast; got x {xs}, h {hs}, weight_ih "
            f"{wi}, bias_ih {bi}, weight_hh {wh}, bias_hh {bh}, c {cs}"
        )


def lstm_input_step(x, h, weight_ih, bias_ih, weight_hh, bias_hh, c):
    """One LSTM step from its input x: lstm_step(x @ weight_ih.T + bias_ih, h, weight_hh,
    bias_hh, c) split into h' and c' (..., hidden) each: PyTorch's LSTMCell as one op
    with two outputs where linear_bias, lstm_step and split are three ops. Saves
    lstm_step's values."""
    _input_step_check(x, h, weight_ih, bias_ih, weight_hh, bias_hh, c)
    out, saved = lstm_step(linear_bias(x, weight_ih, bias_ih), h, weight_hh, bias_hh, c)
    hidden = np.shape(weight_hh)[1]
    return (out[..., :hidden], out[..., hidden:]), saved


def lstm_input_step_vjp(out_grad, x, h, weight_ih, bias_ih, weight_hh, bias_hh, c, out,
                        saved=None, needs_grad=(True,) * 7):
    """lstm_step's rule gives the projection's grad d (and h's, weight_hh's, bias_hh's,
    c's); linear_bias's rule takes d to x, weight_ih and bias_ih. The projection is
    recomputed only where lstm_step's rule recomputes its gates."""
    projected = needs_grad[0] or needs_grad[2] or needs_grad[3]
    step_needs = (projected, needs_grad[1], needs_grad[4], needs_grad[5], needs_grad[6])
    grad_h_out, grad_c_out = out_grad
    if _fast_step_saved(saved, grad_h_out) and grad_c_out.__class__ is np.ndarray:
        grad_proj, grad_h, grad_whh, grad_bhh, grad_c = _step_vjp_arrays(
            grad_h_out, grad_c_out, h, weight_hh, c, saved, np.shape(c)[-1], step_needs)
    else:
        grad_proj, grad_h, grad_whh, grad_bhh, grad_c = lstm_step_vjp(
            np.concatenate([grad_h_out, grad_c_out], axis=-1), linear_bias(x, weight_ih, bias_ih),
            h, weight_hh, bias_hh, c, np.concatenate(list(out), axis=-1),
            saved=saved if saved is not None and len(saved) == 2 else None,
            needs_grad=step_needs)
    grad_x = grad_wih = grad_bih = None
    if projected:
        grad_x, grad_wih, grad_bih = linear_bias_vjp(
            grad_proj, x, weight_ih, bias_ih, None,
            (needs_grad[0], needs_grad[2], needs_grad[3]))
    return grad_x, grad_h, grad_wih, grad_bih, grad_whh, grad_bhh, grad_c


def lstm_input_step_sample():
    """Verifier hint: x (N, in), h and c (N, H), weight_ih (4H, in), bias_ih (4H,),
    weight_hh (4H, H), bias_hh (4H,); N absent, 1 or 2, in and H from 1 to 3."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        lead = draw(st.sampled_from([(), (1,), (2,), (1, 2)]))
        hidden, size = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        arrays = [draw(hnp.arrays(np.float64, shape, elements=values)) for shape in (
            lead + (size,), lead + (hidden,), (4 * hidden, size), (4 * hidden,),
            (4 * hidden, hidden), (4 * hidden,), lead + (hidden,))]
        return tuple(arrays), {}

    return example()


def _seq_check(x_proj, h0, weight_hh, bias_hh, c0):
    xs, hs, ws, bs, cs = (np.shape(a) for a in (x_proj, h0, weight_hh, bias_hh, c0))
    hidden = ws[1] if len(ws) == 2 else 0
    if (len(xs) < 2 or not hidden or ws[0] != 4 * hidden or xs[-1] != 4 * hidden
            or bs != (4 * hidden,) or hs != (*xs[1:-1], hidden) or cs != hs):
        raise OpCallError(
            f"lstm_seq takes x_proj (L, ..., 4 hidden), h0 and c0 (..., hidden), weight_hh "
            f"(4 hidden, hidden) and bias_hh (4 hidden,); got x_proj {xs}, h0 {hs}, "
            f"weight_hh {ws}, bias_hh {bs}, c0 {cs}"
        )
    if not xs[0]:
        raise OpCallError(f"lstm_seq takes at least one time step (L >= 1, as PyTorch's LSTM); "
                          f"got x_proj {xs}")
    return hidden


def lstm_seq(x_proj, h0, weight_hh, bias_hh, c0):
    """A whole LSTM sequence from its inputs' projections x_proj (L, ..., 4 hidden), one
    lstm_step per time step, each step's h' feeding the next: returns every step's
    [h', c'] (L, ..., 2 hidden). Saves every step's activated gates with its c, and
    tanh(c') (on arrays, in the layout of _seq_arrays)."""
    hidden = _seq_check(x_proj, h0, weight_hh, bias_hh, c0)
    length = np.shape(x_proj)[0]
    arrays = (x_proj, h0, weight_hh, bias_hh, c0)
    if not all(a.__class__ is np.ndarray and a.dtype.kind == "f" for a in arrays):
        h, c, steps = h0, c0, []
        for t in range(length):
            step = lstm_step(x_proj[t], h, weight_hh, bias_hh, c)[0]
            h, c = step[..., :hidden], step[..., hidden:]
            steps.append(step)
        return np.stack(steps), None
    return _seq_arrays(x_proj, h0, weight_hh, bias_hh, c0, hidden)


_SMALL_PRODUCT = 1_000_000
"""The most multiply-adds (m k n) of a float product OpenBLAS takes its small-matrix path
on (x86-64 with AVX-512): below it, a product split in parts that each fall under it
runs faster than whole ((32, 128) x (128, 512): four (32, 128) x (128, 128) took 0.6-0.7x
the time); above it, splitting costs (a (64, 2048) x (2048, 512) in four: 2x)."""


def _small_product(m, k, n):
    """Whether an (m, k) x (k, n) product is within OpenBLAS's small-matrix path."""
    return m * k * n <= _SMALL_PRODUCT


def _seq_arrays(x_proj, h0, weight_hh, bias_hh, c0, hidden):
    """lstm_seq on float arrays, laid out for numpy: each numpy call on a (32, 128) block
    costs about as much as its arithmetic, and an operand that is a strided view of a
    wider row costs several times a contiguous one (an add into 512 of 640 columns:
    12 us against 2.8).

    Every step's values are gate-major, each gate a contiguous (n, H) block for the n rows
    of the batch: z[t] (5, n, H) holds -o, -i, -f (the sigmoid gates negated, so that
    exp(-z) is taken in place: PyTorch's 1 / (1 + exp(-z))), g, then c_{t-1}; as i and f
    sit above g and c, `i g` and `f c` are one product. h @ weight_hh.T is one BLAS
    product per gate, h @ (H, H), into a buffer reused by every step, where those fall
    within OpenBLAS's small-matrix path (_small_product); otherwise one product, whose
    gate blocks the add reads in place. Saves z and tanh(c'), both (L, ..., n, H)."""
    dtype = np.result_type(x_proj, h0, weight_hh, bias_hh, c0)
    length, lead = x_proj.shape[0], x_proj.shape[1:-1]
    n = math.prod(lead)
    x4 = np.reshape(x_proj, (length, n, 4, hidden))  # gates i, f, g, o
    bias = np.reshape(bias_hh, (4, hidden)).astype(dtype)
    negated = np.negative(bias)
    zs = np.empty((length, 5, n, hidden), dtype=dtype)
    np.subtract(negated[3], x4[:, :, 3], out=zs[:, 0])  # -(x + b), exactly
    np.subtract(negated[:2, None], np.swapaxes(x4[:, :, :2], 1, 2), out=zs[:, 1:3])
    np.add(x4[:, :, 2], bias[2], out=zs[:, 3])
    zs[0, 4] = np.reshape(c0, (n, hidden))
    blocks = np.reshape(weight_hh, (4, hidden, hidden))
    weight = np.empty((4, hidden, hidden), dtype=dtype)  # each gate's block, transposed
    np.negative(np.transpose(blocks[3]), out=weight[0])
    np.negative(np.transpose(blocks[:2], (0, 2, 1)), out=weight[1:3])
    weight[3] = np.transpose(blocks[2])
    hs = np.empty((length, n, hidden), dtype=dtype)
    tanh_c = np.empty((length, n, hidden), dtype=dtype)
    if _small_product(n, hidden, hidden):  # one product per gate, into its block
        product = np.empty((4, n, hidden), dtype=dtype)
        step_product = product
    else:  # one product for every gate, its blocks read in place
        weight = np.ascontiguousarray(np.concatenate(list(weight), axis=1))  # (H, 4H)
        product = np.empty((n, 4 * hidden), dtype=dtype)
        step_product = np.swapaxes(np.reshape(product, (n, 4, hidden)), 0, 1)
    pair = np.empty((2, n, hidden), dtype=dtype)
    last_c = np.empty((n, hidden), dtype=dtype)
    h = np.reshape(h0, (n, hidden))
    with np.errstate(over="ignore"):  # exp(-z) overflowing to inf: the sigmoid is 0
        for t in range(length):
            z = zs[t]
            np.matmul(h, weight, out=product)
            z[:4] += step_product
            sigmoids = z[:3]
            np.exp(sigmoids, out=sigmoids)
            sigmoids += 1
            np.reciprocal(sigmoids, out=sigmoids)
            np.tanh(z[3], out=z[3])
            np.multiply(z[1:3], z[3:], out=pair)  # i g and f c
            c_next = zs[t + 1, 4] if t + 1 < length else last_c
            np.add(pair[0], pair[1], out=c_next)
            np.tanh(c_next, out=tanh_c[t])
            h = np.multiply(z[0], tanh_c[t], out=hs[t])
    out = np.empty((length, n, 2 * hidden), dtype=dtype)
    out[..., :hidden] = hs
    out[:-1, :, hidden:] = zs[1:, 4]
    out[-1, :, hidden:] = last_c
    return np.reshape(out, (length, *lead, 2 * hidden)), (zs, tanh_c)


def lstm_seq_vjp(out_grad, x_proj, h0, weight_hh, bias_hh, c0, out, saved=None,
                 needs_grad=(True, True, True, True, True)):
    """Back-propagation through time: from the last step to the first, each step's
    [h', c'] grad is its output's plus what the next step sent back through its h and c
    inputs; lstm_cell's rule gives the step's pre-activation grad d_t; the step sends
    d_t weight_hh back to h and dc' f to c. Then x_proj.grad = d (every step),
    weight_hh.grad = sum_t d_t^T h_{t-1}, bias_hh.grad = the sum of d over its leading
    axes. The gates and tanh(c') saved on arrays; recomputed step by step on Tensors."""
    hidden = _seq_check(x_proj, h0, weight_hh, bias_hh, c0)
    length = np.shape(x_proj)[0]
    if saved is None or out_grad.__class__ is not np.ndarray:
        return _seq_vjp_steps(out_grad, x_proj, h0, weight_hh, bias_hh, c0, out, hidden,
                              length, needs_grad)
    return _seq_vjp_arrays(out_grad, x_proj, h0, weight_hh, out, saved, hidden, needs_grad)


def _seq_vjp_arrays(out_grad, x_proj, h0, weight_hh, out, saved, hidden, needs_grad):
    """lstm_seq_vjp on arrays, in _seq_arrays' gate-major layout (gates o, i, f, g). What
    multiplies each gate's grad but dc' (grad_h' for o) is known before the walk back,
    and is taken for every step at once: o (1 - o) tanh(c'), i (1 - i) g, f (1 - f) c,
    (1 - g^2) i, and o (1 - tanh(c')^2), which takes grad_h' into dc'. A step then costs
    nine numpy calls on contiguous (n, H) blocks, one copy of its gates' grads into
    x_proj.grad (PyTorch's order), and d_t weight_hh: one BLAS product, or one per part
    of the batch's rows where that brings each within OpenBLAS's small-matrix path."""
    zs, tanh_c = saved
    length, n = zs.shape[0], zs.shape[2]
    lead = np.shape(x_proj)[1:-1]
    dtype = np.result_type(zs, out_grad.grads if isinstance(out_grad, _StepGrads) else out_grad)
    slopes = np.empty((length, 4, n, hidden), dtype=dtype)
    sigmoids = zs[:, :3]
    np.multiply(sigmoids, sigmoids, out=slopes[:, :3])
    np.subtract(sigmoids, slopes[:, :3], out=slopes[:, :3])  # s (1 - s)
    slopes[:, 0] *= tanh_c
    slopes[:, 1:3] *= zs[:, 3:]  # i by g, f by c
    g = zs[:, 3]
    np.multiply(g, g, out=slopes[:, 3])
    np.subtract(1, slopes[:, 3], out=slopes[:, 3])
    slopes[:, 3] *= zs[:, 1]
    carry = np.multiply(tanh_c, tanh_c, dtype=dtype)
    np.subtract(1, carry, out=carry)
    carry *= zs[:, 0]
    c_grads = range(length)  # the steps whose c' has a grad of its own
    if isinstance(out_grad, _StepGrads):  # lstm_layer's rule: laid out already
        grads = out_grad.grads
        c_grads = range(length - 1, length)  # c_n's: the other steps' are not filled in
    else:
        grads = np.empty((length, 2, n, hidden), dtype=dtype)  # each step's h', c' grads
        grads[...] = np.swapaxes(np.reshape(out_grad, (length, n, 2, hidden)), 1, 2)
    weight = np.ascontiguousarray(weight_hh, dtype=dtype)
    grad_x = np.empty((length, n, 4 * hidden), dtype=dtype)
    gate_grads = np.reshape(grad_x, (length, n, 4, hidden))
    parts = next((k for k in (1, 2, 4, 8) if n % k == 0
                  and _small_product(n // k, 4 * hidden, hidden)), 1)
    d_c, grad_h, dc, dh = (np.empty((n, hidden), dtype=dtype) for _ in range(4))
    dh_parts = np.reshape(dh, (parts, n // parts, hidden))
    d = np.empty((4, n, hidden), dtype=dtype)  # a step's gate grads, PyTorch's order
    for t in range(length - 1, -1, -1):
        gh = grads[t, 0]
        if t < length - 1:
            gh = np.add(gh, dh, out=grad_h)
        np.multiply(gh, carry[t], out=d_c)
        if t in c_grads:
            d_c += grads[t, 1]
        if t < length - 1:
            d_c += dc
        np.multiply(slopes[t, 1], d_c, out=d[0])
        np.multiply(slopes[t, 2], d_c, out=d[1])
        np.multiply(slopes[t, 3], d_c, out=d[2])
        np.multiply(gh, slopes[t, 0], out=d[3])
        np.copyto(gate_grads[t], np.swapaxes(d, 0, 1))
        if t or needs_grad[1]:
            np.matmul(np.reshape(grad_x[t], (parts, n // parts, 4 * hidden)), weight,
                      out=dh_parts)
        np.multiply(d_c, zs[t, 2], out=dc)
    grad_w = None
    if needs_grad[2]:
        previous = np.empty((length, n, hidden), dtype=out.dtype)
        previous[0] = np.reshape(h0, (n, hidden))
        previous[1:] = np.reshape(out, (length, n, 2 * hidden))[:-1, :, :hidden]
        grad_w = np.matmul(np.transpose(np.reshape(grad_x, (-1, 4 * hidden))),
                           np.reshape(previous, (-1, hidden)))
    grad_x = np.reshape(grad_x, (length, *lead, 4 * hidden))
    return (grad_x if needs_grad[0] else None,
            np.reshape(dh, (*lead, hidden)) if needs_grad[1] else None, grad_w,
            _row_sum(grad_x) if needs_grad[3] else None,
            np.reshape(dc, (*lead, hidden)) if needs_grad[4] else None)


def _seq_vjp_steps(out_grad, x_proj, h0, weight_hh, bias_hh, c0, out, hidden, length,
                   needs_grad):
    """lstm_seq's rule as lstm_step's rule once per step, from the last: on Tensors (for
    create_graph), where every product is a recorded op."""
    grads_x, grad_w, grad_b, carry = [None] * length, None, None, None
    for t in range(length - 1, -1, -1):
        h_prev = h0 if t == 0 else out[t - 1, ..., :hidden]
        c_prev = c0 if t == 0 else out[t - 1, ..., hidden:]
        g = out_grad[t] if carry is None else out_grad[t] + carry
        gx, gh, gw, gb, gc = lstm_step_vjp(
            g, x_proj[t], h_prev, weight_hh, bias_hh, c_prev, out[t], saved=None,
            needs_grad=(needs_grad[0], True, needs_grad[2], needs_grad[3], True))
        grads_x[t] = gx
        grad_w = gw if grad_w is None else grad_w + gw
        grad_b = gb if grad_b is None else grad_b + gb
        carry = np.concatenate([gh, gc], axis=-1)
    return (np.stack(grads_x) if needs_grad[0] else None,
            carry[..., :hidden] if needs_grad[1] else None, grad_w, grad_b,
            carry[..., hidden:] if needs_grad[4] else None)


class _StepGrads:
    """Every step's h' grads and the last step's c' grads, (L, 2, n, H), as
    _seq_vjp_arrays lays them out (the other steps' c' grads, 0, not filled in)."""

    __slots__ = ("grads",)

    def __init__(self, grads):
        self.grads = grads


def _layer_check(x, h0, weight_ih, bias_ih, weight_hh, bias_hh, c0, batch_first):
    xs, hs, wi, bi, wh, bh, cs = (np.shape(a) for a in (x, h0, weight_ih, bias_ih, weight_hh,
                                                         bias_hh, c0))
    hidden = wh[1] if len(wh) == 2 else 0
    lead = (xs[:1] + xs[2:-1]) if batch_first else xs[1:-1]
    if (not hidden or wh[0] != 4 * hidden or len(wi) != 2 or wi[0] != 4 * hidden
            or len(xs) < (3 if batch_first else 2) or xs[-1] != wi[1]
            or bi != (4 * hidden,) or bh != (4 * hidden,) or hs != (*lead, hidden) or cs != hs):
        order = "(N, L, in)" if batch_first else "(L, ..., in)"
        raise OpCallError(
            f"lstm_layer takes x {order}, h0 and c0 (..., hidden) with x's batch axes, "
            f"weight_ih (4 hidden, in), bias_ih (4 hidden,), weight_hh (4 hidden, hidden) and "
            f"bias_hh (4 hidden,); got x {xs}, h0 {hs}, weight_ih {wi}, bias_ih {bi}, "
            f"weight_hh {wh}, bias_hh {bh}, c0 {cs} (batch_first={batch_first})"
        )
    return hidden


def lstm_layer(x, h0, weight_ih, bias_ih, weight_hh, bias_hh, c0, batch_first=False):
    """One LSTM layer over a sequence, PyTorch's nn.LSTM layer as one op with three
    outputs: every step's h' (L, ..., H), and the last step's h' and c' with a leading
    axis of 1 (1, ..., H). x is (L, ..., in), or (N, L, in) with batch_first (the output
    (N, L, H) then). The steps are lstm_seq(x @ weight_ih.T + bias_ih, h0, weight_hh,
    bias_hh, c0): where linear_bias, lstm_seq, split, two slices and two swapaxes were
    seven recorded ops. Saves lstm_seq's output and values."""
    hidden = _layer_check(x, h0, weight_ih, bias_ih, weight_hh, bias_hh, c0, batch_first)
    seq = np.swapaxes(x, 0, 1) if batch_first else x
    states, saved = lstm_seq(linear_bias(seq, weight_ih, bias_ih), h0, weight_hh, bias_hh, c0)
    out = states[..., :hidden]
    return ((np.swapaxes(out, 0, 1) if batch_first else out, states[-1:, ..., :hidden],
             states[-1:, ..., hidden:]), (states, saved))


def lstm_layer_vjp(out_grad, x, h0, weight_ih, bias_ih, weight_hh, bias_hh, c0, out,
                   saved=None, needs_grad=(True,) * 7, batch_first=False):
    """Every step's [h', c'] grad (the outputs' grads, the last step's h_n and c_n grads
    added to it), then lstm_seq's rule, then linear_bias's rule (x, weight_ih, bias_ih).
    On arrays the step grads are laid out once in lstm_seq's rule's layout; on Tensors
    the projection and the steps are recomputed by ops."""
    hidden = np.shape(weight_hh)[1]
    grad_out, grad_hn, grad_cn = out_grad
    if batch_first:
        grad_out = np.swapaxes(grad_out, 0, 1)
    projected = needs_grad[0] or needs_grad[2] or needs_grad[3]
    seq_needs = (projected, needs_grad[1], needs_grad[4], needs_grad[5], needs_grad[6])
    seq = np.swapaxes(x, 0, 1) if batch_first else x
    arrays = all(g.__class__ is np.ndarray for g in (grad_out, grad_hn, grad_cn))
    if saved is not None and saved[1] is not None and arrays:
        states, seq_saved = saved
        length = states.shape[0]
        n = states.size // (length * 2 * hidden)
        dtype = np.result_type(states, grad_out, grad_hn, grad_cn)
        grads = np.empty((length, 2, n, hidden), dtype=dtype)  # c' grads: the last only
        grads[:, 0] = np.reshape(grad_out, (length, n, hidden))
        grads[-1, 0] += np.reshape(grad_hn, (n, hidden))
        grads[-1, 1] = np.reshape(grad_cn, (n, hidden))
        # states stands for x_proj: the rule reads its leading axes only
        grad_proj, grad_h0, grad_whh, grad_bhh, grad_c0 = _seq_vjp_arrays(
            _StepGrads(grads), states, h0, weight_hh, states, seq_saved, hidden, seq_needs)
    else:
        x_proj = linear_bias(seq, weight_ih, bias_ih)
        states = lstm_seq(x_proj, h0, weight_hh, bias_hh, c0)[0]
        grad_h = np.concatenate([grad_out[:-1], grad_out[-1:] + grad_hn], axis=0)
        grad_c = np.concatenate([np.zeros_like(grad_out[:-1]), grad_cn], axis=0)
        grad_proj, grad_h0, grad_whh, grad_bhh, grad_c0 = lstm_seq_vjp(
            np.concatenate([grad_h, grad_c], axis=-1), x_proj, h0, weight_hh, bias_hh, c0,
            states, saved=None, needs_grad=seq_needs)
    grad_x = grad_wih = grad_bih = None
    if projected:
        grad_seq, grad_wih, grad_bih = linear_bias_vjp(
            grad_proj, seq, weight_ih, bias_ih, None,
            (needs_grad[0], needs_grad[2], needs_grad[3]))
        if grad_seq is not None:
            grad_x = np.swapaxes(grad_seq, 0, 1) if batch_first else grad_seq
    return grad_x, grad_h0, grad_wih, grad_bih, grad_whh, grad_bhh, grad_c0


def lstm_layer_sample():
    """Verifier hint: x (L, N?, in) or with batch_first (N, L, in), h0 and c0 (N?, H),
    weight_ih (4H, in), bias_ih, weight_hh (4H, H), bias_hh; L from 1 to 3."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        length = draw(st.integers(1, 3))
        batch_first = draw(st.booleans())
        lead = (draw(st.integers(1, 2)),) if batch_first else draw(
            st.sampled_from([(), (1,), (2,)]))
        hidden, size = draw(st.integers(1, 2)), draw(st.integers(1, 3))
        x_shape = (*lead, length, size) if batch_first else (length, *lead, size)
        arrays = [draw(hnp.arrays(np.float64, shape, elements=values)) for shape in (
            x_shape, lead + (hidden,), (4 * hidden, size), (4 * hidden,),
            (4 * hidden, hidden), (4 * hidden,), lead + (hidden,))]
        return tuple(arrays), {"batch_first": batch_first}

    return example()


def lstm_seq_sample():
    """Verifier hint: x_proj (L, N, 4H) or (L, 4H), h0 and c0 (N, H), weight_hh (4H, H),
    bias_hh (4H,), L from 1 to 3."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        length = draw(st.integers(1, 3))
        lead = draw(st.sampled_from([(), (1,), (2,)]))
        hidden = draw(st.integers(1, 2))
        arrays = [draw(hnp.arrays(np.float64, shape, elements=values)) for shape in (
            (length, *lead, 4 * hidden), lead + (hidden,), (4 * hidden, hidden),
            (4 * hidden,), lead + (hidden,))]
        return tuple(arrays), {}

    return example()


def lstm_cell_sample():
    """Verifier hint: gates (N, 4H), bias (4H,), c (N, H), moderate values."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        lead = draw(st.sampled_from([(), (1,), (2,), (2, 1)]))
        h = draw(st.integers(1, 3))
        gates = draw(hnp.arrays(np.float64, lead + (4 * h,), elements=values))
        bias = draw(hnp.arrays(np.float64, (4 * h,), elements=values))
        c = draw(hnp.arrays(np.float64, lead + (h,), elements=values))
        return (gates, bias, c), {}

    return example()


# -- attention ------------------------------------------------------------------------------


def _attention_check(query, key, value, scale):
    q, k, v = np.shape(query), np.shape(key), np.shape(value)
    if len(q) < 2 or len(k) < 2 or len(v) < 2 or q[-1] != k[-1] or k[-2] != v[-2]:
        raise OpCallError(
            f"attention takes query (..., L, E), key (..., S, E) and value (..., S, Ev); got "
            f"query {q}, key {k}, value {v}"
        )
    return 1.0 / np.sqrt(q[-1]) if scale is None else float(scale)


def _causal(length, source):
    """True above the diagonal: the key positions after each query's (PyTorch's is_causal,
    aligned at the top left)."""
    return np.triu(np.ones((length, source), dtype=bool), k=1)


def _attention_weights(query, key, scale, is_causal):
    """softmax(query key^T scale), the future masked out when is_causal: on arrays in place
    in one (..., L, S) buffer; on Tensors with ops (masked_fill, softmax)."""
    scores = np.matmul(query, np.swapaxes(key, -1, -2))
    if scores.__class__ is not np.ndarray:
        scores = scores * scale
        if is_causal:
            scores = call("masked_fill", scores, _causal(*np.shape(scores)[-2:]),
                          value=-np.inf)
        return call("softmax", scores, axis=-1)
    scores *= scale
    if is_causal:
        np.copyto(scores, -np.inf, where=_causal(*scores.shape[-2:]))
    scores -= _last_max(scores)
    weights = np.exp(scores, out=scores)
    weights /= _last_sums(weights)
    return weights


_SHORT_ROW = 32  # longest last axis whose max is taken column by column (see below)


def _last_max(a):
    """a's max over its last axis (kept), on an array. numpy reduces a short last axis
    one row at a time (a GPT's (32, 4, 12, 12) scores: 90 us); one np.maximum per column
    over every row at once takes 16 us, and the max is exact either way."""
    if a.shape[-1] > _SHORT_ROW or not a.size:
        return np.max(a, axis=-1, keepdims=True)
    best = a[..., 0].copy()
    for j in range(1, a.shape[-1]):
        np.maximum(best, a[..., j], out=best)
    return best[..., None]


def attention(query, key, value, is_causal=False, scale=None):
    """softmax(query @ key^T * scale) @ value over the last two axes, the future masked out
    when is_causal: torch.nn.functional.scaled_dot_product_attention without a mask or
    dropout, as one op. scale defaults to 1 / sqrt(E). Saves the attention weights and the
    C-ordered query, key and value it read."""
    scale = _attention_check(query, key, value, scale)
    query, key, value = _contiguous(query, key, value)
    weights = _attention_weights(query, key, scale, is_causal)
    return np.matmul(weights, value), (weights, query, key, value)


def _contiguous(*arrays):
    """C-ordered copies of views (the same BLAS kernels, so the same roundings, whatever
    the layout the caller passed); Tensors as they are."""
    return tuple(np.ascontiguousarray(a) if a.__class__ is np.ndarray else a for a in arrays)


def attention_vjp(out_grad, query, key, value, out, saved=None, is_causal=False, scale=None,
                  needs_grad=(True, True, True)):
    """With P the weights: value.grad = P^T g; dP = g value^T; the scores' grad
    dS = P (dP - rowsum(dP P)) (0 where masked, as P is); query.grad = dS key scale;
    key.grad = dS^T query scale. The weights saved on arrays, recomputed on Tensors."""
    scale = _attention_check(query, key, value, scale)
    if saved is not None and out_grad.__class__ is np.ndarray:
        weights, query, key, value = saved  # the C-ordered copies the forward read
        (out_grad,) = _contiguous(out_grad)
    else:
        out_grad, query, key, value = _contiguous(out_grad, query, key, value)
        weights = _attention_weights(query, key, scale, is_causal)
    grad_q = grad_k = grad_v = None
    if needs_grad[2]:
        grad_v = unbroadcast(np.matmul(np.swapaxes(weights, -1, -2), out_grad),
                             np.shape(value))
    if needs_grad[0] or needs_grad[1]:
        d_weights = np.matmul(out_grad, np.swapaxes(value, -1, -2))
        if d_weights.__class__ is np.ndarray:
            d_scores = d_weights * weights
            d_weights -= _last_sums(d_scores)
            np.multiply(d_weights, weights, out=d_scores)
            d_scores *= scale
        else:
            d_scores = weights * (d_weights - np.sum(d_weights * weights, axis=-1,
                                                     keepdims=True)) * scale
        if needs_grad[0]:
            grad_q = unbroadcast(np.matmul(d_scores, key), np.shape(query))
        if needs_grad[1]:
            grad_k = unbroadcast(np.matmul(np.swapaxes(d_scores, -1, -2), query),
                                 np.shape(key))
    return grad_q, grad_k, grad_v


def attention_sample():
    """Verifier hint: query (..., L, E), key (..., S, E), value (..., S, Ev), causal or not."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        lead = draw(st.sampled_from([(), (1,), (2,), (2, 1)]))
        length, source = draw(st.integers(1, 4)), draw(st.integers(1, 4))
        e, ev = draw(st.integers(1, 3)), draw(st.integers(1, 3))
        query = draw(hnp.arrays(np.float64, lead + (length, e), elements=values))
        key = draw(hnp.arrays(np.float64, lead + (source, e), elements=values))
        value = draw(hnp.arrays(np.float64, lead + (source, ev), elements=values))
        return (query, key, value), {"is_causal": draw(st.booleans()),
                                     "scale": draw(st.sampled_from([None, 0.5]))}

    return example()


# -- attention over packed q, k, v -----------------------------------------------------------


def _qkv_check(qkv, heads, scale):
    """(E, head size, scale) of attention_qkv's call, or an error naming what it takes."""
    shape = np.shape(qkv)
    if (isinstance(heads, bool) or not isinstance(heads, (int, np.integer)) or heads < 1
            or len(shape) < 2 or not shape[-1] or shape[-1] % (3 * heads)):
        raise OpCallError(
            f"attention_qkv takes qkv (..., L, 3 E) (query, key and value side by side) and "
            f"heads, a positive int dividing E; got qkv {shape}, heads {heads!r}"
        )
    e = shape[-1] // 3
    size = e // int(heads)
    return e, size, 1.0 / np.sqrt(size) if scale is None else float(scale)


def _heads(qkv, heads, size):
    """query, key and value of qkv (..., L, 3 E), each split into its heads, (..., heads,
    L, head size): PyTorch's qkv.split(E, -1), each .view(..., L, heads, -1).transpose.
    Views on arrays: matmul takes their strided rows as they are (BLAS reads a row
    stride), where C-ordered copies of the three cost 22 us on a GPT's (32, 12, 192)."""
    shape = np.shape(qkv)
    parts = np.reshape(qkv, (*shape[:-1], 3, heads, size))
    return tuple(np.swapaxes(parts[..., j, :, :], -3, -2) for j in range(3))


def attention_qkv(qkv, heads, is_causal=False, scale=None):
    """Multi-head scaled-dot-product attention over a packed projection, as one op:
    query, key, value = qkv's three thirds on the last axis, each split into `heads`
    heads; softmax(q k^T scale) v per head (the future masked when is_causal; scale
    defaults to 1 / sqrt(head size)); the heads' outputs side by side, (..., L, E),
    written in place by the last product. Saves the weights."""
    e, size, scale = _qkv_check(qkv, heads, scale)
    query, key, value = _heads(qkv, int(heads), size)
    weights = _attention_weights(query, key, scale, is_causal)
    shape = np.shape(qkv)
    out = np.empty((*shape[:-1], int(heads), size), dtype=np.result_type(weights, value))
    np.matmul(weights, value, out=np.swapaxes(out, -3, -2))
    return np.reshape(out, (*shape[:-1], e)), (weights,)


def attention_qkv_vjp(out_grad, qkv, out, heads, saved=None, is_causal=False, scale=None):
    """attention's rule per head (see attention_vjp), its three grads joined back into
    qkv's layout: on arrays each written by its product into its place in one buffer;
    on Tensors (saved=None) by ops, the weights recomputed."""
    e, size, scale = _qkv_check(qkv, heads, scale)
    shape = np.shape(qkv)
    query, key, value = _heads(qkv, int(heads), size)
    g = np.swapaxes(np.reshape(out_grad, (*shape[:-1], int(heads), size)), -3, -2)
    if saved is None or out_grad.__class__ is not np.ndarray:
        grads = attention_vjp(g, query, key, value, None, is_causal=is_causal, scale=scale)
        joined = [np.reshape(np.swapaxes(grad, -3, -2), (*shape[:-1], e)) for grad in grads]
        return (np.concatenate(joined, axis=-1),)
    (weights,) = saved
    grads = np.empty((*shape[:-1], 3, int(heads), size), dtype=np.result_type(weights, g))
    grad_q, grad_k, grad_v = (np.swapaxes(grads[..., j, :, :], -3, -2) for j in range(3))
    np.matmul(np.swapaxes(weights, -1, -2), g, out=grad_v)
    d_weights = np.matmul(g, np.swapaxes(value, -1, -2))
    d_scores = d_weights * weights
    d_weights -= _last_sums(d_scores)
    np.multiply(d_weights, weights, out=d_scores)
    d_scores *= scale
    np.matmul(d_scores, key, out=grad_q)
    np.matmul(np.swapaxes(d_scores, -1, -2), query, out=grad_k)
    return (np.reshape(grads, shape),)


def attention_qkv_sample():
    """Verifier hint: qkv (..., L, 3 E) with 1 or 2 heads, causal or not."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-2.0, 2.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        lead = draw(st.sampled_from([(), (1,), (2,), (2, 1)]))
        length, heads, size = draw(st.integers(1, 4)), draw(st.integers(1, 2)), draw(
            st.integers(1, 2))
        qkv = draw(hnp.arrays(np.float64, lead + (length, 3 * heads * size), elements=values))
        return (qkv,), {"heads": heads, "is_causal": draw(st.booleans()),
                        "scale": draw(st.sampled_from([None, 0.5]))}

    return example()


# -- token and position embeddings -----------------------------------------------------------


def _tpe_check(tokens, positions, ids):
    t, p, i = np.shape(tokens), np.shape(positions), np.shape(ids)
    if len(t) != 2 or len(p) != 2 or t[1] != p[1] or not i or i[-1] > p[0]:
        raise OpCallError(
            f"token_position_embedding takes tokens (V, D), positions (P, D) and ids (..., L) "
            f"with L <= P; got tokens {t}, positions {p}, ids {i}"
        )


def token_position_embedding(tokens, positions, ids):
    """tokens[ids] + positions[:L] for ids (..., L): a GPT's token embedding plus its
    position embedding, PyTorch's `wte(ids) + wpe(arange(L))`, in one op (the position
    rows added in place into the looked-up token rows)."""
    _tpe_check(tokens, positions, ids)
    ids = _ids(tokens, ids)
    out = np.take(tokens, ids, axis=0)
    rows = positions[:ids.shape[-1]]
    if out.__class__ is np.ndarray and out.dtype == np.result_type(out, rows):
        out += rows
        return out
    return out + rows


def token_position_embedding_vjp(out_grad, tokens, positions, ids, out,
                                 needs_grad=(True, True, False)):
    """tokens.grad: embedding's rule (each id's row grad added into its row); positions.grad:
    out_grad summed over the leading axes into the first L rows (on a float array one BLAS
    product with a vector of ones), the others 0."""
    grad_tokens = embedding_vjp(out_grad, tokens, ids, None)[0] if needs_grad[0] else None
    grad_positions = None
    if needs_grad[1]:
        length, size = np.shape(out_grad)[-2:]
        if (out_grad.__class__ is np.ndarray and out_grad.dtype.kind == "f"
                and out_grad.flags.c_contiguous):
            rows = np.reshape(out_grad, (-1, length * size))
            summed = np.reshape(np.matmul(_ones(rows.shape[0], rows.dtype), rows),
                                (length, size))
        else:
            summed = np.sum(np.reshape(out_grad, (-1, length, size)), axis=0)
        rest = np.shape(positions)[0] - length
        grad_positions = summed if not rest else np.concatenate(
            [summed, np.zeros((rest, size), dtype=np.result_type(out_grad))], axis=0)
    return grad_tokens, grad_positions, None


def token_position_embedding_sample():
    """Verifier hint: a small vocabulary (ids repeat), positions at least as many as L."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        rows, size = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        lead, length = draw(st.sampled_from([(), (1,), (2,)])), draw(st.integers(1, 3))
        tokens = draw(hnp.arrays(np.float64, (rows, size), elements=values))
        positions = draw(hnp.arrays(np.float64, (length + draw(st.integers(0, 2)), size),
                                    elements=values))
        ids = draw(hnp.arrays(np.int64, lead + (length,), elements=st.integers(0, rows - 1)))
        return (tokens, positions, ids), {}

    return example()


# -- masking ---------------------------------------------------------------------------------


def masked_fill(x, mask, value=0.0):
    """x with `value` where the boolean mask (broadcasting against x) holds, as
    torch.Tensor.masked_fill."""
    mask = np.asarray(mask)
    if mask.dtype != np.bool_:
        raise OpCallError(f"mask must be boolean (for example x > 0); got dtype {mask.dtype}")
    dtype = np.result_type(x)
    return np.where(mask, np.asarray(value, dtype=dtype), x)


def masked_fill_local(x, mask, out, value=0.0):
    """1 where x was kept, 0 where it was filled; the mask takes no gradient."""
    return np.logical_not(mask), None


def masked_fill_sample():
    """Verifier hint: a boolean mask broadcasting against x, and a fill value."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def example(draw):
        shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=2, max_side=4))
        values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)
        x = draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=values))
        mask = draw(hnp.arrays(np.bool_, shapes.input_shapes[1]))
        return (x, mask), {"value": draw(st.sampled_from([0.0, -1e9, 2.5]))}

    return example()


OPS = [
    Op("linear", linear, vjp=linear_vjp, signature="(n?,k),(o,k)->(n?,o)", sample=linear_sample,
       doc="x @ weight.T, weight (out_features, in_features): PyTorch's F.linear without "
           "its bias\n\n"
           "One recorded op for a Linear layer's product (gl.nn.Linear adds its bias after). "
           "x may have any number of leading axes; weight.grad sums over them."),
    Op("linear_bias", linear_bias, vjp=linear_bias_vjp, signature="(n?,k),(o,k),(o)->(n?,o)",
       sample=linear_bias_sample, reads=("x", "weight"),
       doc="x @ weight.T + bias, weight (out_features, in_features), bias (out_features,): "
           "PyTorch's F.linear with its bias\n\n"
           "One recorded op for a Linear layer (gl.nn.Linear and F.linear with a bias call "
           "it): x may have any number of leading axes; weight.grad and bias.grad sum over "
           "them."),
    Op("batch_norm", batch_norm, vjp=batch_norm_vjp, signature="(*),(*),(*)->(*)",
       sample=batch_norm_sample, saves=True, reads=("x", "weight", "bias"),
       doc="training-mode batch normalisation of x (N, C, ...) per channel; weight, bias (C,); "
           "eps\n\n"
           "torch.nn.functional.batch_norm with training=True, as one op: the mean and biased "
           "variance over every axis but C (accumulated in float64, rounded once), then "
           "(x - mean) / sqrt(var + eps) * weight + bias. gl.nn.BatchNorm1d/2d keep the "
           "running statistics and use them in eval mode."),
    Op("layer_norm", layer_norm, vjp=layer_norm_vjp, signature="(*),(*),(*)->(*)",
       sample=layer_norm_sample, saves=True, reads=("x", "weight"),
       doc="(x - mean) / sqrt(var + eps) * weight + bias over x's last weight.ndim axes\n\n"
           "torch.nn.functional.layer_norm with a weight and bias of the normalized_shape, as "
           "one op; the biased variance, statistics accumulated in float64."),
    Op("gelu_tanh", gelu_tanh, local_grad=gelu_tanh_local, signature="()->()", saves=True,
       reads=("x",),
       doc="GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))\n\n"
           "torch.nn.functional.gelu(x, approximate='tanh'); gl.nn.GELU('tanh') calls it."),
    Op("linear_gelu", linear_gelu, vjp=linear_gelu_vjp, signature="(n?,k),(o,k),(o)->(n?,o)",
       sample=linear_bias_sample, saves=True, reads=("x", "weight", "bias"),
       doc="gelu_tanh(x @ weight.T + bias): a Linear layer and its tanh GELU\n\n"
           "PyTorch's F.gelu(F.linear(x, weight, bias), approximate='tanh') as one op (a "
           "transformer MLP's first layer): weight (out_features, in_features), bias "
           "(out_features,), x with any number of leading axes."),
    Op("lstm_cell", lstm_cell, vjp=lstm_cell_vjp, signature="(*),(*),(*)->(*)",
       sample=lstm_cell_sample, saves=True,
       doc="one LSTM step from pre-activations: [h', c'] (..., 2H) of gates (..., 4H) + bias "
           "(4H,) and c (..., H)\n\n"
           "Gates in PyTorch's order i, f, g, o: c' = sigmoid(f) c + sigmoid(i) tanh(g), "
           "h' = sigmoid(o) tanh(c'), returned side by side as one array (split it in two on "
           "the last axis). gl.nn.LSTM and LSTMCell call it with gates = "
           "x W_ih^T + b_ih + h W_hh^T and bias = b_hh."),
    Op("lstm_step", lstm_step, vjp=lstm_step_vjp, signature="(*),(*),(*),(*),(*)->(*)",
       sample=lstm_step_sample, saves=True,
       doc="one LSTM step from the input's projection: lstm_cell(x_proj + h @ weight_hh.T, "
           "bias_hh, c), [h', c'] (..., 2H)\n\n"
           "One op where linear, add and lstm_cell are three: gl.nn.LSTM and LSTMCell call it "
           "once per time step with x_proj = x W_ih^T + b_ih (all steps projected at once)."),
    Op("lstm_input_step", lstm_input_step, vjp=lstm_input_step_vjp,
       signature="(*),(*),(*),(*),(*),(*),(*)->(*),(*)", sample=lstm_input_step_sample,
       saves=True,
       doc="one LSTM step from its input: h', c' (..., H) each, of lstm_step(x @ weight_ih.T "
           "+ bias_ih, h, weight_hh, bias_hh, c)\n\n"
           "PyTorch's LSTMCell as one op with two outputs where linear_bias, lstm_step and "
           "split are three: gl.nn.LSTMCell calls it once per step with its four parameters "
           "in PyTorch's layouts (weight_ih (4H, in), weight_hh (4H, H))."),
    Op("lstm_layer", lstm_layer, vjp=lstm_layer_vjp,
       signature="(*),(*),(*),(*),(*),(*),(*)->(*),(*),(*)", sample=lstm_layer_sample,
       saves=True,
       doc="one LSTM layer over a sequence: every step's h' (L, ..., H) and the last h', c' "
           "(1, ..., H), of x (L, ..., in) (batch_first: (N, L, in) and (N, L, H))\n\n"
           "PyTorch's nn.LSTM layer as one op with three outputs, where linear_bias, lstm_seq, "
           "split, two slices and two swapaxes are seven: gl.nn.LSTM calls it once per layer "
           "with its parameters in PyTorch's layouts (weight_ih (4H, in), weight_hh (4H, H))."),
    Op("lstm_seq", lstm_seq, vjp=lstm_seq_vjp, signature="(*),(*),(*),(*),(*)->(*)",
       sample=lstm_seq_sample, saves=True,
       doc="a whole LSTM sequence from its inputs' projections: every step's [h', c'] "
           "(L, ..., 2H) of x_proj (L, ..., 4H), h0 and c0 (..., H), weight_hh (4H, H), "
           "bias_hh (4H,)\n\n"
           "lstm_step once per time step, each step's h' and c' the next one's h and c, as "
           "one op with back-propagation through time as its rule: gl.nn.LSTM calls it once "
           "per layer with x_proj = x W_ih^T + b_ih (every step projected at once). Saves "
           "every step's gates and tanh(c')."),
    Op("attention", attention, vjp=attention_vjp, signature="(*),(*),(*)->(*)",
       sample=attention_sample, saves=True, reads=("query", "key", "value"),
       doc="softmax(query @ key^T * scale) @ value, the future masked when is_causal; "
           "scale (default 1/sqrt(E))\n\n"
           "torch.nn.functional.scaled_dot_product_attention without attn_mask or dropout, "
           "as one op: query (..., L, E), key (..., S, E), value (..., S, Ev). is_causal masks "
           "the key positions after each query's (aligned at the top left, as PyTorch). "
           "gl.nn.functional.scaled_dot_product_attention calls it when it can."),
    Op("attention_qkv", attention_qkv, vjp=attention_qkv_vjp, signature="(*)->(*)",
       sample=attention_qkv_sample, saves=True, reads=("qkv",),
       doc="multi-head causal or full attention over packed qkv (..., L, 3 E): heads, "
           "is_causal, scale (default 1/sqrt(E / heads))\n\n"
           "A GPT block's attention as one op: q, k, v = qkv.split(E, -1), each viewed as "
           "(..., L, heads, E / heads) and moved to (..., heads, L, E / heads), then "
           "torch.nn.functional.scaled_dot_product_attention per head, and the heads joined "
           "back to (..., L, E): the eleven recorded ops of split, reshape, transpose, "
           "attention, transpose and reshape in one."),
    Op("token_position_embedding", token_position_embedding,
       vjp=token_position_embedding_vjp, signature="(v,d),(p,d),(*)->(*)", constants=(2,),
       sample=token_position_embedding_sample, reads=(),
       doc="tokens[ids] + positions[:L] for ids (..., L): token plus position embeddings\n\n"
           "A GPT's input, PyTorch's wte(ids) + wpe(arange(L)), as one op (two embeddings "
           "and an add are three): tokens (V, D), positions (P, D) with P >= L. Repeated ids "
           "accumulate their rows' grads; positions past L get 0."),
    Op("masked_fill", masked_fill, local_grad=masked_fill_local, signature="(),()->()",
       constants=(1,), sample=masked_fill_sample,
       doc="x with value where the boolean mask holds; the mask takes no gradient\n\n"
           "torch.Tensor.masked_fill: x.masked_fill(mask, value). The filled places get no "
           "gradient."),
]
