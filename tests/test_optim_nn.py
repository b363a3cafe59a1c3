"""gl.optim.SGD steps downhill; gl.nn builds networks from registered ops only."""

import math

import gradledger as gl
import numpy as np
import pytest


def quadratic_loss(w, target):
    return gl.sum((w - target) ** 2)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_sgd_on_a_quadratic_converges_to_its_minimum(momentum):
    target = np.array([1.5, -2.0, 0.25])
    w = gl.tensor(np.zeros(3), requires_grad=True)
    opt = gl.optim.SGD([w], lr=0.05, momentum=momentum)
    for _ in range(300):
        opt.zero_grad()
        quadratic_loss(w, target).backward()
        opt.step()
    np.testing.assert_allclose(w.data, target, atol=1e-6)


def test_sgd_step_is_the_seeds_update_w_minus_lr_times_grad():
    w = gl.tensor(2.0, requires_grad=True, name="x")
    loss = (w * 3.0) * (w * 3.0)
    loss.backward()
    assert w.grad == 36.0
    gl.optim.SGD([w], lr=0.01).step()
    assert w.data == pytest.approx(2.0 - 0.01 * 36.0)
    assert isinstance(w.data, np.float64)  # a 0-d tensor keeps numpy's scalar convention


def test_sgd_momentum_accumulates_a_velocity():
    w = gl.tensor(0.0, requires_grad=True)
    opt = gl.optim.SGD([w], lr=1.0, momentum=0.5)
    for _ in range(2):
        w.grad = np.float64(1.0)  # a constant slope of 1
        opt.step()
    # velocities 1, then 0.5 * 1 + 1 = 1.5: w = -(1 + 1.5)
    assert w.data == pytest.approx(-2.5)


def test_sgd_zero_grad_clears_the_ledger_and_skips_params_without_grad():
    a = gl.tensor([1.0, 2.0], requires_grad=True)
    b = gl.tensor([5.0], requires_grad=True)
    opt = gl.optim.SGD([a, b], lr=0.1)
    gl.sum(a * a).backward()
    opt.step()
    np.testing.assert_allclose(a.data, [0.8, 1.6])
    np.testing.assert_array_equal(b.data, [5.0])  # no backward reached b: left alone
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_sgd_keeps_float32_parameters_float32():
    w = gl.tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    gl.sum(w * w).backward()
    gl.optim.SGD([w], lr=0.1).step()
    assert w.dtype == np.float32
    np.testing.assert_allclose(w.data, 0.8, rtol=1e-6)


@pytest.mark.parametrize("lr", [math.nan, math.inf, -0.1])
def test_sgd_rejects_a_bad_learning_rate_saying_expected_and_got(lr):
    w = gl.tensor(1.0, requires_grad=True)
    with pytest.raises(ValueError, match=r"lr: expected a finite number >= 0.*got"):
        gl.optim.SGD([w], lr=lr)


def test_sgd_rejects_a_non_numeric_learning_rate():
    w = gl.tensor(1.0, requires_grad=True)
    with pytest.raises(TypeError, match="lr: expected"):
        gl.optim.SGD([w], lr="fast")


