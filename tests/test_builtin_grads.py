"""Every built-in op's gradients match central finite differences on fixed inputs.

The loss is `sum(op(inputs) * weights)` with fixed random weights, so each VJP is
checked against a non-trivial output grad, not just ones. (The property-based
verifier is its own suite; these are fixed, hand-chosen cases.)
"""

import gradledger as gl
import numpy as np
import pytest
from numeric import nudge_grads

rng = np.random.default_rng(1234)


def positive(*shape):
    return rng.uniform(0.5, 2.0, size=shape)


def away_from_zero(*shape):
    return rng.uniform(0.5, 2.0, size=shape) * rng.choice([-1.0, 1.0], size=shape)


# (case id, op name, input arrays, params)
CASES = [
    ("add (3,1)+(4,)", "add", [rng.normal(size=(3, 1)), rng.normal(size=(4,))], {}),
    ("add scalar+matrix", "add", [rng.normal(size=()), rng.normal(size=(2, 3))], {}),
    ("sub (3,1)-(4,)", "sub", [rng.normal(size=(3, 1)), rng.normal(size=(4,))], {}),
    ("sub matrix-scalar", "sub", [rng.normal(size=(2, 3)), rng.normal(size=())], {}),
    ("mul (3,1)*(4,)", "mul", [rng.normal(size=(3, 1)), rng.normal(size=(4,))], {}),
    ("mul scalar*matrix", "mul", [rng.normal(size=()), rng.normal(size=(2, 3))], {}),
    ("div (2,3)/(3,)", "div", [rng.normal(size=(2, 3)), away_from_zero(3)], {}),
    ("div scalar/matrix", "div", [rng.normal(size=()), away_from_zero(2, 2)], {}),
    ("neg", "neg", [rng.normal(size=(2, 3))], {}),
    ("exp", "exp", [rng.normal(size=(3, 2))], {}),
    ("logaddexp (2,3),(3,)", "logaddexp", [rng.normal(size=(2, 3)) * 5, rng.normal(size=(3,))],
     {}),
    ("log", "log", [positive(4)], {}),
    ("tanh", "tanh", [rng.normal(size=(2, 2, 2))], {}),
    ("relu", "relu", [away_from_zero(3, 4)], {}),
    ("matmul (2,3)@(3,4)", "matmul", [rng.normal(size=(2, 3)), rng.normal(size=(3, 4))], {}),
    ("matmul batched (2,3,4)@(2,4,5)", "matmul",
     [rng.normal(size=(2, 3, 4)), rng.normal(size=(2, 4, 5))], {}),
    ("matmul broadcast batch (2,1,3,2)@(4,2,3)", "matmul",
     [rng.normal(size=(2, 1, 3, 2)), rng.normal(size=(4, 2, 3))], {}),
    ("matmul vector@matrix", "matmul", [rng.normal(size=(3,)), rng.normal(size=(3, 2))], {}),
    ("matmul matrix@vector", "matmul", [rng.normal(size=(2, 3)), rng.normal(size=(3,))], {}),
    ("sum all", "sum", [rng.normal(size=(2, 3))], {}),
    ("sum axis 0", "sum", [rng.normal(size=(2, 3))], {"axis": 0}),
    ("sum axis -1 keepdims", "sum", [rng.normal(size=(2, 3, 2))], {"axis": -1, "keepdims": True}),
    ("sum axes (0,2)", "sum", [rng.normal(size=(2, 3, 2))], {"axis": (0, 2)}),
    ("mean all", "mean", [rng.normal(size=(3, 2))], {}),
    ("mean axis 1", "mean", [rng.normal(size=(3, 4))], {"axis": 1}),
    ("mean axis 0 keepdims", "mean", [rng.normal(size=(3, 4))], {"axis": 0, "keepdims": True}),
    ("reshape", "reshape", [rng.normal(size=(2, 6))], {"shape": (3, 4)}),
    ("reshape -1", "reshape", [rng.normal(size=(2, 3, 2))], {"shape": (-1,)}),
    ("transpose", "transpose", [rng.normal(size=(2, 3))], {}),
    ("transpose axes", "transpose", [rng.normal(size=(2, 3, 4))], {"axes": (1, 2, 0)}),
]
EXPONENTS = [2, 3, 0.5, -1.0, 1.5]


