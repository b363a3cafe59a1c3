"""scipy.special's functions on Tensors (gradledger_builtin.special): registered when scipy
is installed, reached through scipy's own ufuncs; values equal scipy's, grads equal closed
forms and central differences. Skipped (each test, visibly) where scipy is absent."""

import importlib.util

import gradledger as gl
import numpy as np
import pytest
from opcheck import check_against_nudge

SCIPY = importlib.util.find_spec("scipy") is not None
needs_scipy = pytest.mark.skipif(not SCIPY,
                                 reason="scipy is not installed (pip install gradledger[special])")
rng = np.random.default_rng(31)
X = rng.normal(size=(3, 4)) * 1.5
POS = rng.uniform(0.3, 6.0, size=(3, 4))
UNIT = rng.uniform(-0.95, 0.95, size=(3, 4))
PROB = rng.uniform(0.02, 0.98, size=(3, 4))
AWAY = rng.uniform(0.2, 8.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))
SQRT_PI = np.sqrt(np.pi)
PDF = lambda x: np.exp(-x * x / 2) / np.sqrt(2 * np.pi)  # noqa: E731

# (scipy name, input, closed-form derivative given scipy.special as s)
UNARY = [
    ("erf", X, lambda s, x: 2 / SQRT_PI * np.exp(-x * x)),
    ("erfc", X, lambda s, x: -2 / SQRT_PI * np.exp(-x * x)),
    ("erfinv", UNIT, lambda s, x: SQRT_PI / 2 * np.exp(s.erfinv(x) ** 2)),
    ("erfcinv", UNIT + 1.0, lambda s, x: -SQRT_PI / 2 * np.exp(s.erfcinv(x) ** 2)),
    ("gammaln", POS, lambda s, x: s.digamma(x)),
    ("gamma", POS, lambda s, x: s.gamma(x) * s.digamma(x)),
    ("digamma", POS, lambda s, x: s.polygamma(1, x)),
    ("psi", POS, lambda s, x: s.polygamma(1, x)),
    ("expit", X, lambda s, x: s.expit(x) * s.expit(-x)),
    ("logit", PROB, lambda s, x: 1 / (x * (1 - x))),
    ("log_expit", X, lambda s, x: s.expit(-x)),
    ("ndtr", X, lambda s, x: PDF(x)),
    ("log_ndtr", X * 3, lambda s, x: PDF(x) / s.ndtr(x)),
    ("ndtri", PROB, lambda s, x: 1 / PDF(s.ndtri(x))),
    ("i0e", AWAY, lambda s, x: s.i1e(x) - np.sign(x) * s.i0e(x)),
    ("i1e", AWAY, lambda s, x: s.i0e(x) - s.i1e(x) * (np.sign(x) + 1 / x)),
]


@needs_scipy
@pytest.mark.parametrize("name,x,derivative", UNARY, ids=[u[0] for u in UNARY])
def test_scipy_special_ufunc_on_a_tensor_reaches_the_op_with_its_value_and_grad(name, x,
                                                                              derivative):
    import scipy.special as s

    t = gl.tensor(x, requires_grad=True)
    out = getattr(s, name)(t)
    assert isinstance(out, gl.Tensor) and out.requires_grad
    np.testing.assert_allclose(out.data, getattr(s, name)(x), rtol=1e-14)
    gl.sum(out).backward()
    np.testing.assert_allclose(t.grad, derivative(s, x), rtol=1e-9)


@needs_scipy
def test_xlogy_and_xlog1py_book_both_grads_and_zero_x_gives_zero():
    import scipy.special as s

    x = gl.tensor([0.0, 2.0, -1.5], requires_grad=True)
    y = gl.tensor([0.5, 3.0, 0.25], requires_grad=True)
    out = s.xlogy(x, y) + s.xlog1py(x, y)
    np.testing.assert_allclose(out.data, s.xlogy(x.data, y.data) + s.xlog1py(x.data, y.data))
    gl.sum(out).backward()
    np.testing.assert_allclose(x.grad, np.log(y.data) + np.log1p(y.data))
    np.testing.assert_allclose(y.grad, x.data / y.data + x.data / (1 + y.data))
    assert y.grad[0] == 0.0


@needs_scipy
def test_polygamma_and_second_derivatives_of_gammaln():
    import scipy.special as s

    x = gl.tensor([0.5, 2.0, 7.5], requires_grad=True)
    out = gl.polygamma(2, x)
    np.testing.assert_allclose(out.data, s.polygamma(2, x.data))
    gl.sum(out).backward()
    np.testing.assert_allclose(x.grad, s.polygamma(3, x.data))
    x.grad = None
    (g,) = gl.grad(gl.sum(s.gammaln(x)), x, create_graph=True)
    (h,) = gl.grad(gl.sum(g), x)
    np.testing.assert_allclose(h, s.polygamma(1, x.data))


@needs_scipy
def test_exact_gelu_from_erf_matches_its_closed_form_grad():
    import scipy.special as s

    x = gl.tensor(X, requires_grad=True)
    gelu = x * 0.5 * (1.0 + s.erf(x / np.sqrt(2.0)))
    gl.sum(gelu).backward()
    np.testing.assert_allclose(x.grad, s.ndtr(X) + X * PDF(X), rtol=1e-12)


def test_without_scipy_the_special_ops_are_not_registered_and_the_rest_is(monkeypatch,
                                                                         fresh_host):
    from gradledger_builtin import special

    monkeypatch.setattr(special, "available", lambda: False)
    from gradledger.loader import host

    host.ensure_loaded()
    assert "erf" not in host.registry.ops and "sin" in host.registry.ops


GRAD_CASES = [(f"{name} nudged", name, [x], {}, ()) for name, x in [
    ("erf", X), ("erfc", X), ("erfinv", UNIT), ("erfcinv", UNIT + 1.0), ("gammaln", POS),
    ("gamma", POS), ("digamma", POS), ("log_odds", PROB), ("log_expit", X), ("ndtr", X),
    ("log_ndtr", X), ("ndtri", PROB), ("i0e", AWAY), ("i1e", AWAY)]] + [
    ("xlogy nudged", "xlogy", [X, POS], {}, ()),
    ("xlog1py nudged", "xlog1py", [X, POS], {}, ()),
    ("polygamma nudged", "polygamma", [np.array([0, 1, 2, 3]), POS], {}, (0,)),
] if SCIPY else []  # other suites (second order) run these cases too: only where scipy is


@needs_scipy
@pytest.mark.parametrize("name,arrays,params,constants", [c[1:] for c in GRAD_CASES],
                         ids=[c[0] for c in GRAD_CASES])
def test_special_op_grad_matches_central_differences(name, arrays, params, constants):
    check_against_nudge(name, arrays, params, constants, rtol=1e-6)
