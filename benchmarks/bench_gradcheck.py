"""gradcheck's cost as a multiple of one forward+backward of the same op (issue 11, point 8).

Run: `python benchmarks/bench_gradcheck.py [--rounds N]`.

Two problems: a 64x64 @ 64x64 matmul and relu over 10,000 elements (kept 0.01 clear of
its kink). "fwd+bwd" records the op on leaves that require grad and runs backward with a
random cotangent; "gradcheck" is `gradledger.verify.gradcheck(fn, *inputs)` on the same
inputs: its own forward+backward, the directional check (two nudged forward passes, four
when Richardson's half steps are needed) and the comparison. Target: at most 4x.
gradcheck's cotangent and directions come from its seed's stream, kept after the first
call (see docs/verifier.md): the figures are for repeated calls, as in a test suite.

Medians over interleaved rounds, in one process (see timing.py). Never asserted in tests.
"""

from __future__ import annotations

import argparse

import gradledger as gl
import numpy as np
from gradledger.verify import gradcheck
from timing import interleaved


def problems() -> dict:
    rng = np.random.default_rng(0)
    relu_x = rng.uniform(-1, 1, 10_000)
    relu_x[np.abs(relu_x) < 0.01] = 0.5
    return {
        "matmul (64,64)@(64,64)": (lambda a, b: a @ b,
                                   [rng.normal(size=(64, 64)), rng.normal(size=(64, 64))]),
        "relu (10,000)": (gl.relu, [relu_x]),
    }


def workloads(fn, arrays) -> dict:
    rng = np.random.default_rng(1)
    u = rng.uniform(-1, 1, np.shape(fn(*(gl.tensor(a) for a in arrays)).data))

    def forward_backward():
        leaves = [gl.tensor(a, requires_grad=True) for a in arrays]
        fn(*leaves).backward(u)

    def check():
        if not gradcheck(fn, *arrays):
            raise AssertionError("gradcheck failed on a correct op")

    return {"fwd+bwd": forward_backward, "gradcheck": check}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=300)
    args = parser.parse_args()
    print(f"gradcheck as a multiple of one forward+backward (median of {args.rounds} rounds)")
    for label, (fn, arrays) in problems().items():
        times = interleaved(workloads(fn, arrays), args.rounds)
        base = times["fwd+bwd"]
        print(f"    {label:<24} fwd+bwd {base * 1e6:8.1f} us   gradcheck "
              f"{times['gradcheck'] * 1e6:8.1f} us   ratio {times['gradcheck'] / base:4.2f}x")


if __name__ == "__main__":
    main()
