"""Parse an op's shape signature: numpy's gufunc grammar plus gradledger's extensions.

    "(),()->()"                 binary elementwise; loop dimensions broadcast as in numpy
    "(n,k),(k,m)->(n,m)"        matmul; leading loop dimensions broadcast
    "(n?,k),(k,m?)->(n?,m?)"    `?` marks a core dimension that may be missing
    "(*)->(*)"                  an operand of any shape, no broadcasting; the op's params
                                decide the result shape (sum with axis, reshape, transpose)
    "(*)->(*),(*)"              several outputs (a value and its argmax; split's pieces)
    "[(*)]->(*)"                the last input is a sequence: the caller passes a list of
                                tensors there (concatenate, stack)
    "(*)...->(*)"               the last input repeats: any number (>= 1) of positional
                                operands (einsum)
    "(*)->[(*)]"                a list of outputs, as many as the params say (split)

A variadic input reaches the op's rules flattened: `forward(*fixed, *elements, **params)`,
and a vjp returns one grad per element. Only the last input may be variadic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

ANY_SHAPE = "*"
SEQUENCE = "sequence"
STAR = "star"

_DIM = r"\s*\w+\??\s*"
_CORE = rf"\((?:{_DIM}(?:,{_DIM})*)?\)|\(\s*\*\s*\)"
_INPUT = re.compile(rf"\s*(?:\[\s*(?P<seq>{_CORE})\s*\]|(?P<plain>{_CORE})(?P<star>\s*\.\.\.)?)\s*")
_OUTPUT = re.compile(rf"\s*(?:\[\s*(?P<seq>{_CORE})\s*\]|(?P<plain>{_CORE}))\s*")


@dataclass(frozen=True)
class Signature:
    """A parsed signature: the core dimensions of each input and of each output.

    `inputs[i]` is a tuple of dimension names (`"n"`, `"m?"`), or the string `"*"`
    for an operand of any shape; the same for `outputs`. `variadic` says whether the
    last input is a sequence (`"sequence"`), repeats (`"star"`), or neither (None).
    """

    text: str
    inputs: tuple
    outputs: tuple
    variadic: str | None = None
    sequence_out: bool = False

    @property
    def nin(self) -> int:
        """Inputs as written: a variadic input counts once."""
        return len(self.inputs)

    @property
    def nout(self) -> int | None:
        """How many outputs; None for a list of outputs whose length the params decide."""
        return None if self.sequence_out else len(self.outputs)

    @property
    def output(self):
        """The first (usually the only) output's core dimensions."""
        return self.outputs[0]

    @property
    def elementwise(self) -> bool:
        """True when every operand has no core dimensions: numpy broadcasting throughout."""
        return (self.variadic is None and all(dims == () for dims in self.inputs)
                and self.outputs == ((),))

    @property
    def any_shape(self) -> bool:
        return ANY_SHAPE in self.outputs or ANY_SHAPE in self.inputs

    def flat_inputs(self, count: int) -> tuple:
        """The core dimensions of each of `count` flat inputs (a variadic one repeated)."""
        if self.variadic is None:
            return self.inputs
        return self.inputs[:-1] + (self.inputs[-1],) * (count - len(self.inputs) + 1)

    def new_output_dims(self) -> list[str]:
        """Output core dimensions that no input names: only a declared rule can size them."""
        named = {d.rstrip("?") for dims in self.inputs if dims != ANY_SHAPE for d in dims}
        return [d.rstrip("?") for dims in self.outputs if dims != ANY_SHAPE for d in dims
                if d.rstrip("?") not in named]


def parse_signature(text: str) -> Signature:
    """Parse `text`; raise ValueError naming what is wrong with it."""
    if not isinstance(text, str):
        raise ValueError(f"a signature is a string like '(),()->()'; got {type(text).__name__}")
    problem = (
        f"signature {text!r} does not parse; expected numpy gufunc form such as "
        "'(),()->()' or '(n,k),(k,m)->(n,m)', '(*)->(*)' for any shape, '(*)->(*),(*)' for "
        "two outputs, '[(*)]->(*)' for a sequence input or '(*)...->(*)' for repeated inputs"
    )
    if text.count("->") != 1:
        raise ValueError(problem)
    left, right = text.split("->")
    inputs, variadic = [], None
    for i, part in enumerate(_split_operands(left)):
        match = _INPUT.fullmatch(part)
        if match is None:
            raise ValueError(problem)
        kind = SEQUENCE if match["seq"] else STAR if match["star"] else None
        if variadic is not None:
            raise ValueError(f"signature {text!r}: only the last input may be variadic "
                             f"('[...]' or '...'); input {i} follows one")
        variadic = kind
        inputs.append(_operand(match["seq"] or match["plain"]))
    outputs, sequence_out = [], False
    for part in _split_operands(right):
        match = _OUTPUT.fullmatch(part)
        if match is None:
            raise ValueError(problem)
        sequence_out = sequence_out or bool(match["seq"])
        outputs.append(_operand(match["seq"] or match["plain"]))
    if not inputs or not outputs:
        raise ValueError(problem)
    if sequence_out and len(outputs) > 1:
        raise ValueError(f"signature {text!r}: a list of outputs '[...]' must be the only output")
    return Signature(text=text, inputs=tuple(inputs), outputs=tuple(outputs), variadic=variadic,
                     sequence_out=sequence_out)


def _split_operands(text: str) -> list[str]:
    """Split at the commas between operands (not those inside parentheses)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char in "([":
            depth += 1
        elif char in ")]":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return parts if text.strip() else []


def _operand(text: str):
    body = text.strip()[1:-1].strip()
    if body == ANY_SHAPE:
        return ANY_SHAPE
    return tuple(d.strip() for d in body.split(",")) if body else ()


def shape_mismatch(sig: Signature, shapes) -> str | None:
    """Why (flat) input `shapes` do not fit `sig`, as a sentence; None when they fit."""
    if sig.any_shape:
        return None
    sizes: dict[str, tuple[int, int]] = {}
    loops = []
    for i, (dims, shape) in enumerate(zip(sig.flat_inputs(len(shapes)), shapes, strict=False)):
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
