"""Saved values where they pay (issue 20): max and min save their winners, sort its
permutation, dropout its mask (drawn from a Generator or an int seed); the verifier
checks that saved values are deterministic and that a Generator op saves its draw."""

import gc
import weakref

import gradledger as gl
import numpy as np
import pytest
from gradledger.errors import OpCallError, OpDefinitionError
from numeric import nudge_grads

rng = np.random.default_rng(2020)


def _register(*ops):
    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            for op in ops:
                registry.register(op)

    gl.register_plugin(Plugin(), name="saving")


# -- max and min: the winners ------------------------------------------------------------


@pytest.mark.parametrize("name", ["max", "min", "sort", "sum", "mean", "cumsum"])
def test_reductions_and_sort_release_their_input_before_backward(name):
    x = gl.tensor(rng.normal(size=(300, 200)), requires_grad=True)
    h = x * 2.0
    y = getattr(gl, name)(h, axis=1)
    big = weakref.ref(h.data)
    del h
    gc.collect()
    assert big() is None  # only the winners or the permutation are kept, or nothing
    gl.sum(y * y).backward()
    assert x.grad.shape == x.shape


def test_tied_maxima_share_the_grad_and_min_finds_its_own_winners():
    x = gl.tensor(np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]]), requires_grad=True)
    (gl.max(x, axis=1) * np.array([1.0, 2.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5], [2.0, 0.0, 0.0]])
    x.grad = None
    gl.min(x, 0, keepdims=True).sum().backward()
    np.testing.assert_array_equal(x.grad, [[1.0, 0.0, 0.0], [0.0, 1.0, 1.0]])


def test_a_float32_max_books_a_float32_grad():
    x = gl.tensor(np.array([[1.0, 3.0, 3.0]], dtype=np.float32), requires_grad=True)
    gl.max(x).backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, [[0.0, 0.5, 0.5]])


# -- sort: the permutation -----------------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 0, None])
def test_sort_grads_from_its_saved_permutation_match_nudges(axis):
    value = rng.normal(size=(4, 5))
    weights = rng.normal(size=(20,) if axis is None else (4, 5))
    x = gl.tensor(value, requires_grad=True)
    out = gl.sort(x, axis=axis)
    np.testing.assert_array_equal(out.data, np.sort(value, axis=axis))
    gl.sum(out * weights).backward()
    (want,) = nudge_grads(lambda v: np.sum(np.sort(v, axis=axis) * weights), [value])
    np.testing.assert_allclose(x.grad, want, rtol=1e-7, atol=1e-9)


# -- dropout: the mask, from a Generator or a seed ------------------------------------------


def test_dropout_with_a_generator_draws_anew_each_call_and_books_the_mask_it_drew():
    x = gl.tensor(np.ones((20, 30)), requires_grad=True)
    draws = np.random.default_rng(7)
    first = gl.dropout(x, p=0.5, rng=draws)
    second = gl.dropout(x, p=0.5, rng=draws)
    assert not np.array_equal(first.data, second.data)  # a fresh mask per call
    want_first = (np.random.default_rng(7).random((20, 30)) >= 0.5) * 2.0
    np.testing.assert_array_equal(first.data, want_first)
    gl.sum(first).backward()
    np.testing.assert_array_equal(x.grad, want_first)  # the very draw, not a redraw


def test_dropout_with_an_int_seed_still_gives_the_same_mask_each_call():
    x = gl.tensor(np.full((6, 7), 3.0), requires_grad=True)
    a, b = gl.dropout(x, 0.3, 11), gl.dropout(x, p=0.3, seed=11)
    want = (np.random.default_rng(11).random((6, 7)) >= 0.3) / 0.7
    np.testing.assert_allclose(a.data, 3.0 * want)
    np.testing.assert_array_equal(a.data, b.data)
    gl.sum(a).backward()
    np.testing.assert_allclose(x.grad, want)


def test_dropout_refuses_an_rng_that_is_no_generator():
    x = gl.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(OpCallError, match=r"dropout.*np\.random\.Generator.*got int"):
        gl.dropout(x, p=0.5, rng=3)


# -- higher order: saved constants reach the rules run on Tensors ---------------------------


