"""Neural-network ops: softmax, losses, convolution, pooling, embedding, dropout.

Layouts follow PyTorch: images are NCHW and convolution kernels OIHW. Convolution
and pooling see their input through `sliding_window_view` (a view, no copy) and
reduce the windows with a BLAS matmul (convolution, im2col) or a numpy reduction
(pooling); their grads go back to the input by one strided slice-add per kernel
offset (col2im). No Python loop runs over pixels.

Bad calls (channels that differ, a kernel larger than the padded input, labels or
ids out of range) raise OpCallError from the forward rule with a sentence saying
what was expected and what came; the tape adds the op's name and plugin.
"""

import functools

import numpy as np
from gradledger.errors import OpCallError
from gradledger.extend import Op, call

from .reductions import axis_params

ANY = "(*)->(*)"

# -- softmax -------------------------------------------------------------------------------


def softmax(x, axis=-1):
    """exp(x) / sum(exp(x)) along `axis`, shifted by the maximum so that nothing overflows."""
    e = np.exp(x - np.max(x, axis=axis, keepdims=True))
    return e / np.sum(e, axis=axis, keepdims=True)


def softmax_vjp(out_grad, x, out, axis=-1):
    """J^T g = s * (g - <g, s>), per slice along `axis`."""
    return (out * (out_grad - np.sum(out_grad * out, axis=axis, keepdims=True)),)


def log_softmax(x, axis=-1):
    """x - logsumexp(x) along `axis`, shifted by the maximum."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))


def log_softmax_vjp(out_grad, x, out, axis=-1):
    """J^T g = g - softmax(x) * sum(g), per slice along `axis`."""
    return (out_grad - np.exp(out) * np.sum(out_grad, axis=axis, keepdims=True),)


def softmax_params(shapes):
    """Verifier hint: every axis (one, negative, several, or None: all)."""
    return {"axis": axis_params(len(shapes[0]))}


# -- cross-entropy -------------------------------------------------------------------------

REDUCTIONS = ("mean", "sum", "none")


def _class_labels(logits, labels):
    """Integer labels of shape logits.shape[:-1], each in [0, classes); OpCallError otherwise."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iu":
        if labels.dtype.kind == "f" and np.all(labels == np.round(labels)):
            labels = labels.astype(np.intp)
        else:
            raise OpCallError(
                f"labels must be integer class indices; got an array of dtype {labels.dtype}"
            )
    rows, classes = np.shape(logits)[:-1], np.shape(logits)[-1]
    if labels.shape != rows:
        raise OpCallError(
            f"labels must have the logits' shape without its last (class) axis, {rows}; "
            f"got labels of shape {labels.shape} for logits of shape {np.shape(logits)}"
        )
    if labels.size and _out_of_range(labels, classes):
        bad = labels[(labels < 0) | (labels >= classes)]
        raise OpCallError(
            f"labels must lie in [0, {classes}) for logits with {classes} classes; got "
            f"{bad.size} label(s) out of range, e.g. {bad.flat[0]}"
        )
    return labels


def _out_of_range(ints, n):
    """Whether any of the (non-empty) integers lies outside [0, n). By one max over the
    integers seen as unsigned ones of their width (a view, no copy), where a negative value
    becomes one of the largest, as long as n is below every one of those."""
    if ints.dtype.kind == "u":
        return ints.max() >= n
    if n <= 1 << (8 * ints.dtype.itemsize - 1):
        return ints.view(ints.dtype.str.replace("i", "u")).max() >= n
    return ints.min() < 0 or ints.max() >= n


def _rows(logits, labels):
    """Checked labels, one-hot; per row the largest logit, and exp(logits - largest)."""
    if np.ndim(logits) == 0:
        raise OpCallError("logits need a class axis (their last); got a 0-d value")
    labels = _class_labels(logits, labels)
    onehot = labels[..., np.newaxis] == np.arange(np.shape(logits)[-1])
    peak = np.max(logits, axis=-1, keepdims=True)
    return labels, onehot, peak, np.exp(logits - peak)


def _check_reduction(reduction):
    if reduction not in REDUCTIONS:
        raise OpCallError(f"reduction must be one of {REDUCTIONS}; got {reduction!r}")


@functools.lru_cache(maxsize=32)
def _ones(n, dtype):
    """A read-only vector of n ones, kept: the right operand of BLAS row sums (only ever
    read by matmul, never returned)."""
    ones = np.ones(n, dtype=dtype)
    ones.flags.writeable = False
    return ones


def _row_max(table):
    """The largest entry of each row of a C-ordered matrix (R, C). Rows of few classes are
    reduced from a transposed copy, every row at once: numpy's max along a short last
    axis runs one reduction per row (2.5x slower for (128, 27)). max is exact: the same
    numbers either way."""
    if table.shape[1] <= 64 and table.shape[0] >= 8:
        return np.maximum.reduce(np.transpose(table).copy(), axis=0)
    return np.maximum.reduce(table, axis=1)


def _row_sums(table):
    """Each row's sum of a C-ordered float matrix (R, C): one BLAS product with ones."""
    return np.matmul(table, _ones(table.shape[1], table.dtype))


def cross_entropy(logits, labels, reduction="mean"):
    """-log softmax(logits)[label] per row, then the mean (or sum, or none) over rows.

    Per row, with m the largest logit and z the logit at the label, the loss
    log(sum(exp(logits - z))) is computed as (m - z) + log1p(expm1(z - m) + the sum of
    exp(logit - m) over the other classes): a confident, correct row (z = m, the others
    tiny) keeps its relative precision, where `logsumexp - z` would cancel to 0.
    """
    _check_reduction(reduction)
    if np.ndim(logits) == 0:
        raise OpCallError("logits need a class axis (their last); got a 0-d value")
    labels = _class_labels(logits, labels)
    classes = np.shape(logits)[-1]
    lead = np.shape(logits)[:-1]
    if logits.__class__ is np.ndarray and logits.dtype.kind == "f" and logits.size:
        # a new C-ordered array (so `flat` below is a view of it whatever the logits'
        # strides), which becomes exp(logits - peak), then the saved values
        e = np.array(logits, order="C", copy=True).reshape(-1, classes)
        peak = _row_max(e)[:, np.newaxis]
        e -= peak
    else:
        peak = np.max(logits, axis=-1, keepdims=True).reshape(-1, 1)
        e = np.subtract(np.reshape(logits, (-1, classes)), peak, order="C")
        if e.dtype.kind != "f":  # integer logits: a float result, as np.exp gives
            e = e.astype(np.float64)
    flat = e.reshape(-1)  # a view: the label of row r at r * classes + label
    at = np.arange(0, flat.size, classes)
    at += labels.reshape(-1)
    shift = flat[at]  # z - m, the label's logit shifted
    np.exp(e, out=e)
    flat[at] = 0  # the other classes' terms only
    others = _row_sums(e)
    loss = np.expm1(shift)
    loss += others
    np.log1p(loss, out=loss)
    loss -= shift
    # Saved for the rule: softmax - onehot, where at the label softmax - 1 is minus the
    # other classes' probabilities, summed directly rather than subtracted from 1 (which
    # loses the digits of a confident row).
    total = np.exp(shift)
    total += others
    e /= total[:, np.newaxis]
    others /= total
    flat[at] = np.negative(others, out=others)
    local = e.reshape(*lead, classes)
    loss = loss.reshape(lead)
    if reduction == "mean":
        if loss.size:  # np.mean's own arithmetic, without its wrapper
            total = np.add.reduce(loss, axis=None)
            return total.dtype.type(total / loss.size), (local,)
        return np.mean(loss), (local,)
    if reduction == "sum":
        return np.sum(loss), (local,)
    return loss, (local,)


