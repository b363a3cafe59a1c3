"""Loading that no bad plugin can break, each case with real throwaway distributions.

Every plugin here is a dist-info directory plus a module on sys.path (see
plugin_fixtures): importlib.metadata finds its entry point exactly as it finds an
installed wheel's, so provenance (distribution, version) is the real thing.
"""

import sys
import threading
import warnings

import gradledger as gl
import numpy as np
import pytest
from plugin_fixtures import cube_op, write_dist


def load(host):
    """Trigger loading as a user does (first op lookup); return the warnings it raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        host.lookup("add")
    return [str(w.message) for w in caught]


def one(messages, *needles):
    found = [m for m in messages if all(n in m for n in needles)]
    assert len(found) == 1, f"expected one warning containing {needles}; got {messages}"
    return found[0]


# -- a plugin that fails ------------------------------------------------------------------


def test_plugin_failing_to_import_warns_naming_it_its_distribution_and_the_error(site):
    site.install("gl-fx-broken", "2.5", {"broken": "gl_fx_broken"},
                 {"gl_fx_broken": "import gl_fx_no_such_dependency\n"})
    site.plugin("good", cube_op("fx_cube"))
    messages = load(site_host := gl.loader.host)
    message = one(messages, "'broken'")
    assert "gl-fx-broken 2.5" in message
    assert "ModuleNotFoundError" in message and "gl_fx_no_such_dependency" in message
    assert "GRADLEDGER_BLOCK_PLUGINS=broken" in message
    assert site_host.records["broken"].status == "failed"
    assert gl.fx_cube(gl.tensor(2.0)).item() == 8.0
    assert site_host.records["builtin"].status == "loaded"


def test_plugin_raising_in_its_hook_is_failed_and_its_ops_withdrawn_others_load(site):
    site.plugin("raiser", cube_op("fx_half_done"), "int('not a number')")
    site.plugin("good", cube_op("fx_cube"))
    message = one(load(gl.loader.host), "'raiser'")
    assert "gl-fx-raiser 1.0" in message and "ValueError" in message
    assert "gradledger_register_ops raised" in message
    assert "fx_half_done" not in gl.ops
    assert "fx_cube" in gl.ops
    assert gl.loader.host.records["raiser"].status == "failed"


@pytest.mark.parametrize("kind", ["import", "hook"])
def test_strict_mode_makes_a_failing_plugin_an_error_naming_it(site, monkeypatch, kind):
    if kind == "import":
        site.install("gl-fx-bad", "3.0", {"bad": "gl_fx_bad"}, {"gl_fx_bad": "1 / 0\n"})
    else:
        site.install("gl-fx-bad", "3.0", {"bad": "gl_fx_bad"},
                     {"gl_fx_bad": "from gl_fx_bad_hook import *\n",
                      "gl_fx_bad_hook": "from gradledger.extend import hookimpl\n"
                                        "@hookimpl\n"
                                        "def gradledger_register_ops(registry):\n"
                                        "    1 / 0\n"})
    monkeypatch.setenv("GRADLEDGER_STRICT_PLUGINS", "1")
    with pytest.raises(gl.PluginLoadError, match=r"'bad' \(gl-fx-bad 3\.0\).*ZeroDivisionError"):
        gl.loader.host.lookup("add")
    assert not gl.loader.host.loaded  # the next lookup tries again


def test_plugin_with_an_unmarked_hook_fails_with_the_fix(site):
    site.install("gl-fx-unmarked", "1.0", {"unmarked": "gl_fx_unmarked"},
                 {"gl_fx_unmarked": "def gradledger_register_ops(registry):\n    pass\n"})
    message = one(load(gl.loader.host), "'unmarked'")
    assert "is not marked as a hook implementation" in message and "@hookimpl" in message
    assert gl.loader.host.records["unmarked"].status == "failed"


def test_plugin_whose_hook_takes_a_wrong_argument_fails_with_pluggys_explanation(site):
    site.install("gl-fx-typo", "1.0", {"typo": "gl_fx_typo"},
                 {"gl_fx_typo": "from gradledger.extend import hookimpl\n"
                                "@hookimpl\n"
                                "def gradledger_register_ops(reg):\n    pass\n"})
    message = one(load(gl.loader.host), "'typo'")
    assert "gl-fx-typo 1.0" in message and "rejected by pluggy" in message
    assert "{'reg'}" in message and gl.loader.host.records["typo"].status == "failed"


# -- autoload disabled, block list ---------------------------------------------------------


def test_autoload_disabled_loads_only_the_builtins_and_imports_nothing_else(site, monkeypatch):
    module = site.plugin("good", cube_op("fx_cube"))
    monkeypatch.setenv("GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD", "1")
    assert load(gl.loader.host) == []
    records = gl.loader.host.records
    assert records["builtin"].status == "loaded"
    assert records["good"].status == "blocked"
    assert "GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD" in records["good"].reason
    assert "fx_cube" not in gl.ops and module not in sys.modules


@pytest.mark.parametrize("block", ["bomb", " good , bomb ", "gl-fx-bomb", "GL_FX_BOMB"])
def test_block_list_skips_a_plugin_before_its_module_is_imported(site, monkeypatch, tmp_path,
                                                                 block):
    marker = tmp_path / "imported"
    site.install("gl-fx-bomb", "1.0", {"bomb": "gl_fx_bomb"},
                 {"gl_fx_bomb": f"open({str(marker)!r}, 'w').close()\n"
                                "raise ImportError('gl_fx_bomb must never be imported')\n"})
    site.plugin("good", cube_op("fx_cube"))
    monkeypatch.setenv("GRADLEDGER_BLOCK_PLUGINS", block)
    assert load(gl.loader.host) == []
    assert not marker.exists() and "gl_fx_bomb" not in sys.modules
    record = gl.loader.host.records["bomb"]
    assert (record.status, record.reason) == ("blocked", "blocked by GRADLEDGER_BLOCK_PLUGINS")
    assert record.distribution == "gl-fx-bomb"
    assert ("fx_cube" in gl.ops) == ("good" not in block)


def test_a_misspelled_name_in_the_block_list_warns_with_a_close_match(site, monkeypatch,
                                                                       tmp_path):
    marker = tmp_path / "imported"
    site.install("gl-fx-bomb", "1.0", {"bomb": "gl_fx_bomb"},
                 {"gl_fx_bomb": f"open({str(marker)!r}, 'w').close()\n"})
    monkeypatch.setenv("GRADLEDGER_BLOCK_PLUGINS", "bmob")
    message = one(load(gl.loader.host), "GRADLEDGER_BLOCK_PLUGINS", "'bmob'")
    assert "did you mean 'bomb'?" in message
    assert gl.loader.host.records["bomb"].status != "blocked" and marker.exists()


# -- two plugins, one op name -----------------------------------------------------------------


def test_two_plugins_one_op_name_warns_naming_both_distributions(site):
    site.plugin("first", cube_op("fx_cube"), cube_op("fx_first_only"), version="1.1")
    site.plugin("second", cube_op("fx_cube"), cube_op("fx_second_only"), version="2.2")
    message = one(load(gl.loader.host), "'fx_cube'")
    assert "gl-fx-first 1.1" in message and "gl-fx-second 2.2" in message
    assert "override=True" in message and "GRADLEDGER_BLOCK_PLUGINS=second" in message
    assert gl.ops.fx_cube.op.distribution == "gl-fx-first"
    assert {"fx_first_only", "fx_second_only"} <= set(dir(gl.ops))
    assert gl.loader.host.records["second"].problems == [message.removeprefix("gradledger: ")]


def test_two_plugins_one_op_name_under_strict_mode_is_an_error_naming_both(site, monkeypatch):
    site.plugin("first", cube_op("fx_cube"), version="1.1")
    site.plugin("second", cube_op("fx_cube"), version="2.2")
    monkeypatch.setenv("GRADLEDGER_STRICT_PLUGINS", "1")
    with pytest.raises(gl.PluginLoadError, match=r"gl-fx-first 1\.1.*gl-fx-second 2\.2"):
        gl.loader.host.lookup("add")


def test_override_true_replaces_a_builtin_and_records_what_it_replaced(site, monkeypatch):
    site.plugin("fastrelu", "Op('relu', lambda x: x * (x > 0), local_grad=lambda x, out: (x > 0,),"
                            " signature='()->()', override=True)")
    monkeypatch.setenv("GRADLEDGER_ALLOW_OVERRIDE", "fastrelu:relu")  # else announced
    assert load(gl.loader.host) == []
    op = gl.ops.relu.op
    assert (op.distribution, op.overrides.plugin) == ("gl-fx-fastrelu", "builtin")
    gl.loader.host.unregister_plugin("fastrelu")
    assert gl.ops.relu.op.plugin == "builtin"


def test_override_true_wins_even_when_its_plugin_loads_before_the_plain_op(site, monkeypatch):
    site.plugin("aaa", cube_op("fx_cube", override="True"), version="9.0")
    site.plugin("zzz", cube_op("fx_cube"))
    monkeypatch.setenv("GRADLEDGER_ALLOW_OVERRIDE", "gl-fx-aaa")  # a distribution name works too
    assert load(gl.loader.host) == []
    op = gl.ops.fx_cube.op
    assert (op.plugin, op.overrides.plugin) == ("aaa", "zzz")


def test_hand_registered_duplicate_raises_duplicate_op_error_naming_both(fresh_host):
    class Clash:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op("relu", np.abs, local_grad=lambda x, out: (np.sign(x),),
                                    signature="()->()"))

    with pytest.raises(gl.DuplicateOpError, match=r"plugin 'builtin', gradledger .*'clash'"):
        gl.register_plugin(Clash(), name="clash")
    assert gl.ops.relu.op.plugin == "builtin" and "clash" not in fresh_host.records


def test_two_distributions_with_one_entry_point_name_keep_the_first_and_name_both(site):
    site.install("gl-fx-one", "1.0", {"twin": "gl_fx_twin_one"},
                 {"gl_fx_twin_one": "from gradledger.extend import hookimpl\n"
                                    "@hookimpl\ndef gradledger_register_ops(registry): pass\n"})
    site.install("gl-fx-two", "2.0", {"twin": "gl_fx_twin_two"},
                 {"gl_fx_twin_two": "raise ImportError('the second twin must not be imported')"})
    message = one(load(gl.loader.host), "'twin'")
    assert "gl-fx-two 2.0" in message and "already taken by gl-fx-one 1.0" in message
    assert gl.loader.host.records["twin"].distribution == "gl-fx-one"


# -- malformed ops --------------------------------------------------------------------------

MALFORMED = {
    "no_forward": ("Op('fx_bad', local_grad=lambda x, out: (1.0,), signature='()->()')",
                   "forward must be a callable"),
    "neither_rule": ("Op('fx_bad', np.sin, signature='()->()')", "got neither"),
    "both_rules": ("Op('fx_bad', np.sin, local_grad=lambda x, out: (np.cos(x),),"
                   " vjp=lambda g, x, out: (g * np.cos(x),), signature='()->()')",
                   "got local_grad and vjp"),
    "bad_signature": ("Op('fx_bad', np.sin, local_grad=lambda x, out: (np.cos(x),),"
                      " signature='(n->()')", "does not parse"),
    "rule_not_callable": ("Op('fx_bad', np.sin, local_grad='cos', signature='()->()')",
                          "local_grad must be callable; got 'cos'"),
    "not_an_op": ("{'name': 'fx_bad'}", "expected gradledger.Op("),
}


@pytest.mark.parametrize("kind", MALFORMED)
def test_malformed_op_is_refused_naming_plugin_op_and_problem_the_rest_load(site, kind):
    declaration, problem = MALFORMED[kind]
    site.plugin("sloppy", cube_op("fx_before"), declaration, cube_op("fx_after"), version="0.3")
    site.plugin("good", cube_op("fx_cube"))
    message = one(load(gl.loader.host), "'sloppy'")
    assert "gl-fx-sloppy 0.3" in message and problem in message
    if kind != "not_an_op":
        assert "malformed op 'fx_bad'" in message
    assert {"fx_before", "fx_after", "fx_cube"} <= set(dir(gl.ops)) and "fx_bad" not in gl.ops
    record = gl.loader.host.records["sloppy"]
    assert record.status == "loaded" and record.ops == ["fx_before", "fx_after"]
    assert len(record.problems) == 1


def test_malformed_op_under_strict_mode_fails_the_plugin(site, monkeypatch):
    site.plugin("sloppy", MALFORMED["no_forward"][0])
    monkeypatch.setenv("GRADLEDGER_STRICT_PLUGINS", "1")
    with pytest.raises(gl.PluginLoadError, match=r"(?s)'sloppy'.*malformed op 'fx_bad'.*forward"):
        gl.loader.host.lookup("add")


# -- a rule breaking the contract at run time ---------------------------------------------


CONTRACT_BREAKS = {
    "wrong_count": ("vjp=lambda g, x, out: (g, g)",
                    r"must return a tuple of 1 \(one per input\); got a tuple of 2"),
    "wrong_shape": ("vjp=lambda g, x, out: (g.sum(),)",
                    r"expected an array of the input's shape \(3,\)"),
    "local_not_broadcasting": ("local_grad=lambda x, out: (np.ones(5),)",
                               r"local_grad for input 1 is ndarray of shape \(5,\)"),
}


@pytest.mark.parametrize("kind", CONTRACT_BREAKS)
def test_rule_breaking_the_contract_names_the_op_and_its_distribution(site, kind):
    rule, expected = CONTRACT_BREAKS[kind]
    site.plugin("liar", f"Op('fx_liar', np.sin, {rule}, signature='()->()')", version="4.2")
    x = gl.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = gl.fx_liar(x)
    with pytest.raises(gl.OpRuleError) as raised:
        y.backward(np.ones(3))
    message = str(raised.value)
    assert "op 'fx_liar' (plugin 'liar', gl-fx-liar 4.2)" in message
    assert raised.match(expected)


# -- threads ------------------------------------------------------------------------------------


def test_loading_from_many_threads_at_once_loads_each_plugin_exactly_once(site):
    site.plugin("slow", cube_op("fx_slow"), preamble="""
        import time
        CALLS = []
        _register = lambda registry, op: (CALLS.append(1), time.sleep(0.05), registry.register(op))
    """.replace("\n        ", "\n"))
    # The hook sleeps between being called and registering, so a thread that did not wait
    # for loading to finish would find no 'fx_slow'.
    module_source = (site.root / "gl_fx_slow.py").read_text().replace(
        "registry.register(Op(", "_register(registry, Op(")
    (site.root / "gl_fx_slow.py").write_text(module_source)
    barrier, results = threading.Barrier(8), []

    def first_lookup():
        barrier.wait()
        try:
            results.append(gl.loader.host.lookup("fx_slow").name)
        except Exception as error:  # collected, so the assertion below shows it
            results.append(repr(error))

    threads = [threading.Thread(target=first_lookup) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == ["fx_slow"] * 8
    assert len(sys.modules["gl_fx_slow"].CALLS) == 1


# -- discovery ------------------------------------------------------------------------------


def test_discovery_reading_dist_info_finds_what_importlib_metadata_finds(site, tmp_path,
                                                                          monkeypatch):
    from gradledger.loader import _from_importlib_metadata, _scan_path

    site.install("gl-fx-attr", "1.0", {"attr": "gl_fx_attr:Plugin [speedups]"},
                 {"gl_fx_attr": "from gradledger.extend import hookimpl\n"
                                "class Plugin:\n"
                                "    @hookimpl\n"
                                "    def gradledger_register_ops(registry): pass\n"})
    egg = site.root / "gl_fx_egg.egg-info"
    egg.mkdir()
    (egg / "PKG-INFO").write_text("Metadata-Version: 1.1\nName: gl.fx.Egg\nVersion: 0.5\n")
    (egg / "entry_points.txt").write_text("# comment\n[console_scripts]\negg = x:y\n\n"
                                          "[gradledger]\negg = gl_fx_egg\n")
    shadowed = tmp_path / "later_on_path"
    write_dist(shadowed, "gl-fx-attr", "0.1", {"attr_old": "gl_fx_attr_old"})
    monkeypatch.setattr(sys, "path", [*sys.path, str(shadowed)])
    assert set(_scan_path()) == set(_from_importlib_metadata())
    found = {ep.name: ep for ep in _scan_path()}
    assert (found["egg"].distribution, found["egg"].version) == ("gl.fx.Egg", "0.5")
    assert found["attr"].value == "gl_fx_attr:Plugin" and "attr_old" not in found
    assert found["attr"].load().__name__ == "Plugin"


def test_discovery_falls_back_to_importlib_metadata_with_a_zip_on_sys_path(site, tmp_path,
                                                                            monkeypatch):
    import zipfile

    from gradledger import loader

    site.plugin("good", cube_op("fx_cube"))
    archive = tmp_path / "app.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("gl_fx_zipped.py", "")
    monkeypatch.setattr(sys, "path", [*sys.path, str(archive)])
    assert not loader._plain_path()
    assert load(gl.loader.host) == [] and "fx_cube" in gl.ops
