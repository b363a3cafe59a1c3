"""The verifier's three doors: the CLI, the pytest plugin, and the lazy Python package."""

import json
import os
import subprocess
import sys
from pathlib import Path

import gradledger as gl
import gradledger_builtin
import numpy as np
import wrong_ops
from gradledger.cli import main

TESTS = Path(__file__).parent
BUILTINS = [op for family in gradledger_builtin.FAMILIES for op in family.OPS]
EXAMPLE_OPS = __import__("gradledger_example_ops.ops", fromlist=["OPS"]).OPS


def test_cli_prints_a_table_and_exits_0_when_every_op_passes(fresh_host, capsys):
    assert main(["verify", "relu", "matmul", "--examples", "10"]) == 0
    out, err = capsys.readouterr()
    assert "worst err/tol" in out and "status" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("relu", "matmul"))]
    assert [row[0] for row in rows] == ["matmul", "relu"]
    assert all(row[1:3] == ["builtin", "10"] and row[-1] == "PASS" for row in rows)
    assert "[1/2] matmul ..." in err and "[2/2] relu ..." in err  # progress while it runs


def test_cli_exits_1_and_prints_the_counterexample_when_an_op_fails(fresh_host, capsys):
    gl.register_plugin(wrong_ops)
    assert main(["verify", "wrong_sign", "tanh", "--examples", "50"]) == 1
    out = capsys.readouterr().out
    assert "FAIL (directional)" in out and "reproduce" in out
    assert "gl.ops.wrong_sign(x1)" in out


def test_cli_plugin_option_narrows_to_one_plugins_ops(fresh_host, capsys):
    gl.register_plugin(wrong_ops)
    assert main(["verify", "--plugin", "example", "--examples", "3"]) == 0
    out = capsys.readouterr().out
    assert "wrong_" not in out and "transpose" not in out and "gelu" in out


def test_cli_plugin_option_takes_the_distribution_name_too(fresh_host, capsys):
    assert main(["verify", "--plugin", "gradledger-example-ops", "--examples", "3"]) == 0
    out = capsys.readouterr().out
    assert "gelu" in out and "transpose" not in out


def test_cli_refuses_an_unknown_plugin_with_a_close_match_and_status_2(fresh_host, capsys):
    assert main(["verify", "--plugin", "exmple"]) == 2
    err = capsys.readouterr().err
    assert "no plugin or distribution named 'exmple'" in err and "'example'" in err


def test_cli_reports_a_blocked_plugin_as_blocked(fresh_host, monkeypatch, capsys):
    monkeypatch.setenv("GRADLEDGER_BLOCK_PLUGINS", "example")
    assert main(["verify", "--plugin", "example"]) == 2
    err = capsys.readouterr().err
    assert "plugin 'example'" in err and "is blocked" in err and "GRADLEDGER_BLOCK_PLUGINS" in err


def test_cli_help_documents_the_exit_statuses(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["verify", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "0 every op passed; 1 an op failed" in out and "2 the verifier could not run" in out


def test_cli_writes_table_and_json_when_a_forward_raises_at_sampled_points(fresh_host,
                                                                         tmp_path, capsys):
    def picky_log(x):
        if np.any(x <= 0):  # forgot to declare domain=((0, None),)
            raise ValueError("log of a non-positive number")
        return np.log(x)

    class Picky:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op("picky_log", picky_log, local_grad=lambda x, out: (1 / x,),
                                    signature="()->()"))

    gl.register_plugin(Picky(), name="picky")
    path = tmp_path / "report.json"
    assert main(["verify", "picky_log", "tanh", "--examples", "30", "--json", str(path)]) == 1
    out = capsys.readouterr().out
    assert "picky_log" in out and "FAIL (forward)" in out and "tanh" in out
    by_op = {entry["op"]: entry for entry in json.loads(path.read_text())["ops"]}
    assert by_op["tanh"]["status"] == "PASS"
    assert "raised" in by_op["picky_log"]["failure"]["message"]


def test_cli_exits_1_for_an_unverifiable_op(fresh_host, capsys):
    class Plugin:
        @gl.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.Op("scale_by", lambda x, factor: x * factor,
                                    vjp=lambda g, x, out, factor: (g * factor,),
                                    signature="(*)->(*)"))

    gl.register_plugin(Plugin(), name="by_hand")
    assert main(["verify", "scale_by"]) == 1
    assert "UNVERIFIABLE" in capsys.readouterr().out


