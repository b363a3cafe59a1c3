"""`gl.graph(loss)`: the recorded graph as a picture that shows itself.

In Jupyter, `gl.graph(loss)` as a cell's last value draws inline as SVG (drawn in pure
Python: Graphviz is not needed); in a terminal its repr is a table. `.dot` is the
Graphviz DOT text (`gl.to_dot(loss)` too), `.save("g.svg")` writes a file, and
`gl.render(loss, "g.png")` draws through Graphviz's `dot`.

One box per value: leaves you created with requires_grad=True (blue), every recorded
result (the root orange), and the constants the calls read (grey, dashed). One arrow
per input of each call, the way the forward pass went, labelled with the op and the
input's local gradient (`local 6.0`: d out / d input; a shape or norm for arrays; a vjp
op shows what it booked). The backward pass books grads against the arrows.

What a picture shows after `backward()`: a plain `loss.backward()` keeps nothing for
pictures (it costs nothing extra), and frees what the graph saved. So the picture is
taken when you ask for it: `gl.graph(loss)` before backward, or `gl.explain(loss)`,
keeps a small summary of every value, local gradient and grad of the pass (numbers
for scalars, shapes and norms for arrays, never the arrays), held as long as `loss`
lives. Drawn after backward, every box shows its value and its grad. Drawn after a
plain backward with nothing kept, intermediates nobody holds say so.
"""

from __future__ import annotations

import shutil
import subprocess
import weakref
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np

from . import drawing
from .errors import GradledgerError
from .ledger import (
    BUILTIN_PLUGIN,
    Ledger,
    display_names,
    explain,
    forward_order,
    show_number,
    tensor_of,
)
from .saved import Unread
from .tape import Node, Output
from .tensor import Tensor

__all__ = ["Graph", "GraphvizNotFoundError", "Shown", "graph", "render", "to_dot"]

LEAF_COLOR = "#dbe9f6"
ROOT_COLOR = "#fde2c8"
CONSTANT_COLOR = "#f2f2f2"
SMALL = 4  # arrays of at most this many numbers are shown in full
ROWS = 60  # the table repr of a longer graph shows its first and last rows


class GraphvizNotFoundError(GradledgerError, RuntimeError):
    """`gl.render` needs Graphviz's `dot` program, and it is not installed."""


# -- what a picture keeps: summaries, never the arrays ------------------------------------


class Shown(NamedTuple):
    """A value as a picture shows it: `text` ("36.0", "[1.0, -2.0]", "[3×4, norm 1.2]"),
    the number when it is one (else None), and its shape."""

    text: str
    number: float | None
    shape: tuple


def shown(value) -> Shown | None:
    """A summary of `value`: the number of a scalar, the numbers of a small array, else
    its shape and norm."""
    if value is None:
        return None
    if isinstance(value, Tensor):
        value = value.data
    array = np.asarray(value)
    shape = tuple(array.shape)
    if array.size == 1:
        number = array.reshape(())[()]
        if np.iscomplexobj(number):
            return Shown(f"{complex(number):.6g}", None, shape)
        text = show_number(number)
        return Shown(text if shape == () else f"[{text}]", float(number), shape)
    if array.ndim == 1 and array.size <= SMALL and not np.iscomplexobj(array):
        return Shown("[" + ", ".join(show_number(v) for v in array) + "]", None, shape)
    dims = "×".join(map(str, shape))
    norm = np.linalg.norm(np.asarray(array, dtype=np.complex128 if np.iscomplexobj(array)
                                     else np.float64).ravel())
    return Shown(f"[{dims}, norm {show_number(norm, digits=4)}]", None, shape)


@dataclass
class Box:
    """One value of the picture. kind: 'leaf', 'result', 'root' or 'constant'."""

    id: str
    name: str
    kind: str
    value: Shown | None
    op: str | None = None
    item: object = None  # the Node or leaf Tensor (None for a constant)
    lines: list = field(default_factory=list)


@dataclass
class Arrow:
    """Input `index` of the call drawn as box `target` comes from box `source`."""

    source: str
    target: str
    index: int
    op: str
    constant: bool = False
    local: Shown | None = None  # d out / d input, for an elementwise op
    booked: Shown | None = None  # what the pass booked along this arrow (its last entry)
    lines: list = field(default_factory=list)


