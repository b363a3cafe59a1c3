"""Modes compose: create_graph records even inside no_grad, and the functional helpers
stay connected to the caller's inputs under create_graph=True (issue 17, items 3 and 5)."""

import gradledger as gl
import numpy as np
import pytest


def cube_sum(x):
    return gl.sum(x ** 3)


def test_grad_with_create_graph_inside_no_grad_records_the_booking_and_differentiates_right():
    x = gl.tensor(0.7, requires_grad=True)
    a = gl.sin(x)
    y = a * a  # y = sin(x)^2: y' = sin(2x), y'' = 2 cos(2x)
    with gl.no_grad():
        (dy,) = gl.grad(y, x, create_graph=True)
    assert dy.requires_grad
    (d2y,) = gl.grad(dy, x)
    np.testing.assert_allclose(d2y.item(), 2 * np.cos(1.4), rtol=1e-12)  # 0.33993...


def test_backward_with_create_graph_inside_no_grad_books_differentiable_grads():
    x = gl.tensor(0.7, requires_grad=True)
    a = gl.sin(x)
    y = a * a
    with gl.no_grad():
        y.backward(create_graph=True)
    (d2y,) = gl.grad(x.grad, x)
    np.testing.assert_allclose(d2y.item(), 2 * np.cos(1.4), rtol=1e-12)


def test_no_grad_still_stops_recording_of_ordinary_ops_after_a_create_graph_pass():
    x = gl.tensor(0.7, requires_grad=True)
    y = gl.sin(x) ** 2
    with gl.no_grad():
        gl.grad(y, x, create_graph=True)
        assert not (x * 2.0).requires_grad


def test_hessian_with_create_graph_is_connected_to_the_callers_input():
    x = gl.tensor([1.0, 1.0], requires_grad=True)
    hessian = gl.hessian(cube_sum, x, create_graph=True)  # diag(6 x)
    (d,) = gl.grad(gl.sum(hessian), x)
    np.testing.assert_allclose(d.data, [6.0, 6.0])


@pytest.mark.parametrize("helper", ["jacobian", "jvp", "vjp"])
def test_jacobian_jvp_and_vjp_with_create_graph_are_connected_to_the_callers_input(helper):
    x = gl.tensor([1.0, 2.0], requires_grad=True)

    def cube(t):
        return t ** 3

    if helper == "jacobian":
        result = gl.jacobian(cube, x, create_graph=True)  # diag(3 x^2)
    else:
        _, result = getattr(gl, helper)(cube, x, np.ones(2), create_graph=True)  # 3 x^2
    (d,) = gl.grad(gl.sum(result), x)
    np.testing.assert_allclose(d.data, [6.0, 12.0])  # 6 x


def test_hvp_with_create_graph_is_connected_to_the_callers_input():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    _, product = gl.hvp(cube_sum, x, np.array([1.0, 0.0]), create_graph=True)  # (6 x0, 0)
    (d,) = gl.grad(gl.sum(product), x)
    np.testing.assert_allclose(d.data, [6.0, 0.0])


def test_functional_helpers_record_func_even_inside_no_grad():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    with gl.no_grad():
        hessian = gl.hessian(cube_sum, x)
    np.testing.assert_allclose(hessian.data, np.diag([6.0, 12.0]))


def test_without_create_graph_the_helpers_results_stay_cut_off():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    hessian = gl.hessian(cube_sum, x)
    assert not hessian.requires_grad
