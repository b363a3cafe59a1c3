"""The engine behind every door: run hypothesis over one op, keep the shrunk failure.

Imported only when verifying (it imports hypothesis). Each example runs every
sub-check of `checks`; the first failing one raises `Counterexample` from a single
place, so hypothesis treats every failure of an op as one bug and shrinks it to a
minimal example, then replays that example, whose `Failure` becomes the report.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from hypothesis import HealthCheck, Phase, Verbosity, given, reject
from hypothesis import seed as hypothesis_seed
from hypothesis import settings as Settings
from hypothesis.errors import Flaky, HypothesisException, Unsatisfiable

from ..loader import host

try:
    from builtins import BaseExceptionGroup
except ImportError:  # Python 3.10: hypothesis depends on the backport
    from exceptiongroup import BaseExceptionGroup
from . import hints, sampling
from .checks import Checker, Discard, Stats
from .report import FAIL, PASS, UNVERIFIABLE, Failure, OpReport

DEFAULT_EXAMPLES = 200
STEER_FROM = 1000
"""Runs of at least this many examples steer hypothesis (`target`) towards the examples that
come closest to a tolerance; shorter runs spend their time on more examples instead."""


class Counterexample(Exception):
    """Raised inside the hypothesis test when a sub-check fails; carries the Failure."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(str(failure))
        self.failure = failure


def run_settings(base: Settings | None = None, examples: int | None = None,
                 seed: int | None = None) -> Settings:
    """The hypothesis settings of one op's run: `base` (default: the loaded profile), with
    `examples` if given, no deadline, no database, quiet, one bug reported per op."""
    base = base if base is not None else Settings()
    return Settings(
        base,
        max_examples=examples if examples is not None else base.max_examples,
        deadline=None,
        database=None,
        derandomize=base.derandomize and seed is None,
        report_multiple_bugs=False,
        suppress_health_check=list(HealthCheck),
        verbosity=Verbosity.quiet,
        print_blob=False,
        phases=[p for p in base.phases if p is not Phase.explain],
    )


def verify_op(name, *, examples: int | None = None, seed: int | None = None,
              settings: Settings | None = None) -> OpReport:
    """Verify one registered op (a name, or an `Op`); return its `OpReport`."""
    op = host.lookup(name) if isinstance(name, str) else name
    chosen = run_settings(settings, examples, seed)
    report = OpReport(op.name, op.plugin, op.distribution, op.version, PASS,
                      settings={"max_examples": chosen.max_examples,
                                "derandomize": chosen.derandomize, "seed": seed})
    started = time.perf_counter()
    try:
        strategy = sampling.example_strategy(op)
    except sampling.Unverifiable as why:
        report.status, report.reason = UNVERIFIABLE, str(why)
        return report
    except Exception as error:  # a hint that breaks in a way we did not foresee
        report.status = UNVERIFIABLE
        report.reason = f"its hints raised {type(error).__name__}: {error}"
        return report
    stats = Stats(steer=chosen.max_examples >= STEER_FROM)
    first_failure = []

    @chosen
    @given(strategy)
    def run(example):
        try:
            failure = Checker(op, example, stats).run()
        except Discard as why:
            reason = str(why)
            stats.discarded[reason] = stats.discarded.get(reason, 0) + 1
            reject()
        if failure is not None:
            if not first_failure:
                first_failure.append(stats.examples)
            raise Counterexample(failure)

    if seed is not None:
        run = hypothesis_seed(seed)(run)
    try:
        run()
    except Counterexample as found:
        report.status, report.failure = FAIL, found.failure
    except (sampling.HintError, sampling.Unverifiable) as why:
        report.status, report.reason = UNVERIFIABLE, str(why)
    except Unsatisfiable as why:
        report.status = UNVERIFIABLE
        report.reason = f"hypothesis could not draw valid inputs from its hints: {why}"
    except BaseExceptionGroup as group:  # hypothesis raises one on a flaky failure
        report.status, report.failure = FAIL, _from_group(group)
    except (Flaky, HypothesisException) as error:
        report.status = FAIL
        report.failure = Failure("flaky", f"hypothesis: {type(error).__name__}: {error}")
    except Exception as error:  # a hint's strategy that raises while drawing: never a crash
        report.status = UNVERIFIABLE
        report.reason = f"drawing an example raised {type(error).__name__}: {error}"
    report.seconds = time.perf_counter() - started
    report.examples = first_failure[0] if first_failure else stats.examples
    report.worst_abs_error, report.worst_rel_error = stats.worst_abs, stats.worst_rel
    report.closest = dict(stats.by_check)
    report.worst_tolerance_fraction = max(stats.by_check.values(), default=0.0)
    report.dtypes = dict(stats.by_dtype)
    report.discarded = dict(stats.discarded)
    if op.differentiable is False:
        report.scope = ("forward contract only: the op is declared differentiable=False, so "
                        "it has no gradient to check")
    elif stats.second_unchecked and report.status == PASS:
        report.scope = stats.second_unchecked
    elif stats.forward_only:
        report.notes.append(f"{stats.forward_only} example(s) had no floating output: forward "
                            "contract only")
    report.notes.extend(stats.notes())
    note = hints.reuse_note(op)
    if note:
        report.notes.append(note)
    return report


def _from_group(group) -> Failure:
    for error in group.exceptions:
        if isinstance(error, Counterexample):
            return error.failure
    return Failure(
        "flaky", f"the failure did not reproduce when replayed ({type(group).__name__}: "
        f"{group}); the op's rules may depend on state other than their inputs"
    )


def select_ops(names: Iterable[str] | None = None, plugin: str | None = None) -> list:
    """The registered ops to verify, sorted by name: all, the ones named, or one plugin's
    (`plugin`: its entry-point name or its distribution's name)."""
    host.ensure_loaded()
    if names:
        ops = [host.lookup(name) for name in names]
    else:
        ops = list(host.registry)
    if plugin is not None:
        plugins = {record.name for record in host.plugins_named(plugin)} or {plugin}
        ops = [op for op in ops if op.plugin in plugins]
    return sorted(ops, key=lambda op: op.name)


def verify_all(names: Iterable[str] | None = None, *, plugin: str | None = None,
               examples: int | None = None, seed: int | None = None,
               settings: Settings | None = None,
               progress: Callable[[int, int, object, OpReport | None], None] | None = None,
               ) -> list[OpReport]:
    """Verify every registered op (or the ones named, or one plugin's), in name order.

    `progress(index, total, op, report)` is called before each op (report None) and
    after it (with its report).
    """
    ops = select_ops(names, plugin)
    reports = []
    for index, op in enumerate(ops):
        if progress is not None:
            progress(index, len(ops), op, None)
        try:
            report = verify_op(op, examples=examples, seed=seed, settings=settings)
        except Exception as error:  # never lose the other ops' reports
            report = OpReport(op.name, op.plugin, op.distribution, op.version, FAIL)
            report.failure = Failure("verifier", f"verifying the op raised "
                                     f"{type(error).__name__}: {error}")
        reports.append(report)
        if progress is not None:
            progress(index, len(ops), op, report)
    return reports
