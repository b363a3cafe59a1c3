"""The tape's bookkeeping: depth, memory, grad mode, intermediates, accumulation."""

import gc
import threading
import weakref

import gradledger as gl
import numpy as np
import pytest


def test_chain_of_200000_ops_backpropagates_without_recursion_error():
    x = gl.tensor(1.0, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
        y = y + 0.0
    y.backward()
    assert x.grad == 1.0


def test_saved_arrays_are_released_after_backward_with_gc_disabled():
    gc.disable()
    try:
        x = gl.tensor(np.linspace(-1, 1, 5), requires_grad=True)
        hidden = gl.exp(x)
        saved = weakref.ref(hidden.data)
        hidden_tensor = weakref.ref(hidden)
        loss = gl.sum(hidden * 2.0)
        del hidden
        assert hidden_tensor() is None, "an intermediate nobody holds must not be kept alive"
        assert saved() is not None, "the graph must hold what backward needs"
        loss.backward()
        assert saved() is None, "backward must release the graph's saved arrays"
        np.testing.assert_allclose(x.grad, 2 * np.exp(x.data))
    finally:
        gc.enable()


def test_retain_graph_keeps_saved_arrays_for_a_second_backward():
    gc.disable()
    try:
        x = gl.tensor(np.array([0.5, 1.5]), requires_grad=True)
        hidden = gl.exp(x)
        saved = weakref.ref(hidden.data)
        loss = gl.sum(hidden)
        del hidden
        loss.backward(retain_graph=True)
        assert saved() is not None
        loss.backward()
        np.testing.assert_allclose(x.grad, 2 * np.exp(x.data))
        assert saved() is None
    finally:
        gc.enable()


def test_held_intermediate_gets_its_grad_and_accumulates_across_paths():
    x = gl.tensor(2.0, requires_grad=True)
    a = x * 3
    b = a * a + a  # a reaches the loss on three paths
    b.backward()
    assert a.grad == 2 * 6.0 + 1
    assert x.grad == 3 * (2 * 6.0 + 1)


def test_no_grad_records_nothing_and_is_thread_local():
    x = gl.tensor(1.0, requires_grad=True)
    seen_in_other_thread = []

    def other():
        seen_in_other_thread.append((x * 2).requires_grad)

    with gl.no_grad():
        y = x * 2
        assert not gl.is_grad_enabled()
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
    assert not y.requires_grad and y.op is None
    assert seen_in_other_thread == [True]
    assert gl.is_grad_enabled()
    assert (x * 2).requires_grad


def test_non_scalar_backward_with_an_explicit_grad_books_the_vjp():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    y.backward(np.array([1.0, 0.5, -1.0]))
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, -6.0])


def test_grad_of_a_broadcast_input_has_the_input_shape():
    a = gl.tensor(np.ones((3, 1)), requires_grad=True)
    b = gl.tensor(np.ones(4), requires_grad=True)
    gl.sum(a * b).backward()
    assert a.grad.shape == (3, 1) and b.grad.shape == (4,)
    np.testing.assert_array_equal(a.grad, np.full((3, 1), 4.0))
    np.testing.assert_array_equal(b.grad, np.full(4, 3.0))


def test_views_of_one_cotangent_meeting_in_accumulation_book_correctly():
    x = gl.tensor(np.arange(6.0), requires_grad=True)
    y = x.reshape(shape=(2, 3))
    z = gl.reshape(y, shape=(6,))
    loss = gl.sum(z * 2.0) + gl.sum(y * 3.0) + gl.sum(x)
    loss.backward()
    np.testing.assert_array_equal(x.grad, np.full(6, 6.0))
    x.grad[0] = 100.0  # a booked grad is the tensor's own array, aliasing nothing
    assert y.grad[0, 0] == 5.0


def test_a_leaf_used_by_ops_that_do_not_need_grad_keeps_no_ledger():
    x = gl.tensor(2.0)
    w = gl.tensor(3.0, requires_grad=True)
    (x * w).backward()
    assert x.grad is None and w.grad == 2.0


def test_float32_graph_stays_float32_end_to_end():
    w = gl.tensor(np.ones((3, 2), np.float32), requires_grad=True)
    x = np.ones((4, 3), np.float32)
    loss = gl.mean(gl.relu(x @ w + 1) ** 2)
    assert loss.dtype == np.float32
    loss.backward()
    assert w.grad.dtype == np.float32


def test_detach_cuts_the_graph():
    x = gl.tensor(2.0, requires_grad=True)
    y = (x * x).detach()
    z = y * x
    z.backward()
    assert x.grad == 4.0


@pytest.mark.parametrize("value", [3.0, 2, [1.0, 2.0]])
def test_tensor_accepts_numbers_and_lists_and_copies_arrays(value):
    t = gl.tensor(value)
    np.testing.assert_array_equal(t.data, np.asarray(value))
    source = np.array([1.0, 2.0])
    copy = gl.tensor(source)
    source[0] = 9.0
    assert copy.data[0] == 1.0


