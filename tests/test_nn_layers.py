"""gl.nn layers and gl.nn.functional: values against numpy written here, grads against the
nudge method (central differences), errors naming the culprit."""

import gradledger as gl
import numpy as np
import pytest
from numeric import nudge_grads

F = gl.nn.functional
RNG = np.random.default_rng(0)


def direct_conv2d(x, w, b, stride, padding):
    """The definition, one output element at a time: sum over c, i, j of x_pad * w."""
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    p = (h + 2 * padding - kh) // stride + 1
    q = (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n, o, p, q))
    for ni, oi, pi, qi in np.ndindex(n, o, p, q):
        window = xp[ni, :, pi * stride:pi * stride + kh, qi * stride:qi * stride + kw]
        out[ni, oi, pi, qi] = np.sum(window * w[oi]) + b[oi]
    return out


@pytest.mark.parametrize("stride, padding", [(1, 0), (2, 1), (1, 2)])
def test_conv2d_layer_is_the_convolution_plus_a_channel_bias(stride, padding):
    layer = gl.nn.Conv2d(2, 3, kernel_size=3, stride=stride, padding=padding, rng=0)
    layer.bias.data = np.array([0.5, -1.0, 2.0])
    x = RNG.normal(size=(2, 2, 5, 6))
    expected = direct_conv2d(x, layer.weight.data, layer.bias.data, stride, padding)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-12, atol=1e-12)


def test_conv2d_layer_grads_match_the_nudge_method():
    layer = gl.nn.Conv2d(2, 2, kernel_size=(2, 3), stride=1, padding=1, rng=1)
    x = RNG.normal(size=(2, 2, 4, 4))
    probe = RNG.normal(size=layer(x).shape)  # a random linear functional of the output
    gl.sum(layer(x) * probe).backward()

    def f(w, b):
        return np.sum(direct_conv2d(x, w, b, 1, 1) * probe)

    dw, db = nudge_grads(f, [layer.weight.data, layer.bias.data])
    np.testing.assert_allclose(layer.weight.grad, dw, rtol=1e-6, atol=1e-8)
    np.testing.assert_allclose(layer.bias.grad, db, rtol=1e-6, atol=1e-8)


def test_conv2d_is_initialised_and_names_its_weights_as_pytorch():
    layer = gl.nn.Conv2d(8, 16, 3, rng=0)
    assert layer.weight.shape == (16, 8, 3, 3) and layer.bias.shape == (16,)
    assert [p for p, _ in layer.named_parameters()] == ["weight", "bias"]
    bound = 1 / np.sqrt(8 * 9)  # U(-1/sqrt(fan_in), 1/sqrt(fan_in)), weight and bias
    assert np.abs(layer.weight.data).max() <= bound and np.abs(layer.bias.data).max() <= bound
    assert np.std(layer.weight.data) == pytest.approx(bound / np.sqrt(3), rel=0.05)
    assert gl.nn.Conv2d(1, 1, 2, bias=False, rng=0).parameters()[0].shape == (1, 1, 2, 2)
    with pytest.raises(ValueError, match="Conv2d kernel_size: expected an int >= 1"):
        gl.nn.Conv2d(1, 1, 0)
    with pytest.raises(ValueError, match="Conv2d in_channels: expected a positive int"):
        gl.nn.Conv2d(0, 1, 3)


def test_conv2d_channel_mismatch_is_blamed_on_the_call():
    layer = gl.nn.Conv2d(3, 4, 3, rng=0)
    with pytest.raises(gl.OpCallError, match="conv2d"):
        layer(np.zeros((1, 2, 5, 5)))


def test_pools_take_the_max_and_the_mean_of_each_window():
    x = np.arange(32.0).reshape(1, 2, 4, 4)
    x[0, 0, 0, 0] = 100.0
    out = gl.nn.MaxPool2d(2)(gl.tensor(x))
    expected = x.reshape(1, 2, 2, 2, 2, 2).max(axis=(3, 5))
    np.testing.assert_array_equal(out.data, expected)
    avg = gl.nn.AvgPool2d(2)(gl.tensor(x))
    np.testing.assert_allclose(avg.data, x.reshape(1, 2, 2, 2, 2, 2).mean(axis=(3, 5)))
    strided = gl.nn.MaxPool2d(3, stride=1)(gl.tensor(x))
    assert strided.shape == (1, 2, 2, 2)


