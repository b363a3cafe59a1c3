"""The step-through page: `gl.explain(loss).to_html("backward.html")`.

One self-contained HTML file (no server, no network, no external script): the graph,
and a step control. Each step is one ledger entry: its arrow lights up, the entry
`input.grad += local × output.grad` is written out with its numbers, the target's box
shows its new balance, and the table of running balances says how each balance was
made, path by path (`y = x + x` books `1.0 + 1.0`). Beside it, the seed's nudge for
one leaf: the loss at `x` and at `x + h`, their ratio, and the grad backward booked.
The nudge is computed when the page is written, by running the recorded forward
rules again (not the backward ones).
"""

from __future__ import annotations

import json
from dataclasses import replace
from html import escape
from pathlib import Path

import numpy as np

from . import drawing
from .errors import GradledgerError
from .ledger import Ledger, show_number
from .pictures import Picture, shown
from .tape import Node, Output
from .tensor import Tensor

__all__ = ["write_page"]


def write_page(ledger: Ledger, path, nudge=None, h: float = 0.01) -> Path:
    """Write the step-through page of `ledger` (from `gl.explain`) to `path`."""
    picture: Picture | None = ledger._picture
    if picture is None:
        raise GradledgerError(
            "to_html needs a ledger that gl.explain(loss) computed in this session (it "
            "keeps the picture of the graph); this one holds only balances. Run "
            "gl.explain(loss) before backward() and call to_html on what it returns."
        )
    boxes = [replace(box, lines=_box_lines(box)) for box in picture.boxes]
    arrows = [replace(a, lines=[] if a.constant else [a.op] + (
        [f"local {a.local.text}"] if a.local is not None else ["vjp"])) for a in picture.arrows]
    svg = drawing.svg(boxes, arrows)
    steps = []
    for entry, (arrow, target) in zip(ledger.entries, picture.steps, strict=True):
        steps.append({
            "arrow": arrow, "box": target, "name": entry.target,
            "op": entry.op or "seed", "rule": entry.rule, "text": entry.text,
            "local": _text(entry.local), "out_grad": _text(entry.out_grad),
            "source": entry.source, "contribution": _text(entry.contribution),
            "total": _text(entry.total),
        })
    data = {"root": ledger.root, "steps": steps, "nudge": _nudge(ledger, picture, nudge, h)}
    page = TEMPLATE.format(
        title=escape(f"backward pass of {ledger.root}"),
        root=escape(ledger.root),
        svg=svg,
        where="".join(f"<li><code>{escape(line)}</code></li>" for line in ledger.where),
        data=json.dumps(data).replace("</", "<\\/"),
        script=SCRIPT,
        style=STYLE,
    )
    path = Path(path)
    path.write_text(page, encoding="utf-8")
    return path


def _box_lines(box) -> list[str]:
    if box.kind == "constant":
        return [box.value.text if box.value is not None else "constant"]
    value = box.value.text if box.value is not None else "(not kept)"
    return [box.name, f"value {value}", "grad —"]


def _text(value) -> str | None:
    if value is None:
        return None
    return value.text if hasattr(value, "text") and not isinstance(value, np.ndarray) \
        else shown(value).text


# -- the nudge: the seed's naive method, for one leaf ---------------------------------------


def _nudge(ledger: Ledger, picture: Picture, nudge, h: float) -> dict | None:
    forward = getattr(ledger, "_forward", None)
    leaves = [box for box in picture.boxes if box.kind == "leaf"]
    if nudge is None:
        scalars = [b for b in leaves if b.value is not None and b.value.number is not None]
        if not scalars:
            return None
        box = scalars[0]
    else:
        wanted = nudge.name if isinstance(nudge, Tensor) and nudge.name else nudge
        matches = [b for b in leaves if b.item is nudge or b.name == wanted]
        if not matches:
            raise GradledgerError(
                f"to_html(nudge=...): expected the name of a leaf of this graph or the leaf "
                f"itself; got {nudge!r}. Leaves: {', '.join(b.name for b in leaves) or 'none'}"
            )
        box = matches[0]
    if forward is None:
        raise GradledgerError("to_html(nudge=...) needs the ledger gl.explain returned")
    leaf = box.item
    before = _replay(forward, leaf, 0.0)
    after = _replay(forward, leaf, h)
    ratio = (after - before) / h
    booked = ledger.balances.get(box.name)
    flat = np.asarray(booked).ravel() if booked is not None else None
    return {
        "leaf": box.name, "h": show_number(h), "at": "" if np.ndim(leaf.data) == 0 else "[0]",
        "value": show_number(np.asarray(forward.leaves[leaf]).ravel()[0]),
        "loss": show_number(before), "nudged": show_number(after),
        "ratio": show_number(ratio, digits=5),
        "booked": show_number(flat[0]) if flat is not None and flat.size else "—",
    }


