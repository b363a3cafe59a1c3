"""Reports say exactly what happened: each sub-check's own reference, the failing example's
figures in the table, params written as Python that runs, inputs numbered as constants=
counts them."""

import gradledger as gl
import numpy as np
import pytest
import wrong_ops
from gradledger.verify import FAIL, verify_op
from gradledger.verify.report import source


@pytest.fixture
def wrong(fresh_host):
    gl.register_plugin(wrong_ops)
    return fresh_host


def test_a_contract_failure_row_shows_no_borrowed_figure(wrong):
    report = verify_op("wrong_mutates_input", examples=50)
    assert report.status == FAIL and report.failure.tolerance_fraction is None
    assert report.row()[3] == "-"


def test_a_comparison_failure_row_shows_the_failing_examples_figure(wrong):
    report = verify_op("wrong_factor_two", examples=50)
    assert float(report.row()[3]) == pytest.approx(report.failure.tolerance_fraction, rel=0.1)
    assert report.failure.tolerance_fraction > 1


def test_linearity_names_its_own_reference_not_the_nudge_method(wrong):
    failure = verify_op("wrong_affine_rule", examples=50).failure
    assert failure.check == "linearity"
    assert failure.reference in ("zero (a zero cotangent)",
                                 "twice the grads booked for cotangent u (the same rule)")
    assert "the nudge method" not in "\n".join(failure.lines()[2:])


@pytest.mark.parametrize("value", [
    np.array([0, 0, 2]), (np.array([1, 1]), slice(None, 2, None)), Ellipsis, None,
    (0, None, Ellipsis, slice(1, None, -1)), np.array([[True, False]]), np.float32(0.5),
    [1, 2], {"axis": (0, -1)}, "ij,jk->ik", np.float32, np.dtype("float64")])
def test_a_param_is_written_as_python_that_rebuilds_it(value):
    rebuilt = eval(source(value), {"np": np})
    assert type(rebuilt) is type(value)
    assert repr(rebuilt) == repr(value)


def test_a_param_no_python_can_spell_is_refused_by_name():
    with pytest.raises(ValueError, match="object"):
        source(object())


def test_a_constant_in_a_snippet_says_its_constants_index(fresh_host):
    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op(
                "scale_wrong", lambda s, x: s * x, vjp=lambda g, s, x, out: (None, 2 * g * s),
                signature="(),()->()", constants=(0,)))

    gl.register_plugin(Plugin(), name="by_hand")
    failure = verify_op("scale_wrong", examples=50).failure
    assert "x1 = " in failure.snippet and "# a constant (constants= index 0)" in failure.snippet
    assert "input x2" in failure.message or failure.worst.input == 2


def test_a_failures_json_keeps_the_imaginary_part_of_complex_inputs_and_grads():
    import json

    from gradledger.verify.report import Failure

    x = np.array([1.5 + 2.0j, -0.25 - 1.0j])
    failure = Failure("complex real", "wrong", inputs={"x1": x}, numeric=x * 2j,
                      analytic=np.array([np.inf + 1j, 0.0]))
    data = json.loads(json.dumps(failure.to_dict()))
    assert data["inputs"]["x1"] == {"real": [1.5, -0.25], "imag": [2.0, -1.0]}
    assert data["numeric"] == {"real": [-4.0, 2.0], "imag": [3.0, -0.5]}
    assert data["analytic"] == {"real": ["inf", 0.0], "imag": [1.0, 0.0]}
