"""Bugs the verifier's new call variants and moving second order found in built-ins."""

import gradledger as gl
import numpy as np
import pytest


def test_cross_entropy_of_transposed_logits_is_that_of_their_copy():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((3, 4, 2))
    labels = rng.integers(0, 3, size=(2, 4))
    plain = gl.tensor(np.ascontiguousarray(logits.T), requires_grad=True)
    viewed = gl.tensor(logits, requires_grad=True)
    a = gl.cross_entropy(plain, labels)
    b = gl.cross_entropy(viewed.T, labels)
    a.backward()
    b.backward()
    assert a.item() == b.item()
    np.testing.assert_array_equal(plain.grad, viewed.grad.T)


def test_pow_exponent_grad_of_the_base_grad_at_exponent_zero_is_one_over_x():
    x = gl.tensor(2.0, requires_grad=True)
    p = gl.tensor(0.0, requires_grad=True)
    (dx,) = gl.grad(x ** p, [x], create_graph=True)
    (dxdp,) = gl.grad(dx, [p])
    # d/dp (p x ** (p - 1)) = x ** (p - 1) (1 + p log x) = 1/2 at x = 2, p = 0
    assert dxdp == 0.5


def test_xlogy_grad_in_y_keeps_its_derivative_in_x_at_x_zero():
    pytest.importorskip("scipy", reason="xlogy is registered with scipy (gradledger[special])")
    x = gl.tensor(0.0, requires_grad=True)
    y = gl.tensor(2.0, requires_grad=True)
    (dy,) = gl.grad(gl.xlogy(x, y), [y], create_graph=True)
    (dydx,) = gl.grad(dy, [x])
    assert dydx == 0.5  # d/dx (x / y) = 1 / y
