"""The layers and losses a PyTorch user reaches for, against hand-written numpy and closed forms.

(tests/test_nn_pytorch.py compares the same layers with PyTorch itself, where installed.)
"""

import math

import gradledger as gl
import numpy as np
import pytest

F = gl.nn.functional
RNG = np.random.default_rng(0)


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


# -- BatchNorm -------------------------------------------------------------------------------


def test_batchnorm2d_training_normalises_each_channel_and_moves_the_running_statistics():
    bn = gl.nn.BatchNorm2d(3)
    bn.weight.data = np.array([1.0, 2.0, 0.5])
    bn.bias.data = np.array([0.0, -1.0, 3.0])
    x = RNG.standard_normal((4, 3, 2, 5)) * 2 + 1
    out = bn(gl.tensor(x))
    mean, var = x.mean(axis=(0, 2, 3)), x.var(axis=(0, 2, 3))
    expected = ((x - mean[:, None, None]) / np.sqrt(var[:, None, None] + 1e-5)
                * bn.weight.data[:, None, None] + bn.bias.data[:, None, None])
    np.testing.assert_allclose(out.data, expected, rtol=1e-12, atol=1e-12)
    n = 4 * 2 * 5
    np.testing.assert_allclose(bn.running_mean.data, 0.1 * mean, rtol=1e-12)
    np.testing.assert_allclose(bn.running_var.data, 0.9 + 0.1 * var * n / (n - 1), rtol=1e-12)
    assert bn.num_batches_tracked.data == 1


def test_batchnorm_eval_uses_the_running_statistics_and_they_are_buffers_in_the_state_dict():
    bn = gl.nn.BatchNorm1d(2)
    assert list(bn.state_dict()) == ["weight", "bias", "running_mean", "running_var",
                                     "num_batches_tracked"]
    assert bn.parameters() == [bn.weight, bn.bias]
    assert [name for name, _ in bn.named_buffers()] == ["running_mean", "running_var",
                                                        "num_batches_tracked"]
    bn.running_mean.data = np.array([1.0, -2.0])
    bn.running_var.data = np.array([4.0, 0.25])
    bn.eval()
    x = RNG.standard_normal((5, 2))
    np.testing.assert_allclose(bn(gl.tensor(x)).data,
                               (x - [1.0, -2.0]) / np.sqrt(np.array([4.0, 0.25]) + 1e-5))
    assert bn.num_batches_tracked.data == 0  # eval books nothing


