"""The seed's central claim, measured: the nudge loop costs one forward pass per
parameter, backprop one forward and one backward pass, whatever the count.

For f(W) = sum(relu(W @ x)) with n = 10 ... 100,000 parameters in W, we time
getting every gradient
  - by the nudge loop (the seed's section 2): nudge one number of W by `step`,
    rerun the forward pass, divide the change in f by `step`; n + 1 forward passes;
  - by backprop: one forward pass that records the graph, one backward pass.
Both give the same gradients (the table shows the largest difference), and a
log-log plot is saved when matplotlib is installed (pip install 'gradledger[examples]').

    python examples/nudge_vs_backprop.py                 # up to n = 100,000 (~10 s)
    python examples/nudge_vs_backprop.py --max-n 1000    # a quick look
"""

from __future__ import annotations

import argparse
import time

import gradledger as gl
import numpy as np

SIZES = (10, 30, 100, 300, 1_000, 3_000, 10_000, 30_000, 100_000)


def f(W, x):
    """The function whose gradient we want: sum(relu(W @ x))."""
    return gl.sum(gl.relu(W @ x))


def matrix_shape(n: int) -> tuple[int, int]:
    """W's shape for n parameters, as square as n allows: 10 -> (2, 5), 100,000 -> (250, 400)."""
    rows = max(d for d in range(1, int(n**0.5) + 1) if n % d == 0)
    return rows, n // rows


def nudge_gradient(W: np.ndarray, x: np.ndarray, step: float) -> np.ndarray:
    """The seed's naive method: for each w, nudge it, rerun forward, measure, reset."""
    w = gl.tensor(W)  # our own copy, nudged in place
    numbers = w.data.reshape(-1)  # a view: nudging numbers[i] nudges w
    grad = np.empty(numbers.size)
    with gl.no_grad():  # the nudge method needs no graph
        original_loss = f(w, x).item()
        for i in range(numbers.size):
            original = numbers[i]
            numbers[i] = original + step
            grad[i] = (f(w, x).item() - original_loss) / step
            numbers[i] = original  # reset
    return grad.reshape(W.shape)


def backprop_gradient(W: np.ndarray, x: np.ndarray) -> np.ndarray:
    """One forward pass recording the graph, one backward pass booking every grad."""
    w = gl.tensor(W, requires_grad=True)
    f(w, x).backward()
    return w.grad


def best_time(run, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = run()
        best = min(best, time.perf_counter() - start)
    return best, result


def measure(n: int, rng: np.random.Generator, step: float) -> dict:
    W = rng.normal(size=matrix_shape(n))
    x = rng.normal(size=W.shape[1])
    quick = n <= 1_000  # repeat the quick runs and keep the best, to steady the timer
    nudge_s, nudged = best_time(lambda: nudge_gradient(W, x, step), 3 if quick else 1)
    backprop_s, booked = best_time(lambda: backprop_gradient(W, x), 5)
    return {
        "n": n, "shape": W.shape, "forwards": n + 1, "nudge_s": nudge_s,
        "backprop_s": backprop_s, "max_diff": float(np.max(np.abs(nudged - booked))),
    }


def print_table(rows: list[dict]) -> None:
    print(f"{'n':>8}  {'W':>9}  {'forward passes':>14}  {'nudge':>10}  {'backprop':>10}  "
          f"{'speed-up':>9}  {'max |diff|':>10}")
    for r in rows:
        shape = f"{r['shape'][0]}×{r['shape'][1]}"
        print(f"{r['n']:>8,}  {shape:>9}  {r['forwards']:>14,}  {_seconds(r['nudge_s']):>10}  "
              f"{_seconds(r['backprop_s']):>10}  {r['nudge_s'] / r['backprop_s']:>8,.0f}×  "
              f"{r['max_diff']:>10.1e}")


def _seconds(s: float) -> str:
    return f"{s * 1e3:.2f} ms" if s < 1 else f"{s:.2f} s"


def plot(rows: list[dict], path: str) -> None:
    try:
        from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'gradledger[examples]')")
        return
    n = [r["n"] for r in rows]
    fig = Figure(figsize=(6, 4.2))
    ax = fig.subplots()
    ax.loglog(n, [r["nudge_s"] for r in rows], "o-", label="nudge loop (n + 1 forward passes)")
    ax.loglog(n, [r["backprop_s"] for r in rows], "s-", label="backprop (1 forward + 1 backward)")
    ax.set_xlabel("parameters n")
    ax.set_ylabel("seconds for every gradient")
    ax.set_title("f(W) = sum(relu(W @ x))")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"plot saved to {path}")


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-n", type=int, default=100_000, help="largest n (default 100,000)")
    parser.add_argument("--seed", type=int, default=0, help="seed for W and x")
    parser.add_argument("--step", type=float, default=1e-6, help="the nudge (default 1e-6)")
    parser.add_argument("--plot", default="nudge_vs_backprop.png", help="where to save the plot")
    parser.add_argument("--no-plot", action="store_true", help="skip the plot")
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    measure(10, np.random.default_rng(), args.step)  # warm up: load the plugins, fill caches
    sizes = [n for n in SIZES if n <= args.max_n] or [args.max_n]
    print("Every gradient of f(W) = sum(relu(W @ x)): the nudge loop vs one backward pass\n")
    rows = [measure(n, rng, args.step) for n in sizes]
    print_table(rows)
    last = rows[-1]
    print(f"\nAt n = {last['n']:,}: the nudge loop ran {last['forwards']:,} forward passes in "
          f"{_seconds(last['nudge_s'])}; backprop took {_seconds(last['backprop_s'])}, "
          f"{last['nudge_s'] / last['backprop_s']:,.0f} times faster, with the same gradients.")
    if not args.no_plot:
        plot(rows, args.plot)
    return rows


if __name__ == "__main__":
    main()
