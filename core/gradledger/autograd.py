"""Gradients as values: `gl.grad`, and the functional helpers built on it.

`grad(outputs, inputs, ...)` is `torch.autograd.grad`: it returns d outputs / d inputs
without touching anybody's `.grad`. With `create_graph=True` the returned grads are
themselves recorded (the op rules ran on Tensors, see gradledger.recorded) and can be
differentiated again, to any order.

The helpers follow `torch.autograd.functional`: `jacobian`, `hessian`, `vjp`, `jvp`,
`hvp`. Each takes a function of Tensors and its inputs (a Tensor, an array, or a tuple
of them), makes fresh leaves of the inputs, and returns Tensors.

- `vjp` is one reverse pass.
- `jvp` uses the double-vjp (transposition) trick: the vjp `u -> J^T u` is linear in
  `u`, so differentiating `<J^T u, v>` with respect to `u` gives `J v`. It costs two
  reverse passes (the first recorded), no forward-mode machinery.
- `hvp` is the gradient of `<grad f, v>`: two reverse passes, the Hessian never formed.
- `jacobian` takes one reverse pass per output element; `hessian` is the jacobian of
  the gradient (one recorded reverse pass, then one per input element).

Modes compose as in PyTorch: `create_graph=True` records the booking even inside
`no_grad()` (recording is what it asks for), and the helpers record `func` even there.
With `create_graph=True` a helper's results stay connected to the caller's inputs that
require grad (each input enters `func` through a recorded identity, PyTorch's
`view_as`), so they can be differentiated with respect to those inputs again.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence

import numpy as np

from .errors import BackwardError
from .grad_mode import enable_grad
from .tape import Output, _seed, walk
from .tensor import Tensor

__all__ = ["grad", "hessian", "hvp", "jacobian", "jvp", "vjp"]


def _tensors(value, what: str) -> tuple[list, bool]:
    """A list of Tensors from a Tensor or a sequence of them; and whether it was single."""
    if isinstance(value, Tensor):
        return [value], True
    if isinstance(value, Sequence) and all(isinstance(v, Tensor) for v in value):
        return list(value), False
    raise TypeError(f"gl.grad: {what} must be a gl.Tensor or a sequence of them; got "
                    f"{type(value).__name__}")


def _key(t: Tensor):
    """What the walk captures a tensor's grad under: the leaf itself, or its recorded call."""
    node = t._node
    if node is None:
        return t
    if node.__class__ is Output:
        return (node.node, node.index)
    return node


def grad(outputs, inputs, grad_outputs=None, retain_graph: bool | None = None,
         create_graph: bool = False, allow_unused: bool = False) -> tuple:
    """The sum over `outputs` of d output / d input, for each of `inputs`, as a tuple.

    As `torch.autograd.grad`: `grad_outputs` (one per output, None for a scalar
    output) weight the outputs; `retain_graph` defaults to `create_graph`; an input
    the outputs do not depend on is an error unless `allow_unused` (then its grad is
    None). No tensor's `.grad` changes. With `create_graph=True` the grads are
    recorded Tensors that can be differentiated again.
    """
    outs, _ = _tensors(outputs, "outputs")
    ins, _ = _tensors(inputs, "inputs")
    if grad_outputs is None or isinstance(grad_outputs, (Tensor, np.ndarray)):
        grad_outputs = [grad_outputs] * len(outs) if grad_outputs is None else [grad_outputs]
    if len(grad_outputs) != len(outs):
        raise ValueError(f"gl.grad: {len(outs)} output(s) but {len(grad_outputs)} grad_outputs")
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise BackwardError(
                f"gl.grad: input {i + 1} does not require grad, so nothing can be booked "
                "for it; create it with requires_grad=True"
            )
    starts = []
    for k, (out, seed) in enumerate(zip(outs, grad_outputs, strict=True)):
        if not out.requires_grad:
            raise BackwardError(
                f"gl.grad: output {k + 1} does not require grad: it was not computed from "
                "any tensor that requires grad, or it was computed under no_grad()"
            )
        starts.append((out, _seed(out, seed, create_graph)))
    capture = {_key(t): None for t in ins}
    walk(starts, create_graph if retain_graph is None else retain_graph, None, create_graph,
         capture)
    results = []
    for i, t in enumerate(ins):
        value = capture[_key(t)]
        if value is None:
            if not allow_unused:
                raise BackwardError(
                    f"gl.grad: input {i + 1} was not used to compute the outputs (its grad "
                    "would be None); pass allow_unused=True if that is expected"
                )
            results.append(None)
        elif isinstance(value, Tensor):
            results.append(value)
        else:
            results.append(Tensor._result(np.array(value)[()] if np.ndim(value) == 0
                                          else np.array(value), False))
    return tuple(results)