def test_max_pool_kernel_larger_than_the_input_is_an_error_naming_the_op():
    with pytest.raises(gl.GradledgerError, match="max_pool2d"):
        gl.nn.MaxPool2d(5)(gl.tensor(np.zeros((1, 1, 4, 4))))


def test_embedding_picks_rows_and_repeated_ids_add_their_grads():
    emb = gl.nn.Embedding(5, 3, rng=0)
    ids = np.array([[1, 4], [1, 1]])
    out = emb(ids)
    np.testing.assert_array_equal(out.data, emb.weight.data[ids])
    gl.sum(out * np.arange(12.0).reshape(2, 2, 3)).backward()
    expected = np.zeros((5, 3))
    expected[1] = [0, 1, 2] + np.array([6, 7, 8]) + np.array([9, 10, 11])
    expected[4] = [3, 4, 5]
    np.testing.assert_array_equal(emb.weight.grad, expected)
    assert np.std(gl.nn.Embedding(1000, 20, rng=0).weight.data) == pytest.approx(1.0, rel=0.02)


def test_embedding_id_out_of_range_is_an_error_naming_the_op():
    with pytest.raises(gl.GradledgerError, match="embedding"):
        gl.nn.Embedding(5, 3, rng=0)(np.array([0, 5]))


def test_dropout_drops_in_training_and_passes_through_in_eval():
    drop = gl.nn.Dropout(0.25, rng=0)
    x = gl.tensor(np.ones((200, 50)), requires_grad=True)
    out = drop(x).data
    kept = out != 0
    assert 0.7 < kept.mean() < 0.8
    np.testing.assert_allclose(out[kept], 1 / 0.75)
    assert not np.array_equal(drop(x).data, out)  # a fresh mask per call
    drop.eval()
    assert drop(x) is x
    with pytest.raises(ValueError, match=r"Dropout p: expected a probability in \[0, 1\]"):
        gl.nn.Dropout(1.5)


def test_dropout_grad_is_its_mask_scaled():
    x = gl.tensor(np.ones((4, 6)), requires_grad=True)
    out = F.dropout(x, 0.5, rng=3)
    gl.sum(out).backward()
    np.testing.assert_array_equal(x.grad, out.data)  # d out / d x = mask / (1 - p)


def test_same_rng_seed_gives_the_same_sequence_of_dropout_masks():
    x = gl.tensor(np.ones((5, 5)))
    first, second = gl.nn.Dropout(0.5, rng=7), gl.nn.Dropout(0.5, rng=7)
    masks = [(first(x).data, second(x).data) for _ in range(3)]
    for a, b in masks:
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(masks[0][0], masks[1][0])


def test_layer_norm_normalises_the_last_dims_then_scales_and_shifts():
    x = RNG.normal(size=(3, 2, 4)) * 5 + 2
    norm = gl.nn.LayerNorm((2, 4))
    norm.weight.data = RNG.normal(size=(2, 4))
    norm.bias.data = RNG.normal(size=(2, 4))
    mu = x.mean(axis=(1, 2), keepdims=True)
    var = x.var(axis=(1, 2), keepdims=True)
    expected = (x - mu) / np.sqrt(var + 1e-5) * norm.weight.data + norm.bias.data
    np.testing.assert_allclose(norm(x).data, expected, rtol=1e-12)
    plain = gl.nn.LayerNorm(4, elementwise_affine=False)
    assert plain.parameters() == []
    np.testing.assert_allclose(plain(x).data.mean(axis=-1), 0.0, atol=1e-12)


def test_layer_norm_grads_match_the_nudge_method():
    x = RNG.normal(size=(2, 5))
    weight, bias = RNG.normal(size=5), RNG.normal(size=5)
    probe = RNG.normal(size=(2, 5))
    xt, wt, bt = (gl.tensor(a, requires_grad=True) for a in (x, weight, bias))
    gl.sum(F.layer_norm(xt, 5, wt, bt, eps=1e-3) * probe).backward()

    def f(x, w, b):
        centred = x - x.mean(axis=-1, keepdims=True)
        return np.sum((centred / np.sqrt(np.mean(centred**2, -1, keepdims=True) + 1e-3) * w + b)
                      * probe)

    for got, want in zip((xt.grad, wt.grad, bt.grad), nudge_grads(f, [x, weight, bias]),
                         strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-8)


