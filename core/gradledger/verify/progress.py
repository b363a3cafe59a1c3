"""How a run shows its progress: a live bar in a terminal, plain lines in a log, a notebook cell.

    Bar       a terminal (stderr is a TTY, not CI): one line redrawn in place — ops done,
              the op(s) being checked, time left; a line above it for each op that did
              not pass
    Lines     a log (not a TTY, or $CI set): one line per finished op, and a line saying
              what is still running when nothing finished for `quiet` seconds
    Notebook  Jupyter: one output area updated in place (IPython's display, no widgets)
    Callback  the older `progress(index, total, op, report)` callable

No progress library: the bar is one redrawn line, and what tqdm or rich would add (a
widget front end, colour) costs a dependency for every user of a small verifier.
Time left comes from the durations of earlier runs (see `cache`), or, for ops never
timed, from the ops finished so far.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Callable


class Progress:
    """Receives a run's events; shows nothing. Subclasses show them."""

    def start(self, ops: list, estimates: dict, workers: int) -> None:
        self.ops, self.estimates, self.workers = ops, dict(estimates), max(1, workers)
        self.total = len(ops)
        self.running: dict[int, tuple[object, float]] = {}
        self.finished: dict[int, float] = {}
        self.began = time.monotonic()

    def begin(self, index: int, op) -> None:
        self.running[index] = (op, time.monotonic())

    def done(self, index: int, op, report) -> None:
        self.running.pop(index, None)
        self.finished[index] = report.seconds

    def tick(self) -> None:
        """Called about twice a second while ops run."""

    def finish(self) -> None:
        """The run is over."""

    # what the displays say

    def seconds_left(self) -> float | None:
        """Time left, from the estimates (else the ops finished so far), over the workers."""
        known = [s for s in self.estimates.values() if s]
        fallback = None
        if known:
            fallback = sum(known) / len(known)
        elif self.finished:
            fallback = sum(self.finished.values()) / len(self.finished)
        if fallback is None:
            return None
        now, left = time.monotonic(), 0.0
        for index, op in enumerate(self.ops):
            if index in self.finished:
                continue
            guess = self.estimates.get(op.name) or fallback
            if index in self.running:
                guess = max(guess - (now - self.running[index][1]), 0.0)
            left += guess
        return left / min(self.workers, max(1, self.total - len(self.finished)))

    def checking(self) -> str:
        now = time.monotonic()
        return ", ".join(f"{op.name} ({now - since:.0f} s)"
                         for op, since in self.running.values())

    def summary(self) -> str:
        left = self.seconds_left()
        text = f"{len(self.finished)}/{self.total} ops"
        if self.running:
            text += f"; checking {self.checking()}"
        if left is not None and len(self.finished) < self.total:
            text += f"; about {duration(left)} left"
        return text


def duration(seconds: float) -> str:
    """12 s, 3 min 05 s, 1 h 02 min."""
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


def status(report) -> str:
    return report.row()[-1]


class Lines(Progress):
    """Plain lines for a log: one per finished op; what is running after `quiet` silent s."""

    def __init__(self, stream=None, quiet: float = 30.0) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.quiet = quiet

    def start(self, ops, estimates, workers) -> None:
        super().start(ops, estimates, workers)
        self.said = time.monotonic()

    def done(self, index, op, report) -> None:
        super().done(index, op, report)
        width = len(str(self.total))
        self._say(f"[{index + 1:>{width}}/{self.total}] {op.name} ... {status(report)} "
                  f"({report.examples} examples, {report.seconds:.1f} s)")

    def tick(self) -> None:
        if self.running and time.monotonic() - self.said >= self.quiet:
            self._say(f"... {self.summary()}")

    def _say(self, line: str) -> None:
        print(line, file=self.stream, flush=True)
        self.said = time.monotonic()


class Bar(Progress):
    """One line redrawn in place on a terminal; ops that did not pass get a line above it."""

    def __init__(self, stream=None, every: float = 0.2) -> None:
        self.stream = stream if stream is not None else sys.stderr
        self.every = every
        self.drawn = 0.0

    def begin(self, index, op) -> None:
        super().begin(index, op)
        self._draw(force=True)

    def done(self, index, op, report) -> None:
        super().done(index, op, report)
        if not report.ok:
            self._write(f"\r\x1b[K{op.name} ... {status(report)}\n")
        self._draw(force=True)

    def tick(self) -> None:
        self._draw()

    def finish(self) -> None:
        self._write("\r\x1b[K")

    def line(self, width: int) -> str:
        done = len(self.finished)
        cells = 20
        filled = cells * done // max(1, self.total)
        text = f"[{'#' * filled}{'.' * (cells - filled)}] {self.summary()}"
        return text if len(text) < width else text[:max(0, width - 4)] + "..."

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.drawn < self.every:
            return
        self.drawn = now
        width = shutil.get_terminal_size((100, 20)).columns
        self._write(f"\r\x1b[K{self.line(width)}")

    def _write(self, text: str) -> None:
        self.stream.write(text)
        self.stream.flush()


class Notebook(Progress):
    """A Jupyter output area updated in place: a <progress> element and the summary."""

    def __init__(self, every: float = 0.5) -> None:
        self.every = every
        self.drawn = 0.0
        self.handle = None

    def start(self, ops, estimates, workers) -> None:
        from IPython.display import HTML, display

        super().start(ops, estimates, workers)
        self.HTML = HTML
        self.handle = display(HTML(self._html()), display_id=True)

    def begin(self, index, op) -> None:
        super().begin(index, op)
        self._draw(force=True)

    def done(self, index, op, report) -> None:
        super().done(index, op, report)
        self._draw(force=True)

    def tick(self) -> None:
        self._draw()

    def finish(self) -> None:
        self._draw(force=True)

    def _html(self) -> str:
        from html import escape

        return (f"<progress value='{len(self.finished)}' max='{self.total}'></progress> "
                f"<code>{escape(self.summary())}</code>")

    def _draw(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.handle is not None and (force or now - self.drawn >= self.every):
            self.drawn = now
            self.handle.update(self.HTML(self._html()))


class Callback(Progress):
    """The older contract: `fn(index, total, op, None)` before an op, `(..., report)` after."""

    def __init__(self, fn: Callable) -> None:
        self.fn = fn

    def begin(self, index, op) -> None:
        super().begin(index, op)
        self.fn(index, self.total, op, None)

    def done(self, index, op, report) -> None:
        super().done(index, op, report)
        self.fn(index, self.total, op, report)


def in_notebook() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


def terminal(stream) -> bool:
    """Whether `stream` is an interactive terminal a bar may redraw (not CI, not dumb)."""
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty()) and not os.environ.get("CI") \
        and os.environ.get("TERM") != "dumb"


def choose(progress, *, log_lines: bool) -> Progress:
    """The display for `progress`: a Progress, a callable (the older contract), False
    (nothing), or None: a notebook's display, a bar on a terminal's stderr, else plain
    lines if `log_lines` (the CLI) or nothing (the Python API)."""
    if isinstance(progress, Progress):
        return progress
    if progress is False:
        return Progress()
    if callable(progress):
        return Callback(progress)
    if progress is not None:
        raise TypeError(f"progress: expected None, False, a callable or a Progress; got "
                        f"{progress!r}")
    if in_notebook():
        return Notebook()
    if terminal(sys.stderr):
        return Bar()
    return Lines() if log_lines else Progress()
