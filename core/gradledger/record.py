"""Record: run an op's forward and, when an input requires grad, keep a Node of the call.

`apply` runs once per op call and is written for speed; `bind` maps a call as the user
wrote it (params by position, a sequence of inputs) onto the op's inputs and params.
What a Node keeps for its rules is what its op `reads` and what its forward saved
(see gradledger.saved); the arrays it keeps stay read-only while it lives (gradledger.locks).
"""

from __future__ import annotations

import sys
import weakref
from itertools import count

import numpy as np

from . import anomaly, locks
from . import dtypes as _dtypes
from . import grad_mode as _modes
from . import saved as _saved
from .errors import OpCallError, OpRuleError, add_note, describe_op
from .op import RESERVED
from .signature import SEQUENCE, STAR, shape_mismatch
from .tensor import Tensor, _einsum_sublists, as_data

_new_tensor = _new_node = object.__new__
_weak = weakref.ref
_next_ticket = count(0, -1).__next__  # each recorded call's ticket: 0, -1, -2, ... (see Node)

_FLOATS = frozenset({np.float64, np.float32, np.float16, np.longdouble})
_COMPLEX = frozenset({np.complex128, np.complex64, np.clongdouble})
_PLAIN = (True, False)  # (recording, anomaly detection) while grad_mode.plain


class Node:
    """One recorded op call: the op, what it was given, what it made, and who its parents are.

    `ticket` orders the calls: a later call has a smaller ticket (the backward walk takes
    the smallest first: the tape played backward, see `walk`).
    `parents[i]` is the Node that produced input i (an `Output` when that was one of
    several outputs of a call), the input itself when it is a leaf that requires grad,
    or None when input i takes no gradient. The output tensor is held by weak
    reference: an intermediate nobody holds costs nothing. A call with several
    outputs keeps them in `out` (a tuple) and their weak references in `outputs`.
    """

    __slots__ = ("op", "params", "arrays", "out", "parents", "tensor", "locked", "origin",
                 "outputs", "ticket", "saved")

    def __init__(self, op, params, arrays, out, parents, tensor):
        self.ticket = _next_ticket()
        self.op = op
        self.params = params
        self.arrays = arrays
        self.out = out
        self.parents = parents
        self.tensor = tensor
        self.saved = None  # what the forward of an `Op(saves=True)` saved for its rules
        self.locked = None  # the numpy arrays this call locked read-only (see LockingNode)
        self.origin = None  # the calling line, recorded under detect_anomaly()

    def free(self) -> None:
        """Drop what was saved for backward (the graph's shape stays, to detect a reuse)."""
        self.arrays = self.out = self.params = self.saved = None


class LockingNode(Node):
    """A Node that saved numpy arrays: they stay read-only until it frees them or dies.

    Only these nodes pay for a finalizer; a graph of numpy scalars never does.
    """

    __slots__ = ()

    def free(self) -> None:
        Node.free(self)
        locks.release(self)

    def __del__(self, _finalizing=sys.is_finalizing, _release=locks.release_dying) -> None:
        # A graph dropped without backward: let its arrays be written again. Not while the
        # interpreter shuts down: the module globals `release` needs may already be gone
        # (None), and nobody is left to write into the arrays anyway. (The two functions
        # are bound as defaults because this module's own globals may be gone too.)
        try:
            if self.locked and not _finalizing():
                _release(self)
        except AttributeError:  # `apply` was interrupted before it filled the slot
            pass
        except KeyboardInterrupt:  # before `_release` began: locks.release_dying says more
            locks.interrupted_in_finalizer()


NODES = (Node, LockingNode)
"""The classes of recorded calls: `type(x) in NODES` tells a Node from a leaf Tensor."""


class Output:
    """The `index`-th output of a call with several outputs: what such an output's
    tensor holds as `_node`, and what its consumers hold as a parent."""

    __slots__ = ("node", "index")

    def __init__(self, node: Node, index: int) -> None:
        self.node = node
        self.index = index

    @property
    def op(self):
        return self.node.op


def _nobody():
    """`node.tensor()` of a call with several outputs: no single tensor stands for it."""
    return None