class AliasingRules:
    """vjps that hand back arrays the tape must not book as two tensors' shared grad."""

    @gl.hookimpl
    def gradledger_register_ops(self, registry):
        registry.register(gl.Op(
            "pass_cotangent", lambda a, b: a + b,
            vjp=lambda g, a, b, out: (g, g), signature="(),()->()",
        ))
        shared = {}

        def same_fresh_twice(g, a, b, out):
            shared["grad"] = np.array(g, copy=True)
            return shared["grad"], shared["grad"]

        registry.register(gl.Op(
            "same_fresh_twice", lambda a, b: a + b, vjp=same_fresh_twice,
            signature="(),()->()",
        ))


@pytest.mark.parametrize("name", ["pass_cotangent", "same_fresh_twice"])
def test_leaves_fed_one_shared_array_by_a_vjp_get_grads_that_do_not_alias(fresh_host, name):
    gl.register_plugin(AliasingRules(), name="aliasing")
    a = gl.tensor(np.ones(3), requires_grad=True)
    b = gl.tensor(np.ones(3), requires_grad=True)
    getattr(gl, name)(a, b).backward(np.array([1.0, 2.0, 3.0]))
    a.grad[0] = 100.0
    np.testing.assert_array_equal(b.grad, [1.0, 2.0, 3.0])


def test_a_matmul_weight_grad_is_booked_without_an_extra_copy():
    w = gl.tensor(np.ones((3, 2)), requires_grad=True)
    x = np.arange(6.0).reshape(2, 3)
    bookings = []
    gl.sum(x @ w).backward(trace=bookings.append)
    into_w = [b for b in bookings if b.target is w]
    assert len(into_w) == 1 and into_w[0].contribution is w.grad
    np.testing.assert_array_equal(w.grad, x.T @ np.ones((2, 2)))


def test_backward_seed_is_copied_so_rules_never_see_the_callers_array():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    seed = np.array([1.0, 1.0])
    bookings = []
    (x * 2.0).backward(seed, trace=bookings.append)
    assert bookings[0].contribution is not seed
    np.testing.assert_array_equal(seed, [1.0, 1.0])


def test_a_list_given_to_a_constant_input_keeps_its_integer_dtype(fresh_host):
    seen = []

    class Labels:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            def forward(x, labels):
                seen.append(np.asarray(labels).dtype)
                return x * 1.0

            registry.register(gl.Op(
                "take_labels", forward, local_grad=lambda x, labels, out: (1.0, None),
                signature="(),()->()", constants=(1,),
            ))

    gl.register_plugin(Labels(), name="labels")
    gl.take_labels(gl.tensor([1.0, 2.0]), [0, 1])
    assert seen == [np.dtype(np.int64)]


def test_a_scalar_grad_is_a_numpy_scalar_whichever_rule_booked_it():
    for op in (lambda s: gl.sum(s), lambda s: gl.reshape(s, shape=(1,)).sum(), lambda s: s * 2):
        s = gl.tensor(2.0, requires_grad=True)
        op(s).backward()
        assert isinstance(s.grad, np.float64), type(s.grad)


def test_under_no_grad_a_tensor_that_requires_grad_may_feed_a_constant_input():
    with gl.no_grad():
        y = gl.tensor([2.0]) ** gl.tensor(2.0, requires_grad=True)
    assert y.data[0] == 4.0 and not y.requires_grad


def test_the_two_leaves_of_an_add_get_grads_that_do_not_alias():
    a = gl.tensor(np.ones(3), requires_grad=True)
    b = gl.tensor(np.ones(3), requires_grad=True)
    (a + b - 0.0).backward(np.array([1.0, 2.0, 3.0]))
    a.grad[0] = 100.0
    np.testing.assert_array_equal(b.grad, [1.0, 2.0, 3.0])


def test_a_vjp_giving_none_for_its_only_consumer_leaves_the_input_without_a_grad():
    from gradledger.extend import Op

    class NoGrad:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(Op("blocked", lambda x: x * 1.0, vjp=lambda g, x, out: (None,),
                                 signature="(*)->(*)"))

    gl.register_plugin(NoGrad(), name="blocked_ops")
    try:
        x = gl.tensor([1.0, 2.0], requires_grad=True)
        middle = x * 2.0
        gl.sum(gl.blocked(middle)).backward()
        assert x.grad is None
    finally:
        gl.unregister_plugin("blocked_ops")


def test_a_python_number_that_overflows_float16_warns_every_time():
    x = gl.tensor(np.float16(1.0), requires_grad=True)
    for _ in range(2):
        with np.errstate(over="raise"), pytest.raises(FloatingPointError):
            x * 70000
