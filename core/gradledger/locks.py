"""Saved arrays stay what was saved, while the graph that saved them lives.

An array an op saved for backward and then modified in place would give a silently
wrong gradient. So recording a call locks every writeable numpy array it saves
(`flags.writeable = False`) — numpy then refuses in-place edits with "assignment
destination is read-only" — and the lock is released when backward has used the
array (without `retain_graph`), or when nobody holds the graph any more.

- An array saved by several live calls stays locked until the last one lets go.
- A saved view is locked with every array it is a view of (its bases), so that its
  numbers cannot be changed through them either.
- A view made of a locked array is born read-only; when a call saves it, it is
  unlocked again with the rest. A view whose base is still locked by another graph
  becomes writeable as soon as that base does.
- Arrays that were read-only before gradledger saw them are left read-only: a
  `np.broadcast_to` view, an array you froze yourself. Release restores exactly the
  flags that were there.

A lock cannot reach a view made *before* the forward pass (`v = x.data[:]`): numpy
keeps no list of an array's views, and `v` stays writeable. So when a call locks a
tensor's array afresh, it counts who else holds it (`sys.getrefcount`): anyone beyond
the tensor itself may be such a view, and the call then saves a read-only copy for its
rules instead (what the forward used, whatever happens to `v`). A tensor nobody else
holds — the usual parameter, every intermediate — costs no copy. (Numpy arrays given
to an op directly, not in a Tensor, are copied at the call by the tape.)

Each lock is owned by one recorded call (its `ticket`), and release is idempotent:
a KeyboardInterrupt anywhere in lock or release, or a release run twice (by backward
and again by the call's finalizer), leaves no array locked once its owners are gone.
A call's finalizer can itself be cut short by a KeyboardInterrupt arriving as it starts
(Python then drops the interrupt, printing it, and nothing of the finalizer runs): the
locks module keeps each call's list of locked arrays until the call releases it, and a
list that nobody else holds any more belonged to a call that died without releasing.
`_sweep` releases those: at the end of each backward pass, every 4,096 locks, and before
`is_locked` answers.
"""

from __future__ import annotations

import gc
import sys
import threading
import weakref

import numpy as np

_lock = threading.RLock()
# id(array) -> [array, tickets of the live calls holding it, may-be-written-elsewhere]
# (an entry exists only for an array gradledger made read-only, and holds it alive)
_held: dict[int, list] = {}
_deferred: list = []  # weak refs to released views whose base was still locked
# ticket -> the list of what that call locked (its `locked`), until the call releases
_owned: dict[int, list] = {}
_SWEEP_EVERY = 4096
_until_sweep = _SWEEP_EVERY
_refcount = getattr(sys, "getrefcount", None)


def lock(node) -> None:
    """Lock the ndarrays `node` saved (`node.arrays`, `node.out`, `node.saved`) and their
    bases for it.

    Sets `node.locked` (before locking anything: an interrupted lock leaves in it what
    it locked, for the node's release). A saved array that may change through a view
    made before the call is replaced, in `node.arrays` / `node.out`, by a read-only copy.
    """
    global _until_sweep
    if _interrupted:
        _raise_interrupt()
    node.locked = locked = []
    key = node.ticket
    _owned[key] = locked
    fresh: list = []  # the arrays this call was first to lock, which nothing owns yet
    exposed = False
    with _lock:
        _until_sweep -= 1
        if not _until_sweep:
            _sweep()
        held, ndarray = _held, np.ndarray
        for array in node.arrays:
            if array.__class__ is not ndarray:
                continue
            if array.base is not None:  # a view: its bases are locked with it
                if _lock_with_bases(array, locked, key, fresh):
                    exposed = True
                continue
            # An array that owns its memory (`_lock_with_bases` without the walk up)
            locked.append(array)
            entry = held.get(id(array))
            if entry is not None:
                entry[1].add(key)
                if entry[2]:
                    exposed = True
            elif array.flags.writeable:
                held[id(array)] = [array, {key}, False]
                array.setflags(False)  # (positional: a third of `flags.writeable = False`)
                fresh.append(array)
        array = entry = None  # (counted by `_extra_holders` otherwise)
        # The forward's own outputs and saved values (`Op(saves=True)`) are new: nobody
        # holds a view made before them, and one that owns its memory was locked by nobody
        # before (unless it is an input returned as it is).
        out, saved = node.out, node.saved
        if saved is None:
            news = out if out.__class__ is tuple else (out,)
        else:
            news = (*(out if out.__class__ is tuple else (out,)), *saved)
        for o in news:
            if o.__class__ is not ndarray:
                continue
            if o.base is None and id(o) not in held and o.flags.writeable:
                locked.append(o)
                held[id(o)] = [o, {key}, False]
                o.setflags(False)
            elif _lock_with_bases(o, locked, key, None):
                exposed = True
        o = news = None  # (counted by `_extra_holders` otherwise)
        for root in fresh:
            if _extra_holders(root, node, locked) > 1:
                _held[id(root)][2] = exposed = True
        if exposed:
            _copy_exposed(node)


