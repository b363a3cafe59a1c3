"""Write the README's pictures into docs/figures/, from gradledger itself.

    .venv/bin/python docs/make_figures.py

The pictures are generated, never edited by hand; tests/test_figures.py regenerates
them and fails when the SVG text differs from what is in the repository. Every number
in them is computed (no timings: they would differ from run to run):

- nudge_vs_backprop.svg: the seed's central claim. Left, the nudge ratio at x = 5 for
  loss = x * x against the 10 one backward pass books, as the nudge shrinks. Right,
  how many forward passes each method runs to get every gradient of n parameters,
  counted by running both.
- mlp_graph.svg: `gl.graph` of a 2-3-1 MLP's loss after backward.
- seed_chain.svg: `gl.graph` of the seed's chain after backward (docs/ledger.md).
- step_page.svg: a still of `gl.explain(loss).to_html(...)` for the seed's chain at
  step 3 (a.grad has reached 12; x.grad is next).
"""

from __future__ import annotations

import math
import sys
from html import escape
from pathlib import Path

import numpy as np

FIGURES = Path(__file__).resolve().parent / "figures"


def nudge_vs_backprop() -> str:
    import gradledger as gl

    x = gl.tensor(5.0, requires_grad=True, name="x")
    loss = x * x
    loss.backward()
    booked = float(x.grad)
    steps = [1.0, 0.1, 0.01, 0.001]
    ratios = [((5.0 + h) * (5.0 + h) - 25.0) / h for h in steps]

    sizes = [1, 10, 100, 1000]
    nudge_passes, backprop_passes = [], []
    rng = np.random.default_rng(0)
    for n in sizes:
        w, data = rng.standard_normal(n), rng.standard_normal(n)
        calls = [0]

        def forward(weights, data=data, calls=calls):
            calls[0] += 1
            return gl.sum(gl.tanh(gl.tensor(weights) * data)) if not isinstance(
                weights, gl.Tensor) else gl.sum(gl.tanh(weights * data))

        base = forward(w).item()
        for i in range(n):  # the seed's loop: one forward pass per parameter
            w[i] += 1e-6
            _ = (forward(w).item() - base) / 1e-6
            w[i] -= 1e-6
        nudge_passes.append(calls[0])
        calls[0] = 0
        W = gl.tensor(w, requires_grad=True)
        forward(W).backward()  # one forward pass and one backward pass
        backprop_passes.append(calls[0])

    left = _panel(
        "the nudge ratio at x = 5 (loss = x · x)", "nudge h", "ratio",
        [(math.log10(h), r) for h, r in zip(steps, ratios, strict=True)],
        [(math.log10(h), booked) for h in steps],
        x_ticks=[(math.log10(h), f"{h:g}") for h in steps], y_range=(9.5, 11.5),
        labels=[f"{r:.4g}" for r in ratios],
        legend=("(loss(x + h) − loss(x)) / h", f"backward: x.grad = {booked:g}"),
    )
    right = _panel(
        "forward passes for every gradient", "parameters n", "forward passes",
        [(math.log10(n), math.log10(p)) for n, p in zip(sizes, nudge_passes, strict=True)],
        [(math.log10(n), math.log10(p)) for n, p in zip(sizes, backprop_passes,
                                                         strict=True)],
        x_ticks=[(math.log10(n), f"{n:,}") for n in sizes],
        y_ticks=[(k, f"{10 ** k:,}") for k in range(4)], y_range=(0, 3.2),
        labels=[f"{p:,}" for p in nudge_passes],
        legend=("nudge loop: n + 1", "backprop: 1 (+ 1 backward)"),
    )
    return _svg([left, right], 760, 330)


def _panel(title, xlabel, ylabel, first, second, x_ticks, y_range, labels, legend,
           y_ticks=None) -> dict:
    return {"title": title, "xlabel": xlabel, "ylabel": ylabel, "first": first,
            "second": second, "x_ticks": x_ticks, "y_ticks": y_ticks, "y_range": y_range,
            "labels": labels, "legend": legend}


