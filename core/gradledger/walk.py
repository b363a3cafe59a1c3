"""Walk back: play the tape backward from the roots, asking each recorded call's rule once.

One walk serves five passes; what differs between them is a `Pass`, named below:

- plain, `backward()`: leaves' grads are gathered per tensor (`held`) and booked at the
  end under one lock; each rule's answer is checked and booked in one inlined loop (the
  hot path, the only pass written for speed).
- anomaly, `backward()` under `gl.detect_anomaly()`: as plain, but a call's contributions
  are checked together (`rules._local_rule`) before any is booked.
- traced, `backward(trace=...)` (gl.explain): books into `.grad` as it goes and reports
  every entry, with its running balance, as a `book.Booking`.
- gl.grad: books nothing into `.grad`; the grads asked for are gathered into `capture`.
- create_graph: the rules run on Tensors (`recorded.recorded_rule`), so the booking is
  itself recorded; books Tensors into `.grad` (or `capture`) as it goes.

A pass that books as it goes checks first that no call on the way was freed by an earlier
backward (`_check_not_freed`); the gathering passes find a freed call when they reach it
and book nothing then.
"""

from __future__ import annotations

from heapq import heappop, heappush

import numpy as np

from . import grad_mode as _modes
from . import locks
from .book import (
    Booking,
    Waiting,
    _book,
    _book_all,
    _book_contributions,
    _book_outputs,
    _deliver,
    _gather,
    _seed,
)
from .errors import BackwardError, add_note
from .record import NODES, LockingNode, Node, Output
from .recorded import recorded_rule
from .rules import (
    _REAL_LOCALS,
    _ask_rule,
    _checked,
    _conjugate_local,
    _exclusive,
    _local_error,
    _local_rule,
)
from .saved import Unread
from .tensor import Tensor


