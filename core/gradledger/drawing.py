"""Lay out a recorded graph and draw it as SVG, in pure Python (no Graphviz needed).

The layout is layered, left to right, in the order the forward pass went: leaves and
constants on the left, each recorded call one column right of its latest input. The
output is deterministic text (the same graph gives the same SVG on every machine), so
pictures in the README can be regenerated and compared by a test.

Used by `gl.graph(loss)` (its `_repr_svg_`) and by the step-through page, which
addresses the elements by their ids: `box-ID`, `grad-ID` (a box's grad line),
`arrow-K` and `arrow-label-K`.
"""

from __future__ import annotations

from html import escape

FONT = "Helvetica, Arial, sans-serif"
FONT_SIZE = 12
CHAR = 7.0  # width of one character at FONT_SIZE, a generous estimate
LINE = 16
PAD = 8
COLUMN_GAP = 120
ROW_GAP = 22
MARGIN = 12

FILL = {"root": "#fde2c8", "leaf": "#dbe9f6", "result": "#ffffff", "constant": "#f2f2f2"}


def layout(boxes: list, arrows: list) -> dict:
    """Positions {box id: (x, y, width, height)} for boxes given inputs-first.

    `boxes` are objects with `id`, `lines` and `kind`; `arrows` have `source` and
    `target` box ids. A box sits one column right of its furthest input.
    """
    inputs: dict[str, list[str]] = {box.id: [] for box in boxes}
    users: dict[str, list[str]] = {box.id: [] for box in boxes}
    for arrow in arrows:
        inputs[arrow.target].append(arrow.source)
        users[arrow.source].append(arrow.target)
    column: dict[str, int] = {}
    for box in boxes:  # inputs first: every input's column is known already
        column[box.id] = 1 + max((column[s] for s in inputs[box.id]), default=-1)
    for box in boxes:  # a leaf or constant sits just left of the first call that reads it
        if box.kind in ("constant", "leaf") and users[box.id]:
            column[box.id] = max(0, min(column[u] for u in users[box.id]) - 1)
    size = {box.id: _size(box.lines) for box in boxes}
    columns: dict[int, list[str]] = {}
    for box in boxes:
        columns.setdefault(column[box.id], []).append(box.id)
    # Order each column by where its inputs sit (barycentre), keeping forward order on ties.
    row_of: dict[str, float] = {}
    for c in sorted(columns):
        ids = columns[c]
        if c > 0:
            place = {i: k for k, i in enumerate(ids)}

            def centre(i, place=place):
                ys = [row_of[s] for s in inputs[i] if s in row_of]
                return (sum(ys) / len(ys) if ys else place[i], place[i])
            ids.sort(key=centre)
        for k, i in enumerate(ids):
            row_of[i] = k
    heights = {c: sum(size[i][1] for i in ids) + ROW_GAP * (len(ids) - 1)
               for c, ids in columns.items()}
    tallest = max(heights.values(), default=0)
    positions, x = {}, MARGIN
    for c in sorted(columns):
        ids = columns[c]
        width = max(size[i][0] for i in ids)
        y = MARGIN + (tallest - heights[c]) / 2
        for i in ids:
            w, h = size[i]
            positions[i] = (x + (width - w) / 2, y, w, h)
            y += h + ROW_GAP
        x += width + COLUMN_GAP
    return positions


def _size(lines: list[str]) -> tuple[float, float]:
    return (max(len(line) for line in lines) * CHAR + 2 * PAD, len(lines) * LINE + PAD)


