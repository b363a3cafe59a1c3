"""gl.grad, create_graph and the functional helpers, against closed forms."""

import gradledger as gl
import numpy as np
import pytest

rng = np.random.default_rng(21)


def test_the_seeds_chain_audited_gives_d_xgrad_dx_18():
    x = gl.tensor(2.0, requires_grad=True)
    a = x * 3
    loss = a * a
    loss.backward(create_graph=True)
    assert isinstance(x.grad, gl.Tensor) and x.grad.item() == 36.0
    (second,) = gl.grad(x.grad, x)
    assert second.item() == 18.0


def test_backward_without_create_graph_still_books_numpy_values():
    x = gl.tensor(2.0, requires_grad=True)
    (x * x).backward()
    assert isinstance(x.grad, np.float64) and x.grad == 4.0


@pytest.mark.parametrize("name,f,derivatives", [
    ("tanh", np.tanh, lambda x: (1 - np.tanh(x) ** 2,
                                 -2 * np.tanh(x) * (1 - np.tanh(x) ** 2),
                                 (6 * np.tanh(x) ** 2 - 2) * (1 - np.tanh(x) ** 2))),
    ("exp", np.exp, lambda x: (np.exp(x),) * 3),
    ("sin", np.sin, lambda x: (np.cos(x), -np.sin(x), -np.cos(x))),
])
def test_third_derivatives_of_elementwise_chains_match_closed_forms(name, f, derivatives):
    values = np.array([-1.3, -0.2, 0.4, 1.7])
    x = gl.tensor(values, requires_grad=True)
    y = getattr(gl, name)(x)
    (d1,) = gl.grad(gl.sum(y), x, create_graph=True)
    (d2,) = gl.grad(gl.sum(d1), x, create_graph=True)
    (d3,) = gl.grad(gl.sum(d2), x)
    for got, want in zip((d1, d2, d3), derivatives(values), strict=True):
        np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-12)


def test_a_composed_chain_to_third_order():
    # f(x) = sin(x) * exp(x): f''' = 2 e^x (cos x - sin x)
    values = np.array([0.3, -0.8])
    x = gl.tensor(values, requires_grad=True)
    (d1,) = gl.grad(gl.sum(gl.sin(x) * gl.exp(x)), x, create_graph=True)
    (d2,) = gl.grad(gl.sum(d1), x, create_graph=True)
    (d3,) = gl.grad(gl.sum(d2), x)
    np.testing.assert_allclose(d3.data, 2 * np.exp(values) * (np.cos(values) - np.sin(values)),
                               rtol=1e-12)


def test_grad_leaves_every_dot_grad_alone_and_takes_grad_outputs():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    w = gl.tensor([3.0, 4.0], requires_grad=True)
    y = x * w
    gx, gw = gl.grad(y, [x, w], grad_outputs=np.array([1.0, 10.0]))
    np.testing.assert_array_equal(gx.data, [3.0, 40.0])
    np.testing.assert_array_equal(gw.data, [1.0, 20.0])
    assert x.grad is None and w.grad is None and not gx.requires_grad


def test_grad_of_an_intermediate_and_of_several_outputs():
    x = gl.tensor(3.0, requires_grad=True)
    h = x * x
    out1, out2 = h * 2.0, h + x
    gh, gx = gl.grad([out1, out2], [h, x])
    assert gh.item() == 3.0 and gx.item() == 2 * 3.0 * 3.0 + 1.0


def test_grad_of_an_unused_input_is_an_error_unless_allow_unused():
    x = gl.tensor(1.0, requires_grad=True)
    unused = gl.tensor(1.0, requires_grad=True)
    with pytest.raises(gl.BackwardError, match="input 2 was not used.*allow_unused"):
        gl.grad(x * 2.0, [x, unused], retain_graph=True)
    gx, gu = gl.grad(x * 2.0, [x, unused], allow_unused=True)
    assert gx.item() == 2.0 and gu is None


def test_grad_of_a_tensor_that_does_not_require_grad_is_an_error():
    with pytest.raises(gl.BackwardError, match="input 1 does not require grad"):
        gl.grad(gl.tensor(1.0, requires_grad=True) * 2.0, gl.tensor(1.0))


def test_create_graph_through_an_order_one_op_names_the_op(fresh_host):
    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op("square_once", lambda x: x * x,
                                    vjp=lambda g, x, out: (2.0 * np.asarray(x) * g,),
                                    signature="(*)->(*)", order=1))

    gl.register_plugin(Plugin(), name="by_hand")
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    y = gl.sum(gl.ops.square_once(x))
    (first,) = gl.grad(y, x, retain_graph=True)
    np.testing.assert_array_equal(first.data, [2.0, 4.0])
    with pytest.raises(gl.BackwardError, match=r"square_once.*by_hand.*order=1"):
        gl.grad(y, x, create_graph=True)


