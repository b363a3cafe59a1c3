"""`gl.save` / `gl.load`: state dicts as `.npz` files, never pickled, never half-written.

A state dict (`module.state_dict()`) is a flat mapping of names to arrays; it is
written as numpy's `.npz` format (a zip of `.npy` files, one per name), so the file
is readable by `np.load(path)` too. What is promised:

- **Atomic write.** `gl.save` writes a temporary file in the destination's folder and
  renames it over `path` only once it is complete (`os.replace`, atomic on one
  filesystem): an interrupted save leaves the old file as it was, never half of a new one.
- **Complete or refused.** `gl.save` writes a manifest (the number of arrays and a
  digest of their names, in the zip's comment, which numpy ignores) after the last
  array. `gl.load` refuses a file whose arrays do not match its manifest (a partial
  file), a truncated file, and a member whose bytes fail the zip's CRC-32, with an
  error saying which. A file without a manifest (written by gradledger 0.2 or by
  `np.savez`) still loads, with a `UserWarning` that its completeness cannot be
  checked; `gl.save(gl.load(path), path)` rewrites it with one.
- **Bounded.** `gl.load` reads each array's header (shape and dtype) before it reads
  the array, and refuses a file whose arrays would need more than `max_bytes` in all:
  by default the larger of 256 MiB and four times the file's size, so a small
  compressed file cannot expand into gigabytes (a zip bomb). Pass `max_bytes=N` to
  allow more.
- **No code.** Pickled members are refused both ways (`allow_pickle=False`): loading a
  file never runs code from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
import zipfile
from collections.abc import Mapping
from typing import IO

import numpy as np

from .tensor import Tensor

__all__ = ["load", "save", "DEFAULT_MAX_BYTES"]

PathLike = str | os.PathLike

DEFAULT_MAX_BYTES = 256 * 2**20
"""The least `gl.load` allows by default; it allows four times the file's size if more."""

_MANIFEST_KIND = "gradledger-state-dict"
_CHUNK = 16 * 2**20


def _manifest(keys: list[str]) -> bytes:
    digest = hashlib.sha256("\n".join(keys).encode("utf-8")).hexdigest()
    return json.dumps({"kind": _MANIFEST_KIND, "format": 1, "arrays": len(keys),
                       "names_sha256": digest}, sort_keys=True).encode("ascii")


