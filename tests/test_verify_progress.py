"""The progress display: a bar on a terminal, plain lines in a log, a notebook's output area."""

import io
import sys
import types

import pytest
from gradledger.verify import progress
from gradledger.verify.report import FAIL, PASS, Failure, OpReport

A, B = types.SimpleNamespace(name="alpha"), types.SimpleNamespace(name="beta")


def report(op, status=PASS, examples=5, seconds=0.25):
    made = OpReport(op.name, "fx", "fx", "1.0", status, examples=examples, seconds=seconds)
    if status == FAIL:
        made.failure = Failure("crash", "the worker process verifying it died")
    return made


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_plain_lines_say_one_line_per_finished_op_in_the_logs_format():
    stream = io.StringIO()
    shown = progress.Lines(stream)
    shown.start([A, B], {}, 2)
    shown.begin(0, A)
    shown.begin(1, B)
    shown.done(1, B, report(B, FAIL, examples=0))
    shown.done(0, A, report(A))
    shown.finish()
    assert stream.getvalue().splitlines() == [
        "[2/2] beta ... FAIL (crash) (0 examples, 0.2 s)",
        "[1/2] alpha ... PASS (5 examples, 0.2 s)",
    ]
    assert "\r" not in stream.getvalue() and "\x1b" not in stream.getvalue()


def test_plain_lines_say_what_is_still_running_after_a_quiet_spell():
    stream = io.StringIO()
    shown = progress.Lines(stream, quiet=0.0)
    shown.start([A, B], {"alpha": 10.0, "beta": 30.0}, 1)
    shown.begin(0, A)
    shown.tick()
    line = stream.getvalue().strip()
    assert line.startswith("... 0/2 ops; checking alpha (")
    assert "left" in line


def test_the_bar_redraws_one_line_and_prints_ops_that_did_not_pass_above_it():
    stream = Terminal()
    shown = progress.Bar(stream)
    shown.start([A, B], {}, 1)
    shown.begin(0, A)
    assert stream.getvalue().startswith("\r\x1b[K[....................] 0/2 ops; checking alpha")
    shown.done(0, A, report(A, FAIL))
    shown.begin(1, B)
    shown.done(1, B, report(B))
    shown.finish()
    text = stream.getvalue()
    assert "\r\x1b[Kalpha ... FAIL (crash)\n" in text
    assert "[##########..........] 1/2 ops" in text
    assert "[####################] 2/2 ops" in text
    assert "beta ... PASS" not in text  # passing ops only move the bar
    assert text.endswith("\r\x1b[K")  # the bar is cleared at the end


def test_time_left_comes_from_earlier_durations_shared_over_the_workers():
    shown = progress.Progress()
    shown.start([A, B], {"alpha": 10.0, "beta": 30.0}, 2)
    assert shown.seconds_left() == pytest.approx(20.0)
    assert "about 20 s left" in shown.summary()
    shown.done(0, A, report(A, seconds=12.0))
    assert shown.seconds_left() == pytest.approx(30.0)  # one op left: one worker busy


def test_time_left_falls_back_on_the_ops_finished_so_far():
    shown = progress.Progress()
    shown.start([A, B], {}, 1)
    assert shown.seconds_left() is None and "left" not in shown.summary()
    shown.done(0, A, report(A, seconds=95.0))
    assert shown.seconds_left() == pytest.approx(95.0)
    assert "about 1 min 35 s left" in shown.summary()


def test_choose_gives_a_bar_on_a_terminal_lines_in_ci_and_silence_for_the_api(monkeypatch):
    monkeypatch.setattr(sys, "stderr", Terminal())
    monkeypatch.delenv("CI", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    assert type(progress.choose(None, log_lines=True)) is progress.Bar
    assert type(progress.choose(None, log_lines=False)) is progress.Bar
    monkeypatch.setenv("CI", "true")
    assert type(progress.choose(None, log_lines=True)) is progress.Lines
    assert type(progress.choose(None, log_lines=False)) is progress.Progress
    assert type(progress.choose(False, log_lines=True)) is progress.Progress
    calls = []
    shown = progress.choose(lambda *args: calls.append(args), log_lines=True)
    shown.start([A], {}, 1)
    shown.begin(0, A)
    assert calls == [(0, 1, A, None)]
    with pytest.raises(TypeError, match="expected None, False, a callable or a Progress"):
        progress.choose("yes", log_lines=True)


def test_a_notebook_gets_one_output_area_updated_in_place(monkeypatch):
    updates = []

    class Handle:
        def update(self, obj):
            updates.append(obj.data)

    class HTML:
        def __init__(self, data):
            self.data = data

    def display(obj, display_id=False):
        assert display_id is True
        updates.append(obj.data)
        return Handle()

    fake = types.ModuleType("IPython.display")
    fake.HTML, fake.display = HTML, display
    monkeypatch.setitem(sys.modules, "IPython.display", fake)
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    shown = progress.choose(None, log_lines=False)
    assert type(shown) is progress.Notebook
    shown.start([A, B], {}, 1)
    shown.begin(0, A)
    shown.done(0, A, report(A))
    shown.finish()
    assert updates[0].startswith("<progress value='0' max='2'></progress>")
    assert updates[-1].startswith("<progress value='1' max='2'></progress> <code>1/2 ops")
