"""gl.optim follows the published update rules step by step, against trajectories computed
here in plain Python from the formulas (PyTorch's documentation of each algorithm)."""

import math

import gradledger as gl
import numpy as np
import pytest

# The loss sum(A * w**2 + C * w) has the grad 2 * A * w + C, computed independently below.
A = [0.5, 1.5, -0.25]
C = [1.0, -2.0, 0.5]
W0 = [0.3, -0.7, 1.2]
STEPS = 6


def loss(w):
    return gl.sum(np.array(A) * w * w + np.array(C) * w)


def grad(w):
    return [2 * a * x + c for a, x, c in zip(A, w, C, strict=True)]


def run(make_optimizer, steps=STEPS, w0=W0):
    w = gl.tensor(w0, requires_grad=True)
    opt = make_optimizer([w])
    trajectory = []
    for _ in range(steps):
        opt.zero_grad()
        loss(w).backward()
        opt.step()
        trajectory.append(list(w.data))
    return trajectory


def sgd_reference(lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                  maximize=False, steps=STEPS):
    w, buf, out = list(W0), None, []
    for t in range(steps):
        g = grad(w)
        if maximize:
            g = [-x for x in g]
        g = [gi + weight_decay * wi for gi, wi in zip(g, w, strict=True)]
        if momentum:
            buf = list(g) if t == 0 else [momentum * b + (1 - dampening) * gi
                                          for b, gi in zip(buf, g, strict=True)]
            g = [gi + momentum * b for gi, b in zip(g, buf, strict=True)] if nesterov else buf
        w = [wi - lr * gi for wi, gi in zip(w, g, strict=True)]
        out.append(w)
    return out


@pytest.mark.parametrize("settings", [
    dict(lr=0.1),
    dict(lr=0.1, momentum=0.9),
    dict(lr=0.05, momentum=0.8, dampening=0.3),
    dict(lr=0.1, momentum=0.9, nesterov=True),
    dict(lr=0.1, momentum=0.5, weight_decay=0.01),
    dict(lr=0.1, weight_decay=0.2, nesterov=False),
    dict(lr=0.02, momentum=0.9, maximize=True),
], ids=str)
def test_sgd_follows_the_published_rule_step_by_step(settings):
    got = run(lambda params: gl.optim.SGD(params, **settings))
    np.testing.assert_allclose(got, sgd_reference(**settings), rtol=1e-13, atol=1e-15)


def adam_reference(lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                   decoupled=False, steps=STEPS):
    """Kingma & Ba's Adam with bias-corrected moments, as PyTorch documents it."""
    beta1, beta2 = betas
    w, out = list(W0), []
    m = [0.0] * 3
    v = [0.0] * 3
    v_max = [0.0] * 3
    for t in range(1, steps + 1):
        g = grad(w)
        if decoupled:
            w = [wi * (1 - lr * weight_decay) for wi in w]
        elif weight_decay:
            g = [gi + weight_decay * wi for gi, wi in zip(g, w, strict=True)]
        m = [beta1 * mi + (1 - beta1) * gi for mi, gi in zip(m, g, strict=True)]
        v = [beta2 * vi + (1 - beta2) * gi * gi for vi, gi in zip(v, g, strict=True)]
        v_max = [max(a, b) for a, b in zip(v_max, v, strict=True)]
        second = v_max if amsgrad else v
        m_hat = [mi / (1 - beta1**t) for mi in m]
        v_hat = [vi / (1 - beta2**t) for vi in second]
        w = [wi - lr * mh / (math.sqrt(vh) + eps)
             for wi, mh, vh in zip(w, m_hat, v_hat, strict=True)]
        out.append(w)
    return out


