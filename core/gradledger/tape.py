"""The tape: record who called whom on the way forward, then walk back and book.

The tape knows no math. It calls each op's own rules, looked up in the registry,
and does the bookkeeping the seed describes: `input.grad += local * output.grad`.
"""

from __future__ import annotations

import sys
import threading
import weakref
from heapq import heappop, heappush
from itertools import count
from typing import NamedTuple

import numpy as np

from . import anomaly, locks
from . import dtypes as _dtypes
from . import grad_mode as _modes
from . import saved as _saved
from .broadcast import unbroadcast
from .errors import BackwardError, OpCallError, OpRuleError, add_note, describe_op
from .op import RESERVED
from .signature import SEQUENCE, STAR, shape_mismatch
from .tensor import Tensor, _einsum_sublists, as_data

_new_tensor = _new_node = object.__new__
_weak = weakref.ref
_next_ticket = count(0, -1).__next__  # each recorded call's ticket: 0, -1, -2, ... (see Node)
_ledger_lock = threading.Lock()

_NUMERIC_KINDS = "biuf"
_FLOATS = frozenset({np.float64, np.float32, np.float16, np.longdouble})
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


# -- record -------------------------------------------------------------------


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
    if requires and recording and (type(out) in _FLOATS or out.dtype.kind == "f"):
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
    if record and (type(out) in _FLOATS or out.dtype.kind == "f"):
        result.requires_grad = True
        node = result._node = LockingNode(op, params, arrays, out, parents, None)
        node.tensor = _weak(result)
        _keep(node, saved, detecting)
    return result


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
    floats = [o.dtype.kind == "f" for o in outs]  # only these carry a gradient
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
            arrays[i] = dtype.type(x) if dtype.kind == "f" else np.float64(x)
        elif kind is int and dtype.kind == "f":
            arrays[i] = dtype.type(x)
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
    unknown = set(params) & RESERVED
    if op.param_names is not None:
        unknown |= set(params) - op.param_names
    if unknown:
        takes = ", ".join(sorted(op.param_names)) if op.param_names else "none"
        raise OpCallError(
            f"{describe_op(op)} got param(s) {', '.join(sorted(unknown))} that it does not "
            f"take; its params: {takes}"
        )


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


# -- walk backward and book ----------------------------------------------------


class Booking(NamedTuple):
    """One entry of the ledger, as `backward(trace=...)` reports it, in booking order.

    `target.grad += local * out_grad` for an elementwise op (`local` is the op's local
    derivative); for a vjp op `local` is None and `contribution` is what its rule gave.
    `op` is None for the seed, booked into the root. `source` is the op's output and
    `target` the tensor booked into (None for an intermediate nobody holds any more);
    `node` and `parent` are the recorded call and what is booked into (a Node, or a
    leaf Tensor), there even when the tensors are gone. `total` is the target's
    running balance after this entry: for a leaf, its `.grad` (which accumulates
    across backward calls); for an op's output, what this pass has gathered for it.
    """

    op: object
    source: Tensor | None
    index: int
    target: Tensor | None
    local: object
    out_grad: object
    contribution: object
    total: object
    node: Node | None = None
    parent: object = None


def backward(root: Tensor, grad=None, retain_graph: bool | None = None, trace=None,
             create_graph: bool = False) -> None:
    """Book `d root / d t` into `t.grad` for every tensor `root` depends on.

    `trace`, if given, is called with a `Booking` for every entry, in order. With
    `create_graph` the rules run on Tensors, so the booking is itself recorded and
    every `.grad` booked is a Tensor that can be differentiated again.
    """
    if not root.requires_grad:
        raise BackwardError(
            "backward() on a tensor that does not require grad: it was not computed from "
            "any tensor created with requires_grad=True, or it was computed under no_grad()"
        )
    seed = _seed(root, grad, create_graph)
    walk([(root, seed)], create_graph if retain_graph is None else retain_graph, trace,
         create_graph)


