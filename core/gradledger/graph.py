"""`gl.to_dot(loss)` and `gl.render(loss, "graph.png")`: the recorded graph as a picture.

One box per tensor that takes a gradient (leaves you created with
requires_grad=True, and every recorded result), labelled with its name, its value
(scalars) or shape (arrays), and its grad; one arrow per input of each recorded
call, pointing the way the forward pass went and labelled with the op's name.
The backward pass books grads against the arrows. Constants (inputs that take no
gradient) are not drawn. Names are the ones `gl.explain` prints.

Values and grads are what the tensors hold when you call `to_dot`: draw after
`backward()` to see the grads. An intermediate nobody holds any more shows its
value only while its graph is kept (before backward, or with retain_graph=True).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np

from .errors import GradledgerError
from .ledger import BUILTIN_PLUGIN, display_names, forward_order, show_number, tensor_of
from .tape import Node, Output
from .tensor import Tensor

__all__ = ["GraphvizNotFoundError", "render", "to_dot"]

LEAF_COLOR = "#dbe9f6"
ROOT_COLOR = "#fde2c8"


class GraphvizNotFoundError(GradledgerError, RuntimeError):
    """`gl.render` needs Graphviz's `dot` program, and it is not installed."""


def to_dot(loss: Tensor, rankdir: str = "LR") -> str:
    """The graph that produced `loss`, as Graphviz DOT text (`dot -Tpng` draws it)."""
    if not isinstance(loss, Tensor):
        raise TypeError(f"gl.to_dot expected a gl.Tensor; got {type(loss).__name__}")
    order = forward_order(loss)
    names = display_names(loss, order)
    ids = {item: f"n{i}" for i, item in enumerate(order, 1)}
    root = order[-1]
    lines = [
        "digraph gradledger {",
        f"  rankdir={rankdir};",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname="Helvetica"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for item in order:
        color = ROOT_COLOR if item is root else LEAF_COLOR if isinstance(item, Tensor) else None
        fill = f', fillcolor="{color}"' if color else ""
        lines.append(f'  {ids[item]} [label="{_quote(_label(item, names[item]))}"{fill}];')
    for item in order:
        if not isinstance(item, Node):
            continue
        label = item.op.name
        if item.op.plugin and item.op.plugin != BUILTIN_PLUGIN:
            label += f"\n[{item.op.plugin}]"
        for parent in item.parents:
            if parent is not None:
                source = ids[parent.node if isinstance(parent, Output) else parent]
                lines.append(f'  {source} -> {ids[item]} [label="{_quote(label)}"];')
    lines.append("}")
    return "\n".join(lines)


def render(loss: Tensor, path: str | Path, format: str | None = None, dot: str = "dot") -> Path:
    """Draw the graph of `loss` into `path` with Graphviz's `dot` program.

    format: png, svg, pdf, ... (default: the file's suffix, else png).
    Raises GraphvizNotFoundError, saying how to install Graphviz, when `dot` is missing;
    `gl.to_dot(loss)` gives the DOT text without it.
    """
    path = Path(path)
    format = format or path.suffix.lstrip(".") or "png"
    program = shutil.which(dot)
    if program is None:
        raise GraphvizNotFoundError(
            f"gl.render needs Graphviz's `{dot}` program, which is not on PATH. Install "
            "Graphviz: `apt-get install graphviz` (Debian/Ubuntu), `brew install graphviz` "
            "(macOS), `conda install graphviz`, or https://graphviz.org/download/. "
            "Without it, gl.to_dot(loss) gives the DOT text to paste into any Graphviz viewer."
        )
    result = subprocess.run(
        [program, f"-T{format}", "-o", str(path)],
        input=to_dot(loss), capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        raise GradledgerError(
            f"gl.render: `{dot} -T{format}` failed (exit {result.returncode}): "
            f"{result.stderr.strip() or 'no message'}. Is {format!r} a format your Graphviz "
            "supports (`dot -T?` lists them)?"
        )
    return path


def _label(item, name: str) -> str:
    tensor = tensor_of(item)
    value = tensor.data if tensor is not None else item.out
    lines = [name]
    if value is None:
        lines.append("(freed by backward)")
    elif np.shape(value) == ():
        lines.append(f"value {show_number(value)}")
    else:
        lines.append(f"shape {'×'.join(map(str, np.shape(value)))}")
    grad = tensor.grad if tensor is not None else None
    if grad is not None:
        if np.shape(grad) == ():
            lines.append(f"grad {show_number(grad)}")
        else:
            lines.append(f"grad norm {show_number(np.linalg.norm(grad), digits=4)}")
    return "\n".join(lines)


def _quote(text: str) -> str:
    """Text inside a DOT double-quoted string: escape quotes and backslashes; \\n breaks."""
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
