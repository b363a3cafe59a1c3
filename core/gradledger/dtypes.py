"""dtype settings: the default float dtype, and what an op that mixes float dtypes does.

- `gl.set_default_dtype(np.float32)`: Python floats given to `gl.tensor` and the
  factories' defaults (`gl.zeros`, `gl.randn`, ...) become float32. numpy arrays keep
  their own dtype, as `torch.tensor(array)` keeps it.
- `gl.set_mixed_dtypes("warn" | "error" | "ignore")`: what happens when a recorded op
  computes in float64 while one of its inputs that requires grad is float32 or float16
  (a float32 model fed float64 data computes in float64). "warn" (the default) warns
  once per op and dtype pair; "error" raises at the call, as PyTorch does.
  `with gl.mixed_dtypes(...)` sets it for a block.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np

from .errors import OpCallError, describe_op
from .grad_mode import rule_running

__all__ = ["float16", "float32", "float64", "get_default_dtype", "get_mixed_dtypes",
           "mixed_dtypes", "set_default_dtype", "set_mixed_dtypes"]

float16 = np.float16
float32 = np.float32
float64 = np.float64

_DEFAULTS = (np.dtype(np.float32), np.dtype(np.float64))
_ACTIONS = ("warn", "error", "ignore")

FLOAT64 = np.dtype(np.float64)
"""The dtype a widening call computes in: the tape checks only calls whose output has it."""

default = np.dtype(np.float64)
"""The default float dtype (read by gl.tensor and the factories)."""

mixed = "warn"
"""What a recorded op that widens a float input requiring grad does (see set_mixed_dtypes)."""

watching = False
"""Whether a float tensor narrower than float64 that requires grad was ever made: until
then no op can widen one, and the tape skips the check (it costs nothing on float64)."""

_warned: set = set()


def set_default_dtype(dtype) -> None:
    """Make `dtype` (float32 or float64) the dtype of Python floats given to `gl.tensor`
    and of the factories' results when no `dtype=` is given, as `torch.set_default_dtype`."""
    global default, watching
    dtype = np.dtype(dtype)
    if dtype not in _DEFAULTS:
        raise TypeError(f"gl.set_default_dtype expected np.float32 or np.float64 "
                        f"(gl.float32, gl.float64); got {dtype}")
    default = dtype
    watching = watching or dtype != np.float64


def get_default_dtype() -> np.dtype:
    """The default float dtype: float64 unless `gl.set_default_dtype` said otherwise."""
    return default


def set_mixed_dtypes(action: str) -> None:
    """What a recorded op does when it computes in float64 while one of its inputs that
    requires grad is float32 or float16: "warn" (once per op and dtype pair, the default),
    "error" (raise at the call, as PyTorch does), or "ignore"."""
    global mixed
    if action not in _ACTIONS:
        raise ValueError(f"gl.set_mixed_dtypes expected one of {', '.join(map(repr, _ACTIONS))}; "
                         f"got {action!r}")
    mixed = action


@contextmanager
def mixed_dtypes(action: str) -> Iterator[None]:
    """`with gl.mixed_dtypes("ignore"):` — `set_mixed_dtypes(action)` for the block only
    (a process-wide setting, as the default dtype is)."""
    previous = mixed
    set_mixed_dtypes(action)
    try:
        yield
    finally:
        set_mixed_dtypes(previous)


def get_mixed_dtypes() -> str:
    """The current action for mixed float dtypes: "warn", "error" or "ignore"."""
    return mixed


def watch(dtype) -> None:
    """Note a float tensor that requires grad: one narrower than float64 turns the check on."""
    global watching
    if not watching and dtype.kind == "f" and dtype.itemsize < 8:
        watching = True


def check_widening(op, arrays, parents, out, params) -> None:
    """Called by the tape for a recorded call with a float64 output while `watching`: warn
    (or raise) when an input that requires grad is a narrower float (float32, float16).
    It only compares dtypes (builtin dtypes are singletons) and leaves the rest to
    `_widened`."""
    wide = out.dtype
    for array, parent in zip(arrays, parents):  # noqa: B905 (one parent per input)
        if parent is not None and array.dtype is not wide:
            _widened(op, arrays, parents, wide, params)
            return


def _widened(op, arrays, parents, wide, params) -> None:
    """The dtypes differ: warn or raise if a float input requiring grad was widened. A cast
    asked for by a `dtype` param (astype) is what the user meant, and passes; so do the
    calls an op's rule makes (create_graph=True), whose dtypes the op's contract and
    verifier govern."""
    if mixed == "ignore" or "dtype" in params or rule_running() is not None:
        return
    for array, parent in zip(arrays, parents):  # noqa: B905 (one parent per input)
        if parent is None:
            continue
        narrow = array.dtype
        if narrow == wide or narrow.kind != "f" or narrow.itemsize >= wide.itemsize:
            continue
        others = sorted({str(np.result_type(a)) for a in arrays} - {str(narrow)})
        message = (
            f"{describe_op(op)} mixed a {narrow} input that requires grad with "
            f"{', '.join(others) or wide} input(s), and computed in {wide}: a {narrow} model "
            f"fed {wide} data trains in {wide} without a word. Cast the data "
            f"(x.astype(np.{narrow})), or make the model {wide}; "
            "gl.set_mixed_dtypes('error') raises here, 'ignore' allows it."
        )
        if mixed == "error":
            raise OpCallError(message)
        key = (op.name, str(narrow), str(wide))
        if key not in _warned:
            _warned.add(key)
            warnings.warn(message, UserWarning, stacklevel=_user_stacklevel())
        return


def _user_stacklevel() -> int:
    """The stacklevel of the first caller outside gradledger, for a warning that points
    at the user's line."""
    frame, level = sys._getframe(1), 1
    while frame is not None and frame.f_globals.get("__name__", "").startswith("gradledger"):
        frame, level = frame.f_back, level + 1
    return level