def walk(starts, retain_graph: bool, trace=None, create_graph: bool = False,
         capture: dict | None = None) -> None:
    """Walk the recorded graph back from each `(root, seed)` of `starts` and book.

    The tape is played backward: the recorded calls the roots depend on run their rules
    latest-recorded first (each Node's `ticket` says when it was recorded). Every consumer
    of a call was recorded after it, so by the time a call's rule runs, every consumer has
    booked into its output's grad: each rule runs once, on its complete output grad. The
    calls waiting for their turn sit in a heap (no recursion, no counting pass). Tickets
    are unique: they come from one counter, and a recorded call is never copied (a Tensor
    computed by an op refuses `copy.deepcopy`).

    Without `capture`, grads are booked into `.grad` (leaves, and the intermediates
    someone still holds). With `capture` (`gl.grad`), nothing's `.grad` changes: the
    grads of the tensors named by its keys (a leaf Tensor, or the `_node` of an
    intermediate) are gathered into it instead.
    """
    rule = _local_rule
    if create_graph:
        if not _modes.is_grad_enabled():
            # Recording the booking is what create_graph asks for: an enclosing no_grad()
            # does not stop it (as in PyTorch, whose engine sets grad mode to create_graph).
            with _modes.enable_grad():
                return walk(starts, retain_graph, trace, create_graph, capture)
        from .recorded import recorded_rule as rule
    # How each pass books:
    # - plain backward() gathers the grads of leaves (and of the intermediates someone
    #   holds) per tensor in `held`, and books them all at the end under one lock
    #   (`_book_all`) rather than taking the lock for every contribution. What ends up in
    #   `.grad` is the same; on failure, what was gathered so far is booked before the
    #   error propagates, as if booked at once. Its rules' contributions are checked and
    #   booked in one loop (`fused`), unless anomaly detection wants to see a call's
    #   contributions together first (`_local_rule`).
    # - a traced pass (`trace`, as gl.explain uses) reports each running balance, and a
    #   create_graph pass books Tensors: both book into `.grad` as they go.
    # - gl.grad (`capture`) books nothing into `.grad`: it gathers into `capture`.
    held: dict | None = {} if trace is None and capture is None and not create_graph else None
    fused = held is not None and not _modes.modes()[1]
    if held is None:  # a pass that books as it goes checks the graph first (see `_freed`)
        _check_not_freed(root._node for root, _ in starts)
    ledger: dict = {}  # recorded call -> the grad gathered so far for its output(s)
    # The calls with a grad gathered, waiting for their rule to run: their tickets in a
    # heap (the latest call's on top), and the calls by ticket. (Bare int tickets compare
    # at a third of the cost of (ticket, call) pairs.)
    waiting = Waiting([], {})
    for root, seed in starts:
        node = root._node
        if node is None:
            _deliver(root, seed, capture)
            if trace is not None:
                trace(Booking(None, None, 0, root, None, None, seed, root.grad, None, root))
        else:
            total = _gather(ledger, waiting, node, seed)
            if trace is not None:
                trace(Booking(None, None, 0, root, None, None, seed, total, None, node))
    booked = set()
    # The nodes this pass frees, their arrays unlocked together when it ends (one lock
    # taken, not one per node); a node's list has bases before views, as `release` wants,
    # and a view whose base some other node still locks is retried by `release` itself.
    # Each node keeps its list until then: an interrupted release leaves it to the node.
    unlock: list = []
    try:
        heap, calls = waiting
        while heap:
            node = calls.pop(heappop(heap))
            out_grad = ledger.pop(node)
            if node.arrays is None:  # freed by an earlier backward(): stop, booking nothing
                if held is not None:  # (the others checked first, see above)
                    held.clear()
                raise _freed(node)
            if type(out_grad) is list:  # a call with several outputs: book each one
                out_grad = _book_outputs(node, out_grad, booked, capture)
                tensor = None
            else:
                tensor = node.tensor()
                if capture is not None:
                    if node in capture:
                        capture[node] = out_grad
                elif tensor is not None:  # an intermediate someone holds gets its grad too
                    if held is not None:
                        held[tensor] = out_grad.copy() if type(out_grad) is np.ndarray \
                            else out_grad
                    else:
                        _book(tensor, out_grad)
                        booked.add(tensor)
            if fused:
                # The common pass asks the rule and books each contribution in one loop:
                # the checks are `_local_rule`'s, without building its list. A numpy scalar
                # of the input's own type passes them as it is (shape (), the right dtype).
                rule_out = _ask_rule(node, out_grad)
                elementwise = node.op.local_grad is not None
                i = -1  # the input's index, for the messages
                for parent, grad, like in zip(node.parents, rule_out, node.arrays):  # noqa: B905 (checked)
                    i += 1
                    if parent is None or grad is None:
                        continue
                    if elementwise:  # local * out_grad (a local of exactly 1 books out_grad)
                        try:
                            grad = out_grad if type(grad) is float and grad == 1.0 \
                                else grad * out_grad
                        except (ValueError, TypeError) as error:
                            raise _local_error(node.op, i, grad, out_grad, like, error) from None
                    if type(grad) is not type(like) or type(like) is np.ndarray:
                        grad = _checked(node, i, parent, grad, like, out_grad, rule_out)
                    kind = type(parent)
                    if kind is Node or kind is LockingNode:  # `_gather`, inlined
                        previous = ledger.get(parent)
                        if previous is None:
                            ledger[parent] = grad
                            heappush(heap, parent.ticket)  # `waiting.add(parent)`, inlined
                            calls[parent.ticket] = parent
                        else:
                            ledger[parent] = previous + grad
                    elif kind is Output:
                        _gather(ledger, waiting, parent, grad)
                    else:  # a leaf
                        previous = held.get(parent)
                        held[parent] = grad if previous is None else previous + grad
            else:
                contributions, locals_ = rule(node, out_grad)
                _book_contributions(node, tensor, out_grad, contributions, locals_, ledger,
                                    waiting, held, booked, capture, trace)
            if not retain_graph:  # `node.free()`, with its arrays unlocked at the end
                node.arrays = node.out = node.params = node.saved = None
                if node.locked is not None:
                    unlock.append(node)
        if held:
            _book_all(held, booked)
    except BaseException as error:
        interrupted = not isinstance(error, Exception)  # KeyboardInterrupt, SystemExit
        if held and not interrupted:
            _book_all(held, booked)
        if interrupted and not booked and capture is None:
            add_note(error, "backward() was interrupted before it booked anything: every "
                            ".grad is as it was. Recompute the forward pass to try again.")
        if booked and capture is None:
            names = ", ".join(sorted(t.name or f"a tensor of shape {t.shape}" for t in booked))
            add_note(
                error,
                f"backward() stopped part-way: {len(booked)} tensor(s) already had grads "
                f"booked ({names}) and keep them; clear them with zero_grad() and recompute "
                "the forward pass before trying again."
            )
        raise
    finally:
        if unlock:
            locks.release_all(unlock)


