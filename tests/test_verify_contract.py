"""The verifier understands the 0.2 op contract (issue 9, point 7): variadic inputs, several
outputs, ops without gradient, declared output shapes, and op(x, x) only where it applies."""

import contextlib
import dataclasses
import io

import gradledger as gl
import numpy as np
import pytest
import wrong_ops_v01
from gradledger.verify import FAIL, PASS, verify_op


def _register(*ops):
    """Register by hand. These ops' rules use numpy freely (np.add.at, put_along_axis,
    convolve): first-order ops, so they declare order=1, as such a plugin op must."""
    ops = [dataclasses.replace(op, order=1) for op in ops]

    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            for op in ops:
                registry.register(op)

    gl.register_plugin(Plugin(), name="by_hand")


def _snippet_books(failure):
    """Paste the failure's snippet; return the grad of its worst input as booked."""
    namespace = {}
    with contextlib.redirect_stdout(io.StringIO()):
        exec(failure.snippet, namespace)
    tensor = namespace[f"x{failure.worst.input}"]
    return np.zeros(np.shape(tensor.data)) if tensor.grad is None else np.asarray(tensor.grad)


# -- variadic inputs -------------------------------------------------------------------


def total(*arrays):
    out = arrays[0]
    for a in arrays[1:]:
        out = out + a
    return out


def total_vjp_first_two(out_grad, *arrays, out):
    grads = [out_grad if i < 2 else np.zeros(np.shape(a)) for i, a in enumerate(arrays)]
    return tuple(grads)  # the third element on gets nothing


def test_a_variadic_op_is_verified_and_a_rule_that_forgets_later_elements_is_caught(
        fresh_host):
    _register(gl.Op("total", total, vjp=lambda g, *arrays, out: (g,) * len(arrays),
                    signature="[(*)]->(*)"),
              gl.Op("total_first_two", total, vjp=total_vjp_first_two, signature="[(*)]->(*)"))
    assert verify_op("total").status == PASS
    report = verify_op("total_first_two")
    assert report.status == FAIL, str(report)
    failure = report.failure
    assert len(failure.inputs) == 3, "shrunk to the shortest sequence that shows it"
    assert "gl.ops.total_first_two([x1, x2, x3])" in failure.snippet
    if failure.worst is not None:
        assert _snippet_books(failure)[failure.worst.index] == pytest.approx(
            failure.worst.analytic)


def test_a_repeated_input_op_with_leading_params_is_verified(fresh_host):
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    def sample():
        n = st.integers(1, 3)
        return st.tuples(n, n).flatmap(lambda s: st.tuples(
            st.tuples(hnp.arrays(np.float64, s, elements=st.floats(-2, 2)),
                      hnp.arrays(np.float64, s[::-1], elements=st.floats(-2, 2))),
            st.just({"subscripts": "ij,jk->ik"})))

    _register(gl.Op("product", lambda *ops, subscripts: np.einsum(subscripts, *ops),
                    vjp=lambda g, a, b, out, subscripts: (g @ b.T, a.T @ g),
                    signature="(*)...->(*)", leading_params=("subscripts",), sample=sample))
    report = verify_op("product", examples=50)
    assert report.status == PASS, str(report)


# -- several outputs -------------------------------------------------------------------


def max_argmax(x):
    index = np.argmax(x, axis=-1)
    return np.take_along_axis(x, index[..., None], -1)[..., 0], index


def max_argmax_vjp(cotangents, x, out):
    g, no_grad = cotangents
    assert no_grad is None  # an integer output never gets a cotangent
    grad = np.zeros(np.shape(x))
    np.put_along_axis(grad, out[1][..., None], g[..., None], -1)
    return (grad,)


def max_argmax_vjp_everywhere(cotangents, x, out):
    g, _ = cotangents
    return (np.broadcast_to(g[..., None], np.shape(x)) / np.shape(x)[-1],)  # mean's rule


def distinct_rows():
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    shapes = hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)
    return shapes.flatmap(lambda s: hnp.arrays(np.float64, s, elements=st.integers(-50, 50),
                                               unique=True)).map(lambda x: ((x / 10,), {}))


def test_an_op_with_an_integer_second_output_is_verified_with_one_cotangent(fresh_host):
    _register(gl.Op("max_argmax", max_argmax, vjp=max_argmax_vjp, signature="(*)->(*),(*)",
                    sample=distinct_rows),
              gl.Op("max_argmax_wrong", max_argmax, vjp=max_argmax_vjp_everywhere,
                    signature="(*)->(*),(*)", sample=distinct_rows))
    report = verify_op("max_argmax")
    assert report.status == PASS, str(report)
    report = verify_op("max_argmax_wrong")
    assert report.status == FAIL and report.failure.check in {"directional", "jacobian"}
    snippet = report.failure.snippet
    assert "outs = gl.ops.max_argmax_wrong(x1)" in snippet and ", None]" in snippet
    assert "gl.verify.weigh(outs, u).backward()" in snippet
    assert _snippet_books(report.failure)[report.failure.worst.index] == pytest.approx(
        report.failure.worst.analytic)