def _lock_with_bases(array: np.ndarray, locked: list, key: int, fresh: list | None) -> bool:
    """Lock `array` and its bases for the call `key`; True if its root (the array that
    owns its memory) may be written through a view this lock cannot reach."""
    base = array.base
    if isinstance(base, np.ndarray):  # a view: its numbers can be written through its base
        exposed = _lock_with_bases(base, locked, key, fresh)
    else:
        exposed = base is not None  # memory of a buffer numpy does not own: never locked
    # Into the owner's list first: an interrupted lock leaves nothing the owner misses.
    locked.append(array)
    entry = _held.get(id(array))
    if entry is not None:
        entry[1].add(key)
        return exposed or entry[2]
    if array.flags.writeable:
        _held[id(array)] = [array, {key}, False]
        array.setflags(False)
        if fresh is not None and base is None:
            fresh.append(array)
    elif _born_read_only(array, base, key):
        _held[id(array)] = [array, {key}, False]
    return exposed


def _born_read_only(array: np.ndarray, base, key: int) -> bool:
    """True for a read-only view that is read-only because gradledger locked its base
    before this call: such a view is made writeable with its base. A view whose base
    this very call locked was read-only before (yours, or numpy's), and so is a view
    that repeats elements (a zero stride, as `np.broadcast_to` makes): numpy never
    lets one be written."""
    if not isinstance(base, np.ndarray):
        return False
    entry = _held.get(id(base))
    if entry is None or entry[1] == {key}:
        return False
    return all(stride or n <= 1 for stride, n in zip(array.strides, array.shape, strict=True))


def _extra_holders(root: np.ndarray, node, locked: list) -> int:
    """How many references to `root` the lock cannot account for: the tensor whose array
    it is makes one; any more may be a view made before the call, which no lock reaches.
    (Counted are `node`'s saved arrays, the views among them, and the locking's own.)"""
    if _refcount is None:  # not CPython: assume the worst
        return 2
    count = _refcount(root) - _FRAME_REFS
    count -= sum(1 for a in locked if a is root)
    views = set()
    out = node.out
    for a in (*node.arrays, *(out if out.__class__ is tuple else (out,)), *(node.saved or ())):
        if a is root:
            count -= 1
        elif a.__class__ is np.ndarray and a.base is root:
            views.add(id(a))
    return count - len(views)


class _Unsaved:
    """A call that saved nothing: what `_calibrate` counts against."""

    arrays: tuple = ()
    out = None
    saved = None


def _calibrate() -> int:
    """The references `_extra_holders` sees from the frames and structures of `lock`
    (the `_held` entry, the `fresh` list, the loop, the call): measured on an array
    held the same way plus once, by a local that stands for its tensor."""
    probe = np.empty(1)
    entry = [probe]  # noqa: F841 (stands for the `_held` entry)
    fresh = [probe]
    for root in fresh:
        seen = _extra_holders(root, _Unsaved, [])
    return seen - 1


_FRAME_REFS = 0
_FRAME_REFS = _calibrate()


def _copy_exposed(node) -> None:
    """Swap each saved array whose root may be written elsewhere for a read-only copy."""
    arrays = node.arrays
    for i, a in enumerate(arrays):
        if a.__class__ is np.ndarray and _is_exposed(a):
            arrays[i] = frozen_copy(a)
    out = node.out
    if out.__class__ is np.ndarray and _is_exposed(out):
        node.out = frozen_copy(out)
    elif out.__class__ is tuple:
        node.out = tuple(frozen_copy(o) if o.__class__ is np.ndarray and _is_exposed(o)
                         else o for o in out)
    if node.saved is not None:
        node.saved = tuple(frozen_copy(o) if o.__class__ is np.ndarray and _is_exposed(o)
                           else o for o in node.saved)


def _is_exposed(array: np.ndarray) -> bool:
    base = array.base
    while isinstance(base, np.ndarray):
        array, base = base, base.base
    if base is not None:
        return True
    entry = _held.get(id(array))
    return entry is not None and entry[2]


