"""glibc's malloc thresholds (gl.nn.malloc, issue 22): each model step with glibc's
defaults against the raised thresholds `import gradledger.nn` sets, in one process.

The setting is process-wide, so the two are interleaved by switching it between
rounds: per round and setting, one untimed step (the switch's own cost), then one
timed step and its minor page faults; the order flips every round. Medians.
Linux with glibc only (elsewhere tune_malloc does nothing and this says so).

Run: `python benchmarks/bench_malloc.py [--rounds N]`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # read when numpy loads OpenBLAS, below

import argparse  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402

import bench_models  # noqa: E402
import bench_pytorch_models as models  # noqa: E402
import gradledger as gl  # noqa: E402


def _faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def workloads() -> dict:
    models.HAS_TORCH = False  # gradledger's steps only
    steps = {name: wl()[0]["gradledger"] for name, wl in (
        ("char GPT", models.gpt_workload), ("BatchNorm CNN", models.bn_cnn_workload),
        ("LSTM LM", models.lstm_workload), ("VAE", models.vae_workload))}
    x, y = bench_models.digits_batch()
    steps["digits CNN"] = bench_models.gradledger_cnn_step(x, y)[0]
    x, y, vocab = bench_models.char_batch()
    steps["char MLP"] = bench_models.gradledger_mlp_step(x, y, vocab)[0]
    return steps


def measure(step, rounds: int) -> dict:
    times = {True: [], False: []}
    faults = {True: [], False: []}
    for r in range(rounds):
        for tuned in (True, False) if r % 2 == 0 else (False, True):
            gl.nn.malloc.tune_malloc(tuned)
            step()
            before, start = _faults(), time.perf_counter()
            step()
            times[tuned].append(time.perf_counter() - start)
            faults[tuned].append(_faults() - before)
    gl.nn.malloc.tune_malloc()
    return {k: (statistics.median(times[k]), statistics.median(faults[k])) for k in times}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=60)
    args = parser.parse_args(argv)
    if not gl.nn.malloc.tune_malloc():
        sys.exit("not glibc: tune_malloc does nothing here")
    print(f"{args.rounds} rounds, medians; OPENBLAS_NUM_THREADS="
          f"{os.environ['OPENBLAS_NUM_THREADS']}")
    for name, step in workloads().items():
        result = measure(step, args.rounds)
        (t_default, f_default), (t_tuned, f_tuned) = result[False], result[True]
        print(f"{name:14s} glibc defaults {t_default * 1e3:7.3f} ms, {f_default:6.0f} faults | "
              f"raised {t_tuned * 1e3:7.3f} ms, {f_tuned:4.0f} faults | "
              f"raised / defaults {t_tuned / t_default:.2f}x", flush=True)


if __name__ == "__main__":
    main()
