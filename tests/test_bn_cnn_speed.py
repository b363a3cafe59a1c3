"""The BatchNorm CNN's speed work keeps PyTorch's semantics: the running statistics moved
from the statistics the op batch_norm saved equal those computed afresh (a call that is
not recorded saves nothing) and the closed forms."""

import gradledger as gl
import numpy as np

rng = np.random.default_rng(5)


def _moved(x, training_grad: bool):
    bn = gl.nn.BatchNorm2d(3)
    bn.running_mean.data = np.array([0.5, -1.0, 2.0], dtype=np.float32)
    bn.running_var.data = np.array([1.5, 0.25, 3.0], dtype=np.float32)
    bn.to(np.float32)
    if training_grad:
        out = bn(gl.tensor(x))
        assert out._node is not None  # recorded: the op's saved statistics are used
    else:
        with gl.no_grad():
            out = bn(gl.tensor(x))
        assert out._node is None  # not recorded: nothing saved, computed afresh
    return bn.running_mean.data, bn.running_var.data


def test_running_statistics_from_the_ops_saved_values_equal_fresh_ones_and_the_closed_form():
    x = (rng.standard_normal((5, 3, 4, 6)) * 3 + 7).astype(np.float32)
    recorded, fresh = _moved(x, True), _moved(x, False)
    for a, b in zip(recorded, fresh, strict=True):
        assert a.dtype == np.float32
        np.testing.assert_array_equal(a, b)
    wide = x.astype(np.float64)
    n = 5 * 4 * 6
    mean = wide.mean(axis=(0, 2, 3))
    var = wide.var(axis=(0, 2, 3)) * n / (n - 1)
    np.testing.assert_allclose(recorded[0], 0.9 * np.array([0.5, -1.0, 2.0]) + 0.1 * mean,
                               rtol=2e-7)
    np.testing.assert_allclose(recorded[1], 0.9 * np.array([1.5, 0.25, 3.0]) + 0.1 * var,
                               rtol=2e-7)


def test_the_op_saves_the_float64_mean_and_biased_variance():
    x = rng.standard_normal((4, 2, 3)).astype(np.float32)
    w = gl.tensor(np.ones(2, dtype=np.float32), requires_grad=True)
    out = gl.batch_norm(gl.tensor(x), w, np.zeros(2, dtype=np.float32))
    mean, var = out._node.saved[2:]
    wide = x.astype(np.float64)
    assert mean.dtype == var.dtype == np.float64
    np.testing.assert_allclose(mean, wide.mean(axis=(0, 2)), rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(var, wide.var(axis=(0, 2)), rtol=1e-6)
