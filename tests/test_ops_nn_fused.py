"""The fused layer ops (linear, linear_bias, batch_norm, layer_norm, gelu_tanh, linear_gelu,
lstm_cell, lstm_step, lstm_seq, lstm_input_step, lstm_layer, attention, attention_qkv,
token_position_embedding, masked_fill) on fixed inputs:
grads against central differences, forwards against their definitions."""

import gradledger as gl
import numpy as np
import pytest
from numeric import nudge_grads
from opcheck import check_against_nudge

rng = np.random.default_rng(22)

GRAD_CASES = [
    ("linear 2-d", "linear", [rng.normal(size=(4, 3)), rng.normal(size=(2, 3))], {}, ()),
    ("linear 3-d input", "linear", [rng.normal(size=(2, 4, 3)), rng.normal(size=(5, 3))], {}, ()),
    ("linear vector", "linear", [rng.normal(size=(3,)), rng.normal(size=(2, 3))], {}, ()),
    ("linear_bias 2-d", "linear_bias",
     [rng.normal(size=(4, 3)), rng.normal(size=(2, 3)), rng.normal(size=2)], {}, ()),
    ("linear_bias 3-d input", "linear_bias",
     [rng.normal(size=(2, 4, 3)), rng.normal(size=(5, 3)), rng.normal(size=5)], {}, ()),
    ("linear_bias vector", "linear_bias",
     [rng.normal(size=(3,)), rng.normal(size=(2, 3)), rng.normal(size=2)], {}, ()),
    ("batch_norm (N, C)", "batch_norm",
     [rng.normal(size=(5, 3)), rng.normal(size=3), rng.normal(size=3)], {}, ()),
    ("batch_norm (N, C, H, W)", "batch_norm",
     [rng.normal(size=(2, 3, 2, 2)), rng.normal(size=3), rng.normal(size=3)], {"eps": 0.1}, ()),
    ("layer_norm last axis", "layer_norm",
     [rng.normal(size=(3, 4)), rng.normal(size=4), rng.normal(size=4)], {}, ()),
    ("layer_norm last two axes", "layer_norm",
     [rng.normal(size=(2, 3, 2)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))], {}, ()),
    ("gelu_tanh", "gelu_tanh", [rng.normal(size=(3, 4)) * 3], {}, ()),
    ("lstm_cell", "lstm_cell",
     [rng.normal(size=(2, 8)), rng.normal(size=8), rng.normal(size=(2, 2))], {}, ()),
    ("masked_fill", "masked_fill", [rng.normal(size=(3, 4)), rng.random((1, 4)) > 0.5],
     {"value": -2.0}, (1,)),
    ("lstm_step", "lstm_step",
     [rng.normal(size=(1, 2, 8)), rng.normal(size=(1, 2, 2)), rng.normal(size=(8, 2)),
      rng.normal(size=8), rng.normal(size=(1, 2, 2))], {}, ()),
    ("lstm_seq three steps", "lstm_seq",
     [rng.normal(size=(3, 2, 8)), rng.normal(size=(2, 2)), rng.normal(size=(8, 2)),
      rng.normal(size=8), rng.normal(size=(2, 2))], {}, ()),
    ("lstm_seq unbatched", "lstm_seq",
     [rng.normal(size=(2, 4)), rng.normal(size=(1,)), rng.normal(size=(4, 1)),
      rng.normal(size=4), rng.normal(size=(1,))], {}, ()),
    ("attention", "attention", [rng.normal(size=(2, 3, 4)) for _ in range(3)], {}, ()),
    ("attention causal, scaled", "attention",
     [rng.normal(size=(3, 2)), rng.normal(size=(4, 2)), rng.normal(size=(4, 3))],
     {"is_causal": True, "scale": 0.7}, ()),
    ("attention_qkv two heads, causal", "attention_qkv", [rng.normal(size=(2, 3, 12))],
     {"heads": 2, "is_causal": True}, ()),
    ("linear_gelu 3-d input", "linear_gelu",
     [rng.normal(size=(2, 4, 3)), rng.normal(size=(5, 3)), rng.normal(size=5)], {}, ()),
    ("token_position_embedding", "token_position_embedding",
     [rng.normal(size=(4, 3)), rng.normal(size=(5, 3)), np.array([[0, 3, 3], [1, 0, 2]])], {},
     (2,)),
]


