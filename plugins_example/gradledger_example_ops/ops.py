"""The example ops, as data: one `Op` per row, a named function above a row that needs one.

Elementwise ops give a `local_grad` (d out / d x, gradledger books
`x.grad += local * out.grad`); the others give a `vjp` (the contribution to each
input's grad, already in that input's shape).

Verifier declarations are plain data or functions that import hypothesis when
called, so that loading this plugin never imports hypothesis.

Every name here is one gradledger's built-ins do not have: op names are one flat
namespace, and a name two plugins claim is refused.
"""

import math

import numpy as np
from gradledger.extend import Op

UNARY = "()->()"


def _sigmoid(x):
    """1 / (1 + e**-x), written so that no x overflows."""
    return np.exp(-np.logaddexp(0.0, -x))


# -- activations ------------------------------------------------------------------------

GELU_C = math.sqrt(2.0 / math.pi)
GELU_A = 0.044715


def _gelu_z(x):
    return GELU_C * (x + GELU_A * x**3)


def gelu(x):
    """The tanh approximation 0.5 x (1 + tanh(z)), z = sqrt(2/pi) (x + 0.044715 x**3).

    Computed as x sigmoid(2 z), the same function: 1 + tanh(z) cancels to nothing
    for x below about -5, where sigmoid(2 z) keeps every digit.
    """
    return x * _sigmoid(2.0 * _gelu_z(x))


def gelu_local(x, out):
    """sigmoid(2z) + 2 x sigmoid(2z) sigmoid(-2z) dz/dx."""
    z = _gelu_z(x)
    s, s_neg = _sigmoid(2.0 * z), _sigmoid(-2.0 * z)
    return (s + 2.0 * x * s * s_neg * GELU_C * (1.0 + 3.0 * GELU_A * x * x),)


def mish(x):
    """x tanh(softplus(x)) (Misra, 2019)."""
    return x * np.tanh(np.logaddexp(0.0, x))


def mish_local(x, out):
    """tanh(sp) + x sigmoid(x) (1 - tanh(sp)**2), sp = softplus(x)."""
    t = np.tanh(np.logaddexp(0.0, x))
    return (t + x * _sigmoid(x) * (1.0 - t * t),)


# -- losses -----------------------------------------------------------------------------


def huber(x, delta=1.0):
    """x**2 / 2 for |x| <= delta, delta (|x| - delta / 2) beyond: quadratic near 0, linear far."""
    a = np.abs(x)
    return np.where(a <= delta, 0.5 * x * x, delta * (a - 0.5 * delta))


def huber_local(x, out, delta=1.0):
    """x clipped to [-delta, delta]."""
    return (np.clip(x, -delta, delta),)


HUBER_DELTAS = (0.5, 1.0, 2.0)
"""The deltas the verifier draws. At +-delta the derivative is continuous but not smooth
(the second derivative jumps), which spoils the nudge's extrapolation: declared kinks."""


# -- similarity -------------------------------------------------------------------------


def cosine_similarity(a, b):
    """<a, b> / (|a| |b|) over the last axis, batched over the leading ones."""
    return np.sum(a * b, axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def cosine_similarity_vjp(out_grad, a, b, out):
    """d cos / d a = b / (|a| |b|) - cos a / |a|**2, likewise for b; leading axes broadcast."""
    norm_a = np.linalg.norm(a, axis=-1, keepdims=True)
    norm_b = np.linalg.norm(b, axis=-1, keepdims=True)
    g, cos = out_grad[..., np.newaxis], out[..., np.newaxis]
    grad_a = g * (b / (norm_a * norm_b) - cos * a / norm_a**2)
    grad_b = g * (a / (norm_a * norm_b) - cos * b / norm_b**2)
    return _sum_to(grad_a, np.shape(a)), _sum_to(grad_b, np.shape(b))


def _sum_to(grad, shape):
    """Sum the leading axes that broadcasting added or stretched."""
    extra = np.ndim(grad) - len(shape)
    axes = tuple(range(extra)) + tuple(
        extra + k for k, n in enumerate(shape) if n == 1 and np.shape(grad)[extra + k] != 1)
    return np.reshape(np.sum(grad, axis=axes), shape) if axes else grad


def cosine_similarity_sample():
    """Verifier hint: vectors of norm >= 1/2. Near a zero vector the cosine has no
    derivative, a condition on whole rows that per-element `domain` cannot state."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def vectors(draw):
        shapes = draw(hnp.mutually_broadcastable_shapes(signature="(n),(n)->()", max_side=4))
        values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)
        a, b = (draw(hnp.arrays(np.float64, s, elements=values)) for s in shapes.input_shapes)
        a, b = (np.where(np.linalg.norm(v, axis=-1, keepdims=True) < 0.5, v + 1.0, v)
                for v in (a, b))
        return (a, b), {}

    return vectors()


OPS = [
    Op("gelu", gelu, local_grad=gelu_local, signature=UNARY,
       doc="Gaussian error linear unit, tanh approximation"),
    Op("mish", mish, local_grad=mish_local, signature=UNARY, doc="x * tanh(softplus(x))"),
    Op("huber", huber, local_grad=huber_local, signature=UNARY,
       params={"delta": list(HUBER_DELTAS)},
       kinks=(tuple(s * d for d in HUBER_DELTAS for s in (-1.0, 1.0)),),
       doc="Huber loss of a residual: quadratic within delta, linear beyond"),
    Op("cosine_similarity", cosine_similarity, vjp=cosine_similarity_vjp,
       signature="(n),(n)->()", sample=cosine_similarity_sample,
       doc="<a, b> / (|a| |b|) over the last axis, batched"),
]
