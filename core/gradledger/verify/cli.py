"""`gradledger verify`: the verifier's command-line door.

    gradledger verify [OP ...] [--plugin NAME] [--examples N] [--seed S] [--json FILE]
                      [--profile NAME]

One line of progress per op on stderr while it runs, then a table on stdout (op,
plugin, examples run, worst error as a fraction of its tolerance, status), then
the full report of every op that failed or cannot be verified. The table and the
JSON are always written once the run starts: an op that raises is a finding about
that op, never the end of the run.

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
    verify.add_argument("--examples", type=int, metavar="N",
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
    verify.set_defaults(run=run)


def _settings(args):
    from hypothesis import settings

    from .profiles import register_profiles

    register_profiles()
    name = args.profile or os.environ.get("HYPOTHESIS_PROFILE")
    if name:
        return settings.get_profile(name)
    return settings(settings.get_profile("ci"), max_examples=DEFAULT_EXAMPLES)


def _progress(index: int, total: int, op, report) -> None:
    width = len(str(total))
    if report is None:
        print(f"[{index + 1:>{width}}/{total}] {op.name} ...", end="", file=sys.stderr, flush=True)
        return
    print(f" {report.status} ({report.examples} examples, {report.seconds:.1f} s)",
          file=sys.stderr, flush=True)


def run(args: argparse.Namespace) -> int:
    """Run the verifier as the arguments say; print the table; return the exit status."""
    from ..cli import _table
    from ..errors import OpNotFoundError

    try:
        from .engine import select_ops, verify_all
    except ImportError as error:
        print(f"gradledger verify needs hypothesis ({error}): pip install 'gradledger[verify]'",
              file=sys.stderr)
        return 2

    try:
        chosen = _settings(args)
    except Exception as error:  # an unknown profile name
        print(f"gradledger verify: {error}", file=sys.stderr)
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
    started = time.perf_counter()
    reports = verify_all([op.name for op in selected], examples=args.examples, seed=args.seed,
                         settings=chosen, progress=_progress)
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
            _write_json(args.json, reports, chosen, args, seconds)
        except (OSError, TypeError, ValueError) as error:
            print(f"gradledger verify: could not write {args.json}: {error}", file=sys.stderr)
            return 2
    return 0 if all(r.status == PASS for r in reports) else 1


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


def _write_json(path: str, reports, chosen, args, seconds: float) -> None:
    import hypothesis

    from .. import __version__

    document = {
        "gradledger": __version__,
        "hypothesis": hypothesis.__version__,
        "settings": {"max_examples": args.examples or chosen.max_examples,
                     "derandomize": chosen.derandomize and args.seed is None,
                     "seed": args.seed, "profile": args.profile},
        "seconds": round(seconds, 3),
        "summary": {s: sum(r.status == s for r in reports) for s in (PASS, FAIL, UNVERIFIABLE)},
        "ok": all(r.ok for r in reports),
        "ops": [r.to_dict() for r in reports],
    }
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(document, handle, indent=2, allow_nan=False)
        handle.write("\n")