class Waiting(NamedTuple):
    """The recorded calls a backward walk has gathered a grad for and not yet run:
    `heap` holds their tickets (smallest, the latest call, first), `calls` maps a ticket
    to its call."""

    heap: list
    calls: dict

    def add(self, node: Node) -> None:
        heappush(self.heap, node.ticket)
        self.calls[node.ticket] = node


def _check_not_freed(nodes) -> None:
    """Raise `_freed` if any call under `nodes` was freed by an earlier backward(): a
    pass that books as it goes (traced, create_graph, gl.grad) checks the whole graph
    before it books anything. (The other passes find a freed call when they reach it,
    and book nothing then.)"""
    stack = [node for node in nodes if node is not None]
    seen = set()
    while stack:
        node = stack.pop()
        if type(node) is Output:
            node = node.node
        if type(node) not in NODES or node in seen:
            continue
        seen.add(node)
        if node.arrays is None:
            raise _freed(node)
        stack.extend(node.parents)


def _freed(node: Node) -> BackwardError:
    return BackwardError(
        f"backward() through a graph that an earlier backward() freed, or that a "
        f"backward() which failed part-way released (at op {node.op.name!r}). Pass "
        "retain_graph=True to the first backward() to walk the graph again, or "
        "recompute the forward pass."
    )


def _book_contributions(node, tensor, out_grad, contributions, locals_, ledger, waiting,
                        held, booked, capture, trace) -> None:
    """Book one node's contributions (the walk's passes other than the fused one): a
    leaf's into `held` when the pass has it, reporting each entry to `trace` when given."""
    for i, (parent, contribution) in enumerate(zip(node.parents, contributions)):  # noqa: B905
        if contribution is None:
            continue
        kind = type(parent)
        if kind is Node or kind is LockingNode or kind is Output:
            total = _gather(ledger, waiting, parent, contribution)
            if trace is not None:
                trace(Booking(node.op, tensor, i, _tensor_of(parent), _local(node, locals_, i),
                              out_grad, contribution, total, node, parent))
        elif held is not None:
            previous = held.get(parent)
            held[parent] = contribution if previous is None else previous + contribution
        else:
            _deliver(parent, contribution, capture, copied=True)
            booked.add(parent)
            if trace is not None:
                trace(Booking(node.op, tensor, i, parent, _local(node, locals_, i), out_grad,
                              contribution, parent.grad, node, parent))


