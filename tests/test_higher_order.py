"""Gradients of gradients: the booking recorded (create_graph=True) and walked back again.

Every built-in op's rules run on Tensors, so its second derivative is checked here
against central differences of its first derivative (computed by the array path).
"""

import importlib
import pkgutil
from pathlib import Path

import gradledger as gl
import numpy as np
import pytest

rng = np.random.default_rng(13)


def _cases():
    """Every fixed-input grad case of the op tests: (id, name, arrays, params, constants)."""
    import test_builtin_grads

    cases = [(c[0], c[1], c[2], c[3], ()) for c in test_builtin_grads.CASES]
    for module in sorted(pkgutil.iter_modules([str(Path(__file__).parent)]),
                         key=lambda m: m.name):
        if module.name.startswith("test_ops_"):
            family = importlib.import_module(module.name)
            cases += [tuple(c) if len(c) == 5 else (*c, ()) for c in
                      getattr(family, "GRAD_CASES", [])]
    return cases


def _joined(*xs):
    """concatenate, stack, split and einsum in one differentiable program."""
    pieces = gl.split(gl.concatenate([xs[0], xs[1] * xs[1]], axis=1), [1], axis=1)
    return gl.stack([gl.einsum("ij,ij->i", pieces[1], pieces[1]), pieces[0][:, 0]])


A = rng.normal(size=(3, 4))
CONTRACT_CASES = [
    ("getitem repeated ints", lambda x: x[[0, 0, 2]] * x[[1, 1, 1]], [A], {}, ()),
    ("getitem mask and slice", lambda x: x[A > 0] * x[A > 0], [A], {}, ()),
    ("getitem basic", lambda x: x[1:, None, ::-1] ** 2, [A], {}, ()),
    ("concatenate stack split einsum", _joined, [A, rng.normal(size=(3, 2))], {}, ()),
    ("einsum three operands", lambda a, b, c: gl.einsum("ij,jk,kl->il", a, b, c),
     [rng.normal(size=(2, 3)), rng.normal(size=(3, 2)), rng.normal(size=(2, 2))], {}, ()),
    ("einsum trace", lambda a: gl.einsum("ii->", a * a), [rng.normal(size=(3, 3))], {}, ()),
    ("astype", lambda x: (x * x).astype("float64") * x, [A], {}, ()),
    ("pow constant exponents", lambda x: x ** 2.5 + x ** -1.0 + x ** 3, [np.abs(A) + 0.5], {},
     ()),
]
CASES = _cases() + CONTRACT_CASES


def _op(name):
    return getattr(gl.ops, name) if isinstance(name, str) else name


def _first(name, arrays, params, constants, weights):
    """d/dx sum(op(x) * weights) by the array path (the first derivative being checked)."""
    tensors = [a if i in constants else gl.tensor(a, requires_grad=True)
               for i, a in enumerate(arrays)]
    gl.sum(_op(name)(*tensors, **params) * weights).backward()
    return [None if i in constants else t.grad for i, t in enumerate(tensors)]


@pytest.mark.parametrize("case_id,name,arrays,params,constants", CASES,
                         ids=[c[0] for c in CASES])
