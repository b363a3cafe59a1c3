"""Paired whole-process CPU of `gradledger verify --workers 0 --examples N OPS` for two
source trees: a baseline (git archive of a commit, put first on PYTHONPATH) and this
worktree, alternated A B B A ... so that load drifts hit both alike. Prints each round's
CPU seconds (user + sys of the child) and the median ratio new / base.

    git archive HEAD~3 core ops_builtin | tar -x -C /tmp/vbase
    python benchmarks/verify_pairs.py /tmp/vbase 3 50 add mul sin ...
"""

import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def cpu_of(env: dict, examples: int, ops: list) -> float:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    subprocess.run([str(ROOT / ".venv" / "bin" / "gradledger"), "verify", "--workers", "0",
                    "--examples", str(examples), *ops], env=env, check=False,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    base, rounds, examples, ops = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4:]
    base_env = {**os.environ, "PYTHONPATH": f"{base}/core:{base}/ops_builtin"}
    new_env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ratios = []
    for r in range(rounds):
        order = [("base", base_env), ("new", new_env)]
        if r % 2:
            order.reverse()
        got = {name: cpu_of(env, examples, ops) for name, env in order}
        ratios.append(got["new"] / got["base"])
        print(f"round {r + 1}: base {got['base']:.1f} s, new {got['new']:.1f} s, "
              f"ratio {ratios[-1]:.3f}  (load {os.getloadavg()[0]:.1f})", flush=True)
    print(f"median ratio new / base: {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f}, {rounds} rounds)")


if __name__ == "__main__":
    main()