def _program(w, x, draw_seed):
    h = gl.sort(x @ w, axis=1) * gl.max(x @ w, axis=1, keepdims=True)
    h = gl.dropout(h, p=0.25, rng=np.random.default_rng(draw_seed))
    return gl.sum(h * h * h) + gl.sum(gl.min(h, axis=0) ** 2)


def test_second_order_through_max_min_sort_and_dropout_matches_nudges_of_the_first_order():
    x, w = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    direction = rng.normal(size=w.shape)

    def first(w_value):  # the array path: winners, permutation and mask saved
        t = gl.tensor(w_value, requires_grad=True)
        _program(t, gl.tensor(x), 5).backward()
        return t.grad

    wt = gl.tensor(w, requires_grad=True)
    (g,) = gl.grad(_program(wt, gl.tensor(x), 5), [wt], create_graph=True)
    np.testing.assert_allclose(g.data, first(w), rtol=1e-12, atol=1e-12)
    (hvp,) = gl.grad(gl.sum(g * direction), [wt])
    (want,) = nudge_grads(lambda v: float(np.sum(first(v) * direction)), [w], eps=1e-5)
    np.testing.assert_allclose(hvp, want, rtol=1e-4, atol=1e-6)


def test_saved_constants_without_saves_is_refused_when_registered(fresh_host):
    with pytest.raises(OpDefinitionError, match="saved_constants=True.*needs saves=True"):
        _register(gl.Op("half", lambda x: x / 2, local_grad=lambda x, out: (0.5,),
                        signature="()->()", saved_constants=True))


# -- the verifier -------------------------------------------------------------------------


def _noise(save: bool, rule_scale: float = 1.0):
    """y = x * (1 + noise), the noise drawn from a Generator param."""

    def forward(x, rng):
        noise = 1.0 + 0.5 * rng.standard_normal(np.shape(x))
        return (x * noise, (noise,)) if save else x * noise

    def saving_vjp(g, x, out, saved, rng):
        return (g * saved[0] * rule_scale,)

    def redrawing_vjp(g, x, out, rng):  # no draw to read: it draws again
        return (g * (1.0 + 0.5 * rng.standard_normal(np.shape(x))),)

    params = {"rng": lambda: __import__("hypothesis").strategies.integers(0, 2**32 - 1).map(
        np.random.default_rng)}
    return gl.Op("noise", forward, vjp=saving_vjp if save else redrawing_vjp,
                 signature="(*)->(*)", saves=save, saved_constants=save,
                 reads=() if save else None, params={"rng": params["rng"]()},
                 dtypes=("float64",))


def test_a_generator_op_that_saves_its_draw_passes_the_verifier(fresh_host):
    from gradledger.verify import verify_op

    _register(_noise(save=True))
    report = verify_op("noise", examples=15)
    assert report.status == "PASS", str(report)


def test_a_generator_op_whose_rule_misreads_its_draw_fails_the_verifier(fresh_host):
    from gradledger.verify import verify_op

    _register(_noise(save=True, rule_scale=1.1))  # the control: a wrong rule is caught
    report = verify_op("noise", examples=15)
    assert report.status == "FAIL"
    assert report.failure.check != "saved values"


def test_a_generator_op_that_saves_nothing_is_told_to_save_its_draw(fresh_host):
    from gradledger.verify import verify_op

    _register(_noise(save=False))
    report = verify_op("noise", examples=5)
    assert report.status == "FAIL"
    assert report.failure.check == "saved values"
    assert "saves nothing" in report.failure.message
    assert "saves=True" in report.failure.message


def test_a_saved_value_that_is_no_function_of_the_inputs_fails_the_verifier(fresh_host):
    from gradledger.verify import verify_op

    def forward(x):  # the global generator: two forwards save different numbers
        jitter = np.random.random(np.shape(x))
        return x * 2.0, (jitter,)

    def vjp(g, x, out, saved):
        return (g * 2.0 + 0.0 * saved[0],)

    _register(gl.Op("jittery", forward, vjp=vjp, signature="(*)->(*)", saves=True, reads=()))
    report = verify_op("jittery", examples=5)
    assert report.status == "FAIL"
    assert report.failure.check == "saved values"
    assert "not a deterministic function of the inputs" in report.failure.message


def test_the_verifier_passes_the_builtins_that_adopted_saved_values():
    from gradledger.verify import verify_op

    for name in ("max", "min", "sort", "dropout"):
        report = verify_op(name, examples=15)
        assert report.status == "PASS", str(report)
