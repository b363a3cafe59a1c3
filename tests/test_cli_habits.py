"""The `gradledger` command's habits (issue 24): --version, `python -m gradledger`, tables
that fit 100 columns unless --wide, and --json for ops and plugins."""

import importlib.metadata
import json
import subprocess
import sys

from gradledger.cli import main as cli_main
from plugin_fixtures import cube_op

OVERRIDING_RELU = ("Op('relu', lambda x: x * (x > 0), local_grad=lambda x, out: (x > 0,),"
                   " signature='()->()', override=True)")


def run_module(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "gradledger", *args], capture_output=True,
                          text=True, timeout=120)


def test_version_flag_prints_the_installed_metadata_version_through_python_m():
    result = run_module("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"gradledger {importlib.metadata.version('gradledger')}"


def test_python_m_gradledger_help_lists_the_commands():
    result = run_module("--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: gradledger")
    assert all(command in result.stdout for command in ("ops", "plugins", "verify"))


def test_ops_and_plugins_tables_fit_100_columns_and_wide_shows_everything(fresh_host, capsys):
    assert cli_main(["plugins"]) == 0
    narrow = capsys.readouterr().out
    assert max(len(line) for line in narrow.splitlines()) <= 100
    builtin = next(line for line in narrow.splitlines() if line.startswith("builtin "))
    assert builtin.rstrip().endswith("more)")  # "..., ... (+N more)"
    assert cli_main(["plugins", "--wide"]) == 0
    wide = capsys.readouterr().out
    every_op = ", ".join(fresh_host.records["builtin"].ops)
    assert every_op in wide and len(every_op) > 100
    assert cli_main(["ops"]) == 0
    table = capsys.readouterr().out.split("\n\n")[0]
    assert max(len(line) for line in table.splitlines()) <= 100
    assert cli_main(["ops", "--wide"]) == 0
    header = capsys.readouterr().out.splitlines()[0].split()
    assert header == ["op", "signature", "rule", "plugin", "distribution", "version", "doc",
                      "note"]


def test_ops_json_gives_each_ops_provenance_and_what_it_overrides(site, capsys, monkeypatch):
    site.plugin("good", cube_op("fx_cube"), OVERRIDING_RELU, version="1.2.3")
    monkeypatch.setenv("GRADLEDGER_ALLOW_OVERRIDE", "good")
    assert cli_main(["ops", "--json"]) == 0
    ops = {op["name"]: op for op in json.loads(capsys.readouterr().out)}
    assert (ops["fx_cube"]["plugin"], ops["fx_cube"]["distribution"],
            ops["fx_cube"]["version"]) == ("good", "gl-fx-good", "1.2.3")
    assert ops["relu"]["overrides"]["plugin"] == "builtin"
    assert ops["sum"]["params"] == ["axis", "keepdims"] and ops["add"]["overrides"] is None
    assert cli_main(["ops", "--json", "--plugin", "good"]) == 0
    assert {op["name"] for op in json.loads(capsys.readouterr().out)} == {"fx_cube", "relu"}


def test_plugins_json_gives_each_plugins_status_reason_and_ops(site, capsys, monkeypatch):
    site.plugin("good", cube_op("fx_cube"))
    site.install("gl-fx-bomb", "0.1", {"bomb": "gl_fx_bomb"},
                 {"gl_fx_bomb": "raise ImportError('never imported')\n"})
    monkeypatch.setenv("GRADLEDGER_BLOCK_PLUGINS", "bomb")
    assert cli_main(["plugins", "--json"]) == 0
    plugins = {p["name"]: p for p in json.loads(capsys.readouterr().out)}
    assert plugins["good"]["ops"] == ["fx_cube"] and plugins["good"]["status"] == "loaded"
    assert (plugins["bomb"]["status"], plugins["bomb"]["reason"]) == (
        "blocked", "blocked by GRADLEDGER_BLOCK_PLUGINS")
    assert plugins["bomb"]["imported_by"] is None and "add" in plugins["builtin"]["ops"]
