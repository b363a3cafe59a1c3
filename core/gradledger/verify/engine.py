"""The engine behind every door: run hypothesis over one op, keep the shrunk failure.

Imported only when verifying (it imports hypothesis). Each example runs every
sub-check of `checks`; the first failing one raises `Counterexample` from a single
place, so hypothesis treats every failure of an op as one bug and shrinks it to a
minimal example, then replays that example, whose `Failure` becomes the report.
"""

from __future__ import annotations

import os
import time
from collections import deque
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
from . import checks, hints, sampling
from .checks import Discard, Stats
from .repeats import example_key
from .report import FAIL, PASS, UNVERIFIABLE, Failure, OpReport

DEFAULT_EXAMPLES = 200
DEFAULT_TIME_LIMIT = 600.0
"""Seconds one op may run in a worker before it fails (the thorough profile's slowest
built-in, conv2d, takes about 100)."""
DEFAULT_MEMORY_FRACTION = 0.5
"""By default a worker may use this fraction of the machine's memory (beyond what it held
before its first op) before the op it checks fails."""
STEER_FROM = 1000
"""Runs of at least this many examples steer hypothesis (`target`) towards the examples that
come closest to a tolerance; shorter runs spend their time on more examples instead."""
KEEP_FAILURES = 8
"""While hypothesis shrinks a failure it keeps every failing example it tried (up to 10,000
in its cache) with the exception raised; only this many of the latest keep their arrays."""

_kept: deque = deque()
"""The latest Counterexamples that still hold their whole Failure (arrays, snippet)."""


class Counterexample(Exception):
    """Raised inside the hypothesis test when a sub-check fails; carries the Failure.

    Hypothesis keeps each failing example it tries while shrinking, with its exception and
    that exception's frames (the drawn arrays): with a large example (a stretched axis)
    that grew to many GiB. So only the `KEEP_FAILURES` latest keep their Failure whole; an
    older one keeps the check and the message. The report always comes from the latest:
    hypothesis replays the shrunk example last."""

    def __init__(self, failure: Failure) -> None:
        super().__init__(failure.check)
        self.failure = failure
        _kept.append(self)
        while len(_kept) > KEEP_FAILURES:
            _kept.popleft().lighten()

    def __str__(self) -> str:
        return str(self.failure)

    def lighten(self) -> None:
        """Drop the arrays, the snippet and the frames; keep the check and the message."""
        whole = self.failure
        self.failure = Failure(whole.check, whole.message + " (this failing example's "
                               "arrays were not kept while hypothesis shrank it)",
                               reference=whole.reference, dtype=whole.dtype)
        self.__traceback__ = None


# -- hypothesis's target phase, bounded ---------------------------------------------------
#
# Hypothesis's `optimise_targets` repeats its hill-climbing passes until a pass makes no
# test call at all. A pass that only replays cached examples and re-draws one example that
# overruns (each time: hypothesis retries a cached overrun when it may extend it) makes one
# call per pass, and the loop never ends: a thorough run of fmod ran 600 s in it without
# checking one more example. While the verifier runs, a pass that adds no valid example
# since the one before it ends the phase (nothing it could climb from has changed).

_running = 0


class _NoProgress(Exception):
    """A target pass ran no valid example since the last one: the phase ends here."""


def _bound_target_phase() -> None:
    from hypothesis.internal.conjecture.engine import ConjectureRunner

    optimise = getattr(ConjectureRunner, "optimise_targets", None)
    if (optimise is None or getattr(optimise, "_gradledger", False)
            or not hasattr(ConjectureRunner, "pareto_optimise")):
        return
    ConjectureRunner.optimise_targets = bounded_optimise(optimise)


def bounded_optimise(optimise: Callable) -> Callable:
    """`optimise` (hypothesis's `ConjectureRunner.optimise_targets`), ended by the first
    pass that runs no valid example since the pass before it, while the verifier runs."""
    def optimise_targets(self, *args, **kwargs):
        if not _running or not hasattr(self, "__dict__"):
            return optimise(self, *args, **kwargs)
        self.pareto_optimise = _guarded_pareto(self, type(self).pareto_optimise)
        try:
            return optimise(self, *args, **kwargs)
        except _NoProgress:
            return False
        finally:
            self.__dict__.pop("pareto_optimise", None)

    optimise_targets._gradledger = True
    return optimise_targets


def _guarded_pareto(runner, pareto) -> Callable[[], None]:
    """`runner.pareto_optimise`, called once at the end of each pass that improved nothing,
    raising `_NoProgress` when no valid example ran since its last call."""
    seen: list[int] = []

    def pareto_optimise() -> None:
        valid = runner.valid_test_cases
        if seen and seen[-1] == valid:
            raise _NoProgress
        seen[:] = [valid]
        pareto(runner)

    return pareto_optimise


