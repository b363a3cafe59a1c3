"""The Tensor's user surface never gives a silent wrong result (issue 17, part A): indexes
read as numpy reads them, masks that are booleans, no silent detaching through numpy,
std of one element, PyTorch's in-place updates, names that mean different things in
numpy and PyTorch, mixed float dtypes and the default dtype, `.data` assignments."""

import warnings

import gradledger as gl
import numpy as np
import pytest


@pytest.fixture
def dtype_settings():
    """The dtype settings as they were, restored after the test."""
    from gradledger import dtypes

    saved = (dtypes.default, dtypes.mixed, dtypes.watching, set(dtypes._warned))
    dtypes._warned.clear()
    yield
    dtypes.default, dtypes.mixed, dtypes.watching = saved[:3]
    dtypes._warned.clear()
    dtypes._warned.update(saved[3])


# -- 1: indexes are read once, as numpy reads them --------------------------------------


def test_a_nested_tuple_index_with_a_repeat_accumulates_both_contributions():
    rows, cols = zip(*[(0, 1), (0, 1)], strict=True)
    w = gl.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    gl.sum(w[rows, cols]).backward()
    np.testing.assert_array_equal(w.grad, [[0.0, 2.0], [0.0, 0.0]])  # PyTorch's answer


def test_getitem_called_as_an_op_with_a_nested_tuple_index_accumulates_too():
    w = gl.tensor([[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    gl.sum(gl.getitem(w, index=((1, 1, 0), (0, 0, 0)))).backward()
    np.testing.assert_array_equal(w.grad, [[1.0, 0.0], [2.0, 0.0]])


def test_a_list_of_tuples_index_is_one_integer_array_on_the_first_axis_as_numpy():
    w = gl.tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    picked = w[[(0, 2), (0, 0)]]
    np.testing.assert_array_equal(picked.data, np.arange(6.0).reshape(3, 2)[[(0, 2), (0, 0)]])
    gl.sum(picked).backward()
    np.testing.assert_array_equal(w.grad, [[3.0, 3.0], [0.0, 0.0], [1.0, 1.0]])


# -- 2: masks are booleans -----------------------------------------------------------------


def test_where_refuses_a_condition_that_is_not_boolean_and_names_the_fix():
    x = gl.tensor([1.0, 1.0, 1.0], requires_grad=True)
    for call in (lambda: gl.where(np.array([0, 2, -1]), x, 10 * x),
                 lambda: np.where(np.array([0.0, 2.0, -1.0]), x, 10 * x)):
        with pytest.raises(gl.OpCallError, match=r"op 'where'.*booleans.*cond != 0"):
            call()
    gl.sum(gl.where(np.array([0, 2, -1]) != 0, x, 10 * x)).backward()
    np.testing.assert_array_equal(x.grad, [10.0, 1.0, 1.0])


def test_a_uint8_or_float_index_array_is_refused_and_an_int_array_stays_positions():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(gl.OpCallError, match=r"uint8.*m.astype\(bool\)"):
        x[np.array([1, 0, 1], dtype=np.uint8)]
    with pytest.raises(gl.OpCallError, match=r"integers \(positions\) or booleans"):
        x[gl.tensor([1.0, 0.0, 1.0])]
    gl.sum(x[np.array([1, 0, 1])]).backward()  # positions 1, 0, 1, as numpy reads them
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 0.0])


# -- 4: a tensor that requires grad never silently becomes numbers --------------------------


@pytest.mark.parametrize("detaching, names", [
    (lambda x: np.mean([x, x + 2]), "mean"),
    (lambda x: np.linalg.norm([x, x]), "norm"),
    (lambda x: np.r_[x, x], "AxisConcatenator"),
    (lambda x: np.c_[x, x], "AxisConcatenator"),
    (lambda x: np.append([x], [x]), "append"),
    (lambda x: np.asarray(x), "np.asarray"),
    (lambda x: np.array([x, x]), "np.asarray"),
    (lambda x: np.copyto(np.zeros(2), x), "np.copyto"),
])
def test_numpy_code_that_would_take_the_numbers_of_a_tensor_requiring_grad_raises(
        detaching, names):
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(gl.RequiresGradError, match=rf"{names}.*requires grad.*t\.detach\(\)"):
        detaching(x)
    with pytest.raises(gl.RequiresGradError):
        detaching(x * 3)  # part of a graph


def test_inspecting_a_tensor_that_requires_grad_keeps_working():
    x = gl.tensor([[1.0, 2.0]], requires_grad=True)
    y = x * 2
    assert np.shape(y) == (1, 2) and np.ndim(y) == 2 and y.dtype == np.float64
    assert np.allclose(y, [[2.0, 4.0]]) and np.array_equal(y.data, [[2.0, 4.0]])
    assert "requires_grad=True" in repr(x) and str(y)
    assert np.asarray(y.detach()).tolist() == y.numpy().tolist() == y.tolist() == [[2.0, 4.0]]
    assert float(y[0, 1]) == 4.0 and y[0, 0].item() == 2.0
    assert np.mean(np.asarray(x.detach())) == 1.5  # the numbers, asked for on purpose


# -- 6: std of one element -------------------------------------------------------------------


def test_std_of_one_element_has_derivative_zero_not_nan():
    x = gl.tensor([3.0], requires_grad=True)
    gl.std(x).backward()
    np.testing.assert_array_equal(x.grad, [0.0])
    m = gl.tensor([[3.0, 1.0]], requires_grad=True)
    gl.sum(gl.std(m, axis=0) + gl.var(m, axis=0)).backward()
    np.testing.assert_array_equal(m.grad, [[0.0, 0.0]])


def test_stds_sample_hint_draws_reductions_over_one_element_and_the_verifier_passes_them():
    from gradledger.loader import host
    from hypothesis import find, settings

    sample = host.lookup("std").sample()
    shape_of_one = find(sample, lambda example: np.size(example[0][0]) == 1,
                        settings=settings(max_examples=500, derandomize=True, database=None))
    assert np.size(shape_of_one[0][0]) == 1
    assert gl.verify.verify_op("std", examples=60).ok


# -- 9: in-place updates are PyTorch's -------------------------------------------------------


def test_the_pytorch_update_idiom_under_no_grad_updates_the_parameter_in_place():
    p = gl.tensor(np.array([1.0, 2.0], dtype=np.float32), requires_grad=True)
    array = p.data
    gl.sum(p * p).backward()
    same = p
    with gl.no_grad():
        p -= 0.5 * p.grad          # a float64 step into a float32 parameter
        p += 1.0
        p *= gl.tensor([2.0, 3.0])
        p /= 2
    assert p is same and p.data is array and p.dtype == np.float32 and p.requires_grad
    np.testing.assert_allclose(p.data, [1.0, 1.5])


def test_an_in_place_update_of_a_leaf_requiring_grad_while_recording_raises():
    p = gl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(gl.RequiresGradError, match=r"leaf.*gl\.no_grad\(\).*p -= lr"):
        p -= 1.0
    np.testing.assert_array_equal(p.data, [1.0, 2.0])


def test_an_in_place_update_of_a_non_leaf_while_recording_is_recorded():
    x = gl.tensor(3.0, requires_grad=True)
    h = x * 2
    h += x          # `out += identity`: h is rebound to the recorded h + x
    h *= h
    h.backward()
    assert h.item() == 81.0 and x.grad == 54.0


def test_adding_a_tensor_requiring_grad_into_a_plain_one_keeps_the_gradient():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    total = gl.zeros(2)
    total += x * x
    gl.sum(total).backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_an_update_under_no_grad_of_an_array_a_live_graph_saved_keeps_that_graph_right():
    p = gl.tensor([1.0, 2.0], requires_grad=True)
    loss = gl.sum(p * p)            # saves p's array (locked read-only while it lives)
    with gl.no_grad():
        p -= 10.0                   # p gets new numbers; the graph keeps the saved ones
    np.testing.assert_array_equal(p.data, [-9.0, -8.0])
    loss.backward()
    np.testing.assert_array_equal(p.grad, [2.0, 4.0])


def test_an_in_place_update_that_would_change_dtype_or_shape_raises_saying_so():
    counts = gl.tensor([1, 2])
    with pytest.raises(TypeError, match="keeps the tensor's shape and dtype"):
        counts += 0.5
    small = gl.tensor([1.0, 2.0])
    with pytest.raises(ValueError, match="keeps the tensor's shape and dtype"):
        small += np.ones((2, 2))
    scalar = gl.tensor(2.0)
    scalar **= 3
    assert scalar.item() == 8.0 and type(scalar.data) is np.float64


# -- 10: names that mean different things in numpy and PyTorch -------------------------------


def test_transpose_with_two_ints_swaps_where_numpy_would_refuse_and_raises_where_they_differ():
    w = gl.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    with pytest.raises(gl.OpCallError, match=r"numpy.*PyTorch.*transpose\(\(0, 1\)\).*swapaxes"):
        w.transpose(0, 1)
    assert w.transpose(1, 0).shape == (3, 2) and w.transpose((0, 1)).shape == (2, 3)
    cube = gl.tensor(np.arange(24.0).reshape(2, 3, 4))
    np.testing.assert_array_equal(cube.transpose(1, 2).data, np.swapaxes(cube.data, 1, 2))
    np.testing.assert_array_equal(cube.transpose(2, 0, 1).data, np.transpose(cube.data, (2, 0, 1)))
    np.testing.assert_array_equal(cube.permute(2, 0, 1).data, np.transpose(cube.data, (2, 0, 1)))


def test_split_and_chunk_as_methods_are_pytorchs_and_gl_split_is_numpys():
    x = gl.tensor(np.arange(5.0), requires_grad=True)
    assert [p.shape for p in x.split(2)] == [(2,), (2,), (1,)]      # pieces of size 2
    assert [p.shape for p in x.split([1, 4])] == [(1,), (4,)]
    assert [p.shape for p in x.chunk(2)] == [(3,), (2,)]
    assert [p.shape for p in gl.split(x[:4], 2)] == [(2,), (2,)]     # 2 pieces, numpy's
    a, b, c = x.split(2)
    (gl.sum(a) + gl.sum(c * 3.0)).backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 0.0, 0.0, 3.0])


