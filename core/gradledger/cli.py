"""The `gradledger` command: `ops`, `plugins`, `verify`.

Tables fit 100 columns (the last column is shortened, a list of ops ends in
`... (+N more)`); `--wide` shows everything, `--json` gives the same facts to programs.
"""

from __future__ import annotations

import argparse
import json
import sys

from .loader import host

WIDTH = 100


def _fit(cell: str, width: int, listing: bool = False) -> str:
    """`cell` cut to `width` characters: a listing (comma-separated) keeps whole items and
    says how many it left out; other text ends in `...`."""
    if len(cell) <= width:
        return cell
    items = cell.split(", ")
    if listing and len(items) > 1:
        for keep in range(len(items) - 1, 0, -1):
            text = f"{', '.join(items[:keep])}, ... (+{len(items) - keep} more)"
            if len(text) <= width:
                return text
        return f"... ({len(items)} items)"[:width]
    return cell[: max(width - 3, 0)] + "..."


def _table(rows: list[tuple], header: tuple, width: int | None = None,
           listing: bool = False) -> str:
    """Columns padded to their widest cell; with `width`, the last column is shortened so
    that every line fits (never below 10 characters); `listing`: it is a list of names."""
    rows = [tuple(str(c) for c in row) for row in rows]
    if width is not None:
        used = sum(max(len(r[i]) for r in [header, *rows]) + 2 for i in range(len(header) - 1))
        room = max(width - used, 10)
        rows = [(*row[:-1], _fit(row[-1], room, listing)) for row in rows]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def _load_plugins() -> str | None:
    """Load every plugin, keeping the loader's warnings off the screen (the commands show
    the same facts in place); return the error under GRADLEDGER_STRICT_PLUGINS=1."""
    import warnings

    from .errors import PluginLoadError

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        try:
            host.ensure_loaded()
        except PluginLoadError as error:
            return str(error)
    return None


def _unknown_plugin(name: str) -> int:
    known = ", ".join(sorted(host.records)) or "none"
    print(f"gradledger: no plugin named {name!r}; the plugins found are: {known}. "
          "`gradledger plugins` lists them.", file=sys.stderr)
    return 2


def _first_line(doc: str, width: int = 60) -> str:
    line = (doc or "").strip().split("\n")[0]
    return line if len(line) <= width else line[: width - 3] + "..."