@pytest.mark.parametrize("settings", [
    dict(lr=0.1),
    dict(lr=0.05, betas=(0.8, 0.99), eps=1e-6),
    dict(lr=0.1, betas=(0.3, 0.9)),  # beta1 < 0.5: PyTorch's lerp takes its other branch
    dict(lr=0.1, weight_decay=0.1),
    dict(lr=0.1, amsgrad=True),
], ids=str)
def test_adam_follows_the_published_rule_step_by_step(settings):
    got = run(lambda params: gl.optim.Adam(params, **settings))
    np.testing.assert_allclose(got, adam_reference(**settings), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("settings", [dict(lr=0.1), dict(lr=0.1, weight_decay=0.3, amsgrad=True)],
                         ids=str)
def test_adamw_decays_the_weights_apart_from_the_gradient(settings):
    got = run(lambda params: gl.optim.AdamW(params, **settings))
    expected = adam_reference(**{"weight_decay": 1e-2, **settings}, decoupled=True)
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-15)
    plain = adam_reference(**{**settings, "weight_decay": 0.0})
    assert not np.allclose(got, plain, rtol=1e-9)  # the decay made a difference


def test_adam_first_step_moves_each_weight_by_lr_against_its_grads_sign():
    # At t = 1 the bias-corrected m / sqrt(v) is g / |g|: a step of exactly lr (eps aside).
    w = gl.tensor([2.0, -3.0, 0.5], requires_grad=True)
    opt = gl.optim.Adam([w], lr=0.01, eps=0.0)
    gl.sum(w * np.array([4.0, 1e-3, -7.0])).backward()
    opt.step()
    np.testing.assert_allclose(w.data, [2.0 - 0.01, -3.0 - 0.01, 0.5 + 0.01], rtol=1e-14)


def test_float32_parameters_stay_float32_in_every_optimiser():
    for make in (lambda p: gl.optim.SGD(p, lr=0.1, momentum=0.9, nesterov=True),
                 lambda p: gl.optim.Adam(p, lr=0.1), lambda p: gl.optim.AdamW(p, lr=0.1)):
        w = gl.tensor(np.ones(4, dtype=np.float32), requires_grad=True)
        opt = make([w])
        for _ in range(2):
            opt.zero_grad()
            gl.sum(w * w).backward()
            opt.step()
        assert w.dtype == np.float32
        assert all(s.dtype == np.float32 for state in opt.state.values()
                   for s in state.values() if isinstance(s, np.ndarray))


# -- parameter groups ----------------------------------------------------------------------


def test_parameter_groups_have_their_own_hyperparameters_and_inherit_the_rest():
    a = gl.tensor([1.0, 2.0], requires_grad=True)
    b = gl.tensor([3.0], requires_grad=True)
    opt = gl.optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5, "momentum": 0.9}], lr=0.1)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert [g["momentum"] for g in opt.param_groups] == [0.0, 0.9]
    for _ in range(2):
        opt.zero_grad()
        (gl.sum(a * a) + gl.sum(b * b)).backward()
        opt.step()
    # a: plain SGD, w <- w (1 - 2 lr) twice; b: momentum 0.9, lr 0.5.
    np.testing.assert_allclose(a.data, np.array([1.0, 2.0]) * 0.8**2)
    b1 = 3.0 - 0.5 * 6.0
    b2 = b1 - 0.5 * (0.9 * 6.0 + 2 * b1)
    np.testing.assert_allclose(b.data, [b2])


def test_a_learning_rate_changed_in_a_group_applies_from_the_next_step():
    w = gl.tensor([1.0], requires_grad=True)
    opt = gl.optim.SGD([w], lr=0.1)
    opt.param_groups[0]["lr"] = 0.25
    gl.sum(w * 4.0).backward()
    opt.step()
    np.testing.assert_allclose(w.data, [1.0 - 0.25 * 4.0])


def test_add_param_group_takes_the_defaults():
    a = gl.tensor([1.0], requires_grad=True)
    b = gl.tensor([1.0], requires_grad=True)
    opt = gl.optim.Adam([a], lr=0.01, betas=(0.8, 0.9))
    opt.add_param_group({"params": b, "lr": 0.5})
    assert opt.param_groups[1]["betas"] == (0.8, 0.9) and opt.param_groups[1]["lr"] == 0.5
    assert opt.params == [a, b]


