"""Saved arrays are read-only while the graph that saved them lives.

An array an op saved for backward and then modified in place would give a silently
wrong gradient. So recording a call locks every writeable numpy array it saves
(`flags.writeable = False`) — numpy then refuses in-place edits with "assignment
destination is read-only" — and the lock is released when backward has used the
array (without `retain_graph`), or when nobody holds the graph any more. An array
saved by several live calls stays locked until the last one lets go. Arrays that
were read-only before gradledger saw them are left alone.
"""

from __future__ import annotations

import threading

import numpy as np

_lock = threading.RLock()
_held: dict[int, list] = {}  # id(array) -> [array, number of live calls holding it]


def lock(arrays) -> list:
    """Lock each writeable ndarray among `arrays`; return the ones this call must release."""
    locked = []
    with _lock:
        for array in arrays:
            if array.__class__ is not np.ndarray:
                continue
            entry = _held.get(id(array))
            if entry is not None:
                entry[1] += 1
                locked.append(array)
            elif array.flags.writeable:
                array.flags.writeable = False
                _held[id(array)] = [array, 1]
                locked.append(array)
    return locked


def release(arrays) -> None:
    """Undo one `lock`: an array becomes writeable again when its last holder lets go."""
    with _lock:
        for array in arrays:
            entry = _held.get(id(array))
            if entry is None:
                continue
            entry[1] -= 1
            if entry[1] == 0:
                del _held[id(array)]
                try:
                    array.flags.writeable = True
                except ValueError:  # a view whose base is still locked by another graph
                    pass


def is_locked(array) -> bool:
    """True while some live graph holds `array` for its backward pass."""
    with _lock:
        return id(array) in _held
