"""The seed's numbers (shared/seed/backprop-as-sensitivity-accounting.txt), booked by gradledger."""

import gradledger as gl
import numpy as np
import pytest


def test_x_times_x_at_5_books_grad_10():
    x = gl.tensor(5.0, requires_grad=True)
    loss = x * x
    assert loss.item() == 25.0
    loss.backward()
    assert x.grad == 10.0


def test_nudge_ratio_at_5_is_about_10_like_backward():
    f = lambda v: v * v  # noqa: E731
    ratio = (f(5.01) - f(5.0)) / 0.01
    assert ratio == pytest.approx(10.01)
    x = gl.tensor(5.0, requires_grad=True)
    (x * x).backward()
    assert abs(ratio - x.grad) < 0.02


def test_chain_a_is_x_times_3_loss_a_times_a_books_12_and_36():
    x = gl.tensor(2.0, requires_grad=True)
    a = x * 3
    loss = a * a
    assert (a.item(), loss.item()) == (6.0, 36.0)
    loss.backward()
    assert loss.grad == 1.0
    assert a.grad == 12.0
    assert x.grad == 36.0


def test_y_is_x_plus_x_accumulates_both_paths_to_2():
    x = gl.tensor(3.0, requires_grad=True)
    y = x + x
    y.backward()
    assert x.grad == 2.0


def test_two_backward_calls_accumulate_and_zero_grad_clears_the_ledger():
    x = gl.tensor(5.0, requires_grad=True)
    (x * x).backward()
    (x * x).backward()
    assert x.grad == 20.0
    x.zero_grad()
    assert x.grad is None
    (x * x).backward()
    assert x.grad == 10.0
    gl.zero_grad(x)
    assert x.grad is None


def test_stepping_against_the_grad_lowers_the_loss():
    w = gl.tensor(5.0, requires_grad=True)
    loss = w * w
    loss.backward()
    w.data = w.data - 0.1 * w.grad
    w.grad = None
    assert (w * w).item() < loss.item()


def test_grad_has_the_shape_and_dtype_of_data():
    x = gl.tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    gl.sum(x * x).backward()
    assert x.grad.shape == (2, 3) and x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, 2 * x.data)
