"""`gradledger plugins` and `gradledger ops`: every plugin's fate, every op's provenance."""

import os
import subprocess
import sys

from gradledger.cli import main as cli_main
from plugin_fixtures import cube_op, ops_plugin, write_dist

OVERRIDING_RELU = ("Op('relu', lambda x: x * (x > 0), local_grad=lambda x, out: (x > 0,),"
                   " signature='()->()', override=True)")


def install_mixed_bag(site):
    """One plugin of each fate: loaded with an override, failed, blocked, an op refused."""
    site.plugin("good", cube_op("fx_cube"), OVERRIDING_RELU, version="1.2.3")
    site.install("gl-fx-broken", "0.9", {"broken": "gl_fx_broken"},
                 {"gl_fx_broken": "raise RuntimeError('half-installed')\n"})
    site.install("gl-fx-bomb", "0.1", {"bomb": "gl_fx_bomb"},
                 {"gl_fx_bomb": "raise ImportError('blocked plugins are never imported')\n"})
    site.plugin("sloppy", cube_op("fx_fine"), "Op('fx_bad', None, local_grad=lambda x, out: (1,),"
                                              " signature='()->()')")


def rows(output: str) -> dict:
    """The table's rows by first column, each split on runs of two or more spaces."""
    lines = output.split("\n\n")[0].splitlines()[2:]
    return {line.split()[0]: [c.strip() for c in line.split("  ") if c.strip()] for line in lines}


def test_plugins_command_shows_every_plugin_with_distribution_version_status_and_ops(
        site, monkeypatch, capsys):
    install_mixed_bag(site)
    monkeypatch.setenv("GRADLEDGER_BLOCK_PLUGINS", "bomb")
    assert cli_main(["plugins", "--wide"]) == 0  # every op (the default fits 100 columns)
    out = capsys.readouterr().out
    table = rows(out)
    assert table["good"] == ["good", "gl-fx-good", "1.2.3", "loaded",
                             "fx_cube, relu (overrides builtin)"]
    assert table["builtin"][1:4] == ["gradledger", table["builtin"][2], "loaded"]
    assert "relu (overridden by good)" in table["builtin"][4]
    assert table["broken"] == ["broken", "gl-fx-broken", "0.9", "failed", "-"]
    assert table["bomb"] == ["bomb", "gl-fx-bomb", "0.1", "blocked", "-"]
    assert table["sloppy"] == ["sloppy", "gl-fx-sloppy", "1.0", "loaded, 1 op(s) refused",
                               "fx_fine"]
    assert ("broken: failed: import of 'gl_fx_broken' failed: RuntimeError: half-installed"
            in out)
    assert "bomb: blocked: blocked by GRADLEDGER_BLOCK_PLUGINS" in out
    assert "sloppy: op refused: plugin 'sloppy' (gl-fx-sloppy 1.0) registered a malformed op " \
           "'fx_bad'" in out


def test_ops_command_shows_provenance_and_what_an_override_replaced(site, capsys):
    install_mixed_bag(site)
    assert cli_main(["ops", "--wide"]) == 0
    out = capsys.readouterr().out
    table = rows(out)
    version = table["add"][5]
    assert table["relu"] == ["relu", "()->()", "local_grad", "good", "gl-fx-good", "1.2.3",
                             f"overrides builtin (gradledger {version})"]
    assert table["fx_cube"][3:] == ["good", "gl-fx-good", "1.2.3"]
    assert "not all plugins loaded fully: bomb (failed), broken (failed), sloppy (loaded, ops " \
           "refused)" in out


def test_ops_command_for_one_plugin_and_for_an_unknown_one(site, capsys):
    install_mixed_bag(site)
    assert cli_main(["ops", "--plugin", "good"]) == 0
    assert set(rows(capsys.readouterr().out)) == {"fx_cube", "relu"}
    assert cli_main(["ops", "--plugin", "nope"]) == 2
    assert "no plugin named 'nope'" in capsys.readouterr().err
    assert cli_main(["ops", "--plugin", "broken"]) == 0
    assert "plugin 'broken' is failed: import of 'gl_fx_broken' failed" in capsys.readouterr().out


def test_commands_under_strict_mode_report_the_failing_plugin_and_exit_1(site, monkeypatch,
                                                                          capsys):
    install_mixed_bag(site)
    monkeypatch.setenv("GRADLEDGER_STRICT_PLUGINS", "1")
    assert cli_main(["plugins"]) == 1
    assert "plugin 'bomb' (gl-fx-bomb 0.1) failed" in capsys.readouterr().err


def test_plugins_command_in_a_fresh_process_reads_the_block_list_at_start(tmp_path):
    site_dir = tmp_path / "site"
    write_dist(site_dir, "gl-fx-good", "1.2.3", {"good": "gl_fx_good"},
               {"gl_fx_good": ops_plugin(cube_op("fx_cube"))})
    write_dist(site_dir, "gl-fx-bomb", "0.1", {"bomb": "gl_fx_bomb"},
               {"gl_fx_bomb": "raise SystemExit('never imported')\n"})
    env = {**os.environ, "PYTHONPATH": str(site_dir), "GRADLEDGER_BLOCK_PLUGINS": "gl-fx-bomb"}
    env.pop("GRADLEDGER_STRICT_PLUGINS", None)
    env.pop("GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD", None)
    result = subprocess.run([sys.executable, "-m", "gradledger.cli", "plugins"], env=env,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    table = rows(result.stdout)
    assert table["good"] == ["good", "gl-fx-good", "1.2.3", "loaded", "fx_cube"]
    assert table["bomb"][3] == "blocked" and result.stderr == ""
