"""np.fft on Tensors: values against numpy's, gradients against the nudge method along real
and imaginary directions, with every norm, n/s, axis/axes, in both precisions."""

import gradledger as gl
import numpy as np
import pytest
from numeric import complex_nudge_grads

rng = np.random.default_rng(21)
REAL = rng.normal(size=(3, 6))
CPLX = rng.normal(size=(3, 6)) + 1j * rng.normal(size=(3, 6))
CUBE = rng.normal(size=(2, 3, 4)) + 1j * rng.normal(size=(2, 3, 4))
NORMS = [None, "backward", "ortho", "forward"]

# (name, input, params): the transforms, their n/s and axis/axes; each runs with every norm
CALLS = [
    ("fft", CPLX, {}),
    ("fft", REAL, {"n": 8, "axis": 0}),
    ("fft", CPLX, {"n": 4}),
    ("ifft", CPLX, {"axis": 0}),
    ("ifft", REAL, {"n": 9}),
    ("rfft", REAL, {}),
    ("rfft", REAL, {"n": 5, "axis": 0}),
    ("rfft", REAL, {"n": 9}),
    ("irfft", CPLX, {}),
    ("irfft", CPLX, {"n": 7}),
    ("irfft", CPLX, {"n": 4, "axis": 0}),
    ("irfft", REAL, {}),
    ("fft2", CPLX, {}),
    ("fft2", CPLX, {"s": (4, 5)}),
    ("ifft2", CUBE, {"axes": (0, 2)}),
    ("rfft2", REAL, {"s": (2, 7)}),
    ("irfft2", CPLX, {}),
    ("irfft2", CUBE, {"s": (3, 5), "axes": (0, 1)}),
    ("fftn", CUBE, {}),
    ("fftn", CUBE, {"s": (3, 2), "axes": (2, 0)}),
    ("ifftn", CUBE, {"axes": (1,)}),
    ("rfftn", CUBE.real, {}),
    ("rfftn", CUBE.real, {"s": (4, 6), "axes": (0, 1)}),
    ("irfftn", CUBE, {}),
    ("irfftn", CUBE, {"s": (2, 4, 6), "axes": (0, 1, 2)}),
    ("fftshift", CPLX, {}),
    ("fftshift", REAL, {"axes": 1}),
    ("ifftshift", CUBE, {"axes": (0, 2)}),
]
TRANSFORMS = ["fft", "ifft", "rfft", "irfft", "fft2", "ifft2", "rfft2", "irfft2", "fftn",
              "ifftn", "rfftn", "irfftn"]
TESTED_OPS = [*TRANSFORMS, "fftshift", "ifftshift"]
"""For test_builtin_grads' sweep: every op here is called below."""


def _cases():
    for name, x, params in CALLS:
        for norm in (NORMS if name in TRANSFORMS else [None]):
            extra = {"norm": norm} if name in TRANSFORMS and norm is not None else {}
            label = "-".join([name, *(f"{k}={v}" for k, v in params.items()), str(norm)])
            yield pytest.param(name, x, {**params, **extra}, id=label)


