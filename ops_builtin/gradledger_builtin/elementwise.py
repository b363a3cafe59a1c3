"""Elementwise ops: numpy broadcasting, and one local derivative per input.

Where numpy has the function the op takes its name (`numpy_names` lists numpy's
other names for it), so `np.sqrt(t)` and `t.clip(0, 1)` reach the op. At a kink the
derivative is taken as PyTorch takes it: abs and relu 0 at 0; sign 0 everywhere;
maximum, minimum and clip split a tie evenly between the tied inputs (clip books a
tie with a bound entirely to x, as its bounds are params, not inputs).

Each `local_grad(*inputs, out)` returns d out / d input; the tape books
`input.grad += unbroadcast(local * out.grad)` — the seed's formula.

Complex numbers (docs/plugins.md, "Complex numbers"): the ops declared with `COMPLEX`
dtypes take complex tensors. For a holomorphic op (add, mul, exp, sin, ...) the local
derivative is f'(z), the same formula as for reals, and the tape books
conj(f'(z)) * out_grad. abs, real, imag, conj and angle are not holomorphic: abs's local
is written conjugated already, the others book by a vjp, in the convention
grad = d loss / d Re + i d loss / d Im.

Forward rules use Python operators rather than calling ufuncs by name: on numpy
scalars (0-d values) `a * b` costs about 0.1 µs, `np.multiply(a, b)` about 1.5 µs;
on arrays both are the same ufunc.
"""

import functools

import numpy as np
from gradledger.extend import Op, OpCallError, call

BINARY = "(),()->()"
UNARY = "()->()"
POSITIVE = (0.0, None)
AT_ZERO = (0.0,)
MODERATE = (-20.0, 20.0)
"""Where exp-like results stay finite in float32 too (exp(88.7) overflows it)."""
COMPLEX = ("float64", "float32", "complex128", "complex64")
"""The dtypes of an op that takes complex tensors as well as real ones."""
TAN_POLES = tuple((k + 0.5) * np.pi for k in range(-33, 33))
"""Every pole of tan within the verifier's +-100 sampling range."""


def abs_local(x, out):
    """d|x|/dx = sign(x) (0 at 0). For complex z, |z| is not holomorphic: its grad is
    out_grad * z / |z|, which the tape's conj(local) * out_grad books from
    local = conj(z) / |z| (0 at 0, as PyTorch's)."""
    if x.dtype.kind != "c":
        return (np.sign(x),)
    return (np.conj(x) / np.where(out == 0, 1.0, out),)


def real_part(x):
    """np.real as a new array (numpy's is x itself for real x)."""
    return np.real(x) + 0


def real_if_close(a, tol=100):
    """np.real_if_close: the real parts when every imaginary part is within tol machine
    epsilons of 0, else a (a copy)."""
    return np.real_if_close(a, tol=tol) + 0


def real_if_close_vjp(out_grad, a, out, tol=100):
    """The identity, or Re as `real`'s: a real out_grad is the grad of a's real part."""
    return (out_grad,)


def imag_part(x):
    """np.imag (zeros for real x)."""
    return np.imag(x) + 0 if np.iscomplexobj(x) else np.zeros_like(x)


def imag_vjp(out_grad, x, out):
    """y = Im(z): d loss / d Im z = out_grad, so grad = i out_grad (the tape keeps the
    real part, 0, for a real x: zeros)."""
    return (out_grad * 1j if x.dtype.kind == "c" else out_grad * 0.0,)


def conj_part(x):
    return np.conj(x) + 0 if np.iscomplexobj(x) else x + 0


def angle(x, deg=False):
    """np.angle: the argument of z in (-pi, pi] (of a real number: 0 for x >= 0, pi for
    x < 0), in the input's real dtype; degrees with deg=True."""
    real = np.real(np.zeros((), np.result_type(x))).dtype
    return np.angle(x, deg=deg).astype(real, copy=False)


def angle_vjp(out_grad, x, out, deg=False):
    """arg z = atan2(b, a): d/da = -b / |z|^2, d/db = a / |z|^2, so
    grad = out_grad (-b + i a) / |z|^2 = out_grad i / conj(z); its real part (a real x's
    grad) is 0. Undefined at z = 0."""
    if x.dtype.kind != "c":
        return (out_grad * 0.0,)
    scale = 180.0 / np.pi if deg else 1.0
    return (out_grad * (1j * scale) / np.conj(x),)