@dataclass
class Picture:
    """What is kept of one graph for drawing: its boxes and arrows with summarized values,
    and, when a traced pass ran, every box's grad from that pass and its ledger."""

    root: str
    boxes: list
    arrows: list
    grads: dict | None = None  # box id -> Shown, the pass's final balances
    ledger: Ledger | None = None  # the traced pass's entries (arrays summarized)
    steps: list = field(default_factory=list)  # per ledger entry: (arrow index | None, box id)
    booked: bool = False  # the pass booked into .grad (gl.explain), not a replay
    note: str = ""


# Pictures kept for roots that are still alive: id(root) -> (weakref to root, Picture).
_KEPT: dict[int, tuple] = {}


def keep(root: Tensor, picture: Picture) -> None:
    """Keep `picture` for as long as `root` lives (a draw before backward, or gl.explain)."""
    key = id(root)
    if key not in _KEPT:
        weakref.finalize(root, _KEPT.pop, key, None)
    _KEPT[key] = (weakref.ref(root), picture)


def kept(root: Tensor) -> Picture | None:
    """The picture kept for `root`, if one was taken."""
    entry = _KEPT.get(id(root))
    return entry[1] if entry is not None and entry[0]() is root else None


def capture(root: Tensor, order: list | None = None) -> Picture:
    """Summarize the graph of `root` as it stands: values (while the graph holds them),
    constants, and the arrows between them."""
    order = forward_order(root) if order is None else order
    names = display_names(root, order)
    boxes, arrows, ids = [], [], {}
    root_item = order[-1]
    for n, item in enumerate(order, 1):
        ids[item] = f"n{n}"
    constants = 0
    for item in order:
        tensor = tensor_of(item)
        if isinstance(item, Node):
            out = tensor.data if tensor is not None else item.out
            if isinstance(out, Unread):  # an output its op's rules do not read: dropped
                out = None
            value = (None if out is None else
                     Shown(f"{len(out)} outputs", None, ()) if isinstance(out, tuple)
                     else shown(out))
            label = item.op.name
            if item.op.plugin and item.op.plugin != BUILTIN_PLUGIN:
                label += f" [{item.op.plugin}]"
            for i, parent in enumerate(item.parents):
                if parent is not None:
                    source = ids[parent.node if isinstance(parent, Output) else parent]
                    arrows.append(Arrow(source, ids[item], i, label))
                elif item.arrays is not None:
                    constants += 1
                    box = Box(f"c{constants}", "constant", "constant", shown(item.arrays[i]))
                    boxes.append(box)
                    arrows.append(Arrow(box.id, ids[item], i, label, constant=True))
            kind = "root" if item is root_item else "result"
            boxes.append(Box(ids[item], names[item], kind, value, label, item))
        else:
            kind = "root" if item is root_item else "leaf"
            boxes.append(Box(ids[item], names[item], kind, shown(item.data), None, item))
    return Picture(names[root_item], boxes, arrows)


def add_pass(picture: Picture, order: list, ledger: Ledger, bookings: list,
             booked: bool) -> None:
    """Fill `picture` with a traced pass: each box's grad, each arrow's local gradient."""
    ids = {item: f"n{n}" for n, item in enumerate(order, 1)}
    arrow_at = {(a.target, a.index): k for k, a in enumerate(picture.arrows) if not a.constant}
    grads: dict = {}
    steps = []
    for booking in bookings:
        several = isinstance(booking.parent, Output)  # one output of several: no box of its own
        target = ids.get(booking.parent.node if several else booking.parent)
        if not several:
            grads[target] = shown(booking.total)
        if booking.op is None:
            steps.append((None, target))
            continue
        k = arrow_at.get((ids.get(booking.node), booking.index))
        steps.append((k, target))
        if k is not None:
            arrow = picture.arrows[k]
            arrow.local = shown(booking.local)
            arrow.booked = shown(booking.contribution)
    picture.grads = grads
    picture.ledger = ledger
    picture.steps = steps
    picture.booked = booked


# -- the Graph: a picture that shows itself ------------------------------------------------


def graph(loss: Tensor, grad=None) -> Graph:
    """The graph that produced `loss`, as an object that draws itself.

    Before backward (the graph still whole) it also replays the backward pass without
    booking anything (as `gl.explain(loss, book=False)`), to keep each arrow's local
    gradient and each box's grad for a later drawing: `grad` is the seed for a
    non-scalar `loss`. Drawn before backward it shows values; after backward, values
    and grads.
    """
    if not isinstance(loss, Tensor):
        raise TypeError(f"gl.graph expected a gl.Tensor; got {type(loss).__name__}")
    return Graph(loss, grad)