def test_layer_norm_refuses_an_input_whose_last_dims_differ():
    with pytest.raises(ValueError, match=r"normalized_shape \(3,\); got an input of shape"):
        gl.nn.LayerNorm(3)(np.ones((2, 4)))


def test_flatten_merges_the_dims_it_is_told():
    x = gl.tensor(np.arange(24.0).reshape(2, 3, 4))
    assert gl.nn.Flatten()(x).shape == (2, 12)
    assert F.flatten(x, 0, 1).shape == (6, 4)
    assert F.flatten(x, -2).shape == (2, 12)
    with pytest.raises(ValueError, match="start_dim <= end_dim"):
        F.flatten(x, 2, 1)


def test_activation_modules_are_their_ops():
    x = gl.tensor([-1.0, 0.5])
    np.testing.assert_array_equal(gl.nn.ReLU()(x).data, [0.0, 0.5])
    np.testing.assert_allclose(gl.nn.Tanh()(x).data, np.tanh([-1.0, 0.5]))
    np.testing.assert_allclose(gl.nn.Sigmoid()(x).data, 1 / (1 + np.exp([1.0, -0.5])))


def test_functional_linear_uses_pytorchs_weight_layout():
    x = RNG.normal(size=(4, 3))
    weight, bias = RNG.normal(size=(2, 3)), RNG.normal(size=2)
    np.testing.assert_allclose(F.linear(gl.tensor(x), weight, bias).data, x @ weight.T + bias)


def test_functional_softmax_family_takes_dim():
    x = RNG.normal(size=(3, 4))
    e = np.exp(x - x.max(axis=0))
    np.testing.assert_allclose(F.softmax(gl.tensor(x), dim=0).data, e / e.sum(axis=0))
    np.testing.assert_allclose(F.log_softmax(gl.tensor(x), dim=0).data,
                               np.log(e / e.sum(axis=0)))


def test_functional_cross_entropy_is_the_mean_negative_log_likelihood():
    logits = RNG.normal(size=(5, 4))
    labels = np.array([0, 3, 1, 1, 2])
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    per_row = -log_p[np.arange(5), labels]
    t = gl.tensor(logits)
    assert F.cross_entropy(t, labels).item() == pytest.approx(per_row.mean(), rel=1e-12)
    assert F.cross_entropy(t, labels, reduction="sum").item() == pytest.approx(per_row.sum())
    np.testing.assert_allclose(F.cross_entropy(t, labels, reduction="none").data, per_row)


def test_functional_cross_entropy_label_out_of_range_is_blamed_on_the_call():
    with pytest.raises(gl.OpCallError, match=r"cross_entropy.*labels must lie in \[0, 4\)"):
        F.cross_entropy(gl.tensor(np.zeros((2, 4)), requires_grad=True), np.array([1, 4]))


def test_functional_mse_loss_reductions():
    a, b = np.array([1.0, 2.0, 4.0]), np.array([0.0, 2.0, 1.0])
    assert F.mse_loss(gl.tensor(a), b).item() == pytest.approx(10 / 3)
    assert F.mse_loss(gl.tensor(a), b, reduction="sum").item() == 10.0
    np.testing.assert_array_equal(F.mse_loss(gl.tensor(a), b, reduction="none").data, [1, 0, 9])
    with pytest.raises(ValueError, match="mse_loss reduction"):
        F.mse_loss(gl.tensor(a), b, reduction="avg")


def test_a_small_cnn_learns_to_tell_two_patterns_apart():
    rng = np.random.default_rng(0)
    x = rng.normal(scale=0.3, size=(32, 1, 6, 6))
    y = np.arange(32) % 2
    x[y == 0, 0, :, 2] += 2.0  # a vertical bar
    x[y == 1, 0, 2, :] += 2.0  # a horizontal bar
    net = gl.nn.Sequential(gl.nn.Conv2d(1, 4, 3, padding=1, rng=0), gl.nn.ReLU(),
                           gl.nn.MaxPool2d(2), gl.nn.Flatten(), gl.nn.Linear(36, 2, rng=1))
    opt = gl.optim.Adam(net, lr=0.02)
    for _ in range(30):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05
    net.eval()
    with gl.no_grad():
        assert np.mean(np.argmax(net(x).data, axis=1) == y) == 1.0
