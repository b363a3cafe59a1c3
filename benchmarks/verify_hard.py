"""The correct-but-hard ops (tests/hard_ops.py) at the loaded hypothesis profile: each op's
verdict, examples, time and closest approach to its tolerance, per sub-check.

    HYPOTHESIS_PROFILE=thorough .venv/bin/python benchmarks/verify_hard.py   # 2,000 each
"""

import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import gradledger as gl  # noqa: E402
import hard_ops  # noqa: E402
from gradledger.loader import host  # noqa: E402
from gradledger.verify import register_profiles, verify_op  # noqa: E402
from hypothesis import settings  # noqa: E402


def main() -> int:
    register_profiles()
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
    host.reset()
    gl.register_plugin(hard_ops.PLUGIN, name="hard")
    failed = 0
    for op in hard_ops.HARD_OPS:
        started = time.perf_counter()
        report = verify_op(op.name)
        seconds = time.perf_counter() - started
        closest = max(report.closest.values(), default=0.0)
        worst = max(report.closest, key=report.closest.get) if report.closest else "-"
        print(f"{op.name:12} {report.status:5} {report.examples:5} examples {seconds:6.1f} s  "
              f"closest {closest:.3f} ({worst})  dtypes {dict(report.dtypes)}  "
              f"discarded {sum(report.discarded.values())}", flush=True)
        print("             " + ", ".join(f"{k} {v:.3f}" for k, v in report.closest.items()))
        if report.status != "PASS":
            failed += 1
            print(report)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
