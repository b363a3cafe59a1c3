"""Per-op overhead (issue 12): gradledger against micrograd, PyTorch and hand-written numpy.

    python benchmarks/bench_overhead.py [--rounds N] [--quick]

Every workload runs its contenders interleaved in one process (the order flips every
round), and reports medians: of seconds per call, and of the per-round ratio to the
peer. Each workload is timed twice: with the garbage collector off while timing (the
figure the targets are about) and on. BLAS runs on one thread unless
OPENBLAS_NUM_THREADS (or OMP_NUM_THREADS) says otherwise. A peer that is not installed
(micrograd: `pip install -e ".[bench]"`; torch: `pip install torch`) has its column
skipped, with a message.

W1  micrograd's scalar MLP 2-16-16-1 (`micrograd.nn.MLP(2, [16, 16, 1])`), one sample,
    forward + backward + zeroing the grads.                       target <= 1.5x micrograd
W2  the chain y = y * 1.0001 + 0.001, 10,000 and 100,000 ops, forward + backward
    (micrograd gets a raised recursion limit; gradledger needs none). target <= 1.0x micrograd
W3  one SGD step of the batch MLP (128, 784-512-512-10, relu, MSE), float32 and float64.
                                                               target <= 1.05x hand-written numpy
W4  sum(relu(W @ x)), W of n = 10 ... 10,000 numbers: the reverse pass alone.
                                                                     target <= 1.0x PyTorch CPU
"""

from __future__ import annotations

import os

for _name in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_name, os.environ.get("OPENBLAS_NUM_THREADS", "1"))

import argparse  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import gradledger as gl  # noqa: E402
import numpy as np  # noqa: E402
from timing import SCALAR_MLP_OPS, mlp_steps, scalar_mlp_step  # noqa: E402

try:
    from micrograd.engine import Value
    from micrograd.nn import MLP
except ImportError:
    Value = MLP = None
try:
    import torch
except ImportError:
    torch = None


def rounds_of(contenders: dict, rounds: int, gc_off: bool) -> dict:
    """Seconds of each round for each contender. A contender is `prepare() -> timed()`:
    prepare runs untimed (a forward pass whose backward alone is timed), then `timed()`.
    With `gc_off` the collector stays off for all the rounds (collecting before each round
    would flush the caches the timed call then starts from) and collects once after."""
    times = {name: [] for name in contenders}
    order = list(contenders.items())
    gc.collect()
    if gc_off:
        gc.disable()
    try:
        for number in range(rounds):
            for name, prepare in order if number % 2 == 0 else reversed(order):
                timed = prepare()
                start = time.perf_counter()
                timed()
                times[name].append(time.perf_counter() - start)
    finally:
        gc.enable()
        gc.collect()
    return times


def report(title: str, times: dict, peer: str, target: float | None, unit_ops: int = 1) -> None:
    """One line per contender: median time (per op when `unit_ops` > 1), median per-round
    ratio to `peer`."""
    parts = []
    for name, values in times.items():
        median = statistics.median(values)
        figure = (f"{median / unit_ops * 1e6:.2f} us/op" if unit_ops > 1
                  else f"{median * 1e3:.3f} ms")
        if name != peer and peer in times:
            ratio = statistics.median(a / b for a, b in zip(values, times[peer], strict=True))
            figure += f", {ratio:.2f}x {peer}"
            if target is not None:
                figure += f" (target <= {target}: {'ok' if ratio <= target else 'MISSED'})"
        parts.append(f"{name} {figure}")
    print(f"{title}: " + "; ".join(parts))


def untimed(fn):
    """A contender with nothing to prepare: all of `fn` is timed."""
    return lambda: fn


# -- W1 scalar MLP ---------------------------------------------------------------------


def w1(rounds: int, gc_off: bool) -> None:
    gradledger_step = scalar_mlp_step()
    ops = SCALAR_MLP_OPS
    contenders = {"gradledger": untimed(gradledger_step)}
    if MLP is not None:
        model = MLP(2, [16, 16, 1])
        inputs = [Value(0.5), Value(-1.5)]

        def micrograd_step():
            model(inputs).backward()
            model.zero_grad()

        contenders["micrograd"] = untimed(micrograd_step)
    for _ in range(3):  # warm: plugins loaded, caches filled
        for prepare in contenders.values():
            prepare()()
    report(f"W1 scalar MLP 2-16-16-1 ({ops} ops)", rounds_of(contenders, rounds, gc_off),
           "micrograd", 1.5, ops)


