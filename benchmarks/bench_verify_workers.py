"""Verifier wall time by worker count (issue 19): all built-ins, whole processes, interleaved.

Run: `python benchmarks/bench_verify_workers.py [--rounds 3] [--examples 200]
      [--baseline /path/to/an/older/checkout]`

Each round runs `gradledger verify --plugin builtin` once per configuration, in turn:
`--workers 1` (serial, isolated), `--workers 2`, and with --baseline the same command
from an older checkout's `core` and `ops_builtin` (put first on PYTHONPATH), which
verifies in-process, as gradledger did before worker processes. Prints the median wall
and CPU seconds (children included) of each, and the ratios of the medians. Never
asserted in tests; on a shared machine, quote the spread too.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

GRADLEDGER = [sys.executable, "-m", "gradledger.cli", "verify", "--plugin", "builtin"]


def run(argv: list[str], env: dict) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, of the process and its children)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run(argv, env=env, check=False, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--baseline", type=Path, help="an older checkout to compare with")
    args = parser.parse_args()
    env = dict(os.environ)
    configs = {f"--workers {n}": (GRADLEDGER + ["--workers", str(n)], env) for n in (1, 2)}
    if args.baseline:
        old = os.pathsep.join(str(args.baseline / part) for part in ("core", "ops_builtin"))
        configs["baseline"] = (GRADLEDGER, {**env, "PYTHONPATH": old})
    times = {name: [] for name in configs}
    for _ in range(args.rounds):
        for name, (argv, config_env) in configs.items():
            times[name].append(run(argv + ["--examples", str(args.examples)], config_env))
    medians = {}
    for name, samples in times.items():
        walls, cpus = [w for w, _ in samples], [c for _, c in samples]
        medians[name] = statistics.median(walls), statistics.median(cpus)
        print(f"{name:12} wall median {medians[name][0]:6.1f} s (range {min(walls):.1f}-"
              f"{max(walls):.1f}), cpu median {medians[name][1]:6.1f} s")
    serial = medians["--workers 1"][0]
    print(f"--workers 2 is {serial / medians['--workers 2'][0]:.2f}x faster than --workers 1")
    if "baseline" in medians:
        print(f"--workers 1 is {medians['baseline'][0] / serial:.2f}x faster than the baseline "
              f"(cpu: {medians['baseline'][1] / medians['--workers 1'][1]:.2f}x)")


if __name__ == "__main__":
    main()
