"""Worker processes: each op is verified in a process of its own, so a crash is a finding.

A worker is a fresh interpreter (`python -m gradledger.verify.workers`, started with
`subprocess`, on every platform alike): it takes the parent's `sys.path` and
environment, loads the plugins from their entry points as the parent did, rebuilds
the plugins registered by hand (a module is imported again by name, any other object
is pickled), then verifies one op at a time and sends each report back. An op whose
worker dies (a signal such as SIGSEGV, `os._exit`, an exit from C), raises a
`BaseException` that is not an `Exception` (`sys.exit`, `KeyboardInterrupt`), runs
past the time limit, or needs more memory than the memory limit (RLIMIT_AS, set in the
worker: numpy's MemoryError, or the worker killed) FAILS with the reason, the example
it was checking when known, and the Python frames faulthandler saw; the worker is
replaced and the run goes on.

A plugin registered by hand that a worker cannot rebuild (a class defined inside a
function cannot be pickled), or an op a worker does not hold as the parent does, is
verified in the parent's own process instead, without isolation: the report's notes
say so. Why subprocess and not multiprocessing: spawn and forkserver re-import the
user's `__main__` in each worker (a script without `if __name__ == "__main__":` would
start workers without end); fork copies the parent's threads' locks and is unsafe.
"""

from __future__ import annotations

import faulthandler
import importlib
import os
import pickle
import queue
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import types
from dataclasses import dataclass, field
from pathlib import Path

from .report import FAIL, Failure, OpReport

_SETTING = object()
GRACE = 2.0
"""Seconds a timed-out worker gets to write where it was (faulthandler) before it is killed."""
SLOT = 400
"""At most this many characters describe the example being checked."""


def default_workers() -> int:
    """All the cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def describe(example) -> str:
    """A short description of a drawn example: each input's dtype and shape, the params."""
    arrays = getattr(example, "arrays", None)
    params = getattr(example, "params", None)
    if arrays is None:
        text = _short(example)
    else:
        inputs = ", ".join(f"x{i + 1} {_short(a)}" for i, a in enumerate(arrays))
        text = inputs + (f"; params {params!r}" if params else "")
    return text if len(text) <= SLOT else text[:SLOT - 3] + "..."


def _short(value) -> str:
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None:
        return f"{dtype}{list(shape)}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return repr(value)[:80]


def crash_report(op, check: str, message: str) -> OpReport:
    """The FAIL report of an op whose verification ended its process, or ran too long."""
    report = OpReport(op.name, op.plugin, op.distribution, op.version, FAIL)
    report.failure = Failure(check, message)
    return report


def raised_report(op, error: BaseException, where: str) -> OpReport:
    """An op whose code raised a BaseException that is not an Exception (sys.exit...)."""
    return crash_report(
        op, "crash", f"the op's code raised {type(error).__name__}({error!s}), which ends a "
        f"program (a BaseException that is not an Exception){_while(where)}")


def _while(where: str) -> str:
    return f", while checking {where}" if where else ""


# -- the plugins a worker must rebuild ---------------------------------------------------


def hand_plugins(host) -> tuple[list[tuple[str, str, object]], dict[str, str]]:
    """The plugins registered by hand, in registration order: `(name, how, what)` for each a
    worker can rebuild (`module`: its name; `pickle`: its bytes), and {name: why} for the
    others."""
    rebuildable, not_rebuildable = [], {}
    for record in list(host.records.values()):
        if record.status != "loaded" or record.distribution is not None:
            continue
        plugin = host.manager.get_plugin(record.name)
        if isinstance(plugin, types.ModuleType):
            name = plugin.__name__
            if name == "__main__" or getattr(plugin, "__spec__", None) is None:
                not_rebuildable[record.name] = f"module {name!r} cannot be imported again by name"
            else:
                rebuildable.append((record.name, "module", name))
            continue
        try:
            rebuildable.append((record.name, "pickle", pickle.dumps(plugin)))
        except Exception as error:
            not_rebuildable[record.name] = (f"{type(plugin).__name__} objects cannot be "
                                            f"pickled ({type(error).__name__}: {error})")
    return rebuildable, not_rebuildable


def own_modules() -> list[str]:
    """The gradledger modules this process holds (a worker imports them too)."""
    return sorted(name for name in list(sys.modules) if name.partition(".")[0] == "gradledger")


