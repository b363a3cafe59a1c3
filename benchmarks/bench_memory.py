"""Peak memory of one forward+backward of the benchmark MLP, gradledger vs hand-written numpy.

Batch 128, 784-512-512-10, relu, mean squared error (the foundation benchmark's
workload). tracemalloc traces numpy's allocations; the figure is the peak traced
memory during forward+backward, counting the weights and the inputs that both
hold anyway, as a ratio of the two. Target (issue 6): at most 1.2x.
Run: `python benchmarks/bench_memory.py`.
"""

from __future__ import annotations

import sys
import tracemalloc

import gradledger as gl
import numpy as np
from timing import mlp_problem


def gradledger_pass(weights, x, y):
    params = [(gl.tensor(w, requires_grad=True), gl.tensor(b, requires_grad=True))
              for w, b in weights]
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    h = x
    for i, (w, b) in enumerate(params):
        h = h @ w + b
        if i < len(params) - 1:
            h = gl.relu(h)
    loss = gl.mean((h - y) ** 2)
    del h
    loss.backward()
    return tracemalloc.get_traced_memory()[1] - start


def numpy_pass(weights, x, y):
    params = [(w.copy(), b.copy()) for w, b in weights]
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
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
    return tracemalloc.get_traced_memory()[1] - start


def main() -> int:
    tracemalloc.start()
    for dtype in (np.float32, np.float64):
        weights, x, y = mlp_problem(dtype)
        ours = gradledger_pass(weights, x, y)
        hand = numpy_pass(weights, x, y)
        print(f"{dtype.__name__}: gradledger peak {ours / 2**20:.2f} MiB, hand-written numpy "
              f"{hand / 2**20:.2f} MiB, ratio {ours / hand:.3f} (target <= 1.2)")
    tracemalloc.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