def test_second_derivative_of_builtin_op_matches_nudges_of_its_first(case_id, name, arrays,
                                                                       params, constants):
    arrays = [np.asarray(a, dtype=np.float64) if i not in constants else a
              for i, a in enumerate(arrays)]
    op = _op(name)
    weights = rng.normal(size=np.shape(op(*[gl.tensor(a) for a in arrays], **params).data))
    directions = [None if i in constants else rng.normal(size=np.shape(a))
                  for i, a in enumerate(arrays)]
    tensors = [a if i in constants else gl.tensor(a, requires_grad=True)
               for i, a in enumerate(arrays)]
    wanted = [t for i, t in enumerate(tensors) if i not in constants]
    firsts = gl.grad(gl.sum(op(*tensors, **params) * weights), wanted, create_graph=True,
                     allow_unused=True)
    pairing = [gl.sum(g * d) for g, d in zip(firsts, [d for d in directions if d is not None],
                                             strict=True) if g is not None]
    if not pairing or not any(p.requires_grad for p in pairing):
        seconds = [np.zeros_like(w.data) for w in wanted]  # a linear op: the rule is constant
    else:
        total = sum(pairing[1:], start=pairing[0])
        seconds = [np.zeros_like(w.data) if s is None else s.data for s, w in zip(
            gl.grad(total, wanted, allow_unused=True), wanted, strict=True)]
    # The nudge: d/dx_j <first(x), direction>, by central differences of the first derivative.
    eps = 1e-5
    k = 0
    for j, a in enumerate(arrays):
        if j in constants:
            continue
        numeric = np.zeros_like(a)
        for index in np.ndindex(np.shape(a)):
            values = []
            for sign in (1, -1):
                moved = [x.copy() if isinstance(x, np.ndarray) else x for x in arrays]
                moved[j] = np.array(moved[j], dtype=np.float64)
                moved[j][index] += sign * eps
                grads = _first(name, moved, params, constants, weights)
                values.append(sum(np.sum(g * d) for g, d in zip(grads, directions, strict=True)
                                  if g is not None))
            numeric[index] = (values[0] - values[1]) / (2 * eps)
        np.testing.assert_allclose(seconds[k], numeric, rtol=1e-4, atol=1e-6,
                                   err_msg=f"{name}: d2 / d input {j}")
        k += 1


# -- the verifier's second-order sub-check ---------------------------------------------


def _tanh_rules(local):
    return gl.Op("tanh2", np.tanh, local_grad=local, signature="()->()")


def _register(op):
    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(op)

    gl.register_plugin(Plugin(), name="by_hand")


def _through_data(x, out):
    """Right to first order, but on Tensors it reads `.data`: the booking it records is
    a constant, so its second derivative would silently be 0."""
    value = out.data if isinstance(out, gl.Tensor) else out
    return (1.0 - value * value,)


def test_verifier_catches_a_rule_whose_second_derivative_is_silently_lost(fresh_host):
    from gradledger.verify import verify_op

    _register(_tanh_rules(_through_data))
    report = verify_op("tanh2", examples=30)
    assert report.status == "FAIL" and report.failure.check == "second order", str(report)
    assert "nudges of the op's own first-order rule" in str(report)


def test_verifier_passes_the_same_rule_written_to_differentiate(fresh_host):
    from gradledger.verify import verify_op

    _register(_tanh_rules(lambda x, out: (1.0 - out * out,)))
    report = verify_op("tanh2", examples=30)
    assert report.status == "PASS", str(report)


def test_an_op_declaring_order_one_is_not_held_to_second_derivatives(fresh_host):
    from gradledger.verify import verify_op

    op = gl.Op("tanh2", np.tanh, local_grad=_through_data, signature="()->()", order=1)
    _register(op)
    assert verify_op("tanh2", examples=30).status == "PASS"


def test_gradgradcheck_passes_a_composed_function_and_catches_a_lost_second_derivative(
        fresh_host):
    from gradledger.verify import GradientMismatch, gradcheck, gradgradcheck

    def layer(w, x):
        return gl.sum(gl.tanh(gl.matmul(x, w)) ** 2)

    w, x = rng.normal(size=(3, 2)), rng.normal(size=(4, 3))
    assert gradgradcheck(layer, w, x)
    assert gradcheck(layer, w, x, order=2)
    _register(_tanh_rules(_through_data))

    def through_wrong_op(w, x):
        return gl.sum(gl.ops.tanh2(gl.matmul(x, w)) ** 2)

    assert gradcheck(through_wrong_op, w, x)  # first order is right
    with pytest.raises(GradientMismatch, match="second order"):
        gradgradcheck(through_wrong_op, w, x)


def test_random_programs_of_registered_ops_differentiate_twice_like_the_nudge_method():
    from gradledger.verify import gradgradcheck
    from gradledger.verify.programs import programs
    from hypothesis import HealthCheck, given, settings

    @settings(max_examples=100, suppress_health_check=[
        HealthCheck.too_slow, HealthCheck.filter_too_much, HealthCheck.data_too_large])
    @given(programs(max_steps=12))
    def check(program):
        assert gradgradcheck(program, *program.leaves)

    check()
