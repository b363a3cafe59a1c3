"""The fast paths the layers hit (max_pool2d by offset slices, sigmoid and softplus without
logaddexp, cubes by multiplication) give the numbers of the slow definitions."""

import math
import warnings

import gradledger as gl
import numpy as np
import pytest

RNG = np.random.default_rng(7)


def windows_max(x, k, s, p):
    padded = np.pad(x, [(0, 0)] * (x.ndim - 2) + [(p, p), (p, p)], constant_values=-np.inf)
    view = np.lib.stride_tricks.sliding_window_view(padded, (k, k), axis=(-2, -1))
    return np.max(view[..., ::s, ::s, :, :], axis=(-2, -1))


@pytest.mark.parametrize("k, s, p", [(2, 2, 0), (3, 1, 1), (3, 2, 1), (2, 1, 0)])
def test_max_pool2d_is_the_max_over_windows_bit_for_bit_whatever_the_layout(k, s, p):
    for dtype in (np.float32, np.float64):
        x = RNG.integers(-2, 3, (2, 5, 7, 6)).astype(dtype)  # ties everywhere
        channels_last = np.ascontiguousarray(x.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
        for layout in (x, channels_last):
            out = gl.max_pool2d(gl.tensor(layout), k, s, p)
            assert out.dtype == dtype
            np.testing.assert_array_equal(out.data, windows_max(x, k, s, p))


def test_max_pool2d_splits_each_windows_grad_evenly_among_its_tied_maxima():
    x = np.array([[[1.0, 3.0, 3.0], [3.0, 0.0, 2.0], [1.0, 2.0, 2.0]]])
    xt = gl.tensor(x, requires_grad=True)
    out = gl.max_pool2d(xt, 2, 1)  # windows: {1,3,3,0}->3 twice, {3,3,0,2}->3 twice, ...
    g = np.array([[[1.0, 2.0], [4.0, 8.0]]])
    gl.sum(out * g).backward()
    expected = np.zeros_like(x)
    for i in range(2):
        for j in range(2):
            window = x[0, i:i + 2, j:j + 2]
            winners = window == window.max()
            expected[0, i:i + 2, j:j + 2] += winners * g[0, i, j] / winners.sum()
    np.testing.assert_array_equal(xt.grad, expected)


def test_max_pool2d_differentiates_twice():
    x = RNG.permutation(16).reshape(1, 4, 4) * 0.1
    assert gl.verify.gradcheck(lambda v: gl.sum(gl.max_pool2d(v, 2) ** 2), x)
    xt = gl.tensor(x, requires_grad=True)
    (grad,) = gl.grad(gl.sum(gl.max_pool2d(xt, 2) ** 2), xt, create_graph=True)
    (second,) = gl.grad(gl.sum(grad), xt)
    blocks = x[0].reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(2, 2, 4)
    winners = (blocks == blocks.max(axis=-1, keepdims=True)) * 2.0  # d2/dx2 of max^2
    expected = winners.reshape(2, 2, 2, 2).transpose(0, 2, 1, 3).reshape(1, 4, 4)
    np.testing.assert_allclose(np.asarray(second), expected)


def test_sigmoid_keeps_both_tails_and_never_overflows():
    x = np.array([-1000.0, -80.0, -20.0, -1e-9, 0.0, 3.0, 40.0, 1000.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = gl.sigmoid(gl.tensor(x)).data
    expected = [1 / (1 + math.exp(-v)) if v > -700 else 0.0 for v in x]
    np.testing.assert_allclose(out, expected, rtol=2e-16 * 4, atol=0)
    single = gl.sigmoid(gl.tensor(x.astype(np.float32))).data
    assert single.dtype == np.float32
    np.testing.assert_allclose(single, np.array(expected, dtype=np.float32), rtol=3e-7)


def test_softplus_is_logaddexp_of_zero_and_x():
    x = np.concatenate([RNG.standard_normal(50) * 30, [-1000.0, 0.0, 1000.0]])
    np.testing.assert_allclose(gl.softplus(gl.tensor(x)).data, np.logaddexp(0.0, x),
                               rtol=4e-16, atol=0)


def test_cubes_and_fourth_powers_are_multiplications_within_an_ulp_or_two():
    x = RNG.standard_normal(1000) * 5
    for p in (3, 4):
        out = (gl.tensor(x) ** p).data
        np.testing.assert_allclose(out, [v ** p for v in x], rtol=4 * np.finfo(float).eps)
    single = gl.tensor(x.astype(np.float32)) ** 3
    assert single.dtype == np.float32
    np.testing.assert_array_equal((gl.tensor(np.array([2, -3])) ** 3).data, [8, -27])
