"""lstm_input_step (gl.nn.LSTMCell's one op) and lstm_step's array path: the gate
equations and their grads by hand, the composite of ops they replace to second order,
strided and mixed-dtype inputs, and errors naming the op."""

import gradledger as gl
import numpy as np
import pytest

rng = np.random.default_rng(2207)
sig = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731


def _step_by_hand(x, h, w_ih, b_ih, w_hh, b_hh, c, u_h, u_c):
    """h', c' of one LSTM step (PyTorch's gate order i, f, g, o) and the grads of
    sum(h' u_h + c' u_c) for x, h, w_ih, b_ih, w_hh, b_hh and c, written out in numpy."""
    hidden = h.shape[-1]
    z = x @ w_ih.T + b_ih + h @ w_hh.T + b_hh
    i, f, o = sig(z[..., :hidden]), sig(z[..., hidden:2 * hidden]), sig(z[..., 3 * hidden:])
    g = np.tanh(z[..., 2 * hidden:3 * hidden])
    c_next = f * c + i * g
    t = np.tanh(c_next)
    h_next = o * t
    dc = u_c + u_h * o * (1 - t * t)
    d = np.concatenate([dc * g * i * (1 - i), dc * c * f * (1 - f), dc * i * (1 - g * g),
                        u_h * t * o * (1 - o)], axis=-1)
    rows = d.reshape(-1, 4 * hidden)
    grads = (d @ w_ih, d @ w_hh, rows.T @ x.reshape(-1, x.shape[-1]), rows.sum(axis=0),
             rows.T @ h.reshape(-1, hidden), rows.sum(axis=0), dc * f)
    return (h_next, c_next), grads


def _arrays(lead, size, hidden, dtype=np.float64):
    return [rng.normal(size=s).astype(dtype) for s in (
        (*lead, size), (*lead, hidden), (4 * hidden, size), (4 * hidden,),
        (4 * hidden, hidden), (4 * hidden,), (*lead, hidden))]


@pytest.mark.parametrize("lead,size,hidden", [((5,), 3, 4), ((), 2, 3), ((2, 3), 4, 2),
                                              ((32,), 32, 128)])
