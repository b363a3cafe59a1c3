"""Rules that remember (issue 20): an op's forward saves values for its rule
(`Op(saves=True)`), and the tape keeps only the inputs and outputs a rule `reads`."""

import dataclasses
import gc
import weakref

import gradledger as gl
import numpy as np
import pytest
from gradledger.errors import OpDefinitionError, OpRuleError
from numeric import nudge_grads

rng = np.random.default_rng(20)


def _register(*ops):
    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            for op in ops:
                registry.register(op)

    gl.register_plugin(Plugin(), name="remembering")


# -- the tape keeps only what a rule reads -------------------------------------------------


def test_an_input_its_rule_does_not_read_is_freed_after_the_forward():
    x = gl.tensor(rng.normal(size=(1000, 100)), requires_grad=True)
    h = x + 1.0  # add reads nothing: its output is not kept either
    y = gl.exp(h)  # exp reads only its output
    big = weakref.ref(h.data)
    del h
    gc.collect()
    assert big() is None  # dead before backward
    gl.sum(y).backward()
    np.testing.assert_allclose(x.grad, np.exp(x.data + 1.0))


def test_an_input_its_rule_reads_is_kept_until_backward():
    # the control for the test above: sin reads its input, so the tape keeps it
    x = gl.tensor(rng.normal(size=(1000, 100)), requires_grad=True)
    h = x + 1.0
    y = gl.sin(h)
    big = weakref.ref(h.data)
    del h
    gc.collect()
    assert big() is not None
    gl.sum(y).backward()
    assert big() is None  # backward freed the call
    np.testing.assert_allclose(x.grad, np.cos(x.data + 1.0))


def test_relu_keeps_its_output_and_drops_its_input():
    x = gl.tensor(rng.normal(size=(200, 50)), requires_grad=True)
    h = x * 2.0
    y = gl.relu(h)
    node = y._node
    assert node.out is y.data
    assert not isinstance(node.arrays[0], np.ndarray)  # an Unread: shape and dtype only
    assert node.arrays[0].shape == (200, 50) and node.arrays[0].dtype == np.float64
    gl.sum(y).backward()
    np.testing.assert_array_equal(x.grad, np.where(x.data > 0, 2.0, 0.0))


def test_constants_are_kept_for_the_drawing_and_replay():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    y = x + np.array([3.0, 4.0])  # the array is a constant: kept, whatever add reads
    np.testing.assert_array_equal(y._node.arrays[1], [3.0, 4.0])


def test_a_rule_reading_an_input_it_did_not_declare_gets_an_error_naming_the_op(fresh_host):
    _register(gl.Op("square_out", np.square, local_grad=lambda x, out: (2.0 * x,),
                    signature="()->()", reads=("out",)))
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    loss = gl.sum(gl.square_out(x))
    with pytest.raises(OpRuleError, match=r"op 'square_out' .*input 1.*reads=\('out',\)"):
        loss.backward()


def test_a_vjp_reading_an_undeclared_input_through_numpy_gets_the_same_error(fresh_host):
    _register(gl.Op("total", lambda x: np.sum(x), vjp=lambda g, x, out: (np.ones_like(x) * g,),
                    signature="(*)->()", reads=()))
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    loss = gl.total(x)
    with pytest.raises(OpRuleError, match="op 'total'.*does not declare it reads"):
        loss.backward()


def test_a_rule_may_read_the_shape_and_dtype_of_an_input_it_does_not_read(fresh_host):
    _register(gl.Op("total", lambda x: np.sum(x),
                    vjp=lambda g, x, out: (np.full(x.shape, g, dtype=x.dtype),),
                    signature="(*)->()", reads=()))
    x = gl.tensor(np.ones((2, 3), dtype=np.float32), requires_grad=True)
    gl.total(x).backward()
    assert x.grad.dtype == np.float32
    np.testing.assert_array_equal(x.grad, np.ones((2, 3)))


def test_reads_naming_no_input_is_refused_when_registered(fresh_host):
    with pytest.raises(OpDefinitionError, match="reads names 'y'.*'x'"):
        _register(gl.Op("bad", lambda x: np.exp(x), local_grad=lambda x, out: (out,),
                        signature="()->()", reads=("y",)))