def relu(x):
    """max(x, 0), NaN kept; a numpy scalar skips the ufunc call (2 µs on a scalar)."""
    if x.__class__ is np.ndarray:
        return np.maximum(x, 0)
    return x if not x <= 0 else x.dtype.type(0)


def relu_local(x, out):
    """1 where out > 0, else 0. On a float array as 1s and 0s of its dtype: the tape's
    product with out_grad is then float by float (a third faster than float by bool),
    the same numbers."""
    if out.__class__ is np.ndarray and out.dtype.kind == "f":
        return ((out > 0).astype(out.dtype),)
    return (out > 0,)


def pow_local(x, p, out):
    """d(x ** p)/dx = p * x ** (p - 1); 0 where p == 0 (x ** 0 is constant, even at x = 0).
    d(x ** p)/dp = x ** p log(x), for an exponent that is an array or a tensor.

    A Python number p (a call on arrays from a rule, `call("pow", x, 2)`) is tested in
    Python, not by np.all, and has no exponent grad; the square's 2 * x is the same number
    as 2 * x ** 1, one pass over x instead of two. An exponent the tape hands over (a
    number in `x ** 2` arrives as a numpy scalar, like a 0-d tensor's value) also gets its
    local x ** p log(x): the tape books it only if the exponent requires grad."""
    if p.__class__ is int or p.__class__ is float:
        if p == 2:
            return (2 * x, None)
        return (p * x ** (p - 1), None) if p != 0 else (0.0, None)
    with np.errstate(divide="ignore", invalid="ignore"):
        if isinstance(p, (np.ndarray, np.generic)) and np.all(p != 0):
            grad_x = 2 * x if p.ndim == 0 and p == 2 else p * x ** (p - 1)
        else:  # an exponent 0 somewhere, or a Tensor (a rule being differentiated)
            # Only 0 ** 0 needs the constant (0 * inf there); elsewhere p * x ** (p - 1)
            # is 0 at p = 0 by itself and keeps its derivative in p (x ** -1 at p = 0).
            grad_x = np.where(np.logical_and(p == 0, x == 0), 0.0, p * x ** (p - 1))
        return grad_x, _pow_exponent_local(x, out)


def _pow_exponent_local(x, out):
    """d(x ** p)/dp = x ** p log(x): 0 at x = 0 (as PyTorch books it), NaN for x < 0,
    where x ** p is real only at integer p and has no derivative in p."""
    zero = x == 0
    return np.where(zero, 0.0, out * np.log(np.where(zero, 1.0, x)))


def power(x, p):
    """x ** p; a cube or fourth power (a number exponent: Python's, or the numpy scalar the
    tape makes of it) by multiplications: numpy's power loop for them is about 100x slower
    (negative bases leave its fast path)."""
    if isinstance(p, (int, float, np.generic)) and (p == 3 or p == 4):
        square = x * x
        return square * x if p == 3 else square * square
    return x ** p


def sigmoid(x):
    """1 / (1 + e**-x) as exp(min(x, 0)) / (1 + exp(-|x|)): no x overflows, both tails keep
    their relative precision, and no logaddexp (numpy's is ~30x slower than exp)."""
    return np.exp(np.minimum(x, 0)) / (1 + np.exp(-np.abs(x)))


def softplus(x):
    """log(1 + e**x) as max(x, 0) + log1p(exp(-|x|)): logaddexp(0, x)'s numbers, faster."""
    return np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))


def sigmoid_local(x, out):
    """sigmoid(x) (1 - sigmoid(x)), with 1 - sigmoid(x) = sigmoid(-x): exact in both tails."""
    return (out * call("sigmoid", -x),)


def maximum_local(a, b, out):
    """1 to the larger input; on a tie (a kink) each gets 1/2, as JAX and PyTorch book it.

    The half is a number of out's dtype: 0.5 times a boolean array would be float64, and
    turn a float32 model's grads into float64 ones for the tape to cast back."""
    a_share = (a > b) + out.dtype.type(0.5) * (a == b)
    return a_share, 1.0 - a_share


