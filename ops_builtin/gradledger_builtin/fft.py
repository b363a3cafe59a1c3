"""np.fft: discrete Fourier transforms and their inverses, with numpy's `n`/`s`,
`axis`/`axes` and `norm` ("backward", "ortho", "forward").

Each op takes numpy's name, so `np.fft.rfft(t)` on a Tensor reaches the op `rfft`, and
so does `gl.rfft(t)` (the transforms' names are unique among numpy's functions, so no
`gl.fft.` namespace is needed: `gl.fft` is the transform itself).

Every transform is linear. The gradient of a real loss (docs/plugins.md, "Complex
numbers": grad = d loss / d Re + i d loss / d Im) is the adjoint applied to the output's
grad, and the adjoint of a transform is its inverse with the dual norm ("backward" <->
"forward", "ortho" itself). Around it, `n`/`s` cropped or zero-padded the input, so the
grad is padded or cropped back; rfft kept half the spectrum, so the grad is zero-padded
to the whole spectrum first (a real input keeps the real part); irfft read only half
of a Hermitian spectrum, so its grad is rfft's, with the bins irfft reads once (0 and,
for an even length, n/2) weighted 1 and the others 2.

fftshift and ifftshift move the numbers (a roll): their grads roll back.
"""

import numpy as np
from gradledger.extend import Op

ANY = "(*)->(*)"
COMPLEX_IN = ("complex128", "complex64", "float64->complex128", "float32->complex64")
"""Transforms of complex inputs that also take real ones (fft, ifft, ...): a complex output."""
REAL_IN = ("float64->complex128", "float32->complex64")
"""Transforms of real inputs (rfft, rfftn): a complex output."""
COMPLEX = ("float64", "float32", "complex128", "complex64")
"""irfft's family (a real output of complex or real inputs), and the shifts."""
DUAL = {None: "forward", "backward": "forward", "forward": "backward", "ortho": "ortho"}
"""The norm of a transform's adjoint: ifft(norm=DUAL[norm]) is fft(norm=norm)'s adjoint."""


def _dual(norm):
    if norm not in DUAL:
        # numpy's own message names the choices; the forward rule raised it already
        raise ValueError(f'Invalid norm value {norm}; should be "backward", "ortho" or '
                         '"forward".')
    return DUAL[norm]


def _fit(a, shape, axes):
    """`a` cropped or zero-padded along `axes` to the lengths `shape` gives there."""
    index, widths = [slice(None)] * np.ndim(a), [(0, 0)] * np.ndim(a)
    for ax in axes:
        have, want = np.shape(a)[ax], shape[ax]
        if have > want:
            index[ax] = slice(0, want)
        elif have < want:
            widths[ax] = (0, want - have)
    if any(s != slice(None) for s in index):
        a = a[tuple(index)]
    if any(w != (0, 0) for w in widths):
        a = np.pad(a, widths)
    return a


def _axes(ndim, s, axes):
    """The axes a multi-axis transform runs along, as numpy picks them (all of them, or
    the last len(s) when only s is given), normalised to non-negative indices."""
    if axes is None:
        axes = range(ndim) if s is None else range(-len(s), 0)
    return tuple(ax % ndim for ax in axes)


def _real_if(grad, x):
    """A real input's grad is the real part of the complex one (as the tape would take)."""
    return np.real(grad) if x.dtype.kind != "c" else grad


# -- one axis ------------------------------------------------------------------------


def fft(a, n=None, axis=-1, norm=None):
    return np.fft.fft(a, n, axis, norm)


def fft_vjp(out_grad, a, out, n=None, axis=-1, norm=None):
    grad = np.fft.ifft(out_grad, axis=axis, norm=_dual(norm))
    return (_real_if(_fit(grad, np.shape(a), (axis % np.ndim(a),)), a),)


def ifft(a, n=None, axis=-1, norm=None):
    return np.fft.ifft(a, n, axis, norm)


def ifft_vjp(out_grad, a, out, n=None, axis=-1, norm=None):
    grad = np.fft.fft(out_grad, axis=axis, norm=_dual(norm))
    return (_real_if(_fit(grad, np.shape(a), (axis % np.ndim(a),)), a),)


def rfft(a, n=None, axis=-1, norm=None):
    return np.fft.rfft(a, n, axis, norm)


def rfft_vjp(out_grad, a, out, n=None, axis=-1, norm=None):
    axis = axis % np.ndim(a)
    length = np.shape(a)[axis] if n is None else n
    whole = list(np.shape(out_grad))
    whole[axis] = length
    grad = np.fft.ifft(_fit(out_grad, tuple(whole), (axis,)), axis=axis, norm=_dual(norm))
    return (np.real(_fit(grad, np.shape(a), (axis,))),)


def irfft(a, n=None, axis=-1, norm=None):
    return np.fft.irfft(a, n, axis, norm)


