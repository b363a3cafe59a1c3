"""A gl.Tensor given for an op's param (not an input), and x.mT."""

from __future__ import annotations

import gradledger as gl
import numpy as np
import pytest
from gradledger.errors import OpCallError

X = np.array([0.5, -2.0, 3.0])


def test_a_param_tensor_that_requires_grad_is_refused_naming_op_param_and_the_way_out():
    x = gl.tensor(X, requires_grad=True)
    lo = gl.tensor(np.array(-1.0), requires_grad=True)
    with pytest.raises(OpCallError) as caught:
        gl.clip(x, lo, 2.0)
    message = str(caught.value)
    assert "op 'clip'" in message and "plugin 'builtin'" in message
    assert "param 'a_min'" in message and "a_min=t.detach()" in message
    assert "gl.minimum(gl.maximum(x, lo), hi)" in message


def test_the_spelled_out_clip_gives_the_bounds_their_gradients():
    x = gl.tensor(X, requires_grad=True)
    lo = gl.tensor(np.array(-1.0), requires_grad=True)
    hi = gl.tensor(np.array(2.0), requires_grad=True)
    y = gl.minimum(gl.maximum(x, lo), hi)
    np.testing.assert_array_equal(y.numpy(), [0.5, -1.0, 2.0])
    (y * gl.tensor(np.array([1.0, 10.0, 100.0]))).sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 0.0])
    assert (float(lo.grad), float(hi.grad)) == (10.0, 100.0)


def test_a_param_tensor_without_grad_is_read_as_its_values():
    x = gl.tensor(X, requires_grad=True)
    y = gl.clip(x, gl.tensor(np.array(-1.0)), gl.tensor(np.array([1.0, 1.0, 1.0])))
    np.testing.assert_array_equal(y.numpy(), np.clip(X, -1.0, 1.0))
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 0.0, 0.0])


def test_a_param_tensor_that_requires_grad_is_a_constant_under_no_grad():
    x = gl.tensor(X)
    lo = gl.tensor(np.array(-1.0), requires_grad=True)
    with gl.no_grad():
        y = gl.clip(x, lo, 2.0)
    np.testing.assert_array_equal(y.numpy(), [0.5, -1.0, 2.0])


def test_other_ops_refuse_a_param_tensor_that_requires_grad_too():
    x = gl.tensor(np.ones((2, 3)), requires_grad=True)
    width = gl.tensor(np.array(1.0), requires_grad=True)
    with pytest.raises(OpCallError, match="param 'constant_values'"):
        gl.pad(x, 1, constant_values=width)


def test_mT_swaps_the_last_two_axes_as_numpy_does_and_books_the_swapped_grad():
    a = np.arange(24.0).reshape(2, 3, 4)
    g = np.arange(24.0).reshape(2, 4, 3) - 5
    x = gl.tensor(a, requires_grad=True)
    y = x.mT
    np.testing.assert_array_equal(y.numpy(), a.mT)
    (y * gl.tensor(g)).sum().backward()
    np.testing.assert_array_equal(x.grad, g.mT)


def test_mT_of_a_vector_is_refused_as_numpy_refuses_it():
    with pytest.raises(ValueError, match="at least 2 dimensions"):
        _ = gl.tensor(X).mT
    with pytest.raises(ValueError):
        _ = X.mT