def minimum_local(a, b, out):
    """1 to the smaller input; on a tie each gets 1/2 (of out's dtype, as maximum's)."""
    a_share = (a < b) + out.dtype.type(0.5) * (a == b)
    return a_share, 1.0 - a_share


def untied_sample():
    """Verifier hint for maximum and minimum: `a` and `b` never tie, whatever broadcasting
    pairs up.

    Their kink is where a == b, a relation between the two inputs that per-input
    `kinks` cannot state. So `a` is drawn near the integers and `b` near the
    half-integers, each moved by at most 0.2: |a - b| >= 0.1 everywhere.
    """
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    jitter = st.floats(-0.2, 0.2, allow_nan=False, allow_subnormal=False)
    near = st.builds(lambda whole, jitter: whole + jitter, st.integers(-5, 5), jitter)
    pairs = hnp.mutually_broadcastable_shapes(signature=BINARY, max_side=4)
    array_of = functools.cache(lambda shape: hnp.arrays(np.float64, shape, elements=near))

    @st.composite
    def untied(draw):
        shape_a, shape_b = draw(pairs).input_shapes
        a = draw(array_of(shape_a))
        b = draw(array_of(shape_b)) + 0.5
        return (a, b), {}

    return untied()


def clip(x, a_min=None, a_max=None):
    """x limited to [a_min, a_max] (either bound None: no limit), as np.clip."""
    if a_min is None and a_max is None:
        return x + 0  # numpy refuses two missing bounds; a copy, not x itself
    return np.clip(x, a_min, a_max)


def clip_local(x, out, a_min=None, a_max=None):
    """1 where x lies within [a_min, a_max] (a bound included), 0 where it was clipped:
    a mask of comparisons, whose own derivative is 0 wherever it exists. The mask stays
    boolean (True * True is True), so that the tape's product with the grad keeps the
    grad's dtype (a boolean times 1.0 would be float64)."""
    if a_min is None and a_max is None:
        return (1.0,)
    if a_max is None:
        return (x >= a_min,)
    if a_min is None:
        return (x <= a_max,)
    return ((x >= a_min) * (x <= a_max),)


CLIP_BOUNDS = (-1.5, -0.5, 0.5, 1.5)
"""The bounds the verifier draws for clip; they are declared kinks of x."""


def clip_params(shapes):
    """Verifier hint: each bound None or one of CLIP_BOUNDS, a_min <= a_max."""
    from hypothesis import strategies as st

    bounds = st.sampled_from([(None, None), (None, 0.5), (-0.5, None), (-1.5, -0.5),
                              (-0.5, 0.5), (-1.5, 1.5), (0.5, 0.5)])
    drawn = st.shared(bounds, key="clip")
    return {"a_min": drawn.map(lambda b: b[0]), "a_max": drawn.map(lambda b: b[1])}


def where(condition, a, b):
    """a where the condition holds, else b; the condition must be booleans (a mask): numpy
    reads other numbers by truth, and a rule would take them for weights."""
    if not (type(condition) is bool or (isinstance(condition, (np.ndarray, np.generic))
                                        and condition.dtype == np.bool_)):
        kind = getattr(condition, "dtype", type(condition).__name__)
        raise OpCallError(
            f"the condition must be booleans (a mask such as x > 0); got {kind}. numpy's "
            "np.where reads nonzero numbers as True; gradledger refuses rather than guess: "
            "write cond != 0 (or cond.astype(bool))"
        )
    return np.where(condition, a, b)


def where_local(condition, a, b, out):
    """out_grad goes to `a` where the condition holds and to `b` elsewhere."""
    return None, condition, np.logical_not(condition)