def check_against_nudge(name, arrays, params, constants=()):
    forward = getattr(gl.ops, name)
    out_shape = np.shape(forward(*[gl.tensor(a) for a in arrays], **params).data)
    weights = rng.normal(size=out_shape)

    def loss_of(*values):
        inputs = [v if i in constants else gl.tensor(v) for i, v in enumerate(values)]
        return float(np.sum(forward(*inputs, **params).data * weights))

    tensors = [a if i in constants else gl.tensor(a, requires_grad=True)
               for i, a in enumerate(arrays)]
    gl.sum(forward(*tensors, **params) * weights).backward()
    expected = nudge_grads(loss_of, arrays)
    for i, (t, want) in enumerate(zip(tensors, expected, strict=False)):
        if i in constants:
            continue
        assert t.grad.shape == np.shape(arrays[i]), f"input {i} grad shape"
        np.testing.assert_allclose(t.grad, want, rtol=1e-6, atol=1e-7, err_msg=f"input {i}")


@pytest.mark.parametrize("name,arrays,params", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_builtin_op_grad_matches_central_differences(name, arrays, params):
    check_against_nudge(name, arrays, params)


@pytest.mark.parametrize("exponent", EXPONENTS)
def test_pow_with_constant_exponent_matches_central_differences(exponent):
    check_against_nudge("pow", [positive(2, 3), np.float64(exponent)], {}, constants=(1,))


def test_every_builtin_op_has_a_fixed_case_here_or_in_its_family_tests():
    import importlib
    import pkgutil
    from pathlib import Path

    from test_contract import CONTRACT_OPS  # tested there: sequences, several outputs, indexing

    covered = {c[1] for c in CASES} | {"pow"} | CONTRACT_OPS
    for module in pkgutil.iter_modules([str(Path(__file__).parent)]):
        if module.name.startswith("test_ops_"):
            family = importlib.import_module(module.name)
            covered |= {c[1] for c in getattr(family, "GRAD_CASES", [])}
            covered |= set(getattr(family, "NO_GRAD_OPS", []))
            covered |= set(getattr(family, "TESTED_OPS", []))  # sequences, several outputs
    from gradledger.loader import host

    host.ensure_loaded()
    builtin = {op.name for op in host.registry if op.plugin == "builtin"}
    assert builtin <= covered, f"built-in ops without a fixed-input test: {builtin - covered}"


def test_operators_dispatch_to_the_registered_ops():
    a = gl.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b = gl.tensor([[0.5, -1.0], [2.0, 1.0]])
    for expression, op in [
        (lambda: a + b, "add"), (lambda: a - b, "sub"), (lambda: a * b, "mul"),
        (lambda: a / b, "div"), (lambda: a ** 2, "pow"), (lambda: a @ b, "matmul"),
        (lambda: -a, "neg"), (lambda: 1.0 - a, "sub"), (lambda: 2.0 / a, "div"),
        (lambda: b.numpy() @ a, "matmul"), (lambda: a.T, "transpose"),
    ]:
        assert expression().op == op


def test_numpy_arrays_and_python_scalars_mix_in_on_either_side():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    c = np.array([2.0, 4.0, 8.0])
    y = gl.sum(c * x + x * 3 - 1 / (x + 1) + c / 2)
    y.backward()
    np.testing.assert_allclose(x.grad, c + 3 + 1 / (x.data + 1) ** 2)


def test_ops_are_reachable_as_gl_name_gl_ops_name_and_tensor_methods():
    x = gl.tensor(np.arange(6.0).reshape(2, 3))
    expected = np.arange(6.0).reshape(2, 3).sum(axis=0)
    for result in (gl.sum(x, axis=0), gl.ops.sum(x, axis=0), x.sum(axis=0)):
        np.testing.assert_array_equal(result.data, expected)


@pytest.mark.parametrize("axes", [(-1, 0), (1, -2), (-2, -1)])
def test_transpose_with_negative_axes_books_the_inverse_permutation(axes):
    check_against_nudge("transpose", [rng.normal(size=(3, 3))], {"axes": axes})
    check_against_nudge("transpose", [rng.normal(size=(2, 3))], {"axes": axes})


def test_pow_with_exponent_zero_has_zero_grad_even_at_zero():
    x = gl.tensor([0.0, 1.5], requires_grad=True)
    gl.sum(x ** 0).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0])
    y = gl.tensor([0.0, 2.0], requires_grad=True)
    gl.sum(y ** np.array([0.0, 2.0])).backward()
    np.testing.assert_array_equal(y.grad, [0.0, 4.0])
