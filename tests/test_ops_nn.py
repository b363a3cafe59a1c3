"""The neural-network ops against independent computations: values by loops and closed
forms, grads by central differences (tests/numeric.py) or closed forms, bad calls."""

import gradledger as gl
import numpy as np
import pytest
from gradledger.errors import OpCallError
from opcheck import check_against_nudge

rng = np.random.default_rng(2024)


def distinct(*shape):
    """Values at least 0.05 apart in random order: no ties for max to split."""
    return rng.permutation(np.prod(shape, dtype=int)).reshape(shape) * 0.05 - 0.3


# (case id, op name, input arrays, params, constant inputs)
GRAD_CASES = [
    ("softmax last axis", "softmax", [rng.normal(size=(3, 4))], {}, ()),
    ("softmax axis 0", "softmax", [rng.normal(size=(3, 4))], {"axis": 0}, ()),
    ("softmax axes (0, -1)", "softmax", [rng.normal(size=(2, 3, 2))], {"axis": (0, -1)}, ()),
    ("softmax all", "softmax", [rng.normal(size=(2, 3))], {"axis": None}, ()),
    ("log_softmax last axis", "log_softmax", [rng.normal(size=(3, 4))], {}, ()),
    ("log_softmax axis -2", "log_softmax", [rng.normal(size=(2, 3, 2))], {"axis": -2}, ()),
    ("cross_entropy mean", "cross_entropy", [rng.normal(size=(4, 3)), np.array([0, 2, 1, 2])],
     {}, (1,)),
    ("cross_entropy sum", "cross_entropy", [rng.normal(size=(4, 3)), np.array([0, 2, 1, 2])],
     {"reduction": "sum"}, (1,)),
    ("cross_entropy none (2,3,5)", "cross_entropy",
     [rng.normal(size=(2, 3, 5)), rng.integers(0, 5, size=(2, 3))], {"reduction": "none"}, (1,)),
    ("cross_entropy one row", "cross_entropy", [rng.normal(size=(4,)), np.array(3)], {}, (1,)),
    ("conv2d", "conv2d", [rng.normal(size=(2, 3, 5, 5)), rng.normal(size=(4, 3, 3, 3))], {}, ()),
    ("conv2d stride 2 padding 1", "conv2d",
     [rng.normal(size=(1, 2, 5, 6)), rng.normal(size=(3, 2, 3, 2))],
     {"stride": 2, "padding": 1}, ()),
    ("conv2d stride (2, 3) padding (2, 0)", "conv2d",
     [rng.normal(size=(2, 1, 4, 7)), rng.normal(size=(2, 1, 2, 3))],
     {"stride": (2, 3), "padding": (2, 0)}, ()),
    ("conv2d_bias", "conv2d_bias",
     [rng.normal(size=(2, 3, 5, 5)), rng.normal(size=(4, 3, 3, 3)), rng.normal(size=4)],
     {"padding": 1}, ()),
    ("conv2d_bias stride (2, 1)", "conv2d_bias",
     [rng.normal(size=(1, 1, 5, 4)), rng.normal(size=(2, 1, 2, 3)), rng.normal(size=2)],
     {"stride": (2, 1)}, ()),
    ("max_pool2d 2x2", "max_pool2d", [distinct(2, 2, 4, 4)], {"kernel_size": 2}, ()),
    ("max_pool2d overlapping 3x3 stride 1 padding 1", "max_pool2d", [distinct(1, 2, 4, 5)],
     {"kernel_size": 3, "stride": 1, "padding": 1}, ()),
    ("max_pool2d (2,3) stride (1,2) on (3,5,7)", "max_pool2d", [distinct(3, 5, 7)],
     {"kernel_size": (2, 3), "stride": (1, 2)}, ()),
    ("avg_pool2d 2x2", "avg_pool2d", [rng.normal(size=(2, 2, 4, 4))], {"kernel_size": 2}, ()),
    ("avg_pool2d 3x3 stride 2 padding 1", "avg_pool2d", [rng.normal(size=(1, 2, 5, 6))],
     {"kernel_size": 3, "stride": 2, "padding": 1}, ()),
    ("im2col 3x3 stride 1 padding 1", "im2col", [rng.normal(size=(2, 4, 5))],
     {"kernel_size": 3, "padding": 1}, ()),
    ("im2col (2,3) stride (2,1) pad_value -1", "im2col", [rng.normal(size=(5, 6))],
     {"kernel_size": (2, 3), "stride": (2, 1), "pad_value": -1.0, "padding": (1, 0)}, ()),
    ("col2im overlapping", "col2im", [rng.normal(size=(2, 3, 4, 2, 2))],
     {"shape": (2, 4, 5), "stride": 1, "padding": 0}, ()),
    ("col2im stride 2 padding 1", "col2im", [rng.normal(size=(3, 3, 3, 3))],
     {"shape": (5, 6), "stride": 2, "padding": 1}, ()),
    ("embedding repeated ids", "embedding",
     [rng.normal(size=(5, 3)), np.array([[1, 4, 1], [0, 1, 4]])], {}, (1,)),
    ("dropout p 0.5", "dropout", [rng.normal(size=(4, 5))], {"p": 0.5, "seed": 7}, ()),
]


