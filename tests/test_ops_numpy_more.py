"""More of numpy's functions on Tensors (gradledger_builtin.numpy_more): values equal
numpy's, grads the nudge method's, NaNs and infinities booked no grad; the `*_like`
constructors give constants."""

import gradledger as gl
import numpy as np
import pytest
from numeric import nudge_grads
from opcheck import check_against_nudge

rng = np.random.default_rng(99)
M = rng.normal(size=(3, 4))
C = rng.normal(size=(2, 3, 4))
DISTINCT = rng.permutation(12).reshape(3, 4) * 0.5 - 2.0

CALLS = [
    ("nansum", lambda a: np.nansum(a, axis=1), [M]),
    ("nanmean", lambda a: np.nanmean(a, 0, keepdims=True), [M]),
    ("nan_to_num", lambda a: np.nan_to_num(a, nan=2.0), [M]),
    ("copysign", lambda a, b: np.copysign(a, b), [M, -M[0]]),
    ("ldexp", lambda a: np.ldexp(a, np.array([1, -2, 0, 3])), [M]),
    ("rollaxis", lambda a: np.rollaxis(a, 2), [C]),
    ("rollaxis start", lambda a: np.rollaxis(a, 0, 3), [C]),
    ("inner", lambda a, b: np.inner(a, b), [C, M]),
    ("inner vectors", lambda a, b: np.inner(a, b), [M[0], M[1]]),
    ("append flat", lambda a, b: np.append(a, b), [M, C[0, 0]]),
    ("append axis", lambda a, b: np.append(a, b, axis=0), [M, M[:1]]),
    ("fftshift", lambda a: np.fft.fftshift(a), [M]),
    ("ifftshift axes", lambda a: np.fft.ifftshift(a, axes=(1,)), [C]),
    ("partition", lambda a: np.partition(a, 2), [DISTINCT]),
    ("partition axis 0 kths", lambda a: np.partition(a, (0, 2), axis=0), [DISTINCT]),
    ("eigvalsh", lambda a: np.linalg.eigvalsh(a + a.T), [M[:, :3]]),
    ("real", lambda a: np.real(a) * 2.0, [M]),
    ("conj", lambda a: np.conj(a) * a, [M]),
    ("conjugate", lambda a: np.conjugate(a), [M]),
    ("linspace", lambda a, b: np.linspace(a, b, 5), [M[0, 0], M[0, 1]]),
    ("linspace arrays axis", lambda a, b: np.linspace(a, b, 4, endpoint=False, axis=-1),
     [M[0], M[1]]),
    ("vdot", lambda a, b: np.vdot(a, b), [M, M.T.copy().T]),
    ("multi_dot", lambda a, b, c: np.linalg.multi_dot([a, b, c]), [M, M.T, M[:, 0]]),
    ("asin acos atan", lambda a: np.asin(a / 4) + np.acos(a / 4) * np.atan(a), [M]),
    ("asinh acosh atanh atan2", lambda a, b: np.asinh(a) + np.acosh(b + 2) + np.atanh(a / 4)
     + np.atan2(a, b), [M, np.abs(M) + 0.5]),
    *([("concat permute_dims cumulative_sum", lambda a: np.cumulative_sum(
        np.permute_dims(np.concat([a, a * 2])), axis=1), [M])]
      if hasattr(np, "cumulative_sum") else []),  # numpy >= 2.1
    ("positive", lambda a: np.positive(a) * a, [M]),
    ("float_power", lambda a, p: np.float_power(a, p), [np.abs(M) + 0.5, M]),
    ("ptp", lambda a: np.ptp(a, axis=1), [DISTINCT]),
    ("average", lambda a: np.average(a, axis=1, weights=[1.0, 2.0, 0.5, 3.0]), [M]),
    ("average all", lambda a: np.average(a), [M]),
    ("trapezoid", lambda a: np.trapezoid(a, x=[0.0, 0.5, 2.0, 2.5]), [M]),
    ("trapezoid dx axis 0", lambda a: np.trapezoid(a, dx=0.25, axis=0), [M]),
    ("frexp", lambda a: np.frexp(a * 3.3)[0], [M]),
    ("vecdot", lambda a, b: np.vecdot(a, b), [C, M]),
    ("matrix_transpose", lambda a: np.matrix_transpose(a) * 2.0, [C]),
    ("vector_norm", lambda a: np.linalg.vector_norm(a), [M]),
    ("vector_norm ord 3 axes", lambda a: np.linalg.vector_norm(a, axis=(0, 2), ord=3), [C]),
    ("matrix_norm nuc", lambda a: np.linalg.matrix_norm(a, ord="nuc"), [C]),
    ("matrix_norm fro", lambda a: np.linalg.matrix_norm(a), [C]),
    ("nanmax", lambda a: np.nanmax(a, axis=0), [DISTINCT]),
    ("nanmin all", lambda a: np.nanmin(a), [DISTINCT]),
    ("median odd", lambda a: np.median(a, axis=0), [DISTINCT]),
    ("median even", lambda a: np.median(a, axis=1, keepdims=True), [DISTINCT]),
    ("median all", lambda a: np.median(a), [DISTINCT]),
    ("diagflat", lambda a: np.diagflat(a, -1), [M[:2]]),
    ("ediff1d", lambda a: np.ediff1d(a), [M]),
    *([("matvec", lambda a, v: np.matvec(a, v), [C, M[0]]),
       ("vecmat", lambda v, a: np.vecmat(v, a), [M[:2, :3], C.transpose(0, 2, 1)[:, :3]])]
      if hasattr(np, "matvec") else []),  # numpy >= 2.2 (gl.matvec works on any numpy)
    ("convolve full", lambda a, v: np.convolve(a, v), [M[0], M[1, :3]]),
    ("convolve same short first", lambda a, v: np.convolve(a, v, "same"), [M[0, :2], M[1]]),
    ("convolve valid", lambda a, v: np.convolve(a, v, mode="valid"), [C[0].ravel(), M[1]]),
    ("quantile", lambda a: np.quantile(a, 0.3), [DISTINCT]),
    ("quantile axis qs", lambda a: np.quantile(a, [0.0, 0.5, 0.9], axis=1), [DISTINCT]),
    ("quantile keepdims", lambda a: np.quantile(a, 0.75, axis=0, keepdims=True), [DISTINCT]),
    ("percentile", lambda a: np.percentile(a, [10.0, 50.0], axis=0), [DISTINCT]),
]


