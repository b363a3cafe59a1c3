"""What a recorded call keeps for its rules: the inputs and outputs its op `reads`, and
the values its forward saved (`Op(saves=True)`).

An input or output the op's rules do not read is dropped when the call is recorded and
stands in the rules' arguments as an `Unread`: its shape, dtype, ndim and size are
there (a rule may shape its result after them), any other use raises `UnreadError`
naming the op and what it should have declared.
"""

from __future__ import annotations

import numpy as np

from .errors import OpRuleError, describe_op

_SHAPE_ONLY = frozenset({"shape", "dtype", "ndim", "size"})


class UnreadError(OpRuleError):
    """A rule used the values of an input or output its op did not declare in `reads`."""


class Unread:
    """An input (or output) a recorded call dropped: its shape and dtype, no values."""

    __slots__ = ("op", "which", "shape", "dtype")

    def __init__(self, op, which, value) -> None:
        self.op = op
        self.which = which  # the input's index, or "out"
        if value.__class__ is np.ndarray:  # (what `trim` drops: no numpy call needed)
            self.shape, self.dtype = value.shape, value.dtype
        else:
            self.shape, self.dtype = np.shape(value), np.result_type(value)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    def error(self) -> UnreadError:
        op = self.op
        what = "its output" if self.which == "out" else f"input {self.which + 1}"
        return UnreadError(
            f"{describe_op(op)}: its {op.rule} rule read the values of {what}, which the op "
            f"does not declare it reads (reads={op.reads!r}); the tape dropped them when it "
            f"recorded the call. Add {'out' if self.which == 'out' else 'that input'!r} to "
            "the op's reads (its shape, dtype, ndim and size are always there)."
        )

    def __array__(self, *args, **kwargs):
        raise self.error()

    def __array_ufunc__(self, *args, **kwargs):
        raise self.error()

    def __array_function__(self, func, types, args, kwargs):
        if func is np.shape:
            return self.shape
        if func is np.ndim:
            return self.ndim
        if func is np.size and len(args) == 1 and not kwargs:
            return self.size
        raise self.error()

    def __getattr__(self, name):
        raise self.error()

    def __repr__(self) -> str:
        return f"<unread {self.which} of {self.op.name!r}: shape {self.shape}, {self.dtype}>"

    def _refuse(self, *args, **kwargs):
        raise self.error()

    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = _refuse
    __truediv__ = __rtruediv__ = __pow__ = __rpow__ = __matmul__ = __rmatmul__ = _refuse
    __neg__ = __abs__ = __getitem__ = __iter__ = __len__ = __float__ = __bool__ = _refuse
    __gt__ = __lt__ = __ge__ = __le__ = _refuse


def trim(node) -> None:
    """Drop the arrays of `node` (before it locks them) that its op's rules do not read:
    inputs that take a gradient and are not in `op.kept`, and the output(s) unless read."""
    op = node.op
    kept = op.kept
    arrays = node.arrays
    fixed = op.nin - 1 if op.variadic is not None else op.nin
    for i, parent in enumerate(node.parents):
        if parent is None or (i in kept if i < fixed else -1 in kept):
            continue
        if arrays[i].__class__ is np.ndarray:
            arrays[i] = Unread(op, i, arrays[i])
    if not op.keeps_out:
        out = node.out
        if out.__class__ is np.ndarray:
            node.out = Unread(op, "out", out)
        elif out.__class__ is tuple:
            node.out = tuple(Unread(op, "out", o) if o.__class__ is np.ndarray else o
                             for o in out)


def split(op, result) -> tuple:
    """`(out, saved)` from a `saves=True` forward's result, checked."""
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[1], tuple)):
        got = (f"a tuple of {len(result)}" if isinstance(result, tuple)
               else type(result).__name__)
        raise OpRuleError(
            f"{describe_op(op)} declares saves=True: its forward rule must return "
            f"(out, saved), saved a tuple of the values its rule needs; got {got}"
        )
    return result