def _read_once(length, bins, axis, ndim, dtype):
    """irfft's weights along `axis`: 1 for bin 0 and (even length) bin length/2, which it
    reads once, 2 for the others, which stand for a bin and its mirror image."""
    weights = np.full(bins, 2.0, dtype=dtype)
    weights[0] = 1.0
    if length % 2 == 0:
        weights[-1] = 1.0
    shape = [1] * ndim
    shape[axis] = bins
    return weights.reshape(shape)


def irfft_vjp(out_grad, a, out, n=None, axis=-1, norm=None):
    axis = axis % np.ndim(a)
    length = np.shape(out)[axis]
    grad = np.fft.rfft(out_grad, axis=axis, norm=_dual(norm))
    grad = grad * _read_once(length, length // 2 + 1, axis, np.ndim(a), out.dtype)
    return (_real_if(_fit(grad, np.shape(a), (axis,)), a),)


# -- several axes --------------------------------------------------------------------


def _last(s, axes):
    """numpy's axes for s without axes (the last len(s)), said outright: numpy 2 deprecates
    leaving them out."""
    return tuple(range(-len(s), 0)) if axes is None and s is not None else axes


def fftn(a, s=None, axes=None, norm=None):
    return np.fft.fftn(a, s, _last(s, axes), norm)


def fftn_vjp(out_grad, a, out, s=None, axes=None, norm=None):
    axes = _axes(np.ndim(a), s, axes)
    grad = np.fft.ifftn(out_grad, axes=axes, norm=_dual(norm))
    return (_real_if(_fit(grad, np.shape(a), axes), a),)


def ifftn(a, s=None, axes=None, norm=None):
    return np.fft.ifftn(a, s, _last(s, axes), norm)


def ifftn_vjp(out_grad, a, out, s=None, axes=None, norm=None):
    axes = _axes(np.ndim(a), s, axes)
    grad = np.fft.fftn(out_grad, axes=axes, norm=_dual(norm))
    return (_real_if(_fit(grad, np.shape(a), axes), a),)


def rfftn(a, s=None, axes=None, norm=None):
    return np.fft.rfftn(a, s, _last(s, axes), norm)


def rfftn_vjp(out_grad, a, out, s=None, axes=None, norm=None):
    axes = _axes(np.ndim(a), s, axes)
    whole = list(np.shape(out_grad))
    whole[axes[-1]] = np.shape(a)[axes[-1]] if s is None else s[-1]
    grad = np.fft.ifftn(_fit(out_grad, tuple(whole), axes[-1:]), axes=axes, norm=_dual(norm))
    return (np.real(_fit(grad, np.shape(a), axes)),)


def irfftn(a, s=None, axes=None, norm=None):
    return np.fft.irfftn(a, s, _last(s, axes), norm)


def irfftn_vjp(out_grad, a, out, s=None, axes=None, norm=None):
    axes = _axes(np.ndim(a), s, axes)
    length = np.shape(out)[axes[-1]]
    grad = np.fft.rfftn(out_grad, axes=axes, norm=_dual(norm))
    grad = grad * _read_once(length, length // 2 + 1, axes[-1], np.ndim(a), out.dtype)
    return (_real_if(_fit(grad, np.shape(a), axes), a),)


def fft2(a, s=None, axes=(-2, -1), norm=None):
    return np.fft.fft2(a, s, axes, norm)


def ifft2(a, s=None, axes=(-2, -1), norm=None):
    return np.fft.ifft2(a, s, axes, norm)


def rfft2(a, s=None, axes=(-2, -1), norm=None):
    return np.fft.rfft2(a, s, axes, norm)


def irfft2(a, s=None, axes=(-2, -1), norm=None):
    return np.fft.irfft2(a, s, axes, norm)


def _two(vjp):
    """The n-axis rule for a 2-axis transform, whose axes default to the last two."""

    def two_vjp(out_grad, a, out, s=None, axes=(-2, -1), norm=None):
        return vjp(out_grad, a, out, s=s, axes=axes, norm=norm)

    two_vjp.__name__ = vjp.__name__.replace("n_vjp", "2_vjp")
    return two_vjp


# -- shifts --------------------------------------------------------------------------


def fftshift_vjp(out_grad, x, out, axes=None):
    return (np.fft.ifftshift(out_grad, axes),)


def ifftshift_vjp(out_grad, x, out, axes=None):
    return (np.fft.fftshift(out_grad, axes),)


# -- verifier hints ------------------------------------------------------------------

NORMS = (None, "backward", "ortho", "forward")


def one_axis_sample(kind):
    """Verifier hint for fft, ifft, rfft, irfft: arrays of 1 to 3 dimensions (at least 2
    along the axis, so irfft has a spectrum to read), an axis, n None or cropping or
    padding, every norm."""

    def sample():
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp

        values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

        @st.composite
        def example(draw):
            shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=6))
            axis = draw(st.integers(-len(shape), len(shape) - 1))
            n = draw(st.none() | st.integers(2, 9))
            x = draw(hnp.arrays(np.float64, shape, elements=values))
            return (x,), {"n": n, "axis": axis, "norm": draw(st.sampled_from(NORMS))}

        return example()

    return sample