def cmd_ops(args: argparse.Namespace) -> int:
    """One row per registered op: its signature, rule and provenance, and what it overrides."""
    error = _load_plugins()
    if error:
        print(f"gradledger: {error}", file=sys.stderr)
        return 1
    if args.plugin and args.plugin not in host.records:
        return _unknown_plugin(args.plugin)
    rows, chosen_ops = [], []
    for op in host.registry:
        if args.plugin and op.plugin != args.plugin:
            continue
        chosen_ops.append(op)
        note = ""
        if op.overrides is not None:
            replaced = op.overrides
            where = "by hand"
            if replaced.distribution:
                where = f"{replaced.distribution} {replaced.version}"
            note = f"overrides {replaced.plugin} ({where})"
        if args.wide:
            rows.append((op.name, op.signature, op.rule, op.plugin,
                         op.distribution or "(by hand)", op.version or "-", _first_line(op.doc),
                         note))
        else:
            rows.append((op.name, op.signature, op.rule, op.plugin,
                         f"[{note}] {_first_line(op.doc)}".rstrip() if note else
                         _first_line(op.doc)))
    if args.json:
        print(json.dumps([_op_json(op) for op in chosen_ops], indent=2))
        return 0
    if args.wide:
        print(_table(rows, ("op", "signature", "rule", "plugin", "distribution", "version", "doc",
                            "note")))
    else:
        print(_table(rows, ("op", "signature", "rule", "plugin", "doc"), width=WIDTH))
    print(f"\n{len(rows)} op(s)")
    if not args.wide:
        print("`gradledger ops --wide`: every column; `gradledger plugins`: each plugin's "
              "distribution")
    chosen = host.records.get(args.plugin) if args.plugin else None
    if chosen is not None and chosen.status != "loaded":
        print(f"plugin {chosen.name!r} is {chosen.status}: {chosen.reason}")
    missing = [r for r in host.records.values() if r.status != "loaded" or r.problems]
    if missing and not args.plugin:
        what = ", ".join(f"{r.name} ({r.status}{', ops refused' if r.problems else ''})"
                         for r in missing)
        print(f"not all plugins loaded fully: {what}; `gradledger plugins` says why")
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    """Every plugin found: distribution, version, status (and why), the ops it registered."""
    error = _load_plugins()
    if error:
        print(f"gradledger: {error}", file=sys.stderr)
        return 1
    records = sorted(host.records.values(), key=lambda r: r.name)
    if args.json:
        print(json.dumps([_plugin_json(record) for record in records], indent=2))
        return 0
    rows = []
    for record in records:
        ops = []
        for name in record.ops:
            op = host.registry.get(name)
            if op is not None and op.plugin == record.name and op.overrides is not None:
                ops.append(f"{name} (overrides {op.overrides.plugin})")
            elif op is not None and op.plugin != record.name:
                ops.append(f"{name} (overridden by {op.plugin})")
            else:
                ops.append(name)
        status = record.status
        if record.imported_by:
            status += ", imported anyway"
        if record.problems:
            status += f", {len(record.problems)} op(s) refused"
        rows.append((record.name, record.distribution or "(by hand)", record.version or "-",
                     status, ", ".join(ops) or "-"))
    print(_table(rows, ("plugin", "distribution", "version", "status", "ops"),
                 width=None if args.wide else WIDTH, listing=True))
    for record in records:
        if record.reason:
            print(f"\n{record.name}: {record.status}: {record.reason}")
        for problem in record.problems:
            print(f"\n{record.name}: op refused: {problem.removeprefix('gradledger: ')}")
    return 0


def _op_json(op) -> dict:
    replaced = op.overrides
    return {
        "name": op.name, "signature": op.signature, "rule": op.rule,
        "differentiable": bool(op.differentiable), "plugin": op.plugin,
        "distribution": op.distribution, "version": op.version, "doc": op.doc,
        "params": sorted(op.param_names) if op.param_names is not None else None,
        "overrides": None if replaced is None else {
            "plugin": replaced.plugin, "distribution": replaced.distribution,
            "version": replaced.version},
    }


def _plugin_json(record) -> dict:
    return {
        "name": record.name, "distribution": record.distribution, "version": record.version,
        "status": record.status, "reason": record.reason, "ops": list(record.ops),
        "refused": [problem.removeprefix("gradledger: ") for problem in record.problems],
        "imported_by": record.imported_by,
    }


def _version() -> str:
    """The installed distribution's version (its metadata), else the package's own."""
    from importlib import metadata

    from . import __version__

    try:
        return metadata.version("gradledger")
    except metadata.PackageNotFoundError:
        return __version__


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gradledger",
        description="Reverse-mode autodiff with plugin ops: list them, and verify their gradients.",
    )
    parser.add_argument("--version", action="version", version=f"gradledger {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    ops = sub.add_parser("ops", help="list every registered op with its provenance")
    ops.add_argument("--plugin", help="only the ops of this plugin")
    ops.add_argument("--wide", action="store_true",
                     help="every column (distribution, version, note), however wide")
    ops.add_argument("--json", action="store_true", help="a JSON list of ops, for programs")
    ops.set_defaults(run=cmd_ops)
    plugins = sub.add_parser("plugins",
                             help="list every plugin: distribution, version, status, ops")
    plugins.add_argument("--wide", action="store_true", help="every op of every plugin")
    plugins.add_argument("--json", action="store_true",
                         help="a JSON list of plugins, for programs")
    plugins.set_defaults(run=cmd_plugins)
    from .verify.cli import add_verify_parser  # the verifier's own door; hypothesis stays lazy

    add_verify_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
