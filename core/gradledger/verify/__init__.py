"""The gradient verifier: every registered op checked against the nudge method.

One engine, three doors:

- Python: `verify_op(name)`, `verify_all()` return `OpReport`s; `gradcheck(fn, *inputs)`
  checks any composed function (`gradgradcheck`, or `order=2`, its second derivatives);
  `nudge_grad(fn, *inputs)` is the seed's naive method;
- the CLI: `gradledger verify [OP ...] [--plugin NAME] [--examples N] [--seed S] [--json FILE]
  [--workers N] [--time-limit S] [--shard K/N] [--scheduler ADDRESS]`;
- pytest: `pytest --gradledger-verify [--gradledger-plugin NAME]`.

`verify_all`, the CLI and the pytest door verify each op in a worker process (see
`workers`), so an op that crashes, exits or hangs fails alone.

Importing this package does not import hypothesis: `gradcheck` and `nudge_grad`
work without it, and `verify_op` / `verify_all` import it when called.
See docs/verifier.md for how examples are drawn, the sub-checks and the tolerances.
"""

from __future__ import annotations

from .checks import CHECKS, fan_in, weigh
from .gradcheck import GradientMismatch, gradcheck, gradgradcheck
from .numeric import nudge_grad
from .profiles import register_profiles
from .report import FAIL, PASS, UNVERIFIABLE, Failure, OpReport, WorstElement

__all__ = [
    "CHECKS",
    "FAIL",
    "PASS",
    "UNVERIFIABLE",
    "Failure",
    "GradientMismatch",
    "OpReport",
    "WorstElement",
    "fan_in",
    "gradcheck",
    "gradgradcheck",
    "nudge_grad",
    "register_profiles",
    "verify_all",
    "verify_op",
    "weigh",
]


def verify_op(name, *, examples: int | None = None, seed: int | None = None,
              settings=None) -> OpReport:
    """Verify one registered op; return its `OpReport` (status PASS, FAIL or UNVERIFIABLE).

    name:      the op's name (or an `Op`)
    examples:  how many examples (default: the loaded hypothesis profile's max_examples)
    seed:      draw random examples from this seed (default: as the profile says;
               the `ci` profile is derandomized)
    settings:  hypothesis settings to start from (default: the loaded profile)
    """
    from .engine import verify_op as run

    return run(name, examples=examples, seed=seed, settings=settings)


def verify_all(names=None, *, plugin: str | None = None, examples: int | None = None,
               seed: int | None = None, settings=None, progress=None,
               workers: int | None = None, time_limit=..., shard: tuple[int, int] | None = None,
               scheduler=None, memory_limit=...) -> list[OpReport]:
    """Verify every registered op (or those `names`, or one `plugin`'s); reports by name.

    Each op is verified in a worker process, so an op that crashes, exits or hangs
    FAILS with the reason instead of ending the run. Other arguments as for `verify_op`.

    workers:     worker processes (default: every core; 0: in this process, no isolation)
    time_limit:  seconds per op before it FAILS (default $GRADLEDGER_VERIFY_TIME_LIMIT,
                 else 600; None: no limit)
    memory_limit: bytes one op may use in a worker before it FAILS (default
                 $GRADLEDGER_VERIFY_MEMORY_LIMIT, else half the machine's memory; None: no
                 limit; workers only)
    shard:       (K, N): only the K-th of N shards of the name-sorted ops (1-based)
    scheduler:   a Dask distributed scheduler address or Client: verify on that cluster
    progress:    None: a live display in a notebook or terminal, else quiet; False: none;
                 a callable `progress(index, total, op, report)`, called before each op
                 (report None) and after it
    """
    from .engine import verify_all as run

    extra = {} if time_limit is ... else {"time_limit": time_limit}
    if memory_limit is not ...:
        extra["memory_limit"] = memory_limit
    return run(names, plugin=plugin, examples=examples, seed=seed, settings=settings,
               progress=progress, workers=workers, shard=shard, scheduler=scheduler, **extra)
