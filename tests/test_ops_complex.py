"""Complex tensors carry gradients in PyTorch's convention: for a real loss L and
z = x + i y, z.grad = dL/dx + i dL/dy, so that z -= lr * z.grad descends. Each grad is
checked against the nudge method along real and imaginary directions (tests/numeric.py),
run on numpy's own functions."""

import gradledger as gl
import numpy as np
import pytest
from numeric import complex_nudge_grads

rng = np.random.default_rng(2021)


def cplx(*shape, low=-1.5, high=1.5):
    return rng.uniform(low, high, shape) + 1j * rng.uniform(0.3, 1.5, shape) * \
        rng.choice([-1, 1], shape)


Z, W = cplx(3, 4), cplx(3, 4)
X = rng.uniform(0.5, 2.0, (3, 4))

# (label, gradledger function of Tensors, numpy function of arrays, inputs)
CASES = [
    ("add", lambda a, b: a + b, np.add, [Z, W]),
    ("sub", lambda a, b: a - b, np.subtract, [Z, W]),
    ("mul", lambda a, b: a * b, np.multiply, [Z, W]),
    ("div", lambda a, b: a / b, np.divide, [Z, W]),
    ("neg", lambda a: -a, np.negative, [Z]),
    ("exp", np.exp, np.exp, [Z]),
    ("log", np.log, np.log, [Z]),
    ("sin", np.sin, np.sin, [Z]),
    ("cos", np.cos, np.cos, [Z]),
    ("tan", np.tan, np.tan, [Z]),
    ("tanh", np.tanh, np.tanh, [Z]),
    ("sinh", np.sinh, np.sinh, [Z]),
    ("cosh", np.cosh, np.cosh, [Z]),
    ("square", np.square, np.square, [Z]),
    ("sqrt", np.sqrt, np.sqrt, [Z]),
    ("reciprocal", np.reciprocal, np.reciprocal, [Z]),
    ("expm1", np.expm1, np.expm1, [Z]),
    ("log1p", np.log1p, np.log1p, [Z]),
    ("pow int", lambda a: a ** 3, lambda a: a ** 3, [Z]),
    ("pow real", lambda a: a ** 1.5, lambda a: a ** 1.5, [Z]),
    ("pow tensor exponent", lambda a, p: a ** p, np.power, [Z, W]),
    ("abs", np.abs, np.abs, [Z]),
    ("real", np.real, np.real, [Z]),
    ("imag", np.imag, np.imag, [Z]),
    ("conj", np.conj, np.conj, [Z]),
    ("angle", np.angle, np.angle, [Z]),
    ("angle deg", lambda a: np.angle(a, deg=True), lambda a: np.angle(a, deg=True), [Z]),
    ("matmul", lambda a, b: a @ b, np.matmul, [Z, W.T]),
    ("einsum", lambda a, b: np.einsum("ij,kj->ik", a, b),
     lambda a, b: np.einsum("ij,kj->ik", a, b), [Z, W]),
    ("sum axis", lambda a: np.sum(a, axis=0), lambda a: np.sum(a, axis=0), [Z]),
    ("mean", np.mean, np.mean, [Z]),
    ("reshape transpose", lambda a: a.reshape(4, 3).T, lambda a: a.reshape(4, 3).T, [Z]),
    ("indexing", lambda a: a[1:, ::2], lambda a: a[1:, ::2], [Z]),
    ("concatenate", lambda a, b: np.concatenate([a, b], axis=1),
     lambda a, b: np.concatenate([a, b], axis=1), [Z, W]),
    ("where", lambda a, b: gl.where(X > 1.0, a, b), lambda a, b: np.where(X > 1.0, a, b),
     [Z, W]),
    ("var", lambda a: np.var(a, axis=1), lambda a: np.var(a, axis=1), [Z]),
    ("std", lambda a: np.std(a, ddof=1), lambda a: np.std(a, ddof=1), [Z]),
    ("real_if_close, not close", np.real_if_close, np.real_if_close, [Z]),
    ("real_if_close, close", lambda a: np.real_if_close(a * 0 + X + 1e-20j) * a,
     lambda a: np.real_if_close(a * 0 + X + 1e-20j) * a, [Z]),
    ("mixed real times complex", lambda x, z: x * z, np.multiply, [X, Z]),
    ("mixed real input, complex output", lambda x: x * (2 - 3j), lambda x: x * (2 - 3j), [X]),
    ("astype complex", lambda x: x.astype(np.complex128) * Z,
     lambda x: x.astype(np.complex128) * Z, [X]),
    ("astype real", lambda z: z.astype(np.float64), lambda z: np.real(z), [Z]),
]


