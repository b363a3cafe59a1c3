"""numpy's shape, joining and splitting functions on Tensors (issue 21): values equal numpy's
own, reached through numpy's names; grads equal central differences."""

import gradledger as gl
import numpy as np
import pytest
from opcheck import check_against_nudge

rng = np.random.default_rng(2121)
M = rng.normal(size=(3, 4))
C = rng.normal(size=(2, 3, 4))
V = rng.normal(size=(5,))
DISTINCT = rng.permutation(12).reshape(3, 4) * 0.5 - 2.0

# (id, numpy call on the arrays, the arrays): value equal to numpy's, grad nudged
CALLS = [
    ("ravel", lambda a: np.ravel(a), [C]),
    ("roll flat", lambda a: np.roll(a, 3), [M]),
    ("roll axes", lambda a: np.roll(a, (1, -2), axis=(0, 2)), [C]),
    ("flip", lambda a: np.flip(a, 1), [M]),
    ("fliplr", lambda a: np.fliplr(a), [M]),
    ("flipud", lambda a: np.flipud(a), [M]),
    ("rot90", lambda a: np.rot90(a), [M]),
    ("rot90 k=3 axes", lambda a: np.rot90(a, 3, axes=(2, 0)), [C]),
    ("swapaxes", lambda a: np.swapaxes(a, 0, 2), [C]),
    ("moveaxis", lambda a: np.moveaxis(a, 0, -1), [C]),
    ("atleast_1d", lambda a: np.atleast_1d(a), [np.float64(2.5)]),
    ("atleast_2d", lambda a: np.atleast_2d(a), [V]),
    ("atleast_3d", lambda a: np.atleast_3d(a), [M]),
    ("diff", lambda a: np.diff(a), [M]),
    ("diff n=2 axis=0", lambda a: np.diff(a, 2, axis=0), [M]),
    ("cumprod", lambda a: np.cumprod(a, axis=1), [M]),
    ("cumprod flat with a zero", lambda a: np.cumprod(a), [np.array([1.5, 0.0, -2.0, 0.5])]),
    ("sort", lambda a: np.sort(a), [DISTINCT]),
    ("sort axis 0", lambda a: np.sort(a, axis=0), [DISTINCT]),
    ("sort flat", lambda a: np.sort(a, axis=None), [DISTINCT]),
    ("take flat repeats", lambda a: np.take(a, [0, 5, 5, -1]), [M]),
    ("take axis 1", lambda a: np.take(a, [[3, 0], [0, 0]], axis=1), [M]),
    ("take_along_axis", lambda a: np.take_along_axis(a, np.array([[0, 0], [3, 1], [2, 2]]),
                                                     axis=1), [M]),
    ("tril", lambda a: np.tril(a), [M]),
    ("triu k=1 batched", lambda a: np.triu(a, 1), [C]),
    ("trace", lambda a: np.trace(a), [M]),
    ("trace offset axes", lambda a: np.trace(a, 1, 0, 2), [C]),
    ("diagonal", lambda a: np.diagonal(a, -1), [M]),
    ("diagonal axes", lambda a: np.diagonal(a, 1, 2, 1), [C]),
    ("diag of vector", lambda a: np.diag(a, 1), [V]),
    ("diag of matrix", lambda a: np.diag(a, -1), [M]),
    ("vstack", lambda a, b: np.vstack([a, b]), [M, V[:4]]),
    ("row_stack", lambda a, b: np.vstack((a, b)), [M, M]),
    ("hstack", lambda a, b: np.hstack([a, b]), [M, M[:, :2]]),
    ("hstack 1-d", lambda a, b: np.hstack([a, b]), [V, V[:2]]),
    ("column_stack", lambda a, b: np.column_stack([a, b]), [M[:, 0], M]),
    ("dstack", lambda a, b: np.dstack([a, b]), [M, M]),
    ("tensordot int", lambda a, b: np.tensordot(a, b, 2), [C, M]),
    ("tensordot lists", lambda a, b: np.tensordot(a, b, ([0, 2], [1, 0])), [C, M.T[:, :2]]),
    ("kron", lambda a, b: np.kron(a, b), [M[:2, :2], V[:3]]),
    ("kron matrices", lambda a, b: np.kron(a, b), [M[:2, :3], M[1:, 1:]]),
    ("cross", lambda a, b: np.cross(a, b), [C[0, :, :3], V[:3]]),
    ("einsum sublists", lambda a, b: np.einsum(a, [0, 1], b, [1, 2], [0, 2]), [M, M.T]),
    ("einsum sublist transpose", lambda a: np.einsum(a, [0, 1], [1, 0]), [M]),
]


