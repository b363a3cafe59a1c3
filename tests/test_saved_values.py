"""Params are values, saved arrays stay what was saved, and locking restores exactly the
flags that were there (issue 17, items 7, 8 and 14)."""

import gradledger as gl
import numpy as np
import pytest
from gradledger import locks

# -- params are values (item 7) ----------------------------------------------------------


def test_an_array_param_changed_after_the_forward_changes_nothing():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    counts = np.array([1, 2, 3])
    y = gl.repeat(x, counts)
    counts[:] = [3, 2, 1]
    gl.sum(y).backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])


def test_a_clip_bound_array_changed_after_the_forward_changes_nothing():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    low = np.array([2.0, 0.0, 0.0])
    y = gl.clip(x, low, 10.0)
    low[:] = [0.0, 0.0, 5.0]
    gl.sum(y).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0])  # only x[0] was clipped


def test_a_list_param_changed_after_the_forward_changes_nothing():
    w = gl.tensor(np.arange(6.0).reshape(1, 2, 3), requires_grad=True)
    axes = [2, 0, 1]
    y = gl.transpose(w, axes=axes)  # shape (3, 1, 2)
    axes[:] = [0, 1, 2]
    weights = np.arange(6.0).reshape(3, 1, 2)
    gl.sum(y * weights).backward()
    np.testing.assert_array_equal(w.grad, np.transpose(weights, (1, 2, 0)))


def test_a_tuple_holding_an_array_param_is_copied_too():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    bounds = (np.array([2.0, 0.0, 0.0]),)
    y = gl.clip(x, *bounds, 10.0)
    bounds[0][:] = 0.0
    gl.sum(y).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 1.0, 1.0])


# -- saved arrays stay what was saved (item 8) --------------------------------------------


def test_a_view_made_before_the_forward_cannot_change_the_saved_values():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    view = x.data[:]
    loss = gl.sum(x * x)
    view[0] = 100.0
    loss.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0, 6.0])  # 2 x, at the forward's x


def test_a_data_loader_editing_its_batch_through_an_earlier_view_changes_nothing():
    buffer = np.arange(8.0)
    batch = buffer[:4]
    w = gl.tensor(np.ones(4), requires_grad=True)
    loss = gl.sum(w * batch)
    buffer[:4] = -1.0  # the loader refills its buffer before backward
    loss.backward()
    np.testing.assert_array_equal(w.grad, [0.0, 1.0, 2.0, 3.0])


def test_a_second_order_pass_through_a_leaf_changed_by_an_earlier_view_is_refused():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    view = x.data[:]
    y = gl.sum(x * x * x)
    view[0] = 5.0
    with pytest.raises(gl.BackwardError, match=r"op 'mul'.*view made before"):
        y.backward(create_graph=True)


def test_a_leaf_nobody_else_holds_is_saved_as_it_is_not_copied():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    makers = (lambda: x * 2.0, lambda: 2.0 * x, lambda: x * x, lambda: gl.transpose(x),
              lambda: gl.prod(x), lambda: gl.concatenate([x, x]))  # ops reading x
    for make in makers:
        assert x.data.flags.writeable  # each call is the first to lock x.data
        y = make()
        assert any(a is x.data for a in y._node.arrays)
        del y


def test_a_leaf_with_a_view_made_before_is_saved_as_a_read_only_copy():
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    view = x.data[1:]
    y = x * 2.0
    saved = y._node.arrays[0]
    assert saved is not x.data and not saved.flags.writeable
    view[0] = 7.0
    np.testing.assert_array_equal(saved, [1.0, 2.0, 3.0])


# -- flags restored exactly (item 14) -----------------------------------------------------


def test_a_broadcast_view_given_as_tensor_data_stays_read_only_after_backward():
    base = np.arange(3.0)
    ones = gl.tensor(np.ones((2, 3)))
    ones.data = np.broadcast_to(base, (2, 3))
    w = gl.tensor(np.ones((2, 3)), requires_grad=True)
    gl.sum(w * ones).backward()
    assert not ones.data.flags.writeable
    assert base.flags.writeable


def test_a_view_the_user_froze_stays_frozen_after_backward():
    base = np.arange(3.0)
    frozen = base[:]
    frozen.flags.writeable = False
    weights = gl.tensor(np.ones(3))
    weights.data = frozen
    w = gl.tensor(np.ones(3), requires_grad=True)
    gl.sum(w * weights).backward()
    assert not frozen.flags.writeable
    assert base.flags.writeable and not locks.is_locked(base)


def test_a_broadcast_view_of_an_already_locked_array_is_never_made_writeable():
    x = gl.tensor(np.arange(3.0), requires_grad=True)
    held = x * 2.0  # locks x.data
    spread = gl.tensor(np.ones((2, 3)))
    spread.data = np.broadcast_to(x.data, (2, 3))
    w = gl.tensor(np.ones((2, 3)), requires_grad=True)
    gl.sum(w * spread).backward()
    del held
    assert not spread.data.flags.writeable
    assert x.data.flags.writeable
