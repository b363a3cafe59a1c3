"""The verifier's limits: memory per op in a worker, failures that stay small while
hypothesis shrinks them, and a target phase that ends."""

import json
import os
import subprocess
import sys
import weakref

import gradledger as gl
import gradledger.extend  # noqa: F401 (gl.extend)
import pytest
from gradledger.verify import FAIL, PASS, engine
from gradledger.verify.engine import parse_size, verify_all, verify_op

HOGS = '''
import os, signal
import numpy as np
from gradledger.extend import Op, hookimpl

def hog(x):
    block = np.ones(1 << 27, dtype=np.uint8)  # 128 MiB, every page touched
    return x * float(block[-1])

def killed(x):
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's out-of-memory killer does

def ones(x, out):
    return (np.ones_like(x),)

@hookimpl
def gradledger_register_ops(registry):
    registry.register(Op("mem_hog", hog, local_grad=ones, signature="()->()"))
    registry.register(Op("mem_killed", killed, local_grad=ones, signature="()->()"))
    registry.register(Op("mem_cube", lambda x: x ** 3, local_grad=lambda x, out: (3 * x * x,),
                         signature="()->()"))
'''
SMALL = 48 * 2**20
"""A memory limit the 128 MiB of mem_hog exceeds, and the verifier's own work does not."""


@pytest.fixture
def hogs(fresh_host, tmp_path, monkeypatch):
    (tmp_path / "memory_hogs.py").write_text(HOGS)
    monkeypatch.syspath_prepend(str(tmp_path))
    import memory_hogs

    gl.register_plugin(memory_hogs)
    yield
    sys.modules.pop("memory_hogs", None)


def test_an_op_that_needs_more_than_the_memory_limit_fails_with_the_example(hogs):
    reports = verify_all(["mem_hog", "mem_cube"], examples=3, workers=1, progress=False,
                         memory_limit=SMALL)
    assert [(r.op, r.status) for r in reports] == [("mem_cube", PASS), ("mem_hog", FAIL)]
    failure = reports[1].failure
    assert failure.check == "memory"
    assert failure.message.startswith("used more than 0.0469 GiB, the memory limit of a "
                                      "worker per op, while checking example 1 (x1 float64[]")
    assert "--memory-limit" in failure.message


def test_the_same_op_passes_without_a_memory_limit(hogs):
    [report] = verify_all(["mem_hog"], examples=3, workers=1, progress=False,
                          memory_limit=None)
    assert report.status == PASS


def test_a_worker_killed_by_a_signal_says_it_may_have_run_out_of_memory(hogs):
    [report] = verify_all(["mem_killed"], examples=3, workers=1, progress=False,
                          memory_limit=SMALL)
    assert report.status == FAIL and report.failure.check == "crash"
    assert "killed by SIGKILL" in report.failure.message
    assert "or it ran out of memory: a worker may use 0.0469 GiB per op" in \
        report.failure.message


def test_a_memory_error_in_process_fails_the_op_at_once_without_shrinking(fresh_host):
    calls = []

    class Hungry:
        @gl.extend.hookimpl
        def gradledger_register_ops(self, registry):
            def forward(x):
                calls.append(1)
                raise MemoryError("Unable to allocate 1.00 TiB")

            registry.register(gl.extend.Op("hungry", forward, local_grad=lambda x, out: (x,),
                                           signature="()->()"))

    gl.register_plugin(Hungry(), name="hungry")
    report = verify_op("hungry", examples=50)
    assert report.status == FAIL and report.failure.check == "memory"
    assert report.failure.message == ("ran out of memory while checking example 1 (x1 "
                                      "float64[]): the op raised MemoryError: Unable to "
                                      "allocate 1.00 TiB")
    assert len(calls) == 1  # not shrunk, not replayed: the first example ends the run


