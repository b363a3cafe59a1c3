"""Serial verifier cost (issues 18, 19): CPU seconds and peak memory of whole processes.

Run: `python benchmarks/bench_verify_serial.py --baseline /path/to/an/older/checkout
      [--other /path/to/another/checkout] [--rounds 5] [--examples 200]
      [--ops add,mul,...] [--configs before,other,w0,w1] [--together]`

Each round runs `gradledger verify OPS --examples N` once per configuration, in turn
(the order flips every round): `before`, the older checkout with its own `.venv`
(serial, in-process, as gradledger verified before worker processes); `w0`, this
checkout with `--workers 0` (in-process); `w1`, with `--workers 1` (one worker process:
the parent's imports and the worker's counted together); `other`, a second checkout that
has worker processes (`--other`, with its own `.venv`), with `--workers 0`. The ops
default to those both checkouts register, so that per-op figures compare the same ops; examples are
derandomized (the CLI's default), so every round checks the same examples. With
`--together`, a round starts its configurations at once, so that each meets the same load
from others (CPU time grows with the machine's load: sequential rounds on a busy machine
compare runs that met different loads).

Prints, per configuration, the median CPU seconds (user + system, of the process and
its children, from wait4) and the median peak resident memory (the largest of the
process and its children), with their ranges, and the ratios of the medians against
`before`. Never asserted in tests; on a shared machine, quote `uptime` beside it.
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
LIST_OPS = ("from gradledger.loader import host; host.ensure_loaded(); "
            "print(','.join(sorted(op.name for op in host.registry if op.plugin == 'builtin')))")


def python_of(checkout: Path) -> str:
    venv = checkout / ".venv" / "bin" / "python"
    return str(venv) if venv.exists() else sys.executable


def builtin_ops(python: str, cwd: Path) -> set[str]:
    out = subprocess.run([python, "-c", LIST_OPS], cwd=cwd, capture_output=True, text=True,
                         check=True).stdout
    return set(out.strip().split(","))


def measure(argv: list[str], cwd: Path) -> tuple[float, float, float]:
    """(CPU seconds of the process and its children, peak RSS in MiB, wall seconds)."""
    started = time.perf_counter()
    process = subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    process.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024, wall


def measure_together(runs: list) -> list[tuple[float, float, float]]:
    """`measure` for several (argv, cwd) started at once: on a machine loaded by others,
    each process meets the same load (a sequential round may meet another's peak)."""
    started = time.perf_counter()
    processes = [subprocess.Popen(argv, cwd=cwd, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL) for argv, cwd in runs]
    results = {}
    while len(results) < len(processes):
        pid, status, usage = os.wait4(-1, 0)
        for k, process in enumerate(processes):
            if process.pid == pid:
                process.returncode = os.waitstatus_to_exitcode(status)
                results[k] = (usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024,
                              time.perf_counter() - started)
    return [results[k] for k in range(len(processes))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, help="an older checkout with its .venv")
    parser.add_argument("--other", type=Path, help="another checkout with its .venv that "
                        "has --workers (config `other`: with --workers 0)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--examples", type=int, default=200)
    parser.add_argument("--ops", help="comma-separated op names (default: the built-ins both "
                        "checkouts have)")
    parser.add_argument("--configs", default="before,w0,w1")
    parser.add_argument("--together", action="store_true",
                        help="start a round's configurations at once (same load for each)")
    args = parser.parse_args()
    here = python_of(HERE)
    configs = args.configs.split(",")
    if args.ops:
        ops = args.ops.split(",")
    else:
        ops = builtin_ops(here, HERE)
        if args.baseline:
            ops &= builtin_ops(python_of(args.baseline), args.baseline)
        ops = sorted(ops)
    tail = [*ops, "--examples", str(args.examples)]
    commands = {
        "w0": ([here, "-m", "gradledger.cli", "verify", "--workers", "0", *tail], HERE),
        "w1": ([here, "-m", "gradledger.cli", "verify", "--workers", "1", *tail], HERE),
        "w2": ([here, "-m", "gradledger.cli", "verify", "--workers", "2", *tail], HERE),
    }
    if args.baseline:
        commands["before"] = ([python_of(args.baseline), "-m", "gradledger.cli", "verify",
                               *tail], args.baseline)
    if args.other:
        commands["other"] = ([python_of(args.other), "-m", "gradledger.cli", "verify",
                              "--workers", "0", *tail], args.other)
    configs = [c for c in configs if c in commands]
    print(f"{len(ops)} ops, {args.examples} examples, {args.rounds} rounds; load "
          f"{os.getloadavg()[0]:.2f} at the start", flush=True)
    samples: dict[str, list] = {c: [] for c in configs}
    for r in range(args.rounds):
        order = configs if r % 2 == 0 else configs[::-1]
        if args.together:
            for c, result in zip(order, measure_together([commands[c] for c in order]),
                                 strict=True):
                samples[c].append(result)
        for c in order:
            if not args.together:
                samples[c].append(measure(*commands[c]))
            cpu, rss, wall = samples[c][-1]
            print(f"  round {r + 1} {c:7} cpu {cpu:6.1f} s  peak {rss:6.0f} MiB  wall "
                  f"{wall:6.1f} s  load {os.getloadavg()[0]:.2f}", flush=True)
    medians = {}
    for c, rows in samples.items():
        cpus, rsss = [x[0] for x in rows], [x[1] for x in rows]
        medians[c] = statistics.median(cpus), statistics.median(rsss)
        print(f"{c:7} cpu median {medians[c][0]:6.1f} s ({min(cpus):.1f}-{max(cpus):.1f}), "
              f"peak median {medians[c][1]:5.0f} MiB ({min(rsss):.0f}-{max(rsss):.0f})")
    for base in ("before", "other"):
        if base not in medians:
            continue
        for c in configs:
            if c not in (base, "before"):
                print(f"{c} / {base}: cpu {medians[c][0] / medians[base][0]:.3f}x, peak "
                      f"{medians[c][1] / medians[base][1]:.2f}x")
    print(f"load {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
