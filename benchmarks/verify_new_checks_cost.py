"""Same-process cost of the round-three sub-checks added last (the Hessian's symmetry, the
float32 own spread): `verify_op` over a set of built-ins at N examples, with those two
switched off and on, interleaved (off on on off ...), CPU time (time.process_time).

    python benchmarks/verify_new_checks_cost.py ROUNDS EXAMPLES op op ...
"""

import statistics
import sys
import time

from gradledger.verify import register_profiles, verify_op
from gradledger.verify.subchecks import dtypes, second_order
from hypothesis import settings

ORIGINAL_SPREAD = dtypes.own_spread
ORIGINAL_DIFFERENTIATED = second_order._differentiated


def switch(on: bool) -> None:
    dtypes.own_spread = ORIGINAL_SPREAD if on else (lambda c, outs, grads, cots: ({}, {}))
    if on:
        second_order._differentiated = ORIGINAL_DIFFERENTIATED
    else:
        second_order._differentiated = _no_symmetry


def _no_symmetry(c):
    from gradledger.verify import second

    original = second.second_order

    def no_sym(*args, **kwargs):
        kwargs["sym_scales"] = None
        return original(*args, **kwargs)

    second.second_order = no_sym
    try:
        return ORIGINAL_DIFFERENTIATED(c)
    finally:
        second.second_order = original


def main() -> None:
    rounds, examples, ops = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    register_profiles()
    settings.load_profile("ci")
    ratios = []
    for r in range(rounds):
        got = {}
        for on in ((False, True) if r % 2 == 0 else (True, False)):
            switch(on)
            started = time.process_time()
            for op in ops:
                verify_op(op, examples=examples)
            got[on] = time.process_time() - started
        ratios.append(got[True] / got[False])
        print(f"round {r + 1}: off {got[False]:.2f} s, on {got[True]:.2f} s, "
              f"ratio {ratios[-1]:.3f}", flush=True)
    print(f"median on / off: {statistics.median(ratios):.3f} "
          f"(range {min(ratios):.3f}-{max(ratios):.3f}, {rounds} rounds)")


if __name__ == "__main__":
    main()
