"""Ask a recorded call's rule for its contributions, and check what it answers.

The rule (`local_grad` or `vjp`) turns the grad of the call's output into one
contribution per input; each is checked against its input's shape and dtype (a
local derivative is multiplied by the output's grad and unbroadcast first), and copied
when it would otherwise be shared by two ledgers.
"""

from __future__ import annotations

import numpy as np

from . import anomaly
from . import grad_mode as _modes
from . import saved as _saved
from .broadcast import unbroadcast
from .errors import OpRuleError, describe_op
from .record import KEEP_KIND, NODES, Node, _describe_value, _noted
from .tensor import as_data

_NUMERIC_KINDS = "biuf"
_COMPLEX = frozenset({np.complex128, np.complex64, np.clongdouble})
_REAL_LOCALS = frozenset({float, int, bool, np.float64, np.float32, np.float16, np.bool_})
"""Locals that need no conjugate: checked by one set look-up before `_conjugate_local`."""


def _exclusive(grad, node: Node, out_grad, rule_out: tuple) -> bool:
    """True when a vjp's array is its own: not a view, not a cotangent, an input, an
    output or a saved value, not returned twice. Such an array can become a leaf's `.grad`
    as it is."""
    if grad.base is not None:
        return False
    if type(out_grad) is tuple:
        others = (*out_grad, *node.out)
    else:
        others = (out_grad, node.out)
    for a in others:
        if grad is a:
            return False
    for a in node.arrays:
        if grad is a:
            return False
    if node.saved is not None:  # a saved value returned as it is: shared with the call
        for a in node.saved:
            if grad is a:
                return False
    seen = 0
    for r in rule_out:
        if r is grad:
            seen += 1
    return seen == 1


def _local_rule(node: Node, out_grad) -> tuple:
    """Ask the op's rule to turn the output's grad into one contribution per input.

    Returns the contributions (None where an input takes no gradient) and what the
    rule itself returned (the local derivatives, for an elementwise op). The common
    backward pass does the same, booking as it goes (`walk`'s fused loop).
    """
    rule_out = _ask_rule(node, out_grad)
    elementwise = node.op.local_grad is not None
    conjugate = elementwise and node.op.complex
    contributions = []  # its length is the index of the input at hand (for the messages)
    for parent, grad, like in zip(node.parents, rule_out, node.arrays):  # noqa: B905 (checked)
        if parent is None or grad is None:
            contributions.append(None)
            continue
        if elementwise:
            if conjugate and grad.__class__ not in _REAL_LOCALS:
                grad = _conjugate_local(grad)
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


def _conjugate_local(local):
    """A complex local derivative f'(z) books conj(f'(z)) * out_grad (the convention of
    docs/plugins.md, "Complex numbers"); a real one is booked as it is."""
    if type(local) in _COMPLEX or (type(local) is np.ndarray and local.dtype.kind == "c"):
        return np.conj(local)
    return local


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
    if grad.dtype.kind == "c":
        if dtype.kind == "c":
            return grad.astype(dtype)
        # A real input of a complex output: its grad is the real part of the complex one
        # (d loss / d x, for real x; see docs/plugins.md, "Complex numbers").
        return np.real(grad).astype(dtype)
    if grad.dtype.kind not in _NUMERIC_KINDS:
        raise OpRuleError(
            f"{describe_op(op)}: its {op.rule} rule returned a {grad.dtype} gradient for "
            f"input {i + 1}; expected a real array of dtype {dtype}"
        )
    return grad.astype(dtype)
