"""The BatchNorm CNN's speed work keeps PyTorch's semantics: the running statistics moved
from the statistics the op batch_norm saved equal those computed afresh (a call that is
not recorded saves nothing) and the closed forms."""

import gradledger as gl
import numpy as np
import pytest

F = gl.nn.functional
rng = np.random.default_rng(5)


def _moved(x, training_grad: bool):
    bn = gl.nn.BatchNorm2d(3)
    bn.running_mean.data = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    bn.running_var.data = np.array([1.5, 0.25, 3.0], dtype=np.float32)
    bn.to(np.float32)
    if training_grad:
        out = bn(gl.tensor(x))
        assert out._node is not None  # recorded: the op's saved statistics are used
    else:
        with gl.no_grad():
            out = bn(gl.tensor(x))
        assert out._node is None  # not recorded: nothing saved, computed afresh
    return bn.running_mean.data, bn.running_var.data


def test_running_statistics_from_the_ops_saved_values_equal_fresh_ones_and_the_closed_form():
    x = (rng.standard_normal((5, 3, 4, 6)) * 3 + 7).astype(np.float32)
    recorded, fresh = _moved(x, True), _moved(x, False)
    for a, b in zip(recorded, fresh, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    wide = x.astype(np.float64)
    n = 5 * 4 * 6
    mean = wide.mean(axis=(0, 2, 3))
    var = wide.var(axis=(0, 2, 3)) * n / (n - 1)
    np.testing.assert_allclose(recorded[0], 0.9 * np.array([0.5, -1.0, 2.0]) + 0.1 * mean,
                               rtol=2e-7)
    np.testing.assert_allclose(recorded[1], 0.9 * np.array([1.5, 0.25, 3.0]) + 0.1 * var,
                               rtol=2e-7)


def test_the_op_saves_the_float64_mean_and_biased_variance():
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    w = gl.tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    out = gl.batch_norm(gl.tensor(x), w, np.zeros(2, dtype=np.float32))
    mean, var = out._node.saved[2:]
    wide = x.astype(np.float64)
    assert mean.dtype == var.dtype == np.float64
    np.testing.assert_allclose(mean, wide.mean(axis=(0, 2)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(var, wide.var(axis=(0, 2)), rtol=1e-6)


def _windows_grad(x, g, k):
    """max_pool2d's grad by a loop over the k x k windows tiling x: each window's grad
    split evenly among its maxima (none for a window whose max is NaN)."""
    expected = np.zeros(x.shape, dtype=np.result_type(x, g))
    for index in np.ndindex(*g.shape):
        *lead, i, j = index
        window = x[(*lead, slice(i * k, i * k + k), slice(j * k, j * k + k))]
        winners = window == window.max()
        with np.errstate(divide="ignore", invalid="ignore"):
            expected[(*lead, slice(i * k, i * k + k), slice(j * k, j * k + k))] = (
                winners * (g[index] / winners.sum()))
    return expected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("shape", "k"), [((3, 4, 8, 8), 2), ((2, 3, 6, 9), 3), ((5, 4, 4), 2),
                                          ((2, 2, 4, 6), 1)])
def test_max_pool2d_grad_on_tiling_windows_splits_ties_evenly_as_the_windows_loop(shape, k,
                                                                                   dtype):
    x = np.maximum(np.round(rng.standard_normal(shape), 1), 0).astype(dtype)  # many ties
    xt = gl.tensor(x, requires_grad=True)
    out = gl.max_pool2d(xt, k)
    g = rng.standard_normal(out.shape).astype(dtype)
    gl.sum(out * g).backward()
    assert xt.grad.dtype == dtype
    np.testing.assert_array_equal(xt.grad, _windows_grad(x, g, k))


def test_max_pool2d_grad_on_tiling_windows_keeps_nan_and_infinite_windows_as_the_loop():
    x = np.maximum(np.round(rng.standard_normal((2, 3, 4, 4)), 1), 0).astype(np.float32)
    x[0, 0, 0, 0], x[0, 1, 2, 3], x[1, 2, 1, 1] = np.nan, np.inf, -np.inf
    xt = gl.tensor(x, requires_grad=True)
    out = gl.max_pool2d(xt, 2)
    g = rng.standard_normal(out.shape).astype(np.float32)
    with np.errstate(divide="ignore", invalid="ignore"):
        gl.sum(out * g).backward()
    np.testing.assert_array_equal(xt.grad, _windows_grad(x, g, 2))
    assert np.isnan(xt.grad[0, 0, :2, :2]).all()  # the NaN window: no winner


@pytest.mark.parametrize("padding", [0, 1, (2, 0)])
def test_conv2d_input_grad_over_the_whole_batch_equals_the_loop_over_pixels(padding):
    n, c, o, h, w, kh, kw = 3, 4, 5, 6, 7, 3, 2
    x = rng.standard_normal((n, c, h, w))
    k = rng.standard_normal((o, c, kh, kw))
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    xt = gl.tensor(x, requires_grad=True)
    out = gl.conv2d(xt, k, padding=padding)
    u = rng.standard_normal(out.shape)
    gl.sum(out * u).backward()
    expected = np.zeros((n, c, h + 2 * ph, w + 2 * pw))  # each output pixel's reads, back
    for i in range(out.shape[2]):
        for j in range(out.shape[3]):
            expected[:, :, i:i + kh, j:j + kw] += np.einsum("no,ocab->ncab", u[:, :, i, j], k)
    expected = expected[:, :, ph:ph + h, pw:pw + w]
    assert xt.grad.flags.c_contiguous
    np.testing.assert_allclose(xt.grad, expected, rtol=1e-12, atol=1e-12)


def test_conv2d_input_grad_with_an_infinite_kernel_stays_inside_each_image():
    x = rng.standard_normal((2, 2, 4, 4))
    k = rng.standard_normal((2, 2, 3, 3))
    k[1, 0, 0, 0] = np.inf  # reaches input channel 0 only; channel 1's grad stays finite
    xt = gl.tensor(x, requires_grad=True)
    with np.errstate(invalid="ignore"):
        gl.sum(gl.conv2d(xt, k, padding=1)).backward()
    finite = k.copy()
    finite[1, 0] = 0.0
    expected = np.zeros((2, 2, 6, 6))
    for i in range(4):
        for j in range(4):
            expected[:, :, i:i + 3, j:j + 3] += finite.sum(axis=0)
    np.testing.assert_allclose(xt.grad[:, 1], expected[:, 1, 1:5, 1:5], rtol=1e-12)
    assert not np.isfinite(xt.grad[:, 0]).all()


def test_batch_norm_float32_forward_is_the_broadcast_formula():
    x = (rng.standard_normal((6, 5, 3, 4)) * 2 + 1).astype(np.float32)
    w, b = (rng.standard_normal(5).astype(np.float32) for _ in range(2))
    out = gl.batch_norm(gl.tensor(x), w, b)
    wide = x.astype(np.float64)
    n = 6 * 3 * 4
    mean = wide.transpose(1, 0, 2, 3).reshape(5, -1).sum(axis=1) / n
    centred = x - mean.astype(np.float32)[:, None, None]
    var = (centred.astype(np.float64) ** 2).transpose(1, 0, 2, 3).reshape(5, -1).sum(axis=1) / n
    invstd = (1.0 / np.sqrt(var + 1e-5)).astype(np.float32)[:, None, None]
    expected = centred * invstd * w[:, None, None] + b[:, None, None]
    # the sums are blocked (BLAS), so the statistics agree to rounding, not bits
    np.testing.assert_allclose(out.data, expected, rtol=2e-6, atol=2e-6)
    assert out.dtype == np.float32


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_grad_is_out_grad_where_the_output_is_positive_in_its_dtype(dtype):
    x = np.array([[-1.0, 0.0, 2.0, np.nan], [3.0, -0.0, np.inf, -np.inf]], dtype=dtype)
    g = np.array([[5.0, 6.0, np.inf, 7.0], [np.nan, 8.0, -2.0, 9.0]], dtype=dtype)
    xt = gl.tensor(x, requires_grad=True)
    with np.errstate(invalid="ignore"):
        gl.sum(gl.relu(xt) * g).backward()
    assert xt.grad.dtype == dtype
    expected = np.array([[0.0, 0.0, np.inf, 0.0], [np.nan, 0.0, -2.0, 0.0]], dtype=dtype)
    np.testing.assert_array_equal(xt.grad, expected)


def test_batchnorm_in_training_saves_its_input_array_itself_not_a_copy():
    x = gl.tensor(rng.standard_normal((4, 3, 2, 2)).astype(np.float32))
    bn = gl.nn.BatchNorm2d(3).to(np.float32)
    out = bn(x)
    assert out._node.arrays[0] is x.data  # no frozen copy: F.batch_norm held no extra reference
    with pytest.raises(ValueError, match="read-only"):
        x.data[0, 0, 0, 0] = 1.0  # locked instead


@pytest.mark.parametrize(("kernel", "padding"), [((3, 3), 1), ((5, 5), 2), ((2, 3), (0, 1)),
                                                 ((3, 1), (1, 0)), ((1, 5), (0, 2))])
def test_conv2d_of_output_as_wide_as_the_input_is_the_loop_over_pixels(kernel, padding):
    n, c, o, h, w = 2, 3, 4, 5, 6
    x = rng.standard_normal((n, c, h, w))
    x[0, 1, 0, 0], x[1, 2, 4, 5] = np.inf, -np.inf  # edges the shifted runs wrap past
    k = rng.standard_normal((o, c, *kernel))
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])
    p, q = h + 2 * ph - kernel[0] + 1, w + 2 * pw - kernel[1] + 1
    assert q == w
    expected = np.zeros((n, o, p, q))
    for i in range(p):
        for j in range(q):
            window = xp[:, :, i:i + kernel[0], j:j + kernel[1]]
            with np.errstate(invalid="ignore"):
                expected[:, :, i, j] = np.einsum("ncab,ocab->no", window, k)
    bias = rng.standard_normal(o)
    with np.errstate(invalid="ignore"):
        out = gl.conv2d(gl.tensor(x), k, padding=padding)
        out_b = F.conv2d(gl.tensor(x), k, bias, padding=padding)
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(out_b.data, expected + bias[:, None, None], rtol=1e-12,
                               atol=1e-12)


