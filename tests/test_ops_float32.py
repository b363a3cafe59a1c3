"""float32 stays float32: every op case of the family tests, run in float32, gives float32
values (numpy promotes silently: a float64 constant in a forward rule would turn every
float32 model into a float64 one), and its rule runs on float32 cotangents."""

import gradledger as gl
import numpy as np
import pytest
import test_ops_elementwise
import test_ops_linalg
import test_ops_nn
import test_ops_reductions
import test_ops_shape

CASES = [case for family in (test_ops_elementwise, test_ops_reductions, test_ops_shape,
                             test_ops_linalg, test_ops_nn) for case in family.GRAD_CASES]


def _float32(array, constant):
    array = np.asarray(array)
    return array if constant or array.dtype.kind != "f" else array.astype(np.float32)


@pytest.mark.parametrize("name,arrays,params,constants", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_float32_inputs_give_float32_values_and_rules_run_on_them(name, arrays, params, constants):
    inputs = [_float32(a, i in constants) if i in constants
              else gl.tensor(_float32(a, False), requires_grad=True)
              for i, a in enumerate(arrays)]
    out = getattr(gl, name)(*inputs, **params)
    assert out.dtype == np.float32
    out.backward(np.ones(out.shape, dtype=np.float32))
    assert all(t.grad is not None for i, t in enumerate(inputs) if i not in constants)


def _rule_contributions(op, arrays, params, constants, out, out_grad):
    """The op's rule called as the tape calls it; a local derivative times out_grad."""
    if op.local_grad is not None:
        locals_ = op.local_grad(*arrays, out=out, **params)
        return [None if local is None else local * out_grad for local in locals_]
    if op.vjp_wants_needs:
        needs = tuple(i not in constants for i in range(len(arrays)))
        return op.vjp(out_grad, *arrays, out=out, needs_grad=needs, **params)
    return op.vjp(out_grad, *arrays, out=out, **params)


@pytest.mark.parametrize("name,arrays,params,constants", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_float32_rules_give_float32_contributions_without_the_tapes_cast(name, arrays, params,
                                                                         constants):
    """A rule that promoted (a float64 constant, an int64 count, 0.5 times a mask) would
    make the tape cast every contribution back, a float64 pass and a copy per op."""
    from gradledger.loader import host

    op = host.lookup(name)
    arrays = [_float32(a, i in constants) for i, a in enumerate(arrays)]
    out = op.forward(*arrays, **params)
    out_grad = np.full(np.shape(out), 0.5, dtype=np.float32)[()]
    contributions = _rule_contributions(op, arrays, params, constants, out, out_grad)
    for i, contribution in enumerate(contributions):
        if i not in constants and contribution is not None:
            assert np.result_type(contribution) == np.float32, f"input {i + 1}"