def in_process_note(plugin: str, why: str) -> str:
    return (f"verified in the verifier's own process, without isolation: plugin {plugin!r} "
            f"was registered by hand and a worker process cannot rebuild it ({why}); define "
            "it at module level (or as a module) to verify it in a worker")


# -- the parent's side -------------------------------------------------------------------


@dataclass
class Task:
    index: int
    op: object
    started: float = 0.0


@dataclass
class _Worker:
    process: subprocess.Popen
    crash_path: Path
    slot_path: Path
    ops: dict | None = None  # {op name: plugin} once ready
    broken: dict = field(default_factory=dict)
    task: Task | None = None
    retired: bool = False


class Pool:
    """Up to `count` worker processes verifying ops with the same arguments.

    `run(tasks, events)` returns ({index: report} for the ops verified in workers, the
    tasks to verify in-process, {plugin: why} for the hand-registered ones no worker
    could rebuild, and a notice when no worker could start at all).
    """

    def __init__(self, count: int, *, examples, seed, settings, time_limit: float | None,
                 plugins: list, modules: list[str] | None = None,
                 memory_limit: int | None | object = _SETTING) -> None:
        if memory_limit is _SETTING:  # $GRADLEDGER_VERIFY_MEMORY_LIMIT, else half the memory
            from .engine import memory_limit_setting

            memory_limit = memory_limit_setting()
        self.count = max(1, count)
        self.time_limit = time_limit
        self.memory_limit = memory_limit
        self.setup = {"sys_path": list(sys.path), "plugins": plugins, "examples": examples,
                      "seed": seed, "settings": settings, "time_limit": time_limit,
                      "memory_limit": memory_limit,
                      "modules": own_modules() if modules is None else modules}
        self.folder = Path(tempfile.mkdtemp(prefix="gradledger-workers-"))
        self.messages: queue.Queue = queue.Queue()
        self.workers: list[_Worker] = []
        self.started = 0
        self.failed_starts: list[str] = []
        self.ever_ready = False

    # lifecycle

    def _start(self) -> None:
        self.started += 1
        crash_path = self.folder / f"crash-{self.started}.txt"
        slot_path = self.folder / f"example-{self.started}.txt"
        env = dict(os.environ)
        package_root = str(Path(__file__).resolve().parents[2])
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root,
                                                          env.get("PYTHONPATH")]))
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "gradledger.verify.workers", str(crash_path),
                 str(slot_path)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env)
        except OSError as error:  # no interpreter to start, or processes forbidden
            self.failed_starts.append(f"starting {sys.executable} failed: {error}")
            return
        worker = _Worker(process, crash_path, slot_path)
        try:
            pickle.dump(self.setup, process.stdin)
            process.stdin.flush()
        except OSError:
            pass  # it died at once: its reader says so
        threading.Thread(target=_read, args=(worker, self.messages), daemon=True).start()
        self.workers.append(worker)

    def close(self, kill: bool = False) -> None:
        """Stop every worker (killing any that does not stop within 5 s, or at once with
        `kill`); idempotent."""
        if self.folder is None:
            return
        for worker in self.workers:
            if kill and worker.process.poll() is None:
                worker.process.kill()
            elif worker.process.poll() is None:
                try:
                    pickle.dump(None, worker.process.stdin)
                    worker.process.stdin.flush()
                except (OSError, ValueError):
                    pass
        deadline = time.monotonic() + 5
        for worker in self.workers:
            try:
                worker.process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                worker.process.kill()
                worker.process.wait()
            for stream in (worker.process.stdin, worker.process.stdout):
                try:
                    stream.close()
                except OSError:
                    pass
        self.workers = []
        shutil.rmtree(self.folder, ignore_errors=True)
        self.folder = None

    # the run

    def __enter__(self) -> Pool:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def run(self, tasks: list[Task], events) -> tuple[dict, list, dict, str | None]:
        """Verify `tasks`, telling `events` (a `progress.Progress`); the workers stay up for
        the next call until `close()` (a `with` block closes them)."""
        pending = list(tasks)
        done: dict[int, OpReport] = {}
        local: list[Task] = []
        unbuilt: dict[str, str] = {}
        try:
            for _ in range(min(self.count, len(pending)) - len(self._live())):
                self._start()
            while pending or any(w.task for w in self._live()):
                self._assign(pending, local, unbuilt, events)
                if not self._live():
                    if pending and not self._replace(pending):
                        break
                    continue
                try:
                    worker, message = self.messages.get(timeout=self._wait())
                except queue.Empty:
                    worker, message = None, None
                if worker is not None and not worker.retired:
                    self._handle(worker, message, done, pending, events)
                self._check_time(done, pending, events)
                events.tick()
        except BaseException:  # Ctrl-C (the workers ignore it) or our own bug
            self.close(kill=True)
            raise
        notice = None
        if pending:
            notice = ("no worker process could start (" + "; ".join(self.failed_starts[-2:])
                      + "): the ops were verified in the verifier's own process, without "
                      "isolation")
            local.extend(pending)
        return done, local, unbuilt, notice

    def _live(self) -> list[_Worker]:
        return [w for w in self.workers if not w.retired]

    def _wait(self) -> float:
        if not self.time_limit:
            return 0.5
        now = time.monotonic()
        ends = [w.task.started + self.time_limit + GRACE - now for w in self._live() if w.task]
        return max(0.01, min([0.5] + ends))

    def _assign(self, pending, local, unbuilt, events) -> None:
        for worker in self._live():
            if worker.ops is None or worker.task is not None:
                continue
            while pending:
                task = pending.pop(0)
                if worker.ops.get(task.op.name, object()) != task.op.plugin:
                    why = worker.broken.get(task.op.plugin)
                    if why:
                        unbuilt.setdefault(task.op.plugin, why)
                    local.append(task)
                    continue
                task.started = time.monotonic()
                worker.task = task
                events.begin(task.index, task.op)
                try:
                    pickle.dump((task.index, task.op.name), worker.process.stdin)
                    worker.process.stdin.flush()
                except (OSError, ValueError):
                    pass  # it died: its reader says so
                break

    def _handle(self, worker, message, done, pending, events) -> None:
        if message is _EOF:
            worker.retired = True
            code = worker.process.wait()
            if worker.ops is None:
                self.failed_starts.append(f"a worker exited with {_status(code)} "
                                          "before it was ready")
            task = worker.task
            if task is not None:
                report = crash_report(task.op, "crash", self._died(worker, code))
                report.seconds = time.monotonic() - task.started
                done[task.index] = report
                events.done(task.index, task.op, report)
            if pending:
                self._replace(pending)
            return
        kind = message[0]
        if kind == "ready":
            worker.ops, worker.broken = message[1], message[2]
            self.ever_ready = True
        elif kind == "done":
            task = worker.task
            worker.task = None
            try:
                report = pickle.loads(message[2])
            except Exception as error:
                report = crash_report(task.op, "verifier", "the worker's report could not be "
                                      f"read back ({type(error).__name__}: {error})")
            done[task.index] = report
            events.done(task.index, task.op, report)

    def _replace(self, pending) -> bool:
        """Start a worker in place of a dead one, unless workers keep dying unready."""
        if not self.ever_ready and len(self.failed_starts) >= 2:
            return False
        if len(self._live()) < min(self.count, len(pending) + sum(bool(w.task)
                                                                   for w in self._live())):
            self._start()
        return True

    def _check_time(self, done, pending, events) -> None:
        if not self.time_limit:
            return
        now = time.monotonic()
        for worker in self._live():
            task = worker.task
            if task is None or now - task.started < self.time_limit + GRACE:
                continue
            worker.retired = True
            worker.process.kill()
            worker.process.wait()
            where = _read_text(worker.slot_path)
            frames = _frames(_read_text(worker.crash_path))
            report = crash_report(
                task.op, "timeout", f"still running after the time limit of "
                f"{self.time_limit:g} s per op{_while(where)}; the worker was killed"
                f"{frames} (raise it with --time-limit or time_limit=)")
            report.seconds = now - task.started
            done[task.index] = report
            events.done(task.index, task.op, report)
            if pending:
                self._replace(pending)

    def _died(self, worker, code: int) -> str:
        where = _read_text(worker.slot_path)
        frames = _frames(_read_text(worker.crash_path))
        memory = ""
        if self.memory_limit and code < 0:
            from .engine import gib

            memory = (f" (or it ran out of memory: a worker may use {gib(self.memory_limit)}"
                      " per op; --memory-limit)")
        return (f"the worker process verifying it died: {_status(code)}{_while(where)}"
                f"{frames}; the op's code (or a C library it calls) ends the process{memory}")