def test_bad_groups_and_hyperparameters_are_clear_errors():
    w = gl.tensor([1.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"unknown key\(s\) 'learning_rate'.*'lr'"):
        gl.optim.SGD([{"params": [w], "learning_rate": 0.1}])
    with pytest.raises(ValueError, match="more than one parameter group"):
        gl.optim.SGD([{"params": [w]}, {"params": [w], "lr": 0.2}])
    with pytest.raises(TypeError, match="'params' key"):
        gl.optim.SGD([{"lr": 0.1}, {"params": [w]}])
    with pytest.raises(ValueError, match="nesterov=True needs momentum > 0"):
        gl.optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match=r"Adam betas: expected two numbers in \[0, 1\)"):
        gl.optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="AdamW eps: expected a finite number >= 0"):
        gl.optim.AdamW([w], eps=-1e-8)
    with pytest.raises(ValueError, match="SGD lr: expected"):
        gl.optim.SGD([{"params": [w], "lr": math.nan}])


def test_a_parameter_without_grad_keeps_its_value_and_its_step_count():
    a = gl.tensor([1.0], requires_grad=True)
    b = gl.tensor([1.0], requires_grad=True)
    opt = gl.optim.Adam([a, b], lr=0.1)
    gl.sum(a * 2.0).backward()
    opt.step()
    np.testing.assert_array_equal(b.data, [1.0])
    assert opt.state[id(a)]["step"] == 1 and id(b) not in opt.state


# -- in place, unless a graph holds the array ----------------------------------------------


def test_a_step_writes_into_the_parameters_own_array_when_no_graph_holds_it():
    w = gl.tensor([1.0, 2.0], requires_grad=True)
    array = w.data
    gl.sum(w * w).backward()
    gl.optim.Adam([w], lr=0.1).step()
    assert w.data is array
    np.testing.assert_allclose(array, [0.9, 1.9])


def test_a_step_leaves_an_array_saved_by_a_live_graph_alone():
    w = gl.tensor([1.0, 2.0], requires_grad=True)
    array = w.data
    kept = gl.sum(w * w)  # saves w.data for its backward: the array is locked
    w.grad = np.array([1.0, 1.0])
    gl.optim.SGD([w], lr=0.5).step()
    np.testing.assert_array_equal(array, [1.0, 2.0])  # the graph's value is intact
    np.testing.assert_allclose(w.data, [0.5, 1.5])
    assert w.data is not array
    w.grad = None
    kept.backward()  # the graph still differentiates at the value it saw
    np.testing.assert_allclose(w.grad, [2.0, 4.0])


# -- learning-rate schedulers ---------------------------------------------------------------


def two_groups(lr_a=0.1, lr_b=0.4):
    a = gl.tensor([1.0], requires_grad=True)
    b = gl.tensor([1.0], requires_grad=True)
    return gl.optim.SGD([{"params": [a]}, {"params": [b], "lr": lr_b}], lr=lr_a)


def test_step_lr_multiplies_by_gamma_every_step_size_epochs():
    opt = two_groups()
    scheduler = gl.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
    seen = []
    for _ in range(10):
        seen.append(scheduler.get_last_lr())
        opt.step()
        scheduler.step()
    expected = [[0.1 * 0.5 ** (epoch // 3), 0.4 * 0.5 ** (epoch // 3)] for epoch in range(10)]
    np.testing.assert_allclose(seen, expected, rtol=1e-15)
    assert [g["lr"] for g in opt.param_groups] == scheduler.get_last_lr()
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.4]


def test_cosine_annealing_follows_the_closed_form_through_and_past_t_max():
    opt = two_groups()
    T, eta_min = 7, 0.01
    scheduler = gl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=T, eta_min=eta_min)
    seen = []
    for _ in range(3 * T + 2):
        seen.append(scheduler.get_last_lr())
        opt.step()
        scheduler.step()
    expected = [[eta_min + (base - eta_min) * (1 + math.cos(math.pi * t / T)) / 2
                 for base in (0.1, 0.4)] for t in range(3 * T + 2)]
    np.testing.assert_allclose(seen, expected, rtol=1e-12)
    assert seen[0] == [0.1, 0.4]
    np.testing.assert_allclose(seen[T], [eta_min, eta_min], rtol=1e-12)  # the trough
    np.testing.assert_allclose(seen[2 * T], [0.1, 0.4], rtol=1e-12)  # back up, period 2 T


def test_cosine_annealing_follows_a_learning_rate_changed_by_hand():
    # PyTorch's recursive form scales the gap to eta_min by the same ratio, whatever lr is now.
    opt = two_groups(lr_a=1.0, lr_b=1.0)
    scheduler = gl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=4)
    scheduler.step()
    opt.param_groups[0]["lr"] = 10.0
    scheduler.step()
    ratio = (1 + math.cos(math.pi * 2 / 4)) / (1 + math.cos(math.pi * 1 / 4))
    assert opt.param_groups[0]["lr"] == pytest.approx(10.0 * ratio, rel=1e-14)
    assert opt.param_groups[1]["lr"] == pytest.approx((1 + math.cos(math.pi / 2)) / 2, rel=1e-14)


