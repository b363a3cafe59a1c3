"""np.linalg's decompositions and matrix functions on Tensors (issue 21): values equal
numpy's, grads equal central differences of losses that are well defined (invariant to
the signs of singular and eigen vectors where numpy's choice is arbitrary), and second
derivatives where the rules run on Tensors."""

import gradledger as gl
import numpy as np
import pytest
from numeric import nudge_grads

rng = np.random.default_rng(77)


def spaced(m, n, low=1.0):
    """An m x n matrix with singular values low, low + 1, ... (well separated)."""
    k = min(m, n)
    q1 = np.linalg.qr(rng.normal(size=(m, m)))[0]
    q2 = np.linalg.qr(rng.normal(size=(n, n)))[0]
    core = np.zeros((m, n))
    core[np.arange(k), np.arange(k)] = low + np.arange(k)
    return q1 @ core @ q2.T


def symmetric(n):
    q = np.linalg.qr(rng.normal(size=(n, n)))[0]
    return q @ np.diag(np.arange(n) - 1.3) @ q.T


_S = spaced(3, 3)
SPD = _S @ _S.T + np.eye(3)
SQUARE = spaced(3, 3) + 0.2 * rng.normal(size=(3, 3))
WIDE, TALL = spaced(2, 4), spaced(4, 2)
P = np.eye(3) + 0.2 * rng.normal(size=(3, 3))
REAL_SPECTRUM = P @ np.diag([2.0, -1.0, 0.5]) @ np.linalg.inv(P)
W = {name: rng.normal(size=shape) for name, shape in
     [("u42", (4, 2)), ("u22", (2, 2)), ("v24", (2, 4)), ("v22", (2, 2)), ("s", (2,)),
      ("m3", (3, 3)), ("m42", (4, 2)), ("w3", (3,))]}


def _dot(a, b):
    return gl.sum(a * b) if isinstance(a, gl.Tensor) else np.sum(a * b)


# (id, function of the arrays, arrays): each function returns a scalar loss, written with
# numpy names so that it runs on arrays (the nudge) and on Tensors (the tape) alike
LOSSES = [
    ("svd U Vh and S, tall", lambda a: _dot(np.linalg.svd(a, full_matrices=False)[0]
                                              @ np.linalg.svd(a, full_matrices=False)[2],
                                              W["u42"])
     + _dot(np.linalg.svd(a, full_matrices=False)[1], W["s"]), [TALL]),
    ("svd U Vh and S, wide", lambda a: _dot(np.linalg.svd(a, full_matrices=False)[0]
                                              @ np.linalg.svd(a, full_matrices=False)[2],
                                              W["v24"])
     + _dot(np.linalg.svd(a, full_matrices=False)[1] ** 2, W["s"]), [WIDE]),
    ("svd square full_matrices", lambda a: _dot(np.linalg.svd(a)[1], W["w3"])
     + _dot(np.linalg.svd(a)[0] @ np.linalg.svd(a)[2], W["m3"]), [SQUARE]),
    ("svdvals", lambda a: _dot(np.linalg.svdvals(a), W["s"]), [TALL]),
    ("eigh values", lambda a: _dot(np.linalg.eigh(a)[0], W["w3"]), [symmetric(3)]),
    ("eigh vectors, sign free", lambda a: _dot(np.linalg.eigh(a)[1] ** 2, W["m3"]),
     [symmetric(3)]),
    ("cholesky", lambda a: _dot(np.linalg.cholesky(a), W["m3"]), [SPD]),
    ("cholesky upper", lambda a: _dot(np.linalg.cholesky(a, upper=True), W["m3"]), [SPD]),
    ("qr", lambda a: _dot(_unique_qr(a)[0], W["m42"]) + _dot(_unique_qr(a)[1], W["u22"]),
     [TALL]),
    ("slogdet", lambda a: np.linalg.slogdet(a)[1], [SQUARE]),
    ("pinv wide", lambda a: _dot(np.linalg.pinv(a), W["u42"]), [WIDE]),
    ("pinv tall", lambda a: _dot(np.linalg.pinv(a), W["v24"]), [TALL]),
    ("matrix_power 3", lambda a: _dot(np.linalg.matrix_power(a, 3), W["m3"]), [SQUARE]),
    ("matrix_power -2", lambda a: _dot(np.linalg.matrix_power(a, -2), W["m3"]), [SQUARE]),
    ("matrix_power 0", lambda a: _dot(np.linalg.matrix_power(a, 0) + a, W["m3"]), [SQUARE]),
]


