"""`gl.nn.functional`: PyTorch's functional forms, each a registered op or a few of them.

Names and argument conventions are `torch.nn.functional`'s (`dim=` for the axis,
`F.embedding(input, weight)`, `F.linear` with PyTorch's (out, in) weight), so that
code reads as it does there; each function calls the registered ops by name. Where a
function takes an axis, `axis=` (the ops' spelling) is accepted for `dim=` too.
"""

from __future__ import annotations

import math

import numpy as np

from ..ops import ops
from ..random import resolve
from ..tensor import Tensor

__all__ = [
    "avg_pool2d", "batch_norm", "binary_cross_entropy", "binary_cross_entropy_with_logits",
    "conv2d", "cross_entropy", "dropout", "embedding", "flatten", "gelu", "layer_norm", "linear",
    "log_softmax", "masked_fill", "max_pool2d", "mse_loss", "relu", "scaled_dot_product_attention",
    "sigmoid", "softmax", "tanh",
]

_REDUCTIONS = ("mean", "sum", "none")


def _shape(x) -> tuple:
    return np.shape(x.data if isinstance(x, Tensor) else x)


def relu(input) -> Tensor:
    """max(input, 0)."""
    return ops.relu(input)


def tanh(input) -> Tensor:
    return ops.tanh(input)


def sigmoid(input) -> Tensor:
    """1 / (1 + exp(-input))."""
    return ops.sigmoid(input)


_UNSET = object()


def _dim(owner: str, dim, axis):
    """`dim=` (PyTorch's spelling) or `axis=` (numpy's and the ops'), not both."""
    if axis is _UNSET:
        return -1 if dim is _UNSET else dim
    if dim is not _UNSET:
        raise TypeError(f"{owner}: give dim= or axis= (the same thing), not both")
    return axis


def softmax(input, dim: int | None = _UNSET, *, axis: int | None = _UNSET) -> Tensor:
    """exp(input) / sum(exp(input)) along `dim` (default -1; the op `softmax`, axis=dim)."""
    return ops.softmax(input, axis=_dim("softmax", dim, axis))


def log_softmax(input, dim: int | None = _UNSET, *, axis: int | None = _UNSET) -> Tensor:
    """input - logsumexp(input) along `dim` (default -1; the op `log_softmax`, axis=dim)."""
    return ops.log_softmax(input, axis=_dim("log_softmax", dim, axis))


def _reduce(owner: str, loss, reduction: str):
    if reduction not in _REDUCTIONS:
        raise ValueError(f"{owner} reduction: expected one of {_REDUCTIONS}; got {reduction!r}")
    if reduction == "none":
        return loss
    return ops.mean(loss) if reduction == "mean" else ops.sum(loss)


