"""Plugins cannot end or silently change the program (issue 17, items 13, 18 and 22):
an override of another plugin's op is announced, sys.exit in a hook is a plugin
failure, and a blocked plugin imported by another one is named and its ops refused."""

import sys
import warnings

import gradledger as gl
import pytest
from gradledger.cli import main as cli_main
from plugin_fixtures import cube_op, ops_plugin

WRONG_ADD = ("Op('add', lambda x, y: x + y, local_grad=lambda x, y, out: (0 * x, 0 * y),"
             " signature='(),()->()', override=True)")


def load(host) -> list[str]:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        host.lookup("add")
    return [str(w.message) for w in caught]


# -- 13: an override is announced at load -------------------------------------------------------


def test_a_plugin_overriding_a_builtin_op_is_announced_at_load_naming_both_plugins(site):
    site.plugin("sneaky", WRONG_ADD, version="6.6")
    messages = [m for m in load(gl.loader.host) if "overrides op 'add'" in m]
    assert len(messages) == 1, messages
    assert "plugin 'sneaky' (gl-fx-sneaky 6.6) overrides op 'add' of plugin 'builtin'" in \
        messages[0]
    assert "GRADLEDGER_ALLOW_OVERRIDE=sneaky" in messages[0]
    assert "GRADLEDGER_BLOCK_PLUGINS=sneaky" in messages[0]
    assert gl.ops.add.op.plugin == "sneaky"  # announced, not refused


def test_an_override_allowed_for_another_op_only_is_still_announced(site, monkeypatch):
    site.plugin("sneaky", WRONG_ADD)
    monkeypatch.setenv("GRADLEDGER_ALLOW_OVERRIDE", "sneaky:relu")
    assert any("overrides op 'add'" in m for m in load(gl.loader.host))


def test_an_override_under_strict_plugins_is_an_error_unless_the_user_allows_it(site,
                                                                                 monkeypatch):
    site.plugin("sneaky", WRONG_ADD, cube_op("fx_cube"))
    monkeypatch.setenv("GRADLEDGER_STRICT_PLUGINS", "1")
    with pytest.raises(gl.PluginLoadError,
                       match=r"'sneaky'.*overrides op 'add' of plugin 'builtin'.*STRICT"):
        gl.loader.host.lookup("add")
    monkeypatch.setenv("GRADLEDGER_ALLOW_OVERRIDE", "sneaky:add")
    gl.loader.host.reset()
    assert load(gl.loader.host) == []
    assert gl.ops.add.op.plugin == "sneaky" and "fx_cube" in gl.ops


# -- 18: SystemExit from a hook -------------------------------------------------------------------


def test_sys_exit_in_a_plugin_hook_fails_that_plugin_and_the_program_goes_on(site):
    site.plugin("quitter", cube_op("fx_never"), "__import__('sys').exit(0)")
    site.plugin("good", cube_op("fx_cube"))
    messages = [m for m in load(gl.loader.host) if "'quitter'" in m]
    assert len(messages) == 1 and "gradledger_register_ops raised SystemExit: 0" in messages[0]
    record = gl.loader.host.records["quitter"]
    assert record.status == "failed" and "fx_never" not in gl.ops
    assert gl.fx_cube(gl.tensor(2.0)).item() == 8.0


def test_sys_exit_in_a_plugin_hook_under_strict_plugins_is_a_plugin_load_error(site,
                                                                               monkeypatch):
    site.plugin("quitter", "__import__('sys').exit(3)")
    monkeypatch.setenv("GRADLEDGER_STRICT_PLUGINS", "1")
    with pytest.raises(gl.PluginLoadError, match=r"'quitter'.*raised SystemExit: 3"):
        gl.loader.host.lookup("add")


# -- 22: a blocked plugin imported by another ----------------------------------------------------


def install_importer_of_blocked(site) -> None:
    site.install("gl-fx-blocked", "1.0", {"blocked": "gl_fx_blocked"}, {
        "gl_fx_blocked": ops_plugin(cube_op("fx_from_blocked")) + (
            "def make_op():\n"
            "    return Op('fx_from_blocked', lambda x: x ** 3,\n"
            "              local_grad=lambda x, out: (3 * x * x,), signature='()->()')\n"),
    })
    site.plugin("importer", cube_op("fx_cube"), "gl_fx_blocked.make_op()",
                preamble="import gl_fx_blocked")


def test_a_blocked_plugin_imported_by_another_is_named_and_its_ops_are_refused(site,
                                                                               monkeypatch):
    install_importer_of_blocked(site)
    monkeypatch.setenv("GRADLEDGER_BLOCK_PLUGINS", "blocked")
    messages = [m for m in load(gl.loader.host) if "'fx_from_blocked'" in m]
    assert len(messages) == 1, messages
    assert "plugin 'importer'" in messages[0] and "module 'gl_fx_blocked'" in messages[0]
    assert "GRADLEDGER_BLOCK_PLUGINS blocks" in messages[0]
    assert "fx_from_blocked" not in gl.ops and "fx_cube" in gl.ops
    record = gl.loader.host.records["blocked"]
    assert (record.status, record.imported_by) == ("blocked", "plugin 'importer'")
    assert "gl_fx_blocked" in sys.modules


def test_gradledger_plugins_says_a_blocked_module_was_imported_anyway_and_by_whom(
        site, monkeypatch, capsys):
    install_importer_of_blocked(site)
    monkeypatch.setenv("GRADLEDGER_BLOCK_PLUGINS", "blocked")
    assert cli_main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "blocked: blocked by GRADLEDGER_BLOCK_PLUGINS, but its module 'gl_fx_blocked' was " \
           "imported anyway by plugin 'importer'; ops defined in it are refused" in out
    assert "importer: op refused: plugin 'importer'" in out
