"""numpy's statistics, grids and linear-algebra extras on Tensors (gradledger_builtin's
numpy_stats and the linalg additions of issue 21): values equal
numpy's (and closed forms), first-order grads the nudge method's, second-order grads the
nudges of the first-order ones; NaNs take no grad; and the calling forms numpy code uses
(np.gradient's one array, gl.einsum's sublists, an array as a sequence, //, +, divmod)."""

import gradledger as gl
import numpy as np
import pytest
from gradledger.errors import OpCallError
from numeric import nudge_grads

rng = np.random.default_rng(2121)
M = rng.normal(size=(3, 5))
V = rng.normal(size=5)
C = rng.normal(size=(3, 4, 5))
SPD = M[:, :3].T @ M[:, :3] + 3.0 * np.eye(3)
REAL_SPECTRUM = np.array([[2.0, 0.3, 0.1], [0.2, -1.0, 0.4], [0.1, 0.2, 0.5]])
X_POINTS = np.array([0.0, 1.0, 2.5, 4.0])

CALLS = [
    ("nanvar", lambda a: np.nanvar(a, axis=1), [M]),
    ("nanvar ddof keepdims", lambda a: np.nanvar(a, axis=0, ddof=1, keepdims=True), [M]),
    ("nanstd", lambda a: np.nanstd(a), [M]),
    ("nanprod", lambda a: np.nanprod(a, axis=1), [M]),
    ("nancumsum", lambda a: np.nancumsum(a, axis=0), [M]),
    ("nancumsum flat", lambda a: np.nancumsum(a), [M]),
    ("cov", lambda a: np.cov(a), [M]),
    ("cov rowvar bias", lambda a: np.cov(a, rowvar=False, bias=True), [M.T]),
    ("cov ddof", lambda a: np.cov(a, ddof=2), [M]),
    ("cov of x and y", lambda a, b: np.cov(a, b), [M[0], V]),
    ("cov of one variable", lambda a: np.cov(a), [V]),
    ("corrcoef", lambda a: np.corrcoef(a), [M]),
    ("corrcoef of x and y", lambda a, b: np.corrcoef(a, b, rowvar=False), [M.T, M[:1].T]),
    ("gradient 1-D", lambda a: np.gradient(a), [V]),
    ("gradient spacing edge 2", lambda a: np.gradient(a, 0.5, edge_order=2), [V]),
    ("gradient of one axis of 3-D", lambda a: np.gradient(a, axis=-1), [C]),
    ("gradient every axis", lambda a: sum(np.sum(g * (k + 1.0)) for k, g in enumerate(
        np.gradient(a))), [C]),
    ("gradient two axes", lambda a: np.stack(np.gradient(a, axis=(0, 2))), [C]),
    ("interp values", lambda f: np.interp([0.5, 1.7, 3.9, -1.0, 5.0], X_POINTS, f),
     [V[:4]]),
    ("interp points", lambda x: np.interp(x, X_POINTS, V[:4]), [np.array([0.3, 1.2, 3.1])]),
    ("interp ends given", lambda x, f: np.interp(x, X_POINTS, f, left=-2.0, right=7.0),
     [np.array([-0.5, 0.7, 2.0, 4.5]), V[:4]]),
    ("correlate", lambda a, v: np.correlate(a, v), [V, M[0, :3]]),
    ("correlate full", lambda a, v: np.correlate(a, v, "full"), [V[:3], V]),
    ("select", lambda a, b: np.select([M > 0.5, M < 0.0], [a, b], default=1.5), [M, M.T.T * 2]),
    ("select broadcast choice", lambda a: np.select([M > 0], [a]), [V]),
    ("meshgrid", lambda x, y: np.stack(np.meshgrid(x, y)), [V[:3], V]),
    ("meshgrid ij 3 sparse", lambda x, y, z: sum(np.sum(g) * (k + 2.0) for k, g in enumerate(
        np.meshgrid(x, y, z, indexing="ij", sparse=True))), [V[:2], V[:3], V]),
    ("broadcast_arrays", lambda a, b: np.concatenate(np.broadcast_arrays(a, b)), [M, V]),
    ("copy", lambda a: np.copy(a) * a, [M]),
    ("compress", lambda a: np.compress([True, False, True, True, False], a, axis=1), [M]),
    ("compress flat", lambda a: np.compress([False, True, True], a), [M]),
    ("extract", lambda a: np.extract(M > 0, a), [M]),
    ("real_if_close", lambda a: np.real_if_close(a) * a, [M]),
    ("pad edge", lambda a: np.pad(a, ((1, 2), (0, 3)), mode="edge"), [M]),
    ("pad reflect wide", lambda a: np.pad(a, 4, mode="reflect"), [M]),
    ("pad symmetric", lambda a: np.pad(a, (2, 1), mode="symmetric"), [M]),
    ("pad wrap", lambda a: np.pad(a, 3, mode="wrap"), [C]),
    ("cross axisa axisb axisc", lambda a, b: np.cross(a, b, axisa=0, axisb=1, axisc=0),
     [M[:, :3], M[:, :3].T.copy()]),
    ("cross axis", lambda a, b: np.cross(a, b, axis=0), [M[:, :3], M[:, 1:4]]),
    ("einsum repeated label, three operands",
     lambda a, b, c: np.einsum("ijk,lji,lli->lki", a, b, c),
     [C[:, :2, :2], C[:2, :2, :3], C[:2, :2, 1:4]]),
    ("eigvals", lambda a: np.sort(np.linalg.eigvals(a)) * np.array([1.0, 2.0, 3.0]),
     [REAL_SPECTRUM]),
    ("cond", lambda a: np.linalg.cond(a), [SPD]),
    ("cond -2", lambda a: np.linalg.cond(a, -2), [SPD]),
    ("cond fro", lambda a: np.linalg.cond(a, "fro"), [SPD]),
    ("cond nuc", lambda a: np.linalg.cond(a, "nuc"), [SPD]),
    ("cond inf", lambda a: np.linalg.cond(a, np.inf), [SPD]),
    ("cond batched", lambda a: np.linalg.cond(a), [np.stack([SPD, SPD.T @ SPD])]),
    ("lstsq", lambda a, b: np.linalg.lstsq(a, b)[0], [M.T, V]),
    ("lstsq residuals", lambda a, b: np.linalg.lstsq(a, b)[1], [M.T, M[:2].T]),
    ("eigvalsh", lambda a: np.linalg.eigvalsh(a), [SPD]),
    ("nanmedian", lambda a: np.nanmedian(a, axis=1), [M]),
    ("nanmedian even count", lambda a: np.nanmedian(a, axis=0, keepdims=True), [M[:2]]),
    ("tensorinv", lambda a: np.linalg.tensorinv(a, ind=1), [SPD]),
    ("tensorinv ind 2", lambda a: np.linalg.tensorinv(a), [np.reshape(
        np.kron(SPD[:2, :2], SPD), (2, 3, 6))]),
    ("tensorsolve", lambda a, b: np.linalg.tensorsolve(a, b),
     [np.reshape(np.kron(SPD[:2, :2], SPD), (2, 3, 2, 3)), M[:2, :3]]),
]