def _book_all(held: dict, booked: set) -> None:
    """Book what a pass gathered per tensor (each grad its own array), under one lock:
    backward passes in several threads may book into one shared leaf."""
    with _ledger_lock:
        for tensor, grad in held.items():
            booked.add(tensor)  # first: an interrupted booking is reported, not lost
            if tensor.grad is None:
                tensor.grad = grad
            else:
                tensor.grad = tensor.grad + grad
    booked.update(held)
    held.clear()


def _deliver(leaf: Tensor, grad, capture: dict | None, copied: bool = False) -> None:
    """Book a grad into a leaf: into its `.grad`, or into `capture` when it is asked for."""
    if capture is None:
        if copied:
            _book_leaf(leaf, grad)
        else:
            _book(leaf, grad)
    elif leaf in capture:
        previous = capture[leaf]
        capture[leaf] = grad if previous is None else previous + grad


def _gather(ledger: dict, waiting: Waiting, parent, contribution):
    """Add a contribution to what this pass has gathered for `parent`'s output; return it.

    A call entering the ledger joins the `waiting` heap. A call with several outputs
    gathers a list, one slot per output (see `Output`).
    """
    if type(parent) is Output:
        node = parent.node
        slots = ledger.get(node)
        if slots is None:
            slots = ledger[node] = [None] * len(node.outputs)
            waiting.add(node)
        k = parent.index
        slots[k] = contribution if slots[k] is None else slots[k] + contribution
        return slots[k]
    previous = ledger.get(parent)
    if previous is None:
        waiting.add(parent)
        total = ledger[parent] = contribution
    else:
        total = ledger[parent] = previous + contribution
    return total


def _book_outputs(node: Node, slots: list, booked: set, capture: dict | None) -> tuple:
    """Book each output's gathered grad into its tensor, if someone holds it; return the
    cotangents the vjp gets: zeros for a floating output nobody used, None for the rest."""
    cotangents = []
    for k, (ref, grad, out) in enumerate(zip(node.outputs, slots, node.out, strict=True)):
        if ref is None:
            cotangents.append(None)
            continue
        if grad is None:  # (`out` may be an Unread: its shape and dtype only)
            grad = as_data(np.zeros(out.shape, out.dtype))
        elif capture is not None:
            if (node, k) in capture:
                capture[(node, k)] = grad
        else:
            tensor = ref()
            if tensor is not None:
                _book(tensor, grad)
                booked.add(tensor)
        cotangents.append(grad)
    return tuple(cotangents)


def _tensor_of(parent):
    """The tensor a recorded call (or one output of it) stands for, None if nobody holds it."""
    if type(parent) is Output:
        return parent.node.outputs[parent.index]()
    return parent.tensor()


def _local(node: Node, locals_: tuple, i: int):
    return locals_[i] if node.op.local_grad is not None else None


def _seed(root: Tensor, grad, create_graph: bool = False):
    if grad is None:
        if root.data.size != 1 or np.ndim(root.data) != 0:
            raise BackwardError(
                f"backward() without a grad works on a scalar output (the loss); this "
                f"output has shape {root.shape}. Pass grad=, an array of that shape (the "
                "output's sensitivity), or reduce it first, e.g. gl.sum(out)."
            )
        seed = root.data.dtype.type(1)
        return Tensor._result(seed, False) if create_graph else seed
    if create_graph and isinstance(grad, Tensor):  # a seed that may itself be differentiated
        if grad.shape != root.shape:
            raise BackwardError(f"backward(grad=...) needs a grad of the output's shape "
                                f"{root.shape}; got shape {grad.shape}")
        return grad if grad.dtype == root.dtype else grad.astype(root.dtype)
    grad = grad.data if isinstance(grad, Tensor) else grad
    try:
        grad = np.array(grad, dtype=root.data.dtype)  # a copy: rules never see your array
    except (TypeError, ValueError) as error:
        raise BackwardError(
            f"backward(grad=...) needs a numeric array; got {type(grad).__name__}: {error}"
        ) from None
    if grad.shape != root.shape:
        raise BackwardError(
            f"backward(grad=...) needs a grad of the output's shape {root.shape}; "
            f"got shape {grad.shape}"
        )
    grad = as_data(grad)
    return Tensor._result(grad, False) if create_graph else grad


