"""Per-thread modes of the tape: recording (`no_grad`) and anomaly detection."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

_ON = {"1", "true", "yes", "on"}


class _GradMode(threading.local):
    # Class defaults: every new thread starts recording, anomaly detection as the env says.
    enabled = True
    anomaly = os.environ.get("GRADLEDGER_DETECT_ANOMALY", "").strip().lower() in _ON


_state = _GradMode()


def is_grad_enabled() -> bool:
    """True unless this thread is inside `no_grad()`."""
    return _state.enabled


@contextmanager
def no_grad():
    """Record nothing inside the block: results do not require grad (this thread only)."""
    previous = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous


@contextmanager
def enable_grad():
    """Record again inside the block, even within `no_grad()` (this thread only)."""
    previous = is_grad_enabled()
    _state.enabled = True
    try:
        yield
    finally:
        _state.enabled = previous


def is_anomaly_enabled() -> bool:
    """True inside `detect_anomaly()` or with GRADLEDGER_DETECT_ANOMALY=1 (this thread)."""
    return _state.anomaly


@contextmanager
def detect_anomaly(enabled: bool = True):
    """Raise `AnomalyError` at the first NaN or infinity any op's forward or backward
    rule produces inside the block, naming the op, its plugin, the input shapes and
    the line of your code that called the op. It checks every result: slower, for
    debugging. `GRADLEDGER_DETECT_ANOMALY=1` turns it on everywhere.
    """
    previous = _state.anomaly
    _state.anomaly = enabled
    try:
        yield
    finally:
        _state.anomaly = previous