@pytest.mark.parametrize("call,arrays", [c[1:] for c in CALLS], ids=[c[0] for c in CALLS])
def test_numpy_function_on_tensors_equals_numpy_and_its_grad_the_nudge(call, arrays):
    tensors = [gl.tensor(a, requires_grad=True) for a in arrays]
    out = call(*tensors)
    assert isinstance(out, gl.Tensor) and out.requires_grad
    np.testing.assert_allclose(out.data, call(*arrays), rtol=1e-13)
    weights = np.random.default_rng(0).normal(size=np.shape(out.data))
    gl.sum(out * weights).backward()
    expected = nudge_grads(lambda *v: float(np.sum(call(*v) * weights)), arrays)
    for t, want in zip(tensors, expected, strict=True):
        np.testing.assert_allclose(t.grad, want, rtol=1e-6, atol=1e-7)


def test_nan_skipping_reductions_give_nans_no_grad():
    x = gl.tensor([[1.0, np.nan, 3.0], [np.nan, np.nan, 6.0]], requires_grad=True)
    out = np.nansum(x, axis=1) + np.nanmean(x, axis=1)
    np.testing.assert_allclose(out.data, [4.0 + 2.0, 6.0 + 6.0])
    gl.sum(out).backward()
    np.testing.assert_allclose(x.grad, [[1.5, 0.0, 1.5], [0.0, 0.0, 2.0]])


