"""A convolutional network reads handwritten digits: conv -> relu -> max-pool -> linear.

The data are scikit-learn's bundled 8x8 digits (1,797 images, no download), split
into training and test sets (stratified, 75/25). The network is

    Conv2d(1, 16, 3, padding=1) -> ReLU -> MaxPool2d(2) -> Flatten -> Linear(256, 10)

trained with Adam on the cross-entropy of its scores, in minibatches of 64, every
layer a registered op. One progress line per epoch (loss, accuracies, time):

    python examples/digits_cnn.py                 # 15 epochs, a few seconds; ~97% on test
    python examples/digits_cnn.py --epochs 5 --seed 1

When matplotlib is installed it saves the training curves and the 16 learned 3x3
filters of the convolution as PNGs (pip install 'gradledger[examples]', which brings
scikit-learn too).
"""

from __future__ import annotations

import argparse
import sys
import time

import gradledger as gl
import numpy as np

F = gl.nn.functional


def load_digits(test_fraction: float = 0.25, seed: int = 0, dtype=np.float32):
    """Images (N, 1, 8, 8) scaled to [0, 1] and labels, split into train and test sets."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
        from sklearn.model_selection import train_test_split
    except ImportError:
        sys.exit("digits_cnn.py needs scikit-learn for its data set: "
                 "pip install 'gradledger[examples]'")
    digits = sklearn_digits()
    images = (digits.images / 16.0).astype(dtype)[:, None, :, :]
    return train_test_split(images, digits.target, test_size=test_fraction,
                            stratify=digits.target, random_state=seed)


def build_model(channels: int = 16, rng=None, dtype=np.float32) -> gl.nn.Sequential:
    """conv -> relu -> max-pool -> linear, for (N, 1, 8, 8) images and 10 classes."""
    rng = np.random.default_rng(rng)
    return gl.nn.Sequential(
        gl.nn.Conv2d(1, channels, kernel_size=3, padding=1, rng=rng, dtype=dtype),
        gl.nn.ReLU(),
        gl.nn.MaxPool2d(2),
        gl.nn.Flatten(),
        gl.nn.Linear(channels * 4 * 4, 10, rng=rng, dtype=dtype),
    )


def accuracy(model, images, labels, batch_size: int = 512) -> float:
    model.eval()
    hits = 0
    with gl.no_grad():
        for start in range(0, len(images), batch_size):
            scores = model(images[start:start + batch_size]).data
            hits += int(np.sum(np.argmax(scores, axis=1) == labels[start:start + batch_size]))
    model.train()
    return hits / len(images)


def train(epochs: int = 15, batch_size: int = 64, lr: float = 2e-2, channels: int = 16,
          seed: int = 0, train_size: int | None = None, out=sys.stdout):
    """Train on the digits; returns the model and a history of per-epoch figures."""
    rng = np.random.default_rng(seed)
    x_train, x_test, y_train, y_test = load_digits(seed=seed)
    if train_size is not None:
        x_train, y_train = x_train[:train_size], y_train[:train_size]
    model = build_model(channels, rng=rng)
    opt = gl.optim.Adam(model, lr=lr)
    schedule = gl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=epochs)
    history = {"loss": [], "train_accuracy": [], "test_accuracy": [], "seconds": []}
    width = len(str(epochs))
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        order = rng.permutation(len(x_train))
        losses = []
        for first in range(0, len(order), batch_size):
            batch = order[first:first + batch_size]
            opt.zero_grad()
            loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
            loss.backward()
            opt.step()
            losses.append(loss.item() * len(batch))
        schedule.step()
        seconds = time.perf_counter() - start
        history["loss"].append(sum(losses) / len(order))
        history["train_accuracy"].append(accuracy(model, x_train, y_train))
        history["test_accuracy"].append(accuracy(model, x_test, y_test))
        history["seconds"].append(seconds)
        print(f"epoch {epoch:>{width}}/{epochs}  loss {history['loss'][-1]:.4f}  "
              f"train accuracy {history['train_accuracy'][-1]:6.2%}  "
              f"test accuracy {history['test_accuracy'][-1]:6.2%}  time {seconds:.2f} s",
              file=out, flush=True)
    return model, history, (x_test, y_test)


def plot(model, history, prefix: str) -> None:
    try:
        from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'gradledger[examples]')")
        return
    epochs = np.arange(1, len(history["loss"]) + 1)
    fig = Figure(figsize=(9, 3.5))
    ax_loss, ax_acc = fig.subplots(1, 2)
    ax_loss.plot(epochs, history["loss"], marker="o")
    ax_loss.set(xlabel="epoch", ylabel="training loss (cross-entropy)", yscale="log")
    ax_acc.plot(epochs, history["train_accuracy"], marker="o", label="train")
    ax_acc.plot(epochs, history["test_accuracy"], marker="o", label="test")
    ax_acc.set(xlabel="epoch", ylabel="accuracy")
    ax_acc.legend()
    fig.suptitle("gradledger CNN on scikit-learn's 8x8 digits")
    fig.tight_layout()
    fig.savefig(f"{prefix}_curves.png", dpi=110)

    filters = model[0].weight.data[:, 0]  # (channels, 3, 3)
    columns = 8
    rows = -(-len(filters) // columns)
    fig = Figure(figsize=(columns * 1.1, rows * 1.2))
    axes = fig.subplots(rows, columns)
    limit = np.abs(filters).max()
    for k, ax in enumerate(np.ravel(axes)):
        ax.axis("off")
        if k < len(filters):
            ax.imshow(filters[k], cmap="RdBu_r", vmin=-limit, vmax=limit)
            ax.set_title(str(k), fontsize=8)
    fig.suptitle("first convolution's 3x3 filters (red +, blue -)")
    fig.tight_layout()
    fig.savefig(f"{prefix}_filters.png", dpi=110)
    print(f"training curves saved to {prefix}_curves.png, filters to {prefix}_filters.png")


def main(argv: list[str] | None = None) -> float:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--lr", type=float, default=2e-2, help="Adam's initial learning rate")
    parser.add_argument("--channels", type=int, default=16, help="filters in the convolution")
    parser.add_argument("--seed", type=int, default=0, help="seed for the split and the weights")
    parser.add_argument("--train-size", type=int, default=None,
                        help="train on the first N training images only (a quick run)")
    parser.add_argument("--plot", default="digits_cnn",
                        help="prefix of the PNGs: PREFIX_curves.png, PREFIX_filters.png")
    parser.add_argument("--no-plot", action="store_true", help="skip the pictures")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model, history, _ = train(args.epochs, args.batch_size, args.lr, args.channels, args.seed,
                              args.train_size)
    final = history["test_accuracy"][-1]
    print(f"test accuracy {final:.2%} after {args.epochs} epochs in "
          f"{time.perf_counter() - start:.1f} s ({model.num_parameters()} parameters)")
    if not args.no_plot:
        plot(model, history, args.plot)
    return final


if __name__ == "__main__":
    main()
