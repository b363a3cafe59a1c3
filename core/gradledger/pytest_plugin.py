"""pytest plugin: `pytest --gradledger-verify` adds one test per registered op.

Registered through the `pytest11` entry point named after this module's path, so
that a conftest naming it (`pytest_plugins = ["gradledger.pytest_plugin"]`) does
not register it twice. Options, in the `gradledger` group:

    --gradledger-verify           add a test `gradledger::verify[OP]` per registered op
    --gradledger-plugin NAME      only the ops of plugin NAME, an entry-point or distribution
                                  name (what a plugin's CI wants)
    --gradledger-examples N       examples per op (default: the CLI's 200, or the
                                  max_examples of a profile chosen with --hypothesis-profile
                                  or $HYPOTHESIS_PROFILE)
    --gradledger-time-limit S     seconds one op may take before its test fails (default
                                  $GRADLEDGER_VERIFY_TIME_LIMIT, else 600; 0: no limit)
    --gradledger-in-process       verify in pytest's own process, without isolation

Each op is verified in a worker process (one per pytest process, kept for the
session), so an op that segfaults, exits or hangs fails its own test and the
session goes on to fail, with every other op's test reported. The tests come in
sorted order on every run, so pytest-xdist (`-n auto`) spreads them over workers.
Nothing here imports gradledger's verifier or hypothesis until a hook needs it.
"""

from __future__ import annotations

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gradledger", "gradledger: verify the gradients of registered ops")
    group.addoption("--gradledger-verify", action="store_true", default=False,
                    help="add one test per registered op, checking its gradients against "
                    "the nudge method")
    group.addoption("--gradledger-plugin", metavar="NAME", default=None,
                    help="with --gradledger-verify: only the ops of this plugin")
    group.addoption("--gradledger-examples", metavar="N", type=int, default=None,
                    help="with --gradledger-verify: examples per op (default: as the CLI, "
                    "200, or the max_examples of a profile chosen by --hypothesis-profile "
                    "or $HYPOTHESIS_PROFILE)")
    group.addoption("--gradledger-time-limit", metavar="S", type=float, default=None,
                    help="with --gradledger-verify: seconds one op may take before its test "
                    "fails (default $GRADLEDGER_VERIFY_TIME_LIMIT, else 600; 0: no limit)")
    group.addoption("--gradledger-in-process", action="store_true", default=False,
                    help="with --gradledger-verify: verify in pytest's own process, without "
                    "isolation (a crashing op then ends the session)")


def pytest_unconfigure(config: pytest.Config) -> None:
    pool = getattr(config, "_gradledger_pool", None)
    if pool is not None:
        pool.close()


@pytest.hookimpl(tryfirst=True)  # before -k / -m deselect, so they can select our tests
def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config,
                                  items: list) -> None:
    if not config.getoption("gradledger_verify"):
        return
    try:
        from gradledger.verify.engine import select_ops
    except ImportError as error:
        raise pytest.UsageError(
            f"--gradledger-verify needs hypothesis ({error}): pip install 'gradledger[verify]'"
        ) from None

    plugin = config.getoption("gradledger_plugin")
    if plugin is not None:
        from gradledger.loader import host

        records = host.plugins_named(plugin)
        if not records:
            raise pytest.UsageError(f"--gradledger-plugin: {host.unknown_plugin(plugin)}")
        if all(record.status != "loaded" for record in records):
            record = records[0]
            raise pytest.UsageError(
                f"--gradledger-plugin: plugin {record.name!r} ({record.where}) is "
                f"{record.status}: {record.reason}; its ops are not loaded")
    ops = select_ops(plugin=plugin)
    if not ops:
        raise pytest.UsageError(
            f"--gradledger-verify: no registered op{f' from plugin {plugin!r}' if plugin else ''}"
            "; `gradledger plugins` lists every plugin and its ops"
        )
    parent = VerifyCollector.from_parent(session, name="gradledger", nodeid="gradledger")
    items.extend(OpVerification.from_parent(parent, name=f"verify[{op.name}]", op_name=op.name)
                 for op in ops)


class VerifyCollector(pytest.Collector):
    """The parent of the per-op tests (their node ids read `gradledger::verify[OP]`)."""

    def collect(self):  # the items are made in pytest_collection_modifyitems
        return []


class VerificationFailed(Exception):
    """The op failed or cannot be verified; carries the verifier's report."""

    def __init__(self, report) -> None:
        super().__init__(str(report))
        self.report = report


class OpVerification(pytest.Item):
    """One registered op, run through `gradledger.verify.verify_op`."""

    def __init__(self, *, op_name: str, **kwargs) -> None:
        super().__init__(**kwargs)
        self.op_name = op_name

    def runtest(self) -> None:
        __tracebackhide__ = True
        report = _verify(self.config, self.op_name)
        self.user_properties.append(("gradledger_report", report.to_dict()))
        if not report.ok:
            raise VerificationFailed(report)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, VerificationFailed):
            return str(excinfo.value.report)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"gradledger verify {self.op_name}"


def _examples(config: pytest.Config) -> int:
    """Examples per op: as asked, else a chosen profile's, else the CLI's default (200)."""
    asked = config.getoption("gradledger_examples")
    if asked is not None:
        if asked < 1:
            raise pytest.UsageError(f"--gradledger-examples: expected at least 1; got {asked}")
        return asked
    import os

    from hypothesis import settings

    chosen = getattr(config.option, "hypothesis_profile", None) or os.environ.get(
        "HYPOTHESIS_PROFILE")
    if chosen:
        return settings().max_examples  # hypothesis's own plugin has loaded that profile
    from gradledger.verify.cli import DEFAULT_EXAMPLES

    return DEFAULT_EXAMPLES


def pytest_terminal_summary(terminalreporter, exitstatus, config: pytest.Config) -> None:
    if config.getoption("gradledger_verify") and hasattr(config, "_gradledger_examples"):
        terminalreporter.write_line(
            f"gradledger verify: {config._gradledger_examples} examples per op")


def _verify(config: pytest.Config, name: str):
    """Verify op `name` in this session's worker process (started on first use), or here."""
    from gradledger.loader import host
    from gradledger.verify.engine import time_limit_setting, verify_op
    from gradledger.verify.progress import Progress
    from gradledger.verify.workers import Pool, Task, hand_plugins, in_process_note

    examples = config._gradledger_examples = _examples(config)
    if config.getoption("gradledger_in_process"):
        return verify_op(name, examples=examples)
    pool = getattr(config, "_gradledger_pool", None)
    if pool is None:
        from hypothesis import settings

        limit = config.getoption("gradledger_time_limit")
        limit = time_limit_setting() if limit is None else (limit or None)
        plugins, _ = hand_plugins(host)
        pool = config._gradledger_pool = Pool(1, examples=examples, seed=None,
                                              settings=settings(), time_limit=limit,
                                              plugins=plugins)
    op = host.lookup(name)
    quiet = Progress()
    quiet.start([op], {}, 1)
    done, local, unbuilt, notice = pool.run([Task(0, op)], quiet)
    if done:
        return done[0]
    report = verify_op(name, examples=examples)
    why = unbuilt.get(op.plugin) or hand_plugins(host)[1].get(op.plugin) or notice
    if why:
        report.notes.append(in_process_note(op.plugin, why) if not notice else notice)
    return report
