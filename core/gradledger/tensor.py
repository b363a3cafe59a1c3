"""`Tensor`: a numpy value, its `.grad` ledger, and a link to the call that made it.

A Tensor holds no math. Its operators `+ - * / ** @` and unary `-` look the op up
by name in the registry (add, sub, mul, div, pow, matmul, neg), and any other
registered op is reachable as a method: `x.sum(axis=0)` is `gl.sum(x, axis=0)`.
"""

from __future__ import annotations

import numpy as np

from .loader import host

_GRAD_DTYPE_KINDS = "f"


def as_data(array):
    """numpy's own convention for results: arrays, and numpy scalars for 0-d values."""
    if array.__class__ is np.ndarray and array.ndim == 0:
        return array[()]
    return array


class Tensor:
    """A value in the graph.

    data:           the numpy array (a numpy scalar such as np.float64 for 0-d values,
                    as numpy's own ufuncs return them)
    grad:           the ledger: d(loss)/d(this), same shape and dtype as data; None until
                    a backward pass reaches this tensor; accumulates across paths and calls
    requires_grad:  whether backward books a grad here
    name:           optional, for display
    """

    __slots__ = ("data", "grad", "requires_grad", "name", "_node", "__weakref__")
    __array_ufunc__ = None  # numpy defers to our reflected operators: array + tensor works

    def __init__(self, data, requires_grad: bool = False, name: str | None = None, dtype=None):
        array = _to_array(data, dtype)
        if requires_grad and array.dtype.kind not in _GRAD_DTYPE_KINDS:
            raise TypeError(
                f"requires_grad=True needs a floating-point dtype; got {array.dtype}. "
                f"Pass floats, or dtype='float64' (or 'float32')."
            )
        self.data = as_data(array)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._node = None

    @classmethod
    def _result(cls, data, requires_grad: bool) -> Tensor:
        """An op's output: no validation, this is the hot path."""
        t = cls.__new__(cls)
        t.data = data
        t.grad = None
        t.requires_grad = requires_grad
        t.name = None
        t._node = None
        return t

    # -- the ledger ----------------------------------------------------------------

    def backward(self, grad=None, retain_graph: bool = False, trace=None) -> None:
        """Walk the recorded graph backward from here, booking every input's `.grad`.

        A scalar output seeds 1; a non-scalar needs `grad`, an array of its shape.
        Grads accumulate (`+=`) across paths and across calls. Without
        `retain_graph` the graph's saved arrays are released as the walk passes.
        `trace(booking)` is called for every ledger entry (see `gradledger.tape.Booking`).
        """
        tape.backward(self, grad, retain_graph, trace)

    def zero_grad(self) -> None:
        """Clear the ledger: `.grad = None`."""
        self.grad = None

    def detach(self) -> Tensor:
        """The same data, cut off from the graph."""
        return Tensor._result(self.data, False)

    # -- numpy-like views ----------------------------------------------------------

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def size(self) -> int:
        return self.data.size

    @property
    def op(self) -> str | None:
        """The name of the op that produced this tensor, None for a leaf."""
        return self._node.op.name if self._node is not None else None

    @property
    def T(self) -> Tensor:
        return call("transpose", self)

    def item(self) -> float:
        return self.data.item()

    def numpy(self) -> np.ndarray:
        """The data as a numpy array (not a copy)."""
        return np.asarray(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __bool__(self) -> bool:
        return bool(self.data)

    def __repr__(self) -> str:
        parts = [np.array2string(np.asarray(self.data), separator=", ", threshold=20)]
        if self.name:
            parts.append(f"name={self.name!r}")
        if self._node is not None:
            parts.append(f"op={self._node.op.name!r}")
        elif self.requires_grad:
            parts.append("requires_grad=True")
        return f"tensor({', '.join(parts)})"

    def __getattr__(self, name: str):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            op = host.lookup(name)
        except LookupError:
            raise AttributeError(
                f"'Tensor' object has no attribute {name!r}, and no op named {name!r} is "
                "registered (`gradledger ops` lists them)"
            ) from None
        return lambda *args, **params: tape.apply(op, (self, *args), params)


_NO_PARAMS: dict = {}  # shared by operator calls; the tape never mutates params


def _binary(name: str):
    def method(self, other):
        return tape.apply(host.lookup(name), (self, other), _NO_PARAMS)

    def reflected(self, other):
        return tape.apply(host.lookup(name), (other, self), _NO_PARAMS)

    return method, reflected


for _dunder, _op_name in {
    "add": "add", "sub": "sub", "mul": "mul", "truediv": "div", "pow": "pow", "matmul": "matmul",
}.items():
    _method, _reflected = _binary(_op_name)
    setattr(Tensor, f"__{_dunder}__", _method)
    setattr(Tensor, f"__r{_dunder}__", _reflected)
Tensor.__neg__ = lambda self: tape.apply(host.lookup("neg"), (self,), _NO_PARAMS)


def tensor(data, requires_grad: bool = False, name: str | None = None, dtype=None) -> Tensor:
    """Make a leaf tensor from a number, a (nested) list or a numpy array (copied).

    Python floats become float64, ints int64. `requires_grad=True` needs a
    floating-point dtype.
    """
    return Tensor(data, requires_grad=requires_grad, name=name, dtype=dtype)


def _to_array(data, dtype) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data.data
    try:
        array = np.array(data, dtype=dtype)
    except (ValueError, TypeError) as error:
        raise TypeError(
            f"gl.tensor() expected a number, a rectangular (nested) list of numbers or a "
            f"numpy array; got {type(data).__name__}: {error}"
        ) from None
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"gl.tensor() expected real numbers (bool, int or float); got dtype {array.dtype} "
            f"from {type(data).__name__} {_preview(data)}"
        )
    return array


def _preview(data) -> str:
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."


def call(name: str, *args, **params) -> Tensor:
    """Call the registered op `name` on tensors (and numbers or arrays mixed in)."""
    return tape.apply(host.lookup(name), args, params)


from . import tape  # noqa: E402  (the tape builds on Tensor, defined above)
