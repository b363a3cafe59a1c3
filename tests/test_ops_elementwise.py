"""The elementwise ops against closed forms and central differences, with broadcasting,
ties (maximum, minimum) and their numpy names."""

import gradledger as gl
import numpy as np
import pytest
from gradledger.errors import OpCallError
from opcheck import check_against_nudge

rng = np.random.default_rng(10)


def away_from_zero(*shape):
    return rng.uniform(0.3, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


# (name, x, closed-form derivative of each element)
DERIVATIVES = [
    ("abs", away_from_zero(3, 4), np.sign),
    ("sign", away_from_zero(3, 4), np.zeros_like),
    ("sqrt", rng.uniform(0.1, 4.0, size=(3, 4)), lambda x: 0.5 / np.sqrt(x)),
    ("square", rng.normal(size=(3, 4)), lambda x: 2 * x),
    ("log1p", rng.uniform(-0.9, 3.0, size=(3, 4)), lambda x: 1 / (1 + x)),
    ("expm1", rng.normal(size=(3, 4)), np.exp),
    ("sin", rng.normal(size=(3, 4)) * 3, np.cos),
    ("cos", rng.normal(size=(3, 4)) * 3, lambda x: -np.sin(x)),
    ("tan", rng.uniform(-1.4, 1.4, size=(3, 4)), lambda x: 1 / np.cos(x) ** 2),
    ("arctan", rng.normal(size=(3, 4)) * 3, lambda x: 1 / (1 + x * x)),
    ("sinh", rng.normal(size=(3, 4)) * 3, np.cosh),
    ("cosh", rng.normal(size=(3, 4)) * 3, np.sinh),
    ("sigmoid", rng.normal(size=(3, 4)) * 3,
     lambda x: np.exp(-x) / (1 + np.exp(-x)) ** 2),
    ("softplus", rng.normal(size=(3, 4)) * 3, lambda x: 1 / (1 + np.exp(-x))),
]
VALUES = {
    "abs": np.abs, "sign": np.sign, "sqrt": np.sqrt, "square": lambda x: x * x,
    "log1p": lambda x: np.log(1 + x), "expm1": lambda x: np.exp(x) - 1, "sin": np.sin,
    "cos": np.cos, "tan": np.tan, "arctan": np.arctan, "sinh": np.sinh, "cosh": np.cosh,
    "sigmoid": lambda x: 1 / (1 + np.exp(-x)), "softplus": lambda x: np.log(1 + np.exp(x)),
}

GRAD_CASES = [(f"{name} nudged", name, [x], {}, ()) for name, x, _ in DERIVATIVES] + [
    ("maximum broadcast (3,1),(4,)", "maximum",
     [rng.integers(-3, 3, size=(3, 1)) + 0.1, rng.integers(-3, 3, size=(4,)) + 0.6], {}, ()),
    ("minimum broadcast (2,3),()", "minimum", [rng.normal(size=(2, 3)), np.float64(0.05)], {}, ()),
    ("clip [-0.5, 0.5]", "clip", [np.array([-2.0, -0.7, -0.3, 0.2, 0.6, 3.0])],
     {"a_min": -0.5, "a_max": 0.5}, ()),
    ("clip lo only", "clip", [np.array([-2.0, 0.2, 3.0])], {"a_min": 0.0}, ()),
    ("where broadcast", "where",
     [np.array([[True], [False]]), rng.normal(size=(2, 3)), rng.normal(size=(3,))], {}, (0,)),
]


@pytest.mark.parametrize("name,arrays,params,constants", [c[1:] for c in GRAD_CASES],
                         ids=[c[0] for c in GRAD_CASES])
def test_elementwise_op_grad_matches_central_differences(name, arrays, params, constants):
    check_against_nudge(name, arrays, params, constants)


@pytest.mark.parametrize("name,x,derivative", DERIVATIVES, ids=[d[0] for d in DERIVATIVES])
def test_unary_op_value_and_grad_match_closed_forms(name, x, derivative):
    t = gl.tensor(x, requires_grad=True)
    out = getattr(gl, name)(t)
    np.testing.assert_allclose(out.data, VALUES[name](x), rtol=1e-12, atol=1e-15)
    gl.sum(out).backward()
    np.testing.assert_allclose(t.grad, derivative(x), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("name", ["sigmoid", "softplus"])
def test_sigmoid_and_softplus_stay_finite_far_out(name):
    x = gl.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], requires_grad=True)
    out = getattr(gl, name)(x)
    gl.sum(out).backward()
    assert np.all(np.isfinite(out.data)) and np.all(np.isfinite(x.grad))