def _status(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        meaning = signal.strsignal(-code) if hasattr(signal, "strsignal") else None
        return f"killed by {name}" + (f" ({meaning})" if meaning else "")
    return f"exit status {code} (os._exit, or exit() from C, while an op was checked)"


def _frames(text: str) -> str:
    """The innermost Python frames of a faulthandler dump, as one clause ('' if none)."""
    frames = [line.strip() for line in text.splitlines() if line.strip().startswith("File ")]
    if not frames:
        return ""
    return "; innermost Python frames: " + " <- ".join(frames[:3])


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return ""


_EOF = object()


def _read(worker: _Worker, messages: queue.Queue) -> None:
    stream = worker.process.stdout
    while True:
        try:
            message = pickle.load(stream)
        except Exception:
            messages.put((worker, _EOF))
            return
        messages.put((worker, message))


# -- the worker's side -------------------------------------------------------------------


def limit_memory(size: int) -> bool:
    """Let this process's address space grow by at most `size` bytes beyond what it holds
    now (RLIMIT_AS): an allocation past it raises MemoryError. False where it cannot be set
    (no `resource` module, or a hard limit below what it holds)."""
    try:
        import resource
    except ImportError:  # pragma: no cover - Windows
        return False
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    want = address_space() + int(size)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (want, hard))
    except (ValueError, OSError):
        return False
    return True