def apply(op, args: tuple, params: dict):
    """Run `op.forward` on the inputs and, when any input requires grad, record a Node.

    Returns the output Tensor, or a tuple (a list, if forward returned one) of
    Tensors for an op with several outputs.

    This runs once per op call: it is written for speed. A call with exactly the
    op's inputs and params by keyword goes straight through; anything else (params
    by position, a sequence of inputs, the wrong count) is bound by `bind` first.
    A forward rule that raises gets its inputs checked against the signature then.
    """
    if len(args) != op.arity:  # -1 for ops whose calls always need binding
        args, params = bind(op, args, params)
    elif params:
        _check_params(op, params)
    arrays, parents = [], []
    requires = constants = saves_array = False
    for x in args:
        # type(x), not x.__class__: Tensor's __getattr__ (x.relu()) makes every attribute
        # read of a Tensor slow, and `type` is a cheap builtin.
        if type(x) is Tensor or isinstance(x, Tensor):
            data = x._data  # the slot: Tensor.data is a checked property
            if type(data) is np.ndarray:
                saves_array = True
            arrays.append(data)
            if x.requires_grad:
                requires = True
                parents.append(x._node or x)
            else:
                parents.append(None)
        else:
            constants = True
            arrays.append(x)
            parents.append(None)
    data = None  # held by no frame when the lock counts who holds it (see locks)
    if constants:
        saves_array = _wrap_constants(op, args, arrays)
    # The thread's modes, without a thread-local read while no thread is in a mode block.
    recording, detecting = _PLAIN if _modes.plain else _modes.modes()
    if requires and op.guarded:
        if not op.differentiable:  # comparisons, argmax: nothing to record
            requires = False
        elif recording:
            _check_constants(op, parents)
    try:
        # Without params, no keyword dict is built for the call (it costs as much as the rest).
        out = op.run(*arrays, **params) if params else op.run(*arrays)
    except KEEP_KIND as error:
        _noted(error, f"in the forward rule of {describe_op(op)}", arrays)
        raise
    except Exception as error:
        raise _forward_error(op, arrays, params, error) from error
    if op.special:  # several outputs, or saved values
        return _record_special(op, arrays, params, parents, requires and recording, detecting,
                               out)
    if type(out) is np.ndarray:
        if out.ndim == 0:
            out = out[()]
        else:
            saves_array = True
    elif type(out) not in _FLOATS and not isinstance(out, np.generic):
        out = _single_output(op, out)
        saves_array = saves_array or type(out) is np.ndarray
    if detecting:
        anomaly.check_forward(op, arrays, out)
    result = _new_tensor(Tensor)
    result._data = out  # the slot behind Tensor.data (whose setter checks what users assign)
    result.grad = result.name = None
    # Only floating outputs carry a gradient: an integer or boolean result is a constant.
    if requires and recording and (type(out) in _FLOATS or out.dtype.kind == "f"
                                   or (out.dtype.kind == "c" and _complex_out(op, out))):
        # A float32 tensor requiring grad exists and this call computed in float64: did it
        # widen one? (A float32 model that stays float32 pays one comparison.)
        if _dtypes.watching and out.dtype is _dtypes.FLOAT64:
            _dtypes.check_widening(op, arrays, parents, out, params)
        result.requires_grad = True
        # The numpy arrays a call saves are locked read-only while its Node lives; a call
        # on numpy scalars alone saves nothing writeable, so its Node needs no finalizer.
        # (Filled slot by slot rather than through Node.__init__: one Python call less.)
        node = result._node = _new_node(LockingNode if saves_array else Node)
        node.ticket = _next_ticket()
        node.op = op
        node.params = params
        node.arrays = arrays
        node.out = out
        node.parents = parents
        node.tensor = _weak(result)
        node.saved = None
        if saves_array:
            if op.trims:  # drop the arrays its rules do not read (see gradledger.saved)
                _saved.trim(node)
            locks.lock(node)
        else:
            node.locked = None
        node.origin = anomaly.user_frame() if detecting else None
    else:
        result.requires_grad = False
        result._node = None
    return result


