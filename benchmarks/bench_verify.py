"""Verifier benchmarks (issue 3): the cost of the directional check, and of a full run.

Run: `python benchmarks/bench_verify.py [--quick]`.

(a) The directional check on matmul (64,64) @ (64,64) and on relu over 10,000
    elements, as a multiple of one forward+backward of the same op through the tape.
    "check" is what the verifier spends on the directional sub-check: the four
    nudged forward passes of Richardson's central differences plus the comparison.
    "with its own fwd+bwd" adds the forward+backward that produces the grads being
    checked, which is how PyTorch's gradcheck fast mode (about 25-33x on these
    problems) is usually counted. Target: <= 5x.
(b) Wall time of `gradledger verify --plugin builtin --examples 200` in a fresh process.

Medians over interleaved rounds, in one process. Never asserted in tests.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import gradledger as gl
import numpy as np
from gradledger.tape import apply
from gradledger.verify import numeric
from gradledger.verify.checks import compare_scalar
from timing import interleaved


def workload(name: str, arrays: list, rng) -> dict:
    op = gl.ops.__getattr__(name).op
    wrt = tuple(range(len(arrays)))
    u = rng.uniform(-1, 1, np.shape(op.forward(*arrays)))
    v = {i: rng.uniform(-1, 1, np.shape(a)) for i, a in enumerate(arrays)}
    state = {}

    def forward_backward():
        leaves = [gl.tensor(a, requires_grad=True) for a in arrays]
        apply(op, leaves, {}).backward(u)
        state["grads"] = [leaf.grad for leaf in leaves]

    def check():
        grads = state["grads"]
        products = [g * v[i] for i, g in enumerate(grads)]
        estimate = numeric.directional(op.forward, arrays, wrt, u, v)
        result = compare_scalar(estimate, float(sum(np.sum(p) for p in products)),
                                float(sum(np.sum(np.abs(p)) for p in products)))
        if result.failed:
            raise AssertionError(f"{name}: the directional check failed on a correct op")

    def check_with_its_own_forward_backward():
        forward_backward()
        check()

    forward_backward()
    return {"fwd+bwd": forward_backward, "check": check,
            "check with its own fwd+bwd": check_with_its_own_forward_backward}


def bench_directional(rounds: int) -> None:
    rng = np.random.default_rng(0)
    relu_x = rng.uniform(-1, 1, 10_000)
    relu_x[np.abs(relu_x) < 0.01] = 0.5  # keep clear of the kink, as the verifier does
    problems = {
        "matmul (64,64)@(64,64)": ("matmul", [rng.normal(size=(64, 64)),
                                              rng.normal(size=(64, 64))]),
        "relu (10,000)": ("relu", [relu_x]),
    }
    print("(a) directional check, as a multiple of one forward+backward (median of "
          f"{rounds} rounds)")
    for label, (name, arrays) in problems.items():
        times = interleaved(workload(name, arrays, rng), rounds)
        base = times["fwd+bwd"]
        print(f"    {label:<24} fwd+bwd {base * 1e6:8.1f} us   check "
              f"{times['check'] / base:4.2f}x   check with its own fwd+bwd "
              f"{times['check with its own fwd+bwd'] / base:4.2f}x")


def bench_cli(examples: int) -> None:
    command = ["gradledger", "verify", "--plugin", "builtin", "--examples", str(examples)]
    start = time.perf_counter()
    run = subprocess.run([sys.executable, "-m", "gradledger.cli", *command[1:]],
                         capture_output=True, text=True)
    seconds = time.perf_counter() - start
    summary = run.stdout.strip().splitlines()[-1] if run.stdout else run.stderr
    print(f"(b) `{' '.join(command)}`: {seconds:.1f} s wall, exit {run.returncode}: {summary}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, 20 examples")
    args = parser.parse_args()
    bench_directional(rounds=20 if args.quick else 200)
    bench_cli(examples=20 if args.quick else 200)


if __name__ == "__main__":
    main()