def cross_entropy_vjp(out_grad, logits, labels, out, saved, reduction="mean"):
    """(softmax(logits) - onehot(label)) times each row's grad; labels get None.

    The forward saved softmax - onehot; run on Tensors (`saved=None`, create_graph=True)
    the rule recomputes it from the logits, as the forward did.
    """
    if saved is None:
        _, onehot, _, e = _rows(logits, labels)
        others = np.where(onehot, 0, e)
        local = (others - onehot * np.sum(others, axis=-1, keepdims=True)) / np.sum(
            e, axis=-1, keepdims=True)
    else:
        (local,) = saved
    if reduction == "mean":
        rows = np.size(local) // np.shape(local)[-1]
        return local * (out_grad / max(rows, 1)), None
    if reduction == "sum":
        return local * out_grad, None
    return local * np.expand_dims(out_grad, -1), None


def cross_entropy_sample():
    """Verifier hint: labels depend on the logits' class count, so draw both together."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    row_shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4)
    values = st.floats(-10.0, 10.0, allow_nan=False, allow_subnormal=False)
    reductions = st.sampled_from(REDUCTIONS)
    logits_of = functools.cache(lambda shape: hnp.arrays(np.float64, shape, elements=values))
    labels_of = functools.cache(lambda shape, classes: hnp.arrays(
        np.int64, shape, elements=st.integers(0, classes - 1)))

    @st.composite
    def logits_and_labels(draw):
        rows = draw(row_shapes)
        classes = draw(st.integers(1, 5))
        logits = draw(logits_of(rows + (classes,)))
        labels = draw(labels_of(rows, classes))
        return (logits, labels), {"reduction": draw(reductions)}

    return logits_and_labels()


# -- windows: what convolution and pooling share ---------------------------------------------


def _pair(value, what):
    """An int or a pair of ints, as a pair of ints."""
    try:
        pair = (value, value) if isinstance(value, (int, np.integer)) else tuple(value)
    except TypeError:  # a float, None: not a pair either
        pair = ()
    if len(pair) != 2 or not all(isinstance(v, (int, np.integer)) for v in pair):
        raise OpCallError(f"{what} must be an int or a pair of ints; got {value!r}")
    return int(pair[0]), int(pair[1])


def _geometry(spatial, kernel, stride, padding):
    """Checked (kernel, stride, padding, output size) pairs for an input of `spatial` size
    (kept for the shapes and settings a training loop repeats)."""
    if _ints(kernel) and _ints(stride) and _ints(padding):  # (1.0 == 1: floats not kept)
        return _geometry_kept(tuple(spatial), kernel, stride, padding)
    return _geometry_checked(spatial, kernel, stride, padding)


def _ints(value):
    """A Python int, or a tuple of them."""
    kind = type(value)
    return kind is int or (kind is tuple and all(type(v) is int for v in value))


@functools.lru_cache(maxsize=256)
def _geometry_kept(spatial, kernel, stride, padding):
    return _geometry_checked(spatial, kernel, stride, padding)


def _geometry_checked(spatial, kernel, stride, padding):
    kernel, stride, padding = (_pair(kernel, "kernel_size"), _pair(stride, "stride"),
                               _pair(padding, "padding"))
    if min(kernel) < 1 or min(stride) < 1 or min(padding) < 0:
        raise OpCallError(
            f"kernel sizes and strides must be >= 1 and padding >= 0; got kernel {kernel}, "
            f"stride {stride}, padding {padding}"
        )
    padded = tuple(s + 2 * p for s, p in zip(spatial, padding, strict=True))
    if kernel[0] > padded[0] or kernel[1] > padded[1]:
        raise OpCallError(
            f"the kernel {kernel} is larger than the input {tuple(spatial)} padded by "
            f"{padding} to {padded}; use a smaller kernel or more padding"
        )
    out = tuple((n - k) // s + 1 for n, k, s in zip(padded, kernel, stride, strict=True))
    return kernel, stride, padding, out


def _pad(x, padding, value=0.0):
    """x padded on its last two axes by `value`: one np.full and one slice copy (np.pad
    costs about three times that on the small images of a training step)."""
    if padding == (0, 0):
        return x
    x = np.asarray(x)
    if x.dtype.kind not in "fc":  # -inf does not fit an integer array: np.pad's error
        widths = [(0, 0)] * (x.ndim - 2) + [(padding[0],) * 2, (padding[1],) * 2]
        return np.pad(x, widths, constant_values=value)
    (ph, pw), (h, w) = padding, x.shape[-2:]
    padded = np.full((*x.shape[:-2], h + 2 * ph, w + 2 * pw), value, dtype=x.dtype)
    padded[..., ph:ph + h, pw:pw + w] = x
    return padded


def _windows(x, kernel, stride):
    """A view of x's (already padded) last two axes as windows: (..., p, q, kh, kw)."""
    view = np.lib.stride_tricks.sliding_window_view(x, kernel, axis=(-2, -1))
    return view[..., ::stride[0], ::stride[1], :, :]


def _unpad(x, padding):
    """Drop the padding from x's last two axes."""
    (ph, pw), (h, w) = padding, np.shape(x)[-2:]
    return x[..., ph:h - ph, pw:w - pw]


def _from_windows(cols, padded_shape, kernel, stride):
    """The adjoint of `_windows`: add each window's entries back where they were read.

    Windows that tile the input without overlap are put back by a reshape; otherwise
    one strided slice-add per kernel offset (kh * kw of them, not one per pixel).
    """
    (kh, kw), (sh, sw) = kernel, stride
    *lead, p, q = np.shape(cols)[:-2]
    h, w = padded_shape[-2:]
    if (kh, kw) == (sh, sw):
        tiled = np.reshape(np.swapaxes(cols, -3, -2), (*lead, p * kh, q * kw))
        return np.pad(tiled, [(0, 0)] * len(lead) + [(0, h - p * kh), (0, w - q * kw)])
    grad = np.zeros(padded_shape, dtype=cols.dtype)
    for a in range(kh):
        for b in range(kw):
            grad[..., a:a + sh * (p - 1) + 1:sh, b:b + sw * (q - 1) + 1:sw] += cols[..., a, b]
    return grad


def _window_geometry(shape, kernel_size, stride, padding):
    if len(shape) < 2:
        raise OpCallError(f"windows need at least 2 dimensions (..., H, W); got shape {shape}")
    return _geometry(shape[-2:], kernel_size, stride, padding)


def im2col(x, kernel_size, stride=1, padding=0, pad_value=0.0):
    """The kernel_size windows of x's last two axes (padded by pad_value), as
    (..., P, Q, kH, kW): a read-only strided view of the padded input, no copy."""
    kernel, stride, padding, _ = _window_geometry(np.shape(x), kernel_size, stride, padding)
    return _windows(_pad(x, padding, pad_value), kernel, stride)


def im2col_vjp(out_grad, x, out, kernel_size, stride=1, padding=0, pad_value=0.0):
    """Each window's grad added back where the window read: col2im."""
    return (call("col2im", out_grad, shape=np.shape(x), stride=stride, padding=padding),)