def _unique_qr(a):
    """np.linalg.qr of a (a Tensor's: gradledger's op); numpy's own made unique for an
    array, R's diagonal positive, as gradledger's is."""
    q, r = np.linalg.qr(a)
    if isinstance(a, gl.Tensor):
        return q, r
    sign = np.where(np.diagonal(r) < 0, -1.0, 1.0)
    return q * sign, r * sign[:, np.newaxis]


@pytest.mark.parametrize("loss,arrays", [c[1:] for c in LOSSES], ids=[c[0] for c in LOSSES])
def test_decomposition_loss_grad_matches_central_differences(loss, arrays):
    tensors = [gl.tensor(a, requires_grad=True) for a in arrays]
    value = loss(*tensors)
    assert isinstance(value, gl.Tensor)
    np.testing.assert_allclose(value.data, loss(*arrays), rtol=1e-10)
    value.backward()
    for t, want in zip(tensors, nudge_grads(lambda *v: float(loss(*v)), arrays), strict=True):
        np.testing.assert_allclose(t.grad, want, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("function", [
    lambda a: (np.linalg.svdvals(a),), lambda a: np.linalg.pinv(a)[np.newaxis],
])
def test_decomposition_values_equal_numpys(function):
    got = function(gl.tensor(TALL))
    for g, want in zip(got, function(TALL), strict=True):
        np.testing.assert_allclose(g.data, want, rtol=1e-12, atol=1e-12)


def test_qr_is_numpys_up_to_signs_that_make_rs_diagonal_positive():
    a = np.array(TALL)
    a[:, 0] *= -1  # some pivots of each sign
    q, r = np.linalg.qr(gl.tensor(a))
    q_np, r_np = np.linalg.qr(a)
    sign = np.sign(np.diagonal(r_np))
    np.testing.assert_allclose(q.data, q_np * sign, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(r.data, r_np * sign[:, np.newaxis], rtol=1e-12, atol=1e-12)
    assert np.all(np.diagonal(r.data) > 0)
    np.testing.assert_allclose(q.data @ r.data, a, atol=1e-12)


def test_qr_is_smooth_where_lapacks_pivot_sign_flips():
    # a column whose first entry crosses 0: numpy's R_00 jumps from -|a| to +|a| there;
    # the unique QR's does not
    a = np.array([[1e-9, 1.0], [1.0, 2.0], [0.5, -1.0]])
    b = a.copy()
    b[0, 0] = -1e-9
    r_a, r_b = (np.linalg.qr(gl.tensor(m))[1].data for m in (a, b))
    np.testing.assert_allclose(r_a, r_b, atol=1e-8)


def test_svd_values_equal_numpys_and_each_singular_pair_up_to_one_sign_so_u_sums_positive():
    u, s, vh = np.linalg.svd(gl.tensor(TALL), full_matrices=False)
    u_np, s_np, vh_np = np.linalg.svd(TALL, full_matrices=False)
    np.testing.assert_allclose(s.data, s_np, rtol=1e-12)
    sign = np.sign(np.sum(u_np, axis=0))  # numpy's sign, times this, sums to >= 0
    np.testing.assert_allclose(u.data, u_np * sign, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(vh.data, vh_np * sign[:, np.newaxis], rtol=1e-12, atol=1e-12)
    assert np.all(np.sum(u.data, axis=0) >= 0)
    np.testing.assert_allclose((u.data * s.data) @ vh.data, TALL, atol=1e-12)


def test_eigh_values_equal_numpys_and_vectors_up_to_sign_with_positive_column_sums():
    a = symmetric(4)
    w, v = np.linalg.eigh(gl.tensor(a))
    w_np, v_np = np.linalg.eigh(a)
    np.testing.assert_allclose(w.data, w_np)
    np.testing.assert_allclose(np.abs(v.data), np.abs(v_np), atol=1e-12)
    assert np.all(np.sum(v.data, axis=0) >= 0)
    np.testing.assert_allclose(v.data @ np.diag(w.data) @ v.data.T, a, atol=1e-12)


def test_eigh_grad_lives_on_the_triangle_numpy_reads():
    a = gl.tensor(symmetric(3), requires_grad=True)
    gl.sum(np.linalg.eigh(a)[0] * np.array([1.0, 2.0, 3.0])).backward()
    assert np.all(np.triu(a.grad, 1) == 0) and np.any(np.tril(a.grad, -1) != 0)


def test_svd_refuses_what_has_no_gradient_with_a_way_out():
    t = gl.tensor(TALL, requires_grad=True)
    with pytest.raises(gl.OpCallError, match="full_matrices=False"):
        np.linalg.svd(t)
    with pytest.raises(gl.OpCallError, match="svdvals"):
        gl.svd(t, full_matrices=False, compute_uv=False)


def test_numpy_svd_without_uv_gives_the_singular_values_with_their_grads():
    t = gl.tensor(TALL, requires_grad=True)
    s = np.linalg.svd(t, full_matrices=False, compute_uv=False)
    assert s.op == "svdvals"
    np.testing.assert_allclose(s.data, np.linalg.svd(TALL, compute_uv=False))
    gl.sum(s).backward()
    u, _, vh = np.linalg.svd(TALL, full_matrices=False)
    np.testing.assert_allclose(t.grad, u @ vh, atol=1e-12)  # d sum(s) = U V^T
    assert np.linalg.svd(gl.tensor(TALL, requires_grad=True), False, False).op == "svdvals"


@pytest.mark.parametrize("name,make,arrays", [
    ("cholesky", lambda a: np.linalg.cholesky(a), [SPD]),
    ("slogdet", lambda a: np.linalg.slogdet(a)[1], [SQUARE]),
    ("svdvals", lambda a: np.linalg.svdvals(a), [TALL]),
    ("matrix_power", lambda a: np.linalg.matrix_power(a, 2), [SQUARE]),
    ("svd", lambda a: np.linalg.svd(a, full_matrices=False)[0]
     @ np.linalg.svd(a, full_matrices=False)[2] * np.linalg.svd(a, full_matrices=False)[1][0],
     [WIDE]),
    ("eigh", lambda a: np.linalg.eigh(a)[1] ** 2 + np.linalg.eigh(a)[0], [symmetric(3)]),
    ("eig", lambda a: np.linalg.eig(a)[1] ** 2 + np.linalg.eig(a)[0], [REAL_SPECTRUM]),
    ("qr", lambda a: np.linalg.qr(a)[0] @ np.linalg.qr(a)[1], [TALL]),
    ("pinv", lambda a: np.linalg.pinv(a), [TALL]),
    ("lstsq", lambda a: np.linalg.lstsq(a, W["m42"][:, 0], rcond=None)[0], [TALL]),
])
def test_second_derivatives_match_nudges_of_the_first(name, make, arrays):
    weights = np.random.default_rng(1).normal(size=np.shape(make(arrays[0])))

    def first(a):
        t = gl.tensor(a, requires_grad=True)
        (g,) = gl.grad(gl.sum(make(t) * weights), t)
        return g.data

    direction = np.random.default_rng(2).normal(size=np.shape(arrays[0]))
    t = gl.tensor(arrays[0], requires_grad=True)
    (g,) = gl.grad(gl.sum(make(t) * weights), t, create_graph=True)
    (h,) = gl.grad(gl.sum(g * direction), t)
    want = nudge_grads(lambda a: float(np.sum(first(a) * direction)), [arrays[0]])[0]
    np.testing.assert_allclose(h, want, rtol=1e-4, atol=1e-6)




def test_eig_of_a_real_spectrum_is_numpys_sorted_and_a_complex_one_is_refused():
    w, v = np.linalg.eig(gl.tensor(REAL_SPECTRUM))
    np.testing.assert_allclose(w.data, [-1.0, 0.5, 2.0], atol=1e-12)
    np.testing.assert_allclose(REAL_SPECTRUM @ v.data, v.data * w.data, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(v.data, axis=0), 1.0)
    rotation = gl.tensor([[0.0, -1.0], [1.0, 0.0]], requires_grad=True)
    with pytest.raises(gl.OpCallError, match="eig.*complex eigenvalues.*eigh"):
        np.linalg.eig(rotation)


def test_eig_eigenvalue_grad_is_the_left_right_eigenvector_product():
    a = gl.tensor(REAL_SPECTRUM, requires_grad=True)
    w, _ = np.linalg.eig(a)
    w[2].backward()
    # dw/dA = u v^T / (u^T v) with u, v the left and right eigenvectors of w = 2
    right = P[:, 0]
    left = np.linalg.inv(P)[0]
    np.testing.assert_allclose(a.grad, np.outer(left, right) / (left @ right), atol=1e-12)


def test_lstsq_solution_residuals_and_grads():
    b = rng.normal(size=(4, 2))
    x, residuals, rank, s = np.linalg.lstsq(gl.tensor(TALL), gl.tensor(b), rcond=None)
    x_np, r_np, rank_np, s_np = np.linalg.lstsq(TALL, b, rcond=None)
    np.testing.assert_allclose(x.data, x_np)
    np.testing.assert_allclose(residuals.data, r_np)
    assert rank.item() == rank_np and not rank.requires_grad
    np.testing.assert_allclose(s.data, s_np)


MULTI_OUTPUT_CASES = [
    ("eig", "eig", [REAL_SPECTRUM], {}),
    ("lstsq vector b", "lstsq", [TALL, rng.normal(size=4)], {}),
    ("lstsq matrix b", "lstsq", [TALL, rng.normal(size=(4, 3))], {}),
    ("svd", "svd", [TALL], {"full_matrices": False}, ()),
    ("svdvals", "svdvals", [WIDE], {}, ()),
    ("eigh", "eigh", [symmetric(3)], {}, ()),
    ("cholesky", "cholesky", [SPD], {}, ()),
    ("qr", "qr", [TALL], {}, ()),
    ("slogdet", "slogdet", [SQUARE], {}, ()),
    ("pinv", "pinv", [TALL], {}, ()),
    ("matrix_power", "matrix_power", [SQUARE], {"n": -3}, ()),
]


TESTED_OPS = sorted({c[1] for c in MULTI_OUTPUT_CASES})
"""Ops with several outputs: test_builtin_grads counts them covered by the test below."""


@pytest.mark.parametrize("name,arrays,params", [c[1:4] for c in MULTI_OUTPUT_CASES],
                         ids=[c[0] for c in MULTI_OUTPUT_CASES])
def test_op_grads_with_every_output_weighted_match_central_differences(name, arrays, params):
    op = getattr(gl.ops, name)
    outs = op(*[gl.tensor(a) for a in arrays], **params)
    outs = outs if isinstance(outs, tuple) else (outs,)
    weights = [np.random.default_rng(i).normal(size=o.shape) * (o.dtype.kind == "f")
               for i, o in enumerate(outs)]

    def loss(*values):
        got = op(*[gl.tensor(v) for v in values], **params)
        got = got if isinstance(got, tuple) else (got,)
        return float(sum(np.sum(o.data * w) for o, w in zip(got, weights, strict=True)))

    tensors = [gl.tensor(a, requires_grad=True) for a in arrays]
    got = op(*tensors, **params)
    got = got if isinstance(got, tuple) else (got,)
    sum((gl.sum(o * w) for o, w in zip(got, weights, strict=True)), start=0.0).backward()
    for t, want in zip(tensors, nudge_grads(loss, arrays), strict=True):
        np.testing.assert_allclose(t.grad, want, rtol=1e-5, atol=1e-7)


def test_cholesky_of_a_matrix_that_is_not_positive_definite_blames_the_call():
    with pytest.raises(gl.OpCallError, match="cholesky.*positive definite"):
        np.linalg.cholesky(gl.tensor(-np.eye(2), requires_grad=True))
