"""The linear-algebra ops against numpy's values, closed-form grads and central differences,
over np.dot's cases and batches."""

import gradledger as gl
import numpy as np
import pytest
from opcheck import check_against_nudge

rng = np.random.default_rng(13)


def invertible(*shape):
    n = shape[-1]
    return rng.uniform(-1, 1, size=shape) + (n + 1) * np.eye(n)


DOT_SHAPES = [((), (2, 3)), ((2, 3), ()), ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)),
              ((2, 3), (3, 4)), ((2, 2, 3), (3,)), ((2, 3), (4, 3, 2)), ((2, 2, 3), (4, 3, 2))]

GRAD_CASES = [
    *[(f"dot {sa} {sb}", "dot", [rng.normal(size=sa), rng.normal(size=sb)], {}, ())
      for sa, sb in DOT_SHAPES],
    ("outer vectors", "outer", [rng.normal(size=3), rng.normal(size=4)], {}, ()),
    ("outer flattens", "outer", [rng.normal(size=(2, 2)), rng.normal(size=(3,))], {}, ()),
    ("solve matrix", "solve", [invertible(3, 3), rng.normal(size=(3, 2))], {}, ()),
    ("solve vector", "solve", [invertible(3, 3), rng.normal(size=3)], {}, ()),
    ("solve batched a, shared b", "solve", [invertible(2, 3, 3), rng.normal(size=(3, 2))], {}, ()),
    ("solve shared a, batched b", "solve", [invertible(3, 3), rng.normal(size=(2, 3, 1))], {}, ()),
    ("inv", "inv", [invertible(3, 3)], {}, ()),
    ("inv batched", "inv", [invertible(2, 2, 2)], {}, ()),
    ("det", "det", [invertible(3, 3)], {}, ()),
    ("det batched", "det", [invertible(2, 3, 3)], {}, ()),
]


@pytest.mark.parametrize("name,arrays,params,constants", [c[1:] for c in GRAD_CASES],
                         ids=[c[0] for c in GRAD_CASES])
def test_linalg_op_grad_matches_central_differences(name, arrays, params, constants):
    check_against_nudge(name, arrays, params, constants, rtol=1e-5)


@pytest.mark.parametrize("shapes", DOT_SHAPES, ids=str)
def test_dot_values_match_numpy(shapes):
    a, b = rng.normal(size=shapes[0]), rng.normal(size=shapes[1])
    np.testing.assert_allclose(gl.dot(gl.tensor(a), gl.tensor(b)).data, np.dot(a, b),
                               rtol=1e-12)


def test_outer_solve_inv_det_values_match_numpy():
    a, b = invertible(2, 3, 3), rng.normal(size=(2, 3, 2))
    np.testing.assert_allclose(gl.outer(gl.tensor(a[0, 0]), gl.tensor(b[0, 0])).data,
                               np.outer(a[0, 0], b[0, 0]))
    x = gl.solve(gl.tensor(a), gl.tensor(b)).data
    np.testing.assert_allclose(a @ x, b, atol=1e-12)
    np.testing.assert_allclose(gl.inv(gl.tensor(a)).data @ a, np.broadcast_to(np.eye(3), a.shape),
                               atol=1e-12)
    np.testing.assert_allclose(gl.det(gl.tensor(a)).data, np.linalg.det(a), rtol=1e-12)


def test_det_grad_is_det_times_the_inverse_transpose():
    a = invertible(3, 3)
    t = gl.tensor(a, requires_grad=True)
    gl.det(t).backward()
    np.testing.assert_allclose(t.grad, np.linalg.det(a) * np.linalg.inv(a).T, rtol=1e-12)


def test_solve_grads_match_the_closed_form():
    a, b = invertible(3, 3), rng.normal(size=(3, 2))
    g = rng.normal(size=(3, 2))
    ta, tb = gl.tensor(a, requires_grad=True), gl.tensor(b, requires_grad=True)
    gl.solve(ta, tb).backward(g)
    grad_b = np.linalg.inv(a).T @ g
    np.testing.assert_allclose(tb.grad, grad_b, rtol=1e-12)
    np.testing.assert_allclose(ta.grad, -grad_b @ np.linalg.solve(a, b).T, rtol=1e-12)


def _rule(name):
    from gradledger.loader import host

    return host.lookup(name)


# matmul with a vector operand: its own fast path (a broadcasting multiply for the outer
# product), checked against closed forms written with np.outer, in either dtype.
VECTOR_MATMULS = [((4, 3), (3,)), ((3,), (3, 4)), ((3,), (3,))]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("shapes", VECTOR_MATMULS, ids=str)
def test_matmul_with_a_vector_gives_the_closed_form_grads_in_the_input_dtype(shapes, dtype):
    a = rng.normal(size=shapes[0]).astype(dtype)
    b = rng.normal(size=shapes[1]).astype(dtype)
    out = a @ b
    g = rng.normal(size=np.shape(out)).astype(dtype)
    if a.ndim == 2:
        want = (np.outer(g, b), g @ a)
    elif b.ndim == 2:
        want = (b @ g, np.outer(a, g))
    else:
        want = (g * b, g * a)
    got = _rule("matmul").vjp(g, a, b, out=out, needs_grad=(True, True))
    tolerance = {"rtol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12}
    for grad, expected, x in zip(got, want, (a, b), strict=True):
        assert grad.dtype == dtype and grad.shape == x.shape
        np.testing.assert_allclose(grad, expected, **tolerance)
    only_a = _rule("matmul").vjp(g, a, b, out=out, needs_grad=(True, False))
    only_b = _rule("matmul").vjp(g, a, b, out=out, needs_grad=(False, True))
    assert only_a[1] is None and only_b[0] is None


def test_matmul_matrix_at_vector_books_a_writable_grad_of_its_own_into_the_leaf():
    w = gl.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    x = rng.normal(size=3)
    gl.sum(gl.relu(w @ x)).backward()
    mask = (w.data @ x > 0).astype(float)
    np.testing.assert_allclose(w.grad, np.outer(mask, x), rtol=1e-12)
    assert w.grad.flags.writeable and w.grad.base is None
