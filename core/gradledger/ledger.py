"""`gl.explain(loss)`: the backward pass, printed as the ledger the seed describes.

Every edge of the graph is one entry, in the order the tape books it:

    ledger of loss (booking order; arrays show as [shape, norm])
      1  seed  loss.grad = 1.0
      2  mul   a.grad += 6.0 × loss.grad (1.0)  → 6.0
      3  mul   a.grad += 6.0 × loss.grad (1.0)  → 12.0
      4  mul   x.grad += 3.0 × a.grad (12.0)  → 36.0

Names come from `gl.tensor(2.0, name="x")`; an unnamed root is `loss`, other
unnamed tensors are t1, t2, ... in the order the forward pass made them (the same
names `gl.to_dot` uses).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import NamedTuple, TextIO

import numpy as np

from .loader import BUILTIN_PLUGIN
from .tape import Booking, Node, Output
from .tensor import Tensor

__all__ = ["Entry", "Ledger", "explain"]



class Entry(NamedTuple):
    """One ledger entry: `target.grad += local × source.grad  → total`.

    number:        1-based position in booking order
    op, plugin:    the op whose local rule made this entry and the plugin that
                   registered it (None for the seed, booked into the root)
    rule:          'seed', 'local_grad' (elementwise: contribution = local × out_grad,
                   summed over broadcast axes) or 'vjp' (the op's rule gave the
                   contribution directly; `local` is None)
    target:        display name of the tensor booked into
    source:        display name of the op's output, whose grad is passed back
    input:         which input of the op `target` is (0-based)
    local, out_grad, contribution, total:
                   numpy values; `total` is target's grad after this entry
    text:          the entry as printed
    """

    number: int
    op: str | None
    plugin: str | None
    rule: str
    target: str
    source: str | None
    input: int
    local: object
    out_grad: object
    contribution: object
    total: object
    text: str


class Ledger(Sequence):
    """The entries of one explained backward pass, in booking order (a read-only list).

    `str(ledger)` is the printed text; `ledger.balances` maps each name to its
    final grad from this pass; `ledger.entries_for("x")` lists x's entries;
    `ledger.where` says what each automatic name stands for (`t1 = matmul(·, W1)`,
    with `·` for an input that takes no gradient).
    """

    def __init__(self, root: str, entries: list[Entry], where: list[str] | None = None,
                 note: str = "") -> None:
        self.root = root
        self.entries = tuple(entries)
        self.where = list(where or [])
        self.note = note
        self._picture = None  # the picture `explain` took (graph.Picture), for to_html
        self._printed_in = None  # the notebook cell that printed this ledger
        self._forward = None  # page.Forward: the recorded forward rules, for the nudge

    def __getitem__(self, index):
        return self.entries[index]

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def balances(self) -> dict[str, object]:
        """Each booked tensor's grad after this pass, by display name, in booking order."""
        return {entry.target: entry.total for entry in self.entries}

    def entries_for(self, name: str) -> list[Entry]:
        return [entry for entry in self.entries if entry.target == name]

    @property
    def text(self) -> str:
        header = f"ledger of {self.root} (booking order; arrays show as [shape, norm])"
        width = max((len(_op_label(e)) for e in self.entries), default=0)
        digits = len(str(len(self.entries)))
        rows = [
            f"  {e.number:>{digits}}  {_op_label(e):<{width}}  {e.text}" for e in self.entries
        ]
        where = ["where", *(f"  {line}" for line in self.where)] if self.where else []
        note = [self.note] if self.note else []
        return "\n".join([header, *rows, *where, *note])

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"<Ledger of {self.root}: {len(self.entries)} entries>"

    # -- display: a table in a notebook and in IPython's terminal ----------------------

    def _repr_pretty_(self, printer, cycle: bool) -> None:
        printer.text(self.text)

    def _repr_html_(self) -> str:
        from html import escape

        rows = "".join(
            f"<tr><td style='text-align:right'>{e.number}</td><td>{escape(_op_label(e))}</td>"
            f"<td style='text-align:left;font-family:monospace'>{escape(e.text)}</td></tr>"
            for e in self.entries
        )
        where = "".join(f"<li><code>{escape(line)}</code></li>" for line in self.where)
        return (
            f"<div><b>ledger of {escape(self.root)}</b> (booking order; arrays show as "
            "[shape, norm])<table><thead><tr><th>#</th><th>op</th><th style='text-align:left'>"
            f"entry</th></tr></thead><tbody>{rows}</tbody></table>"
            + (f"where<ul>{where}</ul>" if where else "")
            + (f"<p>{escape(self.note)}</p>" if self.note else "") + "</div>"
        )

    def _ipython_display_(self) -> None:
        # `gl.explain(loss)` as a cell's last value has printed itself: not twice.
        if self._printed_in is not None and self._printed_in == _cell():
            return
        from IPython.display import display

        display({"text/plain": self.text, "text/html": self._repr_html_()}, raw=True)

    def to_html(self, path, nudge=None, h: float = 0.01) -> object:
        """Write the step-through page of this backward pass: one self-contained HTML
        file (see `gradledger.page`). `nudge` names a scalar leaf (or is that leaf)
        whose nudged loss is shown next to its booked grad; `h` is the nudge."""
        from .page import write_page

        return write_page(self, path, nudge=nudge, h=h)


