"""The paths a training step takes through cross_entropy and embedding (row maxima from a
transposed copy, row sums by BLAS, one range check over the labels or ids) give the
definitions' numbers and the same errors, for every shape and dtype that reaches them."""

import gradledger as gl
import numpy as np
import pytest
from gradledger.errors import OpCallError

RNG = np.random.default_rng(11)


def reference_cross_entropy(logits, labels):
    """Loss per row and softmax - onehot, in float64 from the definition (shifted by the
    row's maximum only so that exp stays finite)."""
    x = np.asarray(logits, dtype=np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    p = np.exp(shifted) / np.exp(shifted).sum(axis=-1, keepdims=True)
    onehot = np.eye(x.shape[-1])[labels]
    return -np.log(np.sum(p * onehot, axis=-1)), p - onehot


@pytest.mark.parametrize("shape", [(128, 27), (64, 10), (4, 3), (32, 100), (5, 7, 9), (9,)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cross_entropy_and_its_grad_are_the_definitions_in_the_logits_dtype(shape, dtype):
    logits = (RNG.standard_normal(shape) * 3).astype(dtype)
    labels = RNG.integers(0, shape[-1], shape[:-1])
    loss, local = reference_cross_entropy(logits, labels)
    eps = np.finfo(dtype).eps
    for reduction, expected in (("none", loss), ("sum", loss.sum()), ("mean", loss.mean())):
        t = gl.tensor(logits, requires_grad=True)
        out = gl.cross_entropy(t, labels, reduction=reduction)
        assert out.dtype == dtype
        np.testing.assert_allclose(out.data, expected, rtol=64 * eps, atol=64 * eps)
        gl.sum(out).backward()
        assert t.grad.dtype == dtype
        scale = loss.size if reduction == "mean" else 1
        np.testing.assert_allclose(t.grad, local / scale, rtol=0, atol=16 * eps)


def test_cross_entropy_reads_strided_and_transposed_logits_as_their_copy():
    base = RNG.standard_normal((27, 128)).astype(np.float32)
    labels = RNG.integers(0, 27, 128)
    for view in (base.T, base[:, ::2].T, np.asfortranarray(base.T)):
        a = gl.tensor(view, requires_grad=True)
        b = gl.tensor(np.ascontiguousarray(view), requires_grad=True)
        la, lb = gl.cross_entropy(a, labels[:len(view)]), gl.cross_entropy(b, labels[:len(view)])
        assert la.item() == lb.item()
        la.backward()
        lb.backward()
        np.testing.assert_array_equal(a.grad, b.grad)


def test_cross_entropy_keeps_a_confident_rows_precision_in_a_large_batch():
    logits = np.zeros((64, 10))
    logits[:, 3] = 40.0
    loss = gl.cross_entropy(gl.tensor(logits), np.full(64, 3), reduction="none").data
    np.testing.assert_allclose(loss, 9 * np.exp(-40.0), rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.int8, np.int16, np.int64, np.uint8])
@pytest.mark.parametrize("classes", [3, 128, 129, 300])
def test_a_label_out_of_range_is_an_error_for_every_integer_width(dtype, classes):
    logits = gl.tensor(np.zeros((10, classes)))
    info = np.iinfo(dtype)
    for bad in (-1, info.min, classes, info.max):
        if not info.min <= bad <= info.max or 0 <= bad < classes:
            continue
        labels = np.zeros(10, dtype=dtype)
        labels[7] = bad
        with pytest.raises(OpCallError, match=rf"cross_entropy.*labels must lie in \[0, "
                                              rf"{classes}\).*e\.g\. {bad}"):
            gl.cross_entropy(logits, labels)
    good = np.full(10, min(classes - 1, info.max), dtype=dtype)
    assert np.isfinite(gl.cross_entropy(logits, good).item())


def test_embedding_takes_negative_ids_from_the_end_and_refuses_ids_past_either_end():
    weight = RNG.standard_normal((5, 3))
    ids = np.array([[0, -1], [4, -5]])
    np.testing.assert_array_equal(gl.embedding(gl.tensor(weight), ids).data, weight[ids])
    for bad, low, high in (([0, 5], 0, 5), ([-6, 1], -6, 1)):
        with pytest.raises(OpCallError,
                           match=rf"embedding.*ids must lie in \[0, 5\).*got ids from {low} "
                                 rf"to {high}"):
            gl.embedding(gl.tensor(weight), np.array(bad))


def windows_max(x, kernel):
    view = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(-2, -1))
    return np.max(view[..., ::kernel[0], ::kernel[1], :, :], axis=(-2, -1))


@pytest.mark.parametrize("shape, kernel", [((2, 3, 8, 8), (2, 2)), ((2, 9, 6), (3, 3)),
                                           ((3, 6, 4), (3, 2)), ((5, 4), (1, 2)),
                                           ((2, 2, 6, 6), (2, 1)), ((4, 4), (1, 1))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
def test_max_pool2d_over_windows_that_tile_the_input_is_the_windows_max(shape, kernel, dtype):
    x = RNG.integers(-2, 3, shape).astype(dtype)  # ties everywhere
    if dtype != np.int64:
        x.flat[5] = np.nan  # one window's max is NaN, as np.max gives
    out = gl.max_pool2d(gl.tensor(x), kernel)
    assert out.dtype == dtype
    np.testing.assert_array_equal(out.data, windows_max(x, kernel))


@pytest.mark.parametrize("kernel", [(2, 2), (3, 2)])
def test_max_pool2d_over_tiling_windows_splits_each_grad_among_its_tied_maxima(kernel):
    x = RNG.integers(-1, 2, (3, 2, 6, 4)).astype(np.float64)  # many ties
    t = gl.tensor(x, requires_grad=True)
    out = gl.max_pool2d(t, kernel)
    g = RNG.standard_normal(out.shape)
    gl.sum(out * g).backward()
    expected = np.zeros_like(x)
    kh, kw = kernel
    for idx in np.ndindex(out.shape):
        *lead, i, j = idx
        window = x[(*lead, slice(i * kh, i * kh + kh), slice(j * kw, j * kw + kw))]
        won = window == window.max()
        expected[(*lead, slice(i * kh, i * kh + kh), slice(j * kw, j * kw + kw))] = \
            won * g[idx] / won.sum()
    np.testing.assert_allclose(t.grad, expected, rtol=1e-15, atol=0)


def direct_conv(x, w, b, stride, padding):
    """The convolution by its definition, a loop over output pixels, plus the bias."""
    x = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
    n, _, h, wd = x.shape
    o, _, kh, kw = w.shape
    p, q = (h - kh) // stride + 1, (wd - kw) // stride + 1
    out = np.empty((n, o, p, q))
    for i in range(p):
        for j in range(q):
            patch = x[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.einsum("nchw,ochw->no", patch, w)
    return out + b[:, None, None]


@pytest.mark.parametrize("channels, kernel", [(3, (3, 2)), (4, (3, 3))])  # 19, 37 rows
@pytest.mark.parametrize("stride, padding", [(1, 1), (1, 0), (2, 1)])
def test_conv2d_bias_is_the_convolution_plus_the_bias_with_three_grads(stride, padding,
                                                                       channels, kernel):
    x = RNG.standard_normal((2, channels, 6, 5))
    w, b = RNG.standard_normal((4, channels, *kernel)), RNG.standard_normal(4)
    tx, tw, tb = (gl.tensor(a, requires_grad=True) for a in (x, w, b))
    out = gl.conv2d_bias(tx, tw, tb, stride=stride, padding=padding)
    np.testing.assert_allclose(out.data, direct_conv(x, w, b, stride, padding), rtol=1e-12,
                               atol=1e-12)
    probe = RNG.standard_normal(out.shape)
    gl.sum(out * probe).backward()
    # the composite: conv2d, then the bias by a broadcasting add (their rules book these)
    cx, cw, cb = (gl.tensor(a, requires_grad=True) for a in (x, w, b))
    gl.sum((gl.conv2d(cx, cw, stride=stride, padding=padding) + cb.reshape(1, -1, 1, 1))
           * probe).backward()
    for ours, theirs in ((tx, cx), (tw, cw), (tb, cb)):
        np.testing.assert_allclose(ours.grad, theirs.grad, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tb.grad, probe.sum(axis=(0, 2, 3)), rtol=1e-12)


def test_conv2d_bias_differentiates_twice_as_the_composite_does():
    x = RNG.standard_normal((2, 2, 4, 4))
    w, b = RNG.standard_normal((3, 2, 3, 3)), RNG.standard_normal(3)

    def second(fused):
        tx, tw, tb = (gl.tensor(a, requires_grad=True) for a in (x, w, b))
        out = (gl.conv2d_bias(tx, tw, tb, padding=1) if fused
               else gl.conv2d(tx, tw, padding=1) + tb.reshape(1, -1, 1, 1))
        gx, gw, gb = gl.grad(gl.sum(out * out), [tx, tw, tb], create_graph=True)
        (gl.sum(gx * gx) + gl.sum(gw * gw) + gl.sum(gb * gb)).backward()
        return tx.grad, tw.grad, tb.grad, gb.data

    for ours, theirs in zip(second(True), second(False), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-11, atol=1e-11)


def test_conv2d_with_a_bias_is_one_float32_op_and_a_bad_bias_is_an_error_naming_it():
    F = gl.nn.functional
    x = gl.tensor(RNG.standard_normal((2, 1, 5, 5)).astype(np.float32))
    w = gl.tensor(RNG.standard_normal((4, 1, 3, 3)).astype(np.float32), requires_grad=True)
    b = gl.tensor(RNG.standard_normal(4).astype(np.float32), requires_grad=True)
    out = F.conv2d(x, w, b, padding=1)
    assert out.op == "conv2d_bias" and out.dtype == np.float32
    gl.sum(out).backward()
    assert w.grad.dtype == b.grad.dtype == np.float32
    with pytest.raises(OpCallError, match=r"conv2d_bias.*dimension 'o' is 4 in input 2 but 3 "
                                          r"in input 3"):
        gl.conv2d_bias(x, w, np.zeros(3, dtype=np.float32))


@pytest.mark.parametrize("setting", [2.0, (2.0, 2.0), None, (2, 2, 2)])
def test_a_window_setting_that_is_not_ints_is_an_error_even_after_a_good_call(setting):
    x = gl.tensor(np.zeros((1, 1, 4, 4)))
    assert gl.max_pool2d(x, 2).shape == (1, 1, 2, 2)  # the int settings, kept
    with pytest.raises(OpCallError, match="kernel_size must be an int or a pair of ints"):
        gl.max_pool2d(x, setting)
