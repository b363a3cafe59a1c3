"""Correct but numerically hard plugin ops (issue 18): the verifier must pass every one.

Each is right, and each sits where a careless nudge or tolerance false-alarms: a float32
FFT pair (the transform's own rounding is 0.7 ulp of its largest output), Kepler's
equation solved by Newton near its stiff point (e -> 1, M = 0: cubic within 1e-4 of 0),
an ill-conditioned batched float32 solve (condition number 3,000), an oscillatory
function (phase up to 800 rad), sinh and exp near overflow (|x| up to 709.7), and an op
with two outputs, one of them nearly constant.

Register with `gradledger.register_plugin(hard_ops.PLUGIN)`.
"""

import numpy as np
from gradledger.extend import Op, hookimpl, unbroadcast

# -- an FFT pair, in real numbers: rfft as (real part, imaginary part), and its inverse ---


def rfft_parts(x):
    """Re and Im of np.fft.rfft along the last axis (numpy keeps float32 as complex64)."""
    z = np.fft.rfft(x, axis=-1)
    return z.real.copy(), z.imag.copy()


def _interior(m, n):
    """The rfft bins that stand for two complex ones (all but 0 and, for even n, n/2)."""
    weight = np.full(m, 2.0)
    weight[0] = 1.0
    if n % 2 == 0:
        weight[-1] = 1.0
    return weight


def rfft_parts_vjp(cotangents, x, out):
    """grad_j = sum_k g_re_k cos(2 pi k j / n) - g_im_k sin(2 pi k j / n): n irfft of the
    cotangent with its doubled bins halved (irfft counts each twice)."""
    g_re, g_im = cotangents
    n = np.shape(x)[-1]
    z = (g_re + 1j * g_im) / _interior(np.shape(g_re)[-1], n).astype(g_re.dtype)
    return (n * np.fft.irfft(z, n=n, axis=-1),)


def irfft_parts(re, im):
    """np.fft.irfft of re + i im along the last axis, to an even length 2 (m - 1)."""
    return np.fft.irfft(re + 1j * im, n=2 * (np.shape(re)[-1] - 1), axis=-1)


def irfft_parts_vjp(out_grad, re, im, out):
    """x_j = (1/n) sum_k w_k (re_k cos - im_k sin)(2 pi k j / n): the grads are w_k / n
    times rfft(g)'s real and imaginary parts (Im at bins 0 and n/2 never reaches x)."""
    n = np.shape(out_grad)[-1]
    z = np.fft.rfft(out_grad, axis=-1)
    weight = (_interior(np.shape(re)[-1], n) / n).astype(np.asarray(re).dtype)
    grad_im = z.imag * weight
    grad_im[..., 0] = 0.0
    grad_im[..., -1] = 0.0
    return z.real * weight, grad_im