def cross_entropy(input, target, weight=None, ignore_index: int = -100, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """-log softmax(input)[target]: logits (N, C) (classes on the last axis), integer
    labels (N,); reduction 'mean' (default), 'sum' or 'none' (the op `cross_entropy`).

    As torch.nn.functional.cross_entropy: rows whose label is `ignore_index` add nothing
    and 'mean' averages over the other rows; with `label_smoothing` e the target is
    (1 - e) one-hot + e / C uniform, i.e. (1 - e) * the loss + e * the mean over classes
    of -log softmax. Class `weight`s are not supported (an error says so).
    """
    if weight is not None:
        raise NotImplementedError(
            "cross_entropy: class weights are not supported; weight each row's loss "
            "(reduction='none') yourself"
        )
    if not (isinstance(label_smoothing, (int, float)) and 0.0 <= label_smoothing <= 1.0):
        raise ValueError(f"cross_entropy label_smoothing: expected a number in [0, 1]; "
                         f"got {label_smoothing!r}")
    if reduction not in _REDUCTIONS:
        raise ValueError(f"cross_entropy reduction: expected one of {_REDUCTIONS}; "
                         f"got {reduction!r}")
    labels = np.asarray(target.data if isinstance(target, Tensor) else target)
    kept = labels != ignore_index
    if label_smoothing == 0.0 and kept.all():
        if reduction == "mean":  # the op's default: a call without params records faster
            return ops.cross_entropy(input, labels)
        return ops.cross_entropy(input, labels, reduction=reduction)
    safe = np.where(kept, labels, 0)
    loss = ops.cross_entropy(input, safe, reduction="none")
    if label_smoothing:
        smooth = -ops.mean(ops.log_softmax(input, axis=-1), axis=-1)
        loss = (1.0 - label_smoothing) * loss + label_smoothing * smooth
    if not kept.all():
        loss = ops.masked_fill(loss, ~kept, value=0.0)
    if reduction == "none":
        return loss
    total = ops.sum(loss)
    return total / int(kept.sum()) if reduction == "mean" else total


def binary_cross_entropy(input, target, weight=None, reduction: str = "mean") -> Tensor:
    """-(target log(input) + (1 - target) log(1 - input)) for probabilities `input`, each
    log clamped at -100 as PyTorch's (so a probability of 0 or 1 gives a finite loss);
    optional elementwise `weight`."""
    with np.errstate(divide="ignore"):  # log(0) is -inf, clamped to -100 as in PyTorch
        log_p = ops.clip(ops.log(input), a_min=-100.0)
        log_q = ops.clip(ops.log(1.0 - input), a_min=-100.0)
    loss = -(target * log_p + (1.0 - target) * log_q)
    if weight is not None:
        loss = loss * weight
    return _reduce("binary_cross_entropy", loss, reduction)


def binary_cross_entropy_with_logits(input, target, weight=None, reduction: str = "mean",
                                     pos_weight=None) -> Tensor:
    """binary_cross_entropy(sigmoid(input), target) without its overflow:
    (1 - target) input + (1 + (pos_weight - 1) target) softplus(-input), as PyTorch's."""
    if pos_weight is None:
        loss = (1.0 - target) * input + ops.softplus(-input)
    else:
        loss = (1.0 - target) * input + (1.0 + (pos_weight - 1.0) * target) * ops.softplus(-input)
    if weight is not None:
        loss = loss * weight
    return _reduce("binary_cross_entropy_with_logits", loss, reduction)


def mse_loss(input, target, reduction: str = "mean") -> Tensor:
    """(input - target) ** 2, averaged ('mean'), summed ('sum') or not reduced ('none')."""
    if reduction not in _REDUCTIONS:
        raise ValueError(f"mse_loss reduction: expected one of {_REDUCTIONS}; got {reduction!r}")
    difference = input - target
    return _reduce("mse_loss", difference * difference, reduction)


def linear(input, weight, bias=None) -> Tensor:
    """input @ weight.T + bias, with PyTorch's weight layout (out_features, in_features):
    the op `linear_bias` (one recorded op), or `linear` without a bias. A bias of any
    shape but (out_features,) is added by a separate `add`."""
    if bias is None:
        return ops.linear(input, weight)
    w_shape = _shape(weight)  # (np.shape of a Tensor would go through __array_function__)
    if len(w_shape) == 2 and _shape(bias) == w_shape[:1]:
        return ops.linear_bias(input, weight, bias)
    return ops.linear(input, weight) + bias


def conv2d(input, weight, bias=None, stride=1, padding=0) -> Tensor:
    """Cross-correlation of NCHW `input` with OIHW `weight` (the op `conv2d`), plus the
    per-channel `bias` (O,) if given (then the one op `conv2d_bias`)."""
    if bias is not None and len(_shape(weight)) == 4 and _shape(bias) == _shape(weight)[:1]:
        return ops.conv2d_bias(input, weight, bias, stride=stride, padding=padding)
    out = ops.conv2d(input, weight, stride=stride, padding=padding)
    if bias is None:
        return out
    return out + ops.reshape(bias, shape=(1, -1, 1, 1))


def max_pool2d(input, kernel_size, stride=None, padding=0) -> Tensor:
    """The maximum of each window of the last two axes; stride defaults to kernel_size."""
    return ops.max_pool2d(input, kernel_size=kernel_size, stride=stride, padding=padding)


def avg_pool2d(input, kernel_size, stride=None, padding=0) -> Tensor:
    """The mean of each window of the last two axes (zero padding counts, as in PyTorch)."""
    return ops.avg_pool2d(input, kernel_size=kernel_size, stride=stride, padding=padding)


def embedding(input, weight, padding_idx: int | None = None) -> Tensor:
    """The rows `weight[input]` for integer ids `input` (PyTorch's argument order; the op
    `embedding(weight, ids)`). The row `padding_idx` takes no gradient."""
    if padding_idx is not None and isinstance(weight, Tensor) and weight.requires_grad:
        rows = np.zeros((np.shape(weight.data)[0], 1), dtype=bool)
        rows[padding_idx] = True
        weight = ops.where(rows, Tensor(weight.data), weight)  # the row's value, held constant
    return ops.embedding(weight, input)


def check_probability(owner: str, p) -> float:
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0.0 <= p <= 1.0:
        raise ValueError(f"{owner} p: expected a probability in [0, 1]; got {p!r}")
    return float(p)


def dropout(input, p: float = 0.5, training: bool = True,
            rng: int | np.random.Generator | None = None) -> Tensor:
    """In training, zero each element with probability p and scale the rest by 1 / (1 - p)
    (the op `dropout`, with a seed drawn from `rng`: None is the global generator,
    `gl.manual_seed`; an int seed gives the same mask each call); otherwise return `input`
    unchanged."""
    p = check_probability("dropout", p)
    if not training or p == 0.0:
        return input
    seed = int(resolve(rng, "dropout rng").integers(2**32))
    return ops.dropout(input, p=p, seed=seed)


def gelu(input, approximate: str = "none") -> Tensor:
    """x Phi(x), Phi the standard normal CDF: with approximate='none' (PyTorch's default)
    0.5 x (1 + erf(x / sqrt 2)), which needs an `erf` op; with approximate='tanh' the op
    `gelu_tanh`, 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    if approximate == "tanh":
        return ops.gelu_tanh(input)
    if approximate != "none":
        raise ValueError(f"gelu approximate: expected 'none' or 'tanh'; got {approximate!r}")
    if "erf" not in ops:
        raise NotImplementedError(
            "gelu(approximate='none') needs the error function, and no plugin registered an "
            "op 'erf'; use gelu(x, approximate='tanh') (gl.nn.GELU('tanh')), or install an "
            "erf op"
        )
    if not isinstance(input, Tensor):
        input = Tensor(input)
    return 0.5 * input * (1.0 + ops.erf(input * _SQRT_HALF))


_SQRT_HALF = math.sqrt(0.5)


def masked_fill(input, mask, value: float) -> Tensor:
    """`input` with `value` where the boolean `mask` holds (the op `masked_fill`)."""
    mask = mask.data if isinstance(mask, Tensor) else mask
    return ops.masked_fill(input, mask, value=value)


def _channel_sums(x3: np.ndarray) -> np.ndarray:
    """Per-channel sums (float64) of x3 (N, C, L): each row of L by a BLAS matrix-vector
    product (for L <= 4096), the N partial sums in float64 (as the op batch_norm sums)."""
    if x3.shape[2] <= 4096 and x3.dtype.kind == "f":
        rows = np.matmul(x3, np.ones(x3.shape[2], dtype=x3.dtype))
    else:
        rows = np.add.reduce(x3, axis=2, dtype=np.float64)
    return np.add.reduce(rows, axis=0, dtype=np.float64)


def _channel_statistics(data: np.ndarray) -> tuple:
    """The per-channel mean and biased variance (float64) of data (N, C, ...)."""
    x3 = np.reshape(data, (data.shape[0], data.shape[1], -1))
    if x3.dtype.kind != "f":
        x3 = x3.astype(np.float64)
    count = x3.shape[0] * x3.shape[2]
    mean = _channel_sums(x3) / count
    centred = x3 - mean.astype(x3.dtype)[:, np.newaxis]
    if x3.shape[2] <= 4096:  # each (n, c) row's dot product, as the op batch_norm sums
        squares = np.add.reduce(np.vecdot(centred, centred), axis=0, dtype=np.float64)
    else:
        squares = _channel_sums(centred * centred)
    return mean, squares / count


def _batch_statistics(out: Tensor, c: int) -> tuple | None:
    """The float64 mean and biased variance (C,) the op batch_norm saved on the call that
    made `out` (recorded, float input), else None: the running statistics need not be
    computed twice."""
    node = out._node
    saved = getattr(node, "saved", None)
    if saved.__class__ is tuple and len(saved) == 4:
        mean, var = saved[2], saved[3]
        if all(a.__class__ is np.ndarray and a.dtype == np.float64 and a.shape == (c,)
               for a in (mean, var)):
            return mean, var
    return None


def batch_norm(input, running_mean, running_var, weight=None, bias=None, training: bool = False,
               momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """Normalise (N, C, ...) per channel C, as torch.nn.functional.batch_norm.

    In training the batch's own statistics (the op `batch_norm`), and the running ones,
    if given (Tensors), move towards them in place: running = (1 - momentum) running +
    momentum * batch (the unbiased variance, as PyTorch). Otherwise the running ones.
    """
    shape = _shape(input)
    if len(shape) < 2:
        raise ValueError(f"batch_norm: expected an input (N, C, ...); got shape {shape}")
    c = shape[1]
    if not isinstance(input, Tensor):
        input = Tensor(input)
    # (no local reference to the input's array across the op's call: the tape would take
    # it for a view made before the call and save a copy)
    dtype, size = np.result_type(input.data), int(np.size(input.data))
    if weight is None:
        weight = np.ones(c, dtype=dtype)
    if bias is None:
        bias = np.zeros(c, dtype=dtype)
    if training:
        count = size // max(c, 1)
        if count < 2:
            raise ValueError(f"batch_norm: expected more than 1 value per channel when "
                             f"training; got input of shape {shape}")
        out = ops.batch_norm(input, weight, bias, eps=eps)
        if running_mean is not None or running_var is not None:
            mean, var = (_batch_statistics(out, c)
                         or _channel_statistics(np.asarray(input.data)))
            var = var * (count / (count - 1))
            for buffer, batch in ((running_mean, mean), (running_var, var)):
                if buffer is not None:
                    old = np.asarray(buffer.data)
                    buffer.data = ((1.0 - momentum) * old + momentum * batch).astype(old.dtype)
        return out
    view = (1, c) + (1,) * (len(shape) - 2)
    mean = np.reshape(np.asarray(running_mean.data if isinstance(running_mean, Tensor)
                                 else running_mean), view)
    var = np.reshape(np.asarray(running_var.data if isinstance(running_var, Tensor)
                                else running_var), view)
    scale = (1.0 / np.sqrt(var + eps)).astype(dtype)
    out = (input - mean.astype(dtype)) * scale
    return out * ops.reshape(weight, shape=view) + ops.reshape(bias, shape=view)


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p: float = 0.0,
                                 is_causal: bool = False, scale: float | None = None,
                                 rng=None) -> Tensor:
    """softmax(query @ key^T * scale + mask) @ value over the last two axes, as
    torch.nn.functional.scaled_dot_product_attention: query (..., L, E), key (..., S, E),
    value (..., S, Ev); scale defaults to 1 / sqrt(E). A boolean `attn_mask` says where
    to attend (False: masked out); a float one is added to the scores; `is_causal` masks
    the future (key positions after the query's). `dropout_p` drops attention weights,
    drawing from `rng` (default: the global generator). Without a mask or dropout it is
    one op, `attention`."""
    query, key, value = (t if isinstance(t, Tensor) else Tensor(t) for t in (query, key, value))
    e = _shape(query)[-1]
    if attn_mask is None and dropout_p == 0.0 and "attention" in ops:
        return ops.attention(query, key, value, is_causal=bool(is_causal),
                             scale=None if scale is None else float(scale))
    scale = 1.0 / math.sqrt(e) if scale is None else float(scale)
    scores = ops.matmul(query, ops.swapaxes(key, -2, -1)) * scale
    length, source = _shape(query)[-2], _shape(key)[-2]
    if is_causal:
        if attn_mask is not None:
            raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal, "
                             "not both")
        future = np.triu(np.ones((length, source), dtype=bool), k=1)
        scores = ops.masked_fill(scores, future, value=-math.inf)
    elif attn_mask is not None:
        mask = np.asarray(attn_mask.data if isinstance(attn_mask, Tensor) else attn_mask)
        if mask.dtype == np.bool_:
            scores = ops.masked_fill(scores, ~mask, value=-math.inf)
        else:
            scores = scores + attn_mask  # a float mask, added (a Tensor keeps its grad)
    weights = ops.softmax(scores, axis=-1)
    if dropout_p > 0.0:
        weights = dropout(weights, dropout_p, training=True, rng=rng)
    return ops.matmul(weights, value)


def layer_norm(input, normalized_shape, weight=None, bias=None, eps: float = 1e-5) -> Tensor:
    """(input - mean) / sqrt(var + eps) over the last len(normalized_shape) dimensions
    (biased variance, as PyTorch), then `* weight + bias` if given: one op, `layer_norm`
    (weight and bias default to ones and zeros)."""
    shape = ((normalized_shape,) if isinstance(normalized_shape, (int, np.integer))
             else tuple(normalized_shape))
    input_shape = _shape(input)
    if not shape or tuple(input_shape[len(input_shape) - len(shape):]) != shape:
        raise ValueError(
            f"layer_norm: expected an input whose last dimensions are normalized_shape "
            f"{shape}; got an input of shape {input_shape}"
        )
    if not (isinstance(eps, (int, float)) and math.isfinite(eps) and eps >= 0):
        raise ValueError(f"layer_norm eps: expected a finite number >= 0; got {eps!r}")
    if not isinstance(input, Tensor):
        input = Tensor(input)
    dtype = np.asarray(input.data).dtype
    if weight is None:
        weight = np.ones(shape, dtype=dtype)
    if bias is None:
        bias = np.zeros(shape, dtype=dtype)
    return ops.layer_norm(input, weight, bias, eps=float(eps))


def flatten(input, start_dim: int = 1, end_dim: int = -1) -> Tensor:
    """Merge the dimensions start_dim..end_dim (negative counts from the end) into one,
    as `torch.flatten`; the op `reshape`."""
    shape = _shape(input)
    ndim = max(len(shape), 1)
    start = start_dim + ndim if start_dim < 0 else start_dim
    end = end_dim + ndim if end_dim < 0 else end_dim
    if not 0 <= start <= end < ndim:
        raise ValueError(
            f"flatten: expected 0 <= start_dim <= end_dim < ndim (negative dims count from the "
            f"end); got start_dim={start_dim}, end_dim={end_dim} for shape {shape}"
        )
    merged = math.prod(shape[start:end + 1])  # Python ints: exact, and no numpy call
    return ops.reshape(input, shape=(*shape[:start], merged, *shape[end + 1:]))
