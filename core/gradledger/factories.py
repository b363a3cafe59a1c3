"""Factories: new leaf tensors from shapes, as numpy makes arrays (`gl.zeros`, `gl.randn`, ...).

Each takes `dtype=` (default float64, as numpy's own default, or the dtype
`gl.set_default_dtype` chose; `arange` and `full` follow numpy's inference from their
arguments, a float result taking the default) and `requires_grad=`; the random ones take
`rng=`, an int seed or a `np.random.Generator` (default: the global generator,
`gl.default_generator`, seeded by `gl.manual_seed`).
"""

from __future__ import annotations

import numpy as np

from . import dtypes as _dtypes
from .random import resolve
from .tensor import Tensor

__all__ = ["arange", "eye", "full", "ones", "ones_like", "rand", "randn", "zeros", "zeros_like"]


def _leaf(array, requires_grad: bool, dtype=None) -> Tensor:
    """A new leaf; a float64 array made without `dtype=` takes the default float dtype."""
    if dtype is None and array.dtype == np.float64 and _dtypes.default != np.float64:
        array = array.astype(_dtypes.default)
    return Tensor(array, requires_grad=requires_grad)


def _shape(shape) -> tuple:
    """`zeros(2, 3)` and `zeros((2, 3))` alike, as PyTorch takes them."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        return tuple(shape[0])
    return tuple(shape)


def _like(t) -> tuple:
    data = t.data if isinstance(t, Tensor) else np.asarray(t)
    return np.shape(data), np.asarray(data).dtype


def zeros(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of zeros: `gl.zeros(2, 3)` or `gl.zeros((2, 3))`."""
    return _leaf(np.zeros(_shape(shape), dtype=dtype), requires_grad, dtype)


def ones(*shape, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of ones: `gl.ones(2, 3)` or `gl.ones((2, 3))`."""
    return _leaf(np.ones(_shape(shape), dtype=dtype), requires_grad, dtype)


def full(shape, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    """A tensor of `shape` filled with `fill_value` (numpy's dtype inference)."""
    return _leaf(np.full(shape, fill_value, dtype=dtype), requires_grad, dtype)


def zeros_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    """Zeros of `t`'s shape and (unless given) dtype."""
    shape, own = _like(t)
    return _leaf(np.zeros(shape, dtype=dtype or own), requires_grad)


def ones_like(t, dtype=None, requires_grad: bool = False) -> Tensor:
    """Ones of `t`'s shape and (unless given) dtype."""
    shape, own = _like(t)
    return _leaf(np.ones(shape, dtype=dtype or own), requires_grad)


def arange(*args, dtype=None, requires_grad: bool = False) -> Tensor:
    """`np.arange(start, stop, step)` as a tensor (integers for integer arguments)."""
    return _leaf(np.arange(*args, dtype=dtype), requires_grad, dtype)


def eye(n: int, m: int | None = None, k: int = 0, dtype=None,
        requires_grad: bool = False) -> Tensor:
    """The n×m identity (ones on diagonal k)."""
    return _leaf(np.eye(n, m, k, dtype=dtype), requires_grad, dtype)


def _generator(rng) -> np.random.Generator:
    return resolve(rng, "rng")


def rand(*shape, dtype=None, requires_grad: bool = False, rng=None) -> Tensor:
    """Uniform numbers in [0, 1): `gl.rand(2, 3, rng=0)`."""
    array = _generator(rng).random(_shape(shape))
    return _leaf(array.astype(dtype or _dtypes.default, copy=False), requires_grad)


def randn(*shape, dtype=None, requires_grad: bool = False, rng=None) -> Tensor:
    """Standard normal numbers: `gl.randn(2, 3, rng=0)`."""
    array = _generator(rng).standard_normal(_shape(shape))
    return _leaf(array.astype(dtype or _dtypes.default, copy=False), requires_grad)
