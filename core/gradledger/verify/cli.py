"""`gradledger verify`: the verifier's command-line door.

    gradledger verify [OP ...] [--plugin NAME] [--examples N] [--seed S] [--json FILE]
                      [--profile NAME] [--workers N] [--time-limit S]
                      [--memory-limit SIZE] [--shard K/N] [--scheduler ADDRESS]

Progress on stderr while it runs (a live bar in a terminal, one line per op in a
log), then a table on stdout (op, plugin, examples run, worst error as a fraction of
its tolerance, status), then the full report of every op that failed or cannot be
verified. Each op is verified in a worker process: an op that raises, crashes, exits
or hangs is a finding about that op, never the end of the run, and the table and
the JSON are always written once the run starts.

Exit status: 0 every op passed; 1 an op failed or cannot be verified; 2 the verifier
could not run (bad arguments, an unknown op or plugin, a blocked plugin, hypothesis
missing).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .report import FAIL, PASS, UNVERIFIABLE

DEFAULT_EXAMPLES = 200


def add_verify_parser(sub) -> None:
    """Add the `verify` subcommand to the `gradledger` parser's subparsers."""
    verify = sub.add_parser(
        "verify", help="check every op's gradients against the nudge method (hypothesis)",
        description="Check the gradient rules of registered ops against finite differences, "
        "on inputs drawn from each op's declaration; failures are shrunk to a minimal, "
        "copy-pasteable counterexample.",
        epilog="exit status: 0 every op passed; 1 an op failed or cannot be verified; "
        "2 the verifier could not run (bad arguments, an unknown op or plugin, a blocked "
        "plugin, hypothesis missing)",
    )
    verify.add_argument("ops", nargs="*", metavar="OP", help="ops to verify (default: all)")
    verify.add_argument("--plugin", metavar="NAME",
                        help="only the ops of this plugin (its entry-point name, or the name of "
                        "the distribution that provides it)")
    verify.add_argument("--examples", type=_examples, metavar="N",
                        help=f"examples per op (default {DEFAULT_EXAMPLES}, or the profile's)")
    verify.add_argument("--seed", type=int, metavar="S",
                        help="draw random examples from this seed (default: derandomized)")
    verify.add_argument("--json", metavar="FILE", help="also write a machine-readable report")
    verify.add_argument(
        "--profile", metavar="NAME",
        help="hypothesis profile to start from: ci, thorough or one you registered "
        "(default: $HYPOTHESIS_PROFILE, else derandomized with "
        f"{DEFAULT_EXAMPLES} examples)",
    )
    verify.add_argument("--workers", type=_count, metavar="N",
                        help="worker processes, each verifying one op at a time (default: "
                        "every core; 0: in this process, without isolation)")
    verify.add_argument("--time-limit", type=_seconds, metavar="S", dest="time_limit",
                        default=argparse.SUPPRESS,
                        help="seconds one op may take before it fails (default "
                        "$GRADLEDGER_VERIFY_TIME_LIMIT, else 600; 0: no limit)")
    verify.add_argument("--memory-limit", type=_size, metavar="SIZE", dest="memory_limit",
                        default=argparse.SUPPRESS,
                        help="memory one op may use in a worker before it fails, such as 4G "
                        "or 512M (default $GRADLEDGER_VERIFY_MEMORY_LIMIT, else half the "
                        "machine's memory; 0: no limit; workers only)")
    verify.add_argument("--shard", type=_shard, metavar="K/N",
                        help="verify only shard K of N (every N-th op by name, from the K-th): "
                        "one per machine of a CI matrix")
    verify.add_argument("--scheduler", metavar="ADDRESS",
                        help="verify on this Dask distributed cluster (tcp://host:8786); needs "
                        "'gradledger[distributed]' on the client and every worker")
    verify.set_defaults(run=run)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise ValueError(text)
    return value


def _examples(text: str) -> int:
    try:
        return _positive(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number of examples per op, at least 1; got {text!r}") from None


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a number of worker processes (0 for none); got {text!r}")
    return value


def _seconds(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"expected seconds (0 for no limit); got {text!r}")
    return value or None


def _size(text: str) -> int | None:
    from .engine import parse_size

    try:
        return parse_size(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error).partition(": ")[2]) from None


def _shard(text: str) -> tuple[int, int]:
    k, _, n = text.partition("/")
    try:
        shard = (int(k), int(n))
    except ValueError:
        shard = (0, 0)
    if not 1 <= shard[0] <= shard[1]:
        raise argparse.ArgumentTypeError(
            f"expected K/N with 1 <= K <= N (shard 2 of 4: 2/4); got {text!r}")
    return shard


def _settings(args):
    from hypothesis import settings

    from .profiles import register_profiles

    register_profiles()
    name = args.profile or os.environ.get("HYPOTHESIS_PROFILE")
    if name:
        return settings.get_profile(name)
    return settings(settings.get_profile("ci"), max_examples=DEFAULT_EXAMPLES)


