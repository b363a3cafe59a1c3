"""Special functions (scipy.special's): error functions, the gamma family, the normal
distribution's log-CDF, exponentially scaled Bessel functions, xlogy. Registered where
scipy is installed (`pip install "gradledger[special]"`); `scipy.special.erf(t)` reaches
them.

Where they live (issue 21's decision): built-in ops, registered by the built-in plugin
only when scipy is installed (`pip install "gradledger[special]"`); scipy is not a
dependency of gradledger. Whoever calls `scipy.special.erf(t)` has scipy, and that call
reaches the op `erf` through numpy's `__array_ufunc__` with no plugin to install; without
scipy, `gl.erf` is reported missing like any op no plugin registers. Checking for scipy
costs a look at the import path, not an import: scipy.special is imported the first
time one of these ops runs. (A separate plugin package would have made scipy users
install a second distribution before `scipy.special.erf(t)` kept its gradient.)

docs/ops.md lists these ops whether or not scipy is installed where it is generated.
`logit` is the op `log_odds` (numpy_names `logit`): the plugin guide's own example
registers an op named `logit`. `expit` is the op `sigmoid`. scipy's `polygamma` is a
Python function, not a ufunc: it converts its inputs to arrays, so call `gl.polygamma`.
"""

import importlib.util

import numpy as np
from gradledger.extend import Op, call

UNARY = "()->()"
BINARY = "(),()->()"
POSITIVE = (0.0, None)
TWO_OVER_SQRT_PI = float(2.0 / np.sqrt(np.pi))
SQRT_PI_OVER_2 = float(np.sqrt(np.pi) / 2.0)
INV_SQRT_2PI = float(1.0 / np.sqrt(2.0 * np.pi))


def available() -> bool:
    """Whether scipy is installed (looked up on the import path, not imported)."""
    try:
        return importlib.util.find_spec("scipy") is not None
    except (ImportError, ValueError):  # a broken or blocked scipy counts as absent
        return False


def _special():
    import scipy.special

    return scipy.special


def _ufunc(name):
    """A forward rule calling scipy.special.NAME, imported at the first call."""

    def forward(*arrays):
        return getattr(_special(), name)(*arrays)

    forward.__name__ = name
    return forward


def polygamma(n, x):
    """The n-th derivative of the digamma function, n an integer >= 0 (a constant)."""
    n = np.asarray(n)
    if n.dtype.kind not in "iu" or np.any(n < 0):
        from gradledger.extend import OpCallError

        raise OpCallError(f"polygamma's order n must be integers >= 0; got {n!r}")
    return _special().polygamma(n, x).astype(np.result_type(x), copy=False)


def polygamma_sample():
    """Verifier hint: an order 0 to 3 (integers, a constant) and x > 0 away from 0."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def example(draw):
        shapes = draw(hnp.mutually_broadcastable_shapes(signature=BINARY, max_side=3))
        n = draw(hnp.arrays(np.int64, shapes.input_shapes[0], elements=st.integers(0, 3)))
        x = draw(hnp.arrays(np.float64, shapes.input_shapes[1],
                            elements=st.floats(0.3, 20.0, allow_nan=False)))
        return (n, x), {}

    return example()


def i1e_local(x, out):
    """i1e' = i0e - i1e (sign(x) + 1/x), whose limit at 0 is 1/2."""
    safe = np.where(x == 0, 1.0, x)
    return (np.where(x == 0, 0.5, call("i0e", x) - out * (np.sign(x) + 1.0 / safe)),)


def _x_where_nonzero(x, y):
    """xlogy's grad in y, x / y, with 0 where x == y == 0 (xlogy is 0 at x == 0 whatever
    y). Only there: elsewhere x / y is 0 at x == 0 by itself and keeps its derivative in x
    (1 / y), which the second order needs."""
    both = np.logical_and(x == 0, y == 0)
    return np.where(both, 0.0, x / np.where(both, 1.0, y))


