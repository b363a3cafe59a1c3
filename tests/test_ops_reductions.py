"""The reductions against numpy's values and central differences (or closed forms), over
negative and tuple axes, with keepdims, ties (max, min) and zeros (prod)."""

import gradledger as gl
import numpy as np
import pytest
from gradledger.errors import OpCallError
from opcheck import check_against_nudge

rng = np.random.default_rng(11)


def distinct(*shape):
    return rng.permutation(np.prod(shape, dtype=int)).reshape(shape) * 0.1 - 0.7


AXES = [{}, {"axis": 0}, {"axis": -1}, {"axis": (0, 2)}, {"axis": (-1, 0)},
        {"axis": 1, "keepdims": True}, {"axis": (-2, -3), "keepdims": True}]

NO_GRAD_OPS = ["argmax", "argmin"]  # values tested below; there is no grad to check

GRAD_CASES = [
    *[(f"max {p}", "max", [distinct(2, 3, 4)], p, ()) for p in AXES],
    *[(f"min {p}", "min", [distinct(2, 3, 4)], p, ()) for p in AXES],
    *[(f"logsumexp {p}", "logsumexp", [rng.normal(size=(2, 3, 4))], p, ()) for p in AXES],
    *[(f"prod {p}", "prod", [rng.uniform(0.5, 1.5, size=(2, 3, 4))], p, ()) for p in AXES],
    ("prod one zero", "prod", [np.array([[0.5, 0.0, 2.0], [1.5, -1.0, 0.7]])], {"axis": 1}, ()),
    ("prod two zeros", "prod", [np.array([0.0, 3.0, 0.0, 2.0])], {}, ()),
    *[(f"var {p}", "var", [rng.normal(size=(2, 3, 4))], p, ()) for p in AXES],
    ("var ddof 1 axis -1", "var", [rng.normal(size=(3, 4))], {"axis": -1, "ddof": 1}, ()),
    *[(f"std {p}", "std", [rng.normal(size=(2, 3, 4))], p, ()) for p in AXES],
    ("std ddof 1 axes (0, 1)", "std", [rng.normal(size=(3, 4))], {"axis": (0, 1), "ddof": 1}, ()),
    ("cumsum flat", "cumsum", [rng.normal(size=(2, 3))], {}, ()),
    ("cumsum axis -1", "cumsum", [rng.normal(size=(2, 3))], {"axis": -1}, ()),
    ("cumsum axis 0", "cumsum", [rng.normal(size=(3, 2, 2))], {"axis": 0}, ()),
    ("norm all", "norm", [rng.normal(size=(2, 3))], {}, ()),
    ("norm 2 axis -1", "norm", [rng.normal(size=(2, 3))], {"ord": 2, "axis": -1}, ()),
    ("norm 1 axis 0 keepdims", "norm", [rng.normal(size=(2, 3))],
     {"ord": 1, "axis": 0, "keepdims": True}, ()),
    ("norm axes (0, 2)", "norm", [rng.normal(size=(2, 3, 2))], {"axis": (0, 2)}, ()),
    ("sum axes (-1, 0)", "sum", [rng.normal(size=(2, 3, 2))], {"axis": (-1, 0)}, ()),
    ("mean axis -2 keepdims", "mean", [rng.normal(size=(2, 3, 2))],
     {"axis": -2, "keepdims": True}, ()),
]


@pytest.mark.parametrize("name,arrays,params,constants", [c[1:] for c in GRAD_CASES],
                         ids=[c[0] for c in GRAD_CASES])
def test_reduction_grad_matches_central_differences(name, arrays, params, constants):
    check_against_nudge(name, arrays, params, constants)


NUMPY = {"max": np.max, "min": np.min, "prod": np.prod, "var": np.var, "std": np.std,
         "sum": np.sum, "mean": np.mean}