def frozen_copy(array: np.ndarray) -> np.ndarray:
    """A read-only copy of `array`: what the tape keeps of a value someone else may change."""
    copy = array.copy()
    copy.setflags(False)
    return copy


def release(node) -> None:
    """Let go of what `node` locked (`node.locked`), and clear it."""
    with _lock:
        locked = node.locked
        if locked is not None:
            _unlock(node.ticket, locked)
            node.locked = None
        if _deferred:
            _retry_deferred()


def release_all(nodes) -> None:
    """`release` for each of `nodes` (a backward pass's freed calls), under one lock; then
    a sweep for calls that died without releasing."""
    get, pop, owned = _held.get, _held.pop, _owned.pop
    with _lock:
        for node in nodes:
            locked = node.locked
            if locked is None:
                continue
            key = node.ticket
            for array in locked:  # `_unlock`, inlined: this runs once per array of a pass
                entry = get(id(array))
                if entry is not None:
                    owners = entry[1]
                    owners.discard(key)
                    if not owners:
                        _make_writeable(array)
                        pop(id(array), None)
            owned(key, None)
            node.locked = None
        _sweep()
        if _deferred:
            _retry_deferred()


def release_dying(node) -> None:
    """`release`, from a node's finalizer. Python drops an exception raised in a
    finalizer (it prints it), so a KeyboardInterrupt arriving part-way is caught: the
    release is finished (it is idempotent), and the interrupt is raised again by the
    next op call (`lock`)."""
    try:
        release(node)
    except KeyboardInterrupt:
        interrupted_in_finalizer()
        release(node)


def interrupted_in_finalizer() -> None:
    """Note a KeyboardInterrupt a finalizer caught, for the next op call to raise. (What
    the finalizer had not released yet, `_bury` releases once the call is gone.)"""
    global _interrupted
    _interrupted = True


_interrupted = False  # a KeyboardInterrupt caught in a finalizer, for the next op to raise


def _raise_interrupt() -> None:
    global _interrupted
    _interrupted = False
    raise KeyboardInterrupt("(caught while a dropped graph released its arrays)")


def _sweep() -> None:
    """Release what calls that died without releasing still held: their lists of locked
    arrays, which only `_owned` holds now."""
    global _until_sweep
    _until_sweep = _SWEEP_EVERY
    if _refcount is None:
        return
    for key, holders in _holders(_owned):
        locked = _owned.get(key)  # a finalizer may have released it since it was counted
        if locked is not None and holders <= _LONE:
            _unlock(key, locked)


def _holders(owned: dict) -> list:
    """(ticket, references to its list) for each entry of `owned`.

    Counted with the garbage collector paused: the tuples made here could start a
    collection, whose finalizers (a dropped graph's `release_dying`) take entries out of
    `owned` while it is iterated, and "dictionary changed size during iteration" would
    come out of whatever op call happened to sweep."""
    paused = gc.isenabled()
    if paused:
        gc.disable()
    try:
        return [(key, _refcount(locked)) for key, locked in owned.items()]
    finally:
        if paused:
            gc.enable()


def _lone_refs() -> int:
    """What `_holders` counts for a list only `owned` holds (measured on one)."""
    return _holders({0: []})[0][1] if _refcount is not None else 0


_LONE = _lone_refs()


def _unlock(key: int, locked: list) -> None:
    # Bases come first in `locked`, so they unlock before their views. Each step can be
    # repeated: an interrupted release, run again, finishes the job.
    get = _held.get
    for array in locked:
        entry = get(id(array))
        if entry is None:
            continue
        owners = entry[1]
        owners.discard(key)
        if owners:
            continue
        _make_writeable(array)
        _held.pop(id(array), None)
    _owned.pop(key, None)


def _make_writeable(array: np.ndarray) -> bool:
    base = array.base
    while base is not None:  # a view of an array still locked: numpy would refuse
        if id(base) in _held:  # (and raising costs more than this look-up)
            _deferred.append(weakref.ref(array))
            return False
        base = getattr(base, "base", None)
    try:
        array.setflags(True)
        return True
    except ValueError:  # a view whose base another graph still holds: try again later
        _deferred.append(weakref.ref(array))
        return False


def _retry_deferred() -> None:
    waiting = list(_deferred)
    _deferred.clear()
    for ref in waiting:
        array = ref()
        if array is not None and id(array) not in _held:
            _make_writeable(array)


def is_locked(array) -> bool:
    """True while some live graph holds `array` for its backward pass."""
    with _lock:
        _sweep()
        return id(array) in _held
