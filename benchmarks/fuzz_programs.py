"""A long fuzzing run: N random composed programs, backward vs the nudge method (issue 6).

Run: `python benchmarks/fuzz_programs.py --programs 5000 [--seed S]`. Prints how many
programs ran, their sizes, how often each op was called, the time taken, and every
failure with a shrunk, copy-pasteable program. Exit status 1 on any failure.
"""

from __future__ import annotations

import argparse
import collections
import sys
import time

from gradledger.verify import gradcheck
from gradledger.verify.programs import programs
from hypothesis import HealthCheck, given, seed, settings


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--programs", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    calls, sizes = collections.Counter(), []

    @seed(args.seed)
    @settings(max_examples=args.programs, deadline=None, database=None,
              suppress_health_check=list(HealthCheck))
    @given(programs())
    def run(program):
        sizes.append(len(program.steps))
        calls.update(step.op for step in program.steps)
        gradcheck(program, *program.leaves)

    start = time.perf_counter()
    failed = False
    try:
        run()
    except Exception as error:  # hypothesis has shrunk it and printed the program
        failed = True
        print(f"FAILURE: {error}")
    elapsed = time.perf_counter() - start
    print(f"{len(sizes)} programs (hypothesis counts shrinking too) in {elapsed:.1f} s; "
          f"steps per program: mean {sum(sizes) / max(len(sizes), 1):.1f}, max {max(sizes)}")
    print("op calls: " + ", ".join(f"{op} {n}" for op, n in calls.most_common()))
    print("result: " + ("FAILED" if failed else "every program matched the nudge method"))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
