"""The verifier passes every built-in op, and draws only what each op's hints allow."""

import gradledger as gl
import gradledger_builtin
import numpy as np
import pytest
from gradledger.verify import PASS, UNVERIFIABLE, verify_op
from gradledger.verify.hints import MARGIN
from gradledger.verify.sampling import elements
from hypothesis import given, settings

BUILTINS = sorted(op.name for family in gradledger_builtin.FAMILIES for op in family.OPS
                  if family not in gradledger_builtin.OPTIONAL or family.available())

FORWARD_ONLY = {"argmax", "argmin", "argsort", "equal", "greater", "greater_equal", "isfinite",
                "isinf", "isnan", "less", "less_equal", "logical_and", "logical_not",
                "logical_or", "logical_xor", "not_equal", "signbit",
                "all", "any", "count_nonzero", "argwhere", "flatnonzero", "nanargmax",
                "nanargmin", "argpartition", "searchsorted", "digitize", "isin", "isposinf",
                "isneginf", "isreal", "iscomplex", "matrix_rank"}


@pytest.mark.parametrize("name", BUILTINS)
def test_builtin_op_passes_every_sub_check(fresh_host, name):
    report = verify_op(name)
    assert report.status == PASS, str(report)
    # every example drawn is checked, or is a repeat of one that passed (not checked again)
    assert report.examples + report.repeats == settings().max_examples
    assert report.examples > 0
    assert report.worst_tolerance_fraction < 1.0
    assert (report.scope is not None) == (name in FORWARD_ONLY), str(report)


@given(elements((0.0, None), ()))
def test_values_stay_inside_an_open_domain_by_the_margin(x):
    assert x >= MARGIN


@given(elements((None, None), (0.0, 1.0)))
def test_values_keep_the_margin_from_every_kink(x):
    assert abs(x) >= MARGIN * 0.999 and abs(x - 1.0) >= MARGIN * 0.999


def _register(*ops):
    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            for op in ops:
                registry.register(op)

    gl.register_plugin(Plugin(), name="by_hand")


def test_op_needing_a_param_without_a_hint_is_unverifiable(fresh_host):
    _register(gl.Op("scale_by", lambda x, factor: x * factor,
                    vjp=lambda g, x, out, factor: (g * factor,), signature="(*)->(*)"))
    report = verify_op("scale_by")
    assert report.status == UNVERIFIABLE and "'factor'" in report.reason
    assert not report.ok and "cannot be verified" in str(report)


def test_op_whose_inputs_are_all_constants_is_unverifiable(fresh_host):
    _register(gl.Op("label_count", lambda x: np.float64(np.size(x)),
                    vjp=lambda g, x, out: (None,), signature="(*)->()", constants=(0,)))
    assert verify_op("label_count").status == UNVERIFIABLE


def test_op_whose_sample_hint_raises_is_unverifiable(fresh_host):
    def broken_sample():
        raise RuntimeError("no strategy today")

    _register(gl.Op("twice", lambda x: 2 * x, local_grad=lambda x, out: (2.0,),
                    signature="()->()", sample=broken_sample))
    report = verify_op("twice")
    assert report.status == UNVERIFIABLE and "no strategy today" in report.reason


def test_op_with_a_sample_hint_is_verified_from_it(fresh_host):
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    def positive_pairs():
        values = hnp.arrays(np.float64, (3,), elements=st.floats(1.0, 2.0))
        return st.tuples(values, values).map(lambda pair: (list(pair), {}))

    _register(gl.Op("ratio", np.divide, local_grad=lambda a, b, out: (1 / b, -out / b),
                    signature="(),()->()", sample=positive_pairs))
    assert verify_op("ratio", examples=20).status == PASS