def col2im(cols, shape, stride=1, padding=0):
    """im2col's transpose: windows (..., P, Q, kH, kW) added back into an array of `shape`
    (..., H, W) where im2col read them (overlaps add up; the padding is dropped)."""
    kernel = tuple(np.shape(cols)[-2:])
    kernel, stride, padding, out = _window_geometry(tuple(shape), kernel, stride, padding)
    if tuple(np.shape(cols)[-4:-2]) != out or tuple(np.shape(cols)[:-4]) != tuple(shape[:-2]):
        raise OpCallError(
            f"windows of shape {np.shape(cols)} do not fit an array of shape {tuple(shape)} "
            f"with kernel {kernel}, stride {stride}, padding {padding}: expected "
            f"{tuple(shape[:-2]) + out + kernel}"
        )
    padded = tuple(shape[:-2]) + tuple(
        n + 2 * p for n, p in zip(shape[-2:], padding, strict=True))
    return _unpad(_from_windows(cols, padded, kernel, stride), padding)


def col2im_vjp(out_grad, cols, out, shape, stride=1, padding=0):
    """The grad of each window entry is the grad of the element it was added to: im2col."""
    kernel = tuple(np.shape(cols)[-2:])
    return (call("im2col", out_grad, kernel_size=kernel, stride=stride, padding=padding),)


def _window_example(draw):
    """The draws im2col's and col2im's hints share: leading axes, an (h, w) plane, window
    params that fit it once padded, and arrays of a shape to fill with values."""
    from hypothesis import strategies as st

    leads, array_of = _window_strategies()
    lead = draw(leads)
    h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    return lead, h, w, draw(_window_params(h, w)), array_of


@functools.cache
def _window_strategies():
    """Built once: the leading shapes, and arrays of a shape (one strategy per shape)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)
    leads = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)
    return leads, functools.cache(lambda shape: hnp.arrays(np.float64, shape, elements=values))


def im2col_sample():
    """Verifier hint: (..., H, W) inputs and windows that fit them once padded."""
    from hypothesis import strategies as st

    pad_values = st.sampled_from([0.0, -2.0])

    @st.composite
    def example(draw):
        lead, h, w, params, array_of = _window_example(draw)
        x = draw(array_of(lead + (h, w)))
        return (x,), {**params, "pad_value": draw(pad_values)}

    return example()


def col2im_sample():
    """Verifier hint: a target shape, windows that fit it, and window values."""
    from hypothesis import strategies as st

    @st.composite
    def example(draw):
        lead, h, w, params, array_of = _window_example(draw)
        kernel, stride, padding, out = _geometry((h, w), params.pop("kernel_size"),
                                                 params["stride"], params["padding"])
        cols = draw(array_of(lead + out + kernel))
        return (cols,), {**params, "shape": lead + (h, w)}

    return example()


@functools.cache
def _window_params(h, w):
    """kernel_size, stride and padding for an (h, w) input: kernels fit it once padded."""
    from hypothesis import strategies as st

    @st.composite
    def params(draw):
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        kh = draw(st.integers(1, min(h + 2 * padding[0], 4)))
        kw = draw(st.integers(1, min(w + 2 * padding[1], 4)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        return {"kernel_size": (kh, kw), "stride": stride, "padding": padding}

    return params()


# -- convolution -----------------------------------------------------------------------------


def _conv_geometry(x_shape, w_shape, stride, padding):
    if len(x_shape) != 4 or len(w_shape) != 4:
        raise OpCallError(
            f"conv2d takes x of shape (N, C, H, W) and w of shape (O, C, kH, kW); got x of "
            f"shape {tuple(x_shape)} and w of shape {tuple(w_shape)}"
        )
    if not isinstance(stride, (int, np.integer, tuple, list)):
        raise OpCallError(
            f"stride must be an int or a pair of ints; got a {type(stride).__name__}. conv2d's "
            "third positional argument is stride: the op takes no bias (PyTorch's "
            "F.conv2d(x, w, b) is gl.nn.functional.conv2d(x, w, b), or add it: "
            "gl.conv2d(x, w) + b.reshape(1, -1, 1, 1))"
        )
    if x_shape[1] != w_shape[1]:
        raise OpCallError(
            f"x has {x_shape[1]} channels (shape {tuple(x_shape)}) but w expects "
            f"{w_shape[1]} (shape {tuple(w_shape)}): w is (out_channels, in_channels, kH, kW)"
        )
    return _geometry(x_shape[2:], w_shape[2:], stride, padding)


def conv2d_shape(x_shape, w_shape, stride=1, padding=0):
    """(N, O, P, Q), P = (H + 2 padding - kH) // stride + 1, likewise Q."""
    out = _conv_geometry(x_shape, w_shape, stride, padding)[3]
    return (x_shape[0], w_shape[0], *out)


def _kernel_rows(w):
    """The kernels (O, C, kH, kW) as the (O, kH kW C) matrix that multiplies `_columns`'
    windows: their columns ordered kernel offset, then input channel."""
    o, c, kh, kw = np.shape(w)
    return np.reshape(np.transpose(w, (0, 2, 3, 1)), (o, kh * kw * c))


def _kernel_grad(rows, w_shape):
    """A grad of `_kernel_rows` (O, kH kW C) as the kernels' (O, C, kH, kW)."""
    o, c, kh, kw = w_shape
    return np.ascontiguousarray(np.transpose(np.reshape(rows, (o, kh, kw, c)), (0, 3, 1, 2)))


def _columns(x, kernel, stride, padding, out, ones=False):
    """The padded input's windows as (N, kH, kW, C, P, Q), contiguous: one slice copy per
    kernel offset (kH * kW of them), so that each image's windows are a (kH kW C, P Q)
    matrix, rows ordered kernel offset then input channel (each offset's copy then
    writes one run of C P Q per image: 1.5x faster than C runs of P Q). With `ones`,
    each image's matrix has a last row of ones below (returned as (N, kH kW C + 1, P Q)):
    the row a bias multiplies."""
    n, c = np.shape(x)[:2]
    if (stride == (1, 1) and out[1] == np.shape(x)[-1] and x.__class__ is np.ndarray
            and x.ndim == 4 and x.dtype.kind == "f" and x.size):
        return _columns_row_runs(x, kernel, padding, out, ones)
    padded = _pad(x, padding)
    if ones:
        size = c * kernel[0] * kernel[1]
        rows = np.empty((n, size + 1, out[0] * out[1]), dtype=padded.dtype)
        rows[:, size] = 1
        cols = np.reshape(rows[:, :size], (n, *kernel, c, *out))  # a view into rows
    else:
        cols = rows = np.empty((n, *kernel, c, *out), dtype=padded.dtype)
    offsets = _offsets(padded, kernel, stride, out)
    for a in range(kernel[0]):
        for b in range(kernel[1]):
            cols[:, a, b] = padded[next(offsets)]
    return rows


def _columns_row_runs(x, kernel, padding, out, ones):
    """`_columns` for stride 1 where the output is as wide as the input (kW = 2 pW + 1,
    "same" width): each image channel flattened with its top and bottom padding rows, so
    that a kernel offset's windows, (P, Q) = P whole rows, are one run of P Q elements at
    a shift (rather than P runs of Q: an 8x8 image's im2col copied 8-element runs). Where
    the left or right padding belongs, a shift by b != pW reads a neighbouring row's
    last pW - b (or first b - pW) columns, which no window of that offset reads
    otherwise: it reads them from a copy in which they are zero. The same windows as
    `_columns`."""
    n, c, h, w = x.shape
    (kh, kw), (ph, pw), (p, q) = kernel, padding, out
    run = p * q
    flat = np.zeros((n, c, (h + 2 * ph) * w + 2 * pw), dtype=x.dtype)
    flat[:, :, pw + ph * w:pw + (ph + h) * w] = np.reshape(x, (n, c, h * w))
    if ones:
        size = c * kh * kw
        rows = np.empty((n, size + 1, run), dtype=x.dtype)
        rows[:, size] = 1
        cols = np.reshape(rows[:, :size], (n, kh, kw, c, run))  # a view into rows
    else:
        cols = rows = np.empty((n, kh, kw, c, run), dtype=x.dtype)
    for b in range(kw):
        source = flat
        if b != pw:  # a copy whose columns this offset's shift wraps into are zero
            source = flat.copy()
            image = np.reshape(source[:, :, pw + ph * w:pw + (ph + h) * w], (n, c, h, w))
            if b < pw:  # reads wrapping to the left land on the previous row's last columns
                image[..., max(w - (pw - b), 0):] = 0
            else:  # and to the right, on the next row's first ones
                image[..., :b - pw] = 0
        for a in range(kh):
            start = a * w + b
            cols[:, a, b] = source[:, :, start:start + run]
    return rows if ones else np.reshape(cols, (n, kh, kw, c, p, q))


