"""Interrupts leave a usable world and errors keep their kind (issue 17, items 12, 17, 20).

A KeyboardInterrupt anywhere in forward or backward leaves no array locked once its
graph is gone, keeps nothing alive, prints nothing; an interrupted backward says what it
booked; MemoryError, RecursionError and KeyboardInterrupt from an op's rule pass through
as they are, with a note naming the op.
"""

import dis
import functools
import gc
import inspect
import os
import subprocess
import sys
import weakref

import gradledger as gl
import numpy as np
import pytest
from gradledger import locks
from gradledger.extend import Op, hookimpl

GENERATOR = inspect.CO_GENERATOR
notes_exist = pytest.mark.skipif(sys.version_info < (3, 11), reason="exception notes: 3.11+")


def raise_in_forward(a):
    raise RAISED["forward"]


def raise_in_vjp(g, a, out):
    raise RAISED["vjp"]


RAISED: dict = {}


class Raising:
    @hookimpl
    def gradledger_register_ops(self, registry):
        registry.register(Op("raising_forward", raise_in_forward, vjp=raise_in_vjp,
                             signature="(*)->(*)"))
        registry.register(Op("raising_vjp", lambda a: a * 1.0, vjp=raise_in_vjp,
                             signature="(*)->(*)"))


@pytest.fixture
def raising(fresh_host):
    gl.register_plugin(Raising(), name="raising")
    yield RAISED
    RAISED.clear()


# -- errors keep their kind (item 20) ------------------------------------------------------


@notes_exist
@pytest.mark.parametrize("kind", [MemoryError, RecursionError, KeyboardInterrupt])
def test_memory_recursion_and_interrupt_errors_from_a_forward_keep_their_kind_with_a_note(
        raising, kind):
    raising["forward"] = kind("from the rule")
    x = gl.tensor(np.ones(3), requires_grad=True)
    with pytest.raises(kind) as caught:
        gl.raising_forward(x)
    assert type(caught.value) is kind and not isinstance(caught.value, gl.OpRuleError)
    assert any("forward rule of op 'raising_forward' (plugin 'raising'" in note
               for note in caught.value.__notes__)


@notes_exist
@pytest.mark.parametrize("create_graph", [False, True])
def test_a_memory_error_from_a_vjp_keeps_its_kind_with_a_note_naming_the_op(
        raising, create_graph):
    raising["vjp"] = MemoryError("no room")
    x = gl.tensor(np.ones(3), requires_grad=True)
    loss = gl.sum(gl.raising_vjp(x))
    with pytest.raises(MemoryError) as caught:
        loss.backward(create_graph=create_graph)
    assert any("vjp rule of op 'raising_vjp'" in note for note in caught.value.__notes__)


def test_an_ordinary_forward_error_is_still_the_ops_fault(raising):
    raising["forward"] = ZeroDivisionError("bug")
    with pytest.raises(gl.OpRuleError, match="raising_forward"):
        gl.raising_forward(gl.tensor(np.ones(2), requires_grad=True))


# -- an interrupted backward says what it booked (item 12) -------------------------------


@notes_exist
def test_an_interrupted_create_graph_backward_says_which_grads_it_booked(raising):
    raising["vjp"] = KeyboardInterrupt()
    x = gl.tensor(np.array([1.0, 2.0]), requires_grad=True, name="x")
    loss = gl.sum(gl.raising_vjp(x)) + gl.sum(x * x)  # the walk books x * x's part first
    with pytest.raises(KeyboardInterrupt) as caught:
        loss.backward(create_graph=True)
    np.testing.assert_array_equal(x.grad.data, [2.0, 4.0])  # one of its two contributions
    assert any("stopped part-way" in note and "x" in note for note in caught.value.__notes__)


