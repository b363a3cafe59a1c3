"""Model benchmarks (issue 10): one training step of the two example models.

Each workload runs in one process, interleaved round by round (benchmarks/timing.py),
the figure being the median over many rounds, in three versions:
- gradledger: the example's own model (examples/digits_cnn.py, examples/char_lm.py),
  cross-entropy, backward, Adam step;
- the same computation written by hand with numpy: forward, backward and Adam
  (im2col by slices and a matmul for the convolution, reshapes for the pool);
- PyTorch on the CPU with torch.optim.Adam, when torch is importable (else no column).

(a) digits CNN, batch 64 of 1x8x8 images: Conv2d(1, 16, 3, padding=1) -> ReLU ->
    MaxPool2d(2) -> Flatten -> Linear(256, 10), float32.
(b) char MLP, batch 128 of 3-character contexts: Embedding(27, 10) -> concatenated
    (128, 30) -> Linear(30, 200) -> tanh -> Linear(200, 27), float32.

Run: `python benchmarks/bench_models.py [--quick] [--rounds N]`. Target: <= 1.3x the
hand-written numpy step. BLAS runs on one thread (OPENBLAS_NUM_THREADS=1, and as many
torch threads) unless OPENBLAS_NUM_THREADS says otherwise: these matmuls are too small
to gain from threads, and on a busy machine threads waiting for a core stall them for
milliseconds, burying what is measured here.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # read when numpy loads OpenBLAS, below

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gradledger as gl  # noqa: E402
import numpy as np  # noqa: E402
from timing import interleaved  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import char_lm  # noqa: E402
import digits_cnn  # noqa: E402

DTYPE = np.float32
BETAS, EPS, LR = (0.9, 0.999), 1e-8, 1e-3


# -- hand-written numpy: Adam, cross-entropy -------------------------------------------------


class NumpyAdam:
    """Adam on a list of numpy arrays, updated in place."""

    def __init__(self, params):
        self.params = params
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads):
        self.t += 1
        beta1, beta2 = BETAS
        step_size = LR / (1 - beta1**self.t)
        root = np.sqrt(1 - beta2**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v, strict=True):
            m += (1 - beta1) * (g - m)
            v *= beta2
            v += (1 - beta2) * g * g
            p -= step_size * (m / (np.sqrt(v) / root + EPS))


def cross_entropy_and_grad(logits, labels):
    """Mean cross-entropy and its gradient with respect to the logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1, keepdims=True)
    rows = np.arange(len(labels))
    loss = np.mean(np.log(total[:, 0]) - shifted[rows, labels])
    grad = exp / total
    grad[rows, labels] -= 1
    return loss, grad / len(labels)


# -- (a) digits CNN --------------------------------------------------------------------------


def digits_batch(batch_size=64, seed=0):
    x_train, _, y_train, _ = digits_cnn.load_digits(seed=seed)
    return x_train[:batch_size], y_train[:batch_size]


def adam_step(model, x, y):
    """One Adam step of `model` on (x, y) with the cross-entropy loss, through gradledger."""
    opt = gl.optim.Adam(model, lr=LR)

    def step():
        opt.zero_grad()
        loss = gl.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        return loss

    return step, model


def gradledger_cnn_step(x, y):
    return adam_step(digits_cnn.build_model(rng=0, dtype=DTYPE), x, y)


