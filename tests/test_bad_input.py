"""Bad input to the public API: a clear error saying what was expected and what came."""

import gradledger as gl
import numpy as np
import pytest


@pytest.mark.parametrize("value,came", [
    ("abc", "dtype <U3"),
    ([object(), object()], "dtype object"),
    ([[1.0, 2.0], [3.0]], "rectangular"),
    (1 + 2j, "dtype complex128"),
    (np.array([1 + 1j]), "dtype complex128"),
    (None, "dtype object"),
])
def test_tensor_of_non_real_or_ragged_data_says_what_it_expected(value, came):
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


def test_forward_rule_that_raises_for_other_reasons_names_the_op_and_params():
    x = gl.tensor(np.ones((2, 3)))
    expected = r"op 'reshape'.*forward rule raised.*params \{'shape': \(4, 4\)\}"
    with pytest.raises(gl.OpRuleError, match=expected):
        gl.reshape(x, shape=(4, 4))
