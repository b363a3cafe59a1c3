"""Timing helpers shared by the benchmark scripts (run them as `python benchmarks/NAME.py`)."""

from __future__ import annotations

import statistics
import time

import numpy as np

MLP_SIZES = [784, 512, 512, 10]
"""The benchmark MLP: batch 128, 784-512-512-10, relu, mean squared error."""


def interleaved(fns: dict, rounds: int) -> dict:
    """Median seconds per call of each function, the functions alternating round by round,
    so that a noisy neighbour slows them all alike. The order flips every round: a call
    that follows another workload runs measurably slower (caches, allocator), and
    flipping lets no function always take that place."""
    times = {name: [] for name in fns}
    order = list(fns.items())
    for round_number in range(rounds):
        for name, fn in order if round_number % 2 == 0 else reversed(order):
            start = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - start)
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