def _book(tensor: Tensor, grad) -> None:
    """`tensor.grad += grad`, as a new array: a booked grad never aliases another."""
    _book_leaf(tensor, grad.copy() if type(grad) is np.ndarray else grad)


def _book_leaf(tensor: Tensor, grad) -> None:
    """`tensor.grad += grad` for a contribution nobody else holds (`_local_rule` made sure).

    Under a lock: backward passes in several threads may book into one shared leaf.
    """
    with _ledger_lock:
        if tensor.grad is None:
            tensor.grad = grad
        else:
            tensor.grad = tensor.grad + grad


def _exclusive(grad, node: Node, out_grad, rule_out: tuple) -> bool:
    """True when a vjp's array is its own: not a view, not a cotangent, an input, an
    output or a saved value, not returned twice. Such an array can become a leaf's `.grad`
    as it is."""
    if type(out_grad) is tuple:
        others = (*out_grad, *node.out, *node.arrays)
    else:
        others = (out_grad, node.out, *node.arrays)
    if node.saved is not None:  # a saved value returned as it is: shared with the call
        others = (*others, *node.saved)
    return (
        grad.base is None
        and all(grad is not a for a in others)
        and sum(r is grad for r in rule_out) == 1
    )


def _local_rule(node: Node, out_grad) -> tuple:
    """Ask the op's rule to turn the output's grad into one contribution per input.

    Returns the contributions (None where an input takes no gradient) and what the
    rule itself returned (the local derivatives, for an elementwise op). The common
    backward pass does the same, booking as it goes (`walk`'s fused loop).
    """
    rule_out = _ask_rule(node, out_grad)
    elementwise = node.op.local_grad is not None
    contributions = []  # its length is the index of the input at hand (for the messages)
    for parent, grad, like in zip(node.parents, rule_out, node.arrays):  # noqa: B905 (checked)
        if parent is None or grad is None:
            contributions.append(None)
            continue
        if elementwise:
            try:
                grad = out_grad if type(grad) is float and grad == 1.0 else grad * out_grad
            except (ValueError, TypeError) as error:
                raise _local_error(node.op, len(contributions), grad, out_grad, like,
                                   error) from None
        if type(grad) is not type(like) or type(like) is np.ndarray:
            grad = _checked(node, len(contributions), parent, grad, like, out_grad, rule_out)
        contributions.append(grad)
    if not _modes.plain and _modes.modes()[1]:
        anomaly.check_backward(node, out_grad, contributions)
    return contributions, rule_out


def _ask_rule(node: Node, out_grad) -> tuple:
    """Call the op's rule (local_grad or vjp) for one recorded call; check it returned a
    tuple with one entry per input."""
    op, arrays = node.op, node.arrays
    local_grad = op.local_grad
    try:
        if op.saves:  # (`_ask_saving`: the rule takes saved= too)
            rule_out = _ask_saving(op, node, out_grad)
        # A call spelt `rule(*arrays, out=...)` costs three times one with the arrays
        # unpacked, so the usual arities (one or two inputs, no params) are spelt out.
        elif local_grad is not None:
            if node.params:
                rule_out = local_grad(*arrays, out=node.out, **node.params)
            elif len(arrays) == 2:
                rule_out = local_grad(arrays[0], arrays[1], out=node.out)
            elif len(arrays) == 1:
                rule_out = local_grad(arrays[0], out=node.out)
            else:
                rule_out = local_grad(*arrays, out=node.out)
        elif op.vjp_wants_needs:
            needs = tuple(parent is not None for parent in node.parents)
            rule_out = op.vjp(out_grad, *arrays, out=node.out, needs_grad=needs, **node.params)
        elif node.params:
            rule_out = op.vjp(out_grad, *arrays, out=node.out, **node.params)
        elif len(arrays) == 1:
            rule_out = op.vjp(out_grad, arrays[0], out=node.out)
        else:
            rule_out = op.vjp(out_grad, *arrays, out=node.out)
    except _saved.UnreadError:
        raise
    except KEEP_KIND as error:
        _noted(error, f"in the {op.rule} rule of {describe_op(op)}", arrays)
        raise
    except Exception as error:
        raise OpRuleError(
            f"{describe_op(op)}: its {op.rule} rule raised {type(error).__name__}: {error} "
            f"(input shapes {', '.join(str(np.shape(a)) for a in arrays)})"
        ) from error
    if type(rule_out) is not tuple or len(rule_out) != len(arrays):
        raise OpRuleError(
            f"{describe_op(op)}: its {op.rule} rule must return a tuple of {len(arrays)} "
            f"(one per input); got {_describe_value(rule_out)}"
        )
    return rule_out