# -- torch.autograd.functional ---------------------------------------------------------


def _recording(helper: Callable) -> Callable:
    """Run a functional helper with recording on, even inside `no_grad()` (as PyTorch's)."""

    @functools.wraps(helper)
    def run(*args, **kwargs):
        with enable_grad():
            return helper(*args, **kwargs)

    return run


def _leaves(inputs, create_graph: bool = False) -> tuple[list[Tensor], bool]:
    """The tensors `func` is called with, from a Tensor, an array, or a tuple of them:
    fresh leaves that require grad; with `create_graph`, an input that requires grad
    enters through a recorded identity instead, so that the results stay connected to it."""
    from .ops import ops

    single = not isinstance(inputs, (tuple, list))
    items = [inputs] if single else list(inputs)
    leaves = []
    for item in items:
        if create_graph and isinstance(item, Tensor) and item.requires_grad:
            leaves.append(ops.reshape(item, shape=item.shape))
            continue
        data = item.data if isinstance(item, Tensor) else item
        array = np.array(data, dtype=np.result_type(data, np.float64)
                         if np.asarray(data).dtype.kind != "f" else None)
        leaves.append(Tensor(array, requires_grad=True))
    return leaves, single


def _as_tuple_out(out) -> tuple[list[Tensor], bool]:
    if isinstance(out, Tensor):
        return [out], True
    if isinstance(out, (tuple, list)) and all(isinstance(o, Tensor) for o in out):
        return list(out), False
    raise TypeError(f"the function must return a gl.Tensor or a tuple of them; got "
                    f"{type(out).__name__}")


def _pack(values: list, single: bool):
    return values[0] if single else tuple(values)


def _zero_if_none(g, like: Tensor) -> Tensor:
    return Tensor._result(np.zeros_like(np.asarray(like.data)), False) if g is None else g


def _detached(t: Tensor, keep: bool) -> Tensor:
    return t if keep else t.detach()


@_recording
def vjp(func: Callable, inputs, v=None, create_graph: bool = False) -> tuple:
    """`(func(inputs), v^T J)`: the vector-Jacobian product, one reverse pass."""
    leaves, single = _leaves(inputs, create_graph)
    outs, single_out = _as_tuple_out(func(*leaves))
    seeds = [None] * len(outs) if v is None else (
        [v] if single_out else list(v))
    grads = grad(outs, leaves, seeds, create_graph=create_graph, allow_unused=True)
    grads = [_zero_if_none(g, t) for g, t in zip(grads, leaves, strict=True)]
    result = [_detached(o, create_graph) for o in outs]
    return _pack(result, single_out), _pack([_detached(g, create_graph) for g in grads], single)


@_recording
def jvp(func: Callable, inputs, v=None, create_graph: bool = False) -> tuple:
    """`(func(inputs), J v)`: the Jacobian-vector product, by the double-vjp trick
    (two reverse passes; see the module docstring)."""
    leaves, single = _leaves(inputs, create_graph)
    outs, single_out = _as_tuple_out(func(*leaves))
    tangents = [np.ones_like(np.asarray(t.data)) for t in leaves] if v is None else (
        [v] if single else list(v))
    dummies = [Tensor(np.zeros_like(np.asarray(o.data)), requires_grad=True) for o in outs]
    pulled = grad(outs, leaves, dummies, create_graph=True, allow_unused=True)
    total = inner(zip(pulled, tangents, strict=True))
    results = []
    if total is not None and total.requires_grad:
        results = grad(total, dummies, create_graph=create_graph, allow_unused=True)
    results = [_zero_if_none(r if results else None, o)
               for r, o in zip(results or [None] * len(outs), outs, strict=True)]
    return (_pack([_detached(o, create_graph) for o in outs], single_out),
            _pack([_detached(r, create_graph) for r in results], single_out))


