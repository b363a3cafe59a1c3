"""numpy's other ufuncs (gradledger_builtin.ufuncs): values against numpy through numpy's
own names, grads against closed forms and central differences; `%` and a tensor exponent."""

import gradledger as gl
import numpy as np
import pytest
from opcheck import check_against_nudge

rng = np.random.default_rng(21)
X = rng.normal(size=(3, 4)) * 2
POS = rng.uniform(0.2, 3.0, size=(3, 4))
UNIT = rng.uniform(-0.9, 0.9, size=(3, 4))
ABOVE_ONE = rng.uniform(1.1, 4.0, size=(3, 4))
OFF_INTEGERS = rng.integers(-5, 5, size=(3, 4)) + rng.uniform(0.1, 0.4, size=(3, 4))
OFF_HALVES = rng.integers(-5, 5, size=(3, 4)) + rng.uniform(-0.4, 0.4, size=(3, 4))
AWAY = rng.uniform(0.3, 2.0, size=(3, 4)) * rng.choice([-1.0, 1.0], size=(3, 4))

# (numpy function, input, closed-form derivative)
UNARY = [
    (np.log2, POS, lambda x: 1 / (x * np.log(2))),
    (np.log10, POS, lambda x: 1 / (x * np.log(10))),
    (np.exp2, X, lambda x: 2 ** x * np.log(2)),
    (np.cbrt, AWAY, lambda x: np.abs(x) ** (-2 / 3) / 3),
    (np.reciprocal, AWAY, lambda x: -1 / x ** 2),
    (np.arcsin, UNIT, lambda x: 1 / np.sqrt(1 - x * x)),
    (np.arccos, UNIT, lambda x: -1 / np.sqrt(1 - x * x)),
    (np.arcsinh, X, lambda x: 1 / np.sqrt(1 + x * x)),
    (np.arccosh, ABOVE_ONE, lambda x: 1 / np.sqrt(x * x - 1)),
    (np.arctanh, UNIT, lambda x: 1 / (1 - x * x)),
    (np.sinc, X, lambda x: (np.cos(np.pi * x) * np.pi * x - np.sin(np.pi * x)) / (np.pi * x * x)),
    (np.deg2rad, X, lambda x: np.full_like(x, np.pi / 180)),
    (np.radians, X, lambda x: np.full_like(x, np.pi / 180)),
    (np.rad2deg, X, lambda x: np.full_like(x, 180 / np.pi)),
    (np.degrees, X, lambda x: np.full_like(x, 180 / np.pi)),
    (np.fabs, AWAY, np.sign),
    (np.floor, OFF_INTEGERS, np.zeros_like),
    (np.ceil, OFF_INTEGERS, np.zeros_like),
    (np.trunc, OFF_INTEGERS, np.zeros_like),
    (np.fix, OFF_INTEGERS, np.zeros_like),
    (np.rint, OFF_HALVES, np.zeros_like),
    (np.round, OFF_HALVES, np.zeros_like),
    (np.around, OFF_HALVES, np.zeros_like),
]


@pytest.mark.parametrize("function,x,derivative", UNARY, ids=[u[0].__name__ for u in UNARY])
def test_numpy_ufunc_on_a_tensor_gives_numpys_value_and_the_closed_form_grad(function, x,
                                                                            derivative):
    t = gl.tensor(x, requires_grad=True)
    out = function(t)
    assert isinstance(out, gl.Tensor)
    np.testing.assert_allclose(out.data, function(x), rtol=1e-13, atol=1e-15)
    gl.sum(out).backward()
    np.testing.assert_allclose(t.grad, derivative(x), rtol=1e-10, atol=1e-13)


B = rng.uniform(0.5, 1.5, size=(4,)) * rng.choice([-1.0, 1.0], size=(4,))
BINARY = [
    (np.arctan2, [X, AWAY[0]], lambda y, x: (x / (x * x + y * y), -y / (x * x + y * y))),
    (np.hypot, [X, AWAY[0]], lambda a, b: (a / np.hypot(a, b), b / np.hypot(a, b))),
    (np.logaddexp2, [X, X[0] + 0.3],
     lambda a, b: (1 / (1 + 2.0 ** (b - a)), 1 / (1 + 2.0 ** (a - b)))),
    (np.fmax, [X, X[1] + 0.05], lambda a, b: ((a > b) * 1.0, (a < b) * 1.0)),
    (np.fmin, [X, X[1] + 0.05], lambda a, b: ((a < b) * 1.0, (a > b) * 1.0)),
    (np.remainder, [X, B], lambda a, b: (np.ones_like(a), -np.floor(a / b))),
    (np.mod, [X, B], lambda a, b: (np.ones_like(a), -np.floor(a / b))),
    (np.fmod, [X, B], lambda a, b: (np.ones_like(a), -np.trunc(a / b))),
    (np.power, [POS, X], lambda x, p: (p * x ** (p - 1), x ** p * np.log(x))),
]


@pytest.mark.parametrize("function,arrays,derivatives", BINARY,
                         ids=[b[0].__name__ for b in BINARY])
