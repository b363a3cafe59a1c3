"""Checking an op's grads against the nudge method (tests/numeric.py) on fixed inputs.

The loss is `sum(op(inputs) * weights)` with fixed random weights, so each rule is
checked against a non-trivial output grad, not just ones.
"""

import gradledger as gl
import numpy as np
from numeric import nudge_grads


def check_against_nudge(name, arrays, params, constants=(), rtol=1e-6, atol=1e-7, seed=0):
    """The op's grads equal central differences of `sum(op(...) * weights)`, per input."""
    forward = getattr(gl.ops, name)
    inputs = [a if i in constants else gl.tensor(a) for i, a in enumerate(arrays)]
    out_shape = np.shape(forward(*inputs, **params).data)
    weights = np.random.default_rng(seed).normal(size=out_shape)

    def loss_of(*values):
        inputs = [arrays[i] if i in constants else gl.tensor(v) for i, v in enumerate(values)]
        return float(np.sum(forward(*inputs, **params).data * weights))

    tensors = [a if i in constants else gl.tensor(a, requires_grad=True)
               for i, a in enumerate(arrays)]
    gl.sum(forward(*tensors, **params) * weights).backward()
    expected = nudge_grads(loss_of, arrays)
    for i, (t, want) in enumerate(zip(tensors, expected, strict=False)):
        if i in constants:
            continue
        assert t.grad.shape == np.shape(arrays[i]), f"input {i} grad shape"
        np.testing.assert_allclose(t.grad, want, rtol=rtol, atol=atol, err_msg=f"input {i}")
