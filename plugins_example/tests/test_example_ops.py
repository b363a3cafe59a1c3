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


@pytest.mark.parametrize("name", ["gelu", "mish"])
def test_activation_grads_match_nudges(name):
    check(name, [RNG.uniform(-4, 4, size=(3, 4))])


@pytest.mark.parametrize("name", ["gelu", "mish"])
def test_activations_stay_finite_far_out(name):
    x = gl.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], requires_grad=True)
    gl.sum(getattr(gl, name)(x)).backward()
    assert np.all(np.isfinite(x.grad))


@pytest.mark.parametrize("name", ["gelu", "mish"])
def test_activation_grads_match_nudges_in_the_far_tails(name):
    # gelu's 1 + tanh(z) cancels below x = -5; tiny values must keep their digits
    check(name, [np.array([-9.0, -7.5, -6.0, 6.0, 7.5, 9.0])])


def test_gelu_matches_its_tanh_formula_and_known_values():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
    expected = 0.5 * x * (1 + np.tanh(np.sqrt(2 / np.pi) * (x + 0.044715 * x**3)))
    np.testing.assert_allclose(gl.gelu(gl.tensor(x)).data, expected)
    assert gl.gelu(gl.tensor(1.0)).item() == pytest.approx(0.8411919906)


def test_mish_matches_its_formula():
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0])
    expected = x * np.tanh(np.log(1 + np.exp(x)))
    np.testing.assert_allclose(gl.mish(gl.tensor(x)).data, expected, rtol=1e-14)


@pytest.mark.parametrize("delta", [0.5, 1.0, 2.0])
def test_huber_is_quadratic_within_delta_and_linear_beyond(delta):
    x = np.array([-3.0, -0.4, 0.0, 0.3, 2.5])
    expected = [r * r / 2 if abs(r) <= delta else delta * (abs(r) - delta / 2) for r in x]
    np.testing.assert_allclose(gl.huber(gl.tensor(x), delta=delta).data, expected)
    check("huber", [np.array([-3.0, -0.4, 0.3, 2.5])], delta=delta)


def test_cosine_similarity_matches_its_definition_and_nudges_with_broadcasting():
    a, b = RNG.uniform(-2, 2, size=(3, 1, 4)), RNG.uniform(-2, 2, size=(2, 4))
    expected = np.einsum("...i,...i", a, b) / (np.linalg.norm(a, axis=-1)
                                              * np.linalg.norm(b, axis=-1))
    np.testing.assert_allclose(gl.cosine_similarity(gl.tensor(a), gl.tensor(b)).data, expected)
    check("cosine_similarity", [a, b])


def test_none_of_these_ops_is_a_builtin_name():
    import gradledger_builtin

    builtins = {op.name for family in gradledger_builtin.FAMILIES for op in family.OPS}
    assert not builtins & {"gelu", "mish", "huber", "cosine_similarity"}


def test_every_op_is_stamped_with_this_distribution():
    from importlib.metadata import version

    for name in ["gelu", "mish", "huber", "cosine_similarity"]:
        op = getattr(gl.ops, name).op
        assert (op.plugin, op.distribution) == ("example", "gradledger-example-ops")
        assert op.version == version("gradledger-example-ops")