@pytest.mark.parametrize("name,arrays,params,constants", [c[1:] for c in GRAD_CASES],
                         ids=[c[0] for c in GRAD_CASES])
def test_nn_op_grad_matches_central_differences(name, arrays, params, constants):
    check_against_nudge(name, arrays, params, constants)


# -- softmax -----------------------------------------------------------------------------------


def test_softmax_and_log_softmax_values_match_the_definition():
    x = rng.normal(size=(3, 4)) * 5
    expected = np.exp(x) / np.exp(x).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(gl.softmax(gl.tensor(x)).data, expected, rtol=1e-12)
    np.testing.assert_allclose(gl.softmax(gl.tensor(x), axis=0).data,
                               np.exp(x) / np.exp(x).sum(axis=0), rtol=1e-12)
    np.testing.assert_allclose(gl.log_softmax(gl.tensor(x)).data, np.log(expected), rtol=1e-12)


def test_softmax_of_huge_logits_does_not_overflow():
    x = gl.tensor([1000.0, 1000.0, -1000.0])
    np.testing.assert_allclose(gl.softmax(x).data, [0.5, 0.5, 0.0])
    np.testing.assert_allclose(gl.log_softmax(x).data, [-np.log(2), -np.log(2), -2000 - np.log(2)])


def test_softmax_grad_is_the_closed_form_jacobian_product():
    x = rng.normal(size=5)
    g = rng.normal(size=5)
    s = np.exp(x) / np.exp(x).sum()
    jacobian = np.diag(s) - np.outer(s, s)
    t = gl.tensor(x, requires_grad=True)
    gl.softmax(t).backward(g)
    np.testing.assert_allclose(t.grad, jacobian.T @ g, rtol=1e-12, atol=1e-15)


# -- cross-entropy -----------------------------------------------------------------------------


def _naive_cross_entropy(logits, labels):
    rows = logits.reshape(-1, logits.shape[-1])
    return np.array([-np.log(np.exp(r[k]) / np.exp(r).sum())
                     for r, k in zip(rows, labels.ravel(), strict=True)]).reshape(labels.shape)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_values_match_minus_log_softmax_at_the_label(reduction):
    logits, labels = rng.normal(size=(2, 3, 5)), rng.integers(0, 5, size=(2, 3))
    per_row = _naive_cross_entropy(logits, labels)
    expected = {"mean": per_row.mean(), "sum": per_row.sum(), "none": per_row}[reduction]
    got = gl.cross_entropy(gl.tensor(logits), labels, reduction=reduction).data
    np.testing.assert_allclose(got, expected, rtol=1e-12)


def test_cross_entropy_default_mean_grad_is_softmax_minus_onehot_over_the_batch():
    logits, labels = rng.normal(size=(4, 3)), np.array([2, 0, 0, 1])
    t = gl.tensor(logits, requires_grad=True)
    gl.cross_entropy(t, labels).backward()
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(t.grad, (softmax - np.eye(3)[labels]) / 4, rtol=1e-12, atol=1e-15)


def test_cross_entropy_of_a_confident_correct_row_keeps_its_relative_precision():
    # -log(1 / (1 + e**-40)) = log1p(e**-40) ~ e**-40; logsumexp - picked would give 0.
    loss = gl.cross_entropy(gl.tensor([[40.0, 0.0]]), [0]).item()
    assert loss == pytest.approx(np.exp(-40.0), rel=1e-12)


def test_cross_entropy_takes_labels_as_a_python_list_and_refuses_labels_that_require_grad():
    logits = gl.tensor(rng.normal(size=(2, 3)), requires_grad=True)
    assert np.isfinite(gl.cross_entropy(logits, [0, 2]).item())
    with pytest.raises(OpCallError, match="cross_entropy.*input 2 is a constant"):
        gl.cross_entropy(logits, gl.tensor([0.0, 2.0], requires_grad=True))


