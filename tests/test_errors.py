"""Every misuse gets an error that names what was expected, what came, and the culprit."""

import gradledger as gl
import numpy as np
import pytest
from gradledger import Op, hookimpl


def test_backward_on_a_non_scalar_without_grad_says_to_pass_grad():
    y = gl.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(gl.BackwardError, match=r"shape \(2,\).*grad="):
        y.backward()


def test_backward_with_a_wrongly_shaped_grad_names_both_shapes():
    y = gl.tensor([1.0, 2.0], requires_grad=True) * 2
    with pytest.raises(gl.BackwardError, match=r"\(2,\).*\(3,\)"):
        y.backward(np.ones(3))


def test_second_backward_through_a_freed_graph_says_retain_graph():
    x = gl.tensor(2.0, requires_grad=True)
    loss = x * x
    loss.backward()
    with pytest.raises(gl.BackwardError, match="retain_graph=True"):
        loss.backward()
    assert x.grad == 4.0, "the failed second backward must not have booked anything"


def test_backward_on_a_tensor_without_grad_explains_why():
    with pytest.raises(gl.BackwardError, match="requires_grad=True"):
        (gl.tensor(1.0) * 2).backward()


def test_requires_grad_on_an_integer_array_asks_for_a_float_dtype():
    with pytest.raises(TypeError, match=r"floating-point dtype; got int64"):
        gl.tensor(np.array([1, 2, 3]), requires_grad=True)


def test_op_called_with_the_wrong_number_of_inputs_names_op_and_count():
    x = gl.tensor(1.0)
    with pytest.raises(gl.OpCallError, match=r"op 'exp' \(plugin 'builtin'.*takes 1 input.*got 2"):
        gl.exp(x, x)


def test_an_op_nobody_registered_is_named_with_a_suggestion():
    with pytest.raises(AttributeError, match=r"no op named 'expp'.*Did you mean 'exp'"):
        gl.expp  # noqa: B018
    with pytest.raises(AttributeError, match=r"no op named 'softmaxx'"):
        gl.ops.softmaxx  # noqa: B018
    with pytest.raises(AttributeError, match=r"no attribute 'reluu'.*no op named 'reluu'"):
        gl.tensor(1.0).reluu()


def test_shapes_that_do_not_fit_the_signature_show_shapes_and_signature():
    a = gl.tensor(np.ones((2, 3)))
    b = gl.tensor(np.ones((4, 5)))
    with pytest.raises(gl.OpCallError, match=r"matmul.*\(2, 3\), \(4, 5\).*'k' is 3.*signature"):
        a @ b
    with pytest.raises(gl.OpCallError, match=r"add.*do not broadcast"):
        a + b


class ConstantExponent:
    """A plugin with a power whose exponent is declared a constant (input 2)."""

    @hookimpl
    def gradledger_register_ops(self, registry):
        registry.register(Op(
            "fixed_power", lambda x, p: x ** p,
            local_grad=lambda x, p, out: (p * x ** (p - 1), None),
            signature="(),()->()", constants=(1,),
        ))


def test_a_tensor_that_requires_grad_as_a_constant_input_is_refused(fresh_host):
    gl.register_plugin(ConstantExponent(), name="constant_exponent")
    x = gl.tensor(2.0, requires_grad=True)
    with pytest.raises(gl.OpCallError, match=r"op 'fixed_power'.*input 2 is a constant"):
        gl.fixed_power(gl.tensor(3.0), x)


# -- rules that break the contract ----------------------------------------------------


class BrokenRules:
    """A plugin whose vjps break the contract in the two ways the tape must catch."""

    @hookimpl
    def gradledger_register_ops(self, registry):
        registry.register(Op(
            "too_few_grads", lambda a, b: a * b,
            vjp=lambda g, a, b, out: (g * b,), signature="(),()->()",
        ))
        registry.register(Op(
            "wrong_shape_grad", lambda a: a.sum(axis=0),
            vjp=lambda g, a, out: (g,), signature="(n,m)->(m)",
        ))


def test_vjp_returning_too_few_grads_names_op_plugin_expected_and_got(fresh_host):
    gl.register_plugin(BrokenRules(), name="broken")
    a, b = gl.tensor(1.0, requires_grad=True), gl.tensor(2.0, requires_grad=True)
    expected = r"op 'too_few_grads' \(plugin 'broken'.*tuple of 2.*got a tuple of 1"
    with pytest.raises(gl.OpRuleError, match=expected):
        gl.too_few_grads(a, b).backward()


def test_vjp_returning_a_wrongly_shaped_grad_names_expected_and_got(fresh_host):
    gl.register_plugin(BrokenRules(), name="broken")
    a = gl.tensor(np.ones((3, 2)), requires_grad=True)
    expected = r"op 'wrong_shape_grad' \(plugin 'broken'.*shape \(2,\).*expected.*\(3, 2\)"
    with pytest.raises(gl.OpRuleError, match=expected):
        gl.sum(gl.wrong_shape_grad(a)).backward()


def test_with_every_plugin_blocked_the_registry_is_empty_and_add_says_how_to_get_it(
    fresh_host, monkeypatch
):
    monkeypatch.setenv("GRADLEDGER_BLOCK_PLUGINS", ",".join(_all_entry_point_names()))
    fresh_host.ensure_loaded()
    assert len(fresh_host.registry) == 0
    with pytest.raises(gl.OpNotFoundError) as caught:
        gl.tensor(1.0) + gl.tensor(2.0)
    message = str(caught.value)
    assert "no op named 'add'" in message
    assert "'builtin' is blocked" in message
    assert "install" in message and "register_plugin" in message


def _all_entry_point_names():
    from importlib.metadata import entry_points

    return {ep.name for ep in entry_points(group="gradledger")}


def test_backward_through_a_partly_freed_graph_raises_and_books_nothing():
    x = gl.tensor(2.0, requires_grad=True)
    shared = x * x
    first, second = shared * 3.0, shared * 5.0
    first.backward()  # frees `shared`'s call, which `second` also depends on
    assert x.grad == 12.0
    x.grad = None
    with pytest.raises(gl.BackwardError, match="retain_graph=True"):
        second.backward()
    assert x.grad is None and second.grad is None, "nothing may be booked by the failed pass"


def test_a_traced_or_create_graph_pass_through_a_partly_freed_graph_books_nothing():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    w = gl.tensor([3.0, 4.0], requires_grad=True)
    s = x * 2.0
    gl.sum(s).backward()  # frees s's call
    h = s * w
    with pytest.raises(gl.BackwardError, match="retain_graph=True"):
        gl.sum(h).backward(create_graph=True)
    assert w.grad is None
    with pytest.raises(gl.BackwardError, match="retain_graph=True"):
        gl.sum(h).backward(trace=lambda booking: None)
    assert w.grad is None
    with gl.detect_anomaly(), pytest.raises(gl.BackwardError, match="retain_graph=True"):
        gl.sum(h).backward()
    assert w.grad is None


def test_deepcopy_of_a_computed_tensor_is_refused_and_of_a_leaf_copies_it():
    import copy

    x = gl.tensor([1.0, 2.0], requires_grad=True, name="x")
    x.grad = np.array([0.5, 0.5])
    y = x * 3.0
    with pytest.raises(TypeError, match=r"deepcopy of a tensor computed by op 'mul'.*detach"):
        copy.deepcopy(y)
    z = copy.deepcopy(x)
    assert z is not x and z.name == "x" and z.requires_grad and z._node is None
    assert z.data is not x.data and np.array_equal(z.data, x.data)
    assert z.grad is not x.grad and np.array_equal(z.grad, x.grad)
