"""Saved arrays are read-only while the graph that saved them lives.

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
- Arrays that were read-only before gradledger saw them are left alone.
"""

from __future__ import annotations

import threading
import weakref

import numpy as np

_lock = threading.RLock()
_held: dict[int, list] = {}  # id(array) -> [array, number of live calls holding it]
_deferred: list = []  # weak refs to released views whose base was still locked


def lock(arrays) -> list:
    """Lock each ndarray among `arrays` (and its bases); return what the caller must release."""
    locked = []
    with _lock:
        for array in arrays:
            if array.__class__ is np.ndarray:
                _lock_with_bases(array, locked)
    return locked


def _lock_with_bases(array: np.ndarray, locked: list) -> None:
    base = array.base
    if isinstance(base, np.ndarray):  # a view: its numbers can be written through its base too
        _lock_with_bases(base, locked)
    entry = _held.get(id(array))
    if entry is not None:
        entry[1] += 1
    elif array.flags.writeable:
        array.flags.writeable = False
        _held[id(array)] = [array, 1]
    elif isinstance(base, np.ndarray) and id(base) in _held:
        _held[id(array)] = [array, 1]  # born read-only as a view of a locked array
    else:
        return  # read-only before gradledger saw it
    locked.append(array)


def release(arrays) -> None:
    """Undo one `lock` (bases come first in `arrays`, so they unlock before their views)."""
    with _lock:
        for array in arrays:
            entry = _held.get(id(array))
            if entry is None:
                continue
            entry[1] -= 1
            if entry[1] == 0:
                del _held[id(array)]
                _make_writeable(array)
        if _deferred:
            _retry_deferred()


def _make_writeable(array: np.ndarray) -> bool:
    try:
        array.flags.writeable = True
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
        return id(array) in _held
