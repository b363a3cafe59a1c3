"""The example ops against the seed's nudge method, and the behaviour they promise.

These tests need nothing but gradledger and numpy. The verifier's own check of
every op runs through its pytest plugin (test_verify_ops.py).
"""

import gradledger as gl
import numpy as np
import pytest

RNG = np.random.default_rng(0)


def nudge_grad(f, arrays, index, eps=1e-6):
    """d sum(f(*arrays) * weights) / d arrays[index], one central difference per element."""
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    weights = RNG.standard_normal(np.shape(f(*arrays)))
    grad = np.zeros_like(arrays[index])
    for i in np.ndindex(grad.shape):
        up = [a.copy() for a in arrays]
        down = [a.copy() for a in arrays]
        up[index][i] += eps
        down[index][i] -= eps
        grad[i] = np.sum((f(*up) - f(*down)) * weights) / (2 * eps)
    return weights, grad


def analytic_grad(name, arrays, weights, index, constants=(), **params):
    tensors = [np.asarray(a) if i in constants else gl.tensor(a, requires_grad=True)
               for i, a in enumerate(arrays)]
    out = getattr(gl, name)(*tensors, **params)
    out.backward(weights)
    return tensors[index].grad


def check(name, arrays, constants=(), **params):
    op_forward = getattr(gl.ops, name).op.forward
    for index in range(len(arrays)):
        if index in constants:
            continue
        f = lambda *a: np.asarray(op_forward(*a, **params))  # noqa: E731
        weights, numeric = nudge_grad(f, arrays, index)
        analytic = analytic_grad(name, arrays, weights, index, constants, **params)
        assert np.shape(analytic) == np.shape(arrays[index])
        np.testing.assert_allclose(analytic, numeric, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "gelu"])
def test_activation_grads_match_nudges(name):
    check(name, [RNG.uniform(-4, 4, size=(3, 4))])


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "gelu"])
def test_activations_stay_finite_far_out(name):
    x = gl.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], requires_grad=True)
    gl.sum(getattr(gl, name)(x)).backward()
    assert np.all(np.isfinite(x.grad))


@pytest.mark.parametrize("name", ["sigmoid", "softplus", "gelu"])
def test_activation_grads_match_nudges_in_the_far_tails(name):
    # gelu's 1 + tanh(z) cancels below x = -5; tiny values must keep their digits
    check(name, [np.array([-9.0, -7.5, -6.0, 6.0, 7.5, 9.0])])


def test_gelu_matches_its_tanh_formula_and_known_values():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
    expected = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(gl.gelu(gl.tensor(x)).data, expected)
    assert gl.gelu(gl.tensor(1.0)).item() == pytest.approx(0.8411919906)


@pytest.mark.parametrize("axis,keepdims", [(None, False), (None, True), (0, False), (-1, True),
                                           ((0, 2), False), ((1,), True)])
def test_logsumexp_grads_match_nudges_for_every_axis(axis, keepdims):
    check("logsumexp", [RNG.uniform(-3, 3, size=(2, 3, 4))], axis=axis, keepdims=keepdims)


def test_logsumexp_does_not_overflow_and_matches_numpy():
    x = np.array([[1000.0, 1000.0], [-1.0, 2.0]])
    out = gl.logsumexp(gl.tensor(x), axis=1).data
    np.testing.assert_allclose(out, [1000.0 + np.log(2.0), np.log(np.exp(-1.0) + np.exp(2.0))])
    assert gl.logsumexp(gl.tensor(x), axis=(0, 1), keepdims=True).shape == (1, 1)


def test_softmax_cross_entropy_grads_match_nudges_and_labels_get_none():
    logits, labels = RNG.uniform(-3, 3, size=(4, 5)), np.array([0, 4, 2, 2])
    check("softmax_cross_entropy", [logits, labels], constants=(1,))
    logits, labels = gl.tensor(logits, requires_grad=True), gl.tensor(labels)
    gl.mean(gl.softmax_cross_entropy(logits, labels)).backward()
    assert logits.grad.shape == (4, 5) and labels.grad is None


def test_softmax_cross_entropy_equals_negative_log_softmax_at_the_label():
    logits = np.array([[2.0, 1.0, 0.1], [0.0, 0.0, 0.0]])
    out = gl.softmax_cross_entropy(gl.tensor(logits), np.array([0, 2])).data
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(out, -np.log(softmax[[0, 1], [0, 2]]))


def test_softmax_cross_entropy_keeps_its_precision_on_a_confident_correct_row():
    # -log softmax([10, -5])[0] = log1p(exp(-15)); logsumexp - picked would lose 9 digits
    logits = gl.tensor([10.0, -5.0], requires_grad=True)
    loss = gl.softmax_cross_entropy(logits, np.int64(0))
    loss.backward()
    assert loss.item() == pytest.approx(np.log1p(np.exp(-15.0)), rel=1e-14)
    np.testing.assert_allclose(logits.grad, np.array([-1, 1]) * np.exp(-15.0) / (1 + np.exp(-15.0)),
                               rtol=1e-14)


def test_softmax_cross_entropy_broadcasts_labels_over_leading_rows():
    logits = RNG.uniform(-2, 2, size=(2, 3, 4))
    labels = np.array([1, 0, 3])  # shared by both leading rows
    check("softmax_cross_entropy", [logits, labels], constants=(1,))


def test_softmax_cross_entropy_refuses_labels_that_require_grad():
    logits = gl.tensor(np.zeros((2, 3)), requires_grad=True)
    labels = gl.tensor([0.0, 1.0], requires_grad=True)
    with pytest.raises(gl.OpCallError, match="constant"):
        gl.softmax_cross_entropy(logits, labels)


def test_softmax_cross_entropy_rejects_labels_out_of_range():
    with pytest.raises(gl.OpRuleError, match=r"labels must lie in \[0, 3\)"):
        gl.softmax_cross_entropy(gl.tensor(np.zeros((2, 3))), np.array([0, 3]))


def test_softmax_cross_entropy_accepts_labels_as_a_python_list():
    out = gl.softmax_cross_entropy(gl.tensor(np.zeros((2, 3))), [0, 2])
    np.testing.assert_allclose(out.data, np.log(3.0))


def test_maximum_grads_match_nudges_with_broadcasting_away_from_ties():
    a = RNG.integers(-5, 5, size=(3, 1)) + RNG.uniform(-0.2, 0.2, size=(3, 1))
    b = RNG.integers(-5, 5, size=(4,)) + 0.5 + RNG.uniform(-0.2, 0.2, size=(4,))
    check("maximum", [a, b])


def test_maximum_splits_the_grad_in_half_on_a_tie():
    a = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = gl.tensor([1.0, 5.0, 0.0], requires_grad=True)
    gl.sum(gl.maximum(a, b)).backward()
    np.testing.assert_array_equal(a.grad, [0.5, 0.0, 1.0])
    np.testing.assert_array_equal(b.grad, [0.5, 1.0, 0.0])


def test_every_op_is_stamped_with_this_distribution():
    from importlib.metadata import version

    for name in ["sigmoid", "softplus", "gelu", "logsumexp", "softmax_cross_entropy", "maximum"]:
        op = getattr(gl.ops, name).op
        assert (op.plugin, op.distribution) == ("example", "gradledger-example-ops")
        assert op.version == version("gradledger-example-ops")