def test_repeat_takes_the_only_reading_that_works_and_raises_where_both_do():
    v = gl.tensor([1.0, 2.0])
    with pytest.raises(gl.OpCallError, match=r"gl\.repeat\(x, 2\).*gl\.tile\(x, \(2,\)\)"):
        v.repeat(2)
    np.testing.assert_array_equal(v.repeat(2, axis=0).data, [1.0, 1.0, 2.0, 2.0])  # numpy's
    m = gl.tensor([[1.0, 2.0]])
    np.testing.assert_array_equal(m.repeat(2).data, [1.0, 1.0, 2.0, 2.0])  # PyTorch would refuse
    np.testing.assert_array_equal(m.repeat(2, 3).data, np.tile(m.data, (2, 3)))  # numpy would


def test_var_and_std_methods_warn_on_numpys_default_and_take_pytorchs_spellings():
    x = gl.tensor([1.0, 2.0, 3.0, 6.0])
    with pytest.warns(UserWarning, match=r"ddof=0.*PyTorch.*correction=1"):
        assert x.var().item() == np.var(x.data)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert x.var(ddof=1).item() == x.var(dim=0).item() == np.var(x.data, ddof=1)
        assert x.std(axis=0).item() == np.std(x.data)
        assert x.std(unbiased=False).item() == np.std(x.data)
        assert x.std(correction=1).item() == gl.std(x, ddof=1).item() == np.std(x.data, ddof=1)
        assert gl.var(x).item() == np.var(x.data)