def conv2d(x, w, stride=1, padding=0):
    """Cross-correlation of NCHW images with OIHW kernels, as torch.nn.functional.conv2d.

    im2col (each image's windows as a (kH kW C, P Q) matrix, copied by kH * kW strided
    slices), then one batched BLAS matmul, the kernels (O, kH kW C) times each image's
    windows: the output comes out (N, O, P Q), contiguous NCHW, so that what follows it
    (a bias, a batch norm over N, H, W) reads it in order. Saves the windows for the
    kernels' grad.
    """
    kernel, stride, padding, (p, q) = _conv_geometry(np.shape(x), np.shape(w), stride, padding)
    (n, c), o = np.shape(x)[:2], np.shape(w)[0]
    size = c * kernel[0] * kernel[1]
    cols = _columns(x, kernel, stride, padding, (p, q))
    out = np.matmul(_kernel_rows(w), np.reshape(cols, (n, size, p * q)))
    return np.reshape(out, (n, o, p, q)), (cols,)


def _conv_bias_check(w, b):
    o = np.shape(w)[0] if np.ndim(w) else None
    if np.shape(b) != (o,):
        raise OpCallError(
            f"conv2d_bias takes a bias of shape (O,) = ({o},), one per output channel of w "
            f"(shape {np.shape(w)}); got a bias of shape {np.shape(b)}"
        )


def conv2d_bias(x, w, b, stride=1, padding=0):
    """conv2d(x, w) + b[:, None, None], as torch.nn.functional.conv2d with its bias, in one
    op: the bias is one more column of the kernels' matrix, times a row of ones below
    each image's windows, so that the one batched matmul adds it (and the kernels' grad
    product gives its grad, the sum over N, P, Q, as one more row)."""
    kernel, stride, padding, (p, q) = _conv_geometry(np.shape(x), np.shape(w), stride, padding)
    _conv_bias_check(w, b)
    n, o = np.shape(x)[0], np.shape(w)[0]
    rows = _columns(x, kernel, stride, padding, (p, q), ones=True)
    kernels = np.concatenate([_kernel_rows(w), np.reshape(b, (o, 1))], axis=1)
    out = np.matmul(kernels, rows)
    return np.reshape(out, (n, o, p, q)), (rows,)


def conv2d_bias_shape(x_shape, w_shape, b_shape, stride=1, padding=0):
    return conv2d_shape(x_shape, w_shape, stride, padding)


_FEW_ROWS = 32
"""conv2d_bias's kernel grad takes the transposed-operand product for windows of at most
this many rows per image (kH kW C + 1): 1.5x faster for 10 rows, 1.8x slower for 145."""


def conv2d_bias_vjp(out_grad, x, w, b, out, saved=None, stride=1, padding=0,
                    needs_grad=(True, True, True)):
    """conv2d's rule for x and w; b.grad sums out_grad over N, P, Q. On arrays the saved
    windows carry the row of ones, so the kernels' grad product gives b's grad as its last
    row; on Tensors (create_graph=True) conv2d's rule with ops and a sum."""
    p, q = _conv_geometry(np.shape(x), np.shape(w), stride, padding)[3]
    if saved is None or out_grad.__class__ is not np.ndarray or w.__class__ is not np.ndarray:
        grad_x, grad_w = conv2d_vjp(out_grad, x, w, out, None, stride, padding, needs_grad[:2])
        grad_b = np.sum(out_grad, axis=(0, 2, 3)) if needs_grad[2] else None
        return grad_x, grad_w, grad_b
    n, o = np.shape(x)[0], np.shape(w)[0]
    (rows,) = saved
    grad_x = grad_w = grad_b = None
    if needs_grad[1] or needs_grad[2]:
        grads = np.reshape(out_grad, (n, o, p * q))
        if rows.shape[1] <= _FEW_ROWS:
            # few windows' rows (one input channel): out_grad times the windows transposed
            # per image, (O, kH kW C + 1) straight away
            both = np.add.reduce(np.matmul(grads, np.swapaxes(rows, 1, 2)), axis=0)
        else:
            # the windows times a C-ordered copy of out_grad^T per image: OpenBLAS's sgemm
            # with a transposed operand took twice as long on these
            both = np.transpose(np.add.reduce(np.matmul(
                rows, np.ascontiguousarray(np.swapaxes(grads, 1, 2))), axis=0))
        if needs_grad[1]:
            grad_w = _kernel_grad(both[:, :-1], np.shape(w))
        if needs_grad[2]:
            grad_b = np.array(both[:, -1], dtype=np.result_type(out_grad, b.dtype))
    if needs_grad[0]:
        grad_x = conv2d_vjp(out_grad, x, w, out, (None,), stride, padding, (True, False))[0]
    return grad_x, grad_w, grad_b