@notes_exist
def test_an_interrupted_plain_backward_books_nothing_and_says_so(raising):
    raising["vjp"] = KeyboardInterrupt()
    x = gl.tensor(np.array([1.0, 2.0]), requires_grad=True, name="x")
    loss = gl.sum(gl.raising_vjp(x)) + gl.sum(x * x)
    with pytest.raises(KeyboardInterrupt) as caught:
        loss.backward()
    assert x.grad is None
    assert any("booked anything" in note for note in caught.value.__notes__)


# -- interrupts leave a usable world (item 17) ------------------------------------------

PACKAGES = tuple(os.path.dirname(m.__file__) + os.sep
                 for m in (gl, __import__("gradledger_builtin")))


class Interrupter:
    """A tracer that raises KeyboardInterrupt at the `at`-th point of gradledger's code
    (the tape, the locks, the op rules) where Python itself could raise one: entering a
    function, returning from a call, jumping back in a loop (CPython checks for a pending
    signal there, and only there)."""

    def __init__(self, at: int | None) -> None:
        self.at = at
        self.events = 0

    def __call__(self, frame, event, arg):
        if not frame.f_code.co_filename.startswith(PACKAGES):
            return None
        if event == "call":
            frame.f_trace_opcodes = True
            # Not as a finalizer starts (see test_a_finalizer_interrupted_as_it_starts_...):
            # Python drops an interrupt raised there. Nor as a generator resumes (Python
            # does not check for signals there; a generator's close is a finalizer too).
            if frame.f_code.co_name == "__del__" or frame.f_code.co_flags & GENERATOR:
                return self
        elif event != "opcode" or frame.f_lasti not in breakers(frame.f_code):
            return self
        self.events += 1
        if self.events == self.at:
            raise KeyboardInterrupt
        return self


@functools.cache
def breakers(code) -> frozenset:
    """The offsets in `code` where a pending KeyboardInterrupt can be raised: right after
    each call returns, and at each backward jump."""
    instructions = list(dis.get_instructions(code))
    after_calls = {following.offset
                   for ins, following in zip(instructions[:-1], instructions[1:], strict=True)
                   if ins.opname.startswith("CALL")}
    jumps = {ins.offset for ins in instructions if ins.opname.startswith("JUMP_BACKWARD")}
    return frozenset(after_calls | jumps)


def one_pass(step: int, params: list, batch: np.ndarray) -> None:
    """A forward and backward pass of a small model, in one of three kinds of backward."""
    w, b = params
    loss = gl.sum(gl.relu(batch @ w + b) * w[0])  # a constant, a view, a broadcast
    if step % 3 == 0:
        loss.backward()
    elif step % 3 == 1:
        loss.backward(create_graph=True)
    else:
        gl.grad(loss, [w, b], retain_graph=True)


def interrupted_pass(step: int, at: int | None, params, batch) -> Interrupter:
    tracer = Interrupter(at)
    try:
        sys.settrace(tracer)
        try:
            one_pass(step, params, batch)
        finally:
            sys.settrace(None)
    except KeyboardInterrupt:
        pass
    return tracer


def settle() -> None:
    """Collect the dropped graphs, and take the interrupt a finalizer caught, which the
    next op raises (see gradledger.locks.release_dying), as the user's next line would."""
    gc.collect()
    try:
        gl.tensor(np.ones(1), requires_grad=True) * 1.0
    except KeyboardInterrupt:
        pass


