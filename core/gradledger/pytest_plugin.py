"""pytest plugin: `pytest --gradledger-verify` adds one test per registered op.

Registered through the `pytest11` entry point named after this module's path, so
that a conftest naming it (`pytest_plugins = ["gradledger.pytest_plugin"]`) does
not register it twice. Options, in the `gradledger` group:

    --gradledger-verify           add a test `gradledger::verify[OP]` per registered op
    --gradledger-plugin NAME      only the ops of plugin NAME, an entry-point or distribution
                                  name (what a plugin's CI wants)
    --gradledger-examples N       examples per op (default: the hypothesis profile's)

The tests come in sorted order on every run, so pytest-xdist (`-n auto`) spreads
them over workers. Nothing here imports gradledger's verifier or hypothesis until
a hook needs it.
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
                    help="with --gradledger-verify: examples per op (default: the hypothesis "
                    "profile's max_examples)")


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
        from gradledger.verify import verify_op

        report = verify_op(self.op_name,
                           examples=self.config.getoption("gradledger_examples"))
        self.user_properties.append(("gradledger_report", report.to_dict()))
        if not report.ok:
            raise VerificationFailed(report)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, VerificationFailed):
            return str(excinfo.value.report)
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, None, f"gradledger verify {self.op_name}"
