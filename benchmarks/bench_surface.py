"""Instructions per recorded op on 1,000-element arrays (valgrind's callgrind): the cost the
user's surface (indexing, dtype checks, in-place updates) adds to an array op.

    python benchmarks/bench_surface.py [--tree PATH ...] [--rounds N]

W3: the chain y = y * c + d on 1,000-element float64 arrays (c, d arrays), 200 ops,
forward and backward; W3s: the same with a float32 x and float32 c, d (the dtype check's
path). As in bench_instructions, each workload runs twice under callgrind (one round, then
1 + N rounds) and the difference divided by N x ops is one op's cost, forward and
backward. Give another checkout with --tree to compare (e.g. `git archive` of main).
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

dtype = np.float32 if sys.argv[1] == "w3s" else np.float64
rng = np.random.default_rng(0)
x = gl.tensor(rng.standard_normal(1000).astype(dtype), requires_grad=True)
c = (1.0 + 1e-4 * rng.standard_normal(1000)).astype(dtype)
d = (1e-3 * rng.standard_normal(1000)).astype(dtype)

def run():
    y = x
    for _ in range(100):
        y = y * c + d
    y.backward(np.ones(1000, dtype=dtype))
    x.grad = None

run()  # warm: plugins loaded, caches filled
gc.disable()
for _ in range(int(sys.argv[2])):
    run()
'''

OPS = 200


def instructions(python: str, tree: Path | None, workload: str, rounds: int) -> int:
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(tree / "core"), str(tree / "ops_builtin")])
    env["GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    env["PYTHONHASHSEED"] = "0"
    env["OPENBLAS_NUM_THREADS"] = "1"
    with tempfile.TemporaryDirectory() as tmp:
        script = Path(tmp) / "workload.py"
        script.write_text(WORKLOAD)
        out = Path(tmp) / "callgrind.out"
        result = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             python, str(script), workload, str(rounds)],
            env=env, capture_output=True, text=True, check=True)
        return int(re.search(r"Collected : (\d+)", result.stderr).group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, action="append",
                        help="another checkout to measure (repeatable)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    for workload in ("w3", "w3s"):
        for tree in [None] + (args.tree or []):
            base = instructions(sys.executable, tree, workload, 0)
            more = instructions(sys.executable, tree, workload, args.rounds)
            figure = (more - base) / (args.rounds * OPS)
            print(f"{workload}  {str(tree or 'this checkout'):40s}  {figure:9.0f} instructions/op")


if __name__ == "__main__":
    main()