try:
    _bound_target_phase()
except Exception:  # pragma: no cover - another hypothesis layout: its own loop
    pass


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
              settings: Settings | None = None,
              watch: Callable[[int, object], None] | None = None) -> OpReport:
    """Verify one registered op (a name, or an `Op`); return its `OpReport`.

    `watch(number, example)` is called before each example is checked (the worker
    processes use it to say which example an op was checking when it crashed).
    """
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
    # `run` below must stay byte-for-byte as it is: a derandomized run's examples come from
    # a hash of its source. So `watch` comes in through the name `Checker`, bound here.
    Checker = _watching(watch, stats)  # noqa: N806

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
    global _running
    _running += 1
    _kept.clear()
    try:
        run()
    except OutOfMemory as error:
        report.status, report.failure = FAIL, error.failure()
    except MemoryError as error:  # drawing, shrinking or reporting: not inside a check
        report.status = FAIL
        report.failure = OutOfMemory.raised(error, where=None).failure()
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
    finally:
        _running -= 1
        _kept.clear()
    report.seconds = time.perf_counter() - started
    report.examples = first_failure[0] if first_failure else stats.examples
    report.worst_abs_error, report.worst_rel_error = stats.worst_abs, stats.worst_rel
    report.closest = dict(stats.by_check)
    report.worst_tolerance_fraction = max(stats.by_check.values(), default=0.0)
    report.dtypes = dict(stats.by_dtype)
    report.discarded = dict(stats.discarded)
    report.repeats = stats.repeats
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


def _watching(watch, stats) -> Callable:
    """`checks.Checker` (for a complex example `complexcheck.ComplexChecker`), calling
    `watch(number, example)` first if given, whose MemoryError ends the op's run. A repeat
    of an example that passed (`repeats.example_key`) is not checked again: it gets a
    `_Repeat`, which passes at once and is counted in `stats.repeats`."""
    def checker(op, example, stats_):
        key = example_key(example)
        if key is not None and key in stats.passed:
            return _Repeat(stats)
        number = stats.examples + 1
        if watch is not None:
            watch(number, example)
        made = _checker_for(op, example, stats_)
        _guard_memory(made, number, example)
        if key is not None:
            _remember_pass(made, key, stats)
        return made

    return checker


class _Repeat:
    """The check of an example identical to one that passed: it passes, and is counted."""

    def __init__(self, stats) -> None:
        self.stats = stats

    def run(self) -> None:
        self.stats.repeats += 1


def _remember_pass(checker, key: bytes, stats) -> None:
    """Add `key` to `stats.passed` when `checker`'s example passes."""
    inner = checker.run

    def run():
        failure = inner()
        if failure is None:
            stats.passed.add(key)
        return failure

    checker.run = run


def _guard_memory(checker, number: int, example) -> None:
    """Make a MemoryError while `checker` checks example `number` an `OutOfMemory`, which
    hypothesis does not catch: an op that needs more memory than it may have FAILS at once
    (shrinking would only try smaller examples until one fits, and call that flaky)."""
    inner = checker._run

    def _run():
        try:
            failure = inner()
        except MemoryError as error:
            raise OutOfMemory.raised(error, _where(number, example)) from None
        if failure is not None and "MemoryError" in failure.message:  # a check caught it
            raise OutOfMemory(failure.message, _where(number, example))
        return failure

    checker._run = _run


def _where(number: int, example) -> str:
    from .workers import describe

    return f"example {number} ({describe(example)})"


MEMORY_LIMIT: int | None = None
"""The memory limit (bytes) this process verifies under: a worker sets it (`workers`)."""


class OutOfMemory(BaseException):
    """A MemoryError while checking an example. A BaseException, so that hypothesis lets it
    through at once; the op FAILS saying which example needed more than it may use."""

    def __init__(self, detail: str, where: str | None) -> None:
        super().__init__(detail)
        self.detail, self.where = detail, where

    @classmethod
    def raised(cls, error: BaseException, where: str | None) -> OutOfMemory:
        return cls(f"{type(error).__name__}: {error}" if str(error) else type(error).__name__,
                   where)

    def failure(self) -> Failure:
        where = f" while checking {self.where}" if self.where else ""
        if MEMORY_LIMIT:
            message = (f"used more than {gib(MEMORY_LIMIT)}, the memory limit of a worker per "
                       f"op,{where}: {self.detail}; raise it with --memory-limit or "
                       "memory_limit=")
        else:
            message = f"ran out of memory{where}: {self.detail}"
        return Failure("memory", message, reference="the memory it may use")


