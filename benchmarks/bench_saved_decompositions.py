"""Saved values in the decompositions (issue 21): forward plus backward of each op whose
forward now saves its factorisation, against the way it ran before (numpy's cheaper
forward, then the rule factorising again); and the forward alone, against numpy's (what
a call that is never differentiated pays for the saving).

    python benchmarks/bench_saved_decompositions.py [--rounds N] [--n N]

Same process, interleaved, medians of N rounds; the figure is saving / recomputing (below
1: the saved values pay). Only the rules are timed, called directly (no tape), so the
figure is the arithmetic's. Run it under one BLAS thread for stable figures
(OPENBLAS_NUM_THREADS=1), and say the load (uptime) beside it.
"""

from __future__ import annotations

import argparse
import statistics
import time

import gradledger as gl
import numpy as np


def cases(n: int):
    rng = np.random.default_rng(0)
    square = rng.standard_normal((n, n)) + n ** 0.5 * np.eye(n)
    sym = (square + square.T) / 2
    tall = rng.standard_normal((2 * n, n))
    b = rng.standard_normal(2 * n)
    a_real = square @ np.diag(np.arange(1.0, n + 1)) @ np.linalg.inv(square)
    return [
        # name, op, inputs, params, numpy's forward as it ran before
        ("eigvalsh", "eigvalsh", (sym,), {}, lambda a: np.linalg.eigvalsh(a)),
        ("eigvals", "eigvals", (a_real,), {}, lambda a: np.sort(np.linalg.eig(a)[0].real)),
        ("lstsq", "lstsq", (tall, b), {}, lambda a, b: np.linalg.lstsq(a, b)),
        ("cond ('fro')", "cond", (square,), {"p": "fro"}, lambda a: np.linalg.cond(a, "fro")),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--n", type=int, default=128)
    args = parser.parse_args()
    for name, op_name, inputs, params, before in cases(args.n):
        op = getattr(gl.ops, op_name).op
        out, saved = op.saving_forward(*inputs, **params)
        grads = (tuple(np.ones_like(o) for o in out) if isinstance(out, tuple)
                 else np.ones_like(out))

        def saving(op=op, inputs=inputs, params=params, grads=grads):
            out, saved = op.saving_forward(*inputs, **params)
            op.vjp(grads, *inputs, out=out, saved=saved, **params)

        def recomputing(op=op, inputs=inputs, params=params, grads=grads, out=out,
                        before=before):
            before(*inputs)
            op.vjp(grads, *inputs, out=out, saved=None, **params)

        ratios = []
        for _ in range(args.rounds):
            times = {}
            for label, run in (("saving", saving), ("recomputing", recomputing)):
                start = time.perf_counter()
                run()
                times[label] = time.perf_counter() - start
            ratios.append(times["saving"] / times["recomputing"])
        alone = []
        for _ in range(args.rounds):
            start = time.perf_counter()
            op.saving_forward(*inputs, **params)
            mid = time.perf_counter()
            before(*inputs)
            alone.append((mid - start) / (time.perf_counter() - mid))
        print(f"{name:14s} n={args.n}: forward + backward, saving / recomputing = "
              f"{statistics.median(ratios):.2f}; forward alone, saving / numpy = "
              f"{statistics.median(alone):.2f} (medians of {args.rounds} interleaved rounds)")


if __name__ == "__main__":
    main()
