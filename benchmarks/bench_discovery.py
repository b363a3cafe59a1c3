"""Discovery benchmark (issue 4): what finding and loading op plugins costs a fresh process.

Synthesizes N plugin distributions (dist-info directories with an entry point in
the group `gradledger`, each module registering three ops) in a temporary
directory put on PYTHONPATH, plus one plugin `heavy` whose module imports
hypothesis. Then, in a fresh interpreter per run, times

    import numpy;  import gradledger;  first op call (which loads every plugin)

and reports "time to the first op call minus the time of import numpy" (the
target is <= 100 ms with 20 plugins). The first op call is `x * x`, as a user's
first line of autodiff would be. Scenarios:

    builtin only          GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD=1
    N plugins             the N synthetic plugins (+ whatever else is installed)
    N plugins + heavy     `heavy` loads, importing hypothesis
    N plugins, heavy blocked   GRADLEDGER_BLOCK_PLUGINS=heavy: hypothesis is never imported

Run: `python benchmarks/bench_discovery.py [--plugins 20] [--runs 9]`.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

CHILD = textwrap.dedent("""
    import json, sys, time
    start = time.perf_counter()
    import numpy
    numpy_done = time.perf_counter()
    import gradledger as gl
    imported = time.perf_counter()
    x = gl.tensor(3.0, requires_grad=True)
    y = x * x
    first_call = time.perf_counter()
    print(json.dumps({
        "numpy": numpy_done - start,
        "import_gradledger": imported - numpy_done,
        "first_call": first_call - imported,
        "to_first_call": first_call - start,
        "plugins": sum(r.status == "loaded" for r in gl.loader.host.records.values()),
        "ops": len(gl.loader.host.registry),
        "hypothesis_imported": "hypothesis" in sys.modules,
    }))
""")

PLUGIN = textwrap.dedent("""
    import numpy as np
    from gradledger.extend import Op, hookimpl

    @hookimpl
    def gradledger_register_ops(registry):
        for power in (2, 3, 4):
            registry.register(Op(
                f"{NAME}_pow{power}", lambda x, p=power: x ** p,
                local_grad=lambda x, out, p=power: (p * x ** (p - 1),), signature="()->()",
            ))
""")


def synthesize(site: Path, count: int) -> None:
    """`count` plugin distributions `bench-plugin-K`, and `bench-heavy` importing hypothesis."""
    plugins = {f"bench{k:02d}": PLUGIN.replace("{NAME}", f"bench{k:02d}") for k in range(count)}
    plugins["heavy"] = "import hypothesis  # the heavy import blocking must avoid\n" + (
        PLUGIN.replace("{NAME}", "heavy"))
    for name, source in plugins.items():
        module = f"bench_plugin_{name}"
        (site / f"{module}.py").write_text(source)
        info = site / f"bench_plugin_{name}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: bench-plugin-{name}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[gradledger]\n{name} = {module}\n")


def run_child(site: Path, extra_env: dict) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADLEDGER_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(site), env.get("PYTHONPATH")]))
    env.update(extra_env)
    result = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                            text=True, check=True)
    return json.loads(result.stdout)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--plugins", type=int, default=20, help="synthetic plugins (20)")
    parser.add_argument("--runs", type=int, default=9, help="fresh processes per scenario (9)")
    args = parser.parse_args()

    scenarios = {
        "builtin only": {"GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD": "1"},
        f"{args.plugins} plugins": {"GRADLEDGER_BLOCK_PLUGINS": "heavy"},
        f"{args.plugins} plugins + heavy": {},
        f"{args.plugins} plugins, heavy blocked": {"GRADLEDGER_BLOCK_PLUGINS": "heavy"},
    }
    with tempfile.TemporaryDirectory() as tmp:
        site = Path(tmp)
        synthesize(site, args.plugins)
        results = {name: [] for name in scenarios}
        for _ in range(args.runs):  # interleaved, so drift hits every scenario alike
            for name, env in scenarios.items():
                results[name].append(run_child(site, env))

    print(f"Python {sys.version.split()[0]}, median of {args.runs} fresh processes (and the "
          "best run), ms\n")
    header = ("scenario", "plugins", "ops", "numpy", "import gl", "1st call",
              "to 1st call - numpy", "(best run)", "hypothesis")
    print("  ".join(f"{h:>{len(h) if i else 30}}" for i, h in enumerate(header)))
    for name, runs in results.items():
        med = {key: statistics.median(r[key] for r in runs) * 1e3
               for key in ("numpy", "import_gradledger", "first_call", "to_first_call")}
        cells = (runs[0]["plugins"], runs[0]["ops"], f"{med['numpy']:.1f}",
                 f"{med['import_gradledger']:.1f}", f"{med['first_call']:.1f}",
                 f"{med['to_first_call'] - med['numpy']:.1f}",
                 f"{min(r['to_first_call'] - r['numpy'] for r in runs) * 1e3:.1f}",
                 "imported" if any(r["hypothesis_imported"] for r in runs) else "not imported")
        columns = zip(cells, header[1:], strict=True)
        print(f"{name:>30}  " + "  ".join(f"{str(c):>{len(h)}}" for c, h in columns))
    blocked = results[f"{args.plugins} plugins, heavy blocked"]
    if any(r["hypothesis_imported"] for r in blocked):
        print("\nFAIL: the blocked plugin's heavy import happened", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