def test_lstm_input_step_is_the_gate_equations_and_their_grads_by_hand(lead, size, hidden):
    x, h, w_ih, b_ih, w_hh, b_hh, c = arrays = _arrays(lead, size, hidden)
    u_h, u_c = rng.normal(size=(*lead, hidden)), rng.normal(size=(*lead, hidden))
    (want_h, want_c), want = _step_by_hand(*arrays, u_h, u_c)
    ts = [gl.tensor(a, requires_grad=True) for a in arrays]
    # order of the op's inputs: x, h, weight_ih, bias_ih, weight_hh, bias_hh, c
    got_h, got_c = gl.lstm_input_step(*ts)
    np.testing.assert_allclose(got_h.data, want_h, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(got_c.data, want_c, rtol=1e-12, atol=1e-14)
    gl.sum(got_h * u_h + got_c * u_c).backward()
    for t, g in zip(ts, want, strict=True):
        np.testing.assert_allclose(t.grad, g, rtol=1e-10, atol=1e-12)


def test_lstm_input_step_equals_linear_bias_lstm_step_and_split_to_second_order():
    arrays = _arrays((3,), 2, 3)
    u = rng.normal(size=(3, 3))

    def fused(ts):
        h, c = gl.lstm_input_step(*ts)
        return gl.sum(h * u + c * c)

    def composite(ts):
        x, h, w_ih, b_ih, w_hh, b_hh, c = ts
        hn, cn = gl.split(gl.lstm_step(gl.linear_bias(x, w_ih, b_ih), h, w_hh, b_hh, c), 2,
                          axis=-1)
        return gl.sum(hn * u + cn * cn)

    results = []
    for f in (fused, composite):
        ts = [gl.tensor(a, requires_grad=True) for a in arrays]
        firsts = gl.grad(f(ts), ts, create_graph=True)
        seconds = gl.grad(sum(gl.sum(g * g) for g in firsts), ts)
        results.append([g.data for g in firsts] + [np.asarray(s) for s in seconds])
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_lstm_step_array_path_reads_strided_states_and_falls_back_on_mixed_dtypes():
    # h and c as a previous step's split halves (rows strided by 2 hidden); then x_proj in
    # float32 with float64 weights, which takes the general path: both against the
    # equations, x_proj entering them as x @ I
    n, hidden = 6, 5
    hc = rng.normal(size=(n, 2 * hidden))
    h, c = hc[:, :hidden], hc[:, hidden:]
    w, b = rng.normal(size=(4 * hidden, hidden)), rng.normal(size=4 * hidden)
    u = rng.normal(size=(n, 2 * hidden))
    eye, zero = np.eye(4 * hidden), np.zeros(4 * hidden)
    for x_proj in (rng.normal(size=(n, 4 * hidden)),
                   rng.normal(size=(n, 4 * hidden)).astype(np.float32)):
        (want_h, want_c), want = _step_by_hand(x_proj.astype(np.float64), h, eye, zero, w, b,
                                               c, u[:, :hidden], u[:, hidden:])
        ts = [gl.tensor(a, requires_grad=True) for a in (x_proj, h, w, b, c)]
        out = gl.lstm_step(*ts)
        assert out.dtype == np.float64
        np.testing.assert_allclose(out.data, np.concatenate([want_h, want_c], axis=-1),
                                   rtol=1e-12, atol=1e-14)
        gl.sum(out * u).backward()
        for t, g in zip(ts, (want[0], want[1], want[4], want[5], want[6]), strict=True):
            assert t.grad.dtype == t.dtype  # x_proj's grad is rounded to float32 once
            tol = 1e-10 if t.dtype == np.float64 else 1e-6
            np.testing.assert_allclose(t.grad, g, rtol=tol, atol=tol * 1e-2)


def test_lstm_input_step_float32_stays_float32_near_its_float64_values():
    arrays = _arrays((16,), 8, 8)
    u = rng.normal(size=(16, 8))
    results = {}
    for dtype in (np.float32, np.float64):
        ts = [gl.tensor(a.astype(dtype) * 0.5, requires_grad=True) for a in arrays]
        h, c = gl.lstm_input_step(*ts)
        gl.sum(h * u.astype(dtype) + c).backward()
        assert h.dtype == c.dtype == dtype and all(t.grad.dtype == dtype for t in ts)
        results[dtype] = [h.data, c.data] + [t.grad for t in ts]
    for single, double in zip(results[np.float32], results[np.float64], strict=True):
        np.testing.assert_allclose(single, double, rtol=2e-5, atol=2e-5)


def test_lstm_input_step_refuses_a_weight_ih_of_another_width_naming_every_shape():
    x, h, w_ih, b_ih, w_hh, b_hh, c = _arrays((2,), 3, 4)
    with pytest.raises(gl.OpCallError, match=r"lstm_input_step takes x \(\.\.\., in\).*"
                                             r"got x \(2, 3\), h \(2, 4\), weight_ih \(16, 5\)"):
        gl.lstm_input_step(gl.tensor(x), h, np.zeros((16, 5)), b_ih, w_hh, b_hh, c)


# -- lstm_layer (gl.nn.LSTM's one op per layer) ---------------------------------------------


def _layer_by_hand(x, h0, w_ih, b_ih, w_hh, b_hh, c0, u_out, u_h, u_c):
    """lstm_layer's three outputs (time-major x (L, ..., in)) and the grads of
    sum(out u_out) + sum(h_n u_h) + sum(c_n u_c) for its seven inputs: the gate equations
    and back-propagation through time written out step by step in numpy."""
    hidden = h0.shape[-1]
    x_proj = x @ w_ih.T + b_ih
    h, c, states, steps = h0, c0, [], []
    for t in range(len(x)):
        z = x_proj[t] + h @ w_hh.T + b_hh
        i, f, o = (sig(z[..., :hidden]), sig(z[..., hidden:2 * hidden]),
                   sig(z[..., 3 * hidden:]))
        g = np.tanh(z[..., 2 * hidden:3 * hidden])
        steps.append((h, c, i, f, g, o))
        c = f * c + i * g
        h = o * np.tanh(c)
        states.append((h, c))
    out = np.stack([s[0] for s in states])
    grads_proj = np.zeros_like(x_proj)
    gw_hh, dh, dc = np.zeros_like(w_hh), u_h.copy(), u_c.copy()
    for t in range(len(x) - 1, -1, -1):
        h_prev, c_prev, i, f, g, o = steps[t]
        tc = np.tanh(states[t][1])
        dh = dh + u_out[t]
        dc = dc + dh * o * (1 - tc * tc)
        d = np.concatenate([dc * g * i * (1 - i), dc * c_prev * f * (1 - f),
                            dc * i * (1 - g * g), dh * tc * o * (1 - o)], axis=-1)
        grads_proj[t] = d
        gw_hh += d.reshape(-1, 4 * hidden).T @ h_prev.reshape(-1, hidden)
        dh, dc = d @ w_hh, dc * f
    rows = grads_proj.reshape(-1, 4 * hidden)
    grads = (grads_proj @ w_ih, dh, rows.T @ x.reshape(-1, x.shape[-1]), rows.sum(axis=0),
             gw_hh, rows.sum(axis=0), dc)
    return (out, states[-1][0][None], states[-1][1][None]), grads


@pytest.mark.parametrize("lead,batch_first", [((3,), False), ((3,), True), ((), False),
                                              ((32,), True)])
def test_lstm_layer_is_the_gate_equations_and_bptt_by_hand(lead, batch_first):
    length, size, hidden = (4, 3, 2) if lead != (32,) else (5, 32, 128)
    x = rng.normal(size=(length, *lead, size))
    h0, c0 = rng.normal(size=(*lead, hidden)), rng.normal(size=(*lead, hidden))
    w_ih, b_ih = rng.normal(size=(4 * hidden, size)), rng.normal(size=4 * hidden)
    w_hh, b_hh = rng.normal(size=(4 * hidden, hidden)) * 0.5, rng.normal(size=4 * hidden)
    u_out = rng.normal(size=(length, *lead, hidden))
    u_h, u_c = rng.normal(size=(1, *lead, hidden)), rng.normal(size=(1, *lead, hidden))
    want, grads = _layer_by_hand(x, h0, w_ih, b_ih, w_hh, b_hh, c0, u_out, u_h[0], u_c[0])
    given = np.swapaxes(x, 0, 1) if batch_first else x
    ts = [gl.tensor(a, requires_grad=True) for a in (given, h0, w_ih, b_ih, w_hh, b_hh, c0)]
    out, h_n, c_n = gl.lstm_layer(*ts, batch_first=batch_first)
    if batch_first:
        assert out.shape == (lead[0], length, hidden)
        out_tm = gl.swapaxes(out, 0, 1)
    else:
        out_tm = out
    for got, w in zip((out_tm, h_n, c_n), want, strict=True):
        np.testing.assert_allclose(got.data, w, rtol=1e-12, atol=1e-13)
    gl.sum(gl.sum(out_tm * u_out) + gl.sum(h_n * u_h) + gl.sum(c_n * u_c)).backward()
    grads = (np.swapaxes(grads[0], 0, 1) if batch_first else grads[0], *grads[1:])
    for t, g in zip(ts, grads, strict=True):
        np.testing.assert_allclose(t.grad, g, rtol=1e-10, atol=1e-11)


def test_lstm_layer_equals_the_seven_ops_it_replaces_to_second_order():
    length, batch, size, hidden = 3, 2, 3, 2
    arrays = [rng.normal(size=s) for s in ((batch, length, size), (batch, hidden),
                                           (4 * hidden, size), (4 * hidden,),
                                           (4 * hidden, hidden), (4 * hidden,), (batch, hidden))]
    u = rng.normal(size=(batch, length, hidden))

    def fused(ts):
        out, h_n, c_n = gl.lstm_layer(*ts, batch_first=True)
        return gl.sum(out * u) + gl.sum(h_n * h_n) + gl.sum(c_n)

    def composite(ts):
        x, h0, w_ih, b_ih, w_hh, b_hh, c0 = ts
        states = gl.lstm_seq(gl.linear_bias(gl.swapaxes(x, 0, 1), w_ih, b_ih), h0, w_hh, b_hh,
                             c0)
        out, cells = gl.split(states, 2, axis=-1)
        h_n, c_n = out[-1:], cells[-1:]
        return gl.sum(gl.swapaxes(out, 0, 1) * u) + gl.sum(h_n * h_n) + gl.sum(c_n)

    results = []
    for f in (fused, composite):
        ts = [gl.tensor(a, requires_grad=True) for a in arrays]
        firsts = gl.grad(f(ts), ts, create_graph=True)
        seconds = gl.grad(sum(gl.sum(g * g) for g in firsts), ts)
        results.append([g.data for g in firsts] + [np.asarray(s) for s in seconds])
    for ours, theirs in zip(*results, strict=True):
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-12)