def numpy_cnn_step(x, y, model):
    """The same CNN by hand, images kept NHWC inside so every matmul is contiguous."""
    conv, linear = model[0], model[4]
    out_channels = conv.weight.shape[0]
    w = conv.weight.data.reshape(out_channels, -1).T.copy()  # (C*3*3, O), rows (c, i, j)
    b = conv.bias.data.copy()
    # The linear layer reads NCHW-flattened features; permute its rows once for NHWC.
    W = linear.weight.data.T.reshape(out_channels, 4, 4, 10).transpose(1, 2, 0, 3)
    W = W.reshape(-1, 10).copy()
    c = linear.bias.data.copy()
    opt = NumpyAdam([w, b, W, c])
    n, channels, height, width = x.shape
    padded = np.zeros((n, height + 2, width + 2, channels), dtype=x.dtype)
    cols = np.empty((n, height, width, channels, 3, 3), dtype=x.dtype)

    def step():
        # forward: im2col by nine slices, one matmul, relu, 2x2 max-pool, linear
        padded[:, 1:-1, 1:-1, :] = x.transpose(0, 2, 3, 1)
        for i in range(3):
            for j in range(3):
                cols[..., i, j] = padded[:, i:i + height, j:j + width, :]
        flat_cols = cols.reshape(n * height * width, -1)
        z = flat_cols @ w + b
        h = np.maximum(z, 0).reshape(n, height // 2, 2, width // 2, 2, out_channels)
        pooled = h.max(axis=(2, 4))
        features = pooled.reshape(n, -1)
        logits = features @ W + c
        loss, d_logits = cross_entropy_and_grad(logits, y)
        # backward
        d_W = features.T @ d_logits
        d_c = d_logits.sum(axis=0)
        d_pooled = (d_logits @ W.T).reshape(n, height // 2, 1, width // 2, 1, out_channels)
        winners = h == pooled[:, :, None, :, None, :]
        d_z = (winners * d_pooled).reshape(-1, out_channels) * (z > 0)
        d_w = flat_cols.T @ d_z
        d_b = d_z.sum(axis=0)
        opt.step([d_w, d_b, d_W, d_c])
        return loss

    return step


def torch_cnn_step(x, y, model):
    import torch

    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 16, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
        torch.nn.Flatten(), torch.nn.Linear(256, 10),
    )
    with torch.no_grad():
        net[0].weight.copy_(torch.from_numpy(model[0].weight.data))
        net[4].weight.copy_(torch.from_numpy(model[4].weight.data.copy()))
        net[0].bias.copy_(torch.from_numpy(model[0].bias.data))
        net[4].bias.copy_(torch.from_numpy(model[4].bias.data))
    opt = torch.optim.Adam(net.parameters(), lr=LR)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y.astype(np.int64))

    def step():
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(net(tx), ty)
        loss.backward()
        opt.step()
        return loss

    return step


# -- (b) char MLP ----------------------------------------------------------------------------


def char_batch(batch_size=128, block_size=3, seed=0):
    words = char_lm.load_words()
    itos = char_lm.vocabulary(words)
    x, y = char_lm.examples(words, {ch: i for i, ch in enumerate(itos)}, block_size)
    pick = np.random.default_rng(seed).integers(0, len(x), size=batch_size)
    return x[pick], y[pick], len(itos)


def gradledger_mlp_step(x, y, vocab_size):
    return adam_step(char_lm.CharMLP(vocab_size, rng=0, dtype=DTYPE), x, y)


def numpy_mlp_step(x, y, model):
    C = model.embedding.weight.data.copy()
    W1, b1 = model.hidden.weight.data.T.copy(), model.hidden.bias.data.copy()
    W2, b2 = model.out.weight.data.T.copy(), model.out.bias.data.copy()
    opt = NumpyAdam([C, W1, b1, W2, b2])
    n = len(x)

    def step():
        e = C[x].reshape(n, -1)
        h = np.tanh(e @ W1 + b1)
        logits = h @ W2 + b2
        loss, d_logits = cross_entropy_and_grad(logits, y)
        d_W2 = h.T @ d_logits
        d_b2 = d_logits.sum(axis=0)
        d_pre = (d_logits @ W2.T) * (1 - h * h)
        d_W1 = e.T @ d_pre
        d_b1 = d_pre.sum(axis=0)
        d_C = np.zeros_like(C)
        np.add.at(d_C, x.ravel(), (d_pre @ W1.T).reshape(-1, C.shape[1]))
        opt.step([d_C, d_W1, d_b1, d_W2, d_b2])
        return loss

    return step


