"""Correct ops written to the 0.1 contract (the example plugin and the plugins guide as they
were at 0.1, and a row sum whose vjp uses `np.ones_like`), plus a correct op whose rule
cannot run on Tensors. An upgrade never turns a correct plugin red: all pass
(tests/test_verify_contract.py); the last one with the note "first order verified; second
order not checked".

The ops keep their 0.1 code; their names get a `v01_` prefix (several are built-ins now).
Register with `gradledger.register_plugin(wrong_ops_v01)`.
"""

import dataclasses
import math

import numpy as np
from gradledger.extend import Op, hookimpl, unbroadcast

UNARY = "()->()"
BINARY = "(),()->()"
ANY = "(*)->(*)"

# -- activations ------------------------------------------------------------------------


def sigmoid(x):
    """1 / (1 + e**-x), written so that no x overflows."""
    return np.exp(-np.logaddexp(0.0, -x))


GELU_C = math.sqrt(2.0 / math.pi)
GELU_A = 0.044715


def gelu(x):
    """The tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x**3)))."""
    return 0.5 * x * (1.0 + np.tanh(GELU_C * (x + GELU_A * x**3)))


def gelu_local(x, out):
    t = np.tanh(GELU_C * (x + GELU_A * x**3))
    return (0.5 * (1.0 + t) + 0.5 * x * (1.0 - t * t) * GELU_C * (1.0 + 3.0 * GELU_A * x * x),)


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


def _broadcast_rows(logits, labels):
    rows = np.broadcast_shapes(np.shape(logits)[:-1], np.shape(labels))
    classes = np.shape(logits)[-1]
    return np.broadcast_to(logits, rows + (classes,)), np.broadcast_to(labels, rows)


def softmax_cross_entropy(logits, labels):
    """Per row: -log softmax(logits)[label]. Reduce with gl.mean for the usual loss."""
    logits, labels = _broadcast_rows(logits, _labels(labels, np.shape(logits)[-1]))
    picked = np.take_along_axis(logits, labels[..., np.newaxis], axis=-1)[..., 0]
    return logsumexp(logits, axis=-1) - picked


def softmax_cross_entropy_vjp(out_grad, logits, labels, out):
    """softmax(logits) - onehot(label), per row, times the row's out_grad; labels get None."""
    rows, labels = _broadcast_rows(logits, _labels(labels, np.shape(logits)[-1]))
    onehot = labels[..., np.newaxis] == np.arange(np.shape(logits)[-1])
    local = np.exp(rows - logsumexp(rows, axis=-1, keepdims=True)) - onehot
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


EXAMPLE_PLUGIN_01 = [
    Op("sigmoid", sigmoid, local_grad=lambda x, out: (out * (1.0 - out),), signature=UNARY,
       doc="1 / (1 + exp(-x))"),
    Op("softplus", lambda x: np.logaddexp(0.0, x), local_grad=lambda x, out: (sigmoid(x),),
       signature=UNARY, doc="log(1 + exp(x)), a smooth relu"),
    Op("gelu", gelu, local_grad=gelu_local, signature=UNARY, domain=((-50.0, 50.0),),
       doc="Gaussian error linear unit, tanh approximation"),
    Op("logsumexp", logsumexp, vjp=logsumexp_vjp, signature=ANY, params=logsumexp_params,
       doc="log(sum(exp(x))) over axis (None: all), keepdims"),
    Op("softmax_cross_entropy", softmax_cross_entropy, vjp=softmax_cross_entropy_vjp,
       signature="(k),()->()", constants=(1,), sample=softmax_cross_entropy_sample,
       doc="per-row -log softmax(logits)[label]; integer labels take no gradient"),
    Op("maximum", np.maximum, local_grad=maximum_local, signature=BINARY, sample=maximum_sample,
       doc="elementwise max(a, b), broadcasting; a tie splits the grad in half"),
]


# -- the plugins guide at 0.1 (docs/plugins.md) ------------------------------------------


silu = Op(
    name="silu",
    forward=lambda x: x / (1.0 + np.exp(-x)),
    local_grad=lambda x, out: (out + (1.0 - out) / (1.0 + np.exp(-x)),),
    signature="()->()",
    doc="x * sigmoid(x)",
)