def test_a_rule_that_drops_a_tensor_to_an_array_is_caught_not_silently_zero(fresh_host):
    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op("cube", lambda x: x ** 3,
                                    vjp=lambda g, x, out: (3.0 * np.asarray(x) ** 2 * g,),
                                    signature="(*)->(*)"))

    gl.register_plugin(Plugin(), name="by_hand")
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(gl.OpRuleError, match=r"cube.*turned a Tensor that requires grad into"):
        gl.grad(gl.sum(gl.ops.cube(x)), x, create_graph=True)


# -- the functional helpers ------------------------------------------------------------

A = np.array([[2.0, 0.5, 0.0], [0.5, 3.0, 1.0], [0.0, 1.0, 4.0]])
X0 = np.array([0.3, -1.2, 0.8])


def quadratic(x):
    """0.5 x^T A x: gradient A x, Hessian A."""
    return 0.5 * gl.sum(x * gl.matmul(gl.tensor(A), x))


def softmax(x):
    e = gl.exp(x - gl.max(x))
    return e / gl.sum(e)


def softmax_jacobian(x):
    s = np.exp(x - x.max())
    s /= s.sum()
    return np.diag(s) - np.outer(s, s)


def test_jacobian_of_a_linear_map_is_its_matrix():
    np.testing.assert_allclose(gl.jacobian(lambda x: gl.matmul(gl.tensor(A), x), X0).data, A)


def test_jacobian_of_softmax_matches_its_closed_form():
    np.testing.assert_allclose(gl.jacobian(softmax, X0).data, softmax_jacobian(X0), atol=1e-14)


def test_jacobian_with_two_inputs_gives_one_block_each():
    ja, jb = gl.jacobian(lambda a, b: a * b, (np.array([1.0, 2.0]), np.array([3.0, 4.0])))
    np.testing.assert_array_equal(ja.data, np.diag([3.0, 4.0]))
    np.testing.assert_array_equal(jb.data, np.diag([1.0, 2.0]))


def test_hessian_of_a_quadratic_form_is_its_matrix():
    np.testing.assert_allclose(gl.hessian(quadratic, X0).data, A, atol=1e-14)


def test_hvp_vjp_and_jvp_of_a_quadratic_form():
    v = np.array([1.0, -2.0, 0.5])
    value, product = gl.hvp(quadratic, X0, v)
    np.testing.assert_allclose(value.item(), 0.5 * X0 @ A @ X0)
    np.testing.assert_allclose(product.data, A @ v)
    _, pulled = gl.vjp(quadratic, X0)
    np.testing.assert_allclose(pulled.data, A @ X0)
    _, pushed = gl.jvp(quadratic, X0, v)
    np.testing.assert_allclose(pushed.data, (A @ X0) @ v)


def test_vjp_and_jvp_of_softmax_are_the_jacobian_transposed_and_not():
    u, v = np.array([1.0, 0.0, -1.0]), np.array([0.2, 0.4, -0.3])
    J = softmax_jacobian(X0)
    np.testing.assert_allclose(gl.vjp(softmax, X0, u)[1].data, J.T @ u, atol=1e-14)
    np.testing.assert_allclose(gl.jvp(softmax, X0, v)[1].data, J @ v, atol=1e-14)


def test_functional_helpers_on_a_small_mlp_match_its_hand_derivatives():
    W1, W2 = rng.normal(size=(3, 4)), rng.normal(size=(4,))

    def mlp(x):
        return gl.sum(gl.tanh(gl.matmul(x, gl.tensor(W1))) * W2)

    h = np.tanh(X0 @ W1)
    grad = W1 @ ((1 - h ** 2) * W2)
    hess = W1 @ np.diag(-2 * h * (1 - h ** 2) * W2) @ W1.T
    np.testing.assert_allclose(gl.vjp(mlp, X0)[1].data, grad, rtol=1e-12)
    np.testing.assert_allclose(gl.jacobian(mlp, X0).data, grad, rtol=1e-12)
    np.testing.assert_allclose(gl.hessian(mlp, X0).data, hess, rtol=1e-10, atol=1e-12)
    v = np.array([0.5, 1.0, -1.0])
    np.testing.assert_allclose(gl.hvp(mlp, X0, v)[1].data, hess @ v, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(gl.jvp(mlp, X0, v)[1].data, grad @ v, rtol=1e-12)


def test_functional_namespace_holds_the_same_helpers():
    assert gl.functional.hessian is gl.hessian and gl.functional.grad is gl.grad