def explain(
    loss: Tensor,
    grad=None,
    *,
    retain_graph: bool = False,
    book: bool = True,
    file: TextIO | None = None,
    show: bool = True,
) -> Ledger:
    """Run the backward pass from `loss` and print it as a ledger, one line per edge.

    book=True:    this is `loss.backward(grad, retain_graph)`: every `.grad` is booked
                  (added to whatever it held before, as backward does). The printed
                  balances are this pass's own, starting from an empty ledger.
    book=False:   a replay: the ledger is computed and printed, then every `.grad`
                  is restored and the graph kept, as if nothing had run. After a
                  plain `loss.backward()` (which freed the graph) it explains what was
                  booked: every entry when a picture was taken before backward
                  (`gl.graph(loss)` or `gl.explain`), else the balances left.
    file:         where to print (default: standard output); show=False prints nothing.

    Returns the `Ledger`: the entries as data, for tests and notebooks.
    """
    if not isinstance(loss, Tensor):
        raise TypeError(
            f"gl.explain expected the gl.Tensor to differentiate; got {type(loss).__name__}"
        )
    order = forward_order(loss)
    names = display_names(loss, order)
    where = _where(order, names)
    from . import pictures  # (pictures.py imports this module)

    if not book and _is_freed(order):
        # After a plain backward(): explain what was booked, from what a picture or an
        # earlier explain kept, else the balances the tensors hold.
        picture = pictures.kept(loss)
        ledger = picture.ledger if picture is not None and picture.ledger is not None \
            else _booked(loss, order, names, where)
        _print(ledger, show, file)
        return ledger
    picture = pictures.capture(loss, order)  # the values, before backward frees them
    forward = None
    if not _is_freed(order):  # (a freed graph: backward below says so)
        from .page import Forward

        forward = Forward(order)  # for the page's nudge: the forward rules, run again
    tensors = _live_tensors(order)
    opening = [t.grad for t in tensors]
    for t in tensors:
        t.grad = None
    bookings: list[Booking] = []

    def record(booking: Booking) -> None:
        # A snapshot: the ledger shows each balance as it stood after this entry.
        bookings.append(booking._replace(contribution=_copy(booking.contribution),
                                         total=_copy(booking.total)))

    try:
        loss.backward(grad, retain_graph=retain_graph or not book, trace=record)
    except BaseException:
        _restore(tensors, opening, keep_new=False)
        raise
    _restore(tensors, opening, keep_new=book)
    entries = [_entry(number, booking, names) for number, booking in enumerate(bookings, 1)]
    ledger = Ledger(names[_key(loss)], entries, where)
    lean = Ledger(ledger.root, [_lean(entry) for entry in entries], where)
    pictures.add_pass(picture, order, lean, bookings, booked=book)
    pictures.keep(loss, picture)
    ledger._picture = picture
    ledger._forward = forward
    _print(ledger, show, file)
    return ledger


