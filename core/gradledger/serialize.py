"""`gl.save` / `gl.load`: state dicts as `.npz` files, never pickled.

A state dict (`module.state_dict()`) is a flat mapping of names to arrays; it is
written as numpy's `.npz` format (a zip of `.npy` files, one per name) with pickling
refused both ways, so loading a file never runs code from it. The file is
readable by `np.load(path)` too.
"""

from __future__ import annotations

import os
import zipfile
from collections.abc import Mapping

import numpy as np

from .tensor import Tensor

__all__ = ["load", "save"]

PathLike = str | os.PathLike


def save(obj: Mapping, path: PathLike) -> None:
    """Write a flat mapping of names to arrays (a state dict) to `path` as `.npz`.

    Values may be numpy arrays, gl.Tensors (their data) or numbers; each must hold
    booleans or numbers (no objects: nothing is pickled). The file is written at `path`
    exactly as given (no suffix is added).
    """
    if not isinstance(obj, Mapping):
        raise TypeError(
            f"gl.save: expected a mapping of names to arrays, such as module.state_dict(); "
            f"got {type(obj).__name__}"
        )
    arrays = {}
    for key, value in obj.items():
        if not isinstance(key, str) or not key:
            raise TypeError(f"gl.save: every key must be a non-empty str; got {key!r}")
        if isinstance(value, Mapping):
            raise TypeError(
                f"gl.save: key {key!r} holds a mapping; gl.save writes a flat mapping of names "
                "to arrays (a state dict). Flatten nested dicts into dotted names first."
            )
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        if array.dtype.kind not in "biufc":
            raise TypeError(
                f"gl.save: key {key!r} holds dtype {array.dtype}; only arrays of booleans or "
                "numbers are saved (nothing is pickled)"
            )
        arrays[key] = array
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        for key, array in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)


def load(path: PathLike) -> dict[str, np.ndarray]:
    """Read a `.npz` file written by `gl.save` (or `np.savez`): {name: numpy array}, in the
    file's order. Pickled members are refused, so loading never runs code from the file;
    `module.load_state_dict(gl.load(path))` restores a module."""
    try:
        archive = np.load(path, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise ValueError(
            f"gl.load: cannot read {os.fspath(path)!r} as a .npz state dict ({error})"
        ) from None
    except ValueError as error:
        if "pickle" not in str(error):
            raise
        raise ValueError(
            f"gl.load: {os.fspath(path)!r} is not a .npz file of arrays (numpy would read it as "
            "a pickle, and unpickling could run code from the file: gl.load never does)"
        ) from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"gl.load: {os.fspath(path)!r} holds a single array, not a state dict "
                         "(.npz); gl.load reads files written by gl.save")
    with archive:
        arrays = {}
        for key in archive.files:
            try:
                arrays[key] = archive[key]
            except ValueError as error:
                if "pickle" not in str(error):
                    raise
                raise ValueError(
                    f"gl.load: {os.fspath(path)!r} member {key!r} holds pickled objects; gl.load "
                    "never unpickles (that could run code from the file)"
                ) from None
    return arrays
