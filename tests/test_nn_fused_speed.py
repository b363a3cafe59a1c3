"""The fused paths of issue 22's speed work keep the contract: the attention op against
the composite it replaces and a closed form, gelu_tanh's and batch_norm's saved values
against the recomputing rules, conv2d's batched layout against a loop over pixels."""

import gradledger as gl
import numpy as np
import pytest

F = gl.nn.functional
rng = np.random.default_rng(22)


def _softmax(z):
    e = np.exp(z - z.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _attention_by_hand(q, k, v, causal, scale):
    """Forward and the three grads of sum(out * u), written out with numpy."""
    s = q @ np.swapaxes(k, -1, -2) * scale
    if causal:
        s = np.where(np.triu(np.ones(s.shape[-2:], dtype=bool), k=1), -np.inf, s)
    p = _softmax(s)
    return p @ v, p


@pytest.mark.parametrize("causal", [False, True])
def test_attention_op_matches_the_formula_and_its_grads_by_hand(causal):
    q, k, v = (rng.normal(size=(2, 3, 5, 4)) for _ in range(3))
    u = rng.normal(size=(2, 3, 5, 4))
    scale = 0.5
    out, p = _attention_by_hand(q, k, v, causal, scale)
    tq, tk, tv = (gl.tensor(a, requires_grad=True) for a in (q, k, v))
    got = gl.attention(tq, tk, tv, is_causal=causal, scale=scale)
    np.testing.assert_allclose(got.data, out, rtol=1e-13, atol=1e-13)
    gl.sum(got * u).backward()
    d_p = u @ np.swapaxes(v, -1, -2)
    d_s = p * (d_p - np.sum(d_p * p, axis=-1, keepdims=True)) * scale
    np.testing.assert_allclose(tv.grad, np.swapaxes(p, -1, -2) @ u, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tq.grad, d_s @ k, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(tk.grad, np.swapaxes(d_s, -1, -2) @ q, rtol=1e-12, atol=1e-12)


def test_sdpa_is_one_op_without_a_mask_and_agrees_with_the_composite_it_replaces():
    q, k, v = (rng.normal(size=(2, 4, 6, 8)) for _ in range(3))
    fused = [gl.tensor(a, requires_grad=True) for a in (q, k, v)]
    composite = [gl.tensor(a, requires_grad=True) for a in (q, k, v)]
    a = F.scaled_dot_product_attention(*fused, is_causal=True)
    assert a._node.op.name == "attention"
    causal = np.tril(np.ones((6, 6), dtype=bool))  # a boolean mask takes the composite path
    b = F.scaled_dot_product_attention(*composite, attn_mask=causal)
    assert b._node.op.name == "matmul"
    np.testing.assert_allclose(a.data, b.data, rtol=1e-12, atol=1e-13)
    u = rng.normal(size=a.shape)
    gl.sum(a * u).backward()
    gl.sum(b * u).backward()
    for x, y in zip(fused, composite, strict=True):
        np.testing.assert_allclose(x.grad, y.grad, rtol=1e-10, atol=1e-12)


def test_attention_keeps_float32_and_differentiates_twice():
    q, k, v = (rng.normal(size=(3, 4)).astype(np.float32) for _ in range(3))
    assert gl.attention(gl.tensor(q), k, v, is_causal=True).dtype == np.float32
    x = gl.tensor(rng.normal(size=(3, 4)), requires_grad=True)
    kv = rng.normal(size=(3, 4))

    def f(xs):
        return np.sum(_attention_by_hand(xs, kv, kv, True, 0.5)[0] ** 2)

    out = gl.attention(x, kv, kv, is_causal=True, scale=0.5)
    (grad,) = gl.grad(gl.sum(out * out), x, create_graph=True)
    direction = rng.normal(size=x.shape)
    (hvp,) = gl.grad(gl.sum(grad * direction), x)
    h = 1e-5
    plus, minus = x.data + h * direction, x.data - h * direction

    def numeric_grad(z):
        g = np.zeros_like(z)
        for i in np.ndindex(z.shape):
            e = np.zeros_like(z)
            e[i] = 1e-6
            g[i] = (f(z + e) - f(z - e)) / 2e-6
        return g

    np.testing.assert_allclose(hvp, (numeric_grad(plus) - numeric_grad(minus)) / (2 * h),
                               rtol=1e-3, atol=1e-4)


def test_gelu_tanh_rule_from_its_saved_tanh_equals_the_closed_form():
    x = rng.normal(size=(50,)) * 3
    t = gl.tensor(x, requires_grad=True)
    gl.sum(gl.gelu_tanh(t)).backward()
    c, a = np.sqrt(2 / np.pi), 0.044715
    th = np.tanh(c * (x + a * x**3))
    closed = 0.5 * (1 + th) + 0.5 * x * (1 - th**2) * c * (1 + 3 * a * x**2)
    np.testing.assert_allclose(t.grad, closed, rtol=1e-13, atol=1e-15)


def test_batch_norm_grads_from_saved_values_equal_the_closed_form():
    x = rng.normal(size=(6, 3, 2, 2)) * 2 + 1
    w, b = rng.normal(size=3), rng.normal(size=3)
    u = rng.normal(size=x.shape)
    tx, tw, tb = (gl.tensor(a, requires_grad=True) for a in (x, w, b))
    out = gl.batch_norm(tx, tw, tb, eps=1e-5)
    mean = x.mean(axis=(0, 2, 3), keepdims=True)
    invstd = 1 / np.sqrt(x.var(axis=(0, 2, 3), keepdims=True) + 1e-5)
    xhat = (x - mean) * invstd
    np.testing.assert_allclose(out.data, xhat * w[:, None, None] + b[:, None, None],
                               rtol=1e-12, atol=1e-12)
    gl.sum(out * u).backward()
    np.testing.assert_allclose(tb.grad, u.sum(axis=(0, 2, 3)), rtol=1e-12)
    np.testing.assert_allclose(tw.grad, (u * xhat).sum(axis=(0, 2, 3)), rtol=1e-12)
    g = u * w[:, None, None]
    by_hand = invstd * (g - g.mean(axis=(0, 2, 3), keepdims=True)
                        - xhat * (g * xhat).mean(axis=(0, 2, 3), keepdims=True))
    np.testing.assert_allclose(tx.grad, by_hand, rtol=1e-10, atol=1e-12)


def _conv_by_pixels(x, w, stride, padding):
    n, c, h, wd = x.shape
    o, _, kh, kw = w.shape
    xp = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
    p, q = (h + 2 * padding - kh) // stride + 1, (wd + 2 * padding - kw) // stride + 1
    out = np.zeros((n, o, p, q))
    for i in range(p):
        for j in range(q):
            patch = xp[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3]))
    return out