def test_lstm_layer_float32_stays_float32_near_its_float64_values():
    arrays = [rng.normal(size=s) * 0.5 for s in ((6, 16, 8), (16, 8), (32, 8), (32,),
                                                 (32, 8), (32,), (16, 8))]
    u = rng.normal(size=(6, 16, 8))
    results = {}
    for dtype in (np.float32, np.float64):
        ts = [gl.tensor(a.astype(dtype), requires_grad=True) for a in arrays]
        out, h_n, c_n = gl.lstm_layer(*ts)
        gl.sum(gl.sum(out * u.astype(dtype)) + gl.sum(c_n)).backward()
        assert out.dtype == h_n.dtype == c_n.dtype == dtype
        assert all(t.grad.dtype == dtype for t in ts)
        results[dtype] = [out.data, h_n.data, c_n.data] + [t.grad for t in ts]
    for single, double in zip(results[np.float32], results[np.float64], strict=True):
        np.testing.assert_allclose(single, double, rtol=2e-5, atol=2e-5)


def test_lstm_layer_refuses_states_of_another_batch_naming_every_shape():
    x = np.zeros((2, 5, 3))  # batch_first: N 2, L 5
    with pytest.raises(gl.OpCallError, match=r"lstm_layer takes x \(N, L, in\).*got x "
                                             r"\(2, 5, 3\), h0 \(5, 4\).*batch_first=True"):
        gl.lstm_layer(gl.tensor(x), np.zeros((5, 4)), np.zeros((16, 3)), np.zeros(16),
                      np.zeros((16, 4)), np.zeros(16), np.zeros((5, 4)), batch_first=True)


def test_lstm_without_biases_runs_its_cells_unrolled_without_biases():
    lstm = gl.nn.LSTM(3, 4, bias=False, batch_first=True, rng=5)
    cell = gl.nn.LSTMCell(3, 4, bias=False, rng=6)
    cell.load_state_dict({"weight_ih": lstm.weight_ih_l0.data, "weight_hh": lstm.weight_hh_l0.data})
    x = rng.normal(size=(2, 5, 3))
    out, (h_n, c_n) = lstm(gl.tensor(x))
    h = c = None
    for t in range(5):
        h, c = cell(gl.tensor(x[:, t]), None if h is None else (h, c))
        np.testing.assert_allclose(out.data[:, t], h.data, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(h_n.data, h.data[None], rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(c_n.data, c.data[None], rtol=1e-12, atol=1e-14)