def test_binary_numpy_ufunc_broadcasts_and_books_both_closed_form_grads(function, arrays,
                                                                        derivatives):
    a, b = (gl.tensor(v, requires_grad=True) for v in arrays)
    out = function(a, b)
    np.testing.assert_allclose(out.data, function(*arrays), rtol=1e-13, atol=1e-15)
    gl.sum(out).backward()
    da, db = (np.broadcast_to(d, out.shape) for d in derivatives(*arrays))
    np.testing.assert_allclose(a.grad, da, rtol=1e-10, atol=1e-13)
    if np.ndim(arrays[1]) < out.ndim:  # b was broadcast along the first axis
        db = np.sum(db, axis=0)
    np.testing.assert_allclose(b.grad, db, rtol=1e-10, atol=1e-13)


GRAD_CASES = [
    (f"{name} nudged", name, [x], {}, ())
    for name, x in [("log2", POS), ("log10", POS), ("exp2", X), ("cbrt", AWAY),
                    ("reciprocal", AWAY), ("arcsin", UNIT), ("arccos", UNIT), ("arcsinh", X),
                    ("arccosh", ABOVE_ONE), ("arctanh", UNIT), ("sinc", X), ("deg2rad", X),
                    ("rad2deg", X), ("fabs", AWAY), ("floor", OFF_INTEGERS),
                    ("ceil", OFF_INTEGERS), ("trunc", OFF_INTEGERS), ("rint", OFF_HALVES),
                    ("round", OFF_HALVES)]
] + [
    (f"{name} nudged", name, arrays, {}, ())
    for name, arrays in [("arctan2", [X, AWAY[0]]), ("hypot", [X, AWAY[0]]),
                         ("logaddexp2", [X, X[0] + 0.3]), ("fmax", [X, X[1] + 0.05]),
                         ("fmin", [X, X[1] + 0.05]), ("remainder", [X, B]), ("fmod", [X, B]),
                         ("pow", [POS, X])]
] + [("round 1 decimal", "round", [np.round(X, 1) + 0.02], {"decimals": 1}, ())]


@pytest.mark.parametrize("name,arrays,params,constants", [c[1:] for c in GRAD_CASES],
                         ids=[c[0] for c in GRAD_CASES])
def test_ufunc_grad_matches_central_differences(name, arrays, params, constants):
    check_against_nudge(name, arrays, params, constants)


def test_sinc_grad_near_zero_matches_the_series_and_is_zero_at_zero():
    x = np.array([0.0, 1e-8, -1e-3, 0.05, 0.0999, 0.1001, 0.3])
    t = gl.tensor(x, requires_grad=True)
    gl.sum(gl.sinc(t)).backward()
    px = np.pi * x
    with np.errstate(invalid="ignore", divide="ignore"):
        exact = np.where(x == 0, 0.0, (np.cos(px) * px - np.sin(px)) / (np.pi * x * x))
    # the closed form cancels near 0; there the leading terms of the series say it
    near = -np.pi ** 2 * x / 3 + np.pi ** 4 * x ** 3 / 30
    want = np.where(np.abs(x) < 1e-2, near, exact)
    np.testing.assert_allclose(t.grad, want, rtol=1e-7, atol=1e-15)
    assert t.grad[0] == 0.0


def test_percent_operator_is_remainder_both_ways():
    a = gl.tensor([5.5, -3.2, 7.1], requires_grad=True)
    out = a % 2.0 + 7.0 % a
    np.testing.assert_allclose(out.data, np.array([5.5, -3.2, 7.1]) % 2.0
                               + 7.0 % np.array([5.5, -3.2, 7.1]))
    gl.sum(out).backward()
    # d(a % 2)/da = 1; d(7 % a)/da = -floor(7 / a)
    np.testing.assert_allclose(a.grad, 1.0 - np.floor(7.0 / np.array([5.5, -3.2, 7.1])))
    assert out.op == "add" and (a % 2.0).op == "remainder"


def test_tensor_exponent_gets_x_to_the_p_log_x_and_zero_base_books_zero():
    x = gl.tensor([0.0, 2.0, 3.0], requires_grad=True)
    p = gl.tensor([2.0, 1.5, -1.0], requires_grad=True)
    gl.sum(x ** p).backward()
    np.testing.assert_allclose(p.grad, [0.0, 2.0 ** 1.5 * np.log(2.0), np.log(3.0) / 3.0])
    np.testing.assert_allclose(x.grad, [0.0, 1.5 * 2.0 ** 0.5, -1.0 / 9.0])


def test_python_number_base_with_tensor_exponent():
    p = gl.tensor(3.0, requires_grad=True)
    (2.0 ** p).backward()
    assert np.isclose(p.grad, 8.0 * np.log(2.0))


def test_second_derivative_of_tensor_exponent_and_arcsinh():
    p = gl.tensor(1.5, requires_grad=True)
    (slope,) = gl.grad(2.0 ** p, p, create_graph=True)
    (curvature,) = gl.grad(slope, p)
    assert np.isclose(curvature.item(), 2.0 ** 1.5 * np.log(2.0) ** 2)
    x = gl.tensor(0.7, requires_grad=True)
    (slope,) = gl.grad(np.arcsinh(x), x, create_graph=True)
    (curvature,) = gl.grad(slope, x)
    assert np.isclose(curvature.item(), -0.7 / (1 + 0.49) ** 1.5)


def test_rounding_ops_carry_a_zero_grad_not_a_detach():
    x = gl.tensor([0.3, 1.7], requires_grad=True)
    out = np.floor(x) + np.ceil(x) + np.round(x) + x
    assert out.requires_grad
    gl.sum(out).backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])