def _record_special(op, arrays, params, parents, record, detecting, out):
    """`apply`'s recording for an op with several outputs or saved values (`Op.special`)."""
    saved = None
    if op.saves:
        out, saved = _saved.split(op, out)
    if op.multi:
        return _record_outputs(op, arrays, params, parents, record, detecting, out, saved)
    out = _single_output(op, out)
    if detecting:
        anomaly.check_forward(op, arrays, out)
    result = Tensor._result(out, False)
    if record and (type(out) in _FLOATS or out.dtype.kind == "f"
                   or (out.dtype.kind == "c" and _complex_out(op, out))):
        result.requires_grad = True
        node = result._node = LockingNode(op, params, arrays, out, parents, None)
        node.tensor = _weak(result)
        _keep(node, saved, detecting)
    return result


def _complex_out(op, out) -> bool:
    """A complex output of a call that records: fine when the op declares complex dtypes;
    an error otherwise, since its rules were written for real numbers and the gradient
    would be lost (or wrong) without a word."""
    if op.complex:
        return True
    raise OpRuleError(
        f"{describe_op(op)} returned a {out.dtype} output for inputs that require grad, but "
        f"declares only real dtypes ({', '.join(map(str, op.dtypes))}): its rules are "
        "written for real numbers. Declare the complex dtypes it supports, e.g. "
        "dtypes=('float64', 'float32', 'complex128', 'complex64'), or "
        "'float64->complex128' for real inputs with a complex output, with rules that follow "
        "docs/plugins.md (\"Complex numbers\"); or call it on real numbers."
    )


def _keep(node, saved, detecting) -> None:
    """Keep on a new LockingNode what its rules read, its saved values, locked."""
    node.saved = saved
    if node.op.trims:
        _saved.trim(node)
    locks.lock(node)
    if detecting:
        node.origin = anomaly.user_frame()


def _record_outputs(op, arrays, params, parents, record, detecting, out, saved=None):
    """The several outputs of one call: a Tensor each, all recorded by one Node when
    `record` (an input requires grad and this thread records)."""
    if not isinstance(out, (tuple, list)) or (op.nout is not None and len(out) != op.nout):
        want = f"a tuple of {op.nout}" if op.nout is not None else "a list"
        raise OpRuleError(
            f"{describe_op(op)}: its forward rule must return {want} arrays (signature "
            f"{op.signature!r}); got {_describe_value(out)}"
        )
    outs = tuple(_single_output(op, o) for o in out)
    if detecting:
        for o in outs:
            anomaly.check_forward(op, arrays, o)
    results = [Tensor._result(o, False) for o in outs]
    # only these carry a gradient (complex ones if the op declares complex dtypes)
    floats = [o.dtype.kind == "f" or (record and o.dtype.kind == "c" and _complex_out(op, o))
              for o in outs]
    if record and any(floats):
        node = LockingNode(op, params, arrays, outs, parents, _nobody)
        node.outputs = tuple(weakref.ref(r) if f else None
                             for r, f in zip(results, floats, strict=True))
        _keep(node, saved, detecting)
        for k, (result, f) in enumerate(zip(results, floats, strict=True)):
            if f:
                result.requires_grad = True
                result._node = Output(node, k)
    return results if isinstance(out, list) else tuple(results)


def _single_output(op, out):
    """One output as numpy gives it: an array, or a numpy scalar when 0-d."""
    if out.__class__ is np.ndarray and out.ndim and out.dtype.kind != "O":
        return out  # (the common case: what the checks below would return as it is)
    if isinstance(out, (tuple, list)) and not op.multi:  # never stacked in silence
        raise OpRuleError(
            f"{describe_op(op)}: its forward rule returned {_describe_value(out)}; expected "
            f"one array (signature {op.signature!r}). An op with several outputs declares "
            "them: '(*)->(*),(*)'"
        )
    try:
        out = np.asarray(out)
    except Exception as error:
        raise OpRuleError(
            f"{describe_op(op)}: its forward rule returned {_describe_value(out)}, which is "
            f"not an array ({error})"
        ) from None
    if out.dtype == object:
        raise OpRuleError(
            f"{describe_op(op)}: its forward rule returned {_describe_value(out)}, which numpy "
            f"makes an object array; expected numbers (signature {op.signature!r})"
        )
    return as_data(out)