class Forward:
    """What it takes to run the recorded forward rules again: the calls in forward order
    with copies of what they read, and the leaves' values (copies: later edits of the
    tensors do not change the page)."""

    def __init__(self, order: list) -> None:
        self.calls, self.leaves = [], {}
        for item in order:
            if isinstance(item, Node):
                arrays = [a.copy() if isinstance(a, np.ndarray) else a for a in item.arrays]
                self.calls.append((item, item.op, dict(item.params or {}), arrays,
                                   tuple(item.parents)))
            else:
                self.leaves[item] = np.array(item.data, copy=True)
        self.root = order[-1]


def _replay(forward: Forward, leaf: Tensor, h: float) -> float:
    values: dict = {}
    for item, data in forward.leaves.items():
        value = np.array(data, dtype=np.result_type(data, float), copy=True)
        if item is leaf:
            value.reshape(-1)[0] += h
        values[item] = value[()] if value.ndim == 0 else value
    for node, op, params, arrays, parents in forward.calls:
        args = []
        for parent, array in zip(parents, arrays, strict=True):
            if parent is None:
                args.append(array)
            elif isinstance(parent, Output):
                args.append(values[parent.node][parent.index])
            else:
                args.append(values[parent])
        values[node] = op.forward(*args, **params)
    out = np.asarray(values[forward.root])
    if out.size != 1:
        raise GradledgerError(
            f"to_html(nudge=...): the nudge compares one loss; this graph's root has shape "
            f"{out.shape}"
        )
    return float(out.reshape(()).real)


STYLE = """
body { font-family: Helvetica, Arial, sans-serif; margin: 1.2em; color: #222; }
h1 { font-size: 1.3em; }
#controls button { font-size: 1em; margin-right: .4em; padding: .3em .8em; }
#entry { font-family: monospace; font-size: 1.05em; background: #fff7e0; padding: .5em;
         border-left: 4px solid #e8a33d; margin: .6em 0; min-height: 1.4em; }
table { border-collapse: collapse; margin: .5em 0; }
td, th { border-bottom: 1px solid #ddd; padding: .2em .6em; text-align: left; }
td.number { font-family: monospace; text-align: right; }
#figure { overflow: auto; border: 1px solid #eee; }
.arrow.current { stroke: #d9480f; stroke-width: 3; }
.arrow-label.current { fill: #d9480f; font-weight: bold; }
.box.current rect { stroke: #d9480f; stroke-width: 3; }
tr.current { background: #fff7e0; }
#nudge { background: #eef6ee; padding: .5em; border-left: 4px solid #5a9; }
"""

