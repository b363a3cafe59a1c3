"""A tensor's repr reads as a learner expects: numbers as Python prints them, rows
aligned as numpy aligns them, and the grad once backward booked one."""

import gradledger as gl
import numpy as np


def test_a_scalars_repr_shows_its_value_and_grad_like_micrograds_value():
    x = gl.tensor(5.0, requires_grad=True, name="x")
    assert repr(x) == "tensor(5.0, name='x', requires_grad=True)"
    loss = x * x
    loss.backward()
    assert repr(x) == "tensor(5.0, name='x', requires_grad=True, grad=10.0)"
    assert repr(loss) == "tensor(25.0, op='mul', grad=1.0)"


def test_numbers_print_as_python_prints_them_not_as_numpy_scalars():
    text = repr(gl.tensor([0.1, 12.0, -3.5]))
    assert text == "tensor([ 0.1, 12.0, -3.5])"
    assert "np.float64" not in repr(gl.tensor(12.0))
    assert repr(gl.tensor(1 / 3)) == "tensor(0.33333333)"


def test_continuation_rows_line_up_under_the_first():
    m = gl.tensor(np.array([[1.0, -2.5], [30.0, 4.0]]), requires_grad=True)
    gl.sum(m * m).backward()
    assert repr(m) == (
        "tensor([[ 1.0, -2.5],\n"
        "        [30.0,  4.0]], requires_grad=True,\n"
        "       grad=[[ 2.0, -5.0],\n"
        "             [60.0,  8.0]])"
    )


def test_big_arrays_are_summarized_and_other_dtypes_say_so():
    assert "..." in repr(gl.tensor(np.zeros(1000)))
    assert repr(gl.tensor([1.5, 2.0], dtype="float32")) == "tensor([1.5, 2.0], dtype=float32)"
    assert repr(gl.tensor([1, 2])) == "tensor([1, 2])"


def test_verifier_reports_display_as_their_text_and_a_table_not_their_fields():
    report = gl.verify.verify_op("mul", examples=5)
    html = report._repr_html_()
    assert "<th>op</th>" in html and "<td>mul</td>" in html and "<td>PASS</td>" in html
    printed = []

    class Printer:
        def text(self, text):
            printed.append(text)

    report._repr_pretty_(Printer(), False)
    assert printed == [str(report)] and "OpReport(" not in printed[0]
