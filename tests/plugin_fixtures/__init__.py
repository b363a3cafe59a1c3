"""Throwaway plugin distributions, installed the way importlib.metadata reads them.

A distribution here is a `NAME-VERSION.dist-info` directory (METADATA and
entry_points.txt) next to its modules, in a directory put on `sys.path` (or a
subprocess's PYTHONPATH). That is all an installed wheel is to the loader, and
it needs no network and no build backend.
"""

from __future__ import annotations

import importlib
import re
import sys
import textwrap
from pathlib import Path


def write_dist(
    site: Path,
    name: str,
    version: str = "1.0",
    entry_points: dict[str, str] | None = None,
    modules: dict[str, str] | None = None,
    group: str = "gradledger",
) -> Path:
    """Install distribution `name` into `site`: its modules (`{module: source}`) and a
    dist-info declaring `entry_points` (`{entry-point name: module}`) in `group`."""
    site.mkdir(parents=True, exist_ok=True)
    for module, source in (modules or {}).items():
        (site / f"{module}.py").write_text(textwrap.dedent(source))
    info = site / f"{re.sub(r'[-_.]+', '_', name)}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")
    lines = [f"[{group}]"] + [f"{ep} = {target}" for ep, target in (entry_points or {}).items()]
    (info / "entry_points.txt").write_text("\n".join(lines) + "\n")
    return info


def ops_plugin(*op_sources: str, preamble: str = "") -> str:
    """Source of a plugin module whose hook registers each `Op(...)` expression given."""
    registrations = "\n".join(f"    registry.register({op})" for op in op_sources) or "    pass"
    return (
        "import numpy as np\n"
        "from gradledger.extend import Op, hookimpl\n"
        f"{textwrap.dedent(preamble)}\n"
        "@hookimpl\n"
        "def gradledger_register_ops(registry):\n"
        f"{registrations}\n"
    )


def cube_op(name: str, **extra: str) -> str:
    """An `Op(...)` expression for a correct elementwise op x**3 named `name`."""
    fields = {"local_grad": "lambda x, out: (3 * x * x,)", "signature": "'()->()'", **extra}
    return f"Op({name!r}, lambda x: x ** 3, {', '.join(f'{k}={v}' for k, v in fields.items())})"


class Site:
    """A site-packages directory of throwaway distributions, on `sys.path` for one test.

    The modules it installs are removed from `sys.modules` by `cleanup()`, so the
    next test imports its own.
    """

    def __init__(self, root: Path, monkeypatch) -> None:
        self.root = root
        self.modules: list[str] = []
        root.mkdir(parents=True)
        monkeypatch.syspath_prepend(str(root))

    def install(self, name: str, version: str = "1.0", entry_points=None, modules=None) -> Path:
        info = write_dist(self.root, name, version, entry_points, modules)
        self.modules.extend(modules or {})
        importlib.invalidate_caches()
        return info

    def plugin(self, entry_point: str, *op_sources: str, version: str = "1.0",
               preamble: str = "") -> str:
        """Install distribution `gl-fx-ENTRY_POINT` with one module registering the ops given;
        return the module's name."""
        module = f"gl_fx_{entry_point}"
        self.install(f"gl-fx-{entry_point}", version, {entry_point: module},
                     {module: ops_plugin(*op_sources, preamble=preamble)})
        return module

    def cleanup(self) -> None:
        for module in self.modules:
            sys.modules.pop(module, None)
