"""The example ops, as data: one `Op` per row, a named function above a row that needs one.

Elementwise ops give a `local_grad` (d out / d x, gradledger books
`x.grad += local * out.grad`); the others give a `vjp` (the contribution to each
input's grad, already in that input's shape).

Verifier declarations are plain data or functions that import hypothesis when
called, so that loading this plugin never imports hypothesis.
"""

import math

import numpy as np
from gradledger.extend import Op, unbroadcast

UNARY = "()->()"
BINARY = "(),()->()"
ANY = "(*)->(*)"


# -- activations ------------------------------------------------------------------------


def sigmoid(x):
    """1 / (1 + e**-x), written so that no x overflows."""
    return np.exp(-np.logaddexp(0.0, -x))


def sigmoid_local(x, out):
    """sigmoid(x) (1 - sigmoid(x)), with 1 - sigmoid(x) = sigmoid(-x): exact in both tails."""
    return (out * sigmoid(-x),)


GELU_C = math.sqrt(2.0 / math.pi)
GELU_A = 0.044715


def _gelu_z(x):
    return GELU_C * (x + GELU_A * x**3)


def gelu(x):
    """The tanh approximation 0.5 x (1 + tanh(z)), z = sqrt(2/pi) (x + 0.044715 x**3).

    Computed as x sigmoid(2 z), the same function: 1 + tanh(z) cancels to nothing
    for x below about -5, where sigmoid(2 z) keeps every digit.
    """
    return x * sigmoid(2.0 * _gelu_z(x))


def gelu_local(x, out):
    """sigmoid(2z) + 2 x sigmoid(2z) sigmoid(-2z) dz/dx."""
    z = _gelu_z(x)
    s, s_neg = sigmoid(2.0 * z), sigmoid(-2.0 * z)
    return (s + 2.0 * x * s * s_neg * GELU_C * (1.0 + 3.0 * GELU_A * x * x),)


# -- reductions -------------------------------------------------------------------------


def _reduced_axes(ndim, axis):
    if axis is None:
        return tuple(range(ndim))
    axes = axis if isinstance(axis, tuple) else (axis,)
    return tuple(a % ndim for a in axes)


def logsumexp(x, axis=None, keepdims=False):
    """log(sum(exp(x))) over `axis`, shifted by the maximum so that nothing overflows."""
    peak = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
    peak = np.where(np.isfinite(peak), peak, 0.0)
    out = np.log(np.sum(np.exp(x - peak), axis=axis, keepdims=True)) + peak
    if not keepdims:
        out = np.squeeze(out, axis=_reduced_axes(np.ndim(x), axis))
    return out


def logsumexp_vjp(out_grad, x, out, axis=None, keepdims=False):
    """d logsumexp / d x is the softmax of x along the reduced axes."""
    if not keepdims:
        axes = _reduced_axes(np.ndim(x), axis)
        out, out_grad = np.expand_dims(out, axes), np.expand_dims(out_grad, axes)
    return (out_grad * np.exp(x - out),)


def logsumexp_params(shapes):
    """Verifier hint: every valid axis (None, one, or several) and both keepdims."""
    from hypothesis import strategies as st
    from hypothesis.extra.numpy import valid_tuple_axes

    ndim = len(shapes[0])
    axes = st.none()
    if ndim:
        axes = axes | st.integers(-ndim, ndim - 1) | valid_tuple_axes(ndim, min_size=1)
    return {"axis": axes, "keepdims": st.booleans()}


# -- losses -----------------------------------------------------------------------------


def _labels(labels, classes):
    """Integer class indices in [0, classes); integral floats (from a Python list) are accepted."""
    labels = np.asarray(labels)
    if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
        labels = labels.astype(np.intp)
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integer class indices; got dtype {labels.dtype}")
    if labels.size and (labels.min() < 0 or labels.max() >= classes):
        raise ValueError(
            f"labels must lie in [0, {classes}) for logits with {classes} classes; "
            f"got values from {labels.min()} to {labels.max()}"
        )
    return labels


def _shifted(logits, labels):
    """Per row, the logits minus the logit at the label (0 there), and where the label is."""
    classes = np.shape(logits)[-1]
    labels = _labels(labels, classes)[..., np.newaxis]
    rows = np.broadcast_shapes(np.shape(logits)[:-1], np.shape(labels)[:-1])
    logits = np.broadcast_to(logits, rows + (classes,))
    labels = np.broadcast_to(labels, rows + (1,))
    picked = np.take_along_axis(logits, labels, axis=-1)
    return logits - picked, labels == np.arange(classes)