@pytest.mark.parametrize("call,arrays", [c[1:] for c in CALLS], ids=[c[0] for c in CALLS])
def test_numpy_function_on_tensors_equals_numpy_and_its_grad_the_nudge(call, arrays):
    tensors = [gl.tensor(a, requires_grad=True) for a in arrays]
    out = call(*tensors)
    assert isinstance(out, gl.Tensor) and out.requires_grad
    np.testing.assert_array_equal(out.data, call(*arrays))
    weights = np.random.default_rng(0).normal(size=np.shape(out.data))
    gl.sum(out * weights).backward()

    def loss(*values):
        return float(np.sum(call(*values) * weights))

    from numeric import nudge_grads

    for t, want in zip(tensors, nudge_grads(loss, arrays), strict=True):
        np.testing.assert_allclose(t.grad, want, rtol=1e-6, atol=1e-7)


SPLITS = [
    ("array_split", lambda a: np.array_split(a, 3, axis=1), M),
    ("array_split indices", lambda a: np.array_split(a, [1, 3]), C),
    ("hsplit", lambda a: np.hsplit(a, 2), M),
    ("vsplit", lambda a: np.vsplit(a, [1]), M),
    ("dsplit", lambda a: np.dsplit(a, [1, 3]), C),
]


@pytest.mark.parametrize("call,x", [s[1:] for s in SPLITS], ids=[s[0] for s in SPLITS])
def test_splits_give_numpys_pieces_and_grads_flow_back(call, x):
    t = gl.tensor(x, requires_grad=True)
    pieces = call(t)
    want = call(x)
    assert len(pieces) == len(want)
    for p, w in zip(pieces, want, strict=True):
        np.testing.assert_array_equal(p.data, w)
    (gl.sum(pieces[0]) * 2.0 + gl.sum(pieces[-1]) * 3.0).backward()
    axis = _split_axis(x, want)
    expected = np.concatenate([np.full_like(w, 2.0 * (i == 0) + 3.0 * (i == len(want) - 1))
                               for i, w in enumerate(want)], axis=axis)
    np.testing.assert_array_equal(t.grad, expected)


def _split_axis(x, pieces):
    """The axis along which `pieces` tile x (the one whose sizes differ from x's)."""
    for axis in range(np.ndim(x)):
        if sum(np.shape(p)[axis] for p in pieces) == np.shape(x)[axis] and len(pieces) > 1:
            if any(np.shape(p)[axis] != np.shape(x)[axis] for p in pieces):
                return axis
    return 0


def test_sort_ties_send_each_grad_to_the_element_numpys_stable_sort_placed():
    x = gl.tensor([2.0, 1.0, 2.0, 1.0], requires_grad=True)
    out = np.sort(x)
    out.backward(np.array([10.0, 20.0, 30.0, 40.0]))
    # stable: the first 1.0 (index 1) takes place 0, the second (index 3) place 1
    np.testing.assert_array_equal(x.grad, [30.0, 10.0, 40.0, 20.0])
    assert np.argsort(x).tolist() == [1, 3, 0, 2] and not np.argsort(x).requires_grad


def test_take_with_repeated_indices_accumulates():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    gl.sum(np.take(x, [2, 2, 0, 2])).backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 3.0])


