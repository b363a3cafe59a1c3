"""The complex checks catch a wrong complex rule, and pass its corrected twin.

Each wrong op is a mistake a plugin author makes with complex numbers: a vjp that forgets
the conjugate (right on real inputs, wrong off the real axis), and a rule that is right
in complex128 but loses precision in complex64. Run at the default example count with the
loaded (derandomized) profile.
"""

import gradledger as gl
import numpy as np
import pytest
from gradledger.verify import FAIL, PASS, verify_op

COMPLEX = ("complex128", "complex64", "float64", "float32")


def _exp_vjp_no_conj(g, x, out):
    return (g * out,)  # the convention wants g * conj(d out / dx) = g * conj(out)


def _exp_vjp(g, x, out):
    return (g * np.conj(out),)


def _square_vjp_low(g, x, out):
    grad = g * 2 * np.conj(x)
    if np.asarray(g).dtype == np.complex64:  # a "fast" single-precision path, off by 1%
        grad = grad * np.complex64(1.01)
    return (grad,)


def _square_vjp(g, x, out):
    return (g * 2 * np.conj(x),)


class _Plugin:
    def __init__(self, ops):
        self.ops = ops

    @gl.hookimpl
    def gradledger_register_ops(self, registry):
        for op in self.ops:
            registry.register(op)


def _op(name, forward, vjp):
    return gl.Op(name, forward, vjp=vjp, signature="()->()", dtypes=COMPLEX, doc=name)


@pytest.fixture
def complex_ops(fresh_host):
    gl.register_plugin(_Plugin([
        _op("wrong_exp_no_conj", np.exp, _exp_vjp_no_conj),
        _op("fixed_exp_no_conj", np.exp, _exp_vjp),
        _op("wrong_square_low", np.square, _square_vjp_low),
        _op("fixed_square_low", np.square, _square_vjp),
    ]), name="complex_twins")
    return fresh_host


def test_a_vjp_without_the_conjugate_is_caught_by_the_complex_nudges(complex_ops):
    report = verify_op("wrong_exp_no_conj")
    assert report.status == FAIL, str(report)
    assert report.failure.check in {"real nudge", "imaginary nudge"}, report.failure.check


def test_a_rule_off_only_in_complex64_is_caught_against_complex128(complex_ops):
    report = verify_op("wrong_square_low")
    assert report.status == FAIL, str(report)
    assert report.failure.check == "vs complex128", report.failure.check


@pytest.mark.parametrize("name", ["fixed_exp_no_conj", "fixed_square_low"])
def test_the_corrected_twins_pass_in_both_complex_precisions(complex_ops, name):
    report = verify_op(name)
    assert report.status == PASS, str(report)
    assert {"complex128", "complex64"} <= set(report.dtypes), report.dtypes
