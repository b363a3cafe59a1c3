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
from timing import gradledger_mlp_loss, mlp_problem, numpy_mlp_grads


def gradledger_pass(weights, x, y):
    params = [(gl.tensor(w, requires_grad=True), gl.tensor(b, requires_grad=True))
              for w, b in weights]
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    loss = gradledger_mlp_loss(params, x, y)
    loss.backward()
    return tracemalloc.get_traced_memory()[1] - start


def numpy_pass(weights, x, y):
    params = [(w.copy(), b.copy()) for w, b in weights]
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    numpy_mlp_grads(params, x, y)
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
