"""np.linalg.norm with every ord numpy accepts (issue 21): values equal numpy's, grads equal
central differences, second derivatives where they exist."""

import gradledger as gl
import numpy as np
import pytest
from numeric import nudge_grads

rng = np.random.default_rng(5)
VECTOR = (rng.permutation(6) * 0.3 + 0.4) * rng.choice([-1.0, 1.0], size=6)
STACK = (rng.permutation(12).reshape(3, 4) * 0.25 + 0.5) * rng.choice([-1.0, 1.0], size=(3, 4))
MATRIX = 2.0 ** rng.permutation(12).reshape(3, 4) / 8 * rng.choice([-1.0, 1.0], size=(3, 4))
BATCH = rng.normal(size=(2, 3, 4))

CASES = [(f"vector ord {o}", VECTOR, {"ord": o}) for o in
         [None, 1, 2, 3, 0.5, -1, -2.5, np.inf, -np.inf, 0]] + [
    (f"rows ord {o}", STACK, {"ord": o, "axis": 1, "keepdims": k})
    for o, k in [(3, False), (np.inf, True), (-np.inf, False)]] + [
    (f"matrix ord {o}", MATRIX, {"ord": o}) for o in
    [None, "fro", "nuc", 1, -1, 2, -2, np.inf, -np.inf]] + [
    (f"batched matrix ord {o}", BATCH, {"ord": o, "axis": (2, 0), "keepdims": True})
    for o in ["nuc", 2, -2, 1, -np.inf]]


@pytest.mark.parametrize("x,params", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_norm_value_is_numpys_and_grad_the_nudge(x, params):
    t = gl.tensor(x, requires_grad=True)
    out = np.linalg.norm(t, **params)
    np.testing.assert_allclose(out.data, np.linalg.norm(x, **params), rtol=1e-12)
    weights = np.random.default_rng(0).normal(size=np.shape(out.data))
    gl.sum(out * weights).backward()
    want = nudge_grads(lambda v: float(np.sum(np.linalg.norm(v, **params) * weights)), [x])[0]
    np.testing.assert_allclose(t.grad, want, rtol=1e-5, atol=1e-7)


def test_inf_norm_splits_a_tie_evenly():
    x = gl.tensor([3.0, -3.0, 1.0], requires_grad=True)
    np.linalg.norm(x, np.inf).backward()
    np.testing.assert_array_equal(x.grad, [0.5, -0.5, 0.0])


@pytest.mark.parametrize("ord", ["nuc", 2, 3, "fro"])
def test_norm_second_derivative_matches_nudges_of_the_first(ord):
    x = MATRIX if ord != 3 else VECTOR

    def first(v):
        t = gl.tensor(v, requires_grad=True)
        return gl.grad(np.linalg.norm(t, ord), t)[0].data

    direction = np.random.default_rng(3).normal(size=np.shape(x))
    t = gl.tensor(x, requires_grad=True)
    (g,) = gl.grad(np.linalg.norm(t, ord), t, create_graph=True)
    (h,) = gl.grad(gl.sum(g * direction), t)
    want = nudge_grads(lambda v: float(np.sum(first(v) * direction)), [x])[0]
    np.testing.assert_allclose(h, want, rtol=1e-4, atol=1e-6)
