"""Per-thread modes of the tape: recording (`no_grad`) and anomaly detection.

Each mode lives in a thread-local, but reading a thread-local costs the tape about as
much as the rest of recording a scalar op. So `plain` says, for every thread at once,
whether any thread may be in an unusual mode: it is True while no thread is inside
`no_grad()`, `enable_grad()` or `detect_anomaly()` (and GRADLEDGER_DETECT_ANOMALY is
off). While it is True, every thread records with anomaly detection off, so the tape
reads that without touching the thread-local; only when it is False does the tape ask
this thread's own state (`modes()`).

Why that is safe: a context manager counts itself in BEFORE it changes its thread's
state and counts itself out AFTER it restored it, so whenever some thread's state differs
from the defaults the count is above zero and `plain` is False.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

_ON = {"1", "true", "yes", "on"}
_ANOMALY_FROM_ENV = os.environ.get("GRADLEDGER_DETECT_ANOMALY", "").strip().lower() in _ON


class _GradMode(threading.local):
    # Class defaults: every new thread starts recording, anomaly detection as the env says,
    # and no op's rule running on Tensors.
    enabled = True
    anomaly = _ANOMALY_FROM_ENV
    rule = None
    depth = 0  # how many of the count's mode blocks this thread has open


_state = _GradMode()
_count_lock = threading.Lock()
_inside = 0  # how many mode blocks (in any thread) are open right now

plain = not _ANOMALY_FROM_ENV
"""True while every thread records with anomaly detection off (see the module's doc)."""


def _enter() -> None:
    global _inside, plain
    with _count_lock:
        _inside += 1
        _state.depth += 1  # with the count, before a KeyboardInterrupt can land between
        plain = False


def _leave(depth: int) -> None:
    """Count out a block that counted itself in: this thread's depth is above `depth`,
    what it was before the block (an interrupt may have landed before `_enter` ran)."""
    global _inside, plain
    with _count_lock:
        if _state.depth > depth:
            _state.depth -= 1
            _inside -= 1
        plain = _inside == 0 and not _ANOMALY_FROM_ENV


def modes() -> tuple[bool, bool]:
    """(recording, anomaly detection) of this thread."""
    if plain:
        return True, False
    state = _state
    return state.enabled, state.anomaly


def is_grad_enabled() -> bool:
    """True unless this thread is inside `no_grad()`."""
    return _state.enabled


@contextmanager
def _mode(name: str, value: bool):
    # The count and the state change inside `try`: a KeyboardInterrupt at any point
    # restores both. `_leave` counts out only what `_enter` counted in (this thread's depth
    # says whether it ran), so an interrupt never leaves the count too high (`plain` False
    # for good, costing speed) nor too low (a wrong mode).
    depth = _state.depth
    previous = getattr(_state, name)
    try:
        _enter()
        setattr(_state, name, value)
        yield
    finally:
        setattr(_state, name, previous)
        _leave(depth)


def no_grad():
    """Record nothing inside the block: results do not require grad (this thread only)."""
    return _mode("enabled", False)


def enable_grad():
    """Record again inside the block, even within `no_grad()` (this thread only)."""
    return _mode("enabled", True)


def is_anomaly_enabled() -> bool:
    """True inside `detect_anomaly()` or with GRADLEDGER_DETECT_ANOMALY=1 (this thread)."""
    return _state.anomaly


def detect_anomaly(enabled: bool = True):
    """Raise `AnomalyError` at the first NaN or infinity any op's forward or backward
    rule produces inside the block, naming the op, its plugin, the input shapes and
    the line of your code that called the op. It checks every result: slower, for
    debugging. `GRADLEDGER_DETECT_ANOMALY=1` turns it on everywhere.
    """
    return _mode("anomaly", enabled)


def rule_running():
    """The op whose rule this thread is running on Tensors (`create_graph=True`), if any:
    Tensor.__array__ refuses to drop such a rule's Tensors to plain arrays."""
    return _state.rule


@contextmanager
def running_rule(op):
    """Mark `op`'s rule as running on Tensors in this thread (see gradledger.recorded)."""
    previous = _state.rule
    try:
        _state.rule = op
        yield
    finally:
        _state.rule = previous
