"""Instructions per recorded op (valgrind's callgrind): a deterministic figure, immune to
the drift of a shared machine's clock.

    python benchmarks/bench_instructions.py [--tree PATH ...] [--rounds N]

For each source tree (default: this checkout; give another checkout, e.g. a git worktree
of an older commit, to compare), each workload runs under callgrind twice — once with
one round, once with 1 + N rounds — and the difference divided by N × ops is the cost of
one op, forward and backward, with import and set-up cancelled out.

W1: micrograd's scalar MLP 2-16-16-1, one sample, forward + backward (the learner's graph).
W2: the chain y = y * 1.0001 + 0.001, 2,000 ops, forward + backward.

micrograd (`pip install micrograd`, or the `bench` extra) is measured on the same two
workloads when it is installed, and each gradledger figure is also given as a multiple of
its figure; it is skipped, with a message, when it is not.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from timing import SCALAR_MLP_OPS  # noqa: E402

WORKLOAD = r'''
import gc, sys
import numpy as np
if not sys.argv[1].startswith("micrograd"):
    import gradledger as gl

def w1():
    sys.path.insert(0, BENCHMARKS)
    from timing import SCALAR_MLP_OPS, scalar_mlp_step
    return scalar_mlp_step(), SCALAR_MLP_OPS

def w2():
    x = gl.tensor(1.0, requires_grad=True)
    def run():
        y = x
        for _ in range(1000):
            y = y * 1.0001 + 0.001
        y.backward()
    return run, 2000

def micrograd_w1():
    import random
    from micrograd.nn import MLP
    random.seed(0)
    net = MLP(2, [16, 16, 1])
    def run():
        net([0.5, -1.5]).backward()
        net.zero_grad()
    return run, None

def micrograd_w2():
    from micrograd.engine import Value
    sys.setrecursionlimit(10_000)  # micrograd's topological sort recurses once per op
    x = Value(1.0)
    def run():
        y = x
        for _ in range(1000):
            y = y * 1.0001 + 0.001
        y.backward()
    return run, None

workloads = {"w1": w1, "w2": w2, "micrograd-w1": micrograd_w1, "micrograd-w2": micrograd_w2}
run, ops = workloads[sys.argv[1]]()
run()  # warm: plugins loaded, caches filled
gc.disable()
for _ in range(int(sys.argv[2])):
    run()
'''


def instructions(python: str, tree: Path | None, workload: str, rounds: int) -> int:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree / "core"), str(tree / "ops_builtin")])
    env["GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["PYTHONHASHSEED"] = "0"  # set and dict layouts (and so the counts) repeat run to run
    env["OPENBLAS_NUM_THREADS"] = "1"  # idle BLAS threads spin, adding hundreds per op at random
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "workload.py"
        script.write_text(WORKLOAD.replace("BENCHMARKS", repr(str(HERE))))
        out = Path(tmp) / "callgrind.out"
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             python, str(script), workload, str(rounds)],
            env=env, capture_output=True, text=True, check=True)
        match = re.search(r"Collected : (\d+)", result.stderr)
        return int(match.group(1))


OPS = {"w1": SCALAR_MLP_OPS, "w2": 2000}


def per_op(python: str, tree: Path | None, workload: str, rounds: int) -> float:
    ops = OPS[workload.removeprefix("micrograd-")]
    base = instructions(python, tree, workload, 0)
    more = instructions(python, tree, workload, rounds)
    return (more - base) / (rounds * ops)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, action="append",
                        help="another checkout to measure (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workload", choices=("w1", "w2"), action="append")
    args = parser.parse_args()
    trees = [None] + (args.tree or [])
    try:
        import micrograd  # noqa: F401
    except ImportError:
        micrograd = None
        print("micrograd is not installed (pip install micrograd): its rows are skipped")
    for workload in args.workload or ("w1", "w2"):
        peer = per_op(sys.executable, None, f"micrograd-{workload}", args.rounds) \
            if micrograd is not None else None
        if peer is not None:
            print(f"{workload}  {'micrograd':40s}  {peer:9.0f} instructions/op")
        for tree in trees:
            figure = per_op(sys.executable, tree, workload, args.rounds)
            ratio = f"  {figure / peer:5.2f}x micrograd" if peer is not None else ""
            print(f"{workload}  {str(tree or 'this checkout'):40s}  {figure:9.0f} instructions/op"
                  f"{ratio}")


if __name__ == "__main__":
    main()
