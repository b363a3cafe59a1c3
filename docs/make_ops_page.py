"""Write docs/ops.md, the list of every built-in op, from the registry.

    .venv/bin/python docs/make_ops_page.py

The page is generated, never edited by hand; tests/test_docs_ops.py fails when it and
the registry differ. Ops are grouped by the module of gradledger_builtin that
declares them (one module per family), in the order of its FAMILIES.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

PAGE = Path(__file__).with_name("ops.md")

HEADER = """\
# The built-in ops

Every op below is registered by gradledger's own plugin `builtin` (the package
`gradledger_builtin`), the same way a third-party plugin registers its ops, and every
one with a gradient passes `gradledger verify`. Each is `gl.NAME(...)`, `gl.ops.NAME(...)`
and, for a tensor `x`, `x.NAME(...)`. Params may also be given by position after the
tensor inputs: in numpy's order for an op named after a numpy function (`x.sum(1)`,
`x.var(0)`; a position numpy gives to `dtype` or `out` is refused), in the order shown
otherwise. Where a numpy function is named, `np.FUNCTION(t)` on a Tensor dispatches to
the op, with numpy's arguments (np.linalg's `solve`, `inv`, `det` and `norm` are
`gl.solve`, `gl.inv`, `gl.det` and `gl.norm`).

`gradledger ops` lists these and every plugin's ops on your machine.

This page is generated from the registry by `docs/make_ops_page.py`; do not edit it
by hand (`tests/test_docs_ops.py` checks that it matches).
"""


def builtin_ops() -> list:
    """The built-in plugin's ops as registered (under any override another plugin made),
    and those of its optional families (special: registered only where scipy is), so that
    the page reads the same with or without them installed."""
    import gradledger_builtin
    from gradledger.loader import host

    host.ensure_loaded()
    found = []
    for op in host.registry:
        while op is not None and op.plugin != "builtin":
            op = op.overrides
        if op is not None:
            found.append(op)
    names = {op.name for op in found}
    for family in getattr(gradledger_builtin, "OPTIONAL", ()):
        found.extend(op for op in family.OPS if op.name not in names)
    return sorted(found, key=lambda op: op.name)


def _families() -> list[tuple[str, str, list[str]]]:
    """(module name, its docstring's first line, op names) for each family, in order."""
    import gradledger_builtin

    return [(family.__name__.rsplit(".", 1)[-1], _first_paragraph(family.__doc__),
             [op.name for op in family.OPS])
            for family in gradledger_builtin.FAMILIES]


def _first_paragraph(text: str | None) -> str:
    paragraph = (text or "").strip().split("\n\n")[0]
    return " ".join(line.strip() for line in paragraph.splitlines())


def _defaults(function) -> dict:
    """A function's params with usable defaults (numpy's `<no value>` is none)."""
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {p.name: p.default for p in parameters
            if p.default is not inspect.Parameter.empty and "<no value>" not in repr(p.default)}


def _params(op) -> str:
    """The params a call may give, positional ones first in their order, with defaults
    (the forward rule's, else the gradient rule's)."""
    defaults = {**_defaults(op.vjp or op.local_grad), **_defaults(op.forward)}
    allowed = op.param_names
    names = list(op.positional) + sorted(set(allowed or ()) - set(op.positional))
    shown = []
    for name in names:
        if allowed is not None and name not in allowed:
            continue
        shown.append(f"{name}={defaults[name]!r}" if name in defaults else name)
    return ", ".join(shown)


def _numpy(op) -> str:
    """The numpy functions dispatching to the op: np.NAME, np.linalg.NAME, numpy_names."""
    import numpy as np
    from gradledger_builtin import special

    names = []
    scipy = op.forward.__module__ == special.__name__  # named without importing scipy
    for name in (op.name, *op.numpy_names):
        if scipy:
            names.append(f"`scipy.special.{name}`")
        elif callable(getattr(np, name, None)):
            names.append(f"`np.{name}`")
        elif callable(getattr(np.linalg, name, None)):
            names.append(f"`np.linalg.{name}`")
        elif callable(getattr(np.fft, name, None)):
            names.append(f"`np.fft.{name}`")
        elif name in op.numpy_names:  # a numpy name this numpy lacks (newer, or removed
            names.append(f"`np.{name}`")  # since): the page reads the same on every numpy
    return ", ".join(dict.fromkeys(names))


def _rule(op) -> str:
    if not op.differentiable:
        return "no grad"
    return op.rule


def _row(op) -> str:
    doc = (op.doc or "").strip().splitlines()[0] if op.doc else ""
    cells = [f"`{op.name}`", f"`{op.signature}`", _params(op), _numpy(op), _rule(op), doc]
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def render() -> str:
    """The page, as it should read for the ops registered now."""
    ops = {op.name: op for op in builtin_ops()}
    lines = [HEADER]
    placed = set()
    for module, summary, names in _families():
        present = [n for n in names if n in ops]
        if not present:
            continue
        lines += [f"## {module}", "", summary, "",
                  "| op | signature | params | numpy | rule | what it computes |",
                  "|---|---|---|---|---|---|"]
        lines += [_row(ops[n]) for n in present]
        lines.append("")
        placed.update(present)
    rest = sorted(set(ops) - placed)
    if rest:
        lines += ["## other", "", "| op | signature | params | numpy | rule | what it computes |",
                  "|---|---|---|---|---|---|", *[_row(ops[n]) for n in rest], ""]
    lines.append(f"{len(ops)} built-in ops.")
    return "\n".join(lines) + "\n"


def main() -> int:
    PAGE.write_text(render(), encoding="utf-8")
    print(f"wrote {PAGE} ({len(builtin_ops())} ops)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
