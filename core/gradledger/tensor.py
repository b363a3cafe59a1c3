"""`Tensor`: a numpy value, its `.grad` ledger, and a link to the call that made it.

A Tensor holds no math. Its operators `+ - * / ** @`, unary `-` and `abs()`, the
comparisons `< <= > >= == !=` and indexing `x[i]` look the op up by name in the
registry (add, sub, mul, div, pow, matmul, neg, abs, less, ..., getitem), and any
other registered op is reachable as a method: `x.sum(1)` is `gl.sum(x, 1)`.

It behaves like a numpy array where numpy code expects one: numpy functions and ufuncs
called on it (`np.sin(t)`, `np.concatenate([t, u])`) dispatch to the registered op that
stands for that numpy name (`Op.numpy_names`), and `np.asarray(t)` is its data — unless
it requires grad: then numpy code that would take its numbers raises (as PyTorch's
`.numpy()` does), and `t.detach()` gives them on purpose.

The Tensor speaks PyTorch's names too (`view`, `permute`, `unsqueeze`, `chunk`, `size()`,
`to`, in-place `p -= lr * p.grad` under `gl.no_grad()`); where numpy and PyTorch mean
different things by one name, it never picks in silence (README: "numpy's names and
PyTorch's").
"""

from __future__ import annotations

import difflib
import sys
import warnings
from operator import attrgetter
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from numpy.typing import ArrayLike

from . import dtypes as _dtypes
from .errors import OpCallError, OpNotFoundError, OpRuleError, RequiresGradError, describe_op
from .grad_mode import is_grad_enabled, rule_running

_GRAD_DTYPE_KINDS = "fc"  # floating-point and complex numbers carry a gradient


def as_data(array):
    """numpy's own convention for results: arrays, and numpy scalars for 0-d values."""
    if array.__class__ is np.ndarray and array.ndim == 0:
        return array[()]
    return array


class Doors:
    """Where a Tensor's methods reach the tape and the plugins above this module.

    The tape builds Tensors and the loader knows no Tensor, so tensor.py imports
    neither (tools/import_cycles.py checks that no module imports itself round a
    circle). `gradledger/__init__.py` opens these doors as the package is imported,
    before any op can be called: `apply` and `backward` are the tape's, `host` the
    loader's plugin host (its registry, `lookup` and `ensure_loaded`).
    """

    __slots__ = ("apply", "backward", "host")


doors = Doors()

