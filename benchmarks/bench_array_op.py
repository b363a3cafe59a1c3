"""Instructions per recorded op on 1,000-element arrays (valgrind's callgrind), for the
cost of what the tape does around the numpy work: locking saved arrays, copying what a
lock cannot protect, copying params.

    python benchmarks/bench_array_op.py [--tree PATH ...] [--rounds N]

A1: the chain y = y * 1.0001 + 0.001 on a 1,000-element leaf, 200 ops, forward + backward.
A2: sum(w * c): a 1,000-element leaf times a 1,000-element numpy array the caller holds
    (a constant, copied at each call), 2 ops a pass, forward + backward.
A3: sum(clip(w, lo, hi)) with 1,000-element array bounds (params, copied at each call).

As bench_instructions.py: each workload runs under callgrind with one round and with
1 + N rounds; the difference over N x ops is one op's cost, import and set-up cancelled.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

WORKLOAD = r'''
import gc, sys
import numpy as np
import gradledger as gl

def a1():
    x = gl.tensor(np.linspace(0.0, 1.0, 1000), requires_grad=True)
    def run():
        y = x
        for _ in range(100):
            y = y * 1.0001 + 0.001
        gl.sum(y).backward()
    return run

def a2():
    w = gl.tensor(np.linspace(0.0, 1.0, 1000), requires_grad=True)
    c = np.linspace(1.0, 2.0, 1000)
    def run():
        gl.sum(w * c).backward()
    return run

def a3():
    w = gl.tensor(np.linspace(0.0, 1.0, 1000), requires_grad=True)
    lo, hi = np.full(1000, 0.2), np.full(1000, 0.8)
    def run():
        gl.sum(gl.clip(w, lo, hi)).backward()
    return run

run = {"a1": a1, "a2": a2, "a3": a3}[sys.argv[1]]()
run()
gc.disable()
for _ in range(int(sys.argv[2])):
    run()
'''

OPS = {"a1": 201, "a2": 2, "a3": 2}


def instructions(tree: Path | None, workload: str, rounds: int) -> int:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree / "core"), str(tree / "ops_builtin")])
    env["PYTHONHASHSEED"] = "0"
    env["OPENBLAS_NUM_THREADS"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "workload.py"
        script.write_text(WORKLOAD)
        out = Path(tmp) / "callgrind.out"
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable,
             str(script), workload, str(rounds)],
            env=env, capture_output=True, text=True, check=True)
        return int(re.search(r"Collected : (\d+)", result.stderr).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, action="append",
                        help="another checkout to measure (repeatable)")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--workload", choices=tuple(OPS), action="append")
    args = parser.parse_args()
    for workload in args.workload or tuple(OPS):
        rounds = max(1, args.rounds // 10) if workload == "a1" else args.rounds
        for tree in [None] + (args.tree or []):
            base = instructions(tree, workload, 0)
            more = instructions(tree, workload, rounds)
            figure = (more - base) / (rounds * OPS[workload])
            print(f"{workload}  {str(tree or 'this checkout'):40s}  {figure:9.0f} instructions/op")


if __name__ == "__main__":
    main()