def test_keyboard_interrupts_at_random_points_of_300_passes_leave_nothing_locked_or_alive():
    rng = np.random.default_rng(17)
    batch = rng.standard_normal((2, 3))
    unraisable = []
    previous_hook = sys.unraisablehook
    sys.unraisablehook = lambda report: unraisable.append(
        (repr(report.exc_value), repr(report.object)))  # (not the report: it holds frames)
    try:
        def fresh_params():
            return [gl.tensor(rng.standard_normal((3, 3)), requires_grad=True),
                    gl.tensor(np.zeros(3), requires_grad=True)]

        lengths = [interrupted_pass(step, None, fresh_params(), batch).events
                   for step in range(3)]  # each kind of pass, uninterrupted
        alive = []
        for step in range(300):
            params = fresh_params()
            at = int(rng.integers(1, lengths[step % 3] + 1))
            interrupted_pass(step, at, params, batch)
            arrays = [p.data for p in params]
            del params  # with their grads: the last of the graph (create_graph's grads are one)
            settle()
            for array in arrays:
                assert not locks.is_locked(array), f"pass {step}, interrupted at {at}: locked"
                array[...] = 0.0  # writeable again
                alive.append(weakref.ref(array))
            assert not locks._held, f"pass {step}, interrupted at event {at}: arrays held"
            del arrays, array
        settle()
        assert not locks._held
        assert not [ref for ref in alive if ref() is not None], "arrays kept alive"
    finally:
        sys.unraisablehook = previous_hook
    assert not unraisable


def test_a_graph_interrupted_mid_forward_prints_nothing_at_exit(tmp_path):
    script = tmp_path / "interrupted.py"
    script.write_text(
        "import sys\n"
        "import numpy as np\n"
        "import gradledger as gl\n"
        "w = gl.tensor(np.ones((3, 3)), requires_grad=True)\n"
        "kept = []\n"
        "for at in range(1, 600, 3):\n"
        "    count = [0]\n"
        "    def tracer(frame, event, arg):\n"
        "        count[0] += 1\n"
        "        if count[0] == at:\n"
        "            raise KeyboardInterrupt\n"
        "        return tracer\n"
        "    try:\n"
        "        sys.settrace(tracer)\n"
        "        kept.append(gl.sum(gl.relu(w @ np.ones(3)) * w))\n"
        "    except KeyboardInterrupt:\n"
        "        pass\n"
        "    finally:\n"
        "        sys.settrace(None)\n"
        "np.kept = kept\n"
    )
    env = {**os.environ, "GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD": "1"}
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            env=env, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert "Exception ignored" not in result.stderr, result.stderr


class AtFinalizer:
    """Raises KeyboardInterrupt once, as the first finalizer of a recorded call starts (or,
    with `inside`, as its release starts)."""

    def __init__(self, inside: bool = False) -> None:
        self.name = "_unlock" if inside else "__del__"
        self.fired = False

    def __call__(self, frame, event, arg):
        if event == "call" and frame.f_code.co_name == self.name and not self.fired:
            self.fired = True
            raise KeyboardInterrupt
        return None


def drop_graph_under(tracer) -> np.ndarray:
    w = gl.tensor(np.ones(3), requires_grad=True)
    y = gl.exp(w)  # one call, holding w's array: the first (and only) to die
    data = w.data
    sys.settrace(tracer)
    try:
        del y, w
    finally:
        sys.settrace(None)
    return data


def test_a_finalizer_interrupted_as_it_starts_still_unlocks(monkeypatch):
    # Python reports (prints) an exception raised at a finalizer's first instruction and
    # drops it; nothing in the finalizer can run. The call's death still unlocks its arrays.
    reported = []  # (not the reports: their tracebacks would keep the graph alive)
    monkeypatch.setattr(sys, "unraisablehook", lambda r: reported.append(type(r.exc_value)))
    data = drop_graph_under(AtFinalizer())
    gc.collect()
    assert reported == [KeyboardInterrupt]
    assert not locks.is_locked(data)
    data[0] = 5.0


def test_an_interrupt_caught_in_a_finalizer_unlocks_and_is_raised_by_the_next_op(monkeypatch):
    reported = []  # (not the reports: their tracebacks would keep the graph alive)
    monkeypatch.setattr(sys, "unraisablehook", lambda r: reported.append(type(r.exc_value)))
    data = drop_graph_under(AtFinalizer(inside=True))
    assert not reported
    assert not locks.is_locked(data)
    data[0] = 5.0
    x = gl.tensor(np.ones(2), requires_grad=True)
    with pytest.raises(KeyboardInterrupt):
        x * 2.0
    assert (x * 2.0).requires_grad  # raised once