# -- saved values --------------------------------------------------------------------------


def _noisy_scale_ops(seen):
    """y = x * noise, the noise drawn from a Generator param and saved for the rule."""

    def forward(x, rng):
        noise = rng.uniform(0.5, 1.5, np.shape(x))
        seen.append(noise)
        return x * noise, (noise,)

    def vjp(g, x, out, saved, rng):
        (noise,) = saved
        return (g * noise,)

    return gl.Op("noisy_scale", forward, vjp=vjp, signature="(*)->(*)", saves=True, reads=(),
                 order=1)


def test_the_rule_receives_what_the_forward_saved(fresh_host):
    seen = []
    _register(_noisy_scale_ops(seen))
    x = gl.tensor(np.arange(4.0), requires_grad=True)
    y = gl.noisy_scale(x, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(y.data, x.data * seen[0])  # the output alone
    gl.sum(y * np.array([1.0, 2.0, 3.0, 4.0])).backward()
    np.testing.assert_array_equal(x.grad, seen[0] * [1.0, 2.0, 3.0, 4.0])  # that very draw


def test_saved_values_are_read_only_until_backward_releases_them(fresh_host):
    seen = []
    _register(_noisy_scale_ops(seen))
    x = gl.tensor(np.arange(4.0), requires_grad=True)
    y = gl.noisy_scale(x, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="read-only"):
        seen[0][0] = 100.0
    gl.sum(y).backward()
    seen[0][0] = 100.0  # released with the call


def test_saved_values_are_not_kept_without_a_graph(fresh_host):
    seen = []
    _register(_noisy_scale_ops(seen))
    x = gl.tensor(np.arange(4.0))  # requires no grad: nothing recorded
    y = gl.noisy_scale(x, rng=np.random.default_rng(0))
    assert y._node is None
    seen[0][0] = 1.0  # never locked


def test_a_saving_forward_that_returns_no_pair_gets_an_error_naming_the_op(fresh_host):
    _register(gl.Op("forgot", lambda x: x * 2.0, vjp=lambda g, x, out, saved: (2.0 * g,),
                    signature="(*)->(*)", saves=True))
    with pytest.raises(OpRuleError, match=r"op 'forgot'.*saves=True.*\(out, saved\)"):
        gl.forgot(gl.tensor([1.0, 2.0], requires_grad=True))


def test_op_forward_of_a_saving_op_is_the_output_alone_and_replace_keeps_it():
    op = gl.ops.cross_entropy.op
    logits, labels = rng.normal(size=(3, 4)), np.array([0, 3, 1])
    out = op.forward(logits, labels)
    assert np.ndim(out) == 0
    loss, (local,) = op.saving_forward(logits, labels)
    assert loss == out and local.shape == (3, 4)
    again = dataclasses.replace(op, name="cross_entropy2")
    assert again.saving_forward is op.saving_forward and again.forward(logits, labels) == out


def test_a_saving_rule_called_without_saved_gets_the_forwards_values():
    # how the verifier calls a rule: rule(*arrays, out=...), no saved=
    op = gl.ops.cross_entropy.op
    logits, labels = rng.normal(size=(3, 4)), np.array([0, 3, 1])
    grad, none = op.vjp(np.float64(1.0), logits, labels, out=op.forward(logits, labels))
    assert none is None
    (want,) = nudge_grads(lambda z: gl.cross_entropy(gl.tensor(z), labels).data, [logits])
    np.testing.assert_allclose(grad, want, rtol=1e-6, atol=1e-9)


# -- cross_entropy saves softmax - onehot --------------------------------------------------


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_grad_from_its_saved_values_matches_nudges(reduction):
    logits = rng.normal(size=(5, 3)) * 3
    labels = np.array([0, 2, 1, 1, 0])
    weights = rng.normal(size=(5,)) if reduction == "none" else 1.0

    def loss(z):
        return np.sum(gl.cross_entropy(gl.tensor(z), labels, reduction=reduction).data
                      * weights)

    z = gl.tensor(logits, requires_grad=True)
    out = gl.cross_entropy(z, labels, reduction=reduction)
    assert out._node.saved is not None
    gl.sum(out * weights).backward()
    (want,) = nudge_grads(loss, [logits])
    np.testing.assert_allclose(z.grad, want, rtol=1e-6, atol=1e-9)


# -- higher order --------------------------------------------------------------------------


def _program(x, w, labels):
    h = gl.relu(x @ w + 0.5)
    return gl.cross_entropy(gl.exp(h * 0.3) - h, labels)


def test_second_order_through_the_adopted_ops_matches_nudges_of_the_first_order():
    x, w = rng.normal(size=(4, 3)), rng.normal(size=(3, 5))
    labels = np.array([0, 4, 2, 1])
    direction = rng.normal(size=w.shape)

    def first(w_value):  # the array path (saved values, dropped inputs)
        t = gl.tensor(w_value, requires_grad=True)
        _program(gl.tensor(x), t, labels).backward()
        return t.grad

    wt = gl.tensor(w, requires_grad=True)
    (g,) = gl.grad(_program(gl.tensor(x), wt, labels), [wt], create_graph=True)
    (hvp,) = gl.grad(gl.sum(g * direction), [wt])
    (want,) = nudge_grads(lambda v: float(np.sum(first(v) * direction)), [w], eps=1e-5)
    np.testing.assert_allclose(hvp, want, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(g.data, first(w), rtol=1e-12, atol=1e-14)


def test_the_verifier_checks_the_adopted_ops_to_second_order():
    from gradledger.verify import verify_op

    for name in ("cross_entropy", "relu", "exp", "add", "sub"):
        report = verify_op(name, examples=15)
        assert report.status == "PASS", str(report)


def test_a_verified_op_with_saved_values_passes_the_verifier(fresh_host):
    from gradledger.verify import verify_op

    def forward(x):
        e = np.exp(x - np.max(x, axis=-1, keepdims=True))
        s = e / np.sum(e, axis=-1, keepdims=True)
        return s, (s,)

    def vjp(g, x, out, saved):
        s = saved[0] if saved is not None else out  # run on Tensors: the output, linked
        return (s * (g - np.sum(g * s, axis=-1, keepdims=True)),)

    _register(gl.Op("softmax2", forward, vjp=vjp, signature="(n)->(n)", saves=True,
                    reads=("out",)))
    assert verify_op("softmax2", examples=20).status == "PASS"


def test_the_undeclared_input_error_names_the_op_under_create_graph_too(fresh_host):
    _register(gl.Op("square_out", np.square, local_grad=lambda x, out: (2.0 * x,),
                    signature="()->()", reads=("out",)))
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    loss = gl.sum(gl.square_out(x))
    with pytest.raises(OpRuleError, match=r"op 'square_out' .*input 1.*reads=\('out',\)"):
        gl.grad(loss, [x], create_graph=True)


def test_the_undeclared_input_error_names_the_op_when_a_tensor_meets_it(fresh_host):
    # on Tensors the rule's `x * tensor` reaches the tape with the Unread as an input
    _register(gl.Op("cube_out", lambda x: x ** 3,
                    local_grad=lambda x, out: (3.0 * (out / out) * x * x,),
                    signature="()->()", reads=("out",)))
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    loss = gl.sum(gl.cube_out(x))
    with pytest.raises(OpRuleError, match=r"op 'cube_out' .*input 1.*reads=\('out',\)"):
        gl.grad(loss, [x], create_graph=True)


def test_a_saved_value_returned_as_the_grad_is_copied_into_the_leaf(fresh_host):
    def forward(x):
        return np.sum(x * x), (2.0 * x,)

    _register(gl.Op("sumsq", forward, vjp=lambda g, x, out, saved: (saved[0],),
                    signature="(*)->()", saves=True, reads=()))
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    loss = gl.sumsq(x)
    loss.backward(retain_graph=True)
    x.grad[0] = 100.0  # the leaf's grad is its own array...
    x.grad = None
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])  # ...so the saved value is intact