TESTED_OPS = ["nanvar", "nanstd", "nanprod", "nancumsum", "nanmedian", "cov", "corrcoef",
              "gradient", "interp", "correlate", "select", "meshgrid", "broadcast_arrays",
              "copy", "compress", "extract", "real_if_close", "eigvals", "cond", "tensorinv",
              "tensorsolve"]
"""The ops the fixed calls above reach (tests/test_builtin_grads.py checks every built-in
has such a test somewhere)."""


@pytest.mark.parametrize("call,arrays", [c[1:] for c in CALLS], ids=[c[0] for c in CALLS])
def test_numpy_function_on_tensors_equals_numpy_and_its_grad_the_nudge(call, arrays):
    tensors = [gl.tensor(a, requires_grad=True) for a in arrays]
    out = call(*tensors)
    assert isinstance(out, gl.Tensor) and out.requires_grad
    np.testing.assert_allclose(out.data, call(*arrays), rtol=1e-12, atol=1e-14)
    weights = np.random.default_rng(0).normal(size=np.shape(out.data))
    gl.sum(out * weights).backward()
    expected = nudge_grads(lambda *v: float(np.sum(call(*v) * weights)), arrays)
    for t, want in zip(tensors, expected, strict=True):
        np.testing.assert_allclose(t.grad, want, rtol=1e-6, atol=1e-7)