def _signal_sample(parts: bool):
    def sample():
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp

        @st.composite
        def draw(d):
            batch = d(st.integers(1, 3))
            n = d(st.sampled_from([2, 3, 8, 15, 64, 100, 255, 256, 1024, 4096]))
            values = st.floats(-100.0, 100.0, allow_subnormal=False)
            # one dominant component (a DC offset, a spike) beside small ones: the small
            # outputs carry the transform's rounding of the largest, far above their own
            dominant = d(st.floats(-1e4, 1e4, allow_subnormal=False))
            seed = d(st.integers(0, 2**16))

            def signal(shape):
                head = d(hnp.arrays(np.float64, (shape[0], min(shape[1], 8)), elements=values))
                rest = np.random.default_rng(seed).uniform(-1.0, 1.0, shape)
                rest[:, :head.shape[1]] = head
                rest[:, 0] += dominant
                return rest

            if not parts:
                return (signal((batch, n)),), {}
            m = max(n // 2 + 1, 2)
            return (signal((batch, m)), signal((batch, m))), {}

        return draw()

    return sample


# -- Kepler's equation E - e sin E = M, by Newton, near its stiff point ----------------


def kepler(mean_anomaly, e):
    """E with E - e sin E = M: Newton from E = M + e sin M (bisection-safe: Newton on
    this convex-concave equation, 60 steps, each step at most pi)."""
    m = np.asarray(mean_anomaly)
    e = np.asarray(e, dtype=m.dtype)
    big = m + e * np.sin(m)
    for _ in range(60):
        step = (big - e * np.sin(big) - m) / (1 - e * np.cos(big))
        big = big - np.clip(step, -np.pi, np.pi)
    return big


def kepler_local(mean_anomaly, e, out):
    """Implicit differentiation: dE/dM = 1 / (1 - e cos E), dE/de = sin E / (1 - e cos E)."""
    slope = 1 / (1 - e * np.cos(out))
    return slope, np.sin(out) * slope


def kepler_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def draw(d):
        shape = d(hnp.array_shapes(min_dims=0, max_dims=1, max_side=6))
        mean = d(hnp.arrays(np.float64, shape, elements=st.one_of(
            st.just(0.0), st.floats(-1e-4, 1e-4), st.floats(-3.0, 3.0))))
        e = d(hnp.arrays(np.float64, shape, elements=st.floats(0.9, 1 - 1 / 512)))
        return (mean, e), {}

    return draw()


# -- an ill-conditioned batched solve (condition number 3,000) -------------------------

CONDITION = 3000.0


def solve(a, b):
    return np.linalg.solve(a, b[..., np.newaxis])[..., 0]


def solve_vjp(out_grad, a, b, out):
    """grad_b = A^-T g; grad_A = -grad_b x^T (summed over batch dims that broadcast)."""
    grad_b = np.linalg.solve(np.swapaxes(a, -1, -2), out_grad[..., np.newaxis])[..., 0]
    grad_a = -grad_b[..., :, np.newaxis] * out[..., np.newaxis, :]
    return unbroadcast(grad_a, np.shape(a)), unbroadcast(grad_b, np.shape(b))


def solve_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    @st.composite
    def draw(d):
        batch, n = d(st.integers(1, 3)), d(st.integers(2, 6))
        unit = st.floats(-1.0, 1.0, allow_subnormal=False)
        left, right = (np.linalg.qr(d(hnp.arrays(np.float64, (batch, n, n), elements=unit))
                                    + 3 * np.eye(n))[0] for _ in range(2))
        signs = np.where(d(hnp.arrays(np.bool_, (batch, n))), 1.0, -1.0)
        singular = np.geomspace(1.0, 1 / CONDITION, n) * signs
        a = left @ (singular[..., :, np.newaxis] * right)
        b = d(hnp.arrays(np.float64, (batch, n), elements=unit))
        return (a, b), {}

    return draw()


# -- an oscillatory function: the phase up to 800 rad -----------------------------------

OMEGA = 800.0


def chirp(x):
    return np.sin(OMEGA * x)


# -- near overflow ----------------------------------------------------------------------

FAR = 709.7  # exp(709.78) overflows float64


def far_sample():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    shapes = hnp.array_shapes(min_dims=0, max_dims=2, max_side=4)
    return st.tuples(st.tuples(hnp.arrays(np.float64, shapes, elements=st.one_of(
        st.floats(700.0, FAR), st.floats(-FAR, -700.0), st.floats(-3.0, 3.0)))),
        st.just({}))


# -- two outputs, one nearly constant ---------------------------------------------------


def with_drift(x):
    """(x**3, 1 + 1e-12 cos x): the second moves by a 1e12th of the first's units."""
    return x * x * x, 1.0 + 1e-12 * np.cos(x)


def with_drift_vjp(cotangents, x, out):
    g_cube, g_drift = cotangents
    return (3 * x * x * g_cube - 1e-12 * np.sin(x) * g_drift,)


# -- a constant output whose rule books curvature of 1/var --------------------------------


def correlation(x):
    """np.corrcoef of one variable (its n observations): the constant 1."""
    from gradledger_builtin.numpy_stats import corrcoef

    return corrcoef(x)


def correlation_vjp(out_grad, x, out):
    """The built-in corrcoef's rule: terms of the size 1 / var that cancel (to 1e-15)."""
    from gradledger_builtin.numpy_stats import corrcoef_vjp

    return corrcoef_vjp(out_grad, x, out=out)


def small_spread_sample():
    from hypothesis import strategies as st

    @st.composite
    def draw(d):
        n = d(st.integers(3, 5))
        order = np.asarray(d(st.permutations(range(n))), dtype=np.float64)
        size = 10.0 ** d(st.integers(-3, 0))
        return ((order - n / 2 + d(st.integers(-5, 5))) * size,), {}

    return draw()


HARD_OPS = [
    Op("hard_rfft", rfft_parts, vjp=rfft_parts_vjp, signature="(n)->(m),(m)",
       out_shape=lambda s: (s[:-1] + (s[-1] // 2 + 1,),) * 2, order=1,
       sample=_signal_sample(False),
       doc="Re and Im of the real FFT along the last axis (float32 stays float32)"),
    Op("hard_irfft", irfft_parts, vjp=irfft_parts_vjp, signature="(m),(m)->(n)",
       out_shape=lambda s, t: s[:-1] + (2 * (s[-1] - 1),), order=1,
       sample=_signal_sample(True),
       doc="the inverse real FFT of re + i im, to the even length 2 (m - 1)"),
    Op("hard_kepler", kepler, local_grad=kepler_local, signature="(),()->()",
       domain=(None, (0.0, 1.0)), sample=kepler_sample,
       doc="E with E - e sin E = M (Newton), near e = 1 and M = 0"),
    Op("hard_solve", solve, vjp=solve_vjp, signature="(n,n),(n)->(n)", sample=solve_sample,
       doc="A^-1 b for A of condition number 3,000, batched"),
    Op("hard_chirp", chirp, local_grad=lambda x, out: (OMEGA * np.cos(OMEGA * x),),
       signature="()->()", domain=((-1.0, 1.0),), doc="sin(800 x)"),
    Op("hard_sinh", np.sinh, local_grad=lambda x, out: (np.cosh(x),), signature="()->()",
       sample=far_sample, doc="sinh, drawn near overflow"),
    Op("hard_exp", np.exp, local_grad=lambda x, out: (out,), signature="()->()",
       sample=far_sample, doc="exp, drawn near overflow"),
    Op("hard_drift", with_drift, vjp=with_drift_vjp, signature="()->(),()",
       doc="(x**3, 1 + 1e-12 cos x): one output nearly constant"),
    Op("hard_correlation", correlation, vjp=correlation_vjp, signature="(n)->()",
       sample=small_spread_sample,
       doc="the correlation of one variable with itself (the constant 1), inputs 1e-3 to 1"),
]


class _Plugin:
    @hookimpl
    def gradledger_register_ops(self, registry):
        for op in HARD_OPS:
            registry.register(op)


PLUGIN = _Plugin()