def test_pytorchs_names_view_flatten_expand_unsqueeze_size_and_to_work_on_a_tensor():
    x = gl.tensor(np.arange(6.0).reshape(2, 3), requires_grad=True)
    assert x.view(3, 2).shape == (3, 2) and x.view(-1).shape == (6,)
    with pytest.raises(gl.OpCallError, match=r"astype"):
        x.view(np.float32)
    assert x.flatten().shape == (6,) and x.flatten("F").tolist() == [0.0, 3.0, 1.0, 4.0, 2.0, 5.0]
    assert x.unsqueeze(1).shape == (2, 1, 3)
    assert x[:, :1].expand(-1, 4).shape == (2, 4) and x.expand(5, 2, 3).shape == (5, 2, 3)
    assert x.size == 6 and x.size() == (2, 3) and x.size(1) == 3 and x.size * 2 == 12
    assert x.to("cpu") is x and x.to(gl.float64) is x
    y = x.to(gl.float32)
    assert y.dtype == np.float32 and x.to(gl.zeros(1, dtype=np.float32)).dtype == np.float32
    (gl.sum(x.view(6) * x.flatten()) + gl.sum(x.unsqueeze(0).expand(2, 2, 3))).backward()
    np.testing.assert_array_equal(x.grad, 2 * x.data + 2)