@pytest.mark.parametrize("params", AXES, ids=str)
@pytest.mark.parametrize("name", sorted(NUMPY))
def test_reduction_values_match_numpy(name, params):
    x = rng.normal(size=(2, 3, 4))
    np.testing.assert_allclose(getattr(gl, name)(gl.tensor(x), **params).data,
                               NUMPY[name](x, **params), rtol=1e-12)


@pytest.mark.parametrize("params", AXES, ids=str)
def test_logsumexp_and_norm_values_match_their_definitions(params):
    x = rng.normal(size=(2, 3, 4))
    np.testing.assert_allclose(gl.logsumexp(gl.tensor(x), **params).data,
                               np.log(np.sum(np.exp(x), **params)), rtol=1e-12)
    np.testing.assert_allclose(gl.norm(gl.tensor(x), **params).data,
                               np.sqrt(np.sum(x * x, **params)), rtol=1e-12)
    if len(np.atleast_1d(params.get("axis", (0, 1, 2)))) != 2:  # not a numpy matrix norm
        np.testing.assert_allclose(gl.norm(gl.tensor(x), ord=1, **params).data,
                                   np.sum(np.abs(x), **params), rtol=1e-12)


def test_logsumexp_does_not_overflow():
    x = np.array([[1000.0, 1000.0], [-1.0, 2.0]])
    np.testing.assert_allclose(gl.logsumexp(gl.tensor(x), axis=1).data,
                               [1000.0 + np.log(2.0), np.log(np.exp(-1.0) + np.exp(2.0))])


@pytest.mark.parametrize("name", ["max", "min"])
def test_max_and_min_split_ties_evenly(name):
    x = gl.tensor(np.array([[3.0, 1.0, 3.0, 3.0],
                            [0.0, 2.0, 2.0, -1.0]]) * (1 if name == "max" else -1),
                  requires_grad=True)
    gl.sum(getattr(gl, name)(x, axis=1) * np.array([6.0, 10.0])).backward()
    np.testing.assert_array_equal(x.grad, [[2.0, 0.0, 2.0, 2.0], [0.0, 5.0, 5.0, 0.0]])


def test_max_over_all_elements_splits_a_tie_and_keepdims_keeps_the_shape():
    x = gl.tensor([[1.0, 4.0], [4.0, 0.0]], requires_grad=True)
    out = gl.max(x, keepdims=True)
    assert out.shape == (1, 1)
    gl.sum(out).backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5], [0.5, 0.0]])


@pytest.mark.parametrize("dtype", [np.float32, np.complex64])
def test_prod_grad_in_float32_is_finite_where_a_running_product_is_not(dtype):
    # the product of the others of x1 is 1e-15 * 1e20 * 1e20 = 1e25, inside float32's range,
    # but the running product from the right passes 1e40 on the way (thorough run: complex64
    # prod of 1,100 numbers booked nan grads where complex128's were finite)
    x = gl.tensor(np.array([1e-15, 1e-15, 1e20, 1e20], dtype=dtype), requires_grad=True)
    gl.ops.prod(x).backward(np.ones((), dtype=dtype))
    assert x.grad.dtype == dtype
    np.testing.assert_allclose(x.grad, [1e25, 1e25, 1e-10, 1e-10], rtol=1e-6)


def test_prod_grad_with_zeros_is_the_product_of_the_others():
    x = gl.tensor(np.array([[2.0, 0.0, 3.0],     # one zero: only it gets a grad, 2 * 3
                            [0.0, 5.0, 0.0],     # two zeros: every grad is 0
                            [1.0, 2.0, 4.0]]),   # no zero: prod / x
                  requires_grad=True)
    out = gl.prod(x, axis=-1)
    np.testing.assert_array_equal(out.data, [0.0, 0.0, 8.0])
    gl.sum(out).backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 6.0, 0.0], [0.0, 0.0, 0.0], [8.0, 4.0, 2.0]])


