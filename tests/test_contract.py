"""The op contract 0.2: sequences of inputs, several outputs, shapes the params decide,
indexing, params by position, and a Tensor that behaves like a numpy array."""

import gradledger as gl
import numpy as np
import pytest
from numeric import nudge_grads

rng = np.random.default_rng(9)

CONTRACT_OPS = {"getitem", "scatter_add", "concatenate", "stack", "split", "einsum", "astype",
                "less", "less_equal", "greater", "greater_equal", "equal", "not_equal"}
"""The built-ins whose fixed-input tests live here (test_builtin_grads checks coverage)."""


def grads_of(f, arrays):
    """Grads of sum(f(*tensors) * w) by the tape, and by central differences."""
    weights = rng.normal(size=np.shape(f(*[gl.tensor(a) for a in arrays]).data))
    tensors = [gl.tensor(a, requires_grad=True) for a in arrays]
    gl.sum(f(*tensors) * weights).backward()
    expected = nudge_grads(lambda *v: float(np.sum(f(*map(gl.tensor, v)).data * weights)), arrays)
    return [t.grad for t in tensors], expected


def assert_grads_match(f, *arrays):
    got, expected = grads_of(f, list(arrays))
    for i, (g, e) in enumerate(zip(got, expected, strict=True)):
        assert np.shape(g) == np.shape(arrays[i])
        np.testing.assert_allclose(g, e, rtol=1e-6, atol=1e-8, err_msg=f"input {i}")


# -- sequences of inputs ------------------------------------------------------------


@pytest.mark.parametrize("axis", [0, 1, -1])
def test_concatenate_of_three_tensors_books_each_its_own_slice(axis):
    shapes = [(2, 3), (2, 3), (2, 3)]
    shapes = [tuple(n + k if d == axis % 2 else n for d, n in enumerate(s))
              for k, s in enumerate(shapes)]
    arrays = [rng.normal(size=s) for s in shapes]
    assert_grads_match(lambda a, b, c: gl.concatenate([a, b, c], axis=axis), *arrays)


def test_concatenate_with_axis_none_flattens_like_numpy():
    a, b = rng.normal(size=(2, 2)), rng.normal(size=(3,))
    assert gl.concatenate([gl.tensor(a), gl.tensor(b)], axis=None).shape == (7,)
    assert_grads_match(lambda x, y: gl.concatenate([x, y], axis=None), a, b)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack_books_each_tensor_its_own_slice(axis):
    arrays = [rng.normal(size=(2, 3)) for _ in range(3)]
    assert gl.stack([gl.tensor(a) for a in arrays], axis=axis).shape == np.stack(arrays,
                                                                                axis).shape
    assert_grads_match(lambda a, b, c: gl.stack((a, b, c), axis), *arrays)


def test_a_sequence_of_one_tensor_is_a_sequence():
    a = rng.normal(size=(2,))
    assert_grads_match(lambda x: gl.stack([x]), a)


def test_a_sequence_may_mix_tensors_and_arrays_and_only_tensors_get_grads():
    a = gl.tensor(rng.normal(size=(2,)), requires_grad=True)
    out = gl.concatenate([a, np.ones(3)])
    gl.sum(out * 2.0).backward()
    np.testing.assert_array_equal(a.grad, [2.0, 2.0])


@pytest.mark.parametrize("subscripts,shapes", [
    ("ij->ji", [(2, 3)]),
    ("ii->", [(3, 3)]),
    ("ij,jk->ik", [(2, 3), (3, 4)]),
    ("i,j->ij", [(2,), (3,)]),
    ("bij,bjk->bik", [(2, 2, 3), (2, 3, 2)]),
    ("ij,jk,kl->il", [(2, 3), (3, 2), (2, 2)]),
    ("ij,jk", [(2, 3), (3, 2)]),
    ("...ij,...jk->...ik", [(2, 2, 3), (2, 3, 2)]),
    ("iij->j", [(2, 2, 3)]),
])
def test_einsum_with_one_two_and_three_operands_matches_nudges(subscripts, shapes):
    arrays = [rng.normal(size=s) for s in shapes]
    assert_grads_match(lambda *xs: gl.einsum(subscripts, *xs), *arrays)


def test_numpys_einsum_on_tensors_is_the_op():
    a = gl.tensor(rng.normal(size=(2, 3)), requires_grad=True)
    out = np.einsum("ij->i", a)
    assert isinstance(out, gl.Tensor) and out.op == "einsum"


# -- several outputs ----------------------------------------------------------------


