"""Whether ops are recorded: on by default, off inside `with no_grad():`, per thread."""

from __future__ import annotations

import threading
from contextlib import contextmanager

_state = threading.local()


def is_grad_enabled() -> bool:
    """True unless this thread is inside `no_grad()`."""
    return getattr(_state, "enabled", True)


@contextmanager
def no_grad():
    """Record nothing inside the block: results do not require grad (this thread only)."""
    previous = is_grad_enabled()
    _state.enabled = False
    try:
        yield
    finally:
        _state.enabled = previous
