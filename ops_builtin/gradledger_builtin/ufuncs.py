"""numpy's other elementwise ufuncs: logarithms and powers of 2 and 10, inverse
trigonometric and hyperbolic functions, rounding, remainders, two-argument angles.

Each takes numpy's name, so `np.arcsinh(t)`, `np.fmod(t, 3)` and `t % 2` reach it.
Rounding ops (floor, ceil, trunc, rint, round) are piecewise constant: their derivative
is 0 wherever it exists (as in PyTorch and autograd), and undefined at their jumps.
remainder (`%`, np.mod) and fmod are a - floor(a / b) b and a - trunc(a / b) b: grad
1 to a and -floor(a / b) (resp. -trunc) to b, undefined where a / b is an integer.
"""

import numpy as np
from gradledger.extend import Op

from .elementwise import maximum_local, minimum_local, untied_sample

BINARY = "(),()->()"
UNARY = "()->()"
POSITIVE = (0.0, None)
AT_ZERO = (0.0,)
MODERATE = (-20.0, 20.0)
LN2 = float(np.log(2.0))
LN10 = float(np.log(10.0))


SINC_SERIES = tuple((-1) ** k * 2 * k * np.pi ** (2 * k) / float(np.prod(np.arange(1, 2 * k + 2)))
                    for k in range(1, 8))
"""sinc's derivative near 0: sum over k >= 1 of these times x ** (2k - 1)."""


def sinc_local(x, out):
    """d/dx sin(pi x) / (pi x) = (cos(pi x) - sinc(x)) / x; near 0 (|x| < 0.1), where that
    difference cancels, its Taylor series to x**11 (relative error below 1e-16 there)."""
    small = np.abs(x) < 0.1
    safe = np.where(small, 1.0, x)
    far = (np.cos(np.pi * safe) - out) / safe
    x2 = x * x
    series = 0.0
    for c in reversed(SINC_SERIES):  # Horner's rule in x**2
        series = series * x2 + c
    series = series * x
    return (np.where(small, series, far),)


def piecewise_sample(offset):
    """Verifier hint for the rounding ops: values k + offset + u with |u| <= 0.4, so that
    no nudge crosses a jump (integers for floor, ceil, trunc: offset 0.5; half-integers for
    rint and round: offset 0)."""

    def sample():
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp

        near = st.builds(lambda k, u: k + offset + u, st.integers(-50, 50),
                         st.floats(-0.4, 0.4, allow_nan=False, allow_subnormal=False))

        @st.composite
        def values(draw):
            shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
            return (draw(hnp.arrays(np.float64, shape, elements=near)),), {}

        return values()

    return sample


