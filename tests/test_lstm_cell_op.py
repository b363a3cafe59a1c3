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