def test_cumprod_grad_is_exact_at_zeros():
    x = gl.tensor([2.0, 0.0, 3.0, 0.0], requires_grad=True)
    gl.sum(np.cumprod(x)).backward()
    # out = [x0, x0 x1, x0 x1 x2, x0 x1 x2 x3]: d/dx1 = x0 + x0 x2 + x0 x2 x3 = 2 + 6 + 0
    np.testing.assert_array_equal(x.grad, [1.0, 8.0, 0.0, 0.0])


def test_diff_of_a_too_short_axis_is_empty_with_zero_grads():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    out = np.diff(x, 3)
    assert out.shape == (0,)
    (gl.sum(out) + gl.sum(x)).backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0])


def test_second_derivatives_through_sort_take_and_cumprod():
    x = gl.tensor([0.5, -1.5, 2.0], requires_grad=True)
    f = gl.sum(np.sort(x) ** 3) + gl.sum(np.take(x, [0, 0]) ** 2) + gl.sum(np.cumprod(x))
    (g,) = gl.grad(f, x, create_graph=True)
    (h,) = gl.grad(gl.sum(g), x)
    a, b, c = 0.5, -1.5, 2.0
    # 6x + [2 * 2 for x0] + d/dx sum of cumprod's grads: (1 + b + b c, a + a c, a b)
    want = 6 * np.array([a, b, c]) + np.array([4.0, 0.0, 0.0]) + np.array(
        [0 + 1 + c + b, 1 + c + a, b + a])
    np.testing.assert_allclose(h, want)


def test_einsum_sublist_form_without_tensors_first_still_reaches_the_op():
    a = gl.tensor(M, requires_grad=True)
    out = np.einsum(M, [0, 1], a, [2, 1], [0, 2])
    np.testing.assert_allclose(out.data, M @ M.T)
    assert out.op == "einsum"


GRAD_CASES = [
    ("ravel", "ravel", [C], {}, ()),
    ("roll", "roll", [M], {"shift": -1, "axis": 1}, ()),
    ("fliplr", "fliplr", [M], {}, ()),
    ("flipud", "flipud", [M], {}, ()),
    ("rot90", "rot90", [C], {"k": 2, "axes": (1, 2)}, ()),
    ("atleast_1d", "atleast_1d", [np.float64(1.5)], {}, ()),
    ("atleast_2d", "atleast_2d", [V], {}, ()),
    ("atleast_3d", "atleast_3d", [V], {}, ()),
    ("diff", "diff", [C], {"n": 2, "axis": 1}, ()),
    ("cumprod", "cumprod", [M], {"axis": 0}, ()),
    ("sort", "sort", [DISTINCT], {"axis": 1}, ()),
    ("take", "take", [C], {"indices": [1, 1, 0], "axis": 2}, ()),
    ("take_along_axis", "take_along_axis", [M, np.array([[1], [0], [1]])], {"axis": 1}, (1,)),
    ("tril", "tril", [C], {"k": -1}, ()),
    ("triu", "triu", [M], {}, ()),
    ("trace", "trace", [C], {"offset": -1, "axis1": 1, "axis2": 2}, ()),
    ("diagonal", "diagonal", [C], {"offset": 1, "axis1": 0, "axis2": 2}, ()),
    ("diag", "diag", [V], {"k": -2}, ()),
    ("tensordot", "tensordot", [C, M], {"axes": ([1, 2], [0, 1])}, ()),
    ("kron", "kron", [M, V[:2]], {}, ()),
    ("cross", "cross", [C[..., :3], C[0, 0, 1:]], {}, ()),
]
NO_GRAD_OPS = ["argsort"]
TESTED_OPS = ["vstack", "hstack", "column_stack", "dstack", "array_split", "hsplit", "vsplit",
                "dsplit"]
"""Ops over a sequence of tensors, or giving one: their value and grad tests are CALLS and
SPLITS above, their second derivatives the test below."""