class Graph:
    """The picture of a recorded graph: `_repr_svg_` in Jupyter, a table as repr,
    `.dot` for Graphviz, `.svg` as text, `.save(path)` to a file."""

    def __init__(self, loss: Tensor, grad=None) -> None:
        self.loss = loss
        order = forward_order(loss)
        whole = all(item.arrays is not None for item in order if isinstance(item, Node))
        if whole and loss._node is not None:
            picture = capture(loss, order)
            if loss.requires_grad and (np.shape(loss.data) == () or grad is not None):
                try:
                    ledger = explain(loss, grad, book=False, show=False)
                except Exception as error:  # drawn anyway, saying why there are no grads
                    picture.note = f"no grads: the backward pass could not run ({error})"
                else:
                    picture = kept(loss)  # explain took the picture with its pass
                    del ledger
            else:
                picture.note = ("grads of intermediates need the seed: "
                                "gl.graph(loss, grad=...)")
            if picture.grads is None:
                keep(loss, picture)
            self._picture = picture
        else:
            self._picture = kept(loss) or capture(loss, order)

    # -- what each box and arrow shows, read when drawn ---------------------------------

    def _backward_ran(self) -> bool:
        picture = self._picture
        return picture.booked or self.loss.grad is not None or (
            self.loss._node is not None and _freed(self.loss))

    def _resolve(self) -> Picture:
        picture = self._picture
        ran = self._backward_ran()
        grads = picture.grads or {}
        for box in picture.boxes:
            tensor = tensor_of(box.item) if box.item is not None else None
            lines = [box.name]
            value = box.value if tensor is None else shown(tensor.data)
            if box.kind == "constant":
                lines = [value.text if value is not None else "constant"]
            elif value is None:
                lines.append("(not kept)")
            elif "norm" not in value.text:  # a number, or a few numbers
                lines.append(f"value {value.text}")
            else:
                lines.append(f"shape {'×'.join(map(str, value.shape))}")
            grad = None
            if tensor is not None and tensor.grad is not None:
                grad = shown(tensor.grad)
            elif ran and box.id in grads:
                grad = grads[box.id]
            if grad is not None:  # an array's shape is on the line above: its norm here
                lines.append(f"grad {grad.text.split(', ')[1][:-1]}" if "norm" in grad.text
                             else f"grad {grad.text}")
            box.lines = lines
        for arrow in picture.arrows:
            if arrow.constant:
                arrow.lines = []
            elif arrow.local is not None:
                arrow.lines = [arrow.op, f"local {_short(arrow.local)}"]
            elif arrow.booked is not None:
                arrow.lines = [arrow.op, f"vjp {_short(arrow.booked)}"]
            else:
                arrow.lines = [arrow.op]
        return picture

    @property
    def caption(self) -> str:
        picture = self._picture
        if picture.note:
            return picture.note
        if any(box.value is None for box in picture.boxes):
            return ("(not kept): freed by backward(); draw gl.graph(loss) or run "
                    "gl.explain(loss) before backward() to keep it")
        return ""

    @property
    def svg(self) -> str:
        """The picture as SVG text (drawn here, in Python)."""
        picture = self._resolve()
        return drawing.svg(picture.boxes, picture.arrows, self.caption)

    def _repr_svg_(self) -> str:
        return self.svg

    @property
    def dot(self) -> str:
        """The picture as Graphviz DOT text."""
        picture = self._resolve()
        lines = [
            "digraph gradledger {",
            f"  rankdir={self.rankdir};",
            '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica"];',
            '  edge [fontname="Helvetica", fontsize=10];',
        ]
        colors = {"root": ROOT_COLOR, "leaf": LEAF_COLOR, "constant": CONSTANT_COLOR}
        for box in picture.boxes:
            fill = f', fillcolor="{colors[box.kind]}"' if box.kind in colors else ""
            if box.kind == "constant":
                fill += ', style="rounded,filled,dashed"'
            lines.append(f'  {box.id} [label="{_quote(chr(10).join(box.lines))}"{fill}];')
        for arrow in picture.arrows:
            style = ', style="dashed"' if arrow.constant else ""
            label = _quote("\n".join(arrow.lines))
            lines.append(f'  {arrow.source} -> {arrow.target} [label="{label}"{style}];')
        lines.append("}")
        return "\n".join(lines)

    rankdir = "LR"

    def save(self, path: str | Path, dot: str = "dot") -> Path:
        """Write the picture: `.svg` (drawn here), `.dot`/`.gv` (DOT text), or any other
        format Graphviz's `dot` knows (png, pdf, ...), through `dot`."""
        path = Path(path)
        suffix = path.suffix.lstrip(".").lower()
        if suffix == "svg":
            path.write_text(self.svg + "\n", encoding="utf-8")
        elif suffix in ("dot", "gv"):
            path.write_text(self.dot + "\n", encoding="utf-8")
        else:
            _run_dot(self.dot, path, suffix or "png", dot)
        return path

    def text(self) -> str:
        """The picture as a table: one row per value, its value and grad."""
        picture = self._resolve()
        names = {b.id: b.name if b.kind != "constant" else "·" for b in picture.boxes}
        inputs: dict = {}
        for arrow in picture.arrows:
            inputs.setdefault(arrow.target, []).append((arrow.index, arrow.source))
        rows = [(box.name, _what(box, names, inputs), *(box.lines[1:] + ["", ""])[:2])
                if box.kind != "constant" else ("·", "constant", f"value {box.lines[0]}", "")
                for box in picture.boxes]
        widths = [max(len(row[c]) for row in rows) for c in range(3)]
        head = f"graph of {picture.root}: {len(picture.boxes)} values, {len(picture.arrows)} arrows"
        body = ["  " + "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=False))
                + "  " + row[3] for row in rows]
        if len(body) > ROWS:  # a long graph: its first and last rows
            body = [*body[:ROWS // 2], f"  ... {len(body) - ROWS} more ...", *body[-ROWS // 2:]]
        tail = [self.caption] if self.caption else []
        return "\n".join([head, *(line.rstrip() for line in body), *tail])

    def __repr__(self) -> str:
        return self.text()

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(self.text())

    def __str__(self) -> str:
        return self.dot


def _what(box: Box, names: dict, inputs: dict) -> str:
    if box.kind == "constant":
        return ""
    if box.op is None:
        return "leaf"
    args = sorted(inputs.get(box.id, []))
    return f"{box.op}({', '.join(names[source] for _, source in args)})"


def _short(value: Shown) -> str:
    return value.text[1:-1] if value.text.startswith("[") and "norm" in value.text else value.text


def _freed(loss: Tensor) -> bool:
    node = loss._node
    node = node.node if isinstance(node, Output) else node
    return node.arrays is None


# -- DOT text and Graphviz ---------------------------------------------------------------


def to_dot(loss: Tensor, rankdir: str = "LR") -> str:
    """The graph that produced `loss`, as Graphviz DOT text (`dot -Tpng` draws it)."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"gl.to_dot expected a gl.Tensor; got {type(loss).__name__}")
    picture = graph(loss)
    picture.rankdir = rankdir
    return picture.dot


def render(loss: Tensor, path: str | Path, format: str | None = None, dot: str = "dot") -> Path:
    """Draw the graph of `loss` into `path` with Graphviz's `dot` program.

    format: png, svg, pdf, ... (default: the file's suffix, else png).
    Raises GraphvizNotFoundError, saying how to install Graphviz, when `dot` is missing;
    `gl.to_dot(loss)` gives the DOT text without it, and `gl.graph(loss).save("g.svg")`
    draws an SVG without Graphviz.
    """
    path = Path(path)
    _run_dot(to_dot(loss), path, format or path.suffix.lstrip(".") or "png", dot)
    return path


def _run_dot(text: str, path: Path, format: str, dot: str) -> None:
    program = shutil.which(dot)
    if program is None:
        raise GraphvizNotFoundError(
            f"gl.render needs Graphviz's `{dot}` program, which is not on PATH. Install "
            "Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
            "(macOS), `conda install graphviz`, or https://graphviz.org/download/. "
            "Without it, gl.to_dot(loss) gives the DOT text to paste into any Graphviz "
            "viewer, and gl.graph(loss).save('graph.svg') draws an SVG."
        )
    result = subprocess.run(
        [program, f"-T{format}", "-o", str(path)],
        input=text, capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise GradledgerError(
            f"gl.render: `{dot} -T{format}` failed (exit {result.returncode}): "
            f"{result.stderr.strip() or 'no message'}. Is {format!r} a format your Graphviz "
            "supports (`dot -T?` lists them)?"
        )


def _quote(text: str) -> str:
    """Text inside a DOT double-quoted string: escape quotes and backslashes; \\n breaks."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