def gib(size: float) -> str:
    """A number of bytes in GiB, as people read it ('4 GiB', '1.5 GiB', '0.25 GiB')."""
    return f"{size / 2**30:.3g} GiB"


def _checker_for(op, example, stats):
    """The checker of one example: the complex checks for a complex one."""
    if example.dtype.kind == "c":
        from .complexcheck import ComplexChecker

        return ComplexChecker(op, example, stats)
    return checks.Checker(op, example, stats)


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


def shard_ops(ops: list, shard: tuple[int, int]) -> list:
    """Shard K of N (1-based) of `ops`: every N-th op of the name-sorted list, from the K-th,
    so that N machines of a CI matrix verify every op once, whatever their caches hold."""
    k, n = shard
    if not (isinstance(k, int) and isinstance(n, int) and 1 <= k <= n):
        raise ValueError(f"shard: expected K/N with 1 <= K <= N, got {k}/{n}")
    return sorted(ops, key=lambda op: op.name)[k - 1::n]


def time_limit_setting() -> float | None:
    """The per-op time limit in seconds: $GRADLEDGER_VERIFY_TIME_LIMIT, else the default
    (0 or `none`: no limit)."""
    raw = os.environ.get("GRADLEDGER_VERIFY_TIME_LIMIT", "").strip().lower()
    if not raw:
        return DEFAULT_TIME_LIMIT
    if raw in {"0", "none", "off"}:
        return None
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"GRADLEDGER_VERIFY_TIME_LIMIT: expected seconds (a number, or 0 for "
                         f"no limit), got {raw!r}") from None
    return value if value > 0 else None


def parse_size(text: str, what: str = "memory limit") -> int | None:
    """A size in bytes from `4G`, `4GiB`, `512M`, `1.5g` or a plain number of bytes (K, M, G
    and T are powers of 1024, with or without `iB`/`B`); None for `0`, `none` or `off`."""
    import re

    raw = str(text).strip().lower()
    if raw in {"none", "off"}:
        return None
    match = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*([kmgt]?)(?:i?b)?", raw)
    if match is None:
        raise ValueError(f"{what}: expected a size such as 4G, 512M or a number of bytes "
                         f"(0 or none for no limit), got {text!r}")
    value = float(match.group(1)) * 1024 ** " kmgt".index(match.group(2) or " ")
    return int(value) or None


def default_memory_limit() -> int | None:
    """`DEFAULT_MEMORY_FRACTION` of this machine's memory (None where it cannot be read)."""
    try:
        total = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):
        return None
    return int(total * DEFAULT_MEMORY_FRACTION) if total > 0 else None


def memory_limit_setting() -> int | None:
    """The memory (bytes) one op may use in a worker: $GRADLEDGER_VERIFY_MEMORY_LIMIT (a
    size such as 4G; 0 or `none`: no limit), else half the machine's memory."""
    raw = os.environ.get("GRADLEDGER_VERIFY_MEMORY_LIMIT", "").strip()
    if not raw:
        return default_memory_limit()
    return parse_size(raw, "GRADLEDGER_VERIFY_MEMORY_LIMIT")


_DEFAULT = object()


def verify_all(names: Iterable[str] | None = None, *, plugin: str | None = None,
               examples: int | None = None, seed: int | None = None,
               settings: Settings | None = None, progress=None, workers: int | None = None,
               time_limit=_DEFAULT, shard: tuple[int, int] | None = None,
               scheduler=None, memory_limit=_DEFAULT) -> list[OpReport]:
    """Verify every registered op (or the ones named, or one plugin's); reports in name order.

    Each op is verified in a worker process (`workers` of them, default: every core; 0:
    in this process, without isolation), longest first; see `run_ops`.
    """
    ops = select_ops(names, plugin)
    if shard is not None:
        ops = shard_ops(ops, shard)
    return run_ops(ops, examples=examples, seed=seed, settings=settings, progress=progress,
                   workers=workers, time_limit=time_limit, scheduler=scheduler,
                   memory_limit=memory_limit)