# -- W2 chain ----------------------------------------------------------------------------


def w2(length: int, rounds: int, gc_off: bool) -> None:
    def gradledger_chain():
        x = gl.tensor(1.0, requires_grad=True)
        y = x
        for _ in range(length // 2):
            y = y * 1.0001 + 0.001
        y.backward()

    contenders = {"gradledger": untimed(gradledger_chain)}
    if Value is not None:
        def micrograd_chain():
            x = Value(1.0)
            y = x
            for _ in range(length // 2):
                y = y * 1.0001 + 0.001
            y.backward()

        contenders["micrograd"] = untimed(micrograd_chain)
    gradledger_chain()  # at the default recursion limit: the walk is iterative
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 4 * length + 1000))  # micrograd's recursive topo sort
    try:
        report(f"W2 chain of {length} ops", rounds_of(contenders, rounds, gc_off), "micrograd",
               1.0, length)
    finally:
        sys.setrecursionlimit(limit)


# -- W3 batch MLP step ------------------------------------------------------------------


def w3(dtype, rounds: int, gc_off: bool) -> None:
    gradledger_step, numpy_step = mlp_steps(dtype)

    contenders = {"gradledger": untimed(gradledger_step), "numpy": untimed(numpy_step)}
    for _ in range(2):
        gradledger_step()
        numpy_step()
    report(f"W3 batch MLP step {np.dtype(dtype).name}", rounds_of(contenders, rounds, gc_off),
           "numpy", 1.05)


# -- W4 small arrays, reverse pass -------------------------------------------------------


def w4(n: int, rounds: int, gc_off: bool) -> None:
    rng = np.random.default_rng(0)
    w_np = rng.standard_normal((n // 10, 10))
    x_np = rng.standard_normal(10)
    w = gl.tensor(w_np, requires_grad=True)
    x = gl.tensor(x_np)

    def gradledger_prepare():
        w.grad = None
        loss = gl.sum(gl.relu(w @ x))
        return loss.backward

    contenders = {"gradledger": gradledger_prepare}
    if torch is not None:
        torch.set_num_threads(1)
        wt = torch.tensor(w_np, requires_grad=True)
        xt = torch.tensor(x_np)

        def torch_prepare():
            wt.grad = None
            loss = torch.relu(wt @ xt).sum()
            return loss.backward

        contenders["torch"] = torch_prepare

    def numpy_prepare():  # the same reverse pass by hand: a floor, for reference
        def backward():
            return (w_np @ x_np > 0)[:, None] * x_np[None, :]
        return backward

    contenders["numpy"] = numpy_prepare
    for _ in range(5):
        for prepare in contenders.values():
            prepare()()
    peer, target = ("torch", 1.0) if torch is not None else ("numpy", None)
    report(f"W4 sum(relu(W @ x)) reverse pass, n={n}", rounds_of(contenders, rounds, gc_off),
           peer, target)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=41)
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke run")
    parser.add_argument("--workload", choices=("w1", "w2", "w3", "w4"), action="append")
    args = parser.parse_args(argv)
    rounds = 5 if args.quick else args.rounds
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, BLAS threads "
          f"{os.environ['OPENBLAS_NUM_THREADS']}")
    if MLP is None:
        print("micrograd is not installed (pip install micrograd): W1/W2 peer column skipped")
    if torch is None:
        print("torch is not installed (pip install torch): W4 peer column skipped")
    chosen = args.workload or ("w1", "w2", "w3", "w4")
    for gc_off in (True, False):
        print(f"-- garbage collector {'off' if gc_off else 'on'} while timing")
        if "w1" in chosen:
            w1(rounds * 5, gc_off)
        if "w2" in chosen:
            for length in (10_000, 100_000):
                w2(length, max(3, rounds // (4 if length < 50_000 else 10)), gc_off)
        if "w3" in chosen:
            for dtype in (np.float32, np.float64):
                w3(dtype, rounds, gc_off)
        if "w4" in chosen:
            for n in (10, 100, 1_000, 10_000):
                w4(n, rounds * 5, gc_off)
    return 0


if __name__ == "__main__":
    sys.exit(main())
