"""Book: the ledger entries of a backward walk, `input.grad += contribution`.

What a walk has gathered per recorded call waits in the ledger until that call's rule
runs (`Waiting`, `_gather`); a leaf's grad is booked into its `.grad` under a lock
(backward passes in several threads may share a leaf), or into `capture` for gl.grad.
`Booking` is one entry as `backward(trace=...)` reports it.
"""

from __future__ import annotations

import threading
from heapq import heappush
from typing import NamedTuple

import numpy as np

from .errors import BackwardError
from .record import LockingNode, Node, Output
from .tensor import Tensor, as_data

_ledger_lock = threading.Lock()


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


class Waiting(NamedTuple):
    """The recorded calls a backward walk has gathered a grad for and not yet run:
    `heap` holds their tickets (smallest, the latest call, first), `calls` maps a ticket
    to its call."""

    heap: list
    calls: dict

    def add(self, node: Node) -> None:
        heappush(self.heap, node.ticket)
        self.calls[node.ticket] = node


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
        if root.data.dtype.kind == "c":
            raise BackwardError(
                f"backward() without a grad needs a real scalar loss; this output is "
                f"{root.data.dtype}: a complex number has no direction of steepest descent. "
                "Take a real number of it first (gl.abs(z) ** 2, gl.real(z)), or pass grad= "
                "(as PyTorch refuses too)."
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
