"""Anomaly detection: find the first op whose rule made a NaN or an infinity.

Only consulted under `detect_anomaly()`; the tape pays one flag check per call
otherwise.
"""

from __future__ import annotations

import linecache
import os
import sys

import numpy as np

from .errors import AnomalyError, describe_op

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep


def user_frame() -> str:
    """`file:line: code` of the innermost caller outside gradledger's own package."""
    frame = sys._getframe(1)
    while frame is not None and os.path.abspath(frame.f_code.co_filename).startswith(_PACKAGE_DIR):
        frame = frame.f_back
    if frame is None:
        return "(unknown caller)"
    filename, line = frame.f_code.co_filename, frame.f_lineno
    code = linecache.getline(filename, line).strip()
    return f"{filename}:{line}" + (f": {code}" if code else "")


def _non_finite(value) -> str | None:
    """'NaN', 'inf' or None, for a numeric value."""
    array = np.asarray(value)
    if array.dtype.kind not in "fc":
        return None
    if np.isnan(array).any():
        return "NaN"
    if np.isinf(array).any():
        return "inf"
    return None


def _shapes(arrays) -> str:
    return ", ".join(str(np.shape(a)) for a in arrays)


def _inputs_note(arrays) -> str:
    bad = [f"input {i + 1} already holds {kind}" for i, a in enumerate(arrays)
           if (kind := _non_finite(a)) is not None]
    return "; ".join(bad) if bad else "every input was finite"


def check_forward(op, arrays, out) -> None:
    kind = _non_finite(out)
    if kind is not None:
        raise AnomalyError(
            f"anomaly: {describe_op(op)} produced {kind} in its forward rule (input shapes "
            f"{_shapes(arrays)}; {_inputs_note(arrays)}), called at {user_frame()}"
        )


def check_backward(node, out_grad, contributions) -> None:
    op = node.op
    for i, contribution in enumerate(contributions):
        if contribution is None:
            continue
        kind = _non_finite(contribution)
        if kind is not None:
            origin = node.origin or "(a line recorded before detect_anomaly was on)"
            grad_note = _non_finite(out_grad)
            cause = (f"its output's grad already held {grad_note}" if grad_note
                     else "its output's grad was finite")
            raise AnomalyError(
                f"anomaly: {describe_op(op)} produced {kind} in its {op.rule} rule for input "
                f"{i + 1} during backward (input shapes {_shapes(node.arrays)}; {cause}); the "
                f"op was called at {origin}"
            )