def conv2d_bias_sample():
    """Verifier hint: conv2d's images, kernels, strides and paddings, with a bias (O,)."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)

    @st.composite
    def example(draw):
        (x, kernel), params = draw(conv2d_sample())
        bias = draw(hnp.arrays(np.float64, (kernel.shape[0],), elements=values))
        return (x, kernel, bias), params

    return example()


def _col2im_arrays(cols, x_shape, kernel, stride, padding, dtype):
    """The windows' grads (N, C, kH, kW, P, Q) added back where they were read: one
    strided slice-add per kernel offset into a zero padded image, then the padding cut."""
    (h, w), (ph, pw) = x_shape[-2:], padding
    grad = np.zeros((*x_shape[:-2], h + 2 * ph, w + 2 * pw), dtype=dtype)
    offsets = _offsets(grad, kernel, stride, np.shape(cols)[-2:])
    for a in range(kernel[0]):
        for b in range(kernel[1]):
            grad[next(offsets)] += cols[:, :, a, b]
    return grad if padding == (0, 0) else grad[..., ph:ph + h, pw:pw + w]


_CHUNK_BYTES = 1 << 20
"""`_input_grad_row_runs` makes the windows' grads for as many images at a time as fit in
this many bytes (at least one), and adds them back before the next ones: they are then
read back from the core's cache (a (64, 145, 72) float32 batch is 2.7 MB; 32 images at a
time took 0.9x its time in one go, 8 at a time 1.15x)."""


def _input_grad_row_runs(out_grad, w, x_shape, kernel, padding):
    """x.grad of a stride-1 convolution as wide as its input, on arrays: the transpose of
    `_columns_row_runs`, laid out so that each kernel offset's add is one long run per
    image. Each image channel is a block of L = max(H + pH, P) rows of the image's width
    in one flat array: its H rows, then pH rows where the grads of the padding below it
    (and, shifted, above the next block) land. The windows' grads, the kernels^T (rows
    ordered kernel offset, input channel) times out_grad per image, are written into
    (images, kH kW C, L W), the last (L - P) W columns of each row zero and the columns a
    shift wraps into a neighbouring row zeroed; each kernel offset's grads, (images,
    C L W), are then added into the flat images at that offset's shift: kH kW adds of
    runs of C L W elements (not N C runs of P Q: numpy's loop over short runs into a
    strided target cost more than the matmul), a cache-sized batch of images at a time
    (`_CHUNK_BYTES`). Padding grads and zeros land only on the blocks' padding rows,
    which are cut at the end."""
    (n, o, p, q), c = np.shape(out_grad), x_shape[1]
    (kh, kw), (ph, pw), (h, wd) = kernel, padding, x_shape[-2:]
    run, rows_per_block = p * q, max(h + ph, p)
    span = rows_per_block * wd  # one image channel's block
    dtype = np.result_type(out_grad, w)
    kernels = np.reshape(np.transpose(w, (2, 3, 1, 0)), (kh * kw * c, o))
    grads = np.reshape(out_grad, (n, o, run))
    lead = ph * wd + pw  # the first block's padding above (and left of) its first row
    image = c * span
    flat = np.zeros(lead + n * image + max(kh - 1 - ph, 0) * wd + kw, dtype=dtype)
    chunk = max(1, min(n, _CHUNK_BYTES // (kh * kw * image * dtype.itemsize)))
    buffer = np.empty((chunk, kh * kw * c, span), dtype=dtype)
    if span > run:
        buffer[:, :, run:] = 0
    for first in range(0, n, chunk):
        m = min(chunk, n - first)
        cols = buffer[:m]
        np.matmul(kernels, grads[first:first + m], out=cols[:, :, :run])
        cols = np.reshape(cols, (m, kh, kw, c, span))
        for b in range(kw):  # output columns whose shift by b - pW wraps into the next row
            wrapped = range(pw - b) if b < pw else range(max(q - (b - pw), 0), q)
            for j in wrapped:
                cols[:, :, b, :, j:run:q] = 0
        for a in range(kh):
            for b in range(kw):
                start = first * image + a * wd + b
                target = np.reshape(flat[start:start + m * image], (m, image))
                np.add(target, np.reshape(cols[:, a, b], (m, image)), out=target)
    blocks = np.reshape(flat[lead:lead + n * image], (n, c, rows_per_block, wd))
    return blocks[:, :, :h]


def _input_grad_batch_shifted(out_grad, w, x_shape, kernel, padding):
    """`_input_grad_shifted` over the whole batch at once, for finite kernels: out_grad
    (channels first, (O, N, Hp, Wp), zero below and right of each image) times the kernels
    as one matmul whose rows are ordered (kernel offset, input channel), so that each
    offset's windows' grads are one contiguous (C, N, Hp Wp) block, added into the padded
    images (C, N, Hp, Wp), flattened, at one shift a Wp + b: kH kW adds of one long run
    each (not N C runs of P Wp). Every number that does not belong to the image it lands
    in (the shifts spill into the next image's start) is a product of the zeros below
    and right of an image with the kernels: exactly zero, as long as the kernels are
    finite. The matmul is over Hp Wp, not P Wp, columns per image: the price of runs that
    do not stop at each image."""
    (n, o, p, q), c = np.shape(out_grad), x_shape[1]
    (kh, kw), (ph, pw), (h, wd) = kernel, padding, x_shape[-2:]
    hp, wp = h + 2 * ph, wd + 2 * pw
    span = c * n * hp * wp
    wide = np.zeros((o, n, hp, wp), dtype=out_grad.dtype)
    wide[:, :, :p, :q] = np.swapaxes(out_grad, 0, 1)
    rows = np.reshape(np.transpose(w, (2, 3, 1, 0)), (kh * kw * c, o))
    cols = np.reshape(np.matmul(rows, np.reshape(wide, (o, n * hp * wp))), (kh * kw, span))
    flat = np.zeros(span + (kh - 1) * wp + kw - 1, dtype=cols.dtype)  # the last overhang
    for a in range(kh):
        for b in range(kw):
            shift = a * wp + b
            flat[shift:shift + span] += cols[a * kw + b]
    grad = np.reshape(flat[:span], (c, n, hp, wp))[..., ph:ph + h, pw:pw + wd]
    return np.ascontiguousarray(np.swapaxes(grad, 0, 1))


def _input_grad_shifted(out_grad, w, x_shape, kernel, padding):
    """x.grad of a stride-1 convolution on arrays: col2im by flat shifts. Each output row
    is widened by zeros to the padded image's width Wp, so that the windows' grads at
    kernel offset (a, b) land in each flattened padded image at one shift, a Wp + b: kH kW
    adds of contiguous runs of P Wp elements, not of Q-element rows (an 8x8 image's
    col2im: 8-element runs). The zeros widening the rows fall on the padding."""
    (n, o, p, q), c = np.shape(out_grad), x_shape[1]
    (kh, kw), (ph, pw), (h, wd) = kernel, padding, x_shape[-2:]
    hp, wp = h + 2 * ph, wd + 2 * pw
    wide = np.zeros((n, o, p, wp), dtype=out_grad.dtype)
    wide[..., :q] = out_grad
    cols = np.matmul(np.transpose(np.reshape(w, (o, c * kh * kw))),
                     np.reshape(wide, (n, o, p * wp)))
    cols = np.reshape(cols, (n, c, kh, kw, p * wp))
    run = p * wp
    grad = np.zeros((n, c, hp * wp + kw - 1), dtype=cols.dtype)  # the last run's overhang
    for a in range(kh):
        for b in range(kw):
            shift = a * wp + b
            grad[..., shift:shift + run] += cols[:, :, a, b]
    grad = np.reshape(grad[..., :hp * wp], (n, c, hp, wp))
    return grad if padding == (0, 0) else grad[..., ph:ph + h, pw:pw + wd]


def conv2d_vjp(out_grad, x, w, out, saved=None, stride=1, padding=0, needs_grad=(True, True)):
    """w.grad: out_grad against the input's windows (one matmul); x.grad: out_grad times
    the kernels (one matmul) gives each window's grad, added back where the window read
    (col2im: one strided slice-add per kernel offset, not per pixel).

    On arrays, the windows the forward saved and batched matmuls over the images; on
    Tensors (create_graph=True, `saved` None) the same rule written with ops (im2col,
    col2im, matmul, reshapes), so it differentiates again."""
    kernel, stride, padding, (p, q) = _conv_geometry(np.shape(x), np.shape(w), stride, padding)
    (n, c), o = np.shape(x)[:2], np.shape(w)[0]
    size = c * kernel[0] * kernel[1]
    grad_x = grad_w = None
    if out_grad.__class__ is np.ndarray and w.__class__ is np.ndarray:
        rows = np.reshape(out_grad, (n, o, p * q))
        if needs_grad[1]:
            cols = (saved[0] if saved is not None
                    else _columns(np.asarray(x), kernel, stride, padding, (p, q)))
            # windows (size, PQ) times a C-ordered copy of out_grad^T (PQ, O) per image:
            # OpenBLAS's sgemm with a transposed operand took twice as long here
            per_image = np.matmul(np.reshape(cols, (n, size, p * q)),
                                  np.ascontiguousarray(np.swapaxes(rows, 1, 2)))
            grad_w = _kernel_grad(np.transpose(np.add.reduce(per_image, axis=0)), np.shape(w))
        if needs_grad[0] and stride == (1, 1) and q == np.shape(x)[-1]:
            grad_x = _input_grad_row_runs(out_grad, w, np.shape(x), kernel, padding)
        elif needs_grad[0] and stride == (1, 1) and np.isfinite(w).all():
            grad_x = _input_grad_batch_shifted(out_grad, w, np.shape(x), kernel, padding)
        elif needs_grad[0] and stride == (1, 1):
            grad_x = _input_grad_shifted(out_grad, w, np.shape(x), kernel, padding)
        elif needs_grad[0]:
            cols = np.matmul(np.transpose(np.reshape(w, (o, size))), rows)
            grad_x = _col2im_arrays(np.reshape(cols, (n, c, *kernel, p, q)), np.shape(x),
                                    kernel, stride, padding, cols.dtype)
        return grad_x, grad_w
    rows = np.reshape(np.transpose(out_grad, (0, 2, 3, 1)), (n * p * q, o))
    if needs_grad[1]:
        windows = call("im2col", x, kernel_size=kernel, stride=stride, padding=padding)
        cols = np.reshape(np.transpose(windows, (0, 2, 3, 1, 4, 5)), (n * p * q, -1))
        grad_w = np.reshape(np.transpose(rows) @ cols, np.shape(w))
    if needs_grad[0]:
        cols = np.reshape(rows @ np.reshape(w, (o, -1)), (n, p, q, c) + kernel)
        grad_x = call("col2im", np.transpose(cols, (0, 3, 1, 2, 4, 5)), shape=np.shape(x),
                      stride=stride, padding=padding)
    return grad_x, grad_w


def conv2d_sample():
    """Verifier hint: images, kernels that fit them once padded, strides and paddings."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)
    array_of = functools.cache(lambda shape: hnp.arrays(np.float64, shape, elements=values))

    @st.composite
    def images_and_kernels(draw):
        n, c, o = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
        h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        padding = (draw(st.integers(0, 2)), draw(st.integers(0, 2)))
        kh = draw(st.integers(1, min(h + 2 * padding[0], 4)))
        kw = draw(st.integers(1, min(w + 2 * padding[1], 4)))
        stride = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
        x = draw(array_of((n, c, h, w)))
        kernel = draw(array_of((o, c, kh, kw)))
        params = {"stride": stride if stride[0] != stride[1] else stride[0],
                  "padding": padding if padding[0] != padding[1] else padding[0]}
        return (x, kernel), params

    return images_and_kernels()


# -- pooling ---------------------------------------------------------------------------------


def _pool_geometry(shape, kernel_size, stride, padding):
    if len(shape) < 2:
        raise OpCallError(f"pooling needs at least 2 dimensions (..., H, W); got shape {shape}")
    kernel, stride, padding, out = _geometry(
        shape[-2:], kernel_size, kernel_size if stride is None else stride, padding)
    if 2 * padding[0] > kernel[0] or 2 * padding[1] > kernel[1]:
        raise OpCallError(
            f"padding must be at most half the kernel size (as in PyTorch); got padding "
            f"{padding} for kernel {kernel}"
        )
    return kernel, stride, padding, out


def pool_shape(x_shape, kernel_size, stride=None, padding=0):
    """(..., P, Q), P = (H + 2 padding - k) // stride + 1, likewise Q."""
    out = _pool_geometry(tuple(x_shape), kernel_size, stride, padding)[3]
    return (*x_shape[:-2], *out)


def _offsets(padded, kernel, stride, out):
    """For each kernel offset (a, b), the strided slice of `padded` holding that offset's
    element of every window: kh * kw views, each of the output's shape."""
    (kh, kw), (sh, sw), (p, q) = kernel, stride, out
    for a in range(kh):
        for b in range(kw):
            yield (Ellipsis, slice(a, a + sh * (p - 1) + 1, sh), slice(b, b + sw * (q - 1) + 1, sw))


def max_pool2d(x, kernel_size, stride=None, padding=0):
    """The maximum of each window over the last two axes; stride defaults to kernel_size;
    padding is -inf (it never wins).

    kh * kw elementwise np.maximum over strided slices, one per kernel offset: the same
    numbers as a max over the windows (max is exact; NaN propagates alike), at a speed
    that does not depend on the input's memory layout, where a reduction over the
    windows' view does."""
    kernel, stride, padding, out = _pool_geometry(np.shape(x), kernel_size, stride, padding)
    if (kernel == stride and padding == (0, 0) and x.__class__ is np.ndarray
            and x.flags.c_contiguous and x.shape[-2:] == (out[0] * kernel[0], out[1] * kernel[1])):
        return _max_pool_tiled(x, kernel, out)
    padded = _pad(np.asarray(x), padding, -np.inf)
    result = None
    for where in _offsets(padded, kernel, stride, out):
        if result is None:
            result = np.array(padded[where], copy=True)
        else:
            np.maximum(result, padded[where], out=result)
    return result


def _max_pool_tiled(x, kernel, out):
    """max_pool2d of a C-ordered x tiled by its windows (stride = kernel, no padding, no
    rest): first the max over each window's rows, which are contiguous runs of the
    image's width, then over its columns, every kw-th element of that flat result. The
    same numbers as the offset slices (max is exact), with long inner loops where the
    slices have runs of Q elements (2.5x faster on 8x8 images)."""
    (kh, kw), (p, q), width = kernel, out, x.shape[-1]
    rows = np.reshape(x, (-1, kh, width))
    result = np.array(rows[:, 0], copy=True) if kh == 1 else np.maximum(rows[:, 0], rows[:, 1])
    for a in range(2, kh):
        np.maximum(result, rows[:, a], out=result)
    flat = np.reshape(result, -1)
    if kw > 1:
        flat = np.maximum(flat[0::kw], flat[1::kw])
        for b in range(2, kw):
            np.maximum(flat, result.reshape(-1)[b::kw], out=flat)
    return np.reshape(flat, (*x.shape[:-2], p, q))


def _upsampled(a, kernel):
    """a (..., P, Q) with each element repeated over its kh x kw window: (..., P kh, Q kw)."""
    return np.repeat(np.repeat(a, kernel[1], axis=-1), kernel[0], axis=-2)


def _max_pool_tiled_vjp(out_grad, x, out, kernel, shape):
    """max_pool2d's rule where the windows tile a C-ordered x (as `_max_pool_tiled`): the
    winners are x == out repeated over each window (contiguous, one comparison), counted
    per window by one product with a 0/1 matrix summing each window's kh rows of kw
    (exact: small integers), each window's share repeated back over it and kept where x
    won (the winners as 1s and 0s of x's dtype: a third faster than a bool array
    there). The repeats are products with that matrix's transpose where the values are
    finite (one term each: exact; 4x faster than np.repeat on 4x4 windows' results). The
    same numbers as the offset slices without their short strided runs, except that a
    zero share comes back +0.0 whatever its sign (as PyTorch's, which adds into zeros)."""
    (kh, kw), q, width = kernel, shape[1], x.shape[-1]
    spread = np.zeros((q, kh, width), dtype=x.dtype)  # window column -> its kh x kw places
    columns = np.arange(width)
    spread[columns // kw, :, columns] = 1
    spread = np.reshape(spread, (q, kh * width))

    def repeated(a):
        if a.dtype == spread.dtype and np.isfinite(a).all():
            return np.reshape(np.matmul(np.reshape(a, (-1, q)), spread), x.shape)
        return _upsampled(a, kernel)

    won = np.equal(x, repeated(out)).astype(x.dtype)  # 1s and 0s: float by float below
    count = np.matmul(np.reshape(won, (-1, kh * width)), spread.T)
    share = out_grad / np.reshape(count, np.shape(out_grad))
    return np.multiply(won, repeated(share), dtype=np.result_type(out_grad, x))


def max_pool2d_vjp(out_grad, x, out, kernel_size, stride=None, padding=0):
    """Each window's grad goes to its maximum (split evenly among tied maxima, as max does);
    an element that is the maximum of several overlapping windows collects from each.

    On arrays: the winners counted over the kh * kw offset slices, then each offset's share
    added back into its slice. On Tensors (create_graph=True): the same rule through
    im2col and col2im, so that it differentiates again."""
    kernel, stride, padding, shape = _pool_geometry(np.shape(x), kernel_size, stride, padding)
    if (out_grad.__class__ is np.ndarray and x.__class__ is np.ndarray and kernel == stride
            and padding == (0, 0) and x.dtype.kind == "f" and x.flags.c_contiguous
            and out.__class__ is np.ndarray and x.shape[-2:] == (shape[0] * kernel[0],
                                                               shape[1] * kernel[1])):
        return (_max_pool_tiled_vjp(out_grad, x, out, kernel, shape),)
    if out_grad.__class__ is np.ndarray and x.__class__ is np.ndarray:
        padded = _pad(x, padding, -np.inf)
        wins = [(where, np.equal(padded[where], out))
                for where in _offsets(padded, kernel, stride, shape)]
        # counted in x's dtype: as bools they would be int64, and a float32 grad divided
        # by int64 counts is float64
        count = wins[0][1].astype(x.dtype)
        for _, won in wins[1:]:
            count += won
        share = out_grad / count
        tiled = stride[0] >= kernel[0] and stride[1] >= kernel[1]  # no element in two windows
        # windows that cover the input exactly, once each: every element is written below
        exact = stride == kernel and np.shape(padded)[-2:] == (shape[0] * kernel[0],
                                                                shape[1] * kernel[1])
        grad = (np.empty if exact else np.zeros)(np.shape(padded),
                                                 dtype=np.result_type(out_grad, x))
        for where, won in wins:
            if tiled:  # each slice written once: straight into it
                np.multiply(won, share, out=grad[where])
            else:
                grad[where] += won * share
        return (_unpad(grad, padding),)
    windows = call("im2col", x, kernel_size=kernel, stride=stride, padding=padding,
                   pad_value=-np.inf)
    # The winners as 1s of x's dtype: counted as bools they would be int64, and a float32
    # grad divided by int64 counts is float64.
    winners = (windows == out[..., np.newaxis, np.newaxis]) * x.dtype.type(1)
    share = out_grad / np.sum(winners, axis=(-2, -1))
    cols = winners * share[..., np.newaxis, np.newaxis]
    return (call("col2im", cols, shape=np.shape(x), stride=stride, padding=padding),)


def avg_pool2d(x, kernel_size, stride=None, padding=0):
    """The mean of each window over the last two axes; stride defaults to kernel_size;
    zero padding counts in the mean (PyTorch's default count_include_pad=True)."""
    kernel, stride, padding, _ = _pool_geometry(np.shape(x), kernel_size, stride, padding)
    return np.mean(_windows(_pad(x, padding), kernel, stride), axis=(-2, -1))


def avg_pool2d_vjp(out_grad, x, out, kernel_size, stride=None, padding=0):
    """Each window's grad, divided by the window's size, to every element of the window."""
    kernel, stride, padding, _ = _pool_geometry(np.shape(x), kernel_size, stride, padding)
    share = out_grad / (kernel[0] * kernel[1])
    cols = np.broadcast_to(share[..., np.newaxis, np.newaxis], np.shape(share) + kernel)
    return (call("col2im", cols, shape=np.shape(x), stride=stride, padding=padding),)


@functools.cache
def _pool_params_for(h, w):
    from hypothesis import strategies as st

    @st.composite
    def params(draw):
        padding = (draw(st.integers(0, 1)), draw(st.integers(0, 1)))
        kh = draw(st.integers(max(1, 2 * padding[0]), min(h + 2 * padding[0], 4)))
        kw = draw(st.integers(max(1, 2 * padding[1]), min(w + 2 * padding[1], 4)))
        stride = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
        return {"kernel_size": (kh, kw), "stride": stride, "padding": padding}

    return params()


def pool_sample():
    """Verifier hint: (..., H, W) inputs with distinct values (a tie is max's kink: values at
    least 0.1 apart, far beyond the verifier's nudge), and windows that fit them."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    leads = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3)
    orders = functools.cache(lambda size: st.permutations(range(size)))

    @st.composite
    def images_and_windows(draw):
        lead = draw(leads)
        h, w = draw(st.integers(1, 5)), draw(st.integers(1, 5))
        shape = lead + (h, w)
        size = int(np.prod(shape))
        order = draw(orders(size))
        x = np.reshape(np.asarray(order, dtype=np.float64) * 0.1 - 0.05 * size, shape)
        return (x,), draw(_pool_params_for(h, w))

    return images_and_windows()


# -- embedding -------------------------------------------------------------------------------


def _ids(weight, ids):
    ids = np.asarray(ids)
    if ids.dtype.kind not in "iu":
        raise OpCallError(f"ids must be integers; got an array of dtype {ids.dtype}")
    rows = np.shape(weight)[0]
    if ids.size and (ids.min() < -rows or ids.max() >= rows):
        _ids_out_of_range(rows, ids)
    return ids


def _ids_out_of_range(rows, ids):
    raise OpCallError(
        f"ids must lie in [0, {rows}) for a weight of {rows} rows (negative ids down to "
        f"-{rows} count from the end, as in numpy's indexing); got ids from "
        f"{ids.min()} to {ids.max()}"
    )


def embedding(weight, ids):
    """weight[ids]: one row of `weight` (V, D) per id; the result has shape ids.shape + (D,)."""
    if np.ndim(weight) != 2:
        raise OpCallError(f"weight must be a matrix (V, D); got shape {np.shape(weight)}")
    if weight.__class__ is np.ndarray and ids.__class__ is np.ndarray and ids.dtype.kind in "iu":
        # np.take checks every id's range as it gathers (mode "raise", negative ids from
        # the end, as numpy's indexing): no separate min and max passes over the ids
        try:
            return np.take(weight, ids, axis=0)
        except IndexError:
            _ids_out_of_range(weight.shape[0], ids)
    return np.take(weight, _ids(weight, ids), axis=0)


_ONE_HOT_LIMIT = 1 << 20
"""The largest one-hot matrix (vocabulary rows x ids) embedding's rule builds."""


def embedding_vjp(out_grad, weight, ids, out):
    """Each id's row grad, added into that row of weight.grad (scatter_add, getitem's
    transpose): repeated ids accumulate. On a finite float array with a small vocabulary,
    one product of the ids' one-hot matrix with the rows' grads (a character model's
    (27, 512) @ (512, 32): 15x faster than numpy's unbuffered np.add.at)."""
    ids = np.asarray(ids)
    rows = np.shape(weight)[0]
    if (out_grad.__class__ is np.ndarray and out_grad.dtype.kind == "f" and ids.size
            and rows * ids.size <= _ONE_HOT_LIMIT and np.isfinite(out_grad).all()):
        flat = ids.reshape(-1)
        one_hot = np.zeros((rows, flat.size), dtype=out_grad.dtype)
        one_hot[flat, np.arange(flat.size)] = 1
        return np.matmul(one_hot, out_grad.reshape(flat.size, -1)), None
    return call("scatter_add", out_grad, index=ids, shape=np.shape(weight)), None


def embedding_sample():
    """Verifier hint: a small vocabulary, so that ids repeat."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    values = st.floats(-3.0, 3.0, allow_nan=False, allow_subnormal=False)
    id_shapes = hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=4)
    weights_of = functools.cache(lambda shape: hnp.arrays(np.float64, shape, elements=values))
    ids_of = functools.cache(lambda shape, rows: hnp.arrays(
        np.int64, shape, elements=st.integers(0, rows - 1)))

    @st.composite
    def weights_and_ids(draw):
        rows, d = draw(st.integers(1, 4)), draw(st.integers(1, 3))
        weight = draw(weights_of((rows, d)))
        id_shape = draw(id_shapes)
        ids = draw(ids_of(id_shape, rows))
        return (weight, ids), {}

    return weights_and_ids()


# -- dropout ---------------------------------------------------------------------------------


def dropout_mask(shape, p, seed, dtype, rng=None):
    """The kept elements scaled by 1 / (1 - p): `rng.random(shape) >= p`, rng the Generator
    given, else `default_rng(seed)`."""
    if not 0.0 <= p <= 1.0:
        raise OpCallError(f"p must be a probability in [0, 1]; got {p!r}")
    if rng is not None and not isinstance(rng, np.random.Generator):
        raise OpCallError(f"rng must be a np.random.Generator (or None: the int seed draws "
                          f"the mask); got {type(rng).__name__}")
    if p == 1.0:
        return np.zeros(shape, dtype=dtype)
    source = rng if rng is not None else np.random.default_rng(seed)
    keep = source.random(shape) >= p
    return keep * np.asarray(1.0 / (1.0 - p), dtype=dtype)


def dropout(x, p=0.5, seed=0, rng=None):
    """Zero each element with probability p and scale the rest by 1 / (1 - p).

    The mask is drawn from `rng` (a np.random.Generator: a fresh mask each call) or, without
    one, from `seed` (an int: the same seed gives the same mask). The forward saves the
    mask it drew, and the rule reads it there: the verifier checks a fixed function of x
    given its draw.
    """
    mask = dropout_mask(np.shape(x), p, seed, np.result_type(x), rng)
    return x * mask, (mask,)


def dropout_local(x, out, saved, p=0.5, seed=0, rng=None):
    return saved


def dropout_params(shapes):
    """Verifier hint: any probability; an int seed, or a Generator to draw from."""
    from hypothesis import strategies as st

    seeds = st.integers(0, 2**32 - 1)
    return {"p": st.sampled_from([0.0, 0.1, 0.5, 0.9, 1.0]), "seed": seeds,
            "rng": st.none() | seeds.map(np.random.default_rng)}


OPS = [
    Op("softmax", softmax, vjp=softmax_vjp, signature=ANY, params=softmax_params, reads=("out",),
       doc="exp(x) / sum(exp(x)) along axis (default -1; None: all)"),
    Op("log_softmax", log_softmax, vjp=log_softmax_vjp, signature=ANY, params=softmax_params,
       reads=("out",),
       doc="x - logsumexp(x) along axis (default -1; None: all)"),
    Op("cross_entropy", cross_entropy, vjp=cross_entropy_vjp, signature="(*),(*)->(*)",
       constants=(1,), sample=cross_entropy_sample, saves=True, reads=("logits", "labels"),
       doc="-log softmax(logits)[label], classes on the last axis; integer labels; "
           "reduction 'mean' (default), 'sum' or 'none'\n\n"
           "logits (..., C) and labels (...) of the logits' shape without the class axis, "
           "each in [0, C) (else an error naming the op). For (N, C) logits this is "
           "torch.nn.functional.cross_entropy; for more axes PyTorch puts the classes on "
           "axis 1, gradledger on the last. 'mean' averages over every row. labels are a "
           "constant input: they take no gradient."),
    Op("conv2d", conv2d, vjp=conv2d_vjp, signature="(n,c,h,w),(o,c,i,j)->(n,o,p,q)",
       out_shape=conv2d_shape, sample=conv2d_sample, saves=True, reads=("x", "w"),
       doc="2-D cross-correlation, x (N,C,H,W), w (O,C,kH,kW); stride, padding; no bias: "
           "add it (gl.nn.functional.conv2d does)\n\n"
           "As torch.nn.functional.conv2d without its bias: an op has a fixed number of "
           "inputs, so a bias is a separate broadcasting add, conv2d(x, w) + b[:, None, None] "
           "(its grad, the sum over N, P, Q, is booked by add). stride and padding are ints "
           "or (height, width) pairs; padding is zeros. Channels that differ between x and w "
           "are an error blamed on the call, as is a kernel larger than the padded input. "
           "im2col by strided slice copies, then one batched BLAS matmul over the images each "
           "way; the output is contiguous NCHW."),
    Op("conv2d_bias", conv2d_bias, vjp=conv2d_bias_vjp,
       signature="(n,c,h,w),(o,c,i,j),(o)->(n,o,p,q)", out_shape=conv2d_bias_shape,
       sample=conv2d_bias_sample, saves=True, reads=("x", "w"),
       doc="conv2d(x, w) + b[:, None, None], b (O,): torch.nn.functional.conv2d with its "
           "bias, in one op (gl.nn.functional.conv2d calls it)\n\n"
           "The bias is one more column of the kernels' matrix, times a row of ones below "
           "each image's windows: the one batched matmul adds it, and the kernels' grad "
           "product gives its grad (the sum over N, P, Q) as one more row. stride and "
           "padding as conv2d's; a bias of any shape but (O,) is an error."),
    Op("max_pool2d", max_pool2d, vjp=max_pool2d_vjp, signature=ANY, sample=pool_sample,
       out_shape=pool_shape,
       doc="max over kernel_size windows of the last two axes; stride (default: kernel), "
           "padding"),
    Op("avg_pool2d", avg_pool2d, vjp=avg_pool2d_vjp, signature=ANY, sample=pool_sample,
       out_shape=pool_shape,
       doc="mean over kernel_size windows of the last two axes; stride (default: kernel), "
           "zero padding counted"),
    Op("im2col", im2col, vjp=im2col_vjp, signature=ANY, sample=im2col_sample,
       param_order=("kernel_size",),
       doc="the kernel_size windows of the last two axes, (..., P, Q, kH, kW); stride, "
           "padding (by pad_value, default 0)\n\n"
           "A read-only strided view of the padded input. Convolution and pooling are built "
           "on it; its rule is col2im and col2im's is im2col, so both differentiate to any "
           "order. (torch.nn.functional.unfold holds the same numbers as (N, C kH kW, P Q).)"),
    Op("col2im", col2im, vjp=col2im_vjp, signature=ANY, sample=col2im_sample,
       doc="im2col's transpose: windows (..., P, Q, kH, kW) added back into an array of "
           "shape (..., H, W); overlaps add up, padding is dropped"),
    Op("embedding", embedding, vjp=embedding_vjp, signature="(v,d),(*)->(*)", constants=(1,),
       sample=embedding_sample, reads=("ids",),
       doc="weight[ids]: rows of weight (V, D) by integer ids; repeated ids accumulate"),
    Op("dropout", dropout, local_grad=dropout_local, signature="()->()", params=dropout_params,
       saves=True, saved_constants=True, reads=(),
       doc="zero elements with probability p, scale the rest by 1/(1-p); the mask is "
           "drawn from rng (a np.random.Generator) or the int seed\n\n"
           "The mask is a constant of the call: rng.random(x.shape) >= p, or "
           "default_rng(seed).random(x.shape) >= p without an rng (the same seed gives the "
           "same mask). The forward saves the mask it drew and the rule reads it there, so "
           "the verifier checks a fixed function of x given its draw. gl.nn.functional.dropout "
           "and gl.nn.Dropout draw a seed from their rng. p = 1 gives zeros; p outside "
           "[0, 1] is an error."),
]
