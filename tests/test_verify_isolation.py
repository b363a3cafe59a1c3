"""Worker processes: an op that segfaults, exits or hangs fails alone, and the run goes on."""

import json
import os
import subprocess
import sys

import gradledger as gl
import pytest
from gradledger.verify import FAIL, PASS
from gradledger.verify.engine import run_ops, select_ops, verify_all

CRASHING = '''
import ctypes, os, sys, time
import numpy as np
from gradledger.extend import Op, hookimpl

def segfault(x):
    ctypes.string_at(0)

def exit_zero(x):
    os._exit(0)

def sys_exit(x):
    sys.exit(3)

def hang(x):
    time.sleep(600)

def ones(x, out):
    return (np.ones_like(x),)

@hookimpl
def gradledger_register_ops(registry):
    for name, forward in [("cr_segfault", segfault), ("cr_exit_zero", exit_zero),
                          ("cr_sys_exit", sys_exit), ("cr_hang", hang)]:
        registry.register(Op(name, forward, local_grad=ones, signature="()->()"))
    registry.register(Op("cr_cube", lambda x: x ** 3, local_grad=lambda x, out: (3 * x * x,),
                         signature="()->()"))
'''
REASONS = {
    "cr_segfault": "killed by SIGSEGV",
    "cr_exit_zero": "exit status 0",
    "cr_sys_exit": "raised SystemExit(3)",
    "cr_hang": "time limit of 3 s",
}


@pytest.fixture
def crashing(tmp_path):
    """A site with distribution `crashing-ops` (entry point `crashing`) and an env using it."""
    from plugin_fixtures import write_dist

    site = tmp_path / "site"
    write_dist(site, "crashing-ops", "1.0", {"crashing": "crashing_ops"},
               {"crashing_ops": CRASHING})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(site), os.environ.get("PYTHONPATH")])), "GRADLEDGER_CACHE_DIR": str(tmp_path / "c")}
    env.pop("PYTEST_ADDOPTS", None)
    return env


def test_cli_fails_each_crashing_op_with_its_reason_and_writes_table_and_json(crashing,
                                                                              tmp_path):
    out = tmp_path / "report.json"
    run = subprocess.run(
        [sys.executable, "-m", "gradledger.cli", "verify", "--plugin", "crashing",
         "--examples", "5", "--time-limit", "3", "--workers", "2", "--json", str(out)],
        capture_output=True, text=True, env=crashing, cwd=tmp_path, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    rows = {line.split()[0]: line for line in run.stdout.splitlines()
            if line.startswith("cr_")}
    assert sorted(rows) == sorted([*REASONS, "cr_cube"])
    assert rows["cr_cube"].endswith("PASS")
    assert rows["cr_hang"].endswith("FAIL (timeout)")
    for name in ("cr_segfault", "cr_exit_zero", "cr_sys_exit"):
        assert rows[name].endswith("FAIL (crash)")
    document = json.loads(out.read_text())
    by_op = {entry["op"]: entry for entry in document["ops"]}
    cube = by_op["cr_cube"]
    assert cube["status"] == PASS and cube["examples"] + cube["repeats"] == 5
    for name, reason in REASONS.items():
        assert by_op[name]["status"] == FAIL
        assert reason in by_op[name]["failure"]["message"], by_op[name]["failure"]
        assert "example 1" in by_op[name]["failure"]["message"]
    assert "crashing_ops.py" in by_op["cr_segfault"]["failure"]["message"]  # its frames
    assert document["ok"] is False


def test_pytest_door_fails_each_crashing_op_and_the_session(crashing, tmp_path):
    junit = tmp_path / "junit.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--gradledger-verify",
         "--gradledger-plugin", "crashing", "--gradledger-examples", "5",
         "--gradledger-time-limit", "3", f"--junitxml={junit}"],
        capture_output=True, text=True, env=crashing, cwd=tmp_path, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "4 failed, 1 passed" in run.stdout
    for name, reason in REASONS.items():
        assert f"FAILED gradledger::verify[{name}]" in run.stdout
        assert reason in run.stdout
    assert junit.read_text().count("<testcase") == 5