def many_axes_sample(two=False):
    """Verifier hint for the n-axis and 2-axis transforms: axes (distinct) and s (None or
    one length per axis, 2 to 7), every norm."""

    def sample():
        from hypothesis import strategies as st
        from hypothesis.extra import numpy as hnp

        values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

        @st.composite
        def example(draw):
            shape = draw(hnp.array_shapes(min_dims=2 if two else 1, max_dims=3, min_side=2,
                                          max_side=5))
            ndim = len(shape)
            if two:
                axes = draw(st.sampled_from([(-2, -1), (0, 1), (-1, -2), (1, 0)]))
            else:
                axes = draw(st.none() | st.permutations(range(ndim)).flatmap(
                    lambda p: st.integers(1, ndim).map(lambda k: tuple(p[:k]))))
            count = len(axes) if axes is not None else ndim
            s = draw(st.none() | st.lists(st.integers(2, 6), min_size=count, max_size=count)
                     .map(tuple))
            if s is not None and axes is None and not two:
                axes = tuple(range(ndim))  # numpy 2 deprecates s without axes
            x = draw(hnp.arrays(np.float64, shape, elements=values))
            params = {"s": s, "axes": axes, "norm": draw(st.sampled_from(NORMS))}
            if two and axes == (-2, -1) and draw(st.booleans()):
                del params["axes"]  # the default
            return (x,), params

        return example()

    return sample


def shift_sample():
    """Verifier hint for the shifts: arrays of 1 to 3 dimensions, axes None, one, or some."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp
    from hypothesis.extra.numpy import valid_tuple_axes

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=3, max_side=5))
        ndim = len(shape)
        axes = draw(st.none() | st.integers(-ndim, ndim - 1) | valid_tuple_axes(ndim, min_size=1))
        return (draw(hnp.arrays(np.float64, shape, elements=values)),), {"axes": axes}

    return example()


def _transform(name, forward, vjp, dtypes, sample, what):
    return Op(name, forward, vjp=vjp, signature=ANY, dtypes=dtypes, sample=sample, reads=(),
              doc=f"np.fft.{name}: {what}")


OPS = [
    _transform("fft", fft, fft_vjp, COMPLEX_IN, one_axis_sample("fft"),
               "the discrete Fourier transform along axis (n points)"),
    _transform("ifft", ifft, ifft_vjp, COMPLEX_IN, one_axis_sample("ifft"),
               "the inverse discrete Fourier transform along axis"),
    _transform("rfft", rfft, rfft_vjp, REAL_IN, one_axis_sample("rfft"),
               "the Fourier transform of real input: the n // 2 + 1 non-negative frequencies"),
    _transform("irfft", irfft, irfft_vjp, COMPLEX, one_axis_sample("irfft"),
               "rfft undone: n real numbers (default 2 (m - 1)) from a half spectrum"),
    _transform("fft2", fft2, _two(fftn_vjp), COMPLEX_IN, many_axes_sample(two=True),
               "the 2-D Fourier transform over axes (default the last two)"),
    _transform("ifft2", ifft2, _two(ifftn_vjp), COMPLEX_IN, many_axes_sample(two=True),
               "the 2-D inverse Fourier transform"),
    _transform("rfft2", rfft2, _two(rfftn_vjp), REAL_IN, many_axes_sample(two=True),
               "the 2-D Fourier transform of real input (half spectrum on the last axis)"),
    _transform("irfft2", irfft2, _two(irfftn_vjp), COMPLEX, many_axes_sample(two=True),
               "rfft2 undone"),
    _transform("fftn", fftn, fftn_vjp, COMPLEX_IN, many_axes_sample(),
               "the n-D Fourier transform over axes (default all, or the last len(s))"),
    _transform("ifftn", ifftn, ifftn_vjp, COMPLEX_IN, many_axes_sample(),
               "the n-D inverse Fourier transform"),
    _transform("rfftn", rfftn, rfftn_vjp, REAL_IN, many_axes_sample(),
               "the n-D Fourier transform of real input (half spectrum on the last axis)"),
    _transform("irfftn", irfftn, irfftn_vjp, COMPLEX, many_axes_sample(),
               "rfftn undone"),
    Op("fftshift", lambda x, axes=None: np.fft.fftshift(x, axes), vjp=fftshift_vjp,
       signature=ANY, sample=shift_sample, reads=(), dtypes=COMPLEX,
       doc="np.fft.fftshift: the zero frequency moved to the centre (a roll)"),
    Op("ifftshift", lambda x, axes=None: np.fft.ifftshift(x, axes), vjp=ifftshift_vjp,
       signature=ANY, sample=shift_sample, reads=(), dtypes=COMPLEX,
       doc="np.fft.ifftshift: fftshift undone"),
]