def bind(op, args: tuple, params: dict) -> tuple[tuple, dict]:
    """Map a call as the user wrote it onto the op's flat inputs and its params.

    Leading params (einsum's subscripts) come first, then the inputs (a sequence
    input is a list or tuple of tensors, flattened here; repeated inputs take every
    remaining positional argument), then params by position in `op.positional`'s order.
    """
    params = dict(params)
    args = list(args)
    for name in op.leading_params:
        if name in params:  # given by keyword: the positional arguments are all inputs
            continue
        if not args:
            raise OpCallError(f"{describe_op(op)} takes {name!r} first: "
                              f"gl.{op.name}({', '.join(op.leading_params)}, ...)")
        if name == "subscripts" and not isinstance(args[0], str):  # einsum's sublist form
            args = list(_einsum_sublists(tuple(args)))
        _set_param(op, params, name, args.pop(0))
    fixed = op.nin - 1 if op.variadic is not None else op.nin
    if len(args) < op.nin or (op.variadic == STAR and len(args) < fixed + 1):
        raise OpCallError(_arity_message(op, args, params))
    inputs, extra = args[:fixed], args[fixed:]
    if op.variadic == SEQUENCE:
        sequence, extra = extra[0], extra[1:]
        if isinstance(sequence, Tensor) or not isinstance(sequence, (list, tuple)):
            raise OpCallError(
                f"{describe_op(op)} takes a sequence of tensors as input {op.nin} (signature "
                f"{op.signature!r}): gl.{op.name}([a, b, ...]); got {_describe_value(sequence)}"
            )
        if not sequence:
            raise OpCallError(f"{describe_op(op)} needs at least one tensor in its sequence "
                              "input; got an empty one")
        inputs.extend(sequence)
    elif op.variadic == STAR:
        inputs.extend(extra)
        extra = []
    names = op.positional[:len(extra)]
    if len(extra) > len(names) or (
        op.param_names is not None and not set(names) <= op.param_names
    ):
        raise OpCallError(_positional_message(op, len(inputs), extra))
    for name, value in zip(names, extra, strict=True):
        _set_param(op, params, name, value)
    if params:
        _check_params(op, params)
    return tuple(inputs), params


def _set_param(op, params: dict, name: str, value) -> None:
    if name in params:
        raise OpCallError(f"{describe_op(op)} got param {name!r} twice: by position and "
                          "by keyword")
    params[name] = value


def _positional_message(op, inputs: int, extra) -> str:
    """Too many positional arguments, or one landing on a param the op does not take."""
    takes = sorted(op.param_names or ()) if op.param_names is not None else ["any"]
    message = (f"{describe_op(op)} takes {op.nin} input(s) (signature {op.signature!r}); "
               f"got {inputs + len(extra)} positional arguments.")
    landed = op.positional[:len(extra)]
    if not op.positional or not takes:
        return message + (" It takes no params by position; its params: "
                          f"{', '.join(takes) or 'none'}")
    refused = [n for n in landed if op.param_names is not None and n not in op.param_names]
    if len(extra) > len(op.positional):
        refused.append(f"{len(extra) - len(op.positional)} beyond the last")
    return message + (
        f" After its inputs come params by position in the order ({', '.join(op.positional)})"
        f"; {', '.join(refused)} it does not take. Its params: {', '.join(takes)}; pass them "
        f"by keyword: gl.{op.name}(x, {takes[0]}=...)"
    )