def test_nan_to_num_books_no_grad_where_it_replaced():
    x = gl.tensor([np.nan, np.inf, -np.inf, 2.0], requires_grad=True)
    out = np.nan_to_num(x, nan=1.0, posinf=5.0, neginf=-5.0)
    np.testing.assert_array_equal(out.data, [1.0, 5.0, -5.0, 2.0])
    gl.sum(out * 3.0).backward()
    np.testing.assert_array_equal(x.grad, [0.0, 0.0, 0.0, 3.0])


@pytest.mark.parametrize("function,args", [(np.zeros_like, ()), (np.ones_like, ()),
                                           (np.full_like, (2.5,)), (np.empty_like, ())])
def test_like_constructors_give_plain_constants_of_the_shape(function, args):
    t = gl.tensor(M, requires_grad=True)
    out = function(t, *args)
    assert isinstance(out, np.ndarray) and out.shape == M.shape and out.dtype == M.dtype
    if function is not np.empty_like:
        np.testing.assert_array_equal(out, function(M, *args))


def test_imag_and_angle_of_real_tensors_are_constants_with_zero_grads():
    x = gl.tensor([-2.0, 0.5, 3.0], requires_grad=True)
    np.testing.assert_array_equal(np.imag(x).data, [0.0, 0.0, 0.0])
    np.testing.assert_allclose(np.angle(x).data, [np.pi, 0.0, 0.0])
    np.testing.assert_allclose(np.angle(x, deg=True).data, [180.0, 0.0, 0.0])
    gl.sum(np.imag(x) + np.angle(x) + x).backward()
    np.testing.assert_array_equal(x.grad, [1.0, 1.0, 1.0])


def test_predicates_are_booleans_without_grad():
    x = gl.tensor([np.nan, np.inf, -0.0, 1.0], requires_grad=True)
    for name in ("isnan", "isinf", "isfinite", "signbit"):
        out = getattr(np, name)(x)
        assert out.dtype == bool and not out.requires_grad
        np.testing.assert_array_equal(out.data, getattr(np, name)(x.data))


def test_rounding_divisions_and_heaviside_book_zero_grads_and_h0_its_share():
    a = gl.tensor([7.5, -3.2], requires_grad=True)
    h0 = gl.tensor(0.25, requires_grad=True)
    out = np.floor_divide(a, 2.0) + np.heaviside(a - 7.5, h0)
    np.testing.assert_allclose(out.data, [3.0 + 0.25, -2.0 + 0.0])
    gl.sum(out).backward()
    np.testing.assert_array_equal(a.grad, [0.0, 0.0])
    assert h0.grad == 1.0  # only where a - 7.5 == 0


def test_nan_extremes_skip_nans_and_give_them_no_grad():
    x = gl.tensor([[np.nan, 2.0, -1.0], [4.0, np.nan, 0.5]], requires_grad=True)
    out = np.nanmax(x, axis=1) + np.nanmin(x, axis=1)
    np.testing.assert_allclose(out.data, [1.0, 4.5])
    gl.sum(out).backward()
    np.testing.assert_array_equal(x.grad, [[0.0, 1.0, 1.0], [1.0, 0.0, 1.0]])


def test_logical_functions_are_booleans_without_grad():
    a = gl.tensor([0.0, 1.0, 2.0], requires_grad=True)
    for out, want in [(np.logical_and(a, a > 0.5), [False, True, True]),
                      (np.logical_or(a, a), [False, True, True]),
                      (np.logical_xor(a, a > 1.5), [False, True, False]),
                      (np.logical_not(a), [True, False, False])]:
        assert out.dtype == bool and not out.requires_grad and out.tolist() == want


