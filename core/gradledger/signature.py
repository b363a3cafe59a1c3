"""Parse an op's shape signature: numpy's gufunc grammar plus one extension.

    "(),()->()"                 binary elementwise; loop dimensions broadcast as in numpy
    "(n,k),(k,m)->(n,m)"        matmul; leading loop dimensions broadcast
    "(n?,k),(k,m?)->(n?,m?)"    `?` marks a core dimension that may be missing
    "(*)->(*)"                  gradledger's extension: an operand of any shape, no
                                broadcasting; the op's params decide the result shape
                                (sum with axis, reshape, transpose)
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

_DIM = r"\s*\w+\??\s*"
_CORE = rf"\((?:{_DIM}(?:,{_DIM})*)?\)"
_OPERAND = rf"(?:{_CORE}|\(\s*\*\s*\))"
_ARGS = rf"{_OPERAND}(?:\s*,\s*{_OPERAND})*"
_SIGNATURE = re.compile(rf"^\s*({_ARGS})\s*->\s*({_OPERAND})\s*$")
_OPERAND_RE = re.compile(r"\((?:[^()]*)\)")

ANY_SHAPE = "*"


@dataclass(frozen=True)
class Signature:
    """A parsed signature: the core dimensions of each input and of the output.

    `inputs[i]` is a tuple of dimension names (`"n"`, `"m?"`), or the string
    `"*"` for an operand of any shape.
    """

    text: str
    inputs: tuple
    output: object

    @property
    def nin(self) -> int:
        return len(self.inputs)

    @property
    def elementwise(self) -> bool:
        """True when every operand has no core dimensions: numpy broadcasting throughout."""
        return all(dims == () for dims in self.inputs) and self.output == ()

    @property
    def any_shape(self) -> bool:
        return self.output == ANY_SHAPE or ANY_SHAPE in self.inputs


def parse_signature(text: str) -> Signature:
    """Parse `text`; raise ValueError naming what is wrong with it."""
    if not isinstance(text, str):
        raise ValueError(f"a signature is a string like '(),()->()'; got {type(text).__name__}")
    match = _SIGNATURE.match(text)
    if match is None:
        raise ValueError(
            f"signature {text!r} does not parse; expected numpy gufunc form such as "
            "'(),()->()' or '(n,k),(k,m)->(n,m)', or '(*)->(*)' for any shape"
        )
    args, out = match.groups()
    inputs = tuple(_operand(o) for o in _OPERAND_RE.findall(args))
    return Signature(text=text, inputs=inputs, output=_operand(out))


def _operand(text: str):
    body = text.strip()[1:-1].strip()
    if body == ANY_SHAPE:
        return ANY_SHAPE
    return tuple(d.strip() for d in body.split(",")) if body else ()


def shape_mismatch(sig: Signature, shapes) -> str | None:
    """Why input `shapes` do not fit `sig`, as a sentence; None when they fit."""
    if sig.any_shape:
        return None
    sizes: dict[str, tuple[int, int]] = {}
    loops = []
    for i, (dims, shape) in enumerate(zip(sig.inputs, shapes, strict=False)):
        if len(shape) < len(dims):
            dims = tuple(d for d in dims if not d.endswith("?"))
        if len(shape) < len(dims):
            return (f"input {i + 1} needs at least {len(dims)} dimension(s) {dims}; "
                    f"got shape {shape}")
        core = shape[len(shape) - len(dims):]
        loops.append(shape[: len(shape) - len(dims)])
        for name, size in zip(dims, core, strict=False):
            name = name.rstrip("?")
            if name in sizes and sizes[name][1] != size:
                first, seen = sizes[name]
                return (
                    f"core dimension {name!r} is {seen} in input {first + 1} but {size} "
                    f"in input {i + 1}"
                )
            sizes.setdefault(name, (i, size))
    try:
        np.broadcast_shapes(*loops)
    except ValueError:
        return f"the loop (batch) dimensions {', '.join(map(str, loops))} do not broadcast"
    return None