def run(args: argparse.Namespace) -> int:
    """Run the verifier as the arguments say; print the table; return the exit status."""
    from ..cli import _table
    from ..errors import OpNotFoundError, PluginLoadError
    from ..loader import host

    try:
        from .distributed import ClusterError
        from .engine import memory_limit_setting, run_ops, select_ops, shard_ops, time_limit_setting
    except ImportError as error:
        print(f"gradledger verify needs hypothesis ({error}): pip install 'gradledger[verify]'",
              file=sys.stderr)
        return 2

    try:
        chosen = _settings(args)
    except Exception as error:  # an unknown profile name
        print(f"gradledger verify: {error}", file=sys.stderr)
        return 2
    try:
        limit = args.time_limit if "time_limit" in vars(args) else time_limit_setting()
        memory = (args.memory_limit if "memory_limit" in vars(args)
                  else memory_limit_setting())
    except ValueError as error:
        print(f"gradledger verify: {error}", file=sys.stderr)
        return 2
    if args.json:
        problem = _unwritable(args.json)
        if problem:
            print(f"gradledger verify: cannot write the JSON report to {args.json}: {problem}",
                  file=sys.stderr)
            return 2
    try:
        host.ensure_loaded()
    except PluginLoadError as error:  # GRADLEDGER_STRICT_PLUGINS=1 and a broken plugin
        print(f"gradledger verify: {_first_line(error)}", file=sys.stderr)
        return 2
    plugins = None
    if args.plugin is not None:
        plugins, problem, status = _plugins(args.plugin)
        if problem:
            print(f"gradledger verify: {problem}", file=sys.stderr)
            return status
    try:
        selected = select_ops(args.ops, None)
    except OpNotFoundError as error:
        print(f"gradledger verify: {error}", file=sys.stderr)
        return 2
    if plugins is not None:
        selected = [op for op in selected if op.plugin in plugins]
    if not selected:
        print(f"gradledger verify: no ops to verify: plugin(s) {', '.join(plugins or [])} "
              "registered none of them; `gradledger plugins` lists every plugin and its ops",
              file=sys.stderr)
        return 1
    if args.shard is not None:
        selected = shard_ops(selected, args.shard)
        if not selected:
            print(f"gradledger verify: shard {args.shard[0]}/{args.shard[1]} holds no op",
                  file=sys.stderr)
            return 0
    started = time.perf_counter()
    try:
        reports = run_ops(selected, examples=args.examples, seed=args.seed, settings=chosen,
                          workers=args.workers, time_limit=limit, scheduler=args.scheduler,
                          log_lines=True, memory_limit=memory)
    except ClusterError as error:
        print(f"gradledger verify: {error}", file=sys.stderr)
        return 2
    seconds = time.perf_counter() - started
    print(_table([r.row() for r in reports],
                 ("op", "plugin", "examples", "worst err/tol", "status")))
    for report in reports:
        if not report.ok:
            print(f"\n{report}")
    counts = {s: sum(r.status == s for r in reports) for s in (PASS, FAIL, UNVERIFIABLE)}
    print(f"\n{len(reports)} op(s): {counts[PASS]} passed, {counts[FAIL]} failed, "
          f"{counts[UNVERIFIABLE]} unverifiable, in {seconds:.1f} s")
    if args.json:
        try:
            _write_json(args.json, reports, chosen, args, seconds, limit, memory)
        except (OSError, TypeError, ValueError) as error:
            print(f"gradledger verify: could not write {args.json}: {error}", file=sys.stderr)
            return 2
    return 0 if all(r.status == PASS for r in reports) else 1


def _first_line(error: BaseException) -> str:
    return " ".join(str(error).split())


def _unwritable(path: str) -> str | None:
    """Why `path` cannot be written (None if it can), found by opening it for appending;
    a file that did not exist is removed again."""
    existed = os.path.exists(path)
    try:
        with open(path, "a", encoding="utf-8"):
            pass
    except OSError as error:
        return error.strerror or str(error)
    if not existed:
        os.remove(path)
    return None


def _plugins(name: str) -> tuple[list[str], str | None, int]:
    """The plugin names `--plugin NAME` stands for, or why there are none (and the status)."""
    from ..loader import host

    records = host.plugins_named(name)
    if not records:
        return [], host.unknown_plugin(name), 2
    usable = [r for r in records if r.status == "loaded"]
    if usable:
        return [r.name for r in usable], None, 0
    record = records[0]
    if record.status == "blocked":
        return [], (f"plugin {record.name!r} ({record.where}) is blocked: {record.reason}; "
                    "its ops are not loaded, so there is nothing to verify"), 2
    return [], (f"plugin {record.name!r} ({record.where}) failed to load: {record.reason}"), 1


def _write_json(path: str, reports, chosen, args, seconds: float, limit,
                memory: int | None = None) -> None:
    import hypothesis

    from .. import __version__

    document = {
        "gradledger": __version__,
        "hypothesis": hypothesis.__version__,
        "settings": {"max_examples": args.examples or chosen.max_examples,
                     "derandomize": chosen.derandomize and args.seed is None,
                     "seed": args.seed, "profile": args.profile},
        "run": {"workers": args.workers, "time_limit": limit, "memory_limit": memory,
                "scheduler": args.scheduler,
                "shard": None if args.shard is None else "/".join(map(str, args.shard))},
        "seconds": round(seconds, 3),
        "summary": {s: sum(r.status == s for r in reports) for s in (PASS, FAIL, UNVERIFIABLE)},
        "ok": all(r.ok for r in reports),
        "ops": [r.to_dict() for r in reports],
    }
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, allow_nan=False)
        handle.write("\n")