def test_a_plugin_registered_by_hand_as_a_module_is_verified_in_a_worker(fresh_host, tmp_path,
                                                                         monkeypatch):
    (tmp_path / "by_hand_crash.py").write_text(CRASHING)
    monkeypatch.syspath_prepend(str(tmp_path))
    import by_hand_crash

    gl.register_plugin(by_hand_crash)
    # in this process the segfault would end the test run: only a worker survives it
    reports = verify_all(["cr_segfault", "cr_cube"], examples=5, workers=1, progress=False)
    assert [(r.op, r.status) for r in reports] == [("cr_cube", PASS), ("cr_segfault", FAIL)]
    assert "SIGSEGV" in reports[1].failure.message
    sys.modules.pop("by_hand_crash", None)


def test_a_plugin_object_that_cannot_be_pickled_is_verified_in_process_with_a_note(fresh_host):
    class Local:  # defined in a function: pickle cannot rebuild it in a worker
        @gl.extend.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.extend.Op("local_cube", lambda x: x ** 3,
                                           local_grad=lambda x, out: (3 * x * x,),
                                           signature="()->()"))

    gl.register_plugin(Local(), name="local")
    reports = verify_all(["local_cube", "relu"], examples=5, workers=1, progress=False)
    assert [(r.op, r.status) for r in reports] == [("local_cube", PASS), ("relu", PASS)]
    assert any("without isolation" in note and "'local'" in note for note in reports[0].notes)
    assert not any("without isolation" in note for note in reports[1].notes)


def test_sys_exit_in_an_op_fails_that_op_in_process_too(fresh_host):
    class Exits:
        @gl.extend.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.extend.Op("exits", lambda x: sys.exit(4),
                                           local_grad=lambda x, out: (x,), signature="()->()"))

    gl.register_plugin(Exits(), name="exits")
    reports = verify_all(["exits", "relu"], examples=5, workers=0, progress=False)
    assert [r.status for r in reports] == [FAIL, PASS]
    assert "SystemExit(4)" in reports[0].failure.message


def _verdicts(reports):
    return [{k: v for k, v in r.to_dict().items() if k != "seconds"} for r in reports]


def test_two_workers_give_the_serial_reports_with_the_same_seed(fresh_host):
    names = ["matmul", "relu", "sum", "log", "maximum", "moveaxis"]
    serial = verify_all(names, examples=15, seed=7, workers=1, progress=False)
    parallel = verify_all(names, examples=15, seed=7, workers=2, progress=False)
    assert _verdicts(parallel) == _verdicts(serial)
    assert [r.op for r in parallel] == sorted(names)
    # in this process hypothesis also mines the test modules for constants to draw, so
    # the examples may differ; the verdicts may not
    here = verify_all(names, examples=15, seed=7, workers=0, progress=False)
    assert [r.status for r in here] == [r.status for r in serial] == [PASS] * len(names)


def test_ops_run_longest_first_from_earlier_durations(fresh_host, tmp_path, monkeypatch):
    monkeypatch.setenv("GRADLEDGER_CACHE_DIR", str(tmp_path))
    ops = select_ops(["exp", "log", "relu", "sum"])
    v = gl.__version__  # the built-ins' distribution is gradledger itself
    per_example = {f"log|builtin|{v}": 0.5, f"relu|builtin|{v}": 0.01,
                   f"exp|builtin|{v}": 0.2}  # sum never ran: it goes first
    (tmp_path / "durations.json").write_text(json.dumps({"per_example": per_example}))
    began = []
    run_ops(ops, examples=3, workers=1, progress=lambda i, n, op, report: report is None
            and began.append(op.name))
    assert began == ["sum", "log", "exp", "relu"]
    saved = json.loads((tmp_path / "durations.json").read_text())["per_example"]
    assert set(saved) == set(per_example) | {f"sum|builtin|{v}"}