def test_schedulers_check_their_settings():
    opt = two_groups()
    with pytest.raises(ValueError, match="step_size: expected an int >= 1"):
        gl.optim.lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(ValueError, match="T_max: expected an int >= 1"):
        gl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=2.5)
    with pytest.raises(TypeError, match="expected a gl.optim optimiser"):
        gl.optim.lr_scheduler.StepLR([1.0], step_size=2)
    with pytest.raises(KeyError, match="'initial_lr'"):
        gl.optim.lr_scheduler.StepLR(two_groups(), step_size=2, last_epoch=4)


# -- gradient clipping ------------------------------------------------------------------------


def params_with_grads(*grads):
    out = []
    for g in grads:
        w = gl.tensor(np.zeros(np.shape(g)), requires_grad=True)
        w.grad = np.array(g, dtype=float)
        out.append(w)
    return out


def test_clip_grad_norm_scales_all_grads_together_and_returns_the_norm_before():
    params = params_with_grads([3.0, 0.0], [[4.0], [12.0]])
    params.append(gl.tensor([1.0], requires_grad=True))  # no grad: skipped
    total = gl.nn.utils.clip_grad_norm_(params, max_norm=1.3)
    assert total == pytest.approx(13.0, rel=1e-15)  # sqrt(9 + 16 + 144)
    assert isinstance(total, np.float64)
    scale = 1.3 / (13.0 + 1e-6)
    np.testing.assert_allclose(params[0].grad, [3.0 * scale, 0.0], rtol=1e-15)
    np.testing.assert_allclose(params[1].grad, [[4.0 * scale], [12.0 * scale]], rtol=1e-15)
    assert params[2].grad is None
    np.testing.assert_allclose(np.sqrt(9 + 16 + 144) * scale, 1.3, rtol=1e-6)


def test_clip_grad_norm_leaves_grads_already_small_enough():
    params = params_with_grads([0.3, -0.4])
    total = gl.nn.utils.clip_grad_norm_(params, max_norm=1.0)
    assert total == pytest.approx(0.5)
    np.testing.assert_array_equal(params[0].grad, [0.3, -0.4])


def test_clip_grad_norm_with_the_max_norm_and_a_module():
    params = params_with_grads([1.0, -5.0], [2.0])
    total = gl.nn.utils.clip_grad_norm_(params, max_norm=2.5, norm_type=math.inf)
    assert total == 5.0
    np.testing.assert_allclose(params[0].grad, np.array([1.0, -5.0]) * 2.5 / (5.0 + 1e-6))
    net = gl.nn.Linear(2, 1, rng=0)
    gl.sum(net(np.array([[30.0, 40.0]]))).backward()
    assert gl.nn.utils.clip_grad_norm_(net, 1.0) == pytest.approx(np.sqrt(30**2 + 40**2 + 1))
    grads = np.concatenate([net.weight.grad.ravel(), net.bias.grad.ravel()])
    assert np.linalg.norm(grads) == pytest.approx(1.0, rel=1e-6)


def test_clip_grad_norm_refuses_a_non_finite_norm_when_asked():
    params = params_with_grads([np.inf, 1.0])
    with pytest.raises(FloatingPointError, match="total 2.0-norm of the gradients is inf"):
        gl.nn.utils.clip_grad_norm_(params, 1.0, error_if_nonfinite=True)
    with pytest.raises(ValueError, match="max_norm: expected a number >= 0"):
        gl.nn.utils.clip_grad_norm_(params, -1.0)