@pytest.mark.parametrize(("kernel", "padding"), [((3, 3), 1), ((5, 5), 2), ((2, 3), (0, 1)),
                                                 ((3, 1), (1, 0)), ((1, 5), (0, 2))])
def test_conv2d_input_grad_of_output_as_wide_as_the_input_is_the_loop_over_pixels(kernel,
                                                                                   padding):
    n, c, o, h, w = 2, 3, 4, 5, 6
    x = rng.standard_normal((n, c, h, w))
    k = rng.standard_normal((o, c, *kernel))
    k[0, 0, 0, 0] = np.inf  # a non-finite kernel: its grads stay in their own windows
    ph, pw = (padding, padding) if isinstance(padding, int) else padding
    xt = gl.tensor(x, requires_grad=True)
    with np.errstate(invalid="ignore"):
        out = gl.conv2d(xt, k, padding=padding)
    u = rng.standard_normal(out.shape)
    u[0, 0] = 0.0  # the infinite kernel meets only zeros from image 0: NaN there, not beyond
    with np.errstate(invalid="ignore"):
        gl.sum(out * u).backward()
        expected = np.zeros((n, c, h + 2 * ph, w + 2 * pw))
        for i in range(out.shape[2]):
            for j in range(out.shape[3]):
                expected[:, :, i:i + kernel[0], j:j + kernel[1]] += np.einsum(
                    "no,ocab->ncab", u[:, :, i, j], k)
    expected = expected[:, :, ph:ph + h, pw:pw + w]
    np.testing.assert_allclose(xt.grad, expected, rtol=1e-12, atol=1e-12)
    assert np.isfinite(xt.grad[:, 1:]).all()  # channel 0 alone meets the infinite kernel