def test_shards_split_the_ops_into_disjoint_parts_that_cover_them(fresh_host):
    from gradledger.verify.engine import shard_ops

    ops = select_ops()
    parts = [[op.name for op in shard_ops(ops, (k, 3))] for k in (1, 2, 3)]
    assert sorted(sum(parts, [])) == sorted(op.name for op in ops)
    assert all(abs(len(a) - len(b)) <= 1 for a in parts for b in parts)
    with pytest.raises(ValueError, match="1 <= K <= N"):
        shard_ops(ops, (4, 3))


def test_the_cli_keeps_hypothesis_storage_out_of_the_working_folder(tmp_path):
    env = {**os.environ, "GRADLEDGER_CACHE_DIR": str(tmp_path / "cache")}
    env.pop("HYPOTHESIS_STORAGE_DIRECTORY", None)
    work = tmp_path / "work"
    work.mkdir()
    run = subprocess.run([sys.executable, "-m", "gradledger.cli", "verify", "relu", "exp",
                          "--examples", "5"], capture_output=True, text=True, env=env, cwd=work)
    assert run.returncode == 0, run.stderr
    assert list(work.iterdir()) == []
    # whatever hypothesis stores (it may store nothing: no database, and some versions keep
    # no constants on disk) is under the cache folder, never in a .hypothesis of its own
    assert [p for p in tmp_path.rglob("*hypothesis*") if "cache" not in p.parts] == []
    assert (tmp_path / "cache" / "durations.json").is_file()



# -- the CLI's edges ---------------------------------------------------------------------


def test_cli_under_strict_plugins_exits_2_with_one_line_for_a_broken_plugin(site, monkeypatch,
                                                                            capsys):
    from gradledger.cli import main

    site.install("gl-fx-broken", entry_points={"broken": "gl_fx_broken"},
                 modules={"gl_fx_broken": "raise ImportError('no such library: libfoo')\n"})
    monkeypatch.setenv("GRADLEDGER_STRICT_PLUGINS", "1")
    assert main(["verify", "relu", "--examples", "3"]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert len(err.strip().splitlines()) == 1
    assert "'broken'" in err and "libfoo" in err and "GRADLEDGER_STRICT_PLUGINS" in err


def test_cli_refuses_zero_examples_as_a_usage_error(capsys):
    from gradledger.cli import main

    with pytest.raises(SystemExit) as exited:
        main(["verify", "relu", "--examples", "0"])
    assert exited.value.code == 2
    assert "at least 1" in capsys.readouterr().err


def test_cli_finds_an_unwritable_json_path_before_the_run_starts(fresh_host, tmp_path, capsys):
    from gradledger.cli import main

    path = tmp_path / "no-such-folder" / "report.json"
    assert main(["verify", "relu", "--json", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == "" and "relu ..." not in err  # nothing was verified
    assert str(path) in err and "No such file or directory" in err


def test_cli_refuses_a_malformed_shard_or_worker_count(capsys):
    from gradledger.cli import main

    for argv in (["--shard", "3/2"], ["--shard", "x"], ["--workers", "-1"]):
        with pytest.raises(SystemExit) as exited:
            main(["verify", "relu", *argv])
        assert exited.value.code == 2
    assert "1 <= K <= N" in capsys.readouterr().err


def test_where_no_worker_can_start_the_ops_are_verified_here_with_a_warning(fresh_host,
                                                                            monkeypatch):
    from gradledger.verify import workers

    monkeypatch.setattr(workers.sys, "executable", "/no/such/python")
    with pytest.warns(RuntimeWarning, match="no worker process could start.*/no/such/python"):
        reports = verify_all(["relu", "exp"], examples=5, workers=2, progress=False)
    assert [(r.op, r.status, r.examples) for r in reports] == [("exp", PASS, 5),
                                                               ("relu", PASS, 5)]