SECOND_ORDER = ["nanvar", "nanstd", "nanprod", "cov rowvar bias", "corrcoef",
                "gradient every axis", "interp values", "interp points", "select",
                "meshgrid ij 3 sparse", "compress", "pad reflect wide",
                "cross axisa axisb axisc", "einsum repeated label, three operands", "eigvals",
                "cond", "cond fro", "lstsq", "eigvalsh", "nanmedian", "tensorinv ind 2",
                "tensorsolve"]


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_second_order_grads_equal_the_nudges_of_the_first_order_ones(name):
    call, arrays = next(c[1:] for c in CALLS if c[0] == name)
    weights = np.random.default_rng(1).normal(size=np.shape(call(*arrays)))
    probe = [np.random.default_rng(2 + i).normal(size=np.shape(a)) for i, a in enumerate(arrays)]

    def first_order(*values, graph=False):
        tensors = [gl.tensor(v, requires_grad=True) for v in values]
        grads = gl.grad(gl.sum(call(*tensors) * weights), tensors, create_graph=graph)
        return tensors, grads

    tensors, grads = first_order(*arrays, graph=True)
    s = sum(gl.sum(g * p) for g, p in zip(grads, probe, strict=True))

    def probed(*values):
        _, gs = first_order(*values)
        return float(sum(np.sum(g.data * p) for g, p in zip(gs, probe, strict=True)))

    expected = nudge_grads(probed, arrays, eps=1e-5)
    if not s.requires_grad:  # a linear op: its grads do not move with its inputs
        for want in expected:
            np.testing.assert_allclose(want, 0.0, atol=1e-6)
        return
    second = gl.grad(s, tensors, allow_unused=True)
    for g, want in zip(second, expected, strict=True):
        got = np.zeros_like(want) if g is None else g.data
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


# -- closed forms and NaNs ----------------------------------------------------------------


def test_nan_spreads_skip_nans_in_value_and_grad():
    x = gl.tensor([[1.0, np.nan, 3.0], [np.nan, 2.0, 6.0]], requires_grad=True)
    var = np.nanvar(x, axis=1)
    np.testing.assert_allclose(var.data, [1.0, 4.0])
    gl.sum(var).backward()
    # 2 (x - mean) / n over the numbers: row 0 mean 2, n 2; row 1 mean 4, n 2
    np.testing.assert_allclose(x.grad, [[-1.0, 0.0, 1.0], [0.0, -2.0, 2.0]])
    y = gl.tensor([np.nan, 2.0, 4.0, np.nan], requires_grad=True)
    gl.sum(np.nanstd(y) + np.nanprod(y) + np.sum(np.nancumsum(y))).backward()
    # std 1: (x - 3) / 2; prod 8: the other number; cumsum: 3 and 2 later places
    np.testing.assert_allclose(y.grad, [0.0, -0.5 + 4.0 + 3.0, 0.5 + 2.0 + 2.0, 0.0])


def test_nanmedian_gives_the_middle_numbers_the_grad():
    x = gl.tensor([[5.0, np.nan, 1.0, 3.0], [np.nan, 2.0, 4.0, np.nan]], requires_grad=True)
    out = np.nanmedian(x, axis=1)
    np.testing.assert_allclose(out.data, [3.0, 3.0])
    gl.sum(out).backward()
    np.testing.assert_allclose(x.grad, [[0.0, 0.0, 0.0, 1.0], [0.0, 0.5, 0.5, 0.0]])