def _max_with_argmax_vjp(cotangents, x, out, axis):
    """Only the values carry a gradient; it flows to the first maximum of each row."""
    grad_values, grad_index = cotangents
    assert grad_index is None  # an integer output never gets a cotangent
    _, index = out
    grad = np.zeros_like(x)
    np.put_along_axis(grad, np.expand_dims(index, axis), np.expand_dims(grad_values, axis),
                      axis)
    return (grad,)


@pytest.fixture
def max_with_argmax(fresh_host):
    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op(
                "max_with_argmax",
                lambda x, axis: (np.max(x, axis=axis), np.argmax(x, axis=axis)),
                vjp=_max_with_argmax_vjp, signature="(*)->(*),(*)",
                doc="the max along axis and where it is"))

    gl.register_plugin(Plugin(), name="by_hand")
    return gl.ops.max_with_argmax


X = np.array([[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]])


def test_several_outputs_are_tensors_and_an_integer_one_takes_no_grad(max_with_argmax):
    x = gl.tensor(X, requires_grad=True)
    values, index = max_with_argmax(x, axis=1)
    assert isinstance(values, gl.Tensor) and values.requires_grad
    assert index.dtype.kind == "i" and not index.requires_grad
    np.testing.assert_array_equal(index.data, [1, 0])


def test_only_the_float_output_used_books_its_grad(max_with_argmax):
    x = gl.tensor(X, requires_grad=True)
    values, _ = max_with_argmax(x, axis=1)
    gl.sum(values * np.array([2.0, 3.0])).backward()
    np.testing.assert_array_equal(x.grad, [[0, 2, 0], [3, 0, 0]])


def test_only_the_integer_output_used_books_nothing_and_refuses_backward(max_with_argmax):
    x = gl.tensor(X, requires_grad=True)
    _, index = max_with_argmax(x, axis=1)
    picked = x[np.arange(2), index]  # the integer output used as an index
    gl.sum(picked).backward()
    np.testing.assert_array_equal(x.grad, [[0, 1, 0], [1, 0, 0]])
    with pytest.raises(gl.BackwardError, match="does not require grad"):
        index.backward()


def test_both_outputs_used_in_one_graph(max_with_argmax):
    x = gl.tensor(X, requires_grad=True)
    values, index = max_with_argmax(x, axis=1)
    loss = gl.sum(values) + gl.sum(x[np.arange(2), index] * 10.0)
    loss.backward()
    np.testing.assert_array_equal(x.grad, [[0, 11, 0], [11, 0, 0]])


def test_split_returns_a_list_and_unused_pieces_get_zero_cotangents():
    a = rng.normal(size=(5, 2))
    pieces = gl.split(gl.tensor(a), [1, 3])
    assert isinstance(pieces, list) and [p.shape for p in pieces] == [(1, 2), (2, 2), (2, 2)]
    x = gl.tensor(a, requires_grad=True)
    first, _, last = gl.split(x, [1, 3])
    gl.sum(first * 2.0 + 0.0).backward(retain_graph=True)
    np.testing.assert_array_equal(x.grad, [[2, 2], [0, 0], [0, 0], [0, 0], [0, 0]])
    gl.sum(last).backward()
    np.testing.assert_array_equal(x.grad, [[2, 2], [0, 0], [0, 0], [1, 1], [1, 1]])


@pytest.mark.parametrize("sections,axis", [(2, 0), (3, 1), ([1, 2], 1), ([0, 4], 0)])
def test_split_pieces_recombined_match_nudges(sections, axis):
    a = rng.normal(size=(4, 3))
    weights = rng.normal(size=4)

    def weighted_pieces(x):
        pieces = gl.split(x, sections, axis)
        return gl.concatenate([gl.reshape(p * w, (-1,)) for p, w in zip(pieces, weights,
                                                                         strict=False)])

    assert_grads_match(weighted_pieces, a)


def test_a_forward_returning_the_wrong_number_of_outputs_is_an_error_naming_the_op(fresh_host):
    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op("two_of", lambda x: (x,), vjp=lambda g, x, out: (g[0],),
                                    signature="(*)->(*),(*)"))

    gl.register_plugin(Plugin(), name="by_hand")
    with pytest.raises(gl.OpRuleError, match=r"op 'two_of'.*must return a tuple of 2"):
        gl.ops.two_of(gl.tensor([1.0]))


def test_a_forward_returning_a_tuple_for_one_output_is_an_error_not_a_stacked_tensor(fresh_host):
    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op("pair", lambda x: (x, x * 2), vjp=lambda g, x, out: (g,),
                                    signature="(*)->(*)"))

    gl.register_plugin(Plugin(), name="by_hand")
    with pytest.raises(gl.OpRuleError, match=r"op 'pair'.*several outputs declares them"):
        gl.ops.pair(gl.tensor(np.ones(3)))