def test_weigh_hands_each_output_its_own_cotangent(fresh_host):
    x = gl.tensor([1.0, 5.0, 2.0], requires_grad=True)
    _register(gl.Op("max_argmax", max_argmax, vjp=max_argmax_vjp, signature="(*)->(*),(*)",
                    sample=distinct_rows))
    top, where = gl.ops.max_argmax(x)
    assert not where.requires_grad
    gl.verify.weigh([top, where], [np.float64(3.0), None]).backward()
    assert x.grad.tolist() == [0.0, 3.0, 0.0]


# -- ops without gradient, and declared output shapes ------------------------------------


def test_an_op_without_gradient_is_checked_for_its_forward_contract_only(fresh_host):
    _register(gl.Op("is_positive", lambda x: x > 0, differentiable=False, signature="()->()"))
    report = verify_op("is_positive", examples=30)
    assert report.status == PASS and report.scope and "forward contract only" in report.scope
    assert report.row()[-1] == "PASS (forward only)"
    assert "forward contract only" in str(report)


def test_an_op_without_gradient_whose_shape_breaks_its_out_shape_fails(fresh_host):
    _register(gl.Op("first_index", lambda x: np.argmax(x, keepdims=True),
                    differentiable=False, signature="(*)->(*)", out_shape=lambda shape: ()))
    report = verify_op("first_index", examples=30)
    assert report.status == FAIL and report.failure.check == "forward"
    assert "out_shape promises ()" in report.failure.message


def window_sums(x, width):
    return np.convolve(x, np.ones(width, dtype=x.dtype), mode="valid")


def window_sums_vjp(out_grad, x, out, width):
    return (np.convolve(out_grad, np.ones(width, dtype=x.dtype), mode="full"),)


def widths(shapes):
    from hypothesis import strategies as st

    return {"width": st.integers(1, shapes[0][-1])}


def test_a_declared_out_shape_is_honoured_and_a_wrong_one_is_reported(fresh_host):
    common = dict(vjp=window_sums_vjp, signature="(n)->(m)", params=widths)
    _register(
        gl.Op("windows", window_sums, out_shape=lambda shape, width: (shape[0] - width + 1,),
              **common),
        gl.Op("windows_off", window_sums, out_shape=lambda shape, width: (shape[0] - width,),
              **common))
    report = verify_op("windows", examples=50)
    assert report.status == PASS, str(report)
    report = verify_op("windows_off", examples=50)
    assert report.status == FAIL and "out_shape promises" in report.failure.message


# -- op(x, x) only where the signature allows it ------------------------------------------


def pick(a, b, index):
    return a[index] * b[index]


def pick_vjp(out_grad, a, b, out, index):
    grad_a, grad_b = np.zeros(np.shape(a)), np.zeros(np.shape(b))
    np.add.at(grad_a, index, out_grad * b[index])
    np.add.at(grad_b, index, out_grad * a[index])
    return grad_a, grad_b


def pick_params(shapes):
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    n = min(shapes[0][0], shapes[1][0])
    return {"index": hnp.arrays(np.intp, st.integers(1, 3), elements=st.integers(0, n - 1))}


def test_reuse_is_not_fed_inputs_its_params_cannot_take(fresh_host):
    _register(gl.Op("pick", pick, vjp=pick_vjp, signature="(n),(m)->(*)", params=pick_params))
    report = verify_op("pick", examples=100)
    assert report.status == PASS, str(report)


# -- upgrades never turn a correct plugin red (issue 18, point 5) ------------------------


@pytest.mark.parametrize("name", [op.name for op in wrong_ops_v01.OPS])
def test_a_correct_op_written_to_the_0_1_contract_still_passes(fresh_host, name):
    gl.register_plugin(wrong_ops_v01, name="v01")
    report = verify_op(name, examples=200)
    assert report.status == PASS, str(report)
    assert report.ok
    if name in wrong_ops_v01.NOT_ON_TENSORS:
        assert report.scope.startswith("first order verified; second order not checked"), \
            report.scope
        assert "order=1" in report.scope and name in report.scope
        assert report.row()[-1] == "PASS (first order only)"
    else:
        assert report.scope is None, report.scope


def test_numpy_like_constructors_of_a_tensor_give_constants():
    t = gl.tensor(np.array([[1.0, 2.0]], dtype=np.float32), requires_grad=True)
    for made, fill in ((np.zeros_like(t), 0.0), (np.ones_like(t), 1.0),
                       (np.full_like(t, 3.0), 3.0)):
        assert type(made) is np.ndarray and made.dtype == np.float32
        assert made.shape == (1, 2) and np.all(made == fill)
    assert np.empty_like(t).shape == (1, 2)