def test_sgd_rejects_parameters_that_take_no_gradient():
    with pytest.raises(ValueError, match="does not require grad"):
        gl.optim.SGD([gl.tensor([1.0, 2.0])], lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        gl.optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of gl.Tensor"):
        gl.optim.SGD(gl.tensor(1.0, requires_grad=True), lr=0.1)


def test_linear_is_x_at_weight_transposed_plus_bias_in_pytorchs_layout():
    layer = gl.nn.Linear(3, 2, rng=0)
    assert layer.weight.shape == (2, 3) and layer.bias.shape == (2,)  # (out, in), as PyTorch
    x = np.arange(6.0).reshape(2, 3)
    out = layer(x)
    np.testing.assert_allclose(out.data, x @ layer.weight.data.T + layer.bias.data)
    assert out.op == "linear_bias"  # one recorded op, the bias included
    with pytest.raises(AttributeError, match=r"Linear.weight is \(out_features, in_features\)"):
        _ = layer.W


def test_linear_without_bias_has_only_weight():
    layer = gl.nn.Linear(3, 2, bias=False, rng=0)
    assert layer.parameters() == [layer.weight]
    assert layer(np.ones((1, 3))).op == "linear"


def test_init_is_seedable_and_pytorchs_uniform():
    a = gl.nn.MLP(2, [64, 64], 1, rng=7)
    b = gl.nn.MLP(2, [64, 64], 1, rng=np.random.default_rng(7))
    for wa, wb in zip(a.parameters(), b.parameters(), strict=True):
        np.testing.assert_array_equal(wa.data, wb.data)
    c = gl.nn.MLP(2, [64, 64], 1, rng=8)
    assert not np.array_equal(a.layers[0].weight.data, c.layers[0].weight.data)
    big = gl.nn.Linear(400, 300, rng=0)  # PyTorch's: U(-1/sqrt(400), 1/sqrt(400)) = U(-0.05, 0.05)
    assert np.abs(big.weight.data).max() <= 0.05 and np.abs(big.bias.data).max() <= 0.05
    assert np.std(big.weight.data) == pytest.approx(0.05 / np.sqrt(3), rel=0.02)
    assert np.abs(big.weight.data).max() > 0.049 and np.std(big.bias.data) > 0.02


def test_mlp_parameters_are_every_layer_in_order_with_display_names():
    net = gl.nn.MLP(2, [4, 3], 1, rng=0)
    names = [w.name for w in net.parameters()]
    assert names == ["weight1", "bias1", "weight2", "bias2", "weight3", "bias3"]
    assert [path for path, _ in net.named_parameters()][:2] == ["layers.0.weight",
                                                                "layers.0.bias"]
    assert net.num_parameters() == 2 * 4 + 4 + 4 * 3 + 3 + 3 * 1 + 1


def test_module_zero_grad_clears_every_parameter():
    net = gl.nn.MLP(2, 5, 1, rng=0)
    gl.mean(net(np.ones((3, 2)))).backward()
    assert all(w.grad is not None for w in net.parameters())
    net.zero_grad()
    assert all(w.grad is None for w in net.parameters())


def test_mlp_gradients_match_a_hand_written_numpy_backward():
    net = gl.nn.MLP(3, [5], 2, activation="tanh", rng=1)
    x = np.random.default_rng(2).normal(size=(4, 3))
    gl.sum(net(x)).backward()
    (W1, b1), (W2, b2) = [(layer.weight.data.T, layer.bias.data) for layer in net.layers]
    h = np.tanh(x @ W1 + b1)
    dh = np.ones((4, 2)) @ W2.T * (1 - h**2)
    np.testing.assert_allclose(net.layers[1].weight.grad, (h.T @ np.ones((4, 2))).T)
    np.testing.assert_allclose(net.layers[1].bias.grad, [4.0, 4.0])
    np.testing.assert_allclose(net.layers[0].weight.grad, (x.T @ dh).T)
    np.testing.assert_allclose(net.layers[0].bias.grad, dh.sum(axis=0))


def test_mlp_calls_its_activation_through_the_registry(fresh_host):
    class SquarePlugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op("squared", np.square, local_grad=lambda x, out: (2 * x,),
                                    signature="()->()"))

    gl.register_plugin(SquarePlugin(), name="square_plugin")
    net = gl.nn.MLP(2, [3], 1, activation="squared", rng=0)
    x = np.array([[0.5, -1.0]])
    first, last = net.layers
    np.testing.assert_allclose(net(x).data, last(first(x).data ** 2).data)
    with pytest.raises(AttributeError, match="no_such_activation"):
        gl.nn.MLP(2, [3], 1, activation="no_such_activation")


def test_mlp_trains_with_sgd_on_a_tiny_regression():
    rng = np.random.default_rng(0)
    x = rng.uniform(-1, 1, size=(64, 1))
    y = x**2
    net = gl.nn.MLP(1, [16], 1, activation="tanh", rng=0)
    opt = gl.optim.SGD(net, lr=0.1, momentum=0.9)
    first = None
    for _ in range(200):
        opt.zero_grad()
        loss = gl.mean((net(x) - y) ** 2)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < first / 10


def test_sgd_momentum_velocity_does_not_alias_the_grad():
    w = gl.tensor([1.0, 1.0], requires_grad=True)
    opt = gl.optim.SGD([w], lr=0.1, momentum=0.9)
    gl.sum(w * 3.0).backward()
    opt.step()
    w.grad[...] = 0.0  # editing the ledger in place must not edit the velocity
    opt.step()
    np.testing.assert_allclose(w.data, 1.0 - 0.1 * 3.0 - 0.1 * 0.9 * 3.0)