# -- output shapes the params decide ------------------------------------------------


def _valid_conv(x, k):
    n = x.shape[-1] - k.shape[-1] + 1
    return np.stack([np.sum(x[i:i + k.shape[-1]] * k) for i in range(n)])


def test_an_output_dimension_no_input_names_is_refused_without_out_shape(fresh_host):
    op = gl.Op("conv1d", _valid_conv, vjp=lambda g, x, k, out: (None, None),
               signature="(n),(k)->(m)")
    problems = op.problems()
    assert any("'m'" in p and "out_shape" in p for p in problems), problems

    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(op)

    with pytest.raises(gl.OpDefinitionError, match=r"(?s)conv1d.*'m'.*out_shape"):
        gl.register_plugin(Plugin(), name="by_hand")


def test_an_output_dimension_with_a_declared_shape_rule_is_accepted(fresh_host):
    op = gl.Op("conv1d", _valid_conv, vjp=lambda g, x, k, out: (None, None),
               signature="(n),(k)->(m)", out_shape=lambda xs, ks: (xs[0] - ks[0] + 1,))
    assert op.problems() == []
    assert op.out_shape((5,), (2,)) == (4,)


# -- indexing -----------------------------------------------------------------------

A = rng.normal(size=(4, 3))


@pytest.mark.parametrize("index", [
    0, -1, slice(1, 3), (slice(None), 1), (None, 0), (Ellipsis, 2), (1, slice(None, None, -1)),
    np.array([0, 0, 2]), np.array([[1, 1], [3, 0]]), (np.array([0, 0]), np.array([2, 2])),
    A > 0, (slice(1, None), np.array([2, 2, 0])), (np.array([True, False, True, True]),),
], ids=lambda i: repr(i)[:30])
def test_getitem_matches_numpy_and_its_grads_match_nudges(index):
    np.testing.assert_array_equal(gl.tensor(A)[index].data, A[index])
    assert_grads_match(lambda x: x[index], A)


def test_repeated_integer_indices_accumulate_their_grads():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    gl.sum(x[[0, 0, 2, 0]]).backward()
    np.testing.assert_array_equal(x.grad, [3.0, 0.0, 1.0])


def test_a_mask_from_a_comparison_indexes_and_takes_no_grad():
    x = gl.tensor([-1.0, 2.0, -3.0, 4.0], requires_grad=True)
    mask = x > 0
    assert mask.dtype == np.bool_ and not mask.requires_grad
    gl.sum(x[mask] * 3.0).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 3.0, 0.0, 3.0])


def test_an_index_given_as_a_tensor_or_a_list_is_numpys():
    x = gl.tensor(A)
    np.testing.assert_array_equal(x[gl.tensor([2, 0])].data, A[[2, 0]])
    np.testing.assert_array_equal(x[[2, 0]].data, A[[2, 0]])


def test_scatter_add_accumulates_repeats_and_its_grad_is_getitem():
    values = rng.normal(size=(4, 3))
    index = np.array([2, 0, 2, 2])
    expected = np.zeros((3, 3))
    for row, v in zip(index, values, strict=True):
        expected[row] += v
    np.testing.assert_allclose(gl.scatter_add(gl.tensor(values), index=index, shape=(3, 3)).data,
                               expected)
    assert_grads_match(lambda v: gl.scatter_add(v, index=index, shape=(3, 3)), values)


def test_changing_the_index_array_after_the_call_does_not_change_the_grad():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    index = np.array([0, 1])
    y = x[index]
    index[:] = 2
    gl.sum(y).backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 0.0])


def test_item_assignment_is_refused_saying_why_and_what_to_use():
    x = gl.tensor([1.0, 2.0])
    with pytest.raises(TypeError, match=r"item assignment.*functional.*gl.where"):
        x[0] = 5.0


def test_an_index_out_of_range_names_the_op_and_the_shape():
    with pytest.raises(gl.OpCallError, match=r"op 'getitem'.*\(3,\).*out of bounds"):
        gl.tensor([1.0, 2.0, 3.0])[5]


# -- params by position ---------------------------------------------------------------