@pytest.mark.parametrize("labels,words", [
    ([0, 3], r"cross_entropy.*\[0, 3\).*out of range, e.g. 3"),
    ([-1, 0], r"cross_entropy.*\[0, 3\).*out of range, e.g. -1"),
    ([0.5, 1.0], r"cross_entropy.*integer class indices.*float64"),
    ([0, 1, 2], r"cross_entropy.*labels must have the logits' shape without its last"),
])
def test_cross_entropy_bad_labels_raise_an_error_naming_the_op(labels, words):
    with pytest.raises(OpCallError, match=words) as raised:
        gl.cross_entropy(gl.tensor(np.zeros((2, 3))), labels)
    assert "rule raised" not in str(raised.value)  # blamed on the call, not the plugin


def test_cross_entropy_unknown_reduction_is_an_error_naming_the_op():
    with pytest.raises(OpCallError, match="cross_entropy.*reduction must be one of"):
        gl.cross_entropy(gl.tensor(np.zeros((2, 3))), [0, 1], reduction="avg")


# -- conv2d ------------------------------------------------------------------------------------


def _naive_conv2d(x, w, stride, padding):
    """The definition, one output pixel at a time."""
    (sh, sw), (ph, pw) = stride, padding
    x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    p, q = (h - kh) // sh + 1, (wd - kw) // sw + 1
    out = np.zeros((n, o, p, q))
    for b in range(n):
        for k in range(o):
            for i in range(p):
                for j in range(q):
                    patch = x[b, :, i * sh:i * sh + kh, j * sw:j * sw + kw]
                    out[b, k, i, j] = np.sum(patch * w[k])
    return out


@pytest.mark.parametrize("stride,padding", [((1, 1), (0, 0)), ((2, 2), (1, 1)),
                                            ((1, 3), (2, 0)), ((3, 2), (0, 1))])
def test_conv2d_values_match_the_definition(stride, padding):
    x, w = rng.normal(size=(2, 3, 7, 6)), rng.normal(size=(4, 3, 3, 2))
    got = gl.conv2d(gl.tensor(x), gl.tensor(w), stride=stride, padding=padding).data
    np.testing.assert_allclose(got, _naive_conv2d(x, w, stride, padding), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("padding", [(0, 0), (1, 1), (2, 1), (0, 2)])
def test_conv2d_input_grad_is_each_outputs_grad_times_the_kernel_placed_back(padding):
    """x.grad by hand: every output pixel's grad times the kernel, added onto the patch it
    read (stride 1: the rule's flat-shift col2im; odd widths and kernels)."""
    x, w = rng.normal(size=(2, 3, 5, 6)), rng.normal(size=(4, 3, 3, 2))
    xt = gl.tensor(x, requires_grad=True)
    out = gl.conv2d(xt, gl.tensor(w), padding=padding)
    g = rng.normal(size=out.shape)
    gl.sum(out * g).backward()
    (ph, pw), (kh, kw) = padding, w.shape[2:]
    expected = np.zeros((2, 3, 5 + 2 * ph, 6 + 2 * pw))
    for b, k, i, j in np.ndindex(*g.shape):
        expected[b, :, i:i + kh, j:j + kw] += g[b, k, i, j] * w[k]
    np.testing.assert_allclose(xt.grad, expected[:, :, ph:ph + 5, pw:pw + 6], rtol=1e-12,
                               atol=1e-12)


def test_conv2d_params_may_be_ints_and_float32_stays_float32():
    x, w = rng.normal(size=(1, 2, 5, 5)), rng.normal(size=(3, 2, 3, 3))
    w32 = gl.tensor(w.astype(np.float32), requires_grad=True)
    got = gl.conv2d(gl.tensor(x.astype(np.float32)), w32, stride=2, padding=1)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.data, _naive_conv2d(x, w, (2, 2), (1, 1)), rtol=1e-5, atol=1e-5)


def test_conv2d_channel_mismatch_is_blamed_on_the_call():
    with pytest.raises(OpCallError, match=r"conv2d.*core dimension 'c' is 3 in input 1 but 2"):
        gl.conv2d(gl.tensor(np.zeros((1, 3, 5, 5))), gl.tensor(np.zeros((4, 2, 3, 3))))


