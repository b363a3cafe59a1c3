"""`Tensor`: a numpy value, its `.grad` ledger, and a link to the call that made it.

A Tensor holds no math. Its operators `+ - * / ** @`, unary `-` and `abs()`, the
comparisons `< <= > >= == !=` and indexing `x[i]` look the op up by name in the
registry (add, sub, mul, div, pow, matmul, neg, abs, less, ..., getitem), and any
other registered op is reachable as a method: `x.sum(1)` is `gl.sum(x, 1)`.

It behaves like a numpy array where numpy code expects one: `np.asarray(t)` is its
data, and numpy functions and ufuncs called on it (`np.sin(t)`, `np.concatenate([t, u])`)
dispatch to the registered op that stands for that numpy name (`Op.numpy_names`).
"""

from __future__ import annotations

import difflib

import numpy as np

from .errors import OpCallError, OpNotFoundError, OpRuleError, describe_op
from .grad_mode import rule_running
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
    __hash__ = object.__hash__  # `==` is elementwise; a tensor is hashed by identity

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

    def backward(self, grad=None, retain_graph: bool | None = None, trace=None,
                 create_graph: bool = False) -> None:
        """Walk the recorded graph backward from here, booking every input's `.grad`.

        A scalar output seeds 1; a non-scalar needs `grad`, an array of its shape.
        Grads accumulate (`+=`) across paths and across calls. Without
        `retain_graph` the graph's saved arrays are released as the walk passes.
        `trace(booking)` is called for every ledger entry (see `gradledger.tape.Booking`).

        With `create_graph=True` the booking is itself recorded: every `.grad` booked is
        then a Tensor (not a numpy array) that can be differentiated again, and
        `retain_graph` defaults to True.
        """
        tape.backward(self, grad, retain_graph, trace, create_graph)

    def __deepcopy__(self, memo: dict) -> Tensor:
        """A leaf's copy: its data, grad, requires_grad and name, copied. A tensor computed
        by an op refuses (as in PyTorch): a copied graph would hold its recorded calls
        twice. Copy `t.detach()` for the numbers."""
        if self._node is not None:
            raise TypeError(
                f"copy.deepcopy of a tensor computed by {describe_op(self._node.op)}: only leaf "
                "tensors can be deep-copied (a copy of its graph would record its calls "
                "twice). Copy t.detach() for the numbers, or recompute the graph from copied "
                "leaves."
            )
        from copy import deepcopy

        copied = memo[id(self)] = Tensor._result(deepcopy(self.data, memo), self.requires_grad)
        copied.grad = deepcopy(self.grad, memo)
        copied.name = self.name
        return copied

    def zero_grad(self) -> None:
        """Clear the ledger: `.grad = None`."""
        self.grad = None

    def detach(self) -> Tensor:
        """The same data, cut off from the graph."""
        return Tensor._result(self.data, False)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Start (or stop) booking grads into this leaf; returns the tensor itself."""
        if self._node is not None:
            raise OpCallError(
                f"requires_grad_() works on leaf tensors; this one was computed by op "
                f"{self.op!r}. Use t.detach().requires_grad_() for a new leaf."
            )
        if requires_grad and np.dtype(self.dtype).kind != "f":
            raise TypeError(f"requires_grad needs a floating-point dtype; this tensor is "
                            f"{self.dtype}. Use t.astype('float64') first.")
        self.requires_grad = bool(requires_grad)
        return self

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

    def reshape(self, *shape, **params) -> Tensor:
        """`x.reshape(2, 3)` or `x.reshape((2, 3))`: the op `reshape`."""
        if not shape:
            return call("reshape", self, **params)
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return call("reshape", self, shape=shape)

    def transpose(self, *axes, **params) -> Tensor:
        """`x.transpose()`, `x.transpose(1, 0)` or `x.transpose((1, 0))`: the op `transpose`."""
        if params:
            return call("transpose", self, *axes, **params)
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        return call("transpose", self, axes=tuple(axes) if axes else None)

    def astype(self, dtype, copy: bool = True) -> Tensor:
        """The same numbers in another dtype: the op `astype` (grads flow back to float
        inputs, cast to their own dtype; an integer result carries none). `copy` is
        accepted for numpy's sake: a Tensor's data is never shared in place anyway."""
        return call("astype", self, dtype=np.dtype(dtype))

    def item(self) -> float:
        return self.data.item()

    def tolist(self):
        """The numbers as (nested) Python lists, as numpy's `tolist`."""
        return np.asarray(self.data).tolist()

    def numpy(self) -> np.ndarray:
        """The data as a numpy array (not a copy)."""
        return np.asarray(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def __iter__(self):
        """Iterate over the first axis, as numpy does: each item is `x[i]` (with grad)."""
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self.data)))

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    def __index__(self) -> int:
        return self.data.__index__()

    def __bool__(self) -> bool:
        return bool(self.data)

    def __format__(self, spec: str) -> str:
        if self.ndim == 0:
            return format(self.data.item(), spec)
        if not spec:
            return str(self)
        raise TypeError(
            f"format spec {spec!r} needs a 0-d tensor (a single number); this one has shape "
            f"{self.shape}. Format t.item() of a scalar, or np.array2string(t.numpy(), ...)."
        )

    # -- indexing ------------------------------------------------------------------

    def __getitem__(self, index) -> Tensor:
        """`x[index]` with numpy's semantics: the op `getitem` (the index is a param)."""
        return call("getitem", self, index=_plain_index(index))

    def __setitem__(self, index, value) -> None:
        raise TypeError(
            "a gl.Tensor does not support item assignment: the graph is functional, and "
            "writing into a value that a recorded call may have saved would make its "
            "gradient silently wrong. Build the new value instead: gl.where(mask, value, x) "
            "for a mask, gl.concatenate([...]) for pieces; or, outside any graph, edit the "
            "numbers of a leaf directly: x.data[index] = value."
        )

    # -- numpy's protocols ---------------------------------------------------------

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        """`np.asarray(t)`: the data (never an object array)."""
        op = rule_running() if self.requires_grad else None
        if op is not None:
            raise OpRuleError(
                f"{describe_op(op)}: its rule, run on Tensors for create_graph=True, turned a "
                "Tensor that requires grad into a numpy array (np.asarray, float(), a numpy "
                "function no op stands for): its second derivative would be silently lost. "
                "Write the rule with operators and numpy functions that registered ops stand "
                "for, or declare the op order=1."
            )
        array = np.asarray(self.data, dtype=dtype)
        return array.copy() if copy else array

    def __array_ufunc__(self, ufunc, method: str, *inputs, **kwargs):
        """`np.sin(t)`, `np.multiply(t, 2)`, `array + t`: the op standing for the ufunc."""
        if method != "__call__" or "out" in kwargs:
            raise TypeError(
                f"np.{ufunc.__name__}.{method}"
                + ("(..., out=...)" if method == "__call__" else "(...)")
                + " on a gl.Tensor is not supported: gradledger calls ufuncs directly, "
                "without out= or methods such as reduce; use the matching op (gl.sum for "
                "np.add.reduce) or np.asarray(t) for the numbers without grad"
            )
        return tape.apply(_numpy_op(ufunc.__name__, "np"), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        """`np.concatenate([t, u])`, `np.sum(t, axis=0)`: the op standing for the function."""
        if not all(issubclass(t, (Tensor, np.ndarray)) for t in types):
            return NotImplemented
        name = func.__name__
        if name in _INSPECTIONS:
            return func(*_plain(args), **_plain(kwargs))
        return tape.apply(_numpy_op(name, func.__module__.replace("numpy", "np", 1)), args,
                          kwargs)

    # -- comparisons: elementwise, boolean, without grad ---------------------------

    def __lt__(self, other):
        return call("less", self, other)

    def __le__(self, other):
        return call("less_equal", self, other)

    def __gt__(self, other):
        return call("greater", self, other)

    def __ge__(self, other):
        return call("greater_equal", self, other)

    def __eq__(self, other):  # type: ignore[override]
        return call("equal", self, other)

    def __ne__(self, other):  # type: ignore[override]
        return call("not_equal", self, other)

    def __abs__(self):
        return call("abs", self)

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
            raise AttributeError(_missing_attribute(name)) from None
        return lambda *args, **params: tape.apply(op, (self, *args), params)

    def __dir__(self) -> list[str]:
        """Tensor's own attributes and every registered op (`x.relu()`): tab completion."""
        host.ensure_loaded()
        return sorted(set(object.__dir__(self)) | set(host.registry.ops))


_NO_PARAMS: dict = {}  # shared by operator calls; the tape never mutates params


def _binary(name: str):
    # The registry is read at every call (never cached here), so an override registered
    # later is what runs; `host.lookup` handles loading and the error for a missing op.
    def method(self, other):
        op = host.registry.ops.get(name) if host.loaded else None
        return tape.apply(op or host.lookup(name), (self, other), _NO_PARAMS)

    def reflected(self, other):
        op = host.registry.ops.get(name) if host.loaded else None
        return tape.apply(op or host.lookup(name), (other, self), _NO_PARAMS)

    return method, reflected


for _dunder, _op_name in {
    "add": "add", "sub": "sub", "mul": "mul", "truediv": "div", "pow": "pow", "matmul": "matmul",
}.items():
    _method, _reflected = _binary(_op_name)
    setattr(Tensor, f"__{_dunder}__", _method)
    setattr(Tensor, f"__r{_dunder}__", _reflected)
Tensor.__neg__ = lambda self: tape.apply(host.lookup("neg"), (self,), _NO_PARAMS)


OP_METHODS = frozenset({"reshape", "transpose", "astype"})
"""Tensor methods that call the registered op of their own name (adapting numpy's
call forms such as `x.reshape(2, 3)`), so an op of that name is no shadow."""

_INSPECTIONS = frozenset({
    "shape", "ndim", "size", "result_type", "can_cast", "iscomplexobj", "isrealobj",
    "may_share_memory", "shares_memory", "allclose", "isclose", "array_equal", "array_equiv",
    "array2string", "array_repr", "array_str", "copyto",
    "zeros_like", "ones_like", "full_like", "empty_like",  # constants of t's shape and dtype
})
"""numpy functions that only look at the numbers (no result to differentiate): they run
on the tensors' data rather than needing a registered op."""


def _plain(value):
    """`value` with every Tensor in it (in lists, tuples, dicts) replaced by its data."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, (list, tuple)):
        return type(value)(_plain(v) for v in value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _plain_index(index):
    """An index with Tensors turned into their data and arrays copied: the param a
    recorded call keeps must not change if the caller's array does."""
    if isinstance(index, tuple):
        return tuple(_plain_index(i) for i in index)
    if isinstance(index, Tensor):
        index = index.data
    if isinstance(index, np.ndarray):
        return index.copy()
    if isinstance(index, list):
        return np.array(_plain(index))
    return index


def _numpy_op(name: str, module: str):
    """The op standing for numpy's `name`, or an error saying no plugin registers one."""
    host.ensure_loaded()
    op = host.registry.for_numpy(name)
    if op is None:
        call = f"{module}.{name}"
        raise OpNotFoundError(
            f"{call} was called on a gl.Tensor, but no registered op stands for numpy's "
            f"{name!r}: no plugin registers one (an op named {name!r}, or one declaring "
            f"numpy_names=({name!r},)). Call {call}(np.asarray(t)) for the numbers without "
            "grad, or register such an op (docs/plugins.md); `gradledger ops` lists the ops."
        )
    return op


def _missing_attribute(name: str) -> str:
    """Say plainly that a Tensor has no such attribute: a close match among its own
    attributes first, else among the ops (only an op-like name suggests a plugin)."""
    own = [n for n in dir(Tensor) if not n.startswith("_")]
    close = difflib.get_close_matches(name, own, n=1)
    if close:
        return f"'Tensor' object has no attribute {name!r}. Did you mean {close[0]!r}?"
    ops = difflib.get_close_matches(name, list(host.registry.ops), n=3)
    hint = f" Did you mean {', '.join(map(repr, ops))}?" if ops else ""
    return (f"'Tensor' object has no attribute {name!r}, and no op named {name!r} is "
            f"registered.{hint} `gradledger ops` lists the ops; more come from plugins.")


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
