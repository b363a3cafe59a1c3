"""An array saved for backward cannot be edited in place while its graph lives."""

import gc
import os
import subprocess
import sys

import gradledger as gl
import numpy as np
import pytest
from gradledger import locks


def make_graph():
    w = gl.tensor(np.array([1.0, 2.0, 3.0]), requires_grad=True)
    x = gl.tensor(np.array([0.5, -1.0, 2.0]), requires_grad=True)
    loss = gl.sum(w * x)
    return w, x, loss


def test_sgd_style_in_place_update_between_forward_and_backward_is_refused():
    w, x, loss = make_graph()
    with pytest.raises(ValueError, match="read-only"):
        w.data -= 0.1 * np.ones(3)
    loss.backward()
    np.testing.assert_array_equal(w.grad, x.data)
    np.testing.assert_array_equal(x.grad, [1.0, 2.0, 3.0])


def test_element_assignment_into_a_saved_input_is_refused():
    w, x, loss = make_graph()
    with pytest.raises(ValueError, match="read-only"):
        x.data[0] = 7.0
    loss.backward()
    np.testing.assert_array_equal(w.grad, [0.5, -1.0, 2.0])


def test_after_backward_the_arrays_are_writable_again():
    w, x, loss = make_graph()
    loss.backward()
    w.data -= 0.1 * w.grad
    x.data[0] = 7.0
    assert not locks.is_locked(w.data)


def test_retain_graph_keeps_the_lock_until_the_graph_is_dropped():
    w, x, loss = make_graph()
    loss.backward(retain_graph=True)
    with pytest.raises(ValueError, match="read-only"):
        w.data[0] = 0.0
    del loss
    gc.collect()
    w.data[0] = 0.0


def test_a_graph_dropped_without_backward_releases_its_arrays():
    w, x, loss = make_graph()
    del loss
    w.data[1] = 5.0
    assert not locks.is_locked(x.data)


def test_an_array_held_by_two_graphs_stays_locked_until_both_let_go():
    w, x, first = make_graph()
    second = gl.sum(w * w)
    first.backward()
    with pytest.raises(ValueError, match="read-only"):
        w.data[0] = 9.0
    second.backward()
    w.data[0] = 9.0


def test_rebinding_data_is_allowed_and_the_old_graph_keeps_the_old_values():
    w, x, loss = make_graph()
    old = w.data.copy()
    w.data = w.data - 0.5
    loss.backward()
    np.testing.assert_array_equal(x.grad, old)


def test_arrays_that_were_read_only_already_are_left_read_only():
    constant = np.array([1.0, 2.0])
    constant.flags.writeable = False
    w = gl.tensor([1.0, 1.0], requires_grad=True)
    gl.sum(w * constant).backward()
    assert not constant.flags.writeable


def test_a_constant_array_is_a_value_changing_it_or_its_base_later_changes_nothing():
    x = gl.tensor([1.0, 1.0], requires_grad=True)
    base = np.array([1.0, 2.0, 3.0, 4.0])
    loss = gl.sum(x * base[:2])
    base[0] = 100.0  # copied at the call: the graph keeps what the forward used
    loss.backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])


def test_a_view_released_while_its_base_is_still_held_becomes_writable_with_it():
    x = gl.tensor(np.arange(4.0), requires_grad=True)
    y = gl.reshape(x, shape=(2, 2))
    other = x * 3.0  # a second graph holding x.data
    gl.sum(y).backward()
    assert not y.data.flags.writeable  # its base x.data is still held by `other`
    del other
    y.data[0, 0] = 1.0
    x.data[1] = 5.0


def test_a_view_born_read_only_of_a_locked_array_is_unlocked_with_its_graph():
    x = gl.tensor(np.arange(4.0).reshape(2, 2), requires_grad=True)
    held = x * 2.0  # locks x.data
    t = gl.transpose(x)  # a view of a locked array: born read-only
    del held, t
    gc.collect()
    x.data[0, 0] = 9.0
    fresh = gl.transpose(x)
    fresh_loss = gl.sum(fresh)
    fresh_loss.backward()
    fresh.data[0, 0] = 7.0


def test_a_graph_still_held_at_interpreter_exit_prints_no_error(tmp_path):
    # The graph is kept alive by a module (numpy) that is torn down after gradledger's,
    # so its nodes die when the tape's module globals are already gone.
    script = tmp_path / "held_at_exit.py"
    script.write_text(
        "import numpy as np\n"
        "import gradledger as gl\n"
        "w = gl.tensor(np.ones((3, 3)), requires_grad=True)\n"
        "np.kept_graph = [gl.sum(gl.relu(w @ np.ones(3))) for _ in range(3)]\n"
    )
    env = {**os.environ, "GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=env, timeout=120, check=False)
    assert result.returncode == 0
    assert "Exception ignored" not in result.stderr, result.stderr