@pytest.mark.parametrize("name,arrays,params,constants", [c[1:] for c in GRAD_CASES],
                         ids=[c[0] for c in GRAD_CASES])
def test_fused_op_grad_matches_central_differences(name, arrays, params, constants):
    check_against_nudge(name, arrays, params, constants)


TESTED_OPS = ["lstm_input_step", "lstm_layer"]  # several outputs: the cases below

MULTI_CASES = [
    ("lstm_input_step", "lstm_input_step",
     [rng.normal(size=(2, 3)), rng.normal(size=(2, 2)), rng.normal(size=(8, 3)),
      rng.normal(size=8), rng.normal(size=(8, 2)), rng.normal(size=8), rng.normal(size=(2, 2))],
     {}),
    ("lstm_layer three steps", "lstm_layer",
     [rng.normal(size=(3, 2, 3)), rng.normal(size=(2, 2)), rng.normal(size=(8, 3)),
      rng.normal(size=8), rng.normal(size=(8, 2)), rng.normal(size=8), rng.normal(size=(2, 2))],
     {}),
    ("lstm_layer batch_first", "lstm_layer",
     [rng.normal(size=(2, 3, 3)), rng.normal(size=(2, 2)), rng.normal(size=(8, 3)),
      rng.normal(size=8), rng.normal(size=(8, 2)), rng.normal(size=8), rng.normal(size=(2, 2))],
     {"batch_first": True}),
    ("lstm_layer unbatched", "lstm_layer",
     [rng.normal(size=(2, 3)), rng.normal(size=(1,)), rng.normal(size=(4, 3)),
      rng.normal(size=4), rng.normal(size=(4, 1)), rng.normal(size=4), rng.normal(size=(1,))],
     {}),
]


@pytest.mark.parametrize("name,arrays,params", [c[1:] for c in MULTI_CASES],
                         ids=[c[0] for c in MULTI_CASES])
def test_multi_output_fused_op_grads_match_central_differences(name, arrays, params):
    # the loss weighs every output: sum over outputs of sum(output * its weights)
    forward = getattr(gl.ops, name)
    shapes = [np.shape(o.data) for o in forward(*[gl.tensor(a) for a in arrays], **params)]
    weights = [np.random.default_rng(k).normal(size=s) for k, s in enumerate(shapes)]

    def loss_of(*values):
        outs = forward(*[gl.tensor(v) for v in values], **params)
        return float(sum(np.sum(o.data * w) for o, w in zip(outs, weights, strict=True)))

    tensors = [gl.tensor(a, requires_grad=True) for a in arrays]
    outs = forward(*tensors, **params)
    sum(gl.sum(o * w) for o, w in zip(outs, weights, strict=True)).backward()
    for i, (t, want) in enumerate(zip(tensors, nudge_grads(loss_of, arrays), strict=True)):
        np.testing.assert_allclose(t.grad, want, rtol=1e-6, atol=1e-7, err_msg=f"input {i}")


