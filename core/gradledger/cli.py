"""The `gradledger` command: `ops`, `plugins`, `verify`."""

from __future__ import annotations

import argparse
import sys

from .loader import host


def _table(rows: list[tuple], header: tuple) -> str:
    rows = [tuple(str(c) for c in row) for row in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def cmd_ops(args: argparse.Namespace) -> int:
    """One row per registered op: its signature, rule and provenance."""
    host.ensure_loaded()
    rows = []
    for op in host.registry:
        if args.plugin and op.plugin != args.plugin:
            continue
        overrides = f"overrides {op.overrides.plugin!r}" if op.overrides is not None else ""
        rows.append((op.name, op.signature, op.rule, op.plugin, op.distribution or "(by hand)",
                     op.version or "-", overrides))
    print(_table(rows, ("op", "signature", "rule", "plugin", "distribution", "version", "note")))
    print(f"\n{len(rows)} op(s)")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    """Every plugin found: distribution, version, status (and why), its ops."""
    host.ensure_loaded()
    rows = []
    for record in sorted(host.records.values(), key=lambda r: r.name):
        status = record.status if record.reason is None else f"{record.status}: {record.reason}"
        if record.problems:
            status += f" ({len(record.problems)} op(s) refused)"
        rows.append((record.name, record.distribution or "(by hand)", record.version or "-",
                     status, ", ".join(record.ops) or "-"))
    print(_table(rows, ("plugin", "distribution", "version", "status", "ops")))
    for record in host.records.values():
        for problem in record.problems:
            print(f"\n{record.name}: {problem}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradledger",
        description="Reverse-mode autodiff with plugin ops: list them, and verify their gradients.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    ops = sub.add_parser("ops", help="list every registered op with its provenance")
    ops.add_argument("--plugin", help="only the ops of this plugin")
    ops.set_defaults(run=cmd_ops)
    plugins = sub.add_parser("plugins", help="list every plugin: distribution, version, status, ops")
    plugins.set_defaults(run=cmd_plugins)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