def test_cli_refuses_an_unknown_op_with_status_2(fresh_host, capsys):
    assert main(["verify", "no_such_op"]) == 2
    assert "no op named 'no_such_op'" in capsys.readouterr().err


def test_cli_writes_a_machine_readable_json_report(fresh_host, tmp_path, capsys):
    gl.register_plugin(wrong_ops)
    path = tmp_path / "report.json"
    assert main(["verify", "exp", "wrong_factor_two", "--examples", "20", "--seed", "3",
                 "--json", str(path)]) == 1
    document = json.loads(path.read_text())
    assert document["summary"] == {"PASS": 1, "FAIL": 1, "UNVERIFIABLE": 0}
    assert document["settings"]["seed"] == 3 and document["ok"] is False
    by_op = {entry["op"]: entry for entry in document["ops"]}
    exp = by_op["exp"]
    assert exp["status"] == "PASS" and exp["examples"] + exp["repeats"] == 20
    failure = by_op["wrong_factor_two"]["failure"]
    assert failure["check"] == "directional" and failure["worst_element"]["input"] == 1
    assert "gl.ops.wrong_factor_two" in failure["snippet"]


def test_importing_gradledger_and_its_verifier_imports_neither_hypothesis_nor_pytest():
    code = ("import sys, gradledger as gl; gl.verify.nudge_grad(lambda x: x * x, 5.0); "
            "gl.verify.gradcheck(lambda x: x * x, 5.0); "
            "print(sorted(m for m in ('hypothesis', 'pytest') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


CONFTEST = f"""
import sys
sys.path.insert(0, {str(TESTS)!r})
import gradledger, wrong_ops
from hypothesis import settings
from gradledger.verify import register_profiles

register_profiles()
settings.load_profile("ci")


def pytest_configure(config):
    gradledger.register_plugin(wrong_ops)
"""


def _pytest(tmp_path, *args):
    (tmp_path / "conftest.py").write_text(CONFTEST)
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args],
                          cwd=tmp_path, capture_output=True, text=True, env=env)


def test_pytest_plugin_adds_one_test_per_op_in_sorted_order_only_when_asked(tmp_path,
                                                                           fresh_host):
    gl.register_plugin(wrong_ops)
    listed = _pytest(tmp_path, "--gradledger-verify", "--collect-only", "-q").stdout
    ids = [line for line in listed.splitlines() if line.startswith("gradledger::verify[")]
    assert ids == [f"gradledger::verify[{op.name}]" for op in fresh_host.registry]
    assert "gradledger::verify[" not in _pytest(tmp_path, "--collect-only", "-q").stdout


def test_pytest_plugin_fails_a_wrong_op_with_its_report(tmp_path):
    run = _pytest(tmp_path, "--gradledger-verify", "--gradledger-plugin", "wrong_ops",
                  "-k", "factor_two or square_only", "-q")
    assert run.returncode == 1, run.stdout
    assert "2 failed" in run.stdout and "reproduce" in run.stdout
    assert "FAILED gradledger::verify[wrong_factor_two]" in run.stdout
    assert "pytest_plugin.py" not in run.stdout  # __tracebackhide__: no frames of ours


def test_pytest_plugin_spreads_over_xdist_workers(tmp_path):
    run = _pytest(tmp_path, "-n", "2", "--gradledger-verify", "--gradledger-plugin",
                  "gradledger-example-ops", "--gradledger-examples", "5", "-q")
    assert run.returncode == 0, run.stdout + run.stderr
    assert f"{len(EXAMPLE_OPS)} passed" in run.stdout


def test_pytest_door_runs_the_clis_200_examples_unless_told_and_says_how_many(tmp_path,
                                                                            monkeypatch):
    monkeypatch.delenv("HYPOTHESIS_PROFILE", raising=False)
    default = _pytest(tmp_path, "--gradledger-verify", "-k", "verify[exp]", "-q")
    assert default.returncode == 0, default.stdout + default.stderr
    assert "gradledger verify: 200 examples per op" in default.stdout
    told = _pytest(tmp_path, "--gradledger-verify", "-k", "verify[exp]",
                   "--gradledger-examples", "7", "-q")
    assert "gradledger verify: 7 examples per op" in told.stdout
