"""How a Tensor's repr writes numbers: as Python prints them, aligned as numpy aligns them."""

from __future__ import annotations

import numpy as np

__all__ = ["show_array", "show_number"]


def show_number(value) -> str:
    """A number as Python prints it (5.0, 0.1, 1e-07), at most 8 significant digits."""
    if isinstance(value, (bool, np.bool_)):
        return str(bool(value))
    if isinstance(value, (np.integer, int)):
        return str(int(value))
    if isinstance(value, (np.complexfloating, complex)):
        return repr(complex(value))
    text = repr(float(value))
    if len(text) > 10:
        text = f"{float(value):.8g}"
        if not any(c in text for c in ".enai"):
            text += ".0"
    return text


def show_array(value, prefix: str) -> str:
    """numpy's layout (brackets, `...` for big arrays, continuation rows indented under
    `prefix`), with every number as `show_number` writes it, right-aligned."""
    array = np.asarray(value)
    if array.ndim == 0:
        return show_number(array[()])
    if array.dtype.kind not in "biufc":
        return np.array2string(array, separator=", ", prefix=prefix, threshold=20)
    sample = array.ravel() if array.size <= 10_000 else np.concatenate(
        [array.ravel()[:1000], array.ravel()[-1000:]])
    width = max((len(show_number(v)) for v in sample), default=0)
    return np.array2string(
        array, separator=", ", prefix=prefix, threshold=20,
        formatter={"all": lambda v: show_number(v).rjust(width)},
    )
