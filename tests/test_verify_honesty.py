"""The verifier's honesty test: it fails every deliberately wrong op in tests/wrong_ops.py,
with a shrunk counterexample whose snippet reproduces the wrong grads, and it passes
every built-in op (tests/test_verify_builtins.py)."""

import contextlib
import io

import gradledger as gl
import numpy as np
import pytest
import wrong_ops
from gradledger.verify import FAIL, verify_op

# op -> (the sub-checks allowed to catch it, at most this many numbers in the shrunk inputs)
CAUGHT_BY = {
    "wrong_factor_two": ({"directional", "jacobian"}, 1),
    "wrong_sign": ({"directional", "jacobian"}, 1),
    "wrong_matmul_transpose": ({"grad contract", "directional", "jacobian"}, 4),
    "wrong_broadcast_reduction": ({"directional", "jacobian"}, 4),
    # at a = b = 0 its grads are right (b's is g * a = 0) but its Hessian is not symmetric
    "wrong_forgets_input": ({"directional", "jacobian", "accumulation", "symmetry"}, 2),
    "wrong_square_only": ({"directional", "jacobian"}, 3),
    "wrong_for_negatives": ({"directional", "jacobian"}, 1),
    "wrong_one_axis": ({"grad contract", "directional", "jacobian"}, 4),
    "wrong_affine_rule": ({"linearity"}, 1),
    "wrong_mutates_cotangent": ({"grad contract", "accumulation"}, 2),
    "wrong_mutates_input": ({"forward"}, 2),
    "wrong_negative_axes": ({"grad contract", "directional", "jacobian"}, 4),
}


@pytest.fixture
def wrong(fresh_host):
    gl.register_plugin(wrong_ops)
    return fresh_host


@pytest.fixture(scope="module")
def reports():
    """Every wrong op verified once (200 examples, ci profile), by name."""
    from gradledger.loader import host

    host.reset()
    gl.register_plugin(wrong_ops)
    try:
        return {op.name: verify_op(op.name, examples=200) for op in wrong_ops.WRONG_OPS}
    finally:
        host.reset()


def test_every_wrong_op_is_listed():
    assert {op.name for op in wrong_ops.WRONG_OPS} == set(CAUGHT_BY)


@pytest.mark.parametrize("name", sorted(CAUGHT_BY))
def test_wrong_op_fails_with_a_shrunk_counterexample(reports, name):
    checks, most_numbers = CAUGHT_BY[name]
    report = reports[name]
    assert report.status == FAIL, str(report)
    failure = report.failure
    assert failure.check in checks, str(report)
    numbers = sum(np.size(a) for a in failure.inputs.values())
    assert numbers <= most_numbers, f"not shrunk: {failure.inputs}"
    assert report.plugin == "wrong_ops" and name in str(report)
    assert "reproduce" in str(report)
    assert all(line in str(report) for line in failure.snippet.splitlines())


@pytest.mark.parametrize("name", sorted(set(CAUGHT_BY) - {"wrong_mutates_input"}))
def test_snippet_reproduces_the_booked_grads(reports, wrong, name):
    failure = reports[name].failure
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()):
        try:
            exec(failure.snippet, namespace)
        except gl.OpRuleError as error:  # the rule itself breaks the core's contract
            assert failure.check == "grad contract" and str(error) in failure.message
            return
    if failure.worst is not None:
        grad = namespace[f"x{failure.worst.input}"].grad
        booked = np.zeros(np.shape(failure.inputs[f"x{failure.worst.input}"])) if grad is None \
            else np.asarray(grad)
        assert booked[failure.worst.index] == pytest.approx(failure.worst.analytic)
        assert abs(failure.worst.numeric - failure.worst.analytic) > failure.tolerance


def test_wrong_for_negatives_shrinks_to_a_negative_input(reports):
    failure = reports["wrong_for_negatives"].failure
    assert np.all(failure.inputs["x1"] < 0)


def test_square_only_rule_is_caught_on_a_non_square_matrix(reports):
    (x,) = reports["wrong_square_only"].failure.inputs.values()
    assert np.shape(x)[-1] != np.shape(x)[-2]


def test_one_axis_rule_is_caught_on_that_axis(reports):
    assert reports["wrong_one_axis"].failure.params == {"axis": 1}


def test_broadcast_reduction_is_caught_where_shapes_broadcast(reports):
    a, b = reports["wrong_broadcast_reduction"].failure.inputs.values()
    assert np.shape(a) != np.shape(b)


def test_report_names_worst_element_and_errors(reports):
    failure = reports["wrong_factor_two"].failure
    assert failure.worst.analytic == pytest.approx(2 * failure.worst.numeric)
    assert failure.max_rel_error == pytest.approx(0.5, rel=1e-3)
    assert failure.max_abs_error > 0 and failure.tolerance < 1e-5


@pytest.mark.parametrize("name", sorted(CAUGHT_BY))
def test_every_wrong_ops_snippet_shows_its_failure_when_pasted(reports, wrong, name):
    """Issue 18, point 6: the pasted snippet shows the very failure reported."""
    from wrong_ops_snippets import shows_the_failure

    failure = reports[name].failure
    if failure.check == "forward" and "in place" in failure.message:
        namespace = {}
        with contextlib.redirect_stdout(io.StringIO()):
            exec(failure.snippet, namespace)
        before = failure.inputs["x1"]
        assert not np.array_equal(np.asarray(namespace["x1"].data), before)
        return
    if failure.check in ("grad contract", "accumulation", "linearity") and failure.worst is None:
        with pytest.raises(Exception), contextlib.redirect_stdout(io.StringIO()):  # noqa: B017
            exec(failure.snippet, {})
        return
    shows_the_failure(failure)
