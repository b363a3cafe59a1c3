"""Correct but numerically hard ops (tests/hard_ops.py) pass the verifier: no false alarm
from a float32 FFT's own rounding, a Newton solve near its stiff point, an ill-conditioned
float32 solve, an oscillatory phase, values near overflow, a nearly constant output.

Run at the loaded hypothesis profile (ci here; HYPOTHESIS_PROFILE=thorough for 2,000
examples: benchmarks/verify_hard.py prints each op's closest approach to its tolerance)."""

import gradledger as gl
import hard_ops
import numpy as np
import pytest
from gradledger.verify import PASS, verify_op
from gradledger.verify.numeric import element_scale, per_element

_REPORTS = {}


def hard_report(name: str):
    if name not in _REPORTS:
        from gradledger.loader import host

        host.reset()
        gl.register_plugin(hard_ops.PLUGIN, name="hard")
        try:
            _REPORTS[name] = verify_op(name)
        finally:
            host.reset()
    return _REPORTS[name]


@pytest.mark.parametrize("name", [op.name for op in hard_ops.HARD_OPS])
def test_a_correct_hard_op_passes_in_float64_and_float32(name):
    report = hard_report(name)
    assert report.status == PASS, str(report)
    assert set(report.dtypes) == {"float32", "float64"}, report.dtypes


def test_sinh_and_exp_are_checked_near_overflow_not_discarded_there_in_float64():
    for name in ("hard_sinh", "hard_exp"):
        report = hard_report(name)
        # float32 overflows at 89 and is discarded there; float64 examples are all kept
        assert all("float32" in reason for reason in report.discarded), report.discarded


def test_the_symmetry_check_ran_on_the_hard_ops_that_differentiate():
    for name in ("hard_kepler", "hard_solve", "hard_chirp", "hard_sinh"):
        assert "symmetry" in hard_report(name).closest, name


def test_an_exact_zero_is_nudged_by_its_domain_scale_whatever_its_neighbours():
    for neighbours in (0.0, 1e-8, 3.0, 1e6):
        scale = element_scale(np.array([0.0, neighbours, -neighbours]))
        assert scale[0] == 1e-3
    assert element_scale(np.array([0.0]), bounds=(-2e-4, 1.0))[0] == 2e-4
    assert element_scale(np.array([0.5, 1e-7, 5e-324]))[:2].tolist() == [0.5, 1e-7]
    assert element_scale(np.array([5e-324]))[0] == 1e-290  # a subnormal still moves


def test_keplers_slope_at_an_exact_zero_is_estimated_within_its_bar_near_the_stiff_point():
    # dE/dM = 1 / (1 - e cos E) = 512 at M = 0, e = 1 - 1/512; the function is cubic within
    # 1e-4 of 0. Nudged by a tenth of its neighbours' size (0.14) it read 491 +- 66.
    e = 1 - 1 / 512
    m = np.array([0.0, 1.4 * np.sqrt(2)])
    numeric, bars = per_element(lambda a: hard_ops.kepler(a, np.full(2, e)), [m], 0,
                                np.array([1.0, 0.0]), element_scale(m))
    assert abs(numeric[0] - 512.0) <= bars[0] + 1e-6 * 512
    assert bars[0] < 0.1