log1p = Op(
    "log1p", np.log1p, local_grad=lambda x, out: (1.0 / (1.0 + x),),
    signature="()->()",
    domain=((-1.0, None),),          # x > -1: one open interval per input
    doc="log(1 + x), for x > -1",
)

absolute = Op(
    "absolute", np.abs, local_grad=lambda x, out: (np.sign(x),),
    signature="()->()",
    kinks=((0.0,),),                 # no derivative at 0: the verifier keeps away
    doc="|x|; its derivative at 0 is taken as 0",
)
def cumsum_vjp(out_grad, x, out, axis=None):
    """Each x[i] reaches every out[j] with j >= i: sum out_grad from the end."""
    if axis is None:
        return (np.cumsum(out_grad[::-1])[::-1].reshape(np.shape(x)),)
    flipped = np.flip(out_grad, axis)
    return (np.flip(np.cumsum(flipped, axis), axis),)


def cumsum_params(shapes):
    """Verifier hint: every valid axis of the drawn input, or None (flatten)."""
    from hypothesis import strategies as st  # imported only when verifying

    ndim = len(shapes[0])
    axes = st.none()
    if ndim:
        axes = axes | st.integers(-ndim, ndim - 1)
    return {"axis": axes}


cumsum = Op(
    "cumsum", lambda x, axis=None: np.cumsum(x, axis=axis), vjp=cumsum_vjp,
    signature="(*)->(*)",            # any shape; the params decide the result's
    params=cumsum_params,
    doc="cumulative sum along axis (None: flattened)",
)
def outer_vjp(out_grad, a, b, out, needs_grad):
    grad_a = grad_b = None
    if needs_grad[0]:
        grad_a = unbroadcast(np.sum(out_grad * b[..., np.newaxis, :], axis=-1), np.shape(a))
    if needs_grad[1]:
        grad_b = unbroadcast(np.sum(out_grad * a[..., :, np.newaxis], axis=-2), np.shape(b))
    return grad_a, grad_b


outer = Op(
    "outer", lambda a, b: a[..., :, np.newaxis] * b[..., np.newaxis, :], vjp=outer_vjp,
    signature="(n),(m)->(n,m)",      # leading (batch) dimensions broadcast, as in numpy
    doc="outer product of the last axes, batched",
)
def where_sample():
    """Verifier hint: a boolean mask and two float arrays, broadcasting."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def mask_and_values(draw):
        shapes = draw(hnp.mutually_broadcastable_shapes(num_shapes=3, max_side=4)).input_shapes
        mask = draw(hnp.arrays(np.bool_, shapes[0]))
        values = st.floats(-10, 10)
        a, b = (draw(hnp.arrays(np.float64, shape, elements=values)) for shape in shapes[1:])
        return (mask, a, b), {}

    return mask_and_values()


where = Op(
    "where", np.where, local_grad=lambda mask, a, b, out: (None, mask, ~mask),
    signature="(),(),()->()", constants=(0,), sample=where_sample,
    doc="a where mask, else b",
)


GUIDE_01 = [silu, log1p, absolute, cumsum, outer, where]


# -- the row sum of the issue: a vjp built with np.ones_like ------------------------------


def row_sum_vjp(out_grad, x, out):
    return (out_grad[..., np.newaxis] * np.ones_like(x),)


row_sum = Op("row_sum", lambda x: np.sum(x, axis=-1), vjp=row_sum_vjp, signature="(n)->()",
             doc="sum over the last axis")


# -- correct first order, a rule that cannot run on Tensors (np.polyval has no op) ---------

CUBIC = (1.0, 0.0, 2.0, -1.0)  # x**3 + 2 x - 1


def cubic_local(x, out):
    return (np.polyval(np.polyder(CUBIC).astype(np.asarray(x).dtype), x),)


cubic = Op("polyval_cubic", lambda x: x**3 + 2 * x - 1, local_grad=cubic_local,
           signature=UNARY, doc="x**3 + 2 x - 1, its derivative by np.polyval")

OPS = [dataclasses.replace(op, name="v01_" + op.name)
       for op in (*EXAMPLE_PLUGIN_01, *GUIDE_01, row_sum, cubic)]
NOT_ON_TENSORS = {"v01_polyval_cubic", "v01_softmax_cross_entropy"}
"""The ops whose rule cannot run on Tensors (np.polyval; np.max with `initial`)."""


@hookimpl
def gradledger_register_ops(registry):
    for op in OPS:
        registry.register(op)
