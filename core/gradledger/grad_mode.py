"""Whether ops are recorded: on by default, off inside `with no_grad():`, per thread."""

from __future__ import annotations

import threading
from contextlib import contextmanager



class _GradMode(threading.local):
    enabled = True  # a class default: every new thread starts with grad recording on


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