def test_cov_and_corrcoef_of_two_variables_match_their_closed_forms():
    x, y = np.array([1.0, 2.0, 4.0]), np.array([2.0, 1.0, 3.0])
    tx = gl.tensor(x, requires_grad=True)
    c = np.cov(tx, y)
    assert c.shape == (2, 2)
    # cov(x, y) = sum((x - 7/3)(y - 2)) / 2 = (-4/3 * 0 + -1/3 * -1 + 5/3 * 1) / 2 = 1
    assert c.data[0, 1] == pytest.approx(1.0)
    c[0, 1].backward()
    np.testing.assert_allclose(tx.grad, (y - y.mean()) / 2)
    r = np.corrcoef(gl.tensor(x), gl.tensor(y))
    np.testing.assert_allclose(np.diagonal(r.data), [1.0, 1.0])


def test_gradient_gives_one_tensor_for_one_axis_and_a_tuple_for_several():
    x = gl.tensor(C, requires_grad=True)
    one = np.gradient(gl.tensor(V, requires_grad=True))
    assert isinstance(one, gl.Tensor)
    np.testing.assert_allclose(one.data, np.gradient(V))
    several = np.gradient(x)
    assert len(several) == 3 and all(isinstance(g, gl.Tensor) for g in several)
    assert isinstance(np.gradient(x, axis=(1,)), gl.Tensor)
    assert isinstance(gl.gradient(x, axis=1), list)  # gl's own name: always a list


def test_gradient_of_a_line_is_its_slope_and_its_grad_the_transpose():
    x = gl.tensor(3.0 * np.arange(5.0) + 1.0, requires_grad=True)
    g = np.gradient(x, 0.5)
    np.testing.assert_allclose(g.data, np.full(5, 6.0))
    g[0].backward()  # (x1 - x0) / 0.5
    np.testing.assert_allclose(x.grad, [-2.0, 2.0, 0.0, 0.0, 0.0])


def test_interp_grads_are_the_slope_and_the_neighbours_shares():
    x = gl.tensor([0.25, 3.0, -1.0], requires_grad=True)
    fp = gl.tensor([0.0, 2.0, 2.0, 5.0], requires_grad=True)
    out = np.interp(x, X_POINTS, fp)
    np.testing.assert_allclose(out.data, [0.5, 3.0, 0.0])
    gl.sum(out).backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0, 0.0])  # slopes; outside: none
    # 0.25: a quarter along [0, 1]; 3.0: a third along [2.5, 4]; -1.0: fp[0] (left)
    np.testing.assert_allclose(fp.grad, [0.75 + 1.0, 0.25, 2.0 / 3.0, 1.0 / 3.0])


def test_select_takes_the_first_true_condition():
    a = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = gl.tensor([10.0, 20.0, 30.0], requires_grad=True)
    out = np.select([np.array([True, False, True]), np.array([True, True, False])], [a, b],
                    default=-1.0)
    np.testing.assert_allclose(out.data, [1.0, 20.0, 3.0])
    gl.sum(out).backward()
    np.testing.assert_allclose(a.grad, [1.0, 0.0, 1.0])
    np.testing.assert_allclose(b.grad, [0.0, 1.0, 0.0])


def test_pad_copying_modes_sum_the_grads_of_the_copies():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out = np.pad(x, 2, mode="edge")
    np.testing.assert_allclose(out.data, [1.0, 1.0, 1.0, 2.0, 3.0, 3.0, 3.0])
    gl.sum(out).backward()
    np.testing.assert_allclose(x.grad, [3.0, 1.0, 3.0])
    x.grad = None
    gl.sum(np.pad(x, 1, mode="wrap") * np.arange(5.0)).backward()  # [3, 1, 2, 3, 1]
    np.testing.assert_allclose(x.grad, [1.0 + 4.0, 2.0, 0.0 + 3.0])


def test_eigvals_are_sorted_and_their_grads_eigenvalue_derivatives():
    a = gl.tensor(np.diag([3.0, -1.0, 2.0]) + np.triu(np.ones((3, 3)), 1),
                  requires_grad=True)
    w = np.linalg.eigvals(a)
    np.testing.assert_allclose(w.data, [-1.0, 2.0, 3.0])
    w[0].backward()  # the eigenvalue -1 of a triangular matrix moves with a[1, 1] ...
    np.testing.assert_allclose(np.diagonal(a.grad), [0.0, 1.0, 0.0], atol=1e-12)