@pytest.mark.parametrize("name,arrays,params,constants", [c[1:] for c in GRAD_CASES],
                         ids=[c[0] for c in GRAD_CASES])
def test_op_grad_matches_central_differences(name, arrays, params, constants):
    check_against_nudge(name, arrays, params, constants)


SECOND_ORDER = [
    ("vstack", lambda a, b: np.vstack([a, b * b]), [M, V[:4]]),
    ("column_stack", lambda a, b: np.column_stack([a * a, b]), [V[:3], M]),
    ("dstack", lambda a, b: np.dstack([a, a * b]), [M, M]),
    ("array_split", lambda a: np.array_split(a * a, 3, axis=1)[1], [M]),
    ("hsplit", lambda a: np.hsplit(a * a, [1])[1], [M]),
    ("dsplit", lambda a: np.dsplit(a ** 3, 2)[0], [C]),
]


@pytest.mark.parametrize("function,arrays", [c[1:] for c in SECOND_ORDER],
                         ids=[c[0] for c in SECOND_ORDER])
def test_joins_and_splits_differentiate_twice_like_the_nudge_method(function, arrays):
    from gradledger.verify.gradcheck import gradgradcheck

    assert gradgradcheck(function, *[gl.tensor(a, requires_grad=True) for a in arrays])


def _cumprod_grad_by_loops(x, g):
    """sum_(j >= i) g_j prod_(k <= j, k != i) x_k, by plain Python loops in float64."""
    x, g = [float(v) for v in x], [float(v) for v in g]
    out = []
    for i in range(len(x)):
        total = 0.0
        for j in range(i, len(x)):
            term = g[j]
            for k in range(j + 1):
                if k != i:
                    term *= x[k]
            total += term
        out.append(total)
    return np.array(out)


@pytest.mark.parametrize("x", [
    np.array([1.4e-45], dtype=np.float32),  # the smallest float32: g out underflows
    np.array([0.125, -1.4e-45], dtype=np.float32),  # the output underflows to -0
    np.array([0.25, 0.25, 0.25, 3.4e-44], dtype=np.float32),
    np.array([1e-20, 1e-20, 3.0], dtype=np.float32),  # a subnormal output
], ids=["smallest", "output-underflows", "subnormal-input", "subnormal-output"])
def test_cumprod_grads_stay_exact_where_its_products_underflow(x):
    g = np.linspace(0.3, -0.9, x.size).astype(x.dtype)
    t = gl.tensor(x, requires_grad=True)
    gl.ops.cumprod(t).backward(g)
    want = _cumprod_grad_by_loops(x, g)
    np.testing.assert_allclose(t.grad, want, rtol=1e-5, atol=1e-45)


@pytest.mark.parametrize("create_graph", [False, True])
def test_cumprod_of_a_long_row_with_a_zero_books_exact_grads_first_and_second_order(
        create_graph):
    # 80 elements: past the O(K**2) table's rows, so the O(K) recurrence books them
    rng = np.random.default_rng(3)
    x = rng.uniform(-1.05, 1.05, 80)
    x[17] = 0.0
    g = rng.uniform(-1.0, 1.0, 80)
    t = gl.tensor(x, requires_grad=True)
    (grad,) = gl.grad([gl.ops.cumprod(t)], [t], [g], create_graph=create_graph)
    np.testing.assert_allclose(np.asarray(getattr(grad, "data", grad)),
                               _cumprod_grad_by_loops(x, g), rtol=1e-12, atol=1e-15)
    if create_graph:  # d<w, grad>/dx along v against the loops' central differences
        w, v, h = rng.uniform(-1, 1, 80), rng.uniform(-1, 1, 80), 1e-6
        (hw,) = gl.grad([(grad * w).sum()], [t])
        want = (np.dot(_cumprod_grad_by_loops(x + h * v, g), w)
                - np.dot(_cumprod_grad_by_loops(x - h * v, g), w)) / (2 * h)
        np.testing.assert_allclose(np.dot(hw.data, v), want, rtol=1e-6)