def test_abs_and_sign_book_zero_at_zero_as_pytorch():
    x = gl.tensor([0.0, 0.0], requires_grad=True)
    gl.sum(gl.abs(x) + gl.sign(x)).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])


@pytest.mark.parametrize("name,bigger_gets", [("maximum", 1.0), ("minimum", 0.0)])
def test_maximum_and_minimum_split_a_tie_evenly(name, bigger_gets):
    a = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = gl.tensor([1.0, 5.0, 0.0], requires_grad=True)
    gl.sum(getattr(gl, name)(a, b)).backward()
    np.testing.assert_array_equal(a.grad, [0.5, 1.0 - bigger_gets, bigger_gets])
    np.testing.assert_array_equal(b.grad, [0.5, bigger_gets, 1.0 - bigger_gets])


def test_maximum_tie_split_sums_over_broadcast_axes():
    a = gl.tensor([[1.0], [2.0]], requires_grad=True)       # (2, 1)
    b = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)      # (3,)
    gl.sum(gl.maximum(a, b)).backward()
    # row 0: 1 vs [1,2,3] -> tie, lose, lose; row 1: 2 vs [1,2,3] -> win, tie, lose
    np.testing.assert_array_equal(a.grad, [[0.5], [1.5]])
    np.testing.assert_array_equal(b.grad, [0.5, 1.5, 2.0])


def test_clip_values_and_grad_inside_outside_and_on_a_bound():
    x = gl.tensor([-2.0, -1.0, 0.5, 1.0, 3.0], requires_grad=True)
    out = gl.clip(x, -1.0, 1.0)
    np.testing.assert_array_equal(out.data, [-1.0, -1.0, 0.5, 1.0, 1.0])
    gl.sum(out).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0, 1.0, 0.0])
    np.testing.assert_array_equal(gl.clip(x, a_max=0.0).data, [-2.0, -1.0, 0.0, 0.0, 0.0])


def test_where_routes_the_grad_by_the_condition_and_refuses_a_differentiable_condition():
    a = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = gl.tensor(10.0, requires_grad=True)
    out = gl.where(np.array([True, False, True]), a, b)
    np.testing.assert_array_equal(out.data, [1.0, 10.0, 3.0])
    gl.sum(out).backward()
    np.testing.assert_array_equal(a.grad, [1.0, 0.0, 1.0])
    assert b.grad == 1.0
    with pytest.raises(OpCallError, match="where.*input 1 is a constant"):
        gl.where(gl.tensor([1.0, 0.0, 1.0], requires_grad=True), a, b)


def test_float32_inputs_give_float32_values_and_grads():
    for name, x, _ in DERIVATIVES:
        t = gl.tensor(x.astype(np.float32), requires_grad=True)
        out = getattr(gl, name)(t)
        gl.sum(out).backward()
        assert out.dtype == np.float32 and t.grad.dtype == np.float32, name


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("p", [2, 2.0, 3, 1, 0.5, -1, 0, 0.0])
def test_pow_by_a_python_number_has_the_closed_form_grad_in_the_input_dtype(p, dtype):
    x = np.array([0.5, 1.5, 2.0, 3.0], dtype=dtype)
    t = gl.tensor(x, requires_grad=True)
    out = t ** p
    gl.sum(out).backward()
    want = p * x.astype(np.float64) ** (p - 1) if p != 0 else np.zeros(4)
    assert out.dtype == dtype and t.grad.dtype == dtype
    np.testing.assert_allclose(t.grad, want, rtol=1e-6 if dtype == np.float32 else 1e-12)
    local, none = gl.loader.host.lookup("pow").local_grad(x, p, out=out.data)
    assert none is None and (np.ndim(local) == 0 or local.dtype == dtype)  # no promotion


def test_pow_by_zero_has_grad_zero_even_at_zero():
    t = gl.tensor([0.0, 2.0], requires_grad=True)
    gl.sum(t ** 0).backward()
    np.testing.assert_array_equal(t.grad, [0.0, 0.0])