OPS = [
    Op("erf", _ufunc("erf"), local_grad=lambda x, out: (TWO_OVER_SQRT_PI * np.exp(-x * x),),
       signature=UNARY, doc="the error function, scipy.special.erf"),
    Op("erfc", _ufunc("erfc"),
       local_grad=lambda x, out: (-TWO_OVER_SQRT_PI * np.exp(-x * x),), signature=UNARY,
       doc="1 - erf(x), accurate where erf(x) is near 1"),
    Op("erfinv", _ufunc("erfinv"),
       local_grad=lambda x, out: (SQRT_PI_OVER_2 * np.exp(out * out),), signature=UNARY,
       domain=((-1.0, 1.0),), doc="the inverse of erf, for -1 < x < 1"),
    Op("erfcinv", _ufunc("erfcinv"),
       local_grad=lambda x, out: (-SQRT_PI_OVER_2 * np.exp(out * out),), signature=UNARY,
       domain=((0.0, 2.0),), doc="the inverse of erfc, for 0 < x < 2"),
    Op("gammaln", _ufunc("gammaln"), local_grad=lambda x, out: (call("digamma", x),),
       signature=UNARY, domain=(POSITIVE,), doc="log |gamma(x)|; grads checked for x > 0"),
    Op("gamma", _ufunc("gamma"), local_grad=lambda x, out: (out * call("digamma", x),),
       signature=UNARY, domain=((0.0, 30.0),), doc="the gamma function"),
    Op("digamma", _ufunc("psi"), local_grad=lambda x, out: (call("polygamma", 1, x),),
       signature=UNARY, domain=(POSITIVE,), numpy_names=("psi",),
       doc="d/dx log gamma(x) (scipy.special.psi); grads checked for x > 0"),
    Op("polygamma", polygamma, local_grad=lambda n, x, out: (None, call("polygamma", n + 1, x)),
       signature=BINARY, constants=(0,), sample=polygamma_sample,
       doc="the n-th derivative of digamma, n integer >= 0 (gl.polygamma: scipy's is not a "
           "ufunc)"),
    Op("log_odds", _ufunc("logit"), local_grad=lambda x, out: (1.0 / (x - x * x),),
       signature=UNARY, domain=((0.0, 1.0),), numpy_names=("logit",),
       doc="log(x / (1 - x)) for 0 < x < 1 (scipy.special.logit)"),
    Op("log_expit", _ufunc("log_expit"), local_grad=lambda x, out: (call("sigmoid", -x),),
       signature=UNARY, doc="log(sigmoid(x)) without overflow"),
    Op("xlogy", _ufunc("xlogy"),
       local_grad=lambda x, y, out: (np.log(y), _x_where_nonzero(x, y)), signature=BINARY,
       domain=(None, POSITIVE), doc="x log(y), 0 where x == 0"),
    Op("xlog1py", _ufunc("xlog1py"),
       local_grad=lambda x, y, out: (np.log1p(y), _x_where_nonzero(x, 1.0 + y)),
       signature=BINARY, domain=(None, (-1.0, None)), doc="x log(1 + y), 0 where x == 0"),
    Op("ndtr", _ufunc("ndtr"), local_grad=lambda x, out: (INV_SQRT_2PI * np.exp(-0.5 * x * x),),
       signature=UNARY, doc="the standard normal CDF"),
    Op("log_ndtr", _ufunc("log_ndtr"),
       local_grad=lambda x, out: (INV_SQRT_2PI * np.exp(-0.5 * x * x - out),),
       signature=UNARY, domain=((-10.0, None),),  # the verifier's nudges lose digits beyond
       doc="log of the standard normal CDF, accurate in both tails"),
    Op("ndtri", _ufunc("ndtri"),
       local_grad=lambda x, out: (1.0 / (INV_SQRT_2PI * np.exp(-0.5 * out * out)),),
       signature=UNARY, domain=((0.0, 1.0),), doc="the inverse of ndtr, for 0 < x < 1"),
    Op("i0e", _ufunc("i0e"), local_grad=lambda x, out: (call("i1e", x) - np.sign(x) * out,),
       signature=UNARY, kinks=((0.0,),), domain=((-200.0, 200.0),),
       doc="exp(-|x|) I0(x), the scaled modified Bessel function of order 0"),
    Op("i1e", _ufunc("i1e"), local_grad=i1e_local, signature=UNARY, kinks=((0.0,),),
       domain=((-200.0, 200.0),),
       doc="exp(-|x|) I1(x), the scaled modified Bessel function of order 1"),
]
