"""Timing helpers shared by the benchmark scripts (run them as `python benchmarks/NAME.py`)."""

from __future__ import annotations

import statistics
import time

import numpy as np

MLP_SIZES = [784, 512, 512, 10]
"""The benchmark MLP: batch 128, 784-512-512-10, relu, mean squared error."""


SCALAR_MLP_OPS = 2 * (2 * 16 + 16 * 16 + 16) + 32
"""Recorded ops in one step of the scalar MLP: a mul and an add per weight, a relu per
hidden neuron."""


def scalar_mlp_step():
    """micrograd's MLP 2-16-16-1 on scalar tensors, one sample: forward, backward and the
    grads cleared (W1 of bench_overhead and bench_instructions). Returns the step."""
    import gradledger as gl

    rng = np.random.default_rng(0)
    sizes = [2, 16, 16, 1]
    layers = [[([gl.tensor(rng.uniform(-1, 1), requires_grad=True) for _ in range(a)],
                gl.tensor(0.0, requires_grad=True)) for _ in range(b)]
              for a, b in zip(sizes, sizes[1:], strict=False)]
    params = [p for layer in layers for ws, b in layer for p in (*ws, b)]
    xs0 = [gl.tensor(0.5), gl.tensor(-1.5)]

    def step():
        xs = xs0
        for depth, layer in enumerate(layers):
            outs = []
            for ws, b in layer:
                act = b
                for w, x in zip(ws, xs, strict=True):
                    act = act + w * x
                outs.append(act if depth == len(layers) - 1 else gl.relu(act))
            xs = outs
        xs[0].backward()
        for p in params:
            p.grad = None

    return step


def interleaved(fns: dict, rounds: int, clock=time.perf_counter) -> dict:
    """Median seconds per call of each function, the functions alternating round by round,
    so that a noisy neighbour slows them all alike. The order flips every round: a call
    that follows another workload runs measurably slower (caches, allocator), and
    flipping lets no function always take that place. `clock=time.process_time` counts
    this process's CPU time only (user and system: page faults included), not the time
    other processes held the core: on a machine loaded well past its cores, where a
    wall-clock round of a few ms is preempted more often than not."""
    times = {name: [] for name in fns}
    order = list(fns.items())
    for round_number in range(rounds):
        for name, fn in order if round_number % 2 == 0 else reversed(order):
            start = clock()
            fn()
            times[name].append(clock() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def median_time(fn, rounds: int) -> float:
    return interleaved({"fn": fn}, rounds)["fn"]


def mlp_problem(dtype, seed: int = 0):
    """He-initialised weights and biases, a batch x and targets y of the benchmark MLP."""
    rng = np.random.default_rng(seed)
    weights = [((rng.standard_normal((m, n)) * np.sqrt(2 / m)).astype(dtype), np.zeros(n, dtype))
               for m, n in zip(MLP_SIZES, MLP_SIZES[1:], strict=False)]
    x = rng.standard_normal((128, MLP_SIZES[0])).astype(dtype)
    y = rng.standard_normal((128, MLP_SIZES[-1])).astype(dtype)
    assert all(w.dtype == b.dtype == dtype for w, b in weights)
    return weights, x, y


def gradledger_mlp_loss(params, x, y):
    """The benchmark MLP's loss, recorded by gradledger: relu between the layers, MSE."""
    import gradledger as gl

    h = x
    for i, (w, b) in enumerate(params):
        h = h @ w + b
        if i < len(params) - 1:
            h = gl.relu(h)
    return gl.mean((h - y) ** 2)


def numpy_mlp_grads(params, x, y) -> list:
    """The same forward and backward written by hand with numpy: (dW, db) per layer, last
    layer first, each activation released as soon as the backward sweep is past it."""
    acts, pres, h = [x], [], x
    for i, (w, b) in enumerate(params):
        z = h @ w + b
        pres.append(z)
        h = np.maximum(z, 0) if i < len(params) - 1 else z
        acts.append(h)
    diff = h - y
    grad = 2.0 * diff / diff.size
    grads = []
    for i in reversed(range(len(params))):
        w, _ = params[i]
        if i < len(params) - 1:
            grad = grad * (pres[i] > 0)
        grads.append((acts[i].T @ grad, grad.sum(axis=0)))
        acts[i + 1] = pres[i] = None
        if i > 0:
            grad = grad @ w.T
    return grads


def mlp_steps(dtype, seed: int = 0):
    """One SGD step of the benchmark MLP, twice: through gradledger and by hand in numpy,
    from the same initial weights. Returns (gradledger_step, numpy_step)."""
    import gradledger as gl

    init, x, y = mlp_problem(dtype, seed)
    lr = dtype(0.01)
    params = [(gl.tensor(w, requires_grad=True), gl.tensor(b, requires_grad=True))
              for w, b in init]
    hand = [(w.copy(), b.copy()) for w, b in init]

    def gradledger_step():
        gradledger_mlp_loss(params, x, y).backward()
        for w, b in params:
            w.data -= lr * w.grad
            b.data -= lr * b.grad
            w.grad = b.grad = None

    def numpy_step():
        grads = numpy_mlp_grads(hand, x, y)
        for (w, b), (gw, gb) in zip(hand, reversed(grads), strict=True):
            w -= lr * gw
            b -= lr * gb

    return gradledger_step, numpy_step