@pytest.mark.parametrize("name,x,params", list(_cases()))
def test_values_match_numpy_through_numpy_dispatch_and_gl(name, x, params):
    function = getattr(np.fft, name)
    want = function(x, **params)
    through_numpy = function(gl.tensor(x, requires_grad=True), **params)
    through_gl = getattr(gl, name)(gl.tensor(x, requires_grad=True), **params)
    for got in (through_numpy, through_gl):
        assert isinstance(got, gl.Tensor) and got.op == name
        assert got.dtype == want.dtype and got.shape == want.shape
        np.testing.assert_allclose(got.detach().data, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("name,x,params", list(_cases()))
def test_grads_match_the_nudge_method_along_real_and_imaginary_directions(name, x, params):
    function = getattr(np.fft, name)
    out = function(x, **params)
    u = rng.normal(size=out.shape) + (1j * rng.normal(size=out.shape) if np.iscomplexobj(out)
                                      else 0.0)

    def loss(a):  # numpy's own transform: the yardstick knows nothing of gradledger's rules
        return float(np.sum(np.real(np.conj(u) * function(a, **params))))

    (want,) = complex_nudge_grads(loss, [x])
    t = gl.tensor(x, requires_grad=True)
    y = function(t, **params)
    assert y.requires_grad
    y.backward(u)
    assert t.grad.dtype == x.dtype  # a real input's grad is real, a complex one's complex
    np.testing.assert_allclose(t.grad, want, rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", TRANSFORMS)
def test_single_precision_stays_single_and_agrees_with_double(name):
    x = CUBE if not name.startswith("rfft") else CUBE.real
    narrow = x.astype(np.complex64 if np.iscomplexobj(x) else np.float32)
    t = gl.tensor(narrow, requires_grad=True)
    y = getattr(np.fft, name)(t, norm="ortho")
    want = getattr(np.fft, name)(x, norm="ortho")
    assert y.dtype in (np.complex64, np.float32)
    np.testing.assert_allclose(y.data, want, rtol=1e-4, atol=1e-5)
    gl.sum(gl.abs(y) ** 2).backward()
    assert t.grad.dtype == narrow.dtype


def test_parseval_ortho_rfft_energy_grad_is_the_closed_form():
    # sum |fft(x, norm="ortho")|^2 = sum |x|^2, so its grad is 2 x (2 z for complex z)
    z = gl.tensor(CPLX, requires_grad=True)
    gl.sum(gl.abs(np.fft.fft2(z, norm="ortho")) ** 2).backward()
    np.testing.assert_allclose(z.grad, 2 * CPLX, rtol=1e-12)
    x = gl.tensor(REAL, requires_grad=True)
    gl.sum(gl.abs(np.fft.fft(x, norm="ortho")) ** 2).backward()
    np.testing.assert_allclose(x.grad, 2 * REAL, rtol=1e-12)


def test_irfft_of_rfft_is_the_identity_and_so_is_its_grad():
    x = gl.tensor(REAL, requires_grad=True)
    u = rng.normal(size=REAL.shape)
    np.fft.irfft(np.fft.rfft(x), n=REAL.shape[-1]).backward(u)
    np.testing.assert_allclose(x.grad, u, rtol=1e-12, atol=1e-12)


def test_second_order_through_rfft_matches_the_nudge_of_first_order_grads():
    """Hessian-vector product of sum |rfft(x)|^4 (not quadratic: a real second derivative)."""
    x0 = rng.normal(size=8)
    v = rng.normal(size=8)

    def first(x):
        t = gl.tensor(x, requires_grad=True)
        gl.sum(gl.abs(np.fft.rfft(t)) ** 4).backward()
        return t.grad

    t = gl.tensor(x0, requires_grad=True)
    (g,) = gl.grad(gl.sum(gl.abs(np.fft.rfft(t)) ** 4), [t], create_graph=True)
    (hv,) = gl.grad(gl.sum(g * v), [t])
    eps = 1e-6
    want = (first(x0 + eps * v) - first(x0 - eps * v)) / (2 * eps)
    np.testing.assert_allclose(hv.data, want, rtol=1e-6, atol=1e-6)


def test_a_bad_norm_is_an_error_naming_the_op_and_numpys_choices():
    with pytest.raises(gl.OpCallError, match="op 'fft'.*norm.*backward"):
        np.fft.fft(gl.tensor(CPLX), norm="sideways")


@pytest.mark.parametrize("name", TRANSFORMS + ["fftshift", "ifftshift"])
def test_every_fft_op_passes_the_verifier_in_both_complex_dtypes(name):
    from gradledger.verify import verify_op

    report = verify_op(name, examples=40)
    assert report.ok, str(report)
    complex_examples = {d for d in report.dtypes if d.startswith("complex")}
    assert complex_examples == {"complex128", "complex64"}, report.dtypes