class Pass:
    """How one backward walk asks each rule and books its answer (see the module's doc).

    `held` gathers leaves' grads for one booking at the end (plain and anomaly passes;
    None for the passes that book as they go); `fused` asks and books in `walk`'s inlined
    loop (plain only); `rule` asks a call's rule for its contributions.
    """

    __slots__ = ("name", "rule", "held", "fused", "trace", "capture", "booked")

    def __init__(self, trace, capture: dict | None, create_graph: bool) -> None:
        if create_graph:
            self.name, self.rule = "create_graph", recorded_rule
        else:
            self.name = ("gl.grad" if capture is not None else "traced" if trace is not None
                         else "anomaly" if _modes.modes()[1] else "plain")
            self.rule = _local_rule
        self.held = {} if self.name in ("plain", "anomaly") else None
        self.fused = self.name == "plain"
        self.trace = trace
        self.capture = capture
        self.booked: set = set()  # the tensors booked into, for the notes of a failure

    def step(self, node, out_grad, ledger: dict, waiting: Waiting) -> None:
        """Every pass but plain, for one call: book its output's grad where this pass
        books, ask its rule, book the contributions."""
        capture = self.capture
        if type(out_grad) is list:  # a call with several outputs: book each one
            out_grad = _book_outputs(node, out_grad, self.booked, capture)
            tensor = None
        else:
            tensor = node.tensor()
            if capture is not None:
                if node in capture:
                    capture[node] = out_grad
            elif tensor is not None:  # an intermediate someone holds gets its grad too
                if self.held is not None:
                    self.held[tensor] = out_grad.copy() if type(out_grad) is np.ndarray \
                        else out_grad
                else:
                    _book(tensor, out_grad)
                    self.booked.add(tensor)
        contributions, locals_ = self.rule(node, out_grad)
        _book_contributions(node, tensor, out_grad, contributions, locals_, ledger, waiting,
                            self.held, self.booked, capture, self.trace)

    def finish(self) -> None:
        if self.held:
            _book_all(self.held, self.booked)

    def stopped(self, error: BaseException) -> None:
        """A walk that failed or was interrupted: book what was gathered (unless
        interrupted), and say what was booked before the error."""
        interrupted = not isinstance(error, Exception)  # KeyboardInterrupt, SystemExit
        booked, capture = self.booked, self.capture
        if self.held and not interrupted:
            _book_all(self.held, booked)
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
    if create_graph and not _modes.is_grad_enabled():
        # Recording the booking is what create_graph asks for: an enclosing no_grad()
        # does not stop it (as in PyTorch, whose engine sets grad mode to create_graph).
        with _modes.enable_grad():
            return walk(starts, retain_graph, trace, create_graph, capture)
    this = Pass(trace, capture, create_graph)
    held, booked, fused = this.held, this.booked, this.fused
    if held is None:  # a pass that books as it goes checks the graph first
        _check_not_freed(root._node for root, _ in starts)
    ledger: dict = {}  # recorded call -> the grad gathered so far for its output(s)
    # The calls with a grad gathered, waiting for their rule to run: their tickets in a
    # heap (the latest call's on top), and the calls by ticket. (Bare int tickets compare
    # at a third of the cost of (ticket, call) pairs.)
    waiting = Waiting([], {})
    _book_seeds(starts, ledger, waiting, capture, trace)
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
            if not fused:
                this.step(node, out_grad, ledger, waiting)
            else:
                # The plain pass, inlined: book the output's grad (into `held`, for an
                # intermediate someone holds), ask the rule and book each contribution in
                # one loop. The checks are `_local_rule`'s, without building its list; a
                # numpy scalar of the input's own type passes them as it is.
                if type(out_grad) is list:  # a call with several outputs: book each one
                    out_grad = _book_outputs(node, out_grad, booked, None)
                else:
                    tensor = node.tensor()
                    if tensor is not None:
                        held[tensor] = out_grad.copy() if type(out_grad) is np.ndarray \
                            else out_grad
                rule_out = _ask_rule(node, out_grad)
                elementwise = node.op.local_grad is not None
                conjugate = elementwise and node.op.complex
                i = -1  # the input's index, for the messages
                for parent, grad, like in zip(node.parents, rule_out, node.arrays):  # noqa: B905 (checked)
                    i += 1
                    if parent is None or grad is None:
                        continue
                    if elementwise:  # local * out_grad (a local of exactly 1 books out_grad)
                        if conjugate and grad.__class__ not in _REAL_LOCALS:
                            grad = _conjugate_local(grad)
                        try:
                            grad = out_grad if type(grad) is float and grad == 1.0 \
                                else grad * out_grad
                        except (ValueError, TypeError) as error:
                            raise _local_error(node.op, i, grad, out_grad, like, error) from None
                    kind = type(parent)
                    like_kind = type(like)
                    if (type(grad) is np.ndarray
                            and (like_kind is np.ndarray or like_kind is Unread)
                            and grad.dtype is like.dtype and grad.shape == like.shape
                            and like.shape):
                        # `_checked` for an array of its input's exact dtype and shape
                        # (not 0-d: that one becomes a numpy scalar): nothing to conform;
                        # only the copy of a possibly shared array going to a leaf.
                        if kind is not Node and kind is not LockingNode \
                                and (grad is out_grad or not elementwise
                                     and not _exclusive(grad, node, out_grad, rule_out)):
                            grad = grad.copy()
                    elif type(grad) is not like_kind or like_kind is np.ndarray:
                        grad = _checked(node, i, parent, grad, like, out_grad, rule_out)
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
                        if previous is None:
                            held[parent] = grad
                        elif type(previous) is np.ndarray and previous.flags.writeable:
                            # The walk's own array (a leaf's first contribution is copied
                            # unless the rule's answer is its own), of the leaf's shape
                            # and dtype as `grad` is: added into in place, as `+` would.
                            previous += grad
                        else:
                            held[parent] = previous + grad
            if not retain_graph:  # `node.free()`, with its arrays unlocked at the end
                node.arrays = node.out = node.params = node.saved = None
                if node.locked is not None:
                    unlock.append(node)
        this.finish()
    except BaseException as error:
        this.stopped(error)
        raise
    finally:
        if unlock:
            locks.release_all(unlock)


def _book_seeds(starts, ledger: dict, waiting: Waiting, capture, trace) -> None:
    """Book each root's seed: into a leaf root directly, else into the ledger."""
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