def _print(ledger: Ledger, show: bool, file: TextIO | None) -> None:
    if not show:
        return
    print(ledger.text, file=file if file is not None else sys.stdout)
    if file is None:
        ledger._printed_in = _cell()


def _cell():
    """The running notebook cell's number (None outside IPython): a ledger printed by
    `explain` is not displayed again as the same cell's value."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "execution_count", None)


def _is_freed(order: list) -> bool:
    return any(isinstance(item, Node) and item.arrays is None for item in order)


def _booked(loss: Tensor, order: list, names: dict, where: list[str]) -> Ledger:
    """A ledger of the balances an earlier backward() booked, when its entries were not
    kept (a plain backward frees the graph and keeps nothing for pictures)."""
    entries = []
    for item in reversed(order):
        tensor = tensor_of(item)
        if tensor is None or tensor.grad is None:
            continue
        name = names[item]
        entries.append(Entry(len(entries) + 1, None, None, "booked", name, None, 0, None,
                             None, None, tensor.grad, f"{name}.grad = {_show(tensor.grad)}"))
    note = ("booked by an earlier backward(), which freed the graph: only the balances "
            "are left. To see every entry, run gl.explain(loss) instead of backward(), "
            "or draw gl.graph(loss) before backward().")
    return Ledger(names[_key(loss)], entries, where, note=note)


def _lean(entry: Entry) -> Entry:
    """The entry with its big arrays summarized (what a kept picture holds)."""
    from .pictures import SMALL, shown

    def small(value):
        return value if value is None or np.size(value) <= SMALL else shown(value)

    return entry._replace(local=small(entry.local), out_grad=small(entry.out_grad),
                          contribution=small(entry.contribution), total=small(entry.total))


# -- the graph, in forward order, with display names ------------------------------


def forward_order(root: Tensor) -> list:
    """Every recorded call (Node) and grad-taking leaf (Tensor) under `root`, inputs first.

    An iterative depth-first walk: depth is limited by memory, not recursion.
    """
    start = _call(root._node) if root._node is not None else root
    order, seen = [], {start}
    stack = [(start, iter(_inputs(start)))]
    while stack:
        item, inputs = stack[-1]
        for parent in inputs:
            if parent not in seen:
                seen.add(parent)
                stack.append((parent, iter(_inputs(parent))))
                break
        else:
            stack.pop()
            order.append(item)
    return order


def _inputs(item) -> tuple:
    if isinstance(item, Node):
        return tuple(_call(p) for p in item.parents if p is not None)
    return ()


def _call(parent):
    """The recorded call behind a parent (one output of a call with several: the call)."""
    return parent.node if isinstance(parent, Output) else parent


def tensor_of(item) -> Tensor | None:
    """The tensor an item of `forward_order` stands for, None if nobody holds it."""
    return item.tensor() if isinstance(item, Node) else item


def display_names(root: Tensor, order: list | None = None) -> dict:
    """A name per item of `forward_order(root)`: its own `name`, else `loss` for the
    root and t1, t2, ... in forward order; repeated names get #2, #3."""
    order = forward_order(root) if order is None else order
    given = {item: getattr(tensor_of(item), "name", None) for item in order}
    taken = set(given.values())
    root_item = order[-1]
    if not given[root_item] and "loss" not in taken:
        given[root_item] = "loss"
    names, used, counter = {}, {}, 0
    for item in order:
        name = given[item]
        if not name:
            counter += 1
            name = f"t{counter}"
            while name in used or name in taken:
                counter += 1
                name = f"t{counter}"
        if name in used:
            used[name] += 1
            name = f"{name}#{used[name]}"
        else:
            used[name] = 1
        names[item] = name
    return names


