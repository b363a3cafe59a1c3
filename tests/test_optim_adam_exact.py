"""Adam and AdamW step exactly as written: each step's values equal, bit for bit, the
update computed here in numpy operation by operation (PyTorch's single-tensor order), and
agree with torch.optim itself in float64 where PyTorch is installed (the last few ulps
differ: PyTorch's CPU kernels fuse a multiply-add that numpy rounds twice)."""

import math

import gradledger as gl
import numpy as np
import pytest

SHAPES = [(3, 4), (4,), (3, 4), (2, 1, 3)]  # two parameters of one shape share scratch
SETTINGS = [
    dict(),
    dict(lr=0.05, betas=(0.8, 0.9), eps=1e-6),
    dict(lr=0.02, weight_decay=0.1),
    dict(lr=0.02, amsgrad=True),
    dict(lr=0.01, maximize=True),
    dict(lr=0.03, betas=(0.3, 0.99)),  # 1 - beta1 >= 0.5: PyTorch's lerp from the other end
]


def reference_adam(params, grads, settings, decoupled, steps):
    """Adam written out in numpy, operation by operation, from the published rule in
    PyTorch's single-tensor order; returns each step's parameters."""
    lr, (beta1, beta2) = settings.get("lr", 1e-3), settings.get("betas", (0.9, 0.999))
    eps = settings.get("eps", 1e-8)
    wd = settings.get("weight_decay", 1e-2 if decoupled else 0.0)
    params = [p.copy() for p in params]
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    v_max = [np.zeros_like(p) for p in params]
    counts = [0] * len(params)
    out = []
    for step in range(1, steps + 1):
        for i, p in enumerate(params):
            g = grads(step, i, p)
            if g is None:  # no grad: the parameter and its step count stay
                continue
            counts[i] += 1
            t = counts[i]
            if settings.get("maximize"):
                g = -g
            if wd and decoupled:
                p = p * (1 - lr * wd)
            elif wd:
                g = g + wd * p
            weight = 1 - beta1
            if weight < 0.5:
                m[i] = m[i] + weight * (g - m[i])
            else:
                m[i] = g - (g - m[i]) * (1 - weight)
            v[i] = v[i] * beta2 + (1 - beta2) * g * g
            second = v[i]
            if settings.get("amsgrad"):
                v_max[i] = second = np.maximum(v_max[i], v[i])
            denom = np.sqrt(second) / math.sqrt(1 - beta2**t) + eps
            params[i] = p - lr / (1 - beta1**t) * (m[i] / denom)
        out.append([p.copy() for p in params])
    return out


def grads_of(dtype):
    def grads(t, i, p):
        # a grad that depends on the parameter (so the trajectories stay coupled)
        return (np.cos(p * (i + 1)) + 0.1 * t).astype(dtype)

    return grads


def start(dtype, shapes=SHAPES):
    rng = np.random.default_rng(7)
    return [np.asarray(rng.standard_normal(s)).astype(dtype) for s in shapes]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("decoupled", [False, True], ids=["Adam", "AdamW"])
@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_adam_steps_equal_the_published_rule_bit_for_bit(settings, decoupled, dtype):
    params0, grads = start(dtype), grads_of(dtype)
    expected = reference_adam(params0, grads, settings, decoupled, steps=5)
    ws = [gl.tensor(p.copy(), requires_grad=True) for p in params0]
    opt = (gl.optim.AdamW if decoupled else gl.optim.Adam)(ws, **settings)
    for step in range(5):
        for i, w in enumerate(ws):
            w.grad = grads(step + 1, i, w.data)
        opt.step()
        for w, want in zip(ws, expected[step], strict=True):
            assert w.dtype == dtype
            np.testing.assert_array_equal(w.data, want)


def test_adam_on_a_parameter_saved_by_a_live_graph_steps_alike_into_a_new_array():
    params0, grads = start(np.float32), grads_of(np.float32)
    expected = reference_adam(params0, grads, {}, False, steps=2)
    ws = [gl.tensor(p.copy(), requires_grad=True) for p in params0]
    opt = gl.optim.Adam(ws)
    for step in range(2):
        held = [w * w for w in ws]  # live graphs: each w's array is saved, read-only
        before = [w.data for w in ws]
        for i, w in enumerate(ws):
            w.grad = grads(step + 1, i, w.data)
        opt.step()
        for w, old, want in zip(ws, before, expected[step], strict=True):
            assert w.data is not old  # the saved array was left alone
            np.testing.assert_array_equal(w.data, want)
        del held


@pytest.mark.parametrize("decoupled", [False, True], ids=["Adam", "AdamW"])
@pytest.mark.parametrize("settings", SETTINGS, ids=str)
def test_adam_agrees_with_torch_optim_in_float64(settings, decoupled):
    torch = pytest.importorskip("torch")
    params0, grads = start(np.float64), grads_of(np.float64)
    ws = [gl.tensor(p.copy(), requires_grad=True) for p in params0]
    ts = [torch.tensor(p.copy(), requires_grad=True) for p in params0]
    ours = (gl.optim.AdamW if decoupled else gl.optim.Adam)(ws, **settings)
    theirs = (torch.optim.AdamW if decoupled else torch.optim.Adam)(ts, foreach=False,
                                                                   **settings)
    for step in range(6):
        for i, (w, t) in enumerate(zip(ws, ts, strict=True)):
            g = grads(step + 1, i, w.data)
            w.grad = g
            t.grad = torch.from_numpy(np.array(g))
        ours.step()
        theirs.step()
        for w, t in zip(ws, ts, strict=True):
            np.testing.assert_allclose(w.data, t.detach().numpy(), rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("shapes", [SHAPES, SHAPES + [()]], ids=["arrays", "and-a-0-d"])
def test_adam_steps_by_the_rule_when_a_parameter_misses_its_grad_now_and_then(shapes):
    params0, base = start(np.float32, shapes), grads_of(np.float32)

    def grads(t, i, p):
        return None if (t, i) in ((2, 1), (4, 3)) else base(t, i, p)

    expected = reference_adam(params0, grads, {}, False, steps=6)
    ws = [gl.tensor(p.copy(), requires_grad=True) for p in params0]
    opt = gl.optim.Adam(ws)
    for step in range(6):
        for i, w in enumerate(ws):
            w.grad = grads(step + 1, i, w.data)
        opt.step()
        for w, want in zip(ws, expected[step], strict=True):
            np.testing.assert_array_equal(w.data, want)


def test_adam_resumed_from_its_state_dict_continues_bit_for_bit():
    params0, grads = start(np.float32), grads_of(np.float32)
    expected = reference_adam(params0, grads, {}, False, steps=6)
    ws = [gl.tensor(p.copy(), requires_grad=True) for p in params0]
    opt = gl.optim.Adam(ws)
    for step in range(3):
        for i, w in enumerate(ws):
            w.grad = grads(step + 1, i, w.data)
        opt.step()
    saved = opt.state_dict()
    opt.step()  # a step the resumed optimiser does not see (the state is a copy)
    resumed_ws = [gl.tensor(w.copy(), requires_grad=True) for w in expected[2]]
    resumed = gl.optim.Adam(resumed_ws)
    resumed.load_state_dict(saved)
    for step in range(3, 6):
        for i, w in enumerate(resumed_ws):
            w.grad = grads(step + 1, i, w.data)
        resumed.step()
        for w, want in zip(resumed_ws, expected[step], strict=True):
            np.testing.assert_array_equal(w.data, want)
