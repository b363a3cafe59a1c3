"""Learning is stepping downhill: a small MLP learns the two-moons data set with SGD.

The data are two interleaved half circles, made with numpy (no download). The
network is gl.nn.MLP(2, [16, 16], 1) with relu; its score's sign is the class.
The loss is the hinge (max-margin) loss mean(relu(1 - y * score)) for labels
y = ±1, built from registered ops like everything else. Each step is the seed's
loop: forward, backward (the ledger), and w -= lr * w.grad (here with momentum).

    python examples/train_moons.py                   # 40 epochs, under a second
    python examples/train_moons.py --epochs 10 --seed 3

A PNG of the decision boundary is saved when matplotlib is installed
(pip install 'gradledger[examples]').
"""

from __future__ import annotations

import argparse
import sys
import time

import gradledger as gl
import numpy as np

BAR_WIDTH = 24


def make_moons(n_samples: int = 200, noise: float = 0.1, rng=None):
    """Two interleaved half circles, labels -1 (upper moon) and +1 (lower moon)."""
    rng = np.random.default_rng(rng)
    n_upper = n_samples // 2
    n_lower = n_samples - n_upper
    t_upper = np.linspace(0, np.pi, n_upper)
    t_lower = np.linspace(0, np.pi, n_lower)
    X = np.concatenate([
        np.stack([np.cos(t_upper), np.sin(t_upper)], axis=1),
        np.stack([1 - np.cos(t_lower), 0.5 - np.sin(t_lower)], axis=1),
    ])
    X += rng.normal(scale=noise, size=X.shape)
    y = np.concatenate([-np.ones(n_upper), np.ones(n_lower)])
    order = rng.permutation(n_samples)
    return X[order], y[order]


def hinge_loss(scores, y):
    """mean(relu(1 - y * score)): zero once every point is on its side by a margin of 1."""
    return gl.mean(gl.relu(1.0 - y * scores))


def accuracy(model, X, y) -> float:
    with gl.no_grad():
        scores = model(X).numpy().reshape(-1)
    return float(np.mean(np.sign(scores) == y))


def progress(epoch: int, epochs: int, done: int, total: int, tail: str = "") -> str:
    filled = BAR_WIDTH * done // total
    bar = "#" * filled + "." * (BAR_WIDTH - filled)
    return f"epoch {epoch:>{len(str(epochs))}}/{epochs} [{bar}] {tail}"


def train(epochs: int, seed: int, lr: float, batch_size: int, n_samples: int, noise: float,
          out=sys.stdout):
    rng = np.random.default_rng(seed)
    X, y = make_moons(n_samples, noise, rng)
    model = gl.nn.MLP(2, [16, 16], 1, activation="relu", rng=rng)
    opt = gl.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    # Redraw the bar batch by batch on a terminal and in a notebook (Jupyter honours "\r");
    # one line per epoch into a file or a pipe.
    live = out.isatty() or type(out).__module__.startswith("ipykernel")
    batches = range(0, n_samples, batch_size)
    for epoch in range(1, epochs + 1):
        order = rng.permutation(n_samples)
        losses = []
        for done, start in enumerate(batches, 1):
            batch = order[start:start + batch_size]
            opt.zero_grad()
            loss = hinge_loss(model(X[batch]), y[batch, None])
            loss.backward()
            opt.step()
            losses.append(loss.item())
            if live:
                print("\r" + progress(epoch, epochs, done, len(batches)), end="", file=out)
        tail = f"loss {np.mean(losses):.4f}  accuracy {accuracy(model, X, y):6.1%}"
        print(("\r" if live else "") + progress(epoch, epochs, 1, 1, tail), file=out, flush=True)
    return model, X, y


def plot_boundary(model, X, y, path: str) -> None:
    try:
        from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'gradledger[examples]')")
        return
    xs = np.linspace(X[:, 0].min() - 0.5, X[:, 0].max() + 0.5, 300)
    ys = np.linspace(X[:, 1].min() - 0.5, X[:, 1].max() + 0.5, 300)
    grid_x, grid_y = np.meshgrid(xs, ys)
    with gl.no_grad():
        scores = model(np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)).numpy()
    fig = Figure(figsize=(6, 4.5))
    ax = fig.subplots()
    ax.contourf(grid_x, grid_y, scores.reshape(grid_x.shape) > 0, levels=1, cmap="coolwarm",
                alpha=0.35)
    ax.contour(grid_x, grid_y, scores.reshape(grid_x.shape), levels=[0], colors="k",
               linewidths=1)
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="coolwarm", edgecolors="k", s=22)
    ax.set_title(f"gradledger MLP on two moons: training accuracy {accuracy(model, X, y):.1%}")
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    print(f"decision boundary saved to {path}")


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0, help="seed for the data and the weights")
    parser.add_argument("--lr", type=float, default=0.05)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--noise", type=float, default=0.1)
    parser.add_argument("--plot", default="train_moons.png", help="where to save the picture")
    parser.add_argument("--no-plot", action="store_true", help="skip the picture")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model, X, y = train(args.epochs, args.seed, args.lr, args.batch_size, args.samples,
                        args.noise)
    seconds = time.perf_counter() - start
    final = accuracy(model, X, y)
    print(f"training accuracy {final:.1%} after {args.epochs} epochs in {seconds:.2f} s "
          f"({model.num_parameters()} parameters, {model})")
    if not args.no_plot:
        plot_boundary(model, X, y, args.plot)
    return final


if __name__ == "__main__":
    main()