def test_batchnorm_grads_match_the_closed_form_backward():
    x = RNG.standard_normal((6, 2, 3))
    g = RNG.standard_normal(x.shape)
    xt = gl.tensor(x, requires_grad=True)
    bn = gl.nn.BatchNorm1d(2)
    gl.sum(bn(xt) * g).backward()
    axes = (0, 2)
    mean = x.mean(axis=axes, keepdims=True)
    invstd = 1 / np.sqrt(x.var(axis=axes, keepdims=True) + 1e-5)
    xhat = (x - mean) * invstd
    dx = invstd * (g - g.mean(axis=axes, keepdims=True)
                   - xhat * (g * xhat).mean(axis=axes, keepdims=True))
    np.testing.assert_allclose(xt.grad, dx, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(bn.weight.grad, (g * xhat).sum(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(bn.bias.grad, g.sum(axis=axes), rtol=1e-12)


def test_float32_batchnorm_keeps_float32_accuracy_on_inputs_far_from_zero():
    """Statistics accumulated naively in float32 lose digits as the count grows; the fused
    op accumulates in float64, so the float32 result is within a few roundings of float64."""
    x = (RNG.standard_normal((64, 4, 16, 16)) * 0.5 + 100.0).astype(np.float32)
    g = RNG.standard_normal(x.shape).astype(np.float32)
    outs = {}
    for dtype in (np.float32, np.float64):
        xt = gl.tensor(x.astype(dtype), requires_grad=True)
        bn = gl.nn.BatchNorm2d(4, dtype=dtype)
        out = bn(xt)
        gl.sum(out * g.astype(dtype)).backward()
        outs[dtype] = (out.data, xt.grad, bn.weight.grad)
        assert out.dtype == dtype and xt.grad.dtype == dtype
    for single, double in zip(outs[np.float32], outs[np.float64], strict=True):
        scale = np.max(np.abs(double))
        assert np.max(np.abs(single - double)) <= 64 * np.finfo(np.float32).eps * scale


def test_batchnorm_momentum_none_is_the_cumulative_average_and_bad_shapes_are_refused():
    bn = gl.nn.BatchNorm1d(1, momentum=None)
    batches = [RNG.standard_normal((4, 1)) + k for k in range(3)]
    for b in batches:
        bn(gl.tensor(b))
    np.testing.assert_allclose(bn.running_mean.data, np.mean([b.mean() for b in batches]))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(1\): expected a 2-d or 3-d input with "
                                         r"1 channels on axis 1; got shape \(4, 2\)"):
        bn(gl.zeros(4, 2))


# -- recurrent layers ------------------------------------------------------------------------


def numpy_lstm_cell(x, h, c, cell):
    gates = (x @ cell.weight_ih.data.T + cell.bias_ih.data + h @ cell.weight_hh.data.T
             + cell.bias_hh.data)
    i, f, g, o = np.split(gates, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def test_lstm_cell_is_pytorchs_gate_order_i_f_g_o():
    cell = gl.nn.LSTMCell(3, 4, rng=0)
    assert cell.weight_ih.shape == (16, 3) and cell.weight_hh.shape == (16, 4)
    bound = 1 / math.sqrt(4)
    assert all(np.all(np.abs(w.data) <= bound) for w in cell.parameters())
    x, h, c = RNG.standard_normal((2, 3)), RNG.standard_normal((2, 4)), RNG.standard_normal((2, 4))
    h1, c1 = cell(gl.tensor(x), (h, c))
    eh, ec = numpy_lstm_cell(x, h, c, cell)
    np.testing.assert_allclose(h1.data, eh, rtol=1e-12)
    np.testing.assert_allclose(c1.data, ec, rtol=1e-12)


def test_gru_cell_is_pytorchs_r_z_n_with_the_reset_gate_inside_the_hidden_product():
    cell = gl.nn.GRUCell(3, 2, rng=1)
    x, h = RNG.standard_normal((5, 3)), RNG.standard_normal((5, 2))
    gi = x @ cell.weight_ih.data.T + cell.bias_ih.data
    gh = h @ cell.weight_hh.data.T + cell.bias_hh.data
    r = sigmoid(gi[:, :2] + gh[:, :2])
    z = sigmoid(gi[:, 2:4] + gh[:, 2:4])
    n = np.tanh(gi[:, 4:] + r * gh[:, 4:])
    np.testing.assert_allclose(cell(gl.tensor(x), h).data, (1 - z) * n + z * h, rtol=1e-12)


def test_lstm_over_a_sequence_is_its_cells_unrolled_layer_by_layer():
    lstm = gl.nn.LSTM(3, 4, num_layers=2, rng=2)
    x = RNG.standard_normal((5, 2, 3))  # (L, N, input)
    out, (h_n, c_n) = lstm(gl.tensor(x))
    assert out.shape == (5, 2, 4) and h_n.shape == c_n.shape == (2, 2, 4)
    seq = x
    for k in range(2):
        cell = gl.nn.LSTMCell(3 if k == 0 else 4, 4)
        cell.load_state_dict({name: getattr(lstm, f"{name}_l{k}").data
                              for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")})
        h = c = np.zeros((2, 4))
        steps = []
        for t in range(5):
            h, c = numpy_lstm_cell(seq[t], h, c, cell)
            steps.append(h)
        np.testing.assert_allclose(h_n.data[k], h, rtol=1e-12)
        np.testing.assert_allclose(c_n.data[k], c, rtol=1e-12)
        seq = np.stack(steps)
    np.testing.assert_allclose(out.data, seq, rtol=1e-12)


def test_batch_first_and_unbatched_inputs_give_the_same_numbers():
    gru = gl.nn.GRU(3, 2, rng=3)
    x = RNG.standard_normal((4, 2, 3))
    out, h = gru(gl.tensor(x))
    gru.batch_first = True
    out_bf, h_bf = gru(gl.tensor(x.transpose(1, 0, 2)))
    np.testing.assert_allclose(out_bf.data, out.data.transpose(1, 0, 2), rtol=1e-12)
    np.testing.assert_allclose(h_bf.data, h.data, rtol=1e-12)
    gru.batch_first = False
    single, h_single = gru(gl.tensor(x[:, 0]))
    assert single.shape == (4, 2) and h_single.shape == (1, 2)
    np.testing.assert_allclose(single.data, out.data[:, 0], rtol=1e-12)


def test_lstm_grads_reach_every_weight_and_bidirectional_says_how_instead():
    lstm = gl.nn.LSTM(2, 3, rng=4)
    out, _ = lstm(gl.tensor(RNG.standard_normal((3, 1, 2))))
    gl.sum(out).backward()
    assert all(w.grad is not None and np.any(w.grad != 0) for w in lstm.parameters())
    with pytest.raises(NotImplementedError, match="reversed sequence"):
        gl.nn.LSTM(2, 3, bidirectional=True)


def test_lstm_grads_match_the_nudge_method():
    lstm = gl.nn.LSTM(2, 2, rng=5)
    x = RNG.standard_normal((3, 1, 2))

    def loss(w_ih, w_hh):
        lstm.weight_ih_l0, lstm.weight_hh_l0 = w_ih, w_hh
        return gl.sum(lstm(gl.tensor(x))[0] ** 2)

    assert gl.verify.gradcheck(loss, lstm.weight_ih_l0.data.copy(),
                               lstm.weight_hh_l0.data.copy())


# -- activations, losses, masks, attention -----------------------------------------------------


def test_gelu_tanh_is_the_formula_and_keeps_float32():
    x = np.linspace(-6, 6, 25)
    # 0.5 x (1 + tanh(a)) = x / (1 + exp(-2a)): the same function, written without the
    # cancellation of 1 + tanh(a) in the negative tail (at x = -6, 1 + tanh(a) is 2e-16)
    a = math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)
    expected = x / (1 + np.exp(-2 * a))
    np.testing.assert_allclose(gl.nn.GELU("tanh")(gl.tensor(x)).data, expected, rtol=1e-12,
                               atol=1e-300)
    assert F.gelu(gl.tensor(x.astype(np.float32)), approximate="tanh").dtype == np.float32


@pytest.mark.skipif("erf" not in gl.ops, reason="no plugin registers an erf op here")
def test_exact_gelu_is_x_times_the_normal_cdf():
    x = np.linspace(-5, 5, 21)
    expected = [v * 0.5 * (1 + math.erf(v / math.sqrt(2))) for v in x]
    np.testing.assert_allclose(gl.nn.GELU()(gl.tensor(x)).data, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.skipif("erf" in gl.ops, reason="an erf op is registered: exact GELU works")
def test_exact_gelu_without_an_erf_op_says_to_use_the_tanh_form():
    with pytest.raises(NotImplementedError, match=r"approximate='tanh'"):
        gl.nn.GELU()(gl.ones(2))


def test_binary_cross_entropy_is_the_formula_clamped_at_minus_100():
    p = np.array([0.2, 0.9, 0.5, 0.0, 1.0])
    y = np.array([1.0, 0.0, 1.0, 1.0, 1.0])
    pt = gl.tensor(p, requires_grad=True)
    loss = F.binary_cross_entropy(pt, y, reduction="none")
    with np.errstate(divide="ignore"):
        expected = -(y * np.maximum(np.log(p), -100) + (1 - y) * np.maximum(np.log1p(-p), -100))
    np.testing.assert_allclose(loss.data, expected, rtol=1e-12)
    assert loss.data[3] == 100.0
    assert gl.nn.BCELoss()(gl.tensor(p[:3]), y[:3]).item() == pytest.approx(expected[:3].mean())


def test_bce_with_logits_is_softplus_minus_target_times_logit_and_never_overflows():
    z = np.array([-800.0, -3.0, 0.0, 2.5, 800.0])
    y = np.array([1.0, 0.0, 1.0, 0.3, 0.0])
    zt = gl.tensor(z, requires_grad=True)
    loss = F.binary_cross_entropy_with_logits(zt, y, reduction="sum")
    expected = np.logaddexp(0, z) - y * z
    assert loss.item() == pytest.approx(expected.sum(), rel=1e-12)
    loss.backward()
    np.testing.assert_allclose(zt.grad, sigmoid(np.clip(z, -700, 700)) - y, atol=1e-15)
    pw = np.array([2.0])
    weighted = gl.nn.BCEWithLogitsLoss(reduction="none", pos_weight=pw)(gl.tensor(z), y)
    np.testing.assert_allclose(weighted.data, (1 - y) * z + (1 + y) * np.logaddexp(0, -z),
                               rtol=1e-12)


def numpy_log_softmax(z):
    shifted = z - z.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def test_cross_entropy_ignore_index_averages_over_the_kept_rows_only():
    logits = RNG.standard_normal((5, 4))
    labels = np.array([0, -100, 3, 2, -100])
    lt = gl.tensor(logits, requires_grad=True)
    loss = F.cross_entropy(lt, labels)
    logp = numpy_log_softmax(logits)
    kept = [0, 2, 3]
    assert loss.item() == pytest.approx(-np.mean(logp[kept, labels[kept]]), rel=1e-12)
    loss.backward()
    np.testing.assert_array_equal(lt.grad[[1, 4]], 0.0)
    ignored_7 = F.cross_entropy(gl.tensor(logits), np.where(labels < 0, 7, labels),
                                ignore_index=7, reduction="sum")
    assert ignored_7.item() == pytest.approx(-np.sum(logp[kept, labels[kept]]), rel=1e-12)


def test_cross_entropy_label_smoothing_mixes_in_the_uniform_target():
    logits = RNG.standard_normal((3, 5))
    labels = np.array([4, 0, 2])
    logp = numpy_log_softmax(logits)
    target = np.full((3, 5), 0.1 / 5)
    target[np.arange(3), labels] += 0.9
    loss = gl.nn.CrossEntropyLoss(label_smoothing=0.1, reduction="none")(gl.tensor(logits),
                                                                         labels)
    np.testing.assert_allclose(loss.data, -(target * logp).sum(axis=-1), rtol=1e-12)


def test_masked_fill_fills_where_the_mask_holds_and_blocks_those_grads():
    x = gl.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    mask = np.array([True, False, True])
    out = x.masked_fill(mask, -1.5)
    np.testing.assert_array_equal(out.data, [[-1.5, 1.0, -1.5], [-1.5, 4.0, -1.5]])
    gl.sum(out * 3).backward()
    np.testing.assert_array_equal(x.grad, [[0, 3, 0], [0, 3, 0]])
    with pytest.raises(gl.OpCallError, match="mask must be boolean"):
        F.masked_fill(x, np.array([1, 0, 1]), 0.0)


def numpy_attention(q, k, v, blocked):
    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1])
    scores = np.where(blocked, -np.inf, scores)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return (weights / weights.sum(axis=-1, keepdims=True)) @ v


def test_scaled_dot_product_attention_is_softmax_of_scaled_scores_times_values():
    q, k, v = (RNG.standard_normal((2, 4, 3)) for _ in range(3))
    causal = np.triu(np.ones((4, 4), dtype=bool), k=1)
    out = F.scaled_dot_product_attention(gl.tensor(q), gl.tensor(k), gl.tensor(v),
                                         is_causal=True)
    np.testing.assert_allclose(out.data, numpy_attention(q, k, v, causal), rtol=1e-12)
    allowed = RNG.random((4, 4)) > 0.4
    np.fill_diagonal(allowed, True)
    out = F.scaled_dot_product_attention(gl.tensor(q), gl.tensor(k), gl.tensor(v),
                                         attn_mask=allowed)
    np.testing.assert_allclose(out.data, numpy_attention(q, k, v, ~allowed), rtol=1e-12)


def test_a_float_attention_mask_is_added_to_the_scaled_scores():
    q, k, v = (RNG.standard_normal((3, 2)) for _ in range(3))
    bias = RNG.standard_normal((3, 3))
    out = F.scaled_dot_product_attention(gl.tensor(q), k, v, attn_mask=bias)
    scores = q @ k.T / math.sqrt(2) + bias
    weights = np.exp(scores) / np.exp(scores).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(out.data, weights @ v, rtol=1e-12)


def test_causal_multihead_attention_never_looks_ahead():
    mha = gl.nn.MultiheadAttention(8, 2, batch_first=True, rng=0)
    assert mha.in_proj_weight.shape == (24, 8) and mha.out_proj.weight.shape == (8, 8)
    x = gl.tensor(RNG.standard_normal((1, 5, 8)), requires_grad=True)
    out, weights = mha(x, x, x, is_causal=True)
    assert out.shape == (1, 5, 8) and weights.shape == (1, 5, 5)
    np.testing.assert_array_equal(np.triu(weights.data[0], k=1), 0.0)
    gl.sum(out[0, 2]).backward()
    np.testing.assert_array_equal(x.grad[0, 3:], 0.0)  # position 2 read nothing after it
    assert np.all(np.abs(x.grad[0, :3]).sum(axis=-1) > 0)


def test_multihead_attention_is_one_attention_op_only_when_no_weights_are_asked_for():
    mha = gl.nn.MultiheadAttention(8, 2, batch_first=True, rng=0)
    x = RNG.standard_normal((2, 5, 8))  # a plain array: wrapped, as the other layers do
    causal = np.triu(np.ones((5, 5), dtype=bool), k=1)

    def recorded(**kwargs):
        out, weights = mha(x, x, x, **kwargs)
        text = str(gl.explain(gl.sum(out), show=False))
        return "attention(" in text, "softmax(" in text, weights is None

    assert recorded() == (False, True, False)  # need_weights=True, PyTorch's default
    assert recorded(need_weights=False) == (True, False, True)
    assert recorded(need_weights=False, is_causal=True) == (True, False, True)
    assert recorded(need_weights=False, attn_mask=causal) == (True, False, True)
    assert recorded(need_weights=False, attn_mask=np.eye(5, dtype=bool)) == (False, True, True)
    assert recorded(need_weights=False, key_padding_mask=np.zeros((2, 5), bool)) == (
        False, True, True)
    fused, _ = mha(x, x, x, need_weights=False, is_causal=True)
    composite, _ = mha(x, x, x, is_causal=True)
    np.testing.assert_allclose(fused.data, composite.data, rtol=1e-12, atol=1e-14)


def test_float32_multihead_attention_stays_float32_on_both_paths():
    mha = gl.nn.MultiheadAttention(8, 2, rng=0, dtype=np.float32)
    x = RNG.standard_normal((5, 2, 8)).astype(np.float32)
    with gl.mixed_dtypes("error"):  # a float64 scale would mix dtypes: an error here
        for need_weights in (True, False):
            out, _ = mha(x, x, x, need_weights=need_weights)
            assert out.dtype == np.float32


def test_embedding_padding_idx_starts_at_zero_and_takes_no_gradient():
    emb = gl.nn.Embedding(4, 3, padding_idx=-1, rng=0)
    assert emb.padding_idx == 3
    np.testing.assert_array_equal(emb.weight.data[3], 0.0)
    emb.weight.data = emb.weight.data + 1.0  # a loaded, non-zero padding row is still used
    out = emb(np.array([[3, 1], [1, 0]]))
    np.testing.assert_array_equal(out.data[0, 0], 1.0)
    gl.sum(out).backward()
    np.testing.assert_array_equal(emb.weight.grad, [[1] * 3, [2] * 3, [0] * 3, [0] * 3])


def test_conv2d_with_a_bias_by_position_says_the_gradledger_spelling():
    x, w, b = gl.randn(1, 1, 4, 4), gl.randn(2, 1, 3, 3), gl.randn(2)
    with pytest.raises(gl.OpCallError, match=r"gl.nn.functional.conv2d\(x, w, b\)"):
        gl.conv2d(x, w, b)
    np.testing.assert_allclose(F.conv2d(x, w, b).data,
                               (gl.conv2d(x, w) + b.reshape(1, -1, 1, 1)).data)


def test_functional_takes_axis_for_dim_but_not_both():
    x = gl.tensor(RNG.standard_normal((3, 4)))
    np.testing.assert_array_equal(F.softmax(x, axis=0).data, F.softmax(x, dim=0).data)
    np.testing.assert_allclose(F.log_softmax(x, axis=0).data.sum(), np.sum(
        numpy_log_softmax(x.data.T)))
    with pytest.raises(TypeError, match="give dim= or axis="):
        F.softmax(x, dim=0, axis=1)


def test_linear_refuses_a_transposed_weight_naming_both_shapes():
    with pytest.raises(gl.OpCallError, match=r"'k' is 3 in input 1 but 4 in input 2"):
        F.linear(gl.ones(2, 3), gl.ones(3, 4))


# -- nn.init and Module ----------------------------------------------------------------------


def test_init_functions_fill_in_place_with_pytorchs_scales():
    w = gl.zeros(300, 200, requires_grad=True)
    gl.nn.init.kaiming_uniform_(w, a=math.sqrt(5), generator=0)
    bound = 1 / math.sqrt(200)  # PyTorch's Linear default: U(-1/sqrt(fan_in), ...)
    assert np.abs(w.data).max() <= bound and np.abs(w.data).max() > 0.99 * bound
    gl.nn.init.kaiming_normal_(w, nonlinearity="relu", generator=1)
    assert np.std(w.data) == pytest.approx(math.sqrt(2 / 200), rel=0.02)
    gl.nn.init.xavier_normal_(w, generator=2)
    assert np.std(w.data) == pytest.approx(math.sqrt(2 / 500), rel=0.02)
    conv = gl.zeros(8, 4, 3, 3)
    gl.nn.init.xavier_uniform_(conv, gain=gl.nn.init.calculate_gain("tanh"))
    bound = 5 / 3 * math.sqrt(6 / (4 * 9 + 8 * 9))
    assert np.abs(conv.data).max() <= bound and np.abs(conv.data).max() > 0.99 * bound
    assert gl.nn.init.zeros_(w) is w and not w.data.any()
    np.testing.assert_array_equal(gl.nn.init.ones_(gl.zeros(2)).data, 1.0)
    np.testing.assert_array_equal(gl.nn.init.constant_(gl.zeros(2), 0.5).data, 0.5)
    u = gl.nn.init.uniform_(gl.zeros(1000), -2, -1)
    assert u.data.min() >= -2 and u.data.max() < -1
    with pytest.raises(ValueError, match="2 or more dimensions"):
        gl.nn.init.xavier_uniform_(gl.zeros(3))


def test_module_apply_visits_children_first_and_to_casts_every_float_tensor():
    net = gl.nn.Sequential(gl.nn.Linear(2, 3), gl.nn.BatchNorm1d(3))
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["BatchNorm1d", "Linear", "Sequential"]
    net.apply(lambda m: gl.nn.init.zeros_(m.weight) if isinstance(m, gl.nn.Linear) else None)
    assert not net[0].weight.data.any()
    assert net.to(np.float32) is net
    dtypes = {key: value.dtype for key, value in net.state_dict().items()}
    assert dtypes.pop("1.num_batches_tracked") == np.int64
    assert set(dtypes.values()) == {np.dtype(np.float32)}
    assert net.to("cpu") is net
    with pytest.raises(TypeError, match="float dtype"):
        net.to("cuda")


def test_register_buffer_holds_a_tensor_in_the_state_dict_but_not_in_parameters():
    class Scaled(gl.nn.Module):
        def __init__(self):
            self.register_buffer("scale", np.array([2.0, 3.0]))

        def forward(self, x):
            return x * self.scale

    module = Scaled()
    assert module.parameters() == [] and list(module.state_dict()) == ["scale"]
    assert module.buffers() == [module.scale]
    with pytest.raises(ValueError, match="a buffer takes no gradient"):
        module.register_buffer("w", gl.ones(2, requires_grad=True))
