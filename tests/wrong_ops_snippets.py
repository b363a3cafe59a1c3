"""Paste a failure's snippet and check that it shows the failure (issue 18, point 6).

Used by the wrong-op suites: every wrong op's shrunk counterexample, run as printed,
must book the grad the report says was booked (and not the one expected), or raise as
reported, or show the changed param, the integer output, the moving forward.
"""

import contextlib
import io

import numpy as np
import pytest


def run(snippet: str) -> dict:
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(snippet, namespace)
    return namespace


def shows_the_failure(failure) -> None:
    """Exec `failure.snippet`; assert that what it does is the failure reported."""
    assert "# no snippet" not in failure.snippet, failure.snippet
    if "raised" in failure.message and "nudged point" not in failure.message:
        with pytest.raises(Exception), contextlib.redirect_stdout(io.StringIO()):  # noqa: B017
            exec(failure.snippet, {})
        return
    namespace = run(failure.snippet)
    if "nudged point" in failure.message:  # the snippet's inputs are the nudged point
        assert "raised" in namespace.get("error", ""), failure.snippet
        return
    if failure.check == "params unchanged":
        (name,) = [k for k in failure.params if k in namespace]
        assert not np.array_equal(namespace[name], failure.params[name]), failure.snippet
        return
    if "not floating" in failure.message:
        assert np.asarray(namespace["out"].data).dtype.kind != "f"
        return
    if failure.check == "deterministic":
        assert not np.array_equal(namespace["first"], namespace["second"]), failure.snippet
        return
    if failure.check == "symmetry":
        s_h_w, w_h_s = namespace["s_h_w"], namespace["w_h_s"]
        assert s_h_w == pytest.approx(float(failure.numeric), rel=1e-6, abs=1e-300)
        assert abs(s_h_w - w_h_s) > failure.tolerance, failure.snippet
        return
    if failure.check == "second order":
        got = namespace["hvp"]
        assert got == pytest.approx(float(failure.analytic), rel=1e-6, abs=1e-300)
        assert abs(float(failure.numeric) - got) > failure.tolerance
        return
    worst = failure.worst
    assert worst is not None, f"no element named: {failure}"
    if failure.check == "vs float64" and "output" in failure.message.split("grad")[0]:
        booked = np.asarray(namespace["out"].data)
    else:
        tensor = namespace[f"x{worst.input}"]
        booked = np.zeros(np.shape(tensor.data)) if tensor.grad is None else tensor.grad
    assert np.asarray(booked)[worst.index] == pytest.approx(worst.analytic, rel=1e-6,
                                                           abs=1e-300), failure.snippet
    assert abs(worst.numeric - worst.analytic) > failure.tolerance
