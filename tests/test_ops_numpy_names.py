"""numpy's functions and tensor methods on Tensors reach the built-in ops named for them,
with numpy's argument conventions, and give numpy's values."""

import gradledger as gl
import numpy as np
import pytest

X = np.arange(1.0, 7.0).reshape(2, 3) / 4
A = np.array([[2.0, 0.5], [0.25, 3.0]])

# (numpy call on the data, the same call on Tensors, the op it must reach)
CALLS = [
    ("np.sqrt(x)", "sqrt"), ("np.absolute(x)", "abs"), ("np.abs(x)", "abs"),
    ("np.sign(x)", "sign"), ("np.square(x)", "square"), ("np.log1p(x)", "log1p"),
    ("np.expm1(x)", "expm1"), ("np.sin(x)", "sin"), ("np.cos(x)", "cos"), ("np.tan(x)", "tan"),
    ("np.arctan(x)", "arctan"), ("np.sinh(x)", "sinh"), ("np.cosh(x)", "cosh"),
    ("np.maximum(x, 0.7)", "maximum"), ("np.minimum(0.7, x)", "minimum"),
    ("np.clip(x, 0.5, 1.0)", "clip"), ("np.clip(x, a_min=None, a_max=1.0)", "clip"),
    ("np.where(x > 0.8, x, -x)", "where"),
    ("np.max(x, axis=0)", "max"), ("np.amax(x, 1)", "max"), ("np.min(x)", "min"),
    ("np.prod(x, 1)", "prod"), ("np.var(x, 0)", "var"), ("np.var(x, axis=1, ddof=1)", "var"),
    ("np.std(x, (0, 1))", "std"), ("np.cumsum(x, 1)", "cumsum"), ("np.cumsum(x)", "cumsum"),
    ("np.linalg.norm(x)", "norm"), ("np.linalg.norm(x, 1, -1)", "norm"),
    ("np.squeeze(np.expand_dims(x, 0))", "squeeze"), ("np.expand_dims(x, (0, -1))", "expand_dims"),
    ("np.broadcast_to(x, (4, 2, 3))", "broadcast_to"), ("np.flip(x, -1)", "flip"),
    ("np.swapaxes(x, 0, 1)", "swapaxes"), ("np.moveaxis(x, 0, -1)", "moveaxis"),
    ("np.pad(x, ((1, 0), (0, 2)))", "pad"), ("np.tile(x, (2, 1))", "tile"),
    ("np.repeat(x, 2, 1)", "repeat"), ("np.dot(x, np.transpose(x))", "dot"),
    ("np.outer(x, x)", "outer"), ("np.linalg.solve(a, x[:, :2])", "solve"),
    ("np.linalg.inv(a)", "inv"), ("np.linalg.det(a)", "det"),
    ("x.max(1)", "max"), ("x.var(ddof=0)", "var"), ("x.clip(0.5, 1.0)", "clip"),
    ("x.repeat(2)", "repeat"), ("x.prod(0)", "prod"), ("x.swapaxes(0, 1)", "swapaxes"),
]


@pytest.mark.parametrize("call,op", CALLS, ids=[c[0] for c in CALLS])
def test_numpy_call_on_tensors_reaches_the_op_and_gives_numpys_value(call, op):
    expected = eval(call, {"np": np, "x": X, "a": A})
    got = eval(call, {"np": np, "x": gl.tensor(X, requires_grad=True),
                      "a": gl.tensor(A, requires_grad=True)})
    assert isinstance(got, gl.Tensor) and got.op == op
    np.testing.assert_allclose(got.data, expected, rtol=1e-12)


def test_numpy_argmax_on_a_tensor_gives_integer_indices_without_grad():
    got = np.argmax(gl.tensor(X, requires_grad=True), 1)
    np.testing.assert_array_equal(got.data, np.argmax(X, 1))
    assert not got.requires_grad