def address_space() -> int:
    """The bytes of address space this process holds now (0 where /proc cannot tell)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as handle:
            pages = int(handle.read().split()[0])
        return pages * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError, AttributeError):
        return 0


def _worker(crash_path: str, slot_path: str) -> None:
    channel_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # what plugins print goes to stderr, never into the channel
    sys.stdout = sys.stderr
    channel_in = sys.stdin.buffer
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    crash = open(crash_path, "w", encoding="utf-8")  # noqa: SIM115 (open for faulthandler)
    faulthandler.enable(file=crash)
    setup = pickle.load(channel_in)
    sys.path[:] = setup["sys_path"]

    def send(message) -> None:
        pickle.dump(message, channel_out)
        channel_out.flush()

    import warnings

    from ..loader import host
    from . import engine
    from .cache import use_cache_for_hypothesis

    use_cache_for_hypothesis()
    for name in setup["modules"]:
        # gradledger's modules the parent holds: hypothesis draws some values from constants
        # in the code loaded in a process, so the same code gives the parent's examples
        try:
            importlib.import_module(name)
        except Exception:  # noqa: S110 (an optional module, such as the pytest door)
            pass
    broken = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the parent has said it already
        host.ensure_loaded()
        for name, how, what in setup["plugins"]:
            try:
                plugin = importlib.import_module(what) if how == "module" else pickle.loads(what)
                host.register_plugin(plugin, name=name)
            except Exception as error:
                broken[name] = f"rebuilding it in a worker raised {type(error).__name__}: {error}"
    send(("ready", {op.name: op.plugin for op in host.registry}, broken))

    limit = setup["time_limit"]
    if setup.get("memory_limit") and limit_memory(setup["memory_limit"]):
        engine.MEMORY_LIMIT = setup["memory_limit"]
    slot = open(slot_path, "w", encoding="utf-8")  # noqa: SIM115

    def watch(number: int, example) -> None:
        slot.seek(0)
        slot.write(f"example {number} ({describe(example)})")
        slot.truncate()
        slot.flush()

    while True:
        try:
            message = pickle.load(channel_in)
        except EOFError:
            return
        if message is None:
            return
        index, name = message
        for handle in (crash, slot):
            handle.seek(0)
            handle.truncate()
            handle.flush()
        if limit:
            faulthandler.dump_traceback_later(limit, file=crash)
        try:
            report = engine.verify_op(name, examples=setup["examples"], seed=setup["seed"],
                                      settings=setup["settings"], watch=watch)
        except BaseException as error:
            slot.flush()
            report = raised_report(host.lookup(name), error, _read_text(Path(slot_path)))
        finally:
            faulthandler.cancel_dump_traceback_later()
        try:
            payload = pickle.dumps(report)
        except Exception as error:
            report = crash_report(host.lookup(name), "verifier", "its report could not be "
                                  f"sent from the worker ({type(error).__name__}: {error}):"
                                  f"\n{report}")
            payload = pickle.dumps(report)
        send(("done", index, payload))


if __name__ == "__main__":
    _worker(sys.argv[1], sys.argv[2])