@pytest.mark.parametrize("ddof", [0, 1, 2])
def test_var_and_std_grads_match_the_closed_form_with_ddof(ddof):
    x = rng.normal(size=5)
    n, centred = 5, x - x.mean()
    t = gl.tensor(x, requires_grad=True)
    gl.var(t, ddof=ddof).backward()
    np.testing.assert_allclose(t.grad, 2 * centred / (n - ddof), rtol=1e-12)
    u = gl.tensor(x, requires_grad=True)
    gl.std(u, ddof=ddof).backward()
    std = np.sqrt(np.sum(centred ** 2) / (n - ddof))
    np.testing.assert_allclose(u.grad, centred / ((n - ddof) * std), rtol=1e-12)


def test_cumsum_values_and_grad_match_the_running_sums():
    x = rng.normal(size=(2, 3))
    np.testing.assert_allclose(gl.cumsum(gl.tensor(x), axis=1).data, np.cumsum(x, axis=1))
    np.testing.assert_allclose(gl.cumsum(gl.tensor(x)).data, np.cumsum(x))
    t = gl.tensor(x, requires_grad=True)
    gl.sum(gl.cumsum(t, axis=-1)).backward()
    np.testing.assert_array_equal(t.grad, [[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])


def test_norm_refuses_ords_numpy_refuses_naming_the_op():
    with pytest.raises(OpCallError, match="norm.*matrix norm takes ord"):
        gl.norm(gl.tensor(np.ones((2, 2))), ord=3)
    with pytest.raises(OpCallError, match="norm.*'nuc' is a matrix norm"):
        gl.norm(gl.tensor(np.ones(3)), ord="nuc")


def test_argmax_and_argmin_give_integer_indices_without_grad():
    x = gl.tensor([[1.0, 5.0, 5.0], [7.0, 0.0, 7.0]], requires_grad=True)
    for name, axis, expected in [("argmax", 1, [1, 0]), ("argmin", -1, [0, 1]),
                                 ("argmax", None, 3)]:
        out = getattr(gl, name)(x, axis=axis)
        np.testing.assert_array_equal(out.data, expected)
        assert out.data.dtype.kind == "i" and not out.requires_grad


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name,share", [("sum", lambda n: 1.0), ("mean", lambda n: 1.0 / n)])
def test_full_reduction_rule_repeats_the_grad_read_only_in_the_input_dtype(name, share, dtype):
    from gradledger.loader import host

    x = rng.normal(size=(3, 4)).astype(dtype)
    out = getattr(np, name)(x)
    for g in (dtype(2.0), np.array(2.0, dtype=dtype)):  # a numpy scalar, a 0-d array
        (grad,) = host.lookup(name).vjp(g, x, out=out)
        assert grad.shape == x.shape and grad.dtype == dtype
        assert not grad.flags.writeable  # a view repeating one number, as broadcast_to's
        np.testing.assert_allclose(grad, np.full(x.shape, 2.0 * share(x.size)), rtol=1e-6)


@pytest.mark.parametrize("name", ["sum", "mean"])
def test_full_reduction_books_a_writable_grad_of_its_own_into_the_leaf(name):
    t = gl.tensor(rng.normal(size=(2, 3)), requires_grad=True)
    getattr(gl, name)(t).backward()
    np.testing.assert_array_equal(t.grad, np.full((2, 3), 1.0 if name == "sum" else 1 / 6))
    assert t.grad.flags.writeable and t.grad.base is None
    t.grad[0, 0] = 5.0  # its own array: the other elements keep their value
    assert t.grad[1, 2] == (1.0 if name == "sum" else 1 / 6)


@pytest.mark.parametrize("params", [{}, {"axis": 0}, {"axis": (0, -1), "keepdims": True},
                                    {"keepdims": True}], ids=str)
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
@pytest.mark.parametrize("name", ["sum", "mean"])
def test_sum_and_mean_equal_numpys_exactly_in_its_dtype(name, dtype, params):
    x = rng.normal(size=(5, 7, 3)).astype(dtype)
    got = getattr(gl, name)(gl.tensor(x), **params).data
    want = getattr(np, name)(x, **params)
    assert type(got) is type(want) and got.dtype == want.dtype
    np.testing.assert_array_equal(got, want)