def test_cond_is_the_ratio_of_extreme_singular_values():
    a = gl.tensor(np.diag([4.0, 2.0, 0.5]), requires_grad=True)
    c = np.linalg.cond(a)
    assert c.data == pytest.approx(8.0)
    c.backward()  # d(s1 / s3): 1 / s3 at a[0, 0], -s1 / s3**2 at a[2, 2]
    np.testing.assert_allclose(a.grad, np.diag([2.0, 0.0, -16.0]), atol=1e-12)


def test_repeated_eigenvalues_keep_the_eigenvalues_grad_finite():
    a = gl.tensor(2.0 * np.eye(3), requires_grad=True)
    gl.sum(np.linalg.eigvalsh(a)).backward()
    np.testing.assert_allclose(a.grad, np.eye(3))  # d trace(a) / d a
    b = gl.tensor(2.0 * np.eye(3), requires_grad=True)
    gl.sum(np.linalg.svd(b, compute_uv=True)[1]).backward()
    np.testing.assert_allclose(b.grad, np.eye(3))
    c = gl.tensor(2.0 * np.eye(3), requires_grad=True)
    w, v = np.linalg.eigh(c)
    with np.errstate(all="ignore"):
        gl.sum(v[:, 0]).backward()  # the eigenvectors of a repeated eigenvalue: no derivative
    assert not np.all(np.isfinite(c.grad))


def test_saved_values_give_the_grads_of_recomputing():
    for name, inputs, params in (("eigvals", (REAL_SPECTRUM,), {}),
                                 ("eigvalsh", (SPD,), {}),
                                 ("cond", (SPD,), {"p": "fro"}),
                                 ("lstsq", (M.T, V), {})):
        op = getattr(gl.ops, name).op
        out, saved = op.saving_forward(*inputs, **params)
        g = tuple(np.ones_like(o) for o in out) if isinstance(out, tuple) else np.ones_like(out)
        with_saved = op.vjp(g, *inputs, out=out, saved=saved, **params)
        recomputed = op.vjp(g, *inputs, out=out, saved=None, **params)
        for a, b in zip(with_saved, recomputed, strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)


def test_lstsq_equals_numpys_solution_residuals_rank_and_singular_values():
    a, b = M.T, M[:2].T
    out = np.linalg.lstsq(gl.tensor(a), gl.tensor(b), rcond=None)
    for got, want in zip(out, np.linalg.lstsq(a, b, rcond=None), strict=True):
        np.testing.assert_allclose(np.asarray(got.data), want, rtol=1e-10, atol=1e-12)


# -- calling forms ----------------------------------------------------------------------------


def test_gl_einsum_takes_numpys_sublist_form():
    a = gl.tensor(M, requires_grad=True)
    b = gl.tensor(C[0], requires_grad=True)
    out = gl.einsum(a, [0, 1], b.T, [1, 2], [0, 2])
    np.testing.assert_allclose(out.data, M @ C[0].T)
    np.testing.assert_allclose(gl.einsum(a, [0, 1], [1, 0]).data, M.T)
    gl.sum(out).backward()
    np.testing.assert_allclose(a.grad, np.ones((3, 4)) @ C[0])


def test_an_array_where_numpy_takes_a_sequence_is_read_as_its_rows():
    x = gl.tensor(M, requires_grad=True)
    for function in (np.vstack, np.hstack, np.column_stack, np.stack, np.concatenate):
        np.testing.assert_allclose(function(x).data, function(M))
    gl.sum(np.hstack(x) * np.arange(15.0)).backward()
    np.testing.assert_allclose(x.grad, np.arange(15.0).reshape(3, 5))


def test_row_stack_reaches_vstack_and_a_dtype_is_refused_with_a_cast_to_use():
    x = gl.tensor(V, requires_grad=True)
    if hasattr(np, "row_stack"):  # removed in numpy 2.4? (deprecated since 2.0)
        with pytest.warns(DeprecationWarning):
            out = np.row_stack([x, x])
        np.testing.assert_allclose(out.data, np.vstack([V, V]))
    with pytest.raises(OpCallError, match=r"vstack's dtype is not supported.*astype"):
        np.vstack([x, x], dtype=np.float32)