class Tensor:
    """A value in the graph.

    data:           the numpy array (a numpy scalar such as np.float64 for 0-d values,
                    as numpy's own ufuncs return them)
    grad:           the ledger: d(loss)/d(this), same shape and dtype as data; None until
                    a backward pass reaches this tensor; accumulates across paths and calls
    requires_grad:  whether backward books a grad here
    name:           optional, for display
    """

    __slots__ = ("_data", "grad", "requires_grad", "name", "_node", "__weakref__")
    __hash__ = object.__hash__  # `==` is elementwise; a tensor is hashed by identity

    def __init__(self, data, requires_grad: bool = False, name: str | None = None, dtype=None):
        array = _to_array(data, dtype)
        if requires_grad:
            if array.dtype.kind not in _GRAD_DTYPE_KINDS:
                raise TypeError(
                    f"requires_grad=True needs a floating-point dtype; got {array.dtype} "
                    "(complex dtypes carry grads too). "
                    f"Pass floats, or dtype='float64' (or 'float32')."
                )
            _dtypes.watch(array.dtype)
        self._data = as_data(array)
        self.grad = None
        self.requires_grad = bool(requires_grad)
        self.name = name
        self._node = None

    def _set_data(self, value) -> None:
        """`t.data = array`: checked here, at the assignment, as PyTorch checks it."""
        self._data = _checked_data(self, value)

    data = property(attrgetter("_data"), _set_data, doc="""The numbers: a numpy array (a
        numpy scalar such as np.float64 for 0-d values). Assigning checks the value at once:
        a numpy array or numpy scalar of real numbers (or a gl.Tensor, whose numbers are
        taken), floating-point when the tensor requires grad. Its shape and dtype may
        change, as in PyTorch.""")

    @classmethod
    def _result(cls, data, requires_grad: bool) -> Tensor:
        """An op's output: no validation, this is the hot path."""
        t = cls.__new__(cls)
        t._data = data
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
        doors.backward(self, grad, retain_graph, trace, create_graph)

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
        if requires_grad and np.dtype(self.dtype).kind not in _GRAD_DTYPE_KINDS:
            raise TypeError(f"requires_grad needs a floating-point dtype (or a complex one); "
                            f"this tensor is {self.dtype}. Use t.astype('float64') first.")
        if requires_grad:
            _dtypes.watch(np.dtype(self.dtype))
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
        """numpy's element count (an int); called, PyTorch's shape: `t.size()`, `t.size(1)`."""
        return _Size(self._data.size, self._data.shape)

    @property
    def op(self) -> str | None:
        """The name of the op that produced this tensor, None for a leaf."""
        return self._node.op.name if self._node is not None else None

    @property
    def T(self) -> Tensor:
        return call("transpose", self)

    @property
    def mT(self) -> Tensor:  # noqa: N802 (numpy's and PyTorch's name)
        """The last two axes swapped (a stack of matrices, each transposed), as numpy's
        `a.mT` and PyTorch's `t.mT`: the op `swapaxes`."""
        if self.ndim < 2:
            raise ValueError(f"x.mT needs at least 2 dimensions (a stack of matrices); got "
                             f"shape {self.shape}")
        return call("swapaxes", self, axis1=-2, axis2=-1)

    def reshape(self, *shape, **params) -> Tensor:
        """`x.reshape(2, 3)` or `x.reshape((2, 3))`: the op `reshape`."""
        if not shape:
            return call("reshape", self, **params)
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        return call("reshape", self, shape=shape)

    def transpose(self, *axes, **params) -> Tensor:
        """`x.transpose()` or `x.transpose((2, 0, 1))`: numpy's permutation (the op
        `transpose`). Two ints swap those two axes, as PyTorch's `transpose(dim0, dim1)`,
        where numpy would refuse them (any tensor not 2-D) or agree (`(1, 0)` on 2-D);
        `x.transpose(0, 1)` on a 2-D tensor, which numpy reads as "unchanged" and PyTorch
        as a swap, raises with both spellings."""
        if params:
            return call("transpose", self, *axes, **params)
        if len(axes) == 1 and (axes[0] is None or isinstance(axes[0], (tuple, list))):
            axes = axes[0]
        elif len(axes) == 2 and all(_is_int(a) for a in axes):
            if self.ndim != 2:
                return call("swapaxes", self, axis1=int(axes[0]), axis2=int(axes[1]))
            if (axes[0] % 2, axes[1] % 2) != (1, 0):
                raise OpCallError(
                    f"x.transpose({axes[0]}, {axes[1]}) on a 2-D tensor means two things: "
                    f"numpy's permutation {tuple(axes)} (for (0, 1): the tensor unchanged) or "
                    f"PyTorch's swap of axes {axes[0]} and {axes[1]}. Write "
                    f"x.transpose({tuple(axes)}) for numpy's, or x.swapaxes({axes[0]}, "
                    f"{axes[1]}) (or x.T) for PyTorch's."
                )
        return call("transpose", self, axes=tuple(axes) if axes else None)

    def permute(self, *dims) -> Tensor:
        """PyTorch's `x.permute(2, 0, 1)` (or a tuple): numpy's `x.transpose((2, 0, 1))`."""
        if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
            dims = dims[0]
        return call("transpose", self, axes=tuple(int(d) for d in dims))

    def view(self, *shape) -> Tensor:
        """PyTorch's `x.view(2, 3)` or `x.view(-1)`: the op `reshape`. numpy's
        `view(dtype)`, which reinterprets the bytes, is refused (it has no gradient)."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = tuple(shape[0])
        if not shape:
            shape = self.shape
        if not all(_is_int(d) for d in shape):
            raise OpCallError(
                f"x.view({', '.join(map(repr, shape))}): a gl.Tensor's view takes a shape, as "
                "PyTorch's does (x.view(2, -1)); numpy's view(dtype) reinterprets the bytes, "
                "which has no gradient. Use x.astype(dtype) (or x.to(dtype)) to convert the "
                "numbers, or np.asarray(x.detach()).view(dtype) for the bytes."
            )
        return call("reshape", self, shape=tuple(int(d) for d in shape))

    def unsqueeze(self, dim: int) -> Tensor:
        """PyTorch's `x.unsqueeze(1)`: numpy's `np.expand_dims(x, 1)` (the op `expand_dims`)."""
        return call("expand_dims", self, axis=int(dim))

    def expand(self, *sizes) -> Tensor:
        """PyTorch's `x.expand(3, -1)`: x broadcast to the sizes, -1 keeping an axis's size
        (the op `broadcast_to`; ndarray has no `expand`)."""
        if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
            sizes = tuple(sizes[0])
        lead = len(sizes) - self.ndim
        if lead < 0:
            raise OpCallError(f"x.expand{tuple(sizes)}: give at least one size per axis of x "
                              f"(shape {self.shape})")
        shape = tuple(self.shape[i - lead] if size == -1 and i >= lead else int(size)
                      for i, size in enumerate(sizes))
        return call("broadcast_to", self, shape=shape)

    def flatten(self, start_dim: int | str = 0, end_dim: int = -1) -> Tensor:
        """`x.flatten()`: every axis into one, as both numpy and PyTorch read it;
        `x.flatten(1)` is PyTorch's `start_dim` (numpy's flatten takes no int);
        `x.flatten('F')` is numpy's column-major order."""
        if isinstance(start_dim, str):
            if start_dim.upper() == "F":
                return call("flatten", self.transpose())
            if start_dim.upper() not in ("C", "A", "K"):
                raise OpCallError(f"x.flatten({start_dim!r}): numpy's order is 'C' or 'F'")
            start_dim = 0
        return call("flatten", self, start_dim=start_dim, end_dim=end_dim)

    def split(self, split_size_or_sections, dim: int = 0) -> list[Tensor]:
        """PyTorch's `x.split(2)` (pieces of 2 along dim, the last maybe smaller) or
        `x.split([1, 3])` (pieces of those sizes); ndarray has no `split`. numpy's meaning
        (n equal pieces, or split at indices) is `gl.split(x, n)` and `np.split(x, n)`."""
        length = self.shape[dim]
        if _is_int(split_size_or_sections):
            step = int(split_size_or_sections)
            if step <= 0:
                raise OpCallError(f"x.split({step}): the size of a piece must be positive")
            cuts = list(range(step, length, step))
        else:
            sizes = [int(n) for n in split_size_or_sections]
            if sum(sizes) != length or any(n < 0 for n in sizes):
                raise OpCallError(
                    f"x.split({sizes}, dim={dim}): PyTorch's sizes of the pieces must add up "
                    f"to the axis's length {length}; for numpy's split at indices write "
                    f"gl.split(x, {sizes}, axis={dim})"
                )
            cuts = list(np.cumsum(sizes)[:-1])
        return call("split", self, indices_or_sections=cuts, axis=dim)

    def chunk(self, chunks: int, dim: int = 0) -> list[Tensor]:
        """PyTorch's `x.chunk(3)`: at most `chunks` pieces along dim, each of
        ceil(length / chunks) but the last."""
        if not _is_int(chunks) or chunks <= 0:
            raise OpCallError(f"x.chunk({chunks!r}): the number of chunks must be a positive int")
        return self.split(max(1, -(-self.shape[dim] // int(chunks))), dim)

    def repeat(self, *args, **params) -> Tensor:
        """numpy's `x.repeat(repeats, axis=None)` (each element repeated: the op `repeat`) or
        PyTorch's `x.repeat(2, 3)` (the whole tensor tiled: the op `tile`), whichever alone
        reads the call; where both do and differ (`x.repeat(2)` on 1-D), it raises with
        both spellings."""
        if params or not args:
            return call("repeat", self, *args, **params)
        as_sizes = args[0] if len(args) == 1 and isinstance(args[0], (tuple, list)) else args
        torch_reads = all(_is_int(n) for n in as_sizes) and len(as_sizes) >= self.ndim
        numpy_reads = len(args) <= 2 and (
            len(args) == 1 or (_is_int(args[1]) and -self.ndim <= args[1] < self.ndim))
        if not torch_reads:
            return call("repeat", self, *args)
        if not numpy_reads or (self.ndim == 0 and len(args) == 1):
            return call("tile", self, reps=tuple(int(n) for n in as_sizes))
        if all(n == 1 for n in as_sizes):
            return call("tile", self, reps=tuple(int(n) for n in as_sizes))
        spelled = ", ".join(map(repr, args))
        raise OpCallError(
            f"x.repeat({spelled}) means two things: numpy's repeat of each element "
            f"(x.repeat({spelled}) in numpy, gl.repeat(x, ...) here) or PyTorch's tiling of the "
            f"whole tensor (torch's x.repeat({spelled})). Write gl.repeat(x, {args[0]!r}"
            + (f", axis={args[1]!r}" if len(args) == 2 else "")
            + f") (or x.repeat(..., axis=...)) for numpy's, or gl.tile(x, {tuple(as_sizes)!r}) "
            "for PyTorch's."
        )

    def var(self, *args, **params) -> Tensor:
        """numpy's `x.var(axis, ddof=0)`; PyTorch's spellings `dim=`, `correction=`,
        `unbiased=`, `keepdim=` are taken too. Without a ddof: numpy's population variance
        (ddof=0), with a warning that PyTorch's default is the sample variance; with `dim=`
        (a name numpy's var does not take), PyTorch's default correction=1."""
        return call("var", self, *args, **_spread_params("var", args, params))

    def std(self, *args, **params) -> Tensor:
        """numpy's `x.std(axis, ddof=0)`, with PyTorch's spellings too: see `Tensor.var`."""
        return call("std", self, *args, **_spread_params("std", args, params))

    def to(self, *args, dtype=None, copy: bool = False, **params) -> Tensor:
        """PyTorch's `x.to(np.float32)`, `x.to("cpu")`, `x.to(other_tensor)`: the tensor
        itself when nothing changes, else `x.astype(dtype)`. Only the CPU exists here."""
        for arg in (*args, params.pop("device", None)):
            if arg is None:
                continue
            if isinstance(arg, Tensor):
                dtype = arg.dtype
            elif isinstance(arg, str) and arg.split(":")[0] not in _DTYPE_NAMES:
                if arg.split(":")[0] != "cpu":
                    raise OpCallError(f"x.to({arg!r}): gradledger computes with numpy, on the "
                                      "CPU only; x.to('cpu') is the tensor itself")
            else:
                dtype = arg
        if params:
            raise OpCallError(f"x.to() got unexpected arguments {sorted(params)}; it takes a "
                              "dtype, 'cpu', or a tensor whose dtype to take")
        if dtype is None or (np.dtype(dtype) == self.dtype and not copy):
            return self
        return self.astype(dtype)

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
        """`x[index]` with numpy's semantics: the op `getitem` (the index is a param, read
        once as numpy reads it: lists, tuples inside a tuple and Tensors become arrays)."""
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
        """`np.asarray(t)`: the data (never an object array) of a tensor that does not
        require grad. One that does raises, as PyTorch's `.numpy()` does: numpy would take
        its numbers and its gradient would be lost without a word. `t.detach()`,
        `t.numpy()` and `t.data` give the numbers on purpose."""
        if self.requires_grad:
            op = rule_running()
            if op is not None:
                raise OpRuleError(
                    f"{describe_op(op)}: its rule, run on Tensors for create_graph=True, turned "
                    "a Tensor that requires grad into a numpy array (np.asarray, float(), a "
                    "numpy function no op stands for): its second derivative would be "
                    "silently lost. Write the rule with operators and numpy functions that "
                    "registered ops stand for, or declare the op order=1."
                )
            raise RequiresGradError(_numbers_message(self, _numpy_caller()))
        array = np.asarray(self._data, dtype=dtype)
        return array.copy() if copy else array

    def __array_ufunc__(self, ufunc, method: str, *inputs, **kwargs):
        """`np.sin(t)`, `np.multiply(t, 2)`, `array + t`: the op standing for the ufunc."""
        if method != "__call__" or "out" in kwargs:
            raise TypeError(
                f"np.{ufunc.__name__}.{method}"
                + ("(..., out=...)" if method == "__call__" else "(...)")
                + " on a gl.Tensor is not supported: gradledger calls ufuncs directly, "
                "without out= or methods such as reduce; use the matching op (gl.sum for "
                "np.add.reduce) or t.detach().numpy() for the numbers without grad"
            )
        return doors.apply(_numpy_op(ufunc.__name__, "np"), inputs, kwargs)

    def __array_function__(self, func, types, args, kwargs):
        """`np.concatenate([t, u])`, `np.sum(t, axis=0)`: the op standing for the function."""
        if not all(issubclass(t, (Tensor, np.ndarray)) for t in types):
            return NotImplemented
        name = func.__name__
        if name == "einsum" and args and not isinstance(args[0], str):
            args = _einsum_sublists(args)
        elif name == "svd" and not kwargs.get("compute_uv", args[2] if len(args) > 2 else True):
            name, args, kwargs = "svdvals", args[:1], {}  # one array: the singular values
        if name in _INSPECTIONS:
            source = kwargs.get("src", args[1] if len(args) > 1 else None)
            if name == "copyto" and isinstance(source, Tensor) and source.requires_grad:
                raise RequiresGradError(_numbers_message(source, "np.copyto"))
            return func(*_plain(args), **_plain(kwargs))
        op = _numpy_op(name, func.__module__.replace("numpy", "np", 1))
        if op.variadic == "sequence" and op.nin == 1 and args and isinstance(args[0], Tensor) \
                and args[0].ndim:  # numpy reads an array as the sequence of its rows
            args = (list(args[0]), *args[1:])
        result = doors.apply(op, args, kwargs)
        if name == "gradient" and len(result) == 1:  # numpy's one array for one axis
            return result[0]
        return result

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
        """`tensor(25.0, op='mul', grad=1.0)`: numbers as Python prints them, rows
        aligned as numpy aligns them, and the grad once a backward pass booked one."""
        from .reprs import show_array

        parts = [show_array(self.data, "tensor(")]
        dtype = np.result_type(self.data)
        if dtype not in (np.float64, np.int64, np.bool_):  # numpy's defaults go unsaid
            parts.append(f"dtype={dtype}")
        if self.name:
            parts.append(f"name={self.name!r}")
        if self._node is not None:
            parts.append(f"op={self._node.op.name!r}")
        elif self.requires_grad:
            parts.append("requires_grad=True")
        grad = self.grad
        if grad is not None:
            if isinstance(grad, Tensor):  # booked with create_graph=True
                grad = grad.data
            shown = show_array(grad, "       grad=")
            parts.append(f"\n       grad={shown}" if "\n" in shown or "\n" in parts[0]
                         else f"grad={shown}")
        text = ", ".join(parts)
        return f"tensor({text.replace(', ' + chr(10), ',' + chr(10))})"

    def __getattr__(self, name: str) -> Any:  # every registered op: x.sum(1)
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            op = doors.host.lookup(name)
        except LookupError:
            raise AttributeError(_missing_attribute(name)) from None
        return lambda *args, **params: doors.apply(op, (self, *args), params)

    def __dir__(self) -> list[str]:
        """Tensor's own attributes and every registered op (`x.relu()`): tab completion."""
        doors.host.ensure_loaded()
        return sorted(set(object.__dir__(self)) | set(doors.host.registry.ops))

    if TYPE_CHECKING:  # for type checkers only: what __slots__ hold, and the operators below
        data: Any  # a numpy array; a numpy scalar (np.float64) for a 0-d value
        grad: Any  # the ledger, like data; None until a backward pass reaches this tensor
        requires_grad: bool
        name: str | None

        def __add__(self, other: Tensor | ArrayLike) -> Tensor: ...
        def __radd__(self, other: Tensor | ArrayLike) -> Tensor: ...
        def __sub__(self, other: Tensor | ArrayLike) -> Tensor: ...
        def __rsub__(self, other: Tensor | ArrayLike) -> Tensor: ...
        def __mul__(self, other: Tensor | ArrayLike) -> Tensor: ...
        def __rmul__(self, other: Tensor | ArrayLike) -> Tensor: ...
        def __truediv__(self, other: Tensor | ArrayLike) -> Tensor: ...
        def __rtruediv__(self, other: Tensor | ArrayLike) -> Tensor: ...
        def __pow__(self, other: Tensor | ArrayLike) -> Tensor: ...
        def __rpow__(self, other: Tensor | ArrayLike) -> Tensor: ...
        def __matmul__(self, other: Tensor | ArrayLike) -> Tensor: ...
        def __rmatmul__(self, other: Tensor | ArrayLike) -> Tensor: ...
        def __neg__(self) -> Tensor: ...


_NO_PARAMS: dict = {}  # shared by operator calls; the tape never mutates params


def _binary(name: str):
    # The registry is read at every call (never cached here), so an override registered
    # later is what runs; `host.lookup` handles loading and the error for a missing op.
    def method(self, other):
        host = doors.host
        op = host.registry.ops.get(name) if host.loaded else None
        return doors.apply(op or host.lookup(name), (self, other), _NO_PARAMS)

    def reflected(self, other):
        host = doors.host
        op = host.registry.ops.get(name) if host.loaded else None
        return doors.apply(op or host.lookup(name), (other, self), _NO_PARAMS)

    return method, reflected


for _dunder, _op_name in {
    "add": "add", "sub": "sub", "mul": "mul", "truediv": "div", "pow": "pow", "matmul": "matmul",
}.items():
    _method, _reflected = _binary(_op_name)
    setattr(Tensor, f"__{_dunder}__", _method)
    setattr(Tensor, f"__r{_dunder}__", _reflected)
Tensor.__neg__ = lambda self: doors.apply(doors.host.lookup("neg"), (self,), _NO_PARAMS)
Tensor.__mod__, Tensor.__rmod__ = _binary("remainder")  # `t % 2`, `2 % t`: np.remainder
Tensor.__floordiv__, Tensor.__rfloordiv__ = _binary("floor_divide")  # `t // 2`
Tensor.__pos__ = lambda self: doors.apply(doors.host.lookup("positive"), (self,), _NO_PARAMS)
Tensor.__divmod__ = lambda self, other: (self // other, self % other)
Tensor.__rdivmod__ = lambda self, other: (other // self, other % self)


def _in_place(symbol: str, op_name: str, ufunc):
    """`x -= y` as PyTorch does it. Outside recording (under `gl.no_grad()`, or when
    neither side requires grad) the numbers of x change in place: the same Tensor, its own
    array written when that may be written (else a new array bound to it: a graph still
    alive keeps the numbers it saved), its shape and dtype kept. While recording, a leaf
    that requires grad refuses (its update cannot be differentiated); any other x is
    rebound to the recorded result `x - y`, a new Tensor (other names for the old one keep
    the old value)."""

    def method(self, other):
        if (self.requires_grad or (isinstance(other, Tensor) and other.requires_grad)) \
                and is_grad_enabled():
            if self.requires_grad and self._node is None:
                raise RequiresGradError(
                    f"x {symbol}= ... on a leaf tensor that requires grad, while gradients are "
                    "recorded: an in-place update of a parameter cannot be differentiated "
                    "(PyTorch raises here too). Update parameters under gl.no_grad(): "
                    f"`with gl.no_grad(): p {symbol}= lr * p.grad`; or write x = x {symbol} ... "
                    "for a new tensor."
                )
            return doors.apply(doors.host.lookup(op_name), (self, other), _NO_PARAMS)
        value = other._data if isinstance(other, Tensor) else other
        data = self._data
        if type(data) is not np.ndarray or not data.flags.writeable:
            data = np.array(data)  # a numpy scalar, or an array a live graph saved (locked)
        try:
            ufunc(data, value, out=data, casting="same_kind")
        except (TypeError, ValueError) as error:
            note = (f"in `x {symbol}= ...` on a tensor of shape {self.shape} and dtype "
                    f"{self.dtype}: an in-place update keeps the tensor's shape and dtype, as "
                    f"in PyTorch. Write x = x {symbol} ... for a new tensor.")
            if not hasattr(error, "add_note"):  # Python 3.10
                kind = TypeError if isinstance(error, TypeError) else ValueError
                raise kind(f"{error}; {note}") from error
            error.add_note(note)
            raise
        self._data = as_data(data)
        return self

    return method


for _dunder, (_symbol, _op_name, _ufunc) in {
    "iadd": ("+", "add", np.add), "isub": ("-", "sub", np.subtract),
    "imul": ("*", "mul", np.multiply), "itruediv": ("/", "div", np.true_divide),
    "ipow": ("**", "pow", np.power), "imatmul": ("@", "matmul", np.matmul),
}.items():
    setattr(Tensor, f"__{_dunder}__", _in_place(_symbol, _op_name, _ufunc))


OP_METHODS = frozenset({"reshape", "transpose", "astype", "flatten", "split", "repeat", "var",
                        "std"})
"""Tensor methods that call the registered op of their own name (adapting numpy's
call forms such as `x.reshape(2, 3)`), so an op of that name is no shadow."""

_INSPECTIONS = frozenset({
    "shape", "ndim", "size", "result_type", "can_cast", "iscomplexobj", "isrealobj",
    "may_share_memory", "shares_memory", "allclose", "isclose", "array_equal", "array_equiv",
    "array2string", "array_repr", "array_str", "copyto",
    "zeros_like", "ones_like", "empty_like", "full_like",  # constants: plain arrays
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


def _einsum_sublists(args):
    """np.einsum's sublist form, (a, [0, 1], b, [1, 2], [0, 2]), as subscripts and operands."""
    letters = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"

    def term(sublist):
        return "".join("..." if s is Ellipsis else letters[s] for s in sublist)

    pairs = len(args) // 2
    spec = ",".join(term(args[2 * i + 1]) for i in range(pairs))
    if len(args) % 2:
        spec += "->" + term(args[-1])
    return (spec, *args[0:2 * pairs:2])


def _plain_index(index):
    """The index as numpy reads it, made once: a tuple of ints, slices, None, Ellipsis and
    arrays. A tuple is one entry per axis; any other sequence (a list, a tuple inside the
    tuple, a range) and any Tensor becomes an array (an empty one of integers), and arrays
    are copied: the param a recorded call keeps must not change if the caller's array does.
    Whether grads accumulate (repeated places) is decided on this form."""
    if type(index) is tuple:
        return tuple(_index_entry(i) for i in index)
    return _index_entry(index)


def _index_entry(entry):
    if isinstance(entry, Tensor):
        entry = entry._data
    if isinstance(entry, np.ndarray):
        return entry.copy()
    if isinstance(entry, (list, tuple, range)):
        array = np.asarray(_plain(list(entry)))
        if array.size == 0 and array.dtype.kind == "f":
            array = array.astype(np.intp)  # numpy reads `x[[]]` as no integer positions
        return array
    return entry


class _Size(int):
    """`t.size`: numpy's element count, an int; `t.size()` and `t.size(dim)`: PyTorch's
    shape (a tuple) and one axis's length. numpy's int is not callable, so the call can
    mean only PyTorch's."""

    def __new__(cls, count: int, shape: tuple) -> _Size:
        size = super().__new__(cls, count)
        size.shape = shape
        return size

    def __call__(self, dim: int | None = None):
        return self.shape if dim is None else self.shape[dim]

    def __reduce__(self):
        return int, (int(self),)  # pickled as the plain count


def _is_int(value) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


_DTYPE_NAMES = frozenset({"float16", "float32", "float64", "half", "float", "double", "int32",
                          "int64", "bool", "uint8", "int8", "int16"})
"""Strings `x.to(...)` takes as a dtype rather than a device."""

_SPREAD_ALIASES = {"dim": "axis", "keepdim": "keepdims", "correction": "ddof"}


def _spread_params(name: str, args: tuple, params: dict) -> dict:
    """var and std called as methods: PyTorch's keywords mapped onto numpy's, and the
    default ddof chosen (see Tensor.var)."""
    torch_style = "dim" in params
    params = {_SPREAD_ALIASES.get(k, k): v for k, v in params.items()}
    if "unbiased" in params:
        params["ddof"] = 1 if params.pop("unbiased") else 0
    if "ddof" not in params and len(args) < 4:
        if torch_style:
            params["ddof"] = 1
        elif "axis" not in params:
            warnings.warn(
                f"x.{name}() without ddof: numpy's population {name} (ddof=0), which this "
                f"is; PyTorch's x.{name}() is the sample {name} (correction=1). Pass ddof=0 "
                f"or ddof=1 to choose (gl.{name}(x) is numpy's and does not warn).",
                UserWarning, stacklevel=3)
    return params


def _checked_data(tensor: Tensor, value):
    """What `t.data = value` stores, or an error saying what it takes (as PyTorch's
    refusal: a numpy array of real numbers, floating-point if t requires grad)."""
    if isinstance(value, Tensor):
        value = value._data
    if not isinstance(value, (np.ndarray, np.generic)):
        raise TypeError(
            f"t.data = ... expected a numpy array (or a numpy scalar, or a gl.Tensor); got "
            f"{type(value).__name__} {_preview(value)}. Write t.data = np.asarray(...) "
            "(PyTorch refuses a non-tensor too)."
        )
    if value.dtype.kind not in "biufc":
        raise TypeError(f"t.data = ... expected real numbers (bool, int or float) or complex "
                        f"ones; got dtype "
                        f"{value.dtype}")
    if tensor.requires_grad:
        if value.dtype.kind not in _GRAD_DTYPE_KINDS:
            raise TypeError(
                f"t.data = ... of dtype {value.dtype} on a tensor that requires grad: its "
                "numbers must be floating-point (PyTorch refuses too). Assign "
                "value.astype(np.float64), or call t.requires_grad_(False) first."
            )
        _dtypes.watch(value.dtype)
    return as_data(value)


def _numpy_caller() -> str | None:
    """The numpy function (written in Python) that asked for a Tensor's numbers: the
    outermost numpy frame above `__array__`, or None when C code asked directly."""
    frame, found = sys._getframe(2), None
    while frame is not None and frame.f_globals.get("__name__", "").split(".")[0] == "numpy":
        found, frame = frame, frame.f_back
    if found is None:
        return None
    name = getattr(found.f_code, "co_qualname", None)  # 3.11+
    if name is None:  # Python 3.10: a method's class from its `self`
        owner = found.f_locals.get("self")
        name = found.f_code.co_name
        for cls in type(owner).__mro__ if owner is not None else ():
            if getattr(cls.__dict__.get(name), "__code__", None) is found.f_code:
                name = f"{cls.__name__}.{name}"  # the class defining it, as co_qualname
                break
    return f"numpy's {name} ({found.f_globals['__name__']})"


def _numbers_message(tensor: Tensor, caller: str | None) -> str:
    what = caller or "np.asarray, np.array or a numpy function written in C"
    kind = f"computed by op {tensor.op!r}" if tensor._node is not None else "a leaf"
    return (
        f"{what} asked for the numbers of a gl.Tensor that requires grad ({kind}, shape "
        f"{tensor.shape}): its gradient would be lost without a word (PyTorch raises here "
        "too: \"Can't call numpy() on Tensor that requires grad\"). For the numbers "
        "without grad, pass t.detach() (or t.data). To keep the gradient, call registered "
        "ops on the tensors (gl.mean(gl.stack([a, b])) rather than np.mean([a, b]); "
        "`gradledger ops` lists them), or register an op for this function (docs/plugins.md)."
    )


def _numpy_op(name: str, module: str):
    """The op standing for numpy's `name`, or an error saying no plugin registers one."""
    doors.host.ensure_loaded()
    op = doors.host.registry.for_numpy(name)
    if op is None:
        call = f"{module}.{name}"
        raise OpNotFoundError(
            f"{call} was called on a gl.Tensor, but no registered op stands for numpy's "
            f"{name!r}: no plugin registers one (an op named {name!r}, or one declaring "
            f"numpy_names=({name!r},)). Call {call}(t.detach().numpy()) for the numbers "
            "without grad, or register such an op (docs/plugins.md); `gradledger ops` lists "
            "the ops."
        )
    return op


def _missing_attribute(name: str) -> str:
    """Say plainly that a Tensor has no such attribute: a close match among its own
    attributes first, else among the ops (only an op-like name suggests a plugin)."""
    own = [n for n in dir(Tensor) if not n.startswith("_")]
    close = difflib.get_close_matches(name, own, n=1)
    if close:
        return f"'Tensor' object has no attribute {name!r}. Did you mean {close[0]!r}?"
    ops = difflib.get_close_matches(name, list(doors.host.registry.ops), n=3)
    hint = f" Did you mean {', '.join(map(repr, ops))}?" if ops else ""
    return (f"'Tensor' object has no attribute {name!r}, and no op named {name!r} is "
            f"registered.{hint} `gradledger ops` lists the ops; more come from plugins.")


def tensor(data, requires_grad: bool = False, name: str | None = None, dtype=None) -> Tensor:
    """Make a leaf tensor from a number, a (nested) list or a numpy array (copied).

    Python floats become float64 (or the dtype `gl.set_default_dtype` chose), ints int64;
    a numpy array keeps its dtype. `requires_grad=True` needs a floating-point dtype.
    """
    return Tensor(data, requires_grad=requires_grad, name=name, dtype=dtype)


def _to_array(data, dtype) -> np.ndarray:
    if isinstance(data, Tensor):
        data = data._data
    try:
        try:
            array = np.array(data, dtype=dtype)
        except RequiresGradError:  # a list of tensors: gl.tensor takes their numbers on purpose
            array = np.array(_plain(data), dtype=dtype)
    except (ValueError, TypeError) as error:
        raise TypeError(
            f"gl.tensor() expected a number, a rectangular (nested) list of numbers or a "
            f"numpy array; got {type(data).__name__}: {error}"
        ) from None
    if array.dtype.kind not in "biufc":
        raise TypeError(
            f"gl.tensor() expected numbers (bool, int, float or complex); got dtype {array.dtype} "
            f"from {type(data).__name__} {_preview(data)}"
        )
    if (dtype is None and array.dtype == np.float64 and _dtypes.default != np.float64
            and not isinstance(data, (np.ndarray, np.generic))):
        array = array.astype(_dtypes.default)  # Python floats: the default dtype
    return array


def _preview(data) -> str:
    text = repr(data)
    return text if len(text) <= 60 else text[:57] + "..."


def call(name: str, *args, **params) -> Tensor:
    """Call the registered op `name` on tensors (and numbers or arrays mixed in)."""
    return doors.apply(doors.host.lookup(name), args, params)

