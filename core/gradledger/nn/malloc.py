"""glibc's malloc thresholds, raised for training loops (issue 22).

A training step makes many temporaries of 128 KiB to a few MiB (im2col windows,
activations, their grads). glibc serves each from a fresh `mmap` above its mmap
threshold and returns the top of its heap to the system above its trim threshold,
so every step touches new pages: about 2,300 minor page faults per char-GPT step
and 2,800 per BatchNorm-CNN step, 20–45% of the step's time. With both thresholds
raised, freed memory is kept and reused and the faults drop to about 0.

`import gradledger.nn` (the first use of `gl.nn`) calls `tune_malloc()` once, unless
the environment variable GRADLEDGER_MALLOC is `default` (then nothing is changed).
It acts on glibc only (Linux's usual C library); elsewhere it does nothing and says
so by returning False. The price: up to `trim_threshold` bytes of freed memory stay
with the process instead of going back to the system, and allocations up to
`mmap_threshold` come from the heap. `tune_malloc(False)` puts glibc's documented
defaults (128 KiB each) back, fixed (glibc's own sliding threshold is not restored).
"""

from __future__ import annotations

import os
import platform

__all__ = ["tune_malloc"]

_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
_GLIBC_DEFAULT = 128 * 1024
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's largest (DEFAULT_MMAP_THRESHOLD_MAX, 64-bit)
TRIM_THRESHOLD = 64 * 1024 * 1024


def _is_glibc() -> bool:
    """Whether the C library is glibc: its own answer (os.confstr), not
    platform.libc_ver(), which reads the Python binary (about 100 ms)."""
    try:
        return os.confstr("CS_GNU_LIBC_VERSION").startswith("glibc")
    except (AttributeError, ValueError, OSError):  # no confstr, or no such name here
        return False


def _glibc_mallopt():
    """glibc's `mallopt`, or None where the C library is not glibc."""
    if platform.system() != "Linux" or not _is_glibc():
        return None
    import ctypes

    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return None
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return mallopt


def tune_malloc(enable: bool = True, mmap_threshold: int = MMAP_THRESHOLD,
                trim_threshold: int = TRIM_THRESHOLD) -> bool:
    """Raise (or, with enable=False, reset to 128 KiB) glibc's mmap and trim thresholds.

    Returns True when glibc took both settings, False where the C library is not glibc
    or refused a value (nothing is changed then). Process-wide: it affects every
    allocation in the process, numpy's and everyone else's.
    """
    if enable and not (0 < mmap_threshold <= MMAP_THRESHOLD and trim_threshold > 0):
        raise ValueError(
            f"tune_malloc: mmap_threshold must be in (0, {MMAP_THRESHOLD}] (glibc's largest) "
            f"and trim_threshold > 0; got {mmap_threshold} and {trim_threshold}"
        )
    mallopt = _glibc_mallopt()
    if mallopt is None:
        return False
    mmap_value, trim_value = ((mmap_threshold, trim_threshold) if enable
                              else (_GLIBC_DEFAULT, _GLIBC_DEFAULT))
    return bool(mallopt(_M_MMAP_THRESHOLD, mmap_value)) and bool(
        mallopt(_M_TRIM_THRESHOLD, trim_value))


def tune_at_import() -> bool:
    """What `import gradledger.nn` does: tune_malloc() unless GRADLEDGER_MALLOC=default."""
    if os.environ.get("GRADLEDGER_MALLOC", "").strip().lower() == "default":
        return False
    return tune_malloc()