@pytest.mark.parametrize("params", [{}, {"padding": 0}])
def test_conv2d_kernel_larger_than_the_padded_input_is_an_error_naming_the_op(params):
    with pytest.raises(OpCallError, match=r"conv2d.*kernel \(5, 5\) is larger than the input") \
            as raised:
        gl.conv2d(gl.tensor(np.zeros((1, 1, 4, 4))), gl.tensor(np.zeros((1, 1, 5, 5))), **params)
    assert "rule raised" not in str(raised.value)  # blamed on the call, not the plugin


def test_conv2d_with_padding_accepts_a_kernel_larger_than_the_bare_input():
    x, w = rng.normal(size=(1, 1, 2, 2)), rng.normal(size=(1, 1, 3, 3))
    got = gl.conv2d(gl.tensor(x), gl.tensor(w), padding=1).data
    np.testing.assert_allclose(got, _naive_conv2d(x, w, (1, 1), (1, 1)), rtol=1e-12)


# -- pooling -----------------------------------------------------------------------------------


def _naive_pool(x, reduce, kernel, stride, padding, fill):
    (kh, kw), (sh, sw), (ph, pw) = kernel, stride, padding
    widths = [(0, 0)] * (x.ndim - 2) + [(ph, ph), (pw, pw)]
    x = np.pad(x, widths, constant_values=fill)
    p, q = (x.shape[-2] - kh) // sh + 1, (x.shape[-1] - kw) // sw + 1
    out = np.zeros(x.shape[:-2] + (p, q))
    for i in range(p):
        for j in range(q):
            out[..., i, j] = reduce(x[..., i * sh:i * sh + kh, j * sw:j * sw + kw], axis=(-2, -1))
    return out


@pytest.mark.parametrize("kernel,stride,padding", [
    ((2, 2), (2, 2), (0, 0)), ((3, 3), (1, 1), (1, 1)), ((3, 2), (2, 1), (1, 0)),
    ((2, 2), (3, 3), (1, 1)),
])
def test_pooling_values_match_the_definition(kernel, stride, padding):
    x = rng.normal(size=(2, 3, 7, 6))
    got = gl.max_pool2d(gl.tensor(x), kernel, stride, padding).data
    np.testing.assert_array_equal(got, _naive_pool(x, np.max, kernel, stride, padding, -np.inf))
    got = gl.avg_pool2d(gl.tensor(x), kernel, stride=stride, padding=padding).data
    np.testing.assert_allclose(got, _naive_pool(x, np.mean, kernel, stride, padding, 0.0),
                               rtol=1e-12)


def test_pooling_stride_defaults_to_the_kernel_size():
    x = rng.normal(size=(1, 1, 6, 6))
    np.testing.assert_array_equal(gl.max_pool2d(gl.tensor(x), 3).data,
                                  x.reshape(2, 3, 2, 3).max(axis=(1, 3))[None, None])


def test_max_pool2d_splits_a_tied_maximum_evenly_and_collects_from_overlapping_windows():
    x = gl.tensor(np.array([[1.0, 5.0, 5.0],
                            [0.0, 2.0, 3.0]]), requires_grad=True)
    # windows 2x2 at stride 1: [[1,5],[0,2]] -> 5 (one), [[5,5],[2,3]] -> 5 (tied)
    gl.sum(gl.max_pool2d(x, 2, stride=1)).backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 1.5, 0.5], [0.0, 0.0, 0.0]])


def test_pooling_a_kernel_larger_than_the_padded_input_is_an_error_naming_the_op():
    with pytest.raises(OpCallError, match=r"max_pool2d.*kernel \(3, 3\) is larger"):
        gl.max_pool2d(gl.tensor(np.zeros((1, 2, 2))), 3)
    with pytest.raises(OpCallError, match=r"avg_pool2d.*padding must be at most half"):
        gl.avg_pool2d(gl.tensor(np.zeros((1, 4, 4))), 2, padding=2)


def test_im2col_holds_each_window_and_col2im_is_its_transpose():
    x, stride, padding = rng.normal(size=(2, 5, 6)), (2, 1), (1, 2)
    windows = gl.im2col(gl.tensor(x), (3, 2), stride=stride, padding=padding).data
    padded = np.pad(x, ((0, 0), (1, 1), (2, 2)), constant_values=0.0)
    assert windows.shape == (2, 3, 9, 3, 2)
    for i in range(3):
        for j in range(9):
            np.testing.assert_array_equal(windows[:, i, j], padded[:, 2 * i:2 * i + 3, j:j + 2])
    cols = rng.normal(size=windows.shape)  # <im2col(x), cols> = <x, col2im(cols)>
    back = gl.col2im(gl.tensor(cols), shape=x.shape, stride=stride, padding=padding).data
    assert np.sum(windows * cols) == pytest.approx(np.sum(x * back), rel=1e-12)