@pytest.mark.parametrize(("width", "kernel", "padding"), [(2, (3, 7), (1, 3)), (1, (1, 9), (0, 4))])
def test_conv2d_with_padding_wider_than_the_image_is_the_loop_over_pixels(width, kernel, padding):
    x = rng.standard_normal((2, 2, 3, width))
    k = rng.standard_normal((3, 2, *kernel))
    xt = gl.tensor(x, requires_grad=True)
    out = gl.conv2d(xt, k, padding=padding)
    u = rng.standard_normal(out.shape)
    gl.sum(out * u).backward()
    (ph, pw), (p, q) = padding, out.shape[2:]
    xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])
    expected_out = np.zeros(out.shape)
    expected_grad = np.zeros(xp.shape)
    for i in range(p):
        for j in range(q):
            window = (slice(None), slice(None), slice(i, i + kernel[0]), slice(j, j + kernel[1]))
            expected_out[:, :, i, j] = np.einsum("ncab,ocab->no", xp[window], k)
            expected_grad[window] += np.einsum("no,ocab->ncab", u[:, :, i, j], k)
    np.testing.assert_allclose(out.data, expected_out, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(xt.grad, expected_grad[:, :, ph:ph + 3, pw:pw + width],
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("images_per_batch", [1, 2, 3])
def test_conv2d_input_grad_made_a_few_images_at_a_time_is_the_loop_over_pixels(
        monkeypatch, images_per_batch):
    from gradledger_builtin import nn as builtin_nn

    n, c, o, h, w = 3, 2, 4, 4, 5
    x = rng.standard_normal((n, c, h, w))
    k = rng.standard_normal((o, c, 3, 3))
    u = rng.standard_normal((n, o, h, w))
    # the windows' grads of one image: kH kW C rows of (H + pH) W, float64
    monkeypatch.setattr(builtin_nn, "_CHUNK_BYTES", images_per_batch * 9 * c * (h + 1) * w * 8)
    xt = gl.tensor(x, requires_grad=True)
    gl.sum(gl.conv2d(xt, k, padding=1) * u).backward()
    expected = np.zeros((n, c, h + 2, w + 2))
    for i in range(h):
        for j in range(w):
            expected[:, :, i:i + 3, j:j + 3] += np.einsum("no,ocab->ncab", u[:, :, i, j], k)
    np.testing.assert_allclose(xt.grad, expected[:, :, 1:1 + h, 1:1 + w], rtol=1e-12,
                               atol=1e-12)


def test_batch_norm_saves_its_input_centred_which_its_rule_scales_per_channel():
    x = (rng.standard_normal((4, 3, 5)) * 2 + 9).astype(np.float32)
    w = gl.tensor(np.array([0.5, -2.0, 3.0], dtype=np.float32), requires_grad=True)
    xt = gl.tensor(x, requires_grad=True)
    out = gl.batch_norm(xt, w, np.zeros(3, dtype=np.float32))
    wide = x.astype(np.float64)
    mean = wide.mean(axis=(0, 2), keepdims=True)
    centred = out._node.saved[0]
    assert centred.dtype == np.float32
    np.testing.assert_allclose(centred, wide - mean, rtol=0, atol=8 * np.finfo(np.float32).eps * 9)
    u = rng.standard_normal(x.shape)
    gl.sum(out * u.astype(np.float32)).backward()
    invstd = 1 / np.sqrt(wide.var(axis=(0, 2), keepdims=True) + 1e-5)
    xhat, g = (wide - mean) * invstd, u * w.data.astype(np.float64)[:, None]
    by_hand = invstd * (g - g.mean(axis=(0, 2), keepdims=True)
                        - xhat * (g * xhat).mean(axis=(0, 2), keepdims=True))
    np.testing.assert_allclose(xt.grad, by_hand, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(w.grad, (u * xhat).sum(axis=(0, 2)), rtol=1e-5, atol=1e-5)