def softmax_cross_entropy(logits, labels):
    """Per row: -log softmax(logits)[label] = log(sum_j exp(logits_j - logits_label)).

    Written as m + log1p(expm1(-m) + sum over j != label of exp(shifted_j - m)), with m
    the row's largest shifted logit (>= 0), so that a confident, correct row keeps its
    relative precision: its loss is near 0, and `logsumexp - picked` would cancel.
    Reduce with gl.mean for the usual loss.
    """
    shifted, at_label = _shifted(logits, labels)
    peak = np.max(shifted, axis=-1)
    others = np.where(at_label, 0.0, np.exp(shifted - peak[..., np.newaxis]))
    return peak + np.log1p(np.expm1(-peak) + np.sum(others, axis=-1))


def softmax_cross_entropy_vjp(out_grad, logits, labels, out):
    """softmax(logits) - onehot(label), per row, times the row's out_grad; labels get None.

    At the label, softmax - 1 is minus the other classes' probabilities, summed
    directly rather than subtracted from 1.
    """
    shifted, at_label = _shifted(logits, labels)
    others = np.where(at_label, 0.0, np.exp(shifted - np.expand_dims(out, -1)))
    local = others - at_label * np.sum(others, axis=-1, keepdims=True)
    return unbroadcast(np.expand_dims(out_grad, -1) * local, np.shape(logits)), None


def softmax_cross_entropy_sample():
    """Verifier hint: labels depend on the logits' class count, so draw both together."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def logits_and_labels(draw):
        rows = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4))
        classes = draw(st.integers(1, 5))
        values = st.floats(-10.0, 10.0, allow_nan=False)
        logits = draw(hnp.arrays(np.float64, rows + (classes,), elements=values))
        labels = draw(hnp.arrays(np.int64, rows, elements=st.integers(0, classes - 1)))
        return (logits, labels), {}

    return logits_and_labels()


# -- comparisons ------------------------------------------------------------------------


def maximum_local(a, b, out):
    """1 to the larger input; on a tie (a kink) each gets 1/2, as JAX and PyTorch book it."""
    a_share = (a > b) + 0.5 * (a == b)
    return a_share, 1.0 - a_share


def maximum_sample():
    """Verifier hint: `a` and `b` never tie, whatever broadcasting pairs up.

    The kink of maximum is where a == b, a relation between the two inputs that
    per-input `kinks` cannot state. So `a` is drawn near the integers and `b` near
    the half-integers, each moved by at most 0.2: |a - b| >= 0.1 everywhere.
    """
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    near = st.builds(lambda whole, jitter: whole + jitter,
                     st.integers(-5, 5), st.floats(-0.2, 0.2, allow_nan=False))

    @st.composite
    def untied(draw):
        shapes = draw(hnp.mutually_broadcastable_shapes(signature=BINARY, max_side=4))
        shape_a, shape_b = shapes.input_shapes
        a = draw(hnp.arrays(np.float64, shape_a, elements=near))
        b = draw(hnp.arrays(np.float64, shape_b, elements=near)) + 0.5
        return (a, b), {}

    return untied()


OPS = [
    Op("sigmoid", sigmoid, local_grad=sigmoid_local, signature=UNARY,
       doc="1 / (1 + exp(-x))"),
    Op("softplus", lambda x: np.logaddexp(0.0, x), local_grad=lambda x, out: (sigmoid(x),),
       signature=UNARY, doc="log(1 + exp(x)), a smooth relu"),
    Op("gelu", gelu, local_grad=gelu_local, signature=UNARY,
       doc="Gaussian error linear unit, tanh approximation"),
    Op("logsumexp", logsumexp, vjp=logsumexp_vjp, signature=ANY, params=logsumexp_params,
       doc="log(sum(exp(x))) over axis (None: all), keepdims"),
    Op("softmax_cross_entropy", softmax_cross_entropy, vjp=softmax_cross_entropy_vjp,
       signature="(k),()->()", constants=(1,), sample=softmax_cross_entropy_sample,
       doc="per-row -log softmax(logits)[label]; integer labels take no gradient"),
    Op("maximum", np.maximum, local_grad=maximum_local, signature=BINARY, sample=maximum_sample,
       doc="elementwise max(a, b), broadcasting; a tie splits the grad in half"),
]
