"""Verifier wall time by worker count (issue 19): all built-ins, whole processes, interleaved.

Run: `python benchmarks/bench_verify_workers.py [--rounds 3] [--examples 200]
      [--workers 0,1,2] [--ops add,mul,...] [--baseline /path/to/an/older/checkout]`

Each round runs `gradledger verify --plugin builtin` (or the ops named) once per
configuration, in turn, the order flipping every round: `--workers N` for each N given
(0: in-process; 1: serial, isolated; 2: two worker processes), and with --baseline the
same command from an older checkout's own `.venv` (or, without one, its `core` and
`ops_builtin` first on PYTHONPATH), which verifies in-process, as gradledger did before
worker processes. Prints each run's wall and CPU seconds (the process and its children,
from wait4) with the 1-minute load average beside it, then the medians and the ratios
of the medians. Never asserted in tests; on a shared machine the ratio of wall times
needs the cores free: quote the load beside it.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parents[1]


def run(argv: list[str], env: dict, cwd: Path) -> tuple[float, float]:
    """Wall and CPU seconds (user + system, of the process and its children)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, env=env, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    return time.perf_counter() - started, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--workers", default="1,2", help="worker counts to compare")
    parser.add_argument("--ops", help="comma-separated op names (default: --plugin builtin)")
    parser.add_argument("--baseline", type=Path, help="an older checkout to compare with")
    args = parser.parse_args()
    env = dict(os.environ)
    what = args.ops.split(",") if args.ops else ["--plugin", "builtin"]
    tail = [*what, "--examples", str(args.examples)]
    command = [sys.executable, "-m", "gradledger.cli", "verify"]
    configs = {f"--workers {n}": (command + ["--workers", n] + tail, env, HERE)
               for n in args.workers.split(",")}
    if args.baseline:
        venv = args.baseline / ".venv" / "bin" / "python"
        if venv.exists():
            configs["baseline"] = ([str(venv), "-m", "gradledger.cli", "verify", *tail], env,
                                   args.baseline)
        else:
            old = os.pathsep.join(str(args.baseline / part) for part in ("core", "ops_builtin"))
            configs["baseline"] = (command + tail, {**env, "PYTHONPATH": old}, HERE)
    names = list(configs)
    times: dict[str, list] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            times[name].append(run(*configs[name]))
            wall, cpu = times[name][-1]
            print(f"  round {r + 1} {name:12} wall {wall:6.1f} s  cpu {cpu:6.1f} s  load "
                  f"{os.getloadavg()[0]:.2f}", flush=True)
    medians = {}
    for name, samples in times.items():
        walls, cpus = [w for w, _ in samples], [c for _, c in samples]
        medians[name] = statistics.median(walls), statistics.median(cpus)
        print(f"{name:12} wall median {medians[name][0]:6.1f} s (range {min(walls):.1f}-"
              f"{max(walls):.1f}), cpu median {medians[name][1]:6.1f} s")
    counts = [n for n in args.workers.split(",") if n != "0"]
    if "1" in counts:
        serial = medians["--workers 1"][0]
        for n in counts:
            if n != "1":
                print(f"--workers {n} is {serial / medians[f'--workers {n}'][0]:.2f}x faster "
                      "(wall) than --workers 1")
        if "0" in args.workers.split(","):
            print(f"--workers 0 takes {medians['--workers 0'][0] / serial:.2f}x the wall time "
                  "of --workers 1")
        if "baseline" in medians:
            print(f"--workers 1 is {medians['baseline'][0] / serial:.2f}x faster than the "
                  f"baseline (cpu: {medians['baseline'][1] / medians['--workers 1'][1]:.2f}x)")
    print(f"load {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