def test_floor_division_unary_plus_and_divmod_reach_their_ops():
    x = gl.tensor([5.5, -2.5, 7.0], requires_grad=True)
    np.testing.assert_allclose((x // 2.0).data, [2.0, -2.0, 3.0])
    np.testing.assert_allclose((10.0 // x).data, 10.0 // x.data)
    quotient, remainder = divmod(x, 2.0)
    np.testing.assert_allclose(remainder.data, [1.5, 1.5, 1.0])
    assert (+x).requires_grad and (+x) is not x
    gl.sum(remainder + quotient + (+x)).backward()
    np.testing.assert_allclose(x.grad, [2.0, 2.0, 2.0])  # floor: 0, remainder: 1, +x: 1


@pytest.mark.parametrize("call,message", [
    (lambda t: np.cov(t, t, t), "x and at most one y"),
    (lambda t: np.interp(t, [0.0, 1.0], [1.0, 2.0], period=2.0), "period is not supported"),
    (lambda t: np.pad(t, 1, mode="mean"), "mode must be 'constant' or one of"),
    (lambda t: np.select([t > 0], [t, t]), "one choice per condition"),
    (lambda t: np.linalg.cond(t[:, :3], p=3), "p must be one of"),
    (lambda t: np.linalg.eigvals(np.array([[0.0, -1.0], [1.0, 0.0]]) + 0.0 * t[:2, :2]),
     "complex eigenvalues"),
])
def test_bad_calls_say_what_was_expected(call, message):
    with pytest.raises(OpCallError, match=message):
        call(gl.tensor(M, requires_grad=True))


# -- answers without a gradient ---------------------------------------------------------------

EDGES = np.array([-1.0, 0.0, 0.5, 2.0])
NO_GRAD_CALLS = [
    ("all", lambda a: np.all(a > -3.0, axis=1)),
    ("any", lambda a: np.any(a > 1.0)),
    ("count_nonzero", lambda a: np.count_nonzero(a > 0, axis=0)),
    ("argwhere", lambda a: np.argwhere(a > 0)),
    ("flatnonzero", lambda a: np.flatnonzero(a > 0)),
    ("nanargmax", lambda a: np.nanargmax(a, axis=1)),
    ("nanargmin", lambda a: np.nanargmin(a)),
    ("argpartition", lambda a: np.argpartition(a, 2, axis=1)[:, 2]),
    ("searchsorted", lambda a: np.searchsorted(EDGES, a)),
    ("digitize", lambda a: np.digitize(a, EDGES, right=True)),
    ("isin", lambda a: np.isin(a, a[0])),
    ("isposinf", lambda a: np.isposinf(a / 0.0)),
    ("isneginf", lambda a: np.isneginf(a / 0.0)),
    ("isreal", lambda a: np.isreal(a)),
    ("iscomplex", lambda a: np.iscomplex(a)),
    ("matrix_rank", lambda a: np.linalg.matrix_rank(a)),
]
NO_GRAD_OPS = [c[0] for c in NO_GRAD_CALLS]


@pytest.mark.parametrize("call", [c[1] for c in NO_GRAD_CALLS], ids=NO_GRAD_OPS)
def test_answers_without_a_gradient_equal_numpys_and_take_no_grad(call):
    t = gl.tensor(M, requires_grad=True)
    with np.errstate(divide="ignore"):
        out, want = call(t), call(M)
    assert isinstance(out, gl.Tensor) and not out.requires_grad
    np.testing.assert_array_equal(out.data, want)


def test_float32_nancumsum_accumulates_in_float64_like_cumsum():
    # a float32 running sum of 5,000 values near -0.001 drifted 6e-5 from float64's when it
    # accumulated in float32 (a thorough run's vs float64 failure); accumulated in float64
    # each partial sum is float64's rounded once
    rng = np.random.default_rng(3)
    x = (-0.001 - 1e-7 * rng.random(5000)).astype(np.float32)
    x[17] = np.nan
    got = gl.nancumsum(gl.tensor(x)).numpy()
    assert got.dtype == np.float32
    exact = np.nancumsum(x.astype(np.float64))
    np.testing.assert_array_equal(got, exact.astype(np.float32))