def test_layer_norm_and_batch_norm_forwards_are_the_definitions():
    x = rng.normal(size=(4, 3, 2))
    w, b = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    mean, var = x.mean(axis=(1, 2), keepdims=True), x.var(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(gl.layer_norm(gl.tensor(x), w, b).data,
                               (x - mean) / np.sqrt(var + 1e-5) * w + b, rtol=1e-12)
    w, b = rng.normal(size=3), rng.normal(size=3)
    mean, var = x.mean(axis=(0, 2), keepdims=True), x.var(axis=(0, 2), keepdims=True)
    np.testing.assert_allclose(gl.batch_norm(gl.tensor(x), w, b).data,
                               (x - mean) / np.sqrt(var + 1e-5) * w[:, None] + b[:, None],
                               rtol=1e-12)


def test_fused_ops_differentiate_twice():
    x = gl.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    w = gl.tensor(rng.normal(size=4), requires_grad=True)
    assert gl.verify.gradcheck(lambda x, w: gl.sum(gl.layer_norm(x, w, w) ** 2), x.data, w.data)
    (grad,) = gl.grad(gl.sum(gl.gelu_tanh(x) * x), x, create_graph=True)
    (second,) = gl.grad(gl.sum(grad), x)
    h = 1e-3
    numeric = (np.sum(_gelu_grad_sum(x.data + h)) - np.sum(_gelu_grad_sum(x.data - h))) / (2 * h)
    assert float(np.sum(np.asarray(second))) == pytest.approx(numeric, rel=1e-5)


def _gelu_grad_sum(x):
    """d/dx of gelu_tanh(x) * x, elementwise, by central differences of the forward."""
    def f(v):
        return 0.5 * v * (1 + np.tanh(np.sqrt(2 / np.pi) * (v + 0.044715 * v ** 3))) * v

    h = 1e-5
    return (f(x + h) - f(x - h)) / (2 * h)


def test_lstm_cell_is_the_gate_equations_side_by_side():
    gates, bias, c = rng.normal(size=(3, 8)), rng.normal(size=8), rng.normal(size=(3, 2))
    h_next, c_next = gl.split(gl.lstm_cell(gl.tensor(gates), bias, c), 2, axis=-1)
    z = gates + bias
    i, f, g, o = 1 / (1 + np.exp(-z[:, :2])), 1 / (1 + np.exp(-z[:, 2:4])), np.tanh(
        z[:, 4:6]), 1 / (1 + np.exp(-z[:, 6:]))
    np.testing.assert_allclose(c_next.data, f * c + i * g, rtol=1e-12)
    np.testing.assert_allclose(h_next.data, o * np.tanh(f * c + i * g), rtol=1e-12)
    ct = gl.tensor(c, requires_grad=True)
    gl.sum(gl.lstm_cell(gl.tensor(gates), bias, ct)[:, 2:]).backward()  # c' only
    np.testing.assert_allclose(ct.grad, f, rtol=1e-12)
    with pytest.raises(gl.OpCallError, match=r"got gates \(3, 8\), bias \(8,\), c \(3, 3\)"):
        gl.lstm_cell(gl.tensor(gates), bias, np.zeros((3, 3)))


def test_fused_ops_refuse_mismatched_parameters_naming_the_shapes():
    x = gl.ones(2, 3)
    with pytest.raises(gl.OpCallError, match=r"weight and bias must have shape \(C,\) = \(3,\)"):
        gl.batch_norm(x, np.ones(2), np.zeros(2))
    with pytest.raises(gl.OpCallError, match="layer_norm: weight and bias must have the shape"):
        gl.layer_norm(x, np.ones(2), np.zeros(2))


def test_linear_bias_is_the_product_plus_the_bias_and_books_its_three_grads():
    x, w, b = rng.normal(size=(2, 3, 4)), rng.normal(size=(5, 4)), rng.normal(size=5)
    xt, wt, bt = (gl.tensor(a, requires_grad=True) for a in (x, w, b))
    out = gl.linear_bias(xt, wt, bt)
    np.testing.assert_allclose(out.data, np.einsum("nti,oi->nto", x, w) + b, rtol=1e-12)
    g = rng.normal(size=(2, 3, 5))
    gl.sum(out * g).backward()
    np.testing.assert_allclose(xt.grad, np.einsum("nto,oi->nti", g, w), rtol=1e-12)
    np.testing.assert_allclose(wt.grad, np.einsum("nto,nti->oi", g, x), rtol=1e-12)
    np.testing.assert_allclose(bt.grad, g.sum(axis=(0, 1)), rtol=1e-12)
    assert out.dtype == np.float64 and np.shares_memory(x, out.data) is False


def test_linear_bias_keeps_float32_and_refuses_a_bias_of_the_wrong_shape():
    x = gl.tensor(rng.normal(size=(3, 4)).astype(np.float32))
    w = rng.normal(size=(2, 4)).astype(np.float32)
    out = gl.linear_bias(x, w, np.ones(2, dtype=np.float32))
    assert out.dtype == np.float32
    with pytest.raises(gl.OpCallError, match=r"'o' is 2 in input 2 but 3 in input 3"):
        gl.linear_bias(x, w, np.ones(3))
    with pytest.raises(gl.OpCallError, match=r"'k' is 4 in input 1 but 3 in input 2"):
        gl.linear_bias(x, np.ones((2, 3)), np.ones(2))


def test_linear_with_a_bias_records_one_op_and_differentiates_twice():
    layer = gl.nn.Linear(3, 2, rng=0)
    x = gl.tensor(rng.normal(size=(4, 3)), requires_grad=True)
    out = layer(x)
    assert out.op == "linear_bias"
    assert gl.verify.gradcheck(lambda x, w, b: gl.sum(gl.linear_bias(x, w, b) ** 3), x.data,
                               layer.weight.data, layer.bias.data)


def _sigmoid(z):
    return 1 / (1 + np.exp(-z))


def test_lstm_seq_is_the_gate_equations_step_after_step_in_numpy():
    length, hidden = 4, 3
    x_proj, w = rng.normal(size=(length, 2, 4 * hidden)), rng.normal(size=(4 * hidden, hidden))
    b = rng.normal(size=4 * hidden)
    h, c = rng.normal(size=(2, hidden)), rng.normal(size=(2, hidden))
    out = gl.lstm_seq(gl.tensor(x_proj), h, w, b, c).data
    for t in range(length):
        z = x_proj[t] + h @ w.T + b
        i, f, g, o = (_sigmoid(z[:, :3]), _sigmoid(z[:, 3:6]), np.tanh(z[:, 6:9]),
                      _sigmoid(z[:, 9:]))
        c = f * c + i * g
        h = o * np.tanh(c)
        np.testing.assert_allclose(out[t], np.concatenate([h, c], axis=-1), rtol=1e-12)


def test_lstm_seq_rule_is_lstm_steps_rules_chained_and_differentiates_twice():
    arrays = [rng.normal(size=(3, 2, 8)), rng.normal(size=(2, 2)), rng.normal(size=(8, 2)),
              rng.normal(size=8), rng.normal(size=(2, 2))]
    probe = rng.normal(size=(3, 2, 4))

    def grads(fused, create_graph):
        ts = [gl.tensor(a, requires_grad=True) for a in arrays]
        if fused:
            out = gl.lstm_seq(*ts)
        else:
            h, c, steps = ts[1], ts[4], []
            for t in range(3):
                step = gl.lstm_step(ts[0][t], h, ts[2], ts[3], c)
                h, c = step[..., :2], step[..., 2:]
                steps.append(step)
            out = gl.stack(steps)
        first = gl.grad(gl.sum(out * probe), ts, create_graph=create_graph)
        if not create_graph:
            return [np.asarray(g) for g in first]
        return [np.asarray(g) for g in gl.grad(gl.sum(first[2] * first[2]), ts)]

    for create_graph in (False, True):
        for ours, chained in zip(grads(True, create_graph), grads(False, create_graph),
                                 strict=True):
            np.testing.assert_allclose(ours, chained, rtol=1e-10, atol=1e-12)


def test_lstm_seq_refuses_a_state_of_the_wrong_shape_naming_every_shape():
    with pytest.raises(gl.OpCallError, match=r"got x_proj \(3, 2, 8\), h0 \(1, 2\)"):
        gl.lstm_seq(gl.tensor(np.zeros((3, 2, 8))), np.zeros((1, 2)), np.zeros((8, 2)),
                    np.zeros(8), np.zeros((2, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norm_row_path_is_the_definition_and_its_rule_the_closed_form(dtype):
    x = (rng.normal(size=(3, 4, 6)) * 2 + 5).astype(dtype)
    w, b = rng.normal(size=6).astype(dtype), rng.normal(size=6).astype(dtype)
    g = rng.normal(size=(3, 4, 6)).astype(dtype)
    xt, wt, bt = (gl.tensor(a, requires_grad=True) for a in (x, w, b))
    out = gl.layer_norm(xt, wt, bt)
    out.backward(g)
    x64, w64, g64 = x.astype(np.float64), w.astype(np.float64), g.astype(np.float64)
    mean = x64.mean(axis=-1, keepdims=True)
    invstd = 1 / np.sqrt(((x64 - mean) ** 2).mean(axis=-1, keepdims=True) + 1e-5)
    xhat = (x64 - mean) * invstd
    scaled = g64 * w64
    rtol = 1e-12 if dtype == np.float64 else 2e-5
    assert out.dtype == dtype and xt.grad.dtype == dtype
    np.testing.assert_allclose(out.data, xhat * w64 + b, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(  # the closed form, by hand
        xt.grad, invstd * (scaled - scaled.mean(-1, keepdims=True)
                           - xhat * (scaled * xhat).mean(-1, keepdims=True)),
        rtol=rtol * 10, atol=rtol * 10)
    np.testing.assert_allclose(wt.grad, (g64 * xhat).sum(axis=(0, 1)), rtol=rtol * 10,
                               atol=rtol * 10)
    np.testing.assert_allclose(bt.grad, g64.sum(axis=(0, 1)), rtol=rtol * 10, atol=rtol * 10)


def test_gelu_tanh_keeps_its_relative_precision_in_the_far_negative_tail_in_float32():
    # 1 + tanh(a) and 1 - tanh(a)^2 cancel to nothing there: float32's grad at -5.33 came
    # out 7x float64's (a thorough run's vs float64 failure of linear_gelu); x / (1 + exp(-2a))
    # and its slope are the same functions without the cancellation
    x = np.array([-9.0, -5.332, -4.0, -3.5], dtype=np.float64)
    c, k = np.sqrt(2 / np.pi), 0.044715
    a = c * (x + k * x ** 3)
    s = 1 / (1 + np.exp(-2 * a))  # sigmoid(2a) = (1 + tanh(a)) / 2, exact in this tail
    value = x * s
    slope = s + 2 * x * s * (1 - s) * c * (1 + 3 * k * x ** 2)
    t = gl.tensor(x.astype(np.float32), requires_grad=True)
    y = gl.gelu_tanh(t)
    y.sum().backward()
    np.testing.assert_allclose(y.numpy(), value, rtol=2e-5)
    np.testing.assert_allclose(t.grad, slope, rtol=2e-5)
    w = gl.tensor(np.full((4, 1), -2.4375, dtype=np.float32), requires_grad=True)
    xs = gl.tensor(np.array([2.1875], dtype=np.float32), requires_grad=True)
    b = gl.tensor(np.zeros(4, dtype=np.float32), requires_grad=True)
    gl.linear_gelu(xs, w, b).sum().backward()
    z = 2.1875 * -2.4375
    az = c * (z + k * z ** 3)
    sz = 1 / (1 + np.exp(-2 * az))
    expected = 4 * -2.4375 * (sz + 2 * z * sz * (1 - sz) * c * (1 + 3 * k * z ** 2))
    np.testing.assert_allclose(xs.grad, [expected], rtol=2e-5)