TESTED_OPS = ["real_if_close"]
"""For test_builtin_grads' sweep: called in CASES above (the others have real cases too)."""


@pytest.mark.parametrize("name,gl_fn,np_fn,inputs", CASES, ids=[c[0] for c in CASES])
def test_values_and_grads_match_numpy_and_the_nudge_method_in_both_directions(
        name, gl_fn, np_fn, inputs):
    tensors = [gl.tensor(a, requires_grad=True) for a in inputs]
    out = gl_fn(*tensors)
    want = np_fn(*inputs)
    np.testing.assert_allclose(out.detach().data, want, rtol=1e-12, atol=1e-12)
    u = rng.normal(size=np.shape(want)) + (1j * rng.normal(size=np.shape(want))
                                           if np.iscomplexobj(want) else 0.0)
    out.backward(u)

    def loss(*arrays):
        return float(np.sum(np.real(np.conj(u) * np_fn(*arrays))))

    expected = complex_nudge_grads(loss, inputs)
    for t, a, e in zip(tensors, inputs, expected, strict=True):
        assert t.grad.dtype == np.asarray(a).dtype  # real input: real grad; never dropped
        np.testing.assert_allclose(t.grad, e, rtol=1e-6, atol=1e-7)


def test_closed_forms_of_the_convention():
    z = gl.tensor(np.array([3 + 4j, -1 + 2j]), requires_grad=True)
    gl.sum(gl.abs(z) ** 2).backward()  # |z|^2 = x^2 + y^2: grad 2x + 2iy = 2z
    np.testing.assert_allclose(z.grad, 2 * z.detach().data)
    z.grad = None
    gl.sum(gl.abs(z)).backward()  # |z|: z / |z|, as PyTorch's sgn
    np.testing.assert_allclose(z.grad, z.detach().data / np.abs(z.detach().data))
    z.grad = None
    gl.sum(np.imag(z)).backward()  # d Im z / dy = 1: grad i
    np.testing.assert_allclose(z.grad, [1j, 1j])


def test_z_minus_lr_times_grad_descends():
    target = cplx(5, low=0.5, high=1.5)
    z = gl.tensor(np.zeros(5, complex), requires_grad=True)
    losses = []
    for _ in range(100):
        loss = gl.sum(gl.abs(np.exp(z) - target) ** 2)
        losses.append(float(loss.data))
        z.grad = None
        loss.backward()
        with gl.no_grad():
            z -= 0.05 * z.grad
    assert all(b < a for a, b in zip(losses, losses[1:], strict=False))
    assert losses[-1] < 1e-4 * losses[0]
    np.testing.assert_allclose(np.exp(z.detach().data), target, atol=1e-2)


def test_gl_optimizers_refuse_complex_parameters_rather_than_guess():
    z = gl.tensor(np.zeros(4, complex), requires_grad=True)
    with pytest.raises(TypeError, match="complex128"):
        gl.optim.SGD([z], lr=0.1)


def test_backward_on_a_complex_scalar_is_an_error_naming_what_to_do():
    z = gl.tensor(1 + 2j, requires_grad=True)
    with pytest.raises(gl.BackwardError, match="real scalar loss.*complex128"):
        (z * z).backward()
    (z * z).backward(1.0 + 0j)  # with an explicit grad it is the caller's choice
    assert z.grad == pytest.approx(2 * np.conj(1 + 2j))