def torch_mlp_step(x, y, model):
    import torch

    C = torch.nn.Parameter(torch.from_numpy(model.embedding.weight.data.copy()))
    lin1 = torch.nn.Linear(30, 200)
    lin2 = torch.nn.Linear(200, C.shape[0])
    with torch.no_grad():
        lin1.weight.copy_(torch.from_numpy(model.hidden.weight.data.copy()))
        lin2.weight.copy_(torch.from_numpy(model.out.weight.data.copy()))
        lin1.bias.copy_(torch.from_numpy(model.hidden.bias.data))
        lin2.bias.copy_(torch.from_numpy(model.out.bias.data))
    params = [C, *lin1.parameters(), *lin2.parameters()]
    opt = torch.optim.Adam(params, lr=LR)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        opt.zero_grad()
        h = torch.tanh(lin1(C[tx].reshape(len(tx), -1)))
        loss = torch.nn.functional.cross_entropy(lin2(h), ty)
        loss.backward()
        opt.step()
        return loss

    return step


# -- running ---------------------------------------------------------------------------------


def check_same_losses(steps: dict, rounds: int = 3) -> None:
    """The versions compute the same thing: their first losses agree (float32 tolerance)."""
    losses = {name: [float(step().item()) for _ in range(rounds)] for name, step in steps.items()}
    reference = losses["numpy"]
    for name, values in losses.items():
        if not np.allclose(values, reference, rtol=2e-4, atol=1e-5):
            raise SystemExit(f"{name} and hand-written numpy disagree: {values} vs {reference}")


def measure(name: str, steps: dict, rounds: int, clock=time.perf_counter) -> dict:
    check_same_losses(steps)
    times = interleaved(steps, rounds, clock)
    line = [f"{name}:"]
    for version, seconds in times.items():
        line.append(f"{version} {seconds * 1e3:.3f} ms")
    ratio = times["gradledger"] / times["numpy"]
    line.append(f"| gradledger / numpy {ratio:.2f}x (target <= 1.3)")
    if "torch" in times:
        line.append(f"| gradledger / torch {times['gradledger'] / times['torch']:.2f}x")
    print("  ".join(line), flush=True)
    return {**times, "ratio_numpy": ratio}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke run")
    parser.add_argument("--rounds", type=int, default=None, help="rounds per workload")
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by this process's CPU time (time.process_time), not the "
                             "wall clock: for a machine loaded past its cores")
    args = parser.parse_args(argv)
    rounds = args.rounds or (20 if args.quick else 400)
    has_torch = importlib.util.find_spec("torch") is not None
    if has_torch:
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(int(os.environ["OPENBLAS_NUM_THREADS"]))  # as many as numpy's
        version = f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    else:
        version = "torch not installed: no torch column"
    clock = time.process_time if args.cpu_time else time.perf_counter
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {version}, "
          f"OPENBLAS_NUM_THREADS={os.environ.get('OPENBLAS_NUM_THREADS', 'unset')}, "
          f"{rounds} rounds, medians of {'CPU' if args.cpu_time else 'wall-clock'} time")

    x, y = digits_batch()
    step, model = gradledger_cnn_step(x, y)
    steps = {"gradledger": step, "numpy": numpy_cnn_step(x, y, model)}
    if has_torch:
        steps["torch"] = torch_cnn_step(x, y, model)
    cnn = measure("(a) digits CNN step, batch 64", steps, rounds, clock)

    x, y, vocab_size = char_batch()
    step, model = gradledger_mlp_step(x, y, vocab_size)
    steps = {"gradledger": step, "numpy": numpy_mlp_step(x, y, model)}
    if has_torch:
        steps["torch"] = torch_mlp_step(x, y, model)
    mlp = measure("(b) char MLP step, batch 128", steps, rounds, clock)
    return {"cnn": cnn, "mlp": mlp}


if __name__ == "__main__":
    main()