@pytest.mark.parametrize(("stride", "padding"), [(1, 1), (2, 0), (2, 1)])
def test_conv2d_output_is_contiguous_nchw_and_its_grads_match_a_loop_over_pixels(stride,
                                                                                padding):
    x, w = rng.normal(size=(3, 2, 6, 5)), rng.normal(size=(4, 2, 3, 3))
    tx, tw = gl.tensor(x, requires_grad=True), gl.tensor(w, requires_grad=True)
    out = gl.conv2d(tx, tw, stride=stride, padding=padding)
    assert out.data.flags.c_contiguous
    np.testing.assert_allclose(out.data, _conv_by_pixels(x, w, stride, padding), rtol=1e-12,
                               atol=1e-12)
    u = rng.normal(size=out.shape)
    gl.sum(out * u).backward()
    h = 1e-6
    for t, a in ((tx, x), (tw, w)):
        numeric = np.zeros_like(a)
        for i in np.ndindex(a.shape):
            e = np.zeros_like(a)
            e[i] = h
            plus = _conv_by_pixels(x + e, w, stride, padding) if t is tx else _conv_by_pixels(
                x, w + e, stride, padding)
            minus = _conv_by_pixels(x - e, w, stride, padding) if t is tx else _conv_by_pixels(
                x, w - e, stride, padding)
            numeric[i] = np.sum((plus - minus) * u) / (2 * h)
        np.testing.assert_allclose(t.grad, numeric, rtol=1e-6, atol=1e-8)


def test_lstm_step_is_linear_add_and_lstm_cell_in_one_op():
    x_proj, h = rng.normal(size=(1, 3, 8)), rng.normal(size=(1, 3, 2))
    w, b, c = rng.normal(size=(8, 2)), rng.normal(size=8), rng.normal(size=(1, 3, 2))
    u = rng.normal(size=(1, 3, 4))
    fused = [gl.tensor(a, requires_grad=True) for a in (x_proj, h, w, b, c)]
    parts = [gl.tensor(a, requires_grad=True) for a in (x_proj, h, w, b, c)]
    one = gl.lstm_step(*fused)
    xp, hh, ww, bb, cc = parts
    three = gl.lstm_cell(xp + gl.linear(hh, ww), bb, cc)
    np.testing.assert_allclose(one.data, three.data, rtol=1e-14, atol=1e-14)
    gl.sum(one * u).backward()
    gl.sum(three * u).backward()
    for a, b_ in zip(fused, parts, strict=True):
        np.testing.assert_allclose(a.grad, b_.grad, rtol=1e-12, atol=1e-14)