def run_ops(ops: list, *, examples: int | None = None, seed: int | None = None,
            settings: Settings | None = None, progress=None, workers: int | None = None,
            time_limit=_DEFAULT, scheduler=None, log_lines: bool = False,
            memory_limit=_DEFAULT) -> list[OpReport]:
    """Verify `ops`; return their reports in the order given.

    workers:     worker processes (default: every core this process may use, at most one
                 per op); 0 verifies in this process, without isolation. Where no worker
                 can start, the ops are verified here and a RuntimeWarning says so.
    time_limit:  seconds one op may take in a worker before it FAILS (default
                 $GRADLEDGER_VERIFY_TIME_LIMIT, else 600; None: no limit)
    memory_limit: bytes one op may use in a worker (beyond what the worker held before)
                 before it FAILS (default $GRADLEDGER_VERIFY_MEMORY_LIMIT, else half the
                 machine's memory; None: no limit). Workers only: not with workers=0.
    scheduler:   a Dask distributed scheduler address (or Client): verify on that cluster
    progress:    None (a notebook's display, or a bar on a terminal), False, a callable
                 `progress(index, total, op, report)`, or a `progress.Progress`
    Ops that ran before start first, the longest first (their durations are kept in the
    cache folder); ops never timed before them. The verdicts do not depend on the order.
    """
    from . import progress as shown
    from .cache import load_durations, op_key, save_durations, use_cache_for_hypothesis
    from .workers import default_workers

    use_cache_for_hypothesis()
    chosen = settings if settings is not None else Settings()  # the profile loaded here
    limit = time_limit_setting() if time_limit is _DEFAULT else time_limit
    memory = memory_limit_setting() if memory_limit is _DEFAULT else memory_limit
    count = run_settings(chosen, examples, seed).max_examples
    per_example = load_durations()
    estimates = {op.name: per_example[op_key(op)] * count if op_key(op) in per_example
                 else None for op in ops}
    order = sorted(range(len(ops)), key=lambda i: (estimates[ops[i].name] is not None,
                                                   -(estimates[ops[i].name] or 0), i))
    workers = default_workers() if workers is None else workers
    if workers < 0:
        raise ValueError(f"workers: expected 0 (in this process) or more, got {workers}")
    display = shown.choose(progress, log_lines=log_lines)
    display.start(ops, estimates, 1 if workers == 0 else min(workers, len(ops)))
    reports: dict[int, OpReport] = {}
    arguments = {"examples": examples, "seed": seed, "settings": chosen}
    try:
        if scheduler is not None:
            from .distributed import run_on_cluster

            reports = run_on_cluster(scheduler, [(i, ops[i]) for i in order], display,
                                     time_limit=limit, **arguments)
        elif workers == 0:
            for i in order:
                reports[i] = _verify_here(i, ops[i], display, **arguments)
        else:
            reports = _verify_in_workers(order, ops, min(workers, len(ops)), limit, display,
                                         arguments, memory)
    finally:
        display.finish()
    result = [reports[i] for i in range(len(ops))]
    save_durations(result, ops)
    return result


def _verify_in_workers(order, ops, count, limit, display, arguments, memory=None) -> dict:
    import warnings

    from ..loader import host
    from .workers import Pool, Task, hand_plugins, in_process_note

    plugins, unbuildable = hand_plugins(host)
    tasks, here = [], []
    for i in order:
        (here if ops[i].plugin in unbuildable else tasks).append(Task(i, ops[i]))
    reports: dict[int, OpReport] = {}
    if tasks:
        with Pool(count, time_limit=limit, plugins=plugins, memory_limit=memory,
                  **arguments) as pool:
            done, local, unbuilt, notice = pool.run(tasks, display)
        reports.update(done)
        here.extend(local)
        unbuildable.update(unbuilt)
        if notice:
            warnings.warn(f"gradledger verify: {notice}", RuntimeWarning, stacklevel=4)
    for task in sorted(here, key=lambda t: order.index(t.index)):
        report = _verify_here(task.index, task.op, display, **arguments)
        why = unbuildable.get(task.op.plugin)
        if why:
            report.notes.append(in_process_note(task.op.plugin, why))
        reports[task.index] = report
    return reports


def _verify_here(index: int, op, display, **arguments) -> OpReport:
    """Verify one op in this process; what it raises is a finding about the op."""
    from .workers import describe, raised_report

    seen: list = []

    def watch(number: int, example) -> None:
        seen[:] = [(number, example)]

    display.begin(index, op)
    try:
        report = verify_op(op, watch=watch, **arguments)
    except Exception as error:  # never lose the other ops' reports
        report = OpReport(op.name, op.plugin, op.distribution, op.version, FAIL)
        report.failure = Failure("verifier", f"verifying the op raised "
                                 f"{type(error).__name__}: {error}")
    except (KeyboardInterrupt, GeneratorExit):
        raise
    except BaseException as error:  # sys.exit in an op's code ends the op, not the run
        where = f"example {seen[0][0]} ({describe(seen[0][1])})" if seen else ""
        report = raised_report(op, error, where)
    display.done(index, op, report)
    return report