def test_clip_grad_value_clips_each_element():
    params = params_with_grads([3.0, -0.5, -7.0])
    gl.nn.utils.clip_grad_value_(params, 1.0)
    np.testing.assert_array_equal(params[0].grad, [1.0, -0.5, -1.0])


# -- optimiser state, through gl.save / gl.load -----------------------------------------------


def train_steps(net, opt, steps):
    x = np.linspace(-1, 1, 12).reshape(6, 2)
    for _ in range(steps):
        opt.zero_grad()
        gl.mean((net(x) - 0.5) ** 2).backward()
        opt.step()


@pytest.mark.parametrize("make", [
    lambda p: gl.optim.Adam(p, lr=0.05, amsgrad=True),
    lambda p: gl.optim.SGD([{"params": p[:2], "momentum": 0.9, "nesterov": True},
                            {"params": p[2:], "lr": 0.02}], lr=0.1),
], ids=["adam", "sgd-groups"])
def test_a_resumed_optimiser_continues_exactly_as_the_original(tmp_path, make):
    net = gl.nn.MLP(2, [5], 1, rng=0)
    opt = make(net.parameters())
    train_steps(net, opt, 3)
    gl.save(net.state_dict(), tmp_path / "net.npz")
    gl.save(opt.state_dict(), tmp_path / "opt.npz")
    train_steps(net, opt, 3)

    resumed = gl.nn.MLP(2, [5], 1, rng=99)
    resumed.load_state_dict(gl.load(tmp_path / "net.npz"))
    resumed_opt = make(resumed.parameters())
    resumed_opt.param_groups[0]["lr"] = 123.0  # overwritten by the saved hyperparameters
    resumed_opt.load_state_dict(gl.load(tmp_path / "opt.npz"))
    train_steps(resumed, resumed_opt, 3)
    for key, value in net.state_dict().items():
        np.testing.assert_array_equal(resumed.state_dict()[key], value)
    assert resumed_opt.param_groups[0]["lr"] == opt.param_groups[0]["lr"]


def test_loading_an_optimisers_state_into_a_different_one_is_a_clear_error():
    a = gl.tensor([1.0, 2.0], requires_grad=True)
    b = gl.tensor([1.0], requires_grad=True)
    opt = gl.optim.Adam([a], lr=0.1)
    gl.sum(a * a).backward()
    opt.step()
    state = opt.state_dict()
    assert state["state.0.step"] == 1 and state["param_groups.0.lr"] == 0.1
    with pytest.raises(ValueError, match=r"key 'state.0.exp_avg': expected shape \(1,\)"):
        gl.optim.Adam([b]).load_state_dict(state)
    with pytest.raises(ValueError, match="saved with 1 parameter"):
        gl.optim.Adam([a, b]).load_state_dict(state)
    with pytest.raises(ValueError, match="1 parameter group.*this optimiser has 2"):
        gl.optim.Adam([{"params": [a]}, {"params": [b]}]).load_state_dict(state)
    with pytest.raises(ValueError, match="unexpected key 'momentum'"):
        gl.optim.Adam([a]).load_state_dict({"momentum": 1})


def test_a_scheduler_resumed_from_a_saved_state_continues_the_same_schedule(tmp_path):
    opt = two_groups()
    scheduler = gl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=5, eta_min=0.001)
    for _ in range(3):
        scheduler.step()
    gl.save(scheduler.state_dict(), tmp_path / "sched.npz")
    gl.save(opt.state_dict(), tmp_path / "opt.npz")
    expected = []
    for _ in range(4):
        scheduler.step()
        expected.append(scheduler.get_last_lr())

    opt2 = two_groups()
    opt2.load_state_dict(gl.load(tmp_path / "opt.npz"))
    resumed = gl.optim.lr_scheduler.CosineAnnealingLR(opt2, T_max=5, eta_min=0.001)
    resumed.load_state_dict(gl.load(tmp_path / "sched.npz"))
    assert isinstance(resumed.last_epoch, int) and resumed.last_epoch == 3
    got = []
    for _ in range(4):
        resumed.step()
        got.append(resumed.get_last_lr())
    assert got == expected
    with pytest.raises(KeyError, match="unexpected key"):
        resumed.load_state_dict({"T_maximum": 3})