def _lstm_seq_by_hand(x_proj, h, w, b, c, u):
    """lstm_seq's output and the grads of sum(out * u) for x_proj, h0, w, b and c0, by the
    gate equations in numpy (PyTorch's order i, f, g, o) and back-propagation through
    time written out step by step."""
    sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    hidden, states, steps = h.shape[-1], [(h, c)], []
    for t in range(len(x_proj)):
        z = x_proj[t] + h @ w.T + b
        i, f, g, o = (sig(z[..., :hidden]), sig(z[..., hidden:2 * hidden]),
                      np.tanh(z[..., 2 * hidden:3 * hidden]), sig(z[..., 3 * hidden:]))
        c = f * c + i * g
        h = o * np.tanh(c)
        states.append((h, c))
        steps.append((i, f, g, o))
    out = np.stack([np.concatenate(s, axis=-1) for s in states[1:]])
    gx, gw, gb = np.zeros_like(x_proj), np.zeros_like(w), np.zeros_like(b)
    dh, dc = np.zeros_like(h), np.zeros_like(c)
    for t in range(len(x_proj) - 1, -1, -1):
        (h_prev, c_prev), (_, c_t) = states[t], states[t + 1]
        i, f, g, o = steps[t]
        dh = dh + u[t][..., :hidden]
        tc = np.tanh(c_t)
        dc = dc + u[t][..., hidden:] + dh * o * (1 - tc * tc)
        d = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                            dc * i * (1 - g * g), dh * tc * o * (1 - o)], axis=-1)
        gx[t] = d
        gw += d.reshape(-1, 4 * hidden).T @ h_prev.reshape(-1, hidden)
        gb += d.reshape(-1, 4 * hidden).sum(axis=0)
        dh, dc = d @ w, dc * f
    return out, (gx, dh, gw, gb, dc)


@pytest.mark.parametrize("lead,hidden", [((16,), 3), ((2, 8), 3), ((5,), 3), ((), 3),
                                         ((70,), 128), ((2, 40), 128)])
def test_lstm_seq_gate_major_arrays_path_is_the_gate_equations_and_bptt_by_hand(lead, hidden):
    # hidden 3: small products, one per gate, d_t weight_hh whole; hidden 128: 70 rows make
    # products past OpenBLAS's small-matrix path (one for every gate, d_t weight_hh whole),
    # 80 rows take d_t weight_hh in eight parts of 10 rows
    length = 3 if hidden > 3 else 5
    x_proj = rng.normal(size=(length, *lead, 4 * hidden))
    h, c = rng.normal(size=(*lead, hidden)), rng.normal(size=(*lead, hidden))
    w, b = rng.normal(size=(4 * hidden, hidden)), rng.normal(size=4 * hidden)
    u = rng.normal(size=(length, *lead, 2 * hidden))
    want, grads = _lstm_seq_by_hand(x_proj, h, w, b, c, u)
    ts = [gl.tensor(a, requires_grad=True) for a in (x_proj, h, w, b, c)]
    out = gl.lstm_seq(*ts)
    np.testing.assert_allclose(out.data, want, rtol=1e-12, atol=1e-14)
    gl.sum(out * u).backward()
    for t, g in zip(ts, grads, strict=True):
        np.testing.assert_allclose(t.grad, g, rtol=1e-10, atol=1e-12)