# -- 11: mixed float dtypes and the default dtype --------------------------------------------


def test_a_float32_model_fed_float64_data_warns_once_and_raises_when_strict(dtype_settings):
    W = gl.tensor(np.ones((3, 2), dtype=np.float32), requires_grad=True)
    data = np.ones((4, 3))  # float64
    with pytest.warns(UserWarning, match=r"op 'matmul'.*float32.*float64.*x\.astype"):
        data @ W
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        data @ W                                   # once
        data.astype(np.float32) @ W                # no mix
        W.astype(np.float64)                       # a cast asked for
    gl.set_mixed_dtypes("error")
    with pytest.raises(gl.OpCallError, match=r"op 'mul'.*float32"):
        W * np.float64(2.0)
    gl.set_mixed_dtypes("ignore")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        W * np.ones((3, 2))
    with gl.mixed_dtypes("error"), pytest.raises(gl.OpCallError, match="op 'mul'"):
        W * np.ones((3, 2))
    assert gl.get_mixed_dtypes() == "ignore"
    with pytest.raises(ValueError, match="'warn', 'error', 'ignore'"):
        gl.set_mixed_dtypes("loud")


def test_the_verifier_checks_a_casting_op_under_the_strict_dtype_setting(dtype_settings):
    gl.set_mixed_dtypes("error")  # its float64 cotangents weigh float32 outputs on purpose
    assert gl.verify.verify_op("astype", examples=20).ok


def test_set_default_dtype_makes_python_floats_and_factories_float32(dtype_settings):
    assert gl.get_default_dtype() == np.float64
    gl.set_default_dtype(gl.float32)
    assert gl.get_default_dtype() == np.float32
    assert gl.tensor(1.5).dtype == gl.tensor([1.0, 2.0]).dtype == np.float32
    assert gl.zeros(2).dtype == gl.ones(2).dtype == gl.randn(2, rng=0).dtype == np.float32
    assert gl.full(2, 0.5).dtype == gl.eye(2).dtype == gl.rand(2, rng=0).dtype == np.float32
    assert gl.tensor(np.ones(2)).dtype == np.float64          # an array keeps its dtype
    assert gl.tensor([1, 2]).dtype == gl.arange(3).dtype == np.int64
    assert gl.zeros(2, dtype=np.float64).dtype == np.float64
    with pytest.raises(TypeError, match="float32 or np.float64"):
        gl.set_default_dtype(np.int32)


# -- 21: bad .data assignments fail at the assignment ----------------------------------------


def test_a_bad_data_assignment_fails_at_the_assignment_saying_what_it_takes():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match=r"expected a numpy array.*got float 3\.0"):
        x.data = 3.0
    with pytest.raises(TypeError, match=r"int64 on a tensor that requires grad.*floating"):
        x.data = np.array([1, 2])
    with pytest.raises(TypeError, match="real numbers"):
        x.data = np.array(["a", "b"])
    np.testing.assert_array_equal(x.data, [1.0, 2.0])
    x.data = np.zeros(3)                  # another shape, as PyTorch allows
    x.data = gl.tensor([5.0, 6.0])        # a tensor's numbers
    np.testing.assert_array_equal(x.data, [5.0, 6.0])
    x.data = np.array(7.0)                # 0-d: a numpy scalar, as everywhere
    assert type(x.data) is np.float64
    counts = gl.tensor([1, 2])
    counts.data = np.array([3, 4])        # integers where no grad is asked