def _where(order: list, names: dict) -> list[str]:
    """`t2 = add(t1, b1)` for every recorded result without a name of its own."""
    lines = []
    for item in order:
        if not isinstance(item, Node) or getattr(tensor_of(item), "name", None):
            continue
        args = ["·" if p is None else f"{names[p.node]}[{p.index}]" if isinstance(p, Output)
                else names[p] for p in item.parents]
        args += [f"{key}={value!r}" for key, value in (item.params or {}).items()]
        lines.append(f"{names[item]} = {item.op.name}({', '.join(args)})")
    return lines


def _copy(value):
    return value.copy() if isinstance(value, np.ndarray) else value


def _key(t: Tensor):
    return _call(t._node) if t._node is not None else t


def _live_tensors(order: list) -> list[Tensor]:
    return [t for t in map(tensor_of, order) if t is not None]


def _restore(tensors: list[Tensor], opening: list, keep_new: bool) -> None:
    for t, before in zip(tensors, opening, strict=True):
        if not keep_new or t.grad is None:
            t.grad = before
        elif before is not None:
            t.grad = before + t.grad


# -- one entry ----------------------------------------------------------------------


def _entry(number: int, booking: Booking, names: dict) -> Entry:
    # Named by the recorded call and what it books into: there even for an
    # intermediate nobody holds any more.
    parent = booking.parent
    target = names[_call(parent)]
    if isinstance(parent, Output):  # one output of a call with several: t1[0], t1[1]
        target += f"[{parent.index}]"
    if booking.op is None:
        text = f"{target}.grad = {_show(booking.total)}"
        return Entry(number, None, None, "seed", target, None, 0, None, None,
                     booking.contribution, booking.total, text)
    op = booking.op
    source = names[booking.node]
    total = _show(booking.total)
    if op.local_grad is not None:
        rule = "local_grad"
        text = (f"{target}.grad += {_show(booking.local)} × {source}.grad "
                f"{_show_grad(booking.out_grad)}  → {total}")
        spread = np.broadcast_shapes(np.shape(booking.local), np.shape(booking.out_grad))
        if spread != np.shape(booking.contribution):
            text += "  (summed over broadcast axes)"
    else:
        rule = "vjp"
        text = (f"{target}.grad += vjp({source}.grad {_show_grad(booking.out_grad)}) "
                f"= {_show(booking.contribution)}  → {total}")
    return Entry(number, op.name, op.plugin, rule, target, source, booking.index, booking.local,
                 booking.out_grad, booking.contribution, booking.total, text)


def _op_label(entry: Entry) -> str:
    if entry.op is None:
        return "seed"
    if entry.plugin and entry.plugin != BUILTIN_PLUGIN:
        return f"{entry.op} [{entry.plugin}]"
    return entry.op


def _show(value) -> str:
    """A number as the seed writes it (36.0); an array as [shape, norm], never a wall."""
    shape = np.shape(value)
    if shape == ():
        return show_number(value)
    array = np.asarray(value, dtype=np.float64)
    dims = "×".join(map(str, shape))
    if array.size == 1:
        return f"[{dims}: {show_number(array.reshape(()))}]"
    return f"[{dims}, norm {show_number(np.linalg.norm(array), digits=4)}]"


def _show_grad(value) -> str:
    """An output's grad beside its name: `a.grad (12.0)`, or `t2.grad [4×3, norm 1.2]`."""
    return f"({show_number(value)})" if np.shape(value) == () else _show(value)


def show_number(value, digits: int = 6) -> str:
    """36.0, 0.1001, 1e-07: the shortest honest form, a float always showing as one."""
    text = f"{float(value):.{digits}g}"
    if text.lstrip("-").isdigit():
        text += ".0"
    return text