def test_an_op_declared_real_that_returns_complex_is_an_error_not_a_lost_grad(fresh_host):
    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op("to_phase", lambda x: np.exp(1j * x),
                                    local_grad=lambda x, out: (1j * out,),
                                    signature="()->()", doc="exp(i x)"))

    gl.register_plugin(Plugin(), name="by_hand")
    x = gl.tensor([0.5, 1.0], requires_grad=True)
    with pytest.raises(gl.OpRuleError, match=r"op 'to_phase'.*complex128.*declares only "
                                             r"real dtypes.*dtypes="):
        gl.ops.to_phase(x)
    assert gl.ops.to_phase(gl.tensor([0.5])).dtype == np.complex128  # no grad: no loss


def test_an_op_declaring_complex_output_of_real_input_gets_the_real_part(fresh_host):
    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op("to_phase", lambda x: np.exp(1j * x),
                                    local_grad=lambda x, out: (1j * out,),
                                    signature="()->()", dtypes=("float64->complex128",),
                                    doc="exp(i x)"))

    gl.register_plugin(Plugin(), name="by_hand")
    x = gl.tensor([0.5, 1.0], requires_grad=True)
    gl.sum(np.imag(gl.ops.to_phase(x))).backward()  # d sin(x) / dx
    assert x.grad.dtype == np.float64
    np.testing.assert_allclose(x.grad, np.cos([0.5, 1.0]))


def test_dtypes_entries_that_are_not_float_or_complex_are_refused():
    op = gl.Op("bad", lambda x: x, local_grad=lambda x, out: (1.0,), signature="()->()",
               dtypes=("int64", "float64->float32"))
    problems = op.problems()
    assert any("'int64'" in p for p in problems) and any("float64->float32" in p
                                                          for p in problems)


def test_python_complex_numbers_follow_numpys_promotion():
    f32 = gl.tensor(np.ones(3, np.float32), requires_grad=True)
    assert (f32 * 1j).dtype == np.complex64
    c64 = gl.tensor(np.ones(3, np.complex64), requires_grad=True)
    assert (c64 * 2.0).dtype == np.complex64 and (c64 + 1).dtype == np.complex64
    gl.sum(gl.abs(c64 * 2.0) ** 2).backward()
    assert c64.grad.dtype == np.complex64
    np.testing.assert_allclose(c64.grad, 8 * np.ones(3))


def test_second_order_on_complex_inputs_matches_the_nudge_of_first_order_grads():
    z0, v = cplx(3), cplx(3)

    def f(z):
        return gl.sum(gl.abs(np.sin(z) * z) ** 2)

    def first(z):
        t = gl.tensor(z, requires_grad=True)
        f(t).backward()
        return t.grad

    t = gl.tensor(z0, requires_grad=True)
    (g,) = gl.grad(f(t), [t], create_graph=True)
    w = cplx(3)
    (second,) = gl.grad(gl.sum(np.real(np.conj(w) * g)), [t])
    eps = 1e-6
    for step in (v.real, 1j * v.imag):  # a real direction, then an imaginary one
        numeric = np.sum(np.real(np.conj(w) * (first(z0 + eps * step) - first(z0 - eps * step))))
        numeric /= 2 * eps
        analytic = np.sum(np.real(np.conj(second.data) * step))
        assert analytic == pytest.approx(numeric, rel=1e-6, abs=1e-8)


def test_a_complex_tensor_prints_and_requires_grad_like_a_float_one():
    z = gl.tensor([1 + 2j], requires_grad=True)
    assert z.requires_grad and z.dtype == np.complex128
    assert "1+2j" in repr(z).replace(" ", "").replace("(", "").replace(")", "")
    with pytest.raises(TypeError, match="floating-point dtype"):
        gl.tensor([1, 2], requires_grad=True)


@pytest.mark.parametrize("name", ["mul", "div", "exp", "log", "abs", "angle", "real", "imag",
                                  "conj", "matmul", "sum", "getitem", "concatenate", "pow"])
def test_complex_ops_pass_the_verifier_in_both_complex_dtypes(name):
    from gradledger.verify import verify_op

    report = verify_op(name, examples=60)
    assert report.ok, str(report)
    assert {"complex128", "complex64"} <= set(report.dtypes), report.dtypes
