"""The booking, recorded: run an op's rule on Tensors so the backward pass is itself a graph.

`backward(create_graph=True)` and `gl.grad(..., create_graph=True)` call `recorded_rule`
instead of the tape's array path. The rule gets Tensors standing for the op's saved
inputs and output (connected to the graph that made them), and its cotangent as a
Tensor; everything it does with them — Python operators, numpy functions and ufuncs —
dispatches to registered ops and is recorded. The result can be walked back again:
the ledger audited by the same bookkeeping.

Saved values (`Op(saves=True)`) are arrays, not connected to the graph: under
`create_graph=True` the rules get `saved=None` and recompute what they need, on
Tensors, from the inputs the op declares it `reads` (cross_entropy reads its logits for
this); unless the op declares `saved_constants=True` (max's winners, sort's permutation,
dropout's mask: values whose derivative is zero), then they get the saved values.
An input or output the op does not read stays an `Unread` here too.

An op whose rules cannot run on Tensors declares `order=1`; going through it with
`create_graph=True` is an error naming the op, never a silently wrong or silently zero
second derivative. A rule that turns a Tensor that requires grad into a plain array
(`np.asarray(x)`) is caught the same way.
"""

from __future__ import annotations

import numpy as np

from .broadcast import unbroadcast
from .errors import BackwardError, OpRuleError, describe_op
from .grad_mode import enable_grad, running_rule
from .record import KEEP_KIND, Output, _noted
from .saved import Unread
from .tensor import Tensor


def recorded_rule(node, out_grad) -> tuple:
    """Like `rules._local_rule`, on Tensors: one contribution per input (None where
    an input takes no gradient), and what the rule itself returned."""
    op = node.op
    if op.order is not None and op.order < 2:
        raise BackwardError(
            f"create_graph=True goes through {describe_op(op)}, whose rules declare "
            f"order={op.order}: they cannot be differentiated, so a second derivative through "
            "it would be silently wrong. Use first-order gradients here, or ask the plugin's "
            "author for rules that run on Tensors."
        )
    if node.arrays is None:
        raise BackwardError(
            f"create_graph=True through a graph an earlier backward() freed (at op "
            f"{op.name!r}); pass retain_graph=True to it, or recompute the forward pass."
        )
    inputs = [_input(node, i, parent) for i, parent in enumerate(node.parents)]
    if node.out.__class__ is Unread:
        out = node.out
    elif node.out.__class__ is tuple:
        out = tuple(Tensor._result(o, False) if ref is None or o.__class__ is Unread
                    else _linked(o, Output(node, k))
                    for k, (o, ref) in enumerate(zip(node.out, node.outputs, strict=True)))
        out_grad = tuple(g if g is None or isinstance(g, Tensor) else Tensor._result(g, False)
                         for g in out_grad)
    else:
        out = _linked(node.out, node)
        if not isinstance(out_grad, Tensor):
            out_grad = Tensor._result(out_grad, False)
    elementwise = op.local_grad is not None
    if op.saves:  # constants of the call (masks, permutations, draws) are there as they are
        params = {**node.params, "saved": node.saved if op.saved_constants else None}
    else:
        params = node.params
    with enable_grad(), running_rule(op):
        try:
            if elementwise:
                rule_out = op.local_grad(*inputs, out=out, **params)
            elif op.vjp_wants_needs:
                needs = tuple(p is not None for p in node.parents)
                rule_out = op.vjp(out_grad, *inputs, out=out, needs_grad=needs, **params)
            else:
                rule_out = op.vjp(out_grad, *inputs, out=out, **params)
        except OpRuleError:
            raise
        except KEEP_KIND as error:
            _noted(error, f"in the {op.rule} rule of {describe_op(op)}, run on Tensors for "
                   "create_graph=True", node.arrays)
            raise
        except Exception as error:
            raise OpRuleError(
                f"{describe_op(op)}: its {op.rule} rule raised {type(error).__name__} when run "
                f"on Tensors for create_graph=True: {error}. A rule that differentiates uses "
                "only Python operators and numpy functions that registered ops stand for; "
                "an op whose rules cannot declares order=1."
            ) from error
        if not isinstance(rule_out, tuple) or len(rule_out) != len(inputs):
            raise OpRuleError(
                f"{describe_op(op)}: its {op.rule} rule must return a tuple of {len(inputs)} "
                f"(one per input); got {type(rule_out).__name__}"
            )
        contributions = []
        for i, (parent, grad, like) in enumerate(zip(node.parents, rule_out, node.arrays,
                                                     strict=True)):
            if parent is None or grad is None:
                contributions.append(None)
                continue
            if elementwise:
                if op.complex and np.result_type(grad).kind == "c":
                    grad = np.conj(grad)  # conj(f'(z)) * out_grad: see docs/plugins.md
                grad = out_grad if _is_one(grad) else grad * out_grad
                if np.shape(grad) != np.shape(like):
                    grad = unbroadcast(grad, np.shape(like))
            if not isinstance(grad, Tensor):  # a constant of the rule (add's 1.0)
                grad = Tensor._result(np.asarray(grad)[()] if np.ndim(grad) == 0
                                      else np.asarray(grad), False)
            if grad.shape != np.shape(like):
                raise OpRuleError(
                    f"{describe_op(op)}: its {op.rule} rule, run on Tensors, returned for "
                    f"input {i + 1} shape {grad.shape}; expected the input's shape "
                    f"{np.shape(like)}"
                )
            if grad.dtype.kind == "c" and like.dtype.kind != "c":
                grad = np.real(grad)  # a real input's grad: the real part (docs/plugins.md)
            if grad.dtype != like.dtype:
                grad = grad.astype(like.dtype)
            contributions.append(grad)
    return contributions, rule_out


def _same(a, b) -> bool:
    return np.shape(a) == np.shape(b) and np.result_type(a) == np.result_type(b) and bool(
        np.array_equal(a, b, equal_nan=np.result_type(a).kind in "fc"))


def _is_one(local) -> bool:
    return local.__class__ in (int, float) and local == 1


def _linked(data, node) -> Tensor:
    """A Tensor standing for a recorded call's output, connected to that call."""
    t = Tensor._result(data, True)
    t._node = node
    return t


def _input(node, i: int, parent):
    data = node.arrays[i]
    # A constant stays what the rule saw first time: a plain value; an input the op does
    # not read stays an Unread.
    if parent is None or data.__class__ is Unread:
        return data
    if isinstance(parent, Tensor):  # a leaf: the very tensor, so its grad is connected
        # The call saved the leaf's array, or a copy of it (see gradledger.locks): either
        # way the leaf must still hold those numbers.
        if parent.data is not data and not _same(parent.data, data):
            raise BackwardError(
                f"create_graph=True: leaf input {i + 1} of {describe_op(node.op)} was given "
                "new data after the forward pass (t.data = ..., or a write through a view "
                "made before it); its recorded value is gone. Recompute the forward pass."
            )
        return parent
    return _linked(data, parent)