def where_sample():
    """Verifier hint: a boolean condition, broadcasting against a and b."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    triples = hnp.mutually_broadcastable_shapes(num_shapes=3, max_side=4)
    values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)
    mask_of = functools.cache(lambda shape: hnp.arrays(np.bool_, shape))
    array_of = functools.cache(lambda shape: hnp.arrays(np.float64, shape, elements=values))

    @st.composite
    def condition_and_values(draw):
        shapes = draw(triples)
        condition = draw(mask_of(shapes.input_shapes[0]))
        a = draw(array_of(shapes.input_shapes[1]))
        b = draw(array_of(shapes.input_shapes[2]))
        return (condition, a, b), {}

    return condition_and_values()


OPS = [
    # -- arithmetic ------------------------------------------------------------------
    Op("add", lambda a, b: a + b, local_grad=lambda a, b, out: (1.0, 1.0), signature=BINARY,
       reads=(), dtypes=COMPLEX, doc="a + b"),
    Op("sub", lambda a, b: a - b, local_grad=lambda a, b, out: (1.0, -1.0), signature=BINARY,
       reads=(), numpy_names=("subtract",), dtypes=COMPLEX, doc="a - b"),
    Op("mul", lambda a, b: a * b, local_grad=lambda a, b, out: (b, a), signature=BINARY,
       reads=("a", "b"), numpy_names=("multiply",), dtypes=COMPLEX, doc="a * b"),
    Op("div", lambda a, b: a / b, local_grad=lambda a, b, out: (1.0 / b, -out / b),
       signature=BINARY, kinks=((), AT_ZERO), numpy_names=("divide", "true_divide"),
       dtypes=COMPLEX, doc="a / b"),
    Op("neg", lambda x: -x, local_grad=lambda x, out: (-1.0,), signature=UNARY,
       numpy_names=("negative",), dtypes=COMPLEX, doc="-x"),
    Op("pow", power, local_grad=pow_local,
       signature=BINARY, domain=(POSITIVE, (-3.0, 3.0)), numpy_names=("power",), dtypes=COMPLEX,
       doc="x ** p; the exponent's grad is x ** p log(x) (0 at x = 0, NaN for x < 0)"),
    # -- transcendental ----------------------------------------------------------------
    Op("exp", np.exp, local_grad=lambda x, out: (out,), signature=UNARY, reads=("out",),
       domain=((-20.0, 20.0),), dtypes=COMPLEX, doc="e ** x"),
    Op("log", np.log, local_grad=lambda x, out: (1.0 / x,), signature=UNARY,
       domain=(POSITIVE,), dtypes=COMPLEX,
       doc="natural logarithm, for x > 0 (complex: the principal branch)"),
    Op("tanh", np.tanh, local_grad=lambda x, out: (1.0 - out * out,), signature=UNARY,
       dtypes=COMPLEX, doc="hyperbolic tangent"),
    # -- activations -------------------------------------------------------------------
    Op("relu", relu, local_grad=relu_local, reads=("out",),
       signature=UNARY, kinks=(AT_ZERO,), doc="max(x, 0); its derivative at 0 is taken as 0"),
    Op("sigmoid", sigmoid, local_grad=sigmoid_local, signature=UNARY, numpy_names=("expit",),
       doc="1 / (1 + exp(-x)) (scipy.special.expit)"),
    Op("softplus", softplus,
       local_grad=lambda x, out: (call("sigmoid", x),),
       signature=UNARY, doc="log(1 + exp(x)), a smooth relu"),
    Op("logaddexp", np.logaddexp, local_grad=lambda a, b, out: (np.exp(a - out), np.exp(b - out)),
       signature=BINARY, doc="log(exp(a) + exp(b)), without overflow"),
    # -- magnitude and sign ------------------------------------------------------------
    Op("abs", np.abs, local_grad=abs_local, signature=UNARY,
       kinks=(AT_ZERO,), numpy_names=("absolute",), dtypes=COMPLEX,
       doc="|x| (of complex z: its modulus, real); its derivative at 0 is 0"),
    Op("sign", np.sign, local_grad=lambda x, out: (0.0,), signature=UNARY,
       kinks=(AT_ZERO,), doc="-1, 0 or 1; its derivative is 0 everywhere (as in PyTorch)"),
    Op("sqrt", np.sqrt, local_grad=lambda x, out: (0.5 / out,), signature=UNARY,
       domain=(POSITIVE,), dtypes=COMPLEX,
       doc="square root, for x > 0 (complex: the principal branch)"),
    Op("square", np.square, local_grad=lambda x, out: (2.0 * x,), signature=UNARY,
       dtypes=COMPLEX, doc="x * x"),
    # -- exponential and logarithm near zero -----------------------------------------------
    Op("log1p", np.log1p, local_grad=lambda x, out: (1.0 / (1.0 + x),), signature=UNARY,
       domain=((-1.0, None),), dtypes=COMPLEX,
       doc="log(1 + x), accurate for small x; x > -1"),
    Op("expm1", np.expm1, local_grad=lambda x, out: (np.exp(x),), signature=UNARY,
       domain=(MODERATE,), dtypes=COMPLEX, doc="exp(x) - 1, accurate for small x"),
    # -- trigonometric and hyperbolic ------------------------------------------------------
    Op("sin", np.sin, local_grad=lambda x, out: (np.cos(x),), signature=UNARY,
       dtypes=COMPLEX, doc="sine"),
    Op("cos", np.cos, local_grad=lambda x, out: (-np.sin(x),), signature=UNARY,
       dtypes=COMPLEX, doc="cosine"),
    Op("tan", np.tan, local_grad=lambda x, out: (1.0 + out * out,), signature=UNARY,
       kinks=(TAN_POLES,), dtypes=COMPLEX, doc="tangent; undefined at the poles pi/2 + k pi"),
    Op("arctan", np.arctan, local_grad=lambda x, out: (1.0 / (1.0 + x * x),),
       signature=UNARY, numpy_names=("atan",), doc="inverse tangent"),
    Op("sinh", np.sinh, local_grad=lambda x, out: (np.cosh(x),), signature=UNARY,
       domain=(MODERATE,), dtypes=COMPLEX, doc="hyperbolic sine"),
    Op("cosh", np.cosh, local_grad=lambda x, out: (np.sinh(x),), signature=UNARY,
       domain=(MODERATE,), dtypes=COMPLEX, doc="hyperbolic cosine"),
    # -- choosing between values ------------------------------------------------------------
    Op("maximum", np.maximum, local_grad=maximum_local, signature=BINARY, sample=untied_sample,
       doc="elementwise max(a, b), broadcasting; a tie splits the grad in half"),
    Op("minimum", np.minimum, local_grad=minimum_local, signature=BINARY, sample=untied_sample,
       doc="elementwise min(a, b), broadcasting; a tie splits the grad in half"),
    Op("clip", clip, local_grad=clip_local, signature=UNARY, params=clip_params,
       kinks=(CLIP_BOUNDS,),
       doc="x limited to [a_min, a_max] (None: no bound); grad 1 inside (bounds included), "
           "0 outside"),
    Op("where", where, local_grad=where_local, signature="(),(),()->()", constants=(0,),
       sample=where_sample, dtypes=COMPLEX,
       doc="a where the boolean condition holds, else b; the condition takes no gradient"),
    # -- complex parts (of a real tensor: itself, zeros, itself, 0 or pi) -----------------
    Op("real", real_part, vjp=lambda out_grad, x, out: (out_grad,), signature=UNARY,
       reads=(), dtypes=COMPLEX, doc="np.real: the real part (of a real tensor: itself)"),
    Op("real_if_close", real_if_close, vjp=real_if_close_vjp, signature="(*)->(*)", reads=(),
       dtypes=COMPLEX, doc="np.real_if_close: the real parts if every imaginary part is "
                           "within tol eps of 0, else the input"),
    Op("imag", imag_part, vjp=imag_vjp, signature=UNARY, reads=(), dtypes=COMPLEX,
       doc="np.imag: the imaginary part (of a real tensor: zeros, no grad flows)"),
    Op("conj", conj_part, vjp=lambda out_grad, x, out: (np.conj(out_grad),), signature=UNARY,
       reads=(), numpy_names=("conjugate",), dtypes=COMPLEX,
       doc="np.conj: the complex conjugate (of a real tensor: itself)"),
    Op("angle", angle, vjp=angle_vjp, signature=UNARY, kinks=(AT_ZERO,), dtypes=COMPLEX,
       params={"deg": [False, True]},
       doc="np.angle: the argument of z in (-pi, pi] (degrees with deg=True); of a real "
           "tensor 0 or pi, grad 0"),
]