SCRIPT = r"""
(function () {
  var data = JSON.parse(document.getElementById('ledger-data').textContent);
  var steps = data.steps, at = 0;
  var balances = document.getElementById('balances');
  var names = [];
  steps.forEach(function (s) { if (names.indexOf(s.name) < 0) names.push(s.name); });
  names.forEach(function (name) {
    var row = balances.insertRow();
    row.id = 'row-' + name;
    row.insertCell().textContent = name + '.grad';
    var cell = row.insertCell(); cell.className = 'number'; cell.id = 'balance-' + name;
    var paths = row.insertCell(); paths.id = 'paths-' + name;
  });
  function clear(cls) {
    Array.prototype.forEach.call(document.querySelectorAll('.' + cls), function (e) {
      e.classList.remove(cls);
    });
  }
  function show() {
    clear('current');
    var seen = {}, made = {};
    names.forEach(function (n) { seen[n] = '—'; made[n] = []; });
    document.querySelectorAll('[id^="grad-"]').forEach(function (e) { e.textContent = 'grad —'; });
    for (var i = 0; i < at; i++) {
      var s = steps[i];
      seen[s.name] = s.total;
      made[s.name].push(s.contribution);
      var g = document.getElementById('grad-' + s.box);
      if (g) g.textContent = 'grad ' + s.total;
    }
    names.forEach(function (n) {
      document.getElementById('balance-' + n).textContent = seen[n];
      var paths = made[n].length > 1 ? made[n].join(' + ') + ' = ' + seen[n] +
        '  (' + made[n].length + ' paths add up: +=)' : '';
      document.getElementById('paths-' + n).textContent = paths;
    });
    var entry = document.getElementById('entry');
    document.getElementById('counter').textContent = at + ' / ' + steps.length;
    if (at === 0) {
      entry.textContent = 'Before the backward pass: every ledger entry is empty. Press "step".';
    } else {
      var s = steps[at - 1];
      var text = s.rule === 'seed' ? s.name + '.grad = ' + s.total + '   (the seed: d ' +
        data.root + ' / d ' + data.root + ' = 1)' :
        s.rule === 'local_grad' ? s.name + '.grad += local × ' + s.source + '.grad = ' +
        s.local + ' × ' + s.out_grad + '   → ' + s.total + '   (' + s.op + ')' :
        s.name + '.grad += vjp(' + s.source + '.grad) = ' + s.contribution + '   → ' +
        s.total + '   (' + s.op + ')';
      entry.textContent = text;
      document.getElementById('row-' + s.name).classList.add('current');
      var box = document.getElementById('box-' + s.box);
      if (box) box.classList.add('current');
      if (s.arrow !== null) {
        document.getElementById('arrow-' + s.arrow).classList.add('current');
        var label = document.getElementById('arrow-label-' + s.arrow);
        if (label) label.classList.add('current');
      }
    }
    document.getElementById('step').disabled = at >= steps.length;
    document.getElementById('end').disabled = at >= steps.length;
    document.getElementById('back').disabled = at === 0;
  }
  document.getElementById('step').onclick = function () { if (at < steps.length) at++; show(); };
  document.getElementById('back').onclick = function () { if (at > 0) at--; show(); };
  document.getElementById('reset').onclick = function () { at = 0; show(); };
  document.getElementById('end').onclick = function () { at = steps.length; show(); };
  document.addEventListener('keydown', function (e) {
    if (e.key === 'ArrowRight') document.getElementById('step').click();
    if (e.key === 'ArrowLeft') document.getElementById('back').click();
  });
  var n = data.nudge, box = document.getElementById('nudge');
  if (n) {
    box.innerHTML = '';
    var lines = [
      'The seed\'s nudge, for ' + n.leaf + n.at + ' = ' + n.value + ': move it by h = ' + n.h + '.',
      data.root + ' = ' + n.loss + '  →  ' + n.nudged + ' when ' + n.leaf + n.at + ' is nudged.',
      'ratio = (' + n.nudged + ' − ' + n.loss + ') / ' + n.h + ' = ' + n.ratio,
      'booked by backward: ' + n.leaf + '.grad' + n.at + ' = ' + n.booked +
        '  (one backward pass; the nudge needs one forward pass per number)'
    ];
    lines.forEach(function (t, i) {
      var p = document.createElement('div'); p.textContent = t;
      p.id = ['nudge-leaf', 'nudge-loss', 'nudge-ratio', 'nudge-booked'][i];
      box.appendChild(p);
    });
  } else { box.textContent = 'No scalar leaf to nudge.'; }
  show();
})();
"""

TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>{style}</style>
</head>
<body>
<h1>The backward pass of <code>{root}</code>, one ledger entry at a time</h1>
<p>Each step books <code>input.grad += local × output.grad</code> along one arrow.
Use the buttons or the arrow keys.</p>
<div id="controls">
<button id="reset">reset</button><button id="back">◀ back</button>
<button id="step">step ▶</button><button id="end">to the end</button>
<span id="counter"></span>
</div>
<div id="entry"></div>
<div id="figure">{svg}</div>
<h2>Running balances</h2>
<table id="balances"><thead><tr><th>ledger entry</th><th>balance</th><th>paths</th></tr>
</thead></table>
<h2>Nudge versus backprop</h2>
<div id="nudge"></div>
<h2>Where</h2>
<ul>{where}</ul>
<script type="application/json" id="ledger-data">{data}</script>
<script>{script}</script>
</body>
</html>
"""


def step_svg(ledger: Ledger, step: int) -> str:
    """A still of the page at `step` (1-based; 0 is before the pass), as SVG text: the
    entry written above the graph, every box's balance as it stands after that entry,
    and the arrow of that entry drawn bold (for READMEs, where a page cannot run)."""
    picture: Picture | None = ledger._picture
    if picture is None or not 0 <= step <= len(ledger):
        raise GradledgerError(f"step_svg: expected a step from 0 to {len(ledger)} of a ledger "
                              f"gl.explain computed; got {step}")
    balances: dict = {}
    for entry, (_, box) in zip(ledger.entries[:step], picture.steps, strict=False):
        balances[box] = _text(entry.total)
    boxes = []
    for box in picture.boxes:
        lines = _box_lines(box)
        if box.kind != "constant":
            lines[-1] = f"grad {balances.get(box.id, '—')}"
        boxes.append(replace(box, lines=lines))
    arrows = [replace(a, lines=[] if a.constant else [a.op] + (
        [f"local {a.local.text}"] if a.local is not None else ["vjp"])) for a in picture.arrows]
    caption = "before the backward pass" if step == 0 else \
        f"step {step} of {len(ledger)}:  {ledger.entries[step - 1].text}"
    names = {box.id: box.name for box in picture.boxes}
    order = list(dict.fromkeys(box for _, box in picture.steps))
    caption += "\nrunning balances:  " + ",  ".join(
        f"{names[box]}.grad {balances.get(box, '—')}" for box in order)
    current = picture.steps[step - 1][0] if step else None
    return drawing.svg(boxes, arrows, caption, current)