def test_col2im_of_windows_that_do_not_fit_the_shape_is_an_error_naming_the_op():
    with pytest.raises(OpCallError, match=r"col2im.*do not fit an array of shape \(4, 4\)"):
        gl.col2im(gl.tensor(np.zeros((3, 3, 3, 3))), shape=(4, 4))


# -- embedding ---------------------------------------------------------------------------------


def test_embedding_picks_rows_and_repeated_ids_accumulate():
    weight = rng.normal(size=(4, 3))
    ids = np.array([[2, 0], [2, 2]])
    w = gl.tensor(weight, requires_grad=True)
    out = gl.embedding(w, ids)
    np.testing.assert_array_equal(out.data, weight[ids])
    gl.sum(out).backward()
    np.testing.assert_array_equal(w.grad, np.array([[1.0], [0.0], [3.0], [0.0]]) * np.ones(3))


def test_embedding_grad_sums_each_ids_rows_on_both_paths_and_keeps_other_rows_zero():
    from gradledger_builtin import nn as builtin_nn

    weight, ids = rng.normal(size=(5, 3)), np.array([[0, 4, 4], [-1, 2, 0]])
    grad = rng.normal(size=(2, 3, 3))
    expected = np.zeros((5, 3))
    for position, row in np.ndenumerate(ids):  # by hand: each id's grad into its row
        expected[row] += grad[position]
    for limit in (builtin_nn._ONE_HOT_LIMIT, 0):  # the one-hot product, then scatter_add
        w = gl.tensor(weight, requires_grad=True)
        old, builtin_nn._ONE_HOT_LIMIT = builtin_nn._ONE_HOT_LIMIT, limit
        try:
            gl.sum(gl.embedding(w, ids) * grad).backward()
        finally:
            builtin_nn._ONE_HOT_LIMIT = old
        np.testing.assert_allclose(w.grad, expected, rtol=1e-14, atol=1e-15)
    grad[0, 0, 0] = np.inf  # an infinite grad stays in its row: no 0 * inf elsewhere
    w = gl.tensor(weight, requires_grad=True)
    gl.sum(gl.embedding(w, ids) * grad).backward()
    assert w.grad[0, 0] == np.inf and np.all(np.isfinite(w.grad[1:])) and not w.grad[1].any()


@pytest.mark.parametrize("ids,words", [
    ([0, 4], r"embedding.*ids must lie in \[0, 4\)"),
    ([0.0, 1.0], r"embedding.*ids must be integers"),
])
def test_embedding_bad_ids_raise_an_error_naming_the_op(ids, words):
    with pytest.raises(OpCallError, match=words):
        gl.embedding(gl.tensor(np.zeros((4, 3))), np.array(ids))


# -- dropout -----------------------------------------------------------------------------------


def test_dropout_keeps_about_1_minus_p_scaled_and_the_seed_fixes_the_mask():
    x = gl.tensor(np.ones(10_000), requires_grad=True)
    out = gl.dropout(x, 0.3, seed=5)
    kept = out.data != 0
    assert abs(kept.mean() - 0.7) < 0.02
    np.testing.assert_allclose(out.data[kept], 1 / 0.7)
    np.testing.assert_array_equal(gl.dropout(x, 0.3, seed=5).data, out.data)
    assert not np.array_equal(gl.dropout(x, 0.3, seed=6).data, out.data)
    gl.sum(out).backward()
    np.testing.assert_array_equal(x.grad, out.data)


def test_dropout_with_p_0_is_the_identity_and_with_p_1_all_zeros():
    x = rng.normal(size=(3, 4))
    np.testing.assert_array_equal(gl.dropout(gl.tensor(x), 0.0).data, x)
    np.testing.assert_array_equal(gl.dropout(gl.tensor(x), 1.0).data, np.zeros((3, 4)))


def test_dropout_p_outside_0_1_is_an_error_naming_the_op():
    with pytest.raises(OpCallError, match=r"dropout.*p must be a probability in \[0, 1\]"):
        gl.dropout(gl.tensor(np.ones(3)), 1.5)