def test_params_by_position_where_numpy_and_pytorch_put_them():
    data = rng.normal(size=(2, 3))
    x = gl.tensor(data)
    np.testing.assert_allclose(x.sum(1).data, data.sum(1))
    np.testing.assert_allclose(gl.sum(x, 1).data, data.sum(1))
    np.testing.assert_allclose(x.mean(0, keepdims=True).data, data.mean(0, keepdims=True))
    assert x.reshape(-1, 2).shape == (3, 2) and x.reshape((-1, 2)).shape == (3, 2)
    assert x.reshape(shape=(6,)).shape == (6,)
    np.testing.assert_array_equal(x.transpose(1, 0).data, data.T)
    np.testing.assert_array_equal(x.transpose().data, data.T)
    np.testing.assert_array_equal(x.T.data, data.T)
    assert [p.shape for p in gl.split(x, 3, 1)] == [(2, 1)] * 3


def test_a_positional_param_the_op_does_not_take_names_the_params_it_takes():
    x = gl.tensor(np.ones((2, 3)))
    with pytest.raises(gl.OpCallError, match=r"op 'sum'.*dtype it does not take.*axis, keepdims"):
        gl.sum(x, 0, True)
    with pytest.raises(gl.OpCallError, match=r"op 'exp'.*takes 1 input.*no params by position"):
        gl.exp(x, 2)
    with pytest.raises(gl.OpCallError, match=r"op 'sum'.*'axis' twice"):
        gl.sum(x, 0, axis=1)


def test_a_sequence_of_mismatched_shapes_names_the_op_and_the_shapes():
    with pytest.raises(gl.OpCallError, match=r"op 'concatenate'.*\(2, 3\), \(2, 4\)"):
        gl.concatenate([gl.tensor(np.ones((2, 3))), gl.tensor(np.ones((2, 4)))])
    with pytest.raises(gl.OpCallError, match=r"op 'stack'.*sequence of tensors.*got Tensor"):
        gl.stack(gl.tensor(np.ones(2)))
    with pytest.raises(gl.OpCallError, match=r"op 'stack'.*at least one tensor"):
        gl.stack([])


# -- a Tensor that behaves like a numpy array ------------------------------------------


def test_np_asarray_and_np_array_give_the_data_never_an_object_array():
    x = gl.tensor([[1.0, 2.0]])  # one that requires grad raises: test_surface.py
    assert np.asarray(x).dtype == np.float64 and np.asarray(x).shape == (1, 2)
    assert np.array(x, dtype=np.float32).dtype == np.float32
    np.testing.assert_array_equal(np.array(x), [[1.0, 2.0]])


def test_numpy_ufuncs_and_functions_on_tensors_build_a_graph():
    data = rng.normal(size=(2, 3))
    x = gl.tensor(data, requires_grad=True)
    y = np.exp(x)
    assert isinstance(y, gl.Tensor) and y.op == "exp"
    z = np.multiply(y, 2.0)
    assert z.op == "mul"
    total = np.sum(np.concatenate([z, np.tanh(x)]), axis=0)
    assert total.op == "sum"
    gl.sum(total).backward()
    np.testing.assert_allclose(x.grad, 2 * np.exp(data) + 1 - np.tanh(data) ** 2)


def test_an_array_on_the_left_of_an_operator_still_dispatches_to_the_op():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    y = np.array([3.0, 4.0]) * x
    assert isinstance(y, gl.Tensor) and y.op == "mul"
    gl.sum(y).backward()
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_a_numpy_function_no_plugin_registers_says_so():
    with pytest.raises(gl.OpNotFoundError, match=r"np.fft.hfft.*no plugin registers"):
        np.fft.hfft(gl.tensor([1.0, 2.0]))
    with pytest.raises(TypeError, match=r"np.add.reduce.*not supported"):
        np.add.reduce(gl.tensor([1.0, 2.0]))


def test_numpy_inspection_functions_look_at_the_data():
    x = gl.tensor(np.ones((2, 3)))
    assert np.shape(x) == (2, 3) and np.ndim(x) == 2 and np.size(x) == 6
    assert np.allclose(x, np.ones((2, 3)))


def test_comparisons_are_elementwise_booleans_without_grad():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = gl.tensor([3.0, 2.0, 1.0])
    for result, expected in [
        (x < y, [True, False, False]), (x <= y, [True, True, False]),
        (x > y, [False, False, True]), (x >= y, [False, True, True]),
        (x == y, [False, True, False]), (x != y, [True, False, True]),
        (x > 1.5, [False, True, True]),
    ]:
        assert result.dtype == np.bool_ and not result.requires_grad
        np.testing.assert_array_equal(result.data, expected)
    assert {x} and x in {x}  # still hashable (by identity)


def test_bool_of_a_scalar_works_and_of_an_array_raises_numpys_error():
    assert bool(gl.tensor(1.0)) and not bool(gl.tensor(0.0))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(gl.tensor([1.0, 2.0]))