GRAD_CASES = [
    ("convolve", "convolve", [M[0], M[1, :2]], {"mode": "same"}, ()),
    ("quantile", "quantile", [DISTINCT], {"q": 0.4, "axis": 1}, ()),
    ("percentile", "percentile", [DISTINCT], {"q": [25.0, 60.0]}, ()),
    ("nanmax", "nanmax", [DISTINCT], {"axis": 1}, ()),
    ("nanmin", "nanmin", [DISTINCT], {"axis": (0, 1), "keepdims": True}, ()),
    ("median", "median", [DISTINCT], {"axis": 1}, ()),
    ("diagflat", "diagflat", [M], {"k": 1}, ()),
    ("ediff1d", "ediff1d", [C], {}, ()),
    ("matvec", "matvec", [M, M[0]], {}, ()),
    ("vecmat", "vecmat", [M[:, 0], M], {}, ()),
    ("real", "real", [M], {}, ()),
    ("positive", "positive", [M], {}, ()),
    ("float_power", "float_power", [np.abs(M) + 0.5, M], {}, ()),
    ("floor_divide", "floor_divide", [M * 3, np.full(4, 1.1)], {}, ()),
    ("heaviside", "heaviside", [M, M[0]], {}, ()),
    ("ptp", "ptp", [DISTINCT], {"axis": 0}, ()),
    ("average", "average", [M], {"axis": 0, "weights": [1.0, 2.0, 3.0]}, ()),
    ("trapezoid", "trapezoid", [C], {"axis": 1}, ()),
    ("vecdot", "vecdot", [M, M[0]], {}, ()),
    ("matrix_transpose", "matrix_transpose", [C], {}, ()),
    ("vector_norm", "vector_norm", [C], {"axis": 1, "ord": 1}, ()),
    ("matrix_norm", "matrix_norm", [C], {"ord": 2}, ()),
    ("imag", "imag", [M], {}, ()),
    ("conj", "conj", [M], {}, ()),
    ("angle", "angle", [M], {}, ()),
    ("linspace", "linspace", [M[0], M[1]], {"num": 3}, ()),
    ("vdot", "vdot", [M, M], {}, ()),
    ("nansum", "nansum", [C], {"axis": (0, 2)}, ()),
    ("nanmean", "nanmean", [C], {"axis": 1, "keepdims": True}, ()),
    ("nan_to_num", "nan_to_num", [M], {}, ()),
    ("copysign", "copysign", [M, M[1]], {}, ()),
    ("ldexp", "ldexp", [M, np.array([2, 0, -1, 1])], {}, (1,)),
    ("rollaxis", "rollaxis", [C], {"axis": -1, "start": 1}, ()),
    ("inner", "inner", [M, C], {}, ()),
    ("append", "append", [M, M[0]], {}, ()),
    ("fftshift", "fftshift", [C], {"axes": (0, 2)}, ()),
    ("ifftshift", "ifftshift", [C], {}, ()),
    ("partition", "partition", [DISTINCT], {"kth": -1, "axis": 1}, ()),
    ("eigvalsh", "eigvalsh", [M[:3, :3] + M[:3, :3].T], {}, ()),
]
TESTED_OPS = ["multi_dot", "frexp"]  # a sequence input, two outputs: tested by calls above
NO_GRAD_OPS = ["isnan", "isinf", "isfinite", "signbit", "logical_and", "logical_or",
               "logical_xor", "logical_not"]


@pytest.mark.parametrize("name,arrays,params,constants", [c[1:] for c in GRAD_CASES],
                         ids=[c[0] for c in GRAD_CASES])
def test_op_grad_matches_central_differences(name, arrays, params, constants):
    check_against_nudge(name, arrays, params, constants)


def test_multi_dot_differentiates_twice_like_the_nudge_method():
    from gradledger.verify.gradcheck import gradgradcheck

    def chain(a, b, c):
        return np.linalg.multi_dot([a, b * b, c])

    assert gradgradcheck(chain, *[gl.tensor(v, requires_grad=True)
                                  for v in (M[0], M.T, M[:, :2])])