def inner(pairs) -> Tensor | None:
    """`sum_k <a_k, b_k>` as one recorded scalar, over the pairs whose sides are both not
    None (`a` a Tensor; `b` a Tensor, whose numbers are taken as constants, or an array);
    None when no pair counts. How jvp, hvp and the verifier pair grads with directions."""
    from .ops import ops

    total = None
    for a, b in pairs:
        if a is None or b is None:
            continue
        term = ops.sum(a * (b.data if isinstance(b, Tensor) else b))
        total = term if total is None else total + term
    return total


@_recording
def jacobian(func: Callable, inputs, create_graph: bool = False):
    """d func(inputs) / d inputs, of shape `output.shape + input.shape`; for several
    inputs a tuple (one per input), for several outputs a tuple of those."""
    leaves, single = _leaves(inputs, create_graph)
    outs, single_out = _as_tuple_out(func(*leaves))
    per_output = []
    for out in outs:
        rows = [[] for _ in leaves]
        for index in np.ndindex(out.shape):
            seed = np.zeros(out.shape, dtype=out.dtype)
            seed[index] = 1
            if not out.requires_grad:
                grads = [None] * len(leaves)
            else:
                grads = grad(out, leaves, seed, retain_graph=True, create_graph=create_graph,
                             allow_unused=True)
            for k, (g, t) in enumerate(zip(grads, leaves, strict=True)):
                rows[k].append(_zero_if_none(g, t))
        blocks = [_stack_rows(r, out.shape, t) for r, t in zip(rows, leaves, strict=True)]
        per_output.append(_pack([_detached(b, create_graph) for b in blocks], single))
    return _pack(per_output, single_out)


def _stack_rows(rows: list, out_shape: tuple, leaf: Tensor) -> Tensor:
    from .ops import ops

    if not rows:  # an output with no elements
        return Tensor._result(np.zeros(out_shape + leaf.shape, dtype=leaf.dtype), False)
    if any(r.requires_grad for r in rows):
        return ops.reshape(ops.stack(rows), shape=out_shape + leaf.shape)
    return Tensor._result(np.reshape(np.stack([np.asarray(r.data) for r in rows]),
                                     out_shape + leaf.shape), False)


@_recording
def hessian(func: Callable, inputs, create_graph: bool = False):
    """The matrix of second derivatives of a scalar `func`: shape `input.shape * 2`;
    for several inputs a tuple of tuples (block (i, j) is d2 f / d x_i d x_j)."""
    leaves, single = _leaves(inputs, create_graph)

    def gradient(*xs):
        out = func(*xs)
        if not isinstance(out, Tensor) or out.size != 1:
            raise ValueError("gl.hessian needs a function returning a single number")
        grads = grad(out, list(xs), create_graph=True, allow_unused=True)
        return tuple(_zero_if_none(g, x) for g, x in zip(grads, xs, strict=True))

    blocks = jacobian(gradient, tuple(leaves), create_graph=create_graph)
    if single:
        return blocks[0][0]
    return blocks


@_recording
def hvp(func: Callable, inputs, v, create_graph: bool = False) -> tuple:
    """`(func(inputs), H v)`: the Hessian-vector product of a scalar `func`, without
    forming the Hessian (two reverse passes)."""
    leaves, single = _leaves(inputs, create_graph)
    out = func(*leaves)
    if not isinstance(out, Tensor) or out.size != 1:
        raise ValueError("gl.hvp needs a function returning a single number")
    vs = [v] if single else list(v)
    grads = grad(out, leaves, create_graph=True, allow_unused=True)
    total = inner(zip(grads, vs, strict=True))
    if total is None or not total.requires_grad:
        products = [None] * len(leaves)
    else:
        products = grad(total, leaves, create_graph=create_graph, allow_unused=True)
    products = [_zero_if_none(p, t) for p, t in zip(products, leaves, strict=True)]
    return (_detached(out, create_graph),
            _pack([_detached(p, create_graph) for p in products], single))