def test_format_len_iteration_and_array_attributes():
    loss = gl.tensor(0.123456)
    assert f"{loss:.3f}" == "0.123" and f"{gl.sum(gl.tensor([1.0, 2.0])):.1f}" == "3.0"
    with pytest.raises(TypeError, match=r"format spec '.2f' needs a 0-d tensor"):
        f"{gl.tensor([1.0, 2.0]):.2f}"
    x = gl.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    assert len(x) == 3 and x.size == 6 and x.ndim == 2 and x.shape == (3, 2)
    assert x.dtype == np.float64 and x.T.shape == (2, 3)
    rows = list(x)
    assert [r.shape for r in rows] == [(2,)] * 3 and rows[1].op == "getitem"
    gl.sum(rows[2]).backward()
    np.testing.assert_array_equal(x.grad, [[0, 0], [0, 0], [1, 1]])
    with pytest.raises(TypeError, match="0-d"):
        iter(gl.tensor(1.0))


def test_astype_keeps_grads_flowing_in_the_inputs_dtype():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    y = x.astype("float32")
    assert y.dtype == np.float32 and y.requires_grad
    gl.sum(y * np.float32(3.0)).backward()
    assert x.grad.dtype == np.float64
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    assert not x.astype(np.int64).requires_grad


def test_requires_grad_underscore_turns_a_leaf_on_and_refuses_a_result():
    x = gl.tensor([1.0, 2.0])
    assert x.requires_grad_() is x and x.requires_grad
    with pytest.raises(gl.OpCallError, match="leaf"):
        (x * 2.0).requires_grad_(False)
    with pytest.raises(TypeError, match="floating-point"):
        gl.tensor([1, 2]).requires_grad_()


def test_factories_take_dtype_requires_grad_and_rng():
    assert gl.zeros(2, 3).shape == (2, 3) and gl.zeros((2, 3)).dtype == np.float64
    assert gl.ones(2, dtype="float32").dtype == np.float32
    np.testing.assert_array_equal(gl.full((2,), 7.0).data, [7.0, 7.0])
    like = gl.tensor(np.ones((2, 2), dtype=np.float32))
    assert gl.zeros_like(like).dtype == np.float32 and gl.ones_like(like).shape == (2, 2)
    np.testing.assert_array_equal(gl.arange(3).data, [0, 1, 2])
    np.testing.assert_array_equal(gl.eye(2).data, np.eye(2))
    w = gl.randn(3, 2, requires_grad=True, rng=0)
    assert w.requires_grad and w.shape == (3, 2)
    np.testing.assert_array_equal(w.data, np.random.default_rng(0).standard_normal((3, 2)))
    generator = np.random.default_rng(5)
    u = gl.rand(4, rng=generator, dtype="float32")
    assert u.dtype == np.float32 and np.all((u.data >= 0) & (u.data < 1))
    with pytest.raises(TypeError, match="floating-point"):
        gl.arange(3, requires_grad=True)


def test_enable_grad_records_inside_no_grad():
    x = gl.tensor(2.0, requires_grad=True)
    with gl.no_grad():
        assert not (x * x).requires_grad
        with gl.enable_grad():
            assert gl.is_grad_enabled() and (x * x).requires_grad
        assert not gl.is_grad_enabled()


def test_dir_lists_the_ops_for_tab_completion():
    assert {"relu", "concatenate", "getitem", "zeros", "no_grad"} <= set(dir(gl))
    assert {"relu", "einsum"} <= set(dir(gl.ops))
    assert {"relu", "sum", "backward", "grad"} <= set(dir(gl.tensor(1.0)))


def test_help_of_an_op_shows_its_doc_signature_params_and_provenance():
    text = gl.ops.sum.__doc__
    assert "sum over axis" in text and "'(*)->(*)'" in text
    assert "axis, keepdims" in text and "plugin 'builtin'" in text


def test_a_misspelt_api_name_says_so_plainly_and_an_op_like_name_suggests_a_plugin():
    with pytest.raises(AttributeError, match=r"no attribute 'enable_gradd'.*'enable_grad'") as e:
        gl.enable_gradd  # noqa: B018
    assert "install" not in str(e.value)
    with pytest.raises(AttributeError, match=r"no attribute 'zeross'.*'zeros'"):
        gl.zeross  # noqa: B018
    with pytest.raises(AttributeError, match=r"no op named 'frobnicate'.*install"):
        gl.frobnicate  # noqa: B018
    with pytest.raises(AttributeError, match=r"no attribute 'requires_gard'.*'requires_grad'"):
        gl.tensor(1.0).requires_gard  # noqa: B018