def svg(boxes: list, arrows: list, caption: str = "", current: int | None = None) -> str:
    """The SVG text of the graph: a rounded box per value, a labelled curve per arrow
    (arrow number `current` drawn bold, in orange)."""
    positions = layout(boxes, arrows)
    width = max((x + w for x, _, w, _ in positions.values()), default=0) + MARGIN
    height = max((y + h for _, y, _, h in positions.values()), default=0) + MARGIN
    captions = caption.splitlines()
    if captions:
        height += LINE * len(captions)
        width = max(width, max(map(len, captions)) * CHAR + 2 * MARGIN)
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT}" '
        f'font-size="{FONT_SIZE}">',
        '<defs><marker id="head" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="8" '
        'markerHeight="8" markerUnits="userSpaceOnUse" orient="auto-start-reverse">'
        '<path d="M 0 0 L 10 5 L 0 10 z" fill="#555"/></marker></defs>',
    ]
    twins: dict[tuple, int] = {}
    for arrow in arrows:
        twins[(arrow.source, arrow.target)] = twins.get((arrow.source, arrow.target), 0) + 1
    seen: dict[tuple, int] = {}
    for k, arrow in enumerate(arrows):
        pair = (arrow.source, arrow.target)
        n, i = twins[pair], seen.get(pair, 0)
        seen[pair] = i + 1
        bend = (i - (n - 1) / 2) * 40  # parallel arrows (y = x + x) fan out
        out.append(_arrow(k, arrow, positions[arrow.source], positions[arrow.target], bend,
                          k == current))
    for box in boxes:
        out.append(_box(box, positions[box.id]))
    for k, line in enumerate(captions):
        y = height - MARGIN / 2 - (len(captions) - 1 - k) * LINE
        out.append(f'<text x="{MARGIN}" y="{y:.0f}" fill="#555">{escape(line)}</text>')
    out.append("</svg>")
    return "\n".join(out)


def _arrow(k: int, arrow, source: tuple, target: tuple, bend: float, bold: bool) -> str:
    sx, sy, sw, sh = source
    tx, ty, _, th = target
    x1, y1 = sx + sw, sy + sh / 2
    x2, y2 = tx, ty + th / 2
    mid = (x1 + x2) / 2
    c1, c2 = (mid, y1 + bend * 1.3), (mid, y2 + bend * 1.3)
    # the curve's midpoint (t = 1/2 of the cubic Bezier)
    lx = (x1 + 3 * c1[0] + 3 * c2[0] + x2) / 8
    ly = (y1 + 3 * c1[1] + 3 * c2[1] + y2) / 8
    dash = ' stroke-dasharray="4 3"' if arrow.constant else ""
    color, width = ("#d9480f", "3") if bold else ("#555", "1.2")
    path = (f'<path id="arrow-{k}" class="arrow" d="M {x1:.1f} {y1:.1f} C {c1[0]:.1f} '
            f'{c1[1]:.1f} {c2[0]:.1f} {c2[1]:.1f} {x2:.1f} {y2:.1f}" fill="none" '
            f'stroke="{color}" stroke-width="{width}"{dash} marker-end="url(#head)"/>')
    lines = arrow.lines
    top = ly - (len(lines) - 1) * (LINE - 3) / 2 + 4
    spans = "".join(
        f'<tspan x="{lx:.1f}" y="{top + j * (LINE - 3):.1f}">{escape(line)}</tspan>'
        for j, line in enumerate(lines)
    )
    label = (f'<text id="arrow-label-{k}" class="arrow-label" text-anchor="middle" '
             f'font-size="{FONT_SIZE - 2}" fill="{"#d9480f" if bold else "#333"}" stroke="#fff" '
             f'stroke-width="3" '
             f'paint-order="stroke">{spans}</text>')
    return f"<g>{path}{label}</g>" if lines else f"<g>{path}</g>"


def _box(box, position: tuple) -> str:
    x, y, w, h = position
    fill = FILL.get(box.kind, "#ffffff")
    dash = ' stroke-dasharray="4 3"' if box.kind == "constant" else ""
    out = [f'<g id="box-{box.id}" class="box">',
           f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="6" '
           f'fill="{fill}" stroke="#333"{dash}/>']
    for j, line in enumerate(box.lines):
        weight = ' font-weight="bold"' if j == 0 else ""
        ident = f' id="grad-{box.id}"' if line.startswith("grad") else ""
        out.append(f'<text{ident} x="{x + w / 2:.1f}" y="{y + PAD / 2 + (j + 0.8) * LINE:.1f}" '
                   f'text-anchor="middle"{weight}>{escape(line)}</text>')
    out.append("</g>")
    return "".join(out)