def _wrap_constants(op, args, arrays) -> bool:
    """Turn numbers and lists mixed in with tensors into numpy values of the tensors' dtype;
    return whether `arrays` then holds a numpy array (not only numpy scalars).

    As numpy does with Python scalars (NEP 50): `float32_tensor * 3.0` stays float32;
    a Python float with an integer tensor gives float64.
    """
    for x in args:
        if type(x) is Tensor or isinstance(x, Tensor):
            dtype = x._data.dtype
            break
    else:
        raise OpCallError(
            f"{describe_op(op)} was called without any gl.Tensor input; wrap one with "
            "gl.tensor(...)"
        )
    # The common case (`y * 1.0001`, `2 * x`: a Python number with a float tensor, for an
    # op that declares no constant input) takes the number from a cache (see _NUMBERS).
    numbers = None if op.constants else _NUMBERS.get(dtype)
    saves_array = False
    for i, x in enumerate(arrays):
        kind = type(x)
        if kind in _FLOATS:  # a tensor's numpy scalar
            continue
        if numbers is not None and (kind is float or kind is int):
            value = numbers.get(x)
            arrays[i] = value if value is not None else _number(numbers, dtype, x)
            continue
        if kind is np.ndarray:
            if x is args[i]:  # given as a value: copied, so changing it later changes nothing
                arrays[i] = locks.frozen_copy(x)
            saves_array = True
            continue
        if isinstance(x, np.generic):
            continue
        if i in op.constants:
            # A declared constant keeps its own type: Python numbers stay weak (x ** 2 of
            # a float32 x stays float32), lists of integer labels stay integers.
            if kind is not int and kind is not float:
                arrays[i] = _constant(op, i, x, None)
        elif kind is float:
            arrays[i] = dtype.type(x) if dtype.kind in "fc" else np.float64(x)
        elif kind is int and dtype.kind in "fc":
            arrays[i] = dtype.type(x)
        elif kind is complex:  # as numpy: a float32 tensor with 1j gives complex64
            arrays[i] = np.result_type(dtype, 1j).type(x) if dtype.kind in "fc" \
                else np.complex128(x)
        else:
            arrays[i] = _constant(op, i, x, dtype)
        if type(arrays[i]) is np.ndarray:
            saves_array = True
    return saves_array


_NUMBERS: dict = {np.dtype(t): {} for t in _FLOATS}
"""float dtype -> {Python number: that number as a numpy scalar of the dtype}.

The numbers of a loop (`y * 1.0001`) repeat, and a dict look-up costs a tenth of making a
numpy scalar; numpy scalars are immutable, so one can serve every call. Zero is never
kept (0.0 and -0.0 are equal keys of different sign), nor a number that overflows the
dtype (its conversion warns, or raises under np.errstate, every time); a dtype keeps at
most 1,024 numbers, and converts the rest every time."""


def _number(numbers: dict, dtype, x):
    """`x` (a Python int or float) as a numpy scalar of the float `dtype`, remembered."""
    value = dtype.type(x)
    if x and len(numbers) < 1024 and np.isfinite(value):
        numbers[x] = value
    return value


def _constant(op, i, x, dtype):
    """A list (or anything else) mixed in with tensors: an array of the tensors' dtype (of
    its own dtype for a declared constant input, so integer labels stay integers)."""
    if not isinstance(x, (int, float, list, tuple)):
        if type(x) is _saved.Unread:  # a rule run on Tensors used an input it does not read
            raise x.error()
        raise OpCallError(
            f"{describe_op(op)} input {i + 1}: expected a gl.Tensor, a numpy array or a "
            f"Python number; got {type(x).__name__} {x!r}"
        )
    try:
        if dtype is None or (isinstance(x, float) and dtype.kind != "f"):
            return as_data(np.asarray(x))
        return as_data(np.asarray(x, dtype=dtype))
    except (OverflowError, ValueError, TypeError) as error:
        raise OpCallError(
            f"{describe_op(op)} input {i + 1}: {x!r} does not fit the tensors' dtype "
            f"{dtype} ({error})"
        ) from None


def _check_constants(op, parents) -> None:
    for i in op.constants:
        if parents[i] is not None:
            raise OpCallError(
                f"{describe_op(op)} input {i + 1} is a constant and takes no gradient, but "
                "the tensor given there requires grad. Pass a plain array or number, or "
                "a tensor with requires_grad=False (t.detach())."
            )


def _check_params(op, params: dict) -> None:
    """Refuse params the op's rules cannot take, here rather than at backward; copy the
    arrays and lists among them (params are values: changing yours later changes nothing)."""
    for name, value in params.items():
        kind = type(value)
        if kind is np.ndarray or kind is list or kind is tuple or kind is dict:
            params[name] = _param_value(value)
        elif isinstance(value, Tensor):
            params[name] = _tensor_param(op, name, value)
    unknown = set(params) & RESERVED
    if op.param_names is not None:
        unknown |= set(params) - op.param_names
    if unknown:
        takes = ", ".join(sorted(op.param_names)) if op.param_names else "none"
        raise OpCallError(
            f"{describe_op(op)} got param(s) {', '.join(sorted(unknown))} that it does not "
            f"take; its params: {takes}"
        )