def test_cli_memory_limit_fails_the_hog_and_writes_table_and_json(tmp_path):
    from plugin_fixtures import write_dist

    site = tmp_path / "site"
    write_dist(site, "memory-hogs", "1.0", {"hogs": "memory_hogs"}, {"memory_hogs": HOGS})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [
        str(site), os.environ.get("PYTHONPATH")])), "GRADLEDGER_CACHE_DIR": str(tmp_path / "c")}
    out = tmp_path / "report.json"
    run = subprocess.run(
        [sys.executable, "-m", "gradledger.cli", "verify", "mem_hog", "mem_cube",
         "--examples", "3", "--workers", "1", "--memory-limit", "48M", "--json", str(out)],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert run.returncode == 1, run.stdout + run.stderr
    rows = {line.split()[0]: line for line in run.stdout.splitlines()
            if line.startswith("mem_")}
    assert rows["mem_hog"].endswith("FAIL (memory)") and rows["mem_cube"].endswith("PASS")
    document = json.loads(out.read_text())
    assert document["run"]["memory_limit"] == SMALL
    by_op = {entry["op"]: entry for entry in document["ops"]}
    assert "used more than 0.0469 GiB" in by_op["mem_hog"]["failure"]["message"]


@pytest.mark.parametrize("text, size", [("4G", 4 * 2**30), ("4GiB", 4 * 2**30),
                                        ("512m", 512 * 2**20), ("1.5g", 3 * 2**29),
                                        ("1024", 1024), ("0", None), ("none", None)])
def test_memory_sizes_read_as_people_write_them(text, size):
    assert parse_size(text) == size


def test_cli_refuses_a_malformed_memory_limit(capsys):
    from gradledger.cli import main

    with pytest.raises(SystemExit) as stop:
        main(["verify", "relu", "--memory-limit", "lots"])
    assert stop.value.code == 2
    assert "expected a size such as 4G, 512M" in capsys.readouterr().err


# -- failures stay small while hypothesis shrinks them ---------------------------------


def test_only_the_latest_failures_keep_their_arrays_while_shrinking(fresh_host, monkeypatch):
    """Hypothesis keeps every failing example it tries (with its exception) while it shrinks;
    with large arrays that grew past 20 GiB. At most KEEP_FAILURES keep their arrays."""
    class Wrong:
        @gl.extend.hookimpl
        def gradledger_register_ops(self, registry):
            registry.register(gl.extend.Op("wrong_square", lambda x: x * x,
                                           vjp=lambda g, x, out: (3 * x * g,),
                                           signature="(*)->(*)"))

    gl.register_plugin(Wrong(), name="wrong")
    monkeypatch.setattr(engine, "KEEP_FAILURES", 2)
    made = weakref.WeakSet()
    most = [0]
    created = [0]
    init = engine.Counterexample.__init__

    def counting(self, failure):
        init(self, failure)
        made.add(self)
        created[0] += 1
        whole = sum(1 for c in list(made) if c.failure.inputs)
        most[0] = max(most[0], whole)

    monkeypatch.setattr(engine.Counterexample, "__init__", counting)
    report = verify_op("wrong_square", examples=50)
    assert report.status == FAIL
    assert created[0] > 2 + 4  # shrinking tried many failing examples
    assert most[0] <= 2
    assert report.failure.inputs and report.failure.snippet  # the report is whole


# -- the target phase ends --------------------------------------------------------------


class Runner:
    """Hypothesis's `optimise_targets` loop, cut down: a pass, then `pareto_optimise` after
    a pass that improved nothing, then the end only if the pass made no test call."""

    def __init__(self, valid_passes: int) -> None:
        self.valid_test_cases = 0
        self.call_count = 0
        self.passes = 0
        self.valid_passes = valid_passes

    def pareto_optimise(self) -> None:
        pass

    def optimise_targets(self) -> bool:
        while True:
            prev_calls = self.call_count
            self.passes += 1
            assert self.passes < 1000, "the target phase did not end"
            self.call_count += 1  # an example that overruns, retried on every pass
            if self.passes <= self.valid_passes:
                self.valid_test_cases += 1
            self.pareto_optimise()
            if prev_calls == self.call_count:
                break
        return True


@pytest.fixture
def verifying(monkeypatch):
    monkeypatch.setattr(engine, "_running", 1)
    monkeypatch.setattr(Runner, "optimise_targets",
                        engine.bounded_optimise(Runner.optimise_targets))


def test_a_target_pass_that_runs_no_valid_example_ends_the_target_phase(verifying):
    runner = Runner(valid_passes=0)
    assert runner.optimise_targets() is False
    assert runner.passes == 2
    assert "pareto_optimise" not in vars(runner)  # the runner is left as it was


def test_target_passes_go_on_while_they_run_valid_examples(verifying):
    runner = Runner(valid_passes=3)
    runner.optimise_targets()
    assert runner.passes == 4  # three that ran valid examples, one that did not


def test_hypothesis_loop_is_untouched_outside_the_verifier(monkeypatch):
    monkeypatch.setattr(Runner, "optimise_targets",
                        engine.bounded_optimise(Runner.optimise_targets))
    runner = Runner(valid_passes=0)
    with pytest.raises(AssertionError, match="did not end"):
        runner.optimise_targets()


def test_the_bound_is_installed_on_hypothesis_runner():
    from hypothesis.internal.conjecture.engine import ConjectureRunner

    assert getattr(ConjectureRunner.optimise_targets, "_gradledger", False)
