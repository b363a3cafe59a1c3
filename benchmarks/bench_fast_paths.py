"""Issue 22's fast paths, before and after, in one process: interleaved rounds, medians.

Each row times the old form and the new one on the same float32 input (shapes of the
char GPT and digits CNN steps; BLAS on one thread):

- numpy cliffs, forward rules only: sigmoid (logaddexp -> exp(min(x, 0)) / (1 + exp(-|x|))),
  softplus (logaddexp -> max + log1p(exp)), x ** 3 (np.power -> x * x * x);
- max_pool2d 2x2 on a conv2d-shaped (N, C, H, W) input whose memory is channels-last, as
  conv2d leaves it: forward and grad (a max over the windows' view, and im2col/col2im ->
  k^2 np.maximum over strided slices with a winner count);
- composite layers, forward + backward through the tape: LayerNorm as 9 recorded ops ->
  the op layer_norm; GELU(tanh) as 9 ops with x ** 3 -> the op gelu_tanh; a Linear's
  x @ weight.T (transpose + matmul) -> the op linear.

Run: `python benchmarks/bench_fast_paths.py [--quick] [--rounds N]`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import argparse  # noqa: E402
import math  # noqa: E402

import gradledger as gl  # noqa: E402
import numpy as np  # noqa: E402
from gradledger.extend import call  # noqa: E402
from gradledger_builtin import elementwise, nn  # noqa: E402
from timing import interleaved  # noqa: E402

RNG = np.random.default_rng(0)


def old_max_pool(x, out_grad):
    """The pooling before issue 22: a max over the windows' view; the rule through
    im2col and col2im."""
    windows = np.lib.stride_tricks.sliding_window_view(x, (2, 2), axis=(-2, -1))
    out = np.max(windows[..., ::2, ::2, :, :], axis=(-2, -1))
    cols = call("im2col", x, kernel_size=2, stride=2, padding=0, pad_value=-np.inf)
    winners = (cols == out[..., None, None]) * x.dtype.type(1)
    share = out_grad / np.sum(winners, axis=(-2, -1))
    return call("col2im", winners * share[..., None, None], shape=x.shape, stride=2, padding=0)


def new_max_pool(x, out_grad):
    out = nn.max_pool2d(x, 2)
    return nn.max_pool2d_vjp(out_grad, x, out, 2)


def composite_layer_norm(x, w, b):
    centred = x - gl.mean(x, axis=-1, keepdims=True)
    variance = gl.mean(centred * centred, axis=-1, keepdims=True)
    return centred * (variance + 1e-5) ** -0.5 * w + b


def composite_gelu(x):
    return 0.5 * x * (1.0 + gl.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3.0)))


def through_tape(fn, *arrays):
    def run():
        tensors = [gl.tensor(a, requires_grad=True) for a in arrays]
        gl.sum(fn(*tensors)).backward()

    return run


def rows(rounds: int) -> None:
    x = RNG.standard_normal((32, 12, 256)).astype(np.float32)  # the GPT's MLP activations
    channels_last = np.ascontiguousarray(
        RNG.standard_normal((64, 8, 8, 16)).astype(np.float32)).transpose(0, 3, 1, 2)
    pool_grad = RNG.standard_normal((64, 16, 4, 4)).astype(np.float32)
    h = RNG.standard_normal((32, 12, 64)).astype(np.float32)
    w = RNG.standard_normal((64, 64)).astype(np.float32)
    ones, zeros = np.ones(64, np.float32), np.zeros(64, np.float32)
    cases = [
        ("sigmoid forward (32, 12, 256)", lambda: np.exp(-np.logaddexp(0.0, -x)),
         lambda: elementwise.sigmoid(x)),
        ("softplus forward (32, 12, 256)", lambda: np.logaddexp(0.0, x),
         lambda: elementwise.softplus(x)),
        ("x ** 3 forward (32, 12, 256)", lambda: x ** 3, lambda: elementwise.power(x, 3)),
        ("max_pool2d 2x2 forward + grad, (64, 16, 8, 8) channels-last",
         lambda: old_max_pool(channels_last, pool_grad),
         lambda: new_max_pool(channels_last, pool_grad)),
        ("LayerNorm(64) forward + backward, (32, 12, 64)",
         through_tape(composite_layer_norm, h, ones, zeros),
         through_tape(lambda a, g, b: gl.layer_norm(a, g, b), h, ones, zeros)),
        ("GELU(tanh) forward + backward, (32, 12, 256)", through_tape(composite_gelu, x),
         through_tape(gl.gelu_tanh, x)),
        ("Linear 64->64 product forward + backward, (32, 12, 64)",
         through_tape(lambda a, b: a @ b.T, h, w), through_tape(gl.linear, h, w)),
    ]
    for name, before, after in cases:
        times = interleaved({"before": before, "after": after}, rounds)
        print(f"{name}:  before {times['before'] * 1e6:.0f} us  after {times['after'] * 1e6:.0f} "
              f"us  | after / before {times['after'] / times['before']:.3f}", flush=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--rounds", type=int, default=None)
    args = parser.parse_args(argv)
    rounds = args.rounds or (10 if args.quick else 300)
    print(f"numpy {np.__version__}, float32, {rounds} rounds, medians")
    rows(rounds)


if __name__ == "__main__":
    main()