PARAM_GRADS = {
    "clip": "for a bound that needs a gradient, write gl.minimum(gl.maximum(x, lo), hi) "
            "(torch.clamp with tensor bounds)",
}
"""Per op, how to get a gradient for a param that came as a Tensor requiring grad."""


def _tensor_param(op, name: str, value):
    """A Tensor given for a param: params are constants, so a Tensor that requires grad is
    refused (its gradient would be lost without a word: numpy reads it through __array__);
    one that does not is its array, as a constant."""
    if value.requires_grad and _modes.is_grad_enabled():
        how = PARAM_GRADS.get(op.name, "pass it as an input of an op that takes it as one")
        raise OpCallError(
            f"{describe_op(op)} got a gl.Tensor that requires grad for its param {name!r}; "
            "params are constants, so no gradient would reach it. To use its values as a "
            f"constant, pass {name}=t.detach(); {how}"
        )
    return _param_value(np.asarray(value._data)) if value.ndim else value._data


def _param_value(value):
    """A param as a value: arrays copied read-only, lists and dicts rebuilt, tuples too
    when they hold any of those."""
    kind = type(value)
    if kind is np.ndarray or isinstance(value, np.ndarray):
        return locks.frozen_copy(np.asarray(value))
    if kind is list:
        return [_param_value(v) for v in value]
    if kind is dict:
        return {k: _param_value(v) for k, v in value.items()}
    if kind is tuple:
        for v in value:  # a shape, axes: plain numbers, nothing to copy
            if type(v) is not int:
                break
        else:
            return value
        items = tuple(_param_value(v) for v in value)
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value


KEEP_KIND = (MemoryError, RecursionError, KeyboardInterrupt)
"""What a rule may raise that is not the op's fault: passed on as it is, with a note."""


def _noted(error: BaseException, where: str, arrays) -> BaseException:
    """`error`, with a note saying which op's rule it came from."""
    add_note(error, f"(raised {where}, input shapes "
                    f"{', '.join(str(np.shape(a)) for a in arrays)})")
    return error


def _arity_message(op, args, params) -> str:
    if op.variadic == SEQUENCE:
        takes = f"{op.nin} input(s), the last a list of tensors"
    elif op.variadic == STAR:
        takes = f"at least {op.nin} input(s)"
    else:
        takes = f"{op.nin} input(s)"
    return f"{describe_op(op)} takes {takes} (signature {op.signature!r}); got {len(args)}."


def _forward_error(op, arrays, params, error) -> Exception:
    shapes = [np.shape(a) for a in arrays]
    mismatch = shape_mismatch(op.sig, shapes)
    if mismatch:
        return OpCallError(
            f"{describe_op(op)} cannot take inputs of shapes {', '.join(map(str, shapes))}: "
            f"{mismatch} (signature {op.signature!r})"
        )
    if isinstance(error, OpCallError):  # the forward rule itself found the call wrong
        return OpCallError(f"{describe_op(op)}: {error} (input shapes "
                           f"{', '.join(map(str, shapes))}, params {params or {}})")
    if params and isinstance(error, (TypeError, ValueError, IndexError)):
        return OpCallError(
            f"{describe_op(op)} cannot take params {params} for input shapes "
            f"{', '.join(map(str, shapes))}: {type(error).__name__}: {error}"
        )
    if op.variadic is not None and isinstance(error, ValueError):
        return OpCallError(
            f"{describe_op(op)} cannot take a sequence of inputs of shapes "
            f"{', '.join(map(str, shapes))}: {error}"
        )
    return OpRuleError(
        f"{describe_op(op)}: its forward rule raised {type(error).__name__}: {error} "
        f"(input shapes {', '.join(map(str, shapes))}, params {params or {}})"
    )


def _describe_value(value) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {shape}"
    return f"{type(value).__name__} {value!r}"
