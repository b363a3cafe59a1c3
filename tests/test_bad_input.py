"""Bad input to the public API: a clear error saying what was expected and what came."""

import re
import sys

import gradledger as gl
import numpy as np
import pytest


@pytest.mark.parametrize("value,came", [
    ("abc", "dtype <U3"),
    ([object(), object()], "dtype object"),
    ([[1.0, 2.0], [3.0]], "rectangular"),
    (None, "dtype object"),
])
def test_tensor_of_non_numeric_or_ragged_data_says_what_it_expected(value, came):
    with pytest.raises(TypeError, match="expected") as caught:
        gl.tensor(value)
    assert came in str(caught.value)


def test_requires_grad_on_bool_or_int_names_the_dtype():
    for value, dtype in (([True, False], "bool"), ([1, 2], "int64")):
        with pytest.raises(TypeError, match=f"floating-point dtype; got {dtype}"):
            gl.tensor(value, requires_grad=True)


def test_op_on_a_string_input_names_the_op_and_the_input():
    with pytest.raises(gl.OpCallError, match=r"op 'add'.*input 2: expected a gl.Tensor.*got str"):
        gl.tensor(1.0) + "1"


def test_op_without_any_tensor_input_says_to_wrap_one():
    with pytest.raises(gl.OpCallError, match="without any gl.Tensor input"):
        gl.exp(1.0)


def test_elementwise_shapes_that_do_not_broadcast_show_both_shapes_and_the_signature():
    with pytest.raises(gl.OpCallError, match=r"op 'mul'.*\(2,\), \(3,\).*'\(\),\(\)->\(\)'"):
        gl.tensor([1.0, 2.0]) * gl.tensor([1.0, 2.0, 3.0])


def test_backward_grad_that_is_not_numeric_says_so():
    y = gl.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(gl.BackwardError, match="numeric array"):
        y.backward(["a", "b"])


def test_params_the_forward_rule_rejects_are_blamed_on_the_call_not_the_plugin():
    x = gl.tensor(np.ones((2, 3)))
    expected = r"op 'reshape'.*cannot take params \{'shape': \(4, 4\)\}.*\(2, 3\)"
    with pytest.raises(gl.OpCallError, match=expected):
        gl.reshape(x, shape=(4, 4))
    with pytest.raises(gl.OpCallError, match=r"op 'sum'.*cannot take params \{'axis': 3\}"):
        gl.sum(x, axis=3)


def test_params_an_op_does_not_take_are_refused_at_the_call_listing_its_params():
    x = gl.tensor(np.ones((2, 3)), requires_grad=True)
    expected = r"op 'sum'.*param\(s\) axs.*its params: axis, keepdims"
    with pytest.raises(gl.OpCallError, match=expected):
        gl.sum(x, axs=0)
    with pytest.raises(gl.OpCallError, match=r"op 'mul'.*param\(s\) out"):
        gl.mul(x, x, out=None)
    with pytest.raises(gl.OpCallError, match=r"op 'sum'.*param\(s\) out"):
        np.sum(x, out=np.empty(()))  # numpy's function dispatches to the op, out= and all


def test_a_python_int_too_big_for_an_integer_tensor_names_the_op():
    with pytest.raises(gl.OpCallError, match=r"op 'mul'.*does not fit.*int64"):
        gl.tensor([1, 2]) * 2**70


@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_a_failed_backward_says_which_grads_it_already_booked():
    w = gl.tensor(np.ones(2), requires_grad=True, name="w")
    x = gl.tensor(np.array([0.0, 1.0]), requires_grad=True, name="x")
    loss = gl.sum(gl.log(x)) + gl.sum(w * 3.0)  # the walk reaches w first, then log fails
    with gl.detect_anomaly(), pytest.raises(gl.AnomalyError) as caught:
        loss.backward()
    if sys.version_info >= (3, 11):  # exception notes are new in 3.11
        notes = caught.value.__notes__
        assert any("stopped part-way" in note and re.search(r"[(, ]w[,)]", note) for note in notes)
    with pytest.raises(gl.BackwardError, match="failed part-way"):
        loss.backward()