def _svg(panels: list, width: int, height: int) -> str:
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" font-family="Helvetica, Arial, sans-serif" '
           'font-size="12">', f'<rect width="{width}" height="{height}" fill="#fff"/>']
    panel_width = width / len(panels)
    for k, panel in enumerate(panels):
        out += _draw_panel(panel, k * panel_width, panel_width, height)
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _draw_panel(panel: dict, left: float, width: float, height: float) -> list[str]:
    x0, x1 = left + 60, left + width - 50
    y0, y1 = height - 50, 60
    xs = [x for x, _ in panel["x_ticks"]]
    lo_x, hi_x = min(xs), max(xs)
    lo_y, hi_y = panel["y_range"]

    def px(x):
        return x0 + (x - lo_x) / (hi_x - lo_x) * (x1 - x0)

    def py(y):
        return y0 - (y - lo_y) / (hi_y - lo_y) * (y0 - y1)

    out = [f'<text x="{(x0 + x1) / 2:.1f}" y="24" text-anchor="middle" font-weight="bold">'
           f'{escape(panel["title"])}</text>',
           f'<path d="M {x0:.1f} {y1:.1f} L {x0:.1f} {y0:.1f} L {x1:.1f} {y0:.1f}" '
           'fill="none" stroke="#333"/>']
    for x, text in panel["x_ticks"]:
        out.append(f'<text x="{px(x):.1f}" y="{y0 + 16:.1f}" text-anchor="middle">'
                   f'{escape(text)}</text>')
    y_ticks = panel["y_ticks"] or [(v, f"{v:g}") for v in np.linspace(lo_y, hi_y, 5)]
    for y, text in y_ticks:
        out.append(f'<text x="{x0 - 6:.1f}" y="{py(y) + 4:.1f}" text-anchor="end">'
                   f'{escape(text)}</text>')
        out.append(f'<path d="M {x0:.1f} {py(y):.1f} L {x1:.1f} {py(y):.1f}" '
                   'stroke="#eee"/>')
    out.append(f'<text x="{(x0 + x1) / 2:.1f}" y="{height - 12:.1f}" text-anchor="middle">'
               f'{escape(panel["xlabel"])}</text>')
    for points, color in ((panel["first"], "#d9480f"), (panel["second"], "#1c7ed6")):
        d = " L ".join(f"{px(x):.1f} {py(y):.1f}" for x, y in points)
        out.append(f'<path d="M {d}" fill="none" stroke="{color}" stroke-width="2"/>')
        out += [f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3.5" fill="{color}"/>'
                for x, y in points]
    for (x, y), text in zip(panel["first"], panel["labels"], strict=True):
        out.append(f'<text x="{px(x) + 5:.1f}" y="{py(y) - 8:.1f}" fill="#d9480f">'
                   f'{escape(text)}</text>')
    for k, (text, color) in enumerate(zip(panel["legend"], ("#d9480f", "#1c7ed6"),
                                          strict=True)):
        out.append(f'<text x="{x0 + 10:.1f}" y="{y1 - 18 + k * 15:.1f}" fill="{color}">'
                   f'{escape(text)}</text>')
    return out


def mlp_graph() -> str:
    import gradledger as gl

    net = gl.nn.MLP(2, [3], 1, rng=0)
    weight1, bias1, weight2, bias2 = net.parameters()
    # each layer's product and bias as two ops (net(x) records one linear_bias per layer),
    # so that the picture shows the bias's broadcast booking, as docs/ledger.md does
    hidden = gl.relu(gl.linear(np.array([[0.5, -1.0], [1.5, 2.0]]), weight1) + bias1)
    loss = gl.mean((gl.linear(hidden, weight2) + bias2) ** 2)
    picture = gl.graph(loss)  # drawn before backward: keeps the pass for the picture
    loss.backward()
    return picture.svg + "\n"


def step_page() -> str:
    import gradledger as gl
    from gradledger.page import step_svg

    x = gl.tensor(2.0, requires_grad=True, name="x")
    a = x * 3
    a.name = "a"
    ledger = gl.explain(a * a, show=False)
    return step_svg(ledger, 3) + "\n"


def seed_chain() -> str:
    import gradledger as gl

    x = gl.tensor(2.0, requires_grad=True, name="x")
    a = x * 3
    a.name = "a"
    loss = a * a
    picture = gl.graph(loss)
    loss.backward()
    return picture.svg + "\n"


def figures() -> dict[str, str]:
    """Every picture's file name and SVG text."""
    return {"nudge_vs_backprop.svg": nudge_vs_backprop(), "mlp_graph.svg": mlp_graph(),
            "step_page.svg": step_page(), "seed_chain.svg": seed_chain()}


def main() -> int:
    FIGURES.mkdir(exist_ok=True)
    for name, text in figures().items():
        (FIGURES / name).write_text(text, encoding="utf-8")
        print(f"wrote {FIGURES / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