def test_lstm_seq_float32_stays_float32_near_its_float64_values():
    length, hidden = 6, 8
    arrays = [rng.normal(size=s) * 0.5 for s in ((length, 16, 4 * hidden), (16, hidden),
                                                   (4 * hidden, hidden), (4 * hidden,),
                                                   (16, hidden))]
    u = rng.normal(size=(length, 16, 2 * hidden))
    results = {}
    for dtype in (np.float32, np.float64):
        ts = [gl.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
        out = gl.lstm_seq(*ts)
        gl.sum(out * u.astype(dtype)).backward()
        assert out.dtype == dtype and all(t.grad.dtype == dtype for t in ts)
        results[dtype] = [out.data] + [t.grad for t in ts]
    for single, double in zip(results[np.float32], results[np.float64], strict=True):
        np.testing.assert_allclose(single, double, rtol=2e-5, atol=2e-5)


@pytest.mark.parametrize("source", [12, 40])
def test_attention_row_max_by_columns_and_by_numpy_give_the_formula(source):
    # 12 keys: the max taken column by column; 40: numpy's reduction
    q = rng.normal(size=(2, 3, source, 4)) * 3
    k, v = rng.normal(size=(2, 3, source, 4)) * 3, rng.normal(size=(2, 3, source, 5))
    for causal in (False, True):
        want, _ = _attention_by_hand(q, k, v, causal, 0.5)
        got = gl.attention(gl.tensor(q), k, v, is_causal=causal, scale=0.5)
        np.testing.assert_allclose(got.data, want, rtol=1e-12, atol=1e-14)


def _packed_by_hand(qkv, heads, causal, scale):
    """attention_qkv written out: q, k, v the thirds of the last axis, head h the columns
    h size to (h + 1) size of each, the heads' outputs side by side."""
    e = qkv.shape[-1] // 3
    size = e // heads
    outs = []
    for h in range(heads):
        q, k, v = (qkv[..., j * e + h * size:j * e + (h + 1) * size] for j in range(3))
        outs.append(_attention_by_hand(q, k, v, causal, scale)[0])
    return np.concatenate(outs, axis=-1)


@pytest.mark.parametrize("lead", [(2,), (), (2, 1)])
@pytest.mark.parametrize("causal", [False, True])
def test_attention_qkv_is_attention_per_head_and_its_grad_central_differences(lead, causal):
    heads, length, size = 2, 4, 3
    qkv = rng.normal(size=(*lead, length, 3 * heads * size))
    u = rng.normal(size=(*lead, length, heads * size))
    x = gl.tensor(qkv, requires_grad=True)
    out = gl.attention_qkv(x, heads=heads, is_causal=causal, scale=0.6)
    np.testing.assert_allclose(out.data, _packed_by_hand(qkv, heads, causal, 0.6),
                               rtol=1e-12, atol=1e-14)
    gl.sum(out * u).backward()
    numeric, h = np.zeros_like(qkv), 1e-6
    for i in np.ndindex(qkv.shape):
        e = np.zeros_like(qkv)
        e[i] = h
        numeric[i] = np.sum((_packed_by_hand(qkv + e, heads, causal, 0.6)
                             - _packed_by_hand(qkv - e, heads, causal, 0.6)) * u) / (2 * h)
    np.testing.assert_allclose(x.grad, numeric, rtol=1e-6, atol=1e-8)


def test_attention_qkv_equals_the_ops_it_replaces_to_second_order_and_float32_is_near():
    b, t, heads, size = 2, 5, 2, 3
    e = heads * size
    qkv, u = rng.normal(size=(b, t, 3 * e)), rng.normal(size=(b, t, e))

    def composite(x):
        q, k, v = gl.split(x, 3, axis=-1)
        q, k, v = (gl.transpose(z.reshape(b, t, heads, size), (0, 2, 1, 3)) for z in (q, k, v))
        out = gl.attention(q, k, v, is_causal=True)
        return gl.transpose(out, (0, 2, 1, 3)).reshape(b, t, e)

    results = []
    for f in (lambda x: gl.attention_qkv(x, heads=heads, is_causal=True), composite):
        x = gl.tensor(qkv, requires_grad=True)
        (first,) = gl.grad(gl.sum(f(x) * u), x, create_graph=True)
        (second,) = gl.grad(gl.sum(first * first), x)
        results.append((f(x).data, first.data, np.asarray(second)))
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)
    x32 = gl.tensor(qkv.astype(np.float32), requires_grad=True)
    single = gl.attention_qkv(x32, heads=heads, is_causal=True)
    gl.sum(single * u.astype(np.float32)).backward()
    assert single.dtype == x32.grad.dtype == np.float32
    np.testing.assert_allclose(single.data, results[0][0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x32.grad, results[0][1], rtol=1e-4, atol=1e-5)


def test_attention_qkv_refuses_heads_that_do_not_divide_e_naming_both():
    with pytest.raises(gl.OpCallError, match=r"got qkv \(2, 4, 12\), heads 3"):
        gl.attention_qkv(gl.tensor(np.zeros((2, 4, 12))), heads=3)


def test_lstm_seq_refuses_an_empty_sequence_naming_its_shape():
    with pytest.raises(gl.OpCallError, match=r"at least one time step.*got x_proj \(0, 2, 8\)"):
        gl.lstm_seq(gl.tensor(np.zeros((0, 2, 8))), np.zeros((2, 2)), np.zeros((8, 2)),
                    np.zeros(8), np.zeros((2, 2)))


def test_token_position_embedding_is_rows_plus_positions_and_books_each_row():
    tokens, positions = rng.normal(size=(5, 3)), rng.normal(size=(6, 3))
    ids = np.array([[0, 4, 4, 1], [2, 0, 4, 3]])
    u = rng.normal(size=(2, 4, 3))
    t, p = gl.tensor(tokens, requires_grad=True), gl.tensor(positions, requires_grad=True)
    out = gl.token_position_embedding(t, p, ids)
    np.testing.assert_array_equal(out.data, tokens[ids] + positions[:4])
    gl.sum(out * u).backward()
    want_tokens = np.zeros_like(tokens)
    for (row, col), token in np.ndenumerate(ids):
        want_tokens[token] += u[row, col]
    want_positions = np.zeros_like(positions)
    want_positions[:4] = u.sum(axis=0)  # rows past L = 4 take no gradient
    np.testing.assert_allclose(t.grad, want_tokens, rtol=1e-14)
    np.testing.assert_allclose(p.grad, want_positions, rtol=1e-14)
    single = gl.token_position_embedding(gl.tensor(tokens.astype(np.float32)),
                                         positions.astype(np.float32), ids)
    assert single.dtype == np.float32


def test_token_position_embedding_refuses_more_ids_than_positions_naming_the_shapes():
    with pytest.raises(gl.OpCallError, match=r"L <= P; got tokens \(5, 3\), positions \(2, 3\), "
                                             r"ids \(1, 4\)"):
        gl.token_position_embedding(gl.tensor(np.zeros((5, 3))), np.zeros((2, 3)),
                                    np.zeros((1, 4), dtype=np.int64))


def test_token_position_embedding_differentiates_twice_as_the_ops_it_replaces():
    tokens, positions = rng.normal(size=(5, 3)), rng.normal(size=(6, 3))
    ids = np.array([[0, 4, 4, 1], [2, 0, 4, 3]])

    def second(fused):
        t, p = gl.tensor(tokens, requires_grad=True), gl.tensor(positions, requires_grad=True)
        out = (gl.token_position_embedding(t, p, ids) if fused
               else gl.embedding(t, ids) + gl.embedding(p, np.arange(4)))
        first = gl.grad(gl.sum(out ** 3), [t, p], create_graph=True)
        return [np.asarray(g) for g in gl.grad(sum(gl.sum(g * g) for g in first), [t, p])]

    for ours, theirs in zip(second(True), second(False), strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-14)


def test_linear_gelu_is_the_formula_and_differentiates_twice_as_linear_bias_then_gelu():
    x, w, b = rng.normal(size=(2, 5, 4)), rng.normal(size=(6, 4)), rng.normal(size=6)
    u = rng.normal(size=(2, 5, 6))
    pre = x @ w.T + b
    c, a = np.sqrt(2 / np.pi), 0.044715
    np.testing.assert_allclose(gl.linear_gelu(gl.tensor(x), w, b).data,
                               0.5 * pre * (1 + np.tanh(c * (pre + a * pre**3))),
                               rtol=1e-13, atol=1e-15)

    def grads(fused, create_graph):
        ts = [gl.tensor(v, requires_grad=True) for v in (x, w, b)]
        out = gl.linear_gelu(*ts) if fused else gl.gelu_tanh(gl.linear_bias(*ts))
        first = gl.grad(gl.sum(out * u), ts, create_graph=create_graph)
        if not create_graph:
            return [np.asarray(g) for g in first]
        return [np.asarray(g) for g in gl.grad(sum(gl.sum(g * g) for g in first), ts)]

    for create_graph in (False, True):
        for ours, theirs in zip(grads(True, create_graph), grads(False, create_graph),
                                strict=True):
            np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-13)
    x32 = gl.tensor(x.astype(np.float32), requires_grad=True)
    out32 = gl.linear_gelu(x32, w.astype(np.float32), b.astype(np.float32))
    gl.sum(out32).backward()
    assert out32.dtype == x32.grad.dtype == np.float32


def test_linear_gelu_refuses_a_bias_of_the_wrong_shape_naming_both():
    with pytest.raises(gl.OpCallError, match=r"'linear_gelu'.*\(6, 4\), \(5,\): core "
                                             r"dimension 'o' is 6 in input 2 but 5"):
        gl.linear_gelu(gl.tensor(np.zeros((2, 4))), np.zeros((6, 4)), np.zeros(5))
