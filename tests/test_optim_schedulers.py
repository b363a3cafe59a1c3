"""LambdaLR, LinearLR, SequentialLR, OneCycleLR and ReduceLROnPlateau against their closed forms.

(tests/test_nn_pytorch.py checks them against torch.optim.lr_scheduler, where installed.)
"""

import math

import gradledger as gl
import numpy as np
import pytest

S = gl.optim.lr_scheduler


def sgd(lr=0.1, momentum=0.0):
    return gl.optim.SGD([gl.tensor(np.zeros(2), requires_grad=True)], lr=lr, momentum=momentum)


def lrs(optimizer, scheduler, steps, metrics=None):
    seen = [optimizer.param_groups[0]["lr"]]
    for k in range(steps):
        optimizer.step()
        scheduler.step() if metrics is None else scheduler.step(metrics[k])
        seen.append(optimizer.param_groups[0]["lr"])
    return seen


def test_lambda_lr_is_the_initial_lr_times_the_function_of_the_epoch():
    opt = sgd()
    seen = lrs(opt, S.LambdaLR(opt, lambda e: 1 / (1 + e)), 5)
    assert seen == pytest.approx([0.1 / (1 + e) for e in range(6)], rel=1e-15)


def test_linear_lr_ramps_from_start_factor_to_end_factor_then_holds():
    opt = sgd()
    seen = lrs(opt, S.LinearLR(opt, start_factor=0.25, end_factor=1.0, total_iters=4), 7)
    expected = [0.1 * (0.25 + 0.75 * min(e, 4) / 4) for e in range(8)]
    assert seen == pytest.approx(expected, rel=1e-14)


def test_sequential_lr_warms_up_then_follows_the_cosine_from_its_own_epoch_0():
    opt = sgd(lr=1.0)
    warmup = S.LinearLR(opt, start_factor=0.1, total_iters=3)
    cosine = S.CosineAnnealingLR(opt, T_max=6)
    seen = lrs(opt, S.SequentialLR(opt, [warmup, cosine], milestones=[3]), 9)
    expected = [0.1 + 0.9 * e / 3 for e in range(3)]
    expected += [(1 + math.cos(math.pi * e / 6)) / 2 for e in range(7)]
    assert seen == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_one_cycle_climbs_to_max_lr_then_anneals_to_the_floor_cycling_momentum_back():
    opt = sgd(lr=0.5, momentum=0.9)
    schedule = S.OneCycleLR(opt, max_lr=1.0, total_steps=21, pct_start=0.25)
    seen, momenta = [opt.param_groups[0]["lr"]], [opt.param_groups[0]["momentum"]]
    for _ in range(20):
        opt.step()
        schedule.step()
        seen.append(opt.param_groups[0]["lr"])
        momenta.append(opt.param_groups[0]["momentum"])
    peak = 0.25 * 21 - 1  # the step at which the climb ends
    climb = [0.04 + (1.0 - 0.04) * (1 - math.cos(math.pi * s / peak)) / 2 for s in range(5)]
    assert seen[:5] == pytest.approx(climb, rel=1e-12)
    assert seen[0] == pytest.approx(1.0 / 25) and max(seen) <= 1.0
    assert seen[-1] == pytest.approx(1.0 / 25 / 1e4, rel=1e-9)
    assert momenta[0] == 0.95 and min(momenta) >= 0.85 and momenta[-1] == pytest.approx(0.95)
    schedule.step()  # as PyTorch's: step total_steps itself is still computed
    with pytest.raises(ValueError, match="stepped 22 times, past total_steps 21"):
        schedule.step()


def test_one_cycle_moves_adams_beta1_and_needs_steps_given_somehow():
    opt = gl.optim.Adam([gl.tensor(np.zeros(2), requires_grad=True)])
    S.OneCycleLR(opt, max_lr=0.01, epochs=2, steps_per_epoch=5)
    assert opt.param_groups[0]["betas"] == (0.95, 0.999)
    with pytest.raises(ValueError, match="give total_steps, or epochs and steps_per_epoch"):
        S.OneCycleLR(opt, max_lr=0.01)


def test_reduce_on_plateau_cuts_the_lr_after_patience_bad_epochs_then_cools_down():
    opt = sgd(lr=1.0)
    schedule = S.ReduceLROnPlateau(opt, factor=0.5, patience=1, cooldown=1)
    metrics = [1.0, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]
    seen = lrs(opt, schedule, len(metrics), metrics)
    # bad epochs 3 and 4 (more than patience 1): cut at epoch 4; epoch 5 cools down (its bad
    # epoch is not counted), then bad epochs 6 and 7: cut again at 7.
    assert seen == [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.5, 0.25, 0.25]
    assert schedule.get_last_lr() == [0.25]
    maximise = S.ReduceLROnPlateau(sgd(lr=1.0), mode="max", patience=0, min_lr=0.3)
    for accuracy in (0.5, 0.4, 0.4, 0.4):
        maximise.step(accuracy)
    assert maximise.get_last_lr() == [0.3]  # 1.0 -> 0.1 floored at 0.3, then held


def test_scheduler_arguments_are_checked_naming_what_was_expected():
    opt = sgd()
    with pytest.raises(ValueError, match="LinearLR total_iters: expected an int >= 1"):
        S.LinearLR(opt, total_iters=0)
    with pytest.raises(ValueError, match="SequentialLR milestones: expected 1 increasing"):
        S.SequentialLR(opt, [S.LinearLR(opt), S.LinearLR(opt)], milestones=[])
    with pytest.raises(ValueError, match="LambdaLR lr_lambda: expected a function"):
        S.LambdaLR(opt, 0.5)