def remainder_sample():
    """Verifier hint for remainder and fmod: a / b at least about 0.19 from every integer
    (where the result jumps), b away from 0, broadcasting.

    a = s (k + 1/2 + u) with |u| <= 0.2 and |k| <= 2, b = +-s (1 + v) with 0 <= v <= 0.05,
    for one scale s: a / b = +-(k + 1/2 + u) / (1 + v), which stays off the integers."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    jitter = st.floats(-0.2, 0.2, allow_nan=False, allow_subnormal=False)
    a_unit = st.builds(lambda k, u: k + 0.5 + u, st.integers(-3, 2), jitter)
    b_unit = st.builds(lambda sign, v: sign * (1.0 + v), st.sampled_from([-1.0, 1.0]),
                       st.floats(0.0, 0.05, allow_nan=False, allow_subnormal=False))

    @st.composite
    def operands(draw):
        shapes = draw(hnp.mutually_broadcastable_shapes(signature=BINARY, max_side=4))
        scale = draw(st.sampled_from([0.5, 1.0, 3.0]))
        a = draw(hnp.arrays(np.float64, shapes.input_shapes[0], elements=a_unit)) * scale
        b = draw(hnp.arrays(np.float64, shapes.input_shapes[1], elements=b_unit)) * scale
        return (a, b), {}

    return operands()


def arctan2_local(y, x, out):
    """d atan2(y, x) = (x dy - y dx) / (x**2 + y**2)."""
    r2 = x * x + y * y
    return x / r2, -y / r2


def round_(x, decimals=0):
    return np.round(x, decimals)


OPS = [
    # -- logarithms and powers of 2 and 10 -------------------------------------------
    Op("log2", np.log2, local_grad=lambda x, out: (1.0 / (x * LN2),), signature=UNARY,
       domain=(POSITIVE,), doc="base-2 logarithm, for x > 0"),
    Op("log10", np.log10, local_grad=lambda x, out: (1.0 / (x * LN10),), signature=UNARY,
       domain=(POSITIVE,), doc="base-10 logarithm, for x > 0"),
    Op("exp2", np.exp2, local_grad=lambda x, out: (out * LN2,), signature=UNARY,
       domain=(MODERATE,), doc="2 ** x"),
    Op("logaddexp2", np.logaddexp2,
       local_grad=lambda a, b, out: (np.exp2(a - out), np.exp2(b - out)),
       signature=BINARY, doc="log2(2 ** a + 2 ** b), without overflow"),
    Op("cbrt", np.cbrt, local_grad=lambda x, out: (1.0 / (3.0 * out * out),), signature=UNARY,
       kinks=(AT_ZERO,), doc="cube root (of negative numbers too); no derivative at 0"),
    Op("reciprocal", np.reciprocal, local_grad=lambda x, out: (-(out * out),), signature=UNARY,
       kinks=(AT_ZERO,), dtypes=("float64", "float32", "complex128", "complex64"),
       doc="1 / x"),
    # -- inverse trigonometric and hyperbolic ------------------------------------------
    Op("arcsin", np.arcsin, local_grad=lambda x, out: (1.0 / np.sqrt(1.0 - x * x),),
       signature=UNARY, domain=((-1.0, 1.0),), numpy_names=("asin",),
       doc="inverse sine, for -1 < x < 1"),
    Op("arccos", np.arccos, local_grad=lambda x, out: (-1.0 / np.sqrt(1.0 - x * x),),
       signature=UNARY, domain=((-1.0, 1.0),), numpy_names=("acos",),
       doc="inverse cosine, for -1 < x < 1"),
    Op("arcsinh", np.arcsinh, local_grad=lambda x, out: (1.0 / np.sqrt(1.0 + x * x),),
       signature=UNARY, numpy_names=("asinh",), doc="inverse hyperbolic sine"),
    Op("arccosh", np.arccosh, local_grad=lambda x, out: (1.0 / np.sqrt(x * x - 1.0),),
       signature=UNARY, domain=((1.0, None),), numpy_names=("acosh",),
       doc="inverse hyperbolic cosine, for x > 1"),
    Op("arctanh", np.arctanh, local_grad=lambda x, out: (1.0 / (1.0 - x * x),),
       signature=UNARY, domain=((-1.0, 1.0),), numpy_names=("atanh",),
       doc="inverse hyperbolic tangent, for -1 < x < 1"),
    Op("arctan2", np.arctan2, local_grad=arctan2_local, signature=BINARY,
       kinks=(AT_ZERO, ()), numpy_names=("atan2",),
       doc="the angle of the point (x, y): arctan2(y, x); it jumps across y = 0, x < 0"),
    Op("hypot", np.hypot, local_grad=lambda a, b, out: (a / out, b / out), signature=BINARY,
       kinks=(AT_ZERO, AT_ZERO), doc="sqrt(a ** 2 + b ** 2), without overflow"),
    Op("sinc", np.sinc, local_grad=sinc_local, signature=UNARY,
       doc="sin(pi x) / (pi x), 1 at 0 (numpy's normalised sinc)"),
    Op("deg2rad", np.deg2rad, local_grad=lambda x, out: (np.pi / 180.0,), signature=UNARY,
       numpy_names=("radians",), doc="degrees to radians: x pi / 180"),
    Op("rad2deg", np.rad2deg, local_grad=lambda x, out: (180.0 / np.pi,), signature=UNARY,
       numpy_names=("degrees",), doc="radians to degrees: x 180 / pi"),
    # -- magnitude and choice -----------------------------------------------------------
    Op("fabs", np.fabs, local_grad=lambda x, out: (np.sign(x),), signature=UNARY,
       kinks=(AT_ZERO,), doc="|x|, as abs; its derivative at 0 is taken as 0"),
    Op("fmax", np.fmax, local_grad=maximum_local, signature=BINARY, sample=untied_sample,
       doc="elementwise max(a, b), NaN ignored where the other is a number; a tie splits "
           "the grad in half"),
    Op("fmin", np.fmin, local_grad=minimum_local, signature=BINARY, sample=untied_sample,
       doc="elementwise min(a, b), NaN ignored where the other is a number; a tie splits "
           "the grad in half"),
    # -- rounding: derivative 0 where it exists ---------------------------------------------
    Op("floor", np.floor, local_grad=lambda x, out: (0.0,), signature=UNARY,
       sample=piecewise_sample(0.5), doc="the largest integer <= x; grad 0 (none at integers)"),
    Op("ceil", np.ceil, local_grad=lambda x, out: (0.0,), signature=UNARY,
       sample=piecewise_sample(0.5), doc="the smallest integer >= x; grad 0 (none at integers)"),
    Op("trunc", np.trunc, local_grad=lambda x, out: (0.0,), signature=UNARY,
       sample=piecewise_sample(0.5), numpy_names=("fix",),
       doc="x rounded toward 0; grad 0 (none at integers)"),
    Op("rint", np.rint, local_grad=lambda x, out: (0.0,), signature=UNARY,
       sample=piecewise_sample(0.0),
       doc="x rounded to the nearest integer (halves to even); grad 0 (none at halves)"),
    Op("round", round_, local_grad=lambda x, out, decimals=0: (0.0,), signature=UNARY,
       sample=piecewise_sample(0.0), numpy_names=("around", "round_"),
       doc="x rounded to `decimals` decimals (halves to even), as np.round; grad 0"),
    # -- remainders ---------------------------------------------------------------------------
    Op("remainder", np.remainder,
       local_grad=lambda a, b, out: (1.0, -np.floor(a / b)), signature=BINARY,
       sample=remainder_sample, numpy_names=("mod",),
       doc="a - floor(a / b) b, the sign of b (Python's %, np.mod); no grad where a / b is "
           "an integer"),
    Op("fmod", np.fmod, local_grad=lambda a, b, out: (1.0, -np.trunc(a / b)), signature=BINARY,
       sample=remainder_sample,
       doc="a - trunc(a / b) b, the sign of a (C's fmod); no grad where a / b is an integer"),
]
