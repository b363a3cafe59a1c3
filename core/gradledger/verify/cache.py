"""The verifier's cache folder: hypothesis's storage and the durations of earlier runs.

    GRADLEDGER_CACHE_DIR        the folder, if set; else the platform's user cache folder:
                                $XDG_CACHE_HOME/gradledger (~/.cache/gradledger) on Linux,
                                ~/Library/Caches/gradledger on macOS,
                                %LOCALAPPDATA%\\gradledger\\Cache on Windows

Hypothesis keeps what it learns (constants it found in the code under test) in a
`.hypothesis/` folder of the current directory unless told otherwise; the verifier
points it at `<cache>/hypothesis` instead, unless the user already chose a place
(HYPOTHESIS_STORAGE_DIRECTORY, or `hypothesis.configuration.set_hypothesis_home_dir`).

`durations.json` holds, per op (name, plugin, version), the seconds per example of
its last run: the scheduler starts the longest ops first and the progress display
estimates the time left from them. A missing or unreadable file is an empty cache.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path

DURATIONS = "durations.json"


def cache_dir() -> Path:
    """The verifier's cache folder (not created here)."""
    chosen = os.environ.get("GRADLEDGER_CACHE_DIR")
    if chosen:
        return Path(chosen).expanduser()
    home = Path.home()
    if sys.platform == "win32":
        base = os.environ.get("LOCALAPPDATA") or str(home / "AppData" / "Local")
        return Path(base) / "gradledger" / "Cache"
    if sys.platform == "darwin":
        return home / "Library" / "Caches" / "gradledger"
    return Path(os.environ.get("XDG_CACHE_HOME") or home / ".cache") / "gradledger"


def use_cache_for_hypothesis() -> None:
    """Point hypothesis's storage at `<cache>/hypothesis`, unless the user chose a place."""
    from hypothesis import configuration

    if os.environ.get("HYPOTHESIS_STORAGE_DIRECTORY"):
        return
    if vars(configuration).get("__hypothesis_home_directory") is not None:
        return  # set by the user (or by an earlier call): theirs stands
    configuration.set_hypothesis_home_dir(cache_dir() / "hypothesis")


def op_key(op) -> str:
    """The durations' key of an op: its name, plugin and version."""
    return f"{op.name}|{op.plugin}|{op.version}"


def load_durations() -> dict[str, float]:
    """{op key: seconds per example} from earlier runs ({} when there are none)."""
    try:
        with open(cache_dir() / DURATIONS, encoding="utf-8") as handle:
            document = json.load(handle)
        return {str(k): float(v) for k, v in document.get("per_example", {}).items()
                if isinstance(v, (int, float)) and v >= 0}
    except (OSError, ValueError, AttributeError, TypeError):
        return {}


def save_durations(reports, ops) -> None:
    """Remember the seconds per example of each report that ran examples (best effort: a
    read-only cache folder only costs the next run its ordering)."""
    known = load_durations()
    by_name = {op.name: op for op in ops}
    for report in reports:
        op = by_name.get(report.op)
        if op is not None and report.examples > 0 and report.seconds > 0:
            known[op_key(op)] = report.seconds / report.examples
    folder = cache_dir()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, temporary = tempfile.mkstemp(dir=folder, prefix=".durations-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump({"per_example": known}, handle, indent=0, sort_keys=True)
        os.replace(temporary, folder / DURATIONS)
    except OSError:
        pass
