"""The fixed Python cost of the built-in ops' rules (issue 12), without the tape.

    python benchmarks/bench_rules.py [--size N] [--rounds N] [--calls N]

Each case calls one registered op's forward rule and its gradient rule (vjp, or
local_grad times the output's grad, as the tape books it) directly on small float64
arrays, and reports the median microseconds per call of each, beside `numpy`: the
same numbers written by hand with numpy (what a rule cannot do with less). On small
arrays the difference is the rule's Python cost, which every backward pass pays per op.
Rules that dispatch through several numpy functions show up at the top.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import numpy as np
from gradledger.loader import host


def per_call(fn, calls: int, rounds: int) -> float:
    """Median over `rounds` of the mean seconds per call of `calls` calls."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        for _ in range(calls):
            fn()
        times.append((time.perf_counter() - start) / calls)
    return statistics.median(times)


def cases(n: int):
    """(label, op name, inputs, params, the rule's numbers by hand) for the common ops."""
    rng = np.random.default_rng(0)
    m = max(n // 10, 1)
    w, v, u = rng.standard_normal((m, 10)), rng.standard_normal(10), rng.standard_normal(m)
    x, y = rng.standard_normal((m, 10)), rng.standard_normal((m, 10))
    positive = np.abs(x) + 0.5
    g = rng.standard_normal((m, 10))
    one = np.float64(1.0)
    return [
        ("matmul (m,10)@(10,)", "matmul", (w, v), {}, lambda: (u[:, None] * v, u @ w)),
        ("matmul (10,)@(10,m)", "matmul", (v, w.T), {}, lambda: (w.T @ u, v[:, None] * u)),
        ("matmul (m,10)@(10,m)", "matmul", (w, w.T), {},
         lambda: (g[:, :m] @ w, w.T @ g[:, :m])),
        ("sum all", "sum", (x,), {}, lambda: np.full(x.shape, one)),
        ("sum axis 0", "sum", (x,), {"axis": 0}, lambda: np.broadcast_to(v, x.shape)),
        ("mean all", "mean", (x,), {}, lambda: np.full(x.shape, one / x.size)),
        ("max axis -1", "max", (x,), {"axis": -1},
         lambda: (x == x.max(-1, keepdims=True)) * u[:, None]),
        ("add bias", "add", (x, v), {}, lambda: (g, g.sum(0))),
        ("mul", "mul", (x, y), {}, lambda: (g * y, g * x)),
        ("relu", "relu", (x,), {}, lambda: (x > 0) * g),
        ("tanh", "tanh", (x,), {}, lambda: (1.0 - x * x) * g),
        ("exp", "exp", (x,), {}, lambda: x * g),
        ("log", "log", (positive,), {}, lambda: g / positive),
        ("pow 2", "pow", (x, 2), {}, lambda: 2 * x * g),
        ("sigmoid", "sigmoid", (x,), {}, lambda: x * (1 - x) * g),
        ("reshape", "reshape", (x,), {"shape": (-1,)}, lambda: np.reshape(g, x.shape)),
        ("transpose", "transpose", (x,), {}, lambda: g.T),
        ("getitem rows", "getitem", (x,), {"index": slice(0, m // 2 + 1)},
         lambda: np.zeros_like(x)),
        ("softmax", "softmax", (x,), {"axis": -1},
         lambda: x * (g - (g * x).sum(-1, keepdims=True))),
    ]


def rule_call(op, inputs, params):
    """The gradient rule as the tape calls it, on the forward's own output."""
    out = op.forward(*inputs, **params)
    grad = np.ones_like(out) * 0.5
    if op.local_grad is not None:
        def run():
            return [local * grad for local in op.local_grad(*inputs, out=out, **params)
                    if local is not None]
    elif op.vjp_wants_needs:
        needs = tuple(not isinstance(a, int) for a in inputs)
        def run():
            return op.vjp(grad, *inputs, out=out, needs_grad=needs, **params)
    else:
        def run():
            return op.vjp(grad, *inputs, out=out, **params)
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=100, help="numbers per array (about)")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--calls", type=int, default=300)
    args = parser.parse_args(argv)
    host.ensure_loaded()
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, arrays of about "
          f"{args.size} numbers; median microseconds per call")
    print(f"{'case':24s} {'forward':>8s} {'rule':>8s} {'numpy':>8s} {'rule - numpy':>13s}")
    rows = []
    for label, name, inputs, params, by_hand in cases(args.size):
        op = host.lookup(name)
        forward = per_call(lambda op=op, i=inputs, p=params: op.forward(*i, **p),
                           args.calls, args.rounds)
        rule = per_call(rule_call(op, inputs, params), args.calls, args.rounds)
        hand = per_call(by_hand, args.calls, args.rounds)
        rows.append((rule - hand, label, forward, rule, hand))
    for excess, label, forward, rule, hand in sorted(rows, reverse=True):
        print(f"{label:24s} {forward * 1e6:8.2f} {rule * 1e6:8.2f} {hand * 1e6:8.2f} "
              f"{excess * 1e6:13.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
