"""Issue 20 (rules that remember): what saved values and `reads` buy, against hand-written numpy.

    python benchmarks/bench_saved_values.py [--tree PATH ...] [--rounds N]

Each figure is a same-process ratio, gradledger over hand-written numpy, one BLAS thread:

- peak memory (tracemalloc) of one forward+backward of the benchmark MLP (batch 128,
  784-512-512-10, relu, MSE: bench_memory.py's workload), float32 and float64, each
  measured after one warm-up pass (the first pass loads the plugins: imports are not
  what a forward+backward holds);
- peak memory of one training step (forward, backward, Adam) of the two example models
  of bench_models.py (the digits CNN, the char MLP) against their numpy versions there,
  after two warm-up steps; the numpy CNN's preallocated im2col buffers are counted;
- cross_entropy forward+backward (mean over rows, integer labels) against numpy by hand:
  the softmax, the loss, and softmax - onehot over the rows; median of interleaved rounds.

- max (axis 1), sort (axis 1) and dropout (a Generator) forward+backward on 256x512
  float64, against numpy by hand (the winners' mask, the argsort scattered back, the
  mask times the grad); median of interleaved rounds.

`--tree PATH` runs the same measurements on another checkout (e.g. the commit before
issue 20, extracted with `git archive`): its `core` and `ops_builtin` go first on
PYTHONPATH in a child process. Without it, this checkout only.
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))


def mlp_memory() -> dict:
    from bench_memory import gradledger_pass, numpy_pass
    from timing import mlp_problem

    ratios = {}
    tracemalloc.start()
    for dtype in (np.float32, np.float64):
        weights, x, y = mlp_problem(dtype)
        gradledger_pass(weights, x, y)  # warm-up: plugins load, caches fill
        numpy_pass(weights, x, y)
        ours = gradledger_pass(weights, x, y)
        hand = numpy_pass(weights, x, y)
        ratios[dtype.__name__] = (ours, hand)
    tracemalloc.stop()
    return ratios


def _step_peak(make_step) -> int:
    """Peak traced memory of one call of the step `make_step()` builds (after two warm-up
    steps), above what was traced before it was built."""
    start = tracemalloc.get_traced_memory()[0]
    step = make_step()
    step()
    step()
    tracemalloc.reset_peak()
    step()
    return tracemalloc.get_traced_memory()[1] - start


def model_memory() -> dict:
    import bench_models as models

    figures = {}
    tracemalloc.start()
    x, y = models.digits_batch()
    _, model = models.gradledger_cnn_step(x, y)
    figures["digits CNN step"] = (
        _step_peak(lambda: models.gradledger_cnn_step(x, y)[0]),
        _step_peak(lambda: models.numpy_cnn_step(x, y, model)))
    x, y, vocab = models.char_batch()
    _, model = models.gradledger_mlp_step(x, y, vocab)
    figures["char MLP step"] = (
        _step_peak(lambda: models.gradledger_mlp_step(x, y, vocab)[0]),
        _step_peak(lambda: models.numpy_mlp_step(x, y, model)))
    tracemalloc.stop()
    return figures


def numpy_cross_entropy(logits, labels):
    """The loss and d loss / d logits by hand: softmax, -log p[label], (p - onehot) / n."""
    n = logits.shape[0]
    rows = np.arange(n)
    peak = logits.max(axis=-1, keepdims=True)
    e = np.exp(logits - peak)
    total = e.sum(axis=-1, keepdims=True)
    loss = np.mean(np.log(total[:, 0]) + peak[:, 0] - logits[rows, labels])
    p = e / total
    p[rows, labels] -= 1.0
    p /= n
    return loss, p


def cross_entropy_times(rounds: int) -> dict:
    import gradledger as gl
    from timing import interleaved

    figures = {}
    rng = np.random.default_rng(0)
    for n, c in ((64, 10), (128, 100), (512, 1000)):
        logits = rng.normal(size=(n, c)) * 2
        labels = rng.integers(0, c, size=n)
        z = gl.tensor(logits, requires_grad=True)

        def ours(z=z, labels=labels):
            z.grad = None
            gl.cross_entropy(z, labels).backward()

        def hand(logits=logits, labels=labels):
            numpy_cross_entropy(logits, labels)

        ours()
        _, want = numpy_cross_entropy(logits, labels)
        np.testing.assert_allclose(z.grad, want, rtol=1e-9, atol=1e-15)
        times = interleaved({"ours": ours, "hand": hand}, rounds)
        figures[f"{n}x{c}"] = (times["ours"], times["hand"])
    return figures


def adopted_times(rounds: int) -> dict:
    """max, sort and dropout forward+backward, gradledger and numpy by hand."""
    import gradledger as gl
    from timing import interleaved

    rng = np.random.default_rng(1)
    value = rng.normal(size=(256, 512))
    g = rng.normal(size=(256, 512))
    x = gl.tensor(value, requires_grad=True)

    def hand_max():
        out = value.max(axis=1)
        winners = value == out[:, None]
        return winners * (g[:, 0] / winners.sum(axis=1))[:, None]

    def hand_sort():
        index = np.argsort(value, axis=1, kind="stable")
        grad = np.empty_like(g)
        np.put_along_axis(grad, index, g, axis=1)
        return np.take_along_axis(value, index, axis=1), grad

    hand_draws, our_draws = np.random.default_rng(0), np.random.default_rng(0)

    def hand_dropout():
        mask = (hand_draws.random(value.shape) >= 0.5) * 2.0
        return value * mask, g * mask

    def ours(name):
        def run():
            x.grad = None
            if name == "max":
                out, seed = gl.max(x, axis=1), g[:, 0]
            elif name == "sort":
                out, seed = gl.sort(x, axis=1), g
            else:
                out, seed = gl.dropout(x, p=0.5, rng=our_draws), g
            out.backward(seed)
        return run

    figures = {}
    for name, hand in (("max", hand_max), ("sort", hand_sort), ("dropout", hand_dropout)):
        times = interleaved({"ours": ours(name), "hand": hand}, rounds)
        figures[name] = (times["ours"], times["hand"])
    return figures


def report(rounds: int) -> None:
    for dtype, (ours, hand) in mlp_memory().items():
        print(f"  MLP peak memory {dtype}: gradledger {ours / 2**20:.2f} MiB, numpy "
              f"{hand / 2**20:.2f} MiB, ratio {ours / hand:.3f}")
    for name, (ours, hand) in model_memory().items():
        print(f"  {name} peak memory: gradledger {ours / 2**20:.2f} MiB, numpy "
              f"{hand / 2**20:.2f} MiB, ratio {ours / hand:.3f}")
    for size, (ours, hand) in cross_entropy_times(rounds).items():
        print(f"  cross_entropy fwd+bwd {size}: gradledger {ours * 1e6:.1f} us, numpy "
              f"{hand * 1e6:.1f} us, ratio {ours / hand:.2f}")
    for name, (ours, hand) in adopted_times(rounds).items():
        print(f"  {name} fwd+bwd 256x512: gradledger {ours * 1e6:.1f} us, numpy "
              f"{hand * 1e6:.1f} us, ratio {ours / hand:.2f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, action="append", help="another checkout")
    parser.add_argument("--rounds", type=int, default=400)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        report(args.rounds)
        return 0
    import gradledger

    print(f"this checkout ({Path(gradledger.__file__).parents[2]}):")
    report(args.rounds)
    for tree in args.tree or []:
        env = dict(os.environ, GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD="1",
                   PYTHONPATH=os.pathsep.join([str(tree / "core"), str(tree / "ops_builtin")]))
        print(f"{tree}:", flush=True)
        subprocess.run([sys.executable, __file__, "--child", "--rounds", str(args.rounds)],
                       env=env, check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
