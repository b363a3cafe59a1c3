"""Examples drawn twice: a key that says two examples are the same check.

Hypothesis draws an example from a sequence of choices, and different sequences can spell
the same example (a seed that only a large example reads, the bytes of a side taken modulo
the largest side, its own mutations of earlier examples). About a quarter of the examples
of a default run of the built-ins are repeats of an earlier one: the same inputs, params,
dtype and seed. Every sub-check is a function of those (the cotangents and directions come
from the example's seed, a Generator param is replayed from its drawn state), so checking
a repeat of a passing example again tells nothing new. The engine skips such repeats and
counts them (`OpReport.repeats`); a repeat of an example that failed or was discarded is
checked again, as hypothesis's shrinker and its replay of the failure expect.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle

import numpy as np

from ..tensor import Tensor

__all__ = ["example_key"]


class _Unkeyable(Exception):
    """A value whose content cannot be written down: the example is always checked."""


def example_key(example) -> bytes | None:
    """A digest of everything the checks read from `example` (a `sampling.Example`): its
    arrays' dtypes, shapes, strides and bytes, and every other field pickled. None when
    some value cannot be pickled, or is an object array (whose bytes are addresses): such
    an example is never taken for a repeat."""
    digest = hashlib.blake2b(digest_size=20)
    try:
        for f in dataclasses.fields(example):
            if f.name == "notes":
                continue
            digest.update(f.name.encode())
            _feed(digest, getattr(example, f.name))
    except _Unkeyable:
        return None
    return digest.digest()


def _feed(digest, value) -> None:
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise _Unkeyable
        digest.update(repr((value.dtype.str, value.shape, value.strides)).encode())
        digest.update(value.tobytes())
        return
    if isinstance(value, (list, tuple)):
        digest.update(b"(%d:" % len(value) if isinstance(value, tuple) else b"[%d:" % len(value))
        for item in value:
            _feed(digest, item)
        return
    if isinstance(value, Tensor):  # a Tensor among the inputs or params
        digest.update(b"T%d" % bool(value.requires_grad))
        _feed(digest, np.asarray(value.data))
        return
    try:
        digest.update(pickle.dumps(value, protocol=5))
    except Exception as error:  # a lambda, a generator, an open file: never a repeat
        raise _Unkeyable from error