def save(obj: Mapping, path: PathLike | IO[bytes]) -> None:
    """Write a flat mapping of names to arrays (a state dict) to `path` as `.npz`.

    Values may be numpy arrays, gl.Tensors (their data) or numbers; each must hold
    booleans or numbers (no objects: nothing is pickled). The file is written at `path`
    exactly as given (no suffix is added), atomically: a temporary file in the same
    folder is renamed over `path` once complete, so an interrupted save leaves any old
    file untouched. (An open binary file object is written in place, not atomically.)
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
    if not isinstance(path, (str, os.PathLike)):
        _write(arrays, path)
        return
    target = os.fspath(path)
    folder, base = os.path.split(os.path.abspath(target))
    temporary = os.path.join(folder, f".{base}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(descriptor, "wb") as file:
            _write(arrays, file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        try:
            os.unlink(temporary)
        except OSError:
            pass
        raise


def _write(arrays: dict[str, np.ndarray], file) -> None:
    """The zip: one `.npy` member per array, then the manifest (in the zip's comment)."""
    with zipfile.ZipFile(file, "w", compression=zipfile.ZIP_STORED) as archive:
        for key, array in arrays.items():
            with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                np.lib.format.write_array(member, array, allow_pickle=False)
        archive.comment = _manifest(list(arrays))  # last: a partial archive has none


def load(path: PathLike | IO[bytes], *, max_bytes: int | None = None) -> dict[str, np.ndarray]:
    """Read a `.npz` file written by `gl.save` (or `np.savez`): {name: numpy array}, in the
    file's order; `module.load_state_dict(gl.load(path))` restores a module.

    Refused with ValueError: a truncated file, a partial one (its arrays do not match the
    manifest gl.save wrote), a member failing its CRC-32, pickled members (loading never
    runs code from the file), and arrays needing more than `max_bytes` in all (default
    None: the larger of 256 MiB and four times the file's size; pass a number to allow
    more). A file without a manifest (gradledger 0.2, `np.savez`) loads with a UserWarning.
    """
    where = repr(os.fspath(path)) if isinstance(path, (str, os.PathLike)) else "the file"
    if isinstance(path, (str, os.PathLike)):
        with open(path, "rb") as file:  # FileNotFoundError passes through as itself
            return _load(file, where, max_bytes)
    return _load(path, where, max_bytes)


def _load(file, where: str, max_bytes: int | None) -> dict[str, np.ndarray]:
    start = file.tell()
    head = file.read(6)
    file.seek(0, os.SEEK_END)
    size = file.tell() - start
    file.seek(start)
    if head == b"\x93NUMPY":
        raise ValueError(f"gl.load: {where} holds a single array, not a state dict "
                         "(.npz) but one .npy array; gl.load reads files written by gl.save")
    if head[:2] != b"PK":
        raise ValueError(
            f"gl.load: {where} is not a .npz file of arrays (numpy might read it as a "
            "pickle, and unpickling could run code from the file: gl.load never does)"
        )
    limit = max(DEFAULT_MAX_BYTES, 4 * size) if max_bytes is None else int(max_bytes)
    try:
        archive = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as error:
        raise ValueError(
            f"gl.load: {where} is truncated or damaged: it cannot be read as a .npz zip "
            f"({error}). Load an intact copy; gl.save never leaves a partial file."
        ) from None
    with archive:
        infos = archive.infolist()
        for info in infos:
            if not info.filename.endswith(".npy"):
                raise ValueError(f"gl.load: {where} holds member {info.filename!r}, which is not "
                                 "a .npy array; gl.load reads files written by gl.save")
        keys = [info.filename[: -len(".npy")] for info in infos]
        manifest = archive.comment
        if manifest:
            _check_manifest(manifest, keys, where)
        arrays, total = {}, 0
        for key, info in zip(keys, infos, strict=True):
            array, total = _read_member(archive, info, key, where, total, limit, max_bytes)
            arrays[key] = array
    if not manifest:
        warnings.warn(
            f"gl.load: {where} has no gradledger manifest (written by gradledger 0.2 or by "
            f"np.savez), so whether it is complete cannot be checked; its {len(arrays)} "
            "array(s) were read. gl.save(gl.load(path), path) rewrites it with one.",
            UserWarning, stacklevel=3)
    return arrays


def _check_manifest(comment: bytes, keys: list[str], where: str) -> None:
    try:
        manifest = json.loads(comment.decode("ascii"))
        promised = manifest["arrays"], manifest["names_sha256"]
        if manifest.get("kind") != _MANIFEST_KIND:
            raise KeyError("kind")
    except (ValueError, KeyError, TypeError, UnicodeDecodeError):
        raise ValueError(f"gl.load: {where} carries a zip comment that is not gradledger's "
                         f"manifest ({comment[:60]!r}...); gl.load reads files written by "
                         "gl.save (or np.savez, which writes no comment)") from None
    found = json.loads(_manifest(keys).decode("ascii"))
    if (found["arrays"], found["names_sha256"]) != tuple(promised):
        raise ValueError(
            f"gl.load: {where} is partial or altered: its manifest promises {promised[0]} "
            f"array(s), and it holds {len(keys)} whose names do not match. Load an intact "
            "copy; gl.save writes atomically, so a file it wrote is complete or absent."
        )


def _read_member(archive, info, key, where, total, limit, max_bytes):
    """One array: its header first (refusing objects and what exceeds the limit), then
    exactly the bytes it announces, checked against the member's CRC-32."""
    try:
        with archive.open(info) as member:
            try:
                version = np.lib.format.read_magic(member)
                shape, fortran, dtype = _read_header(member, version)
            except ValueError as error:
                raise ValueError(f"gl.load: {where} member {key!r} is not a readable .npy "
                                 f"array ({error})") from None
            if dtype.hasobject:
                raise ValueError(
                    f"gl.load: {where} member {key!r} holds pickled objects; gl.load never "
                    "unpickles (that could run code from the file)"
                )
            count = 1
            for n in shape:
                count *= int(n)
            nbytes = count * dtype.itemsize
            total += nbytes
            if total > limit:
                allowed = ("its default limit, the larger of 256 MiB and four times the "
                           "file's size" if max_bytes is None else "max_bytes")
                raise ValueError(
                    f"gl.load: {where} member {key!r} (shape {tuple(shape)}, dtype {dtype}) "
                    f"brings the arrays to {total:,} bytes, more than the {limit:,} bytes of "
                    f"{allowed}; nothing was allocated for it. If you trust the file, pass "
                    f"gl.load(path, max_bytes={total})."
                )
            raw = np.empty(nbytes, dtype=np.uint8)
            filled = 0
            while filled < nbytes:
                chunk = member.read(min(_CHUNK, nbytes - filled))
                if not chunk:
                    raise ValueError(
                        f"gl.load: {where} member {key!r} is truncated: its header announces "
                        f"{nbytes:,} bytes and it holds {filled:,}"
                    )
                raw[filled:filled + len(chunk)] = np.frombuffer(chunk, dtype=np.uint8)
                filled += len(chunk)
            if member.read(1):
                raise ValueError(f"gl.load: {where} member {key!r} holds more bytes than its "
                                 "header announces; it is not an array gl.save wrote")
    except zipfile.BadZipFile as error:
        raise ValueError(f"gl.load: {where} member {key!r} is damaged ({error}); load an "
                         "intact copy") from None
    except (EOFError, OSError) as error:
        raise ValueError(f"gl.load: {where} member {key!r} is truncated or damaged "
                         f"({error})") from None
    array = raw.view(dtype).reshape(shape, order="F" if fortran else "C")
    return array, total


def _read_header(member, version):
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(member)
    if version == (2, 0):
        return np.lib.format.read_array_header_2_0(member)
    return np.lib.format._read_array_header(member, version)