def _ask_saving(op, node: Node, out_grad):
    """The rule of an `Op(saves=True)`: given its call's saved values as `saved=`."""
    params = node.params
    if op.local_grad is not None:
        return op.local_grad(*node.arrays, out=node.out, saved=node.saved, **params)
    if op.vjp_wants_needs:
        params = {**params, "needs_grad": tuple(parent is not None for parent in node.parents)}
    return op.vjp(out_grad, *node.arrays, out=node.out, saved=node.saved, **params)


def _local_error(op, i: int, local, out_grad, like, error) -> OpRuleError:
    return OpRuleError(
        f"{describe_op(op)}: local_grad for input {i + 1} is {_describe_value(local)}; times "
        f"the output's grad (shape {np.shape(out_grad)}) it does not reduce to the input's "
        f"shape {np.shape(like)}: a local derivative must broadcast against the output "
        f"({error})"
    )


def _checked(node: Node, i: int, parent, grad, like, out_grad, rule_out):
    """A contribution that is not simply a numpy scalar of its input's type: conformed to
    the input's shape and dtype (`_conform`), and copied if it goes to a leaf and may be
    shared (a leaf books what it gets)."""
    elementwise = node.op.local_grad is not None
    grad = _conform(node.op, i, grad, like, elementwise)
    if type(parent) not in NODES and type(grad) is np.ndarray and (
        grad is out_grad or not elementwise and not _exclusive(grad, node, out_grad, rule_out)
    ):
        grad = grad.copy()
    return grad


def _conform(op, i, grad, like, elementwise: bool):
    """Check a contribution against its input's shape and dtype (unbroadcasting a local's)."""
    shape = like.shape
    if getattr(grad, "shape", None) != shape:
        grad = _unbroadcast(op, i, grad, shape) if elementwise else _wrong_shape(op, i, grad, shape)
    if grad.dtype != like.dtype:
        grad = _cast(op, i, grad, like.dtype)
    return as_data(grad)


def _unbroadcast(op, i, grad, shape):
    try:
        return unbroadcast(grad, shape)
    except ValueError:
        raise OpRuleError(
            f"{describe_op(op)}: local_grad for input {i + 1} times the output's grad has "
            f"shape {grad.shape}, which does not reduce to the input's shape {shape}; "
            "a local derivative must broadcast against the output"
        ) from None


def _wrong_shape(op, i, grad, shape):
    got = np.shape(grad) if isinstance(grad, (np.ndarray, np.generic, int, float)) else None
    if got == shape:
        return np.asarray(grad)[()] if shape == () else np.asarray(grad)
    raise OpRuleError(
        f"{describe_op(op)}: its vjp returned, for input {i + 1}, "
        f"{_describe_value(grad)}; expected an array of the input's shape {shape}"
    )


def _cast(op, i, grad, dtype):
    if grad.dtype.kind not in _NUMERIC_KINDS:
        raise OpRuleError(
            f"{describe_op(op)}: its {op.rule} rule returned a {grad.dtype} gradient for "
            f"input {i + 1}; expected a real array of dtype {dtype}"
        )
    return grad.astype(dtype)


def _describe_value(value) -> str:
    if isinstance(value, tuple):
        return f"a tuple of {len(value)}"
    shape = getattr(value, "shape", None)
    if shape is not None:
        return f"{type(value).__name__} of shape {shape}"
    return f"{type(value).__name__} {value!r}"
