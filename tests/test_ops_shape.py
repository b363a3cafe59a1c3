"""The shape ops against numpy's values, and their grads against central differences and
closed forms (copies sum their grads: broadcast_to, tile, repeat)."""

import gradledger as gl
import numpy as np
import pytest
from gradledger.errors import OpCallError
from opcheck import check_against_nudge

rng = np.random.default_rng(12)

# (case id, op name, x, params, numpy's own call)
CASES = [
    ("squeeze all", "squeeze", (1, 3, 1), {}, lambda x: np.squeeze(x)),
    ("squeeze axis -1", "squeeze", (1, 3, 1), {"axis": -1}, lambda x: np.squeeze(x, -1)),
    ("squeeze axes (0, 2)", "squeeze", (1, 3, 1), {"axis": (0, 2)},
     lambda x: np.squeeze(x, (0, 2))),
    ("expand_dims 0", "expand_dims", (2, 3), {"axis": 0}, lambda x: np.expand_dims(x, 0)),
    ("expand_dims (-1, 1)", "expand_dims", (2, 3), {"axis": (-1, 1)},
     lambda x: np.expand_dims(x, (-1, 1))),
    ("broadcast_to", "broadcast_to", (3, 1), {"shape": (2, 3, 4)},
     lambda x: np.broadcast_to(x, (2, 3, 4))),
    ("flip all", "flip", (2, 3), {}, lambda x: np.flip(x)),
    ("flip axis -1", "flip", (2, 3), {"axis": -1}, lambda x: np.flip(x, -1)),
    ("flip axes (0, 2)", "flip", (2, 3, 2), {"axis": (0, 2)}, lambda x: np.flip(x, (0, 2))),
    ("swapaxes 0 -1", "swapaxes", (2, 3, 4), {"axis1": 0, "axis2": -1},
     lambda x: np.swapaxes(x, 0, -1)),
    ("moveaxis 0 to -1", "moveaxis", (2, 3, 4), {"source": 0, "destination": -1},
     lambda x: np.moveaxis(x, 0, -1)),
    ("moveaxis (0, 1) to (2, 0)", "moveaxis", (2, 3, 4), {"source": (0, 1), "destination": (2, 0)},
     lambda x: np.moveaxis(x, (0, 1), (2, 0))),
    ("flatten all", "flatten", (2, 3, 4), {}, lambda x: x.reshape(-1)),
    ("flatten 1..-1", "flatten", (2, 3, 4), {"start_dim": 1}, lambda x: x.reshape(2, 12)),
    ("flatten 0..1", "flatten", (2, 3, 4), {"end_dim": 1}, lambda x: x.reshape(6, 4)),
    ("pad 1", "pad", (2, 3), {"pad_width": 1}, lambda x: np.pad(x, 1)),
    ("pad per axis with a constant", "pad", (2, 3),
     {"pad_width": ((0, 2), (1, 0)), "constant_values": -1.5},
     lambda x: np.pad(x, ((0, 2), (1, 0)), constant_values=-1.5)),
    ("tile 2", "tile", (2, 3), {"reps": 2}, lambda x: np.tile(x, 2)),
    ("tile (2, 1, 3)", "tile", (2, 3), {"reps": (2, 1, 3)}, lambda x: np.tile(x, (2, 1, 3))),
    ("repeat 2 flat", "repeat", (2, 3), {"repeats": 2}, lambda x: np.repeat(x, 2)),
    ("repeat 3 axis -1", "repeat", (2, 3), {"repeats": 3, "axis": -1},
     lambda x: np.repeat(x, 3, -1)),
    ("repeat counts with a 0 axis 1", "repeat", (2, 3), {"repeats": [2, 0, 1], "axis": 1},
     lambda x: np.repeat(x, [2, 0, 1], 1)),
    ("repeat counts flat", "repeat", (2, 2), {"repeats": [1, 3, 0, 2]},
     lambda x: np.repeat(x, [1, 3, 0, 2])),
]
GRAD_CASES = [(case_id, name, [rng.normal(size=shape)], params, ())
              for case_id, name, shape, params, _ in CASES]


@pytest.mark.parametrize("name,arrays,params,constants", [c[1:] for c in GRAD_CASES],
                         ids=[c[0] for c in GRAD_CASES])
def test_shape_op_grad_matches_central_differences(name, arrays, params, constants):
    check_against_nudge(name, arrays, params, constants)


@pytest.mark.parametrize("name,shape,params,numpy_call", [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])
def test_shape_op_values_match_numpy(name, shape, params, numpy_call):
    x = rng.normal(size=shape)
    np.testing.assert_array_equal(getattr(gl, name)(gl.tensor(x), **params).data, numpy_call(x))


def test_copies_sum_their_grads():
    x = gl.tensor([1.0, 2.0], requires_grad=True)
    gl.sum(gl.broadcast_to(x, (3, 2))).backward()
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])
    y = gl.tensor([1.0, 2.0], requires_grad=True)
    gl.sum(gl.tile(y, (2, 3))).backward()
    np.testing.assert_array_equal(y.grad, [6.0, 6.0])
    z = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    gl.sum(gl.repeat(z, [2, 0, 3])).backward()
    np.testing.assert_array_equal(z.grad, [2.0, 0.0, 3.0])


def test_pad_books_no_grad_to_the_padding():
    x = gl.tensor(np.ones((2, 2)), requires_grad=True)
    out = gl.pad(x, ((1, 0), (0, 2)), constant_values=9.0)
    gl.sum(out * np.arange(12.0).reshape(3, 4)).backward()
    np.testing.assert_array_equal(x.grad, [[4.0, 5.0], [8.0, 9.0]])


def test_flatten_of_a_scalar_is_1d_and_bad_dims_name_the_op():
    assert gl.flatten(gl.tensor(3.0)).shape == (1,)
    with pytest.raises(OpCallError, match="flatten.*start_dim 2 and end_dim 1"):
        gl.flatten(gl.tensor(np.ones((2, 3, 4))), start_dim=2, end_dim=1)


def test_pad_refuses_other_modes_and_negative_widths_naming_the_op():
    with pytest.raises(OpCallError, match="pad.*mode must be 'constant' or one of"):
        gl.pad(gl.tensor(np.ones(3)), 1, mode="mean")
    with pytest.raises(OpCallError, match="pad.*pad widths must be >= 0"):
        gl.pad(gl.tensor(np.ones(3)), -1)
