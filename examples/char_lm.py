"""A character-level language model of first names, makemore-style (Bengio et al. 2003).

Each name is read one character at a time; from the previous `block_size` characters
the model predicts the next one ("." marks both ends of a name):

    ids (B, 3) -> Embedding(27, 10) -> (B, 3, 10) -> Flatten: the context's embeddings
    concatenated, (B, 30) -> Linear(30, 200) -> tanh -> Linear(200, 27) -> cross-entropy

trained with Adam and a cosine learning-rate schedule, in minibatches of 128. The
names are examples/data/first_names.txt, 5,163 public-domain first names from the
1990 US Census (see examples/data/README.md), split by name into training,
validation and test sets (80/10/10). A model that knows nothing scores the uniform
baseline log(27) = 3.30 nats per character; this one gets near 2.0.

    python examples/char_lm.py                    # 3,000 steps, about ten seconds
    python examples/char_lm.py --steps 1000 --samples 10

It prints the training and validation losses as it goes, then names it makes up.
When matplotlib is installed it saves the training curve as a PNG.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import gradledger as gl
import numpy as np

F = gl.nn.functional
NAMES = Path(__file__).resolve().parent / "data" / "first_names.txt"
END = "."  # marks the start and the end of a name


def load_words(path: Path = NAMES) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.strip()]


def vocabulary(words: list[str]) -> list[str]:
    """'.' (id 0), then every letter the names use."""
    return [END, *sorted(set("".join(words)) - {END})]


def examples(words: list[str], stoi: dict, block_size: int):
    """(contexts (N, block_size), next characters (N,)), every position of every name."""
    contexts, targets = [], []
    for word in words:
        context = [0] * block_size
        for ch in word + END:
            contexts.append(context)
            targets.append(stoi[ch])
            context = context[1:] + [stoi[ch]]
    return np.array(contexts, dtype=np.int64), np.array(targets, dtype=np.int64)


def split(words: list[str], rng, fractions=(0.8, 0.1)):
    """Shuffle the names, then cut them into training, validation and test sets."""
    order = rng.permutation(len(words))
    n_train = int(fractions[0] * len(words))
    n_val = int(fractions[1] * len(words))
    picked = [words[i] for i in order]
    return picked[:n_train], picked[n_train:n_train + n_val], picked[n_train + n_val:]


class CharMLP(gl.nn.Module):
    """Embedding -> concatenated context -> tanh hidden layer -> scores over the vocabulary."""

    def __init__(self, vocab_size: int, block_size: int = 3, embed_dim: int = 10,
                 hidden: int = 200, rng=None, dtype=np.float32) -> None:
        rng = np.random.default_rng(rng)
        self.embedding = gl.nn.Embedding(vocab_size, embed_dim, rng=rng, dtype=dtype)
        self.concatenate = gl.nn.Flatten()  # (B, block, embed) -> (B, block * embed)
        self.hidden = gl.nn.Linear(block_size * embed_dim, hidden, rng=rng, dtype=dtype)
        self.out = gl.nn.Linear(hidden, vocab_size, rng=rng, dtype=dtype)
        # A small last layer: the first guesses are near uniform, not confidently wrong.
        self.out.weight.data = self.out.weight.data * np.asarray(0.1, dtype=dtype)

    def forward(self, ids) -> gl.Tensor:
        h = gl.tanh(self.hidden(self.concatenate(self.embedding(ids))))
        return self.out(h)


def mean_loss(model, x, y, batch_size: int = 8192) -> float:
    total = 0.0
    with gl.no_grad():
        for start in range(0, len(x), batch_size):
            logits = model(x[start:start + batch_size])
            total += F.cross_entropy(logits, y[start:start + batch_size],
                                     reduction="sum").item()
    return total / len(x)


def sample(model, itos: list[str], block_size: int, rng, max_length: int = 30) -> str:
    """Draw one name, a character at a time, from the model's softmax."""
    context, out = [0] * block_size, []
    with gl.no_grad():
        for _ in range(max_length):
            probs = F.softmax(model(np.array([context])), dim=-1).data[0].astype(np.float64)
            ix = int(rng.choice(len(probs), p=probs / probs.sum()))
            if ix == 0:
                break
            out.append(itos[ix])
            context = context[1:] + [ix]
    return "".join(out)


def train(steps: int = 3000, batch_size: int = 128, lr: float = 1e-2, block_size: int = 3,
          embed_dim: int = 10, hidden: int = 200, seed: int = 0, evals: int = 10,
          out=sys.stdout):
    """Train the model; returns it, the vocabulary, the data splits and the loss history."""
    rng = np.random.default_rng(seed)
    words = load_words()
    itos = vocabulary(words)
    stoi = {ch: i for i, ch in enumerate(itos)}
    train_words, val_words, test_words = split(words, rng)
    data = {name: examples(ws, stoi, block_size)
            for name, ws in (("train", train_words), ("val", val_words), ("test", test_words))}
    x_train, y_train = data["train"]
    model = CharMLP(len(itos), block_size, embed_dim, hidden, rng=rng)
    opt = gl.optim.Adam(model, lr=lr)
    schedule = gl.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=steps, eta_min=lr / 20)
    history = {"step_loss": [], "eval_step": [], "train_loss": [], "val_loss": []}
    eval_at = set(np.linspace(0, steps, evals + 1, dtype=int)[1:])
    start = time.perf_counter()
    for step in range(1, steps + 1):
        batch = rng.integers(0, len(x_train), size=batch_size)
        opt.zero_grad()
        loss = F.cross_entropy(model(x_train[batch]), y_train[batch])
        loss.backward()
        opt.step()
        schedule.step()
        history["step_loss"].append(loss.item())
        if step in eval_at:
            history["eval_step"].append(step)
            history["train_loss"].append(mean_loss(model, *data["train"]))
            history["val_loss"].append(mean_loss(model, *data["val"]))
            print(f"step {step:>{len(str(steps))}}/{steps}  "
                  f"train loss {history['train_loss'][-1]:.4f}  "
                  f"val loss {history['val_loss'][-1]:.4f}  "
                  f"time {time.perf_counter() - start:.1f} s", file=out, flush=True)
    return model, itos, data, history


def plot(history, baseline: float, path: str) -> None:
    try:
        from matplotlib.figure import Figure  # no pyplot: the caller's backend stays as it is
    except ImportError:
        print("matplotlib is not installed: no plot (pip install 'gradledger[examples]')")
        return
    step_loss = np.array(history["step_loss"])
    window = max(1, len(step_loss) // 100)
    smooth = np.convolve(step_loss, np.ones(window) / window, mode="valid")
    fig = Figure(figsize=(7, 4))
    ax = fig.subplots()
    ax.plot(np.arange(window, len(step_loss) + 1), smooth, lw=1,
            label=f"minibatch loss (mean of {window})")
    ax.plot(history["eval_step"], history["train_loss"], "o-", label="training set")
    ax.plot(history["eval_step"], history["val_loss"], "s-", label="validation set")
    ax.axhline(baseline, color="grey", ls="--", label=f"uniform baseline log(V) = {baseline:.2f}")
    ax.set(xlabel="step", ylabel="cross-entropy (nats per character)",
           title="gradledger character-level MLP on first names")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    print(f"training curve saved to {path}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=3000)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-2, help="Adam's initial learning rate")
    parser.add_argument("--block-size", type=int, default=3, help="characters of context")
    parser.add_argument("--embed-dim", type=int, default=10)
    parser.add_argument("--hidden", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0, help="seed for the split, weights, batches")
    parser.add_argument("--samples", type=int, default=20, help="names to make up at the end")
    parser.add_argument("--plot", default="char_lm.png", help="where to save the training curve")
    parser.add_argument("--no-plot", action="store_true", help="skip the picture")
    args = parser.parse_args(argv)

    model, itos, data, history = train(args.steps, args.batch_size, args.lr, args.block_size,
                                       args.embed_dim, args.hidden, args.seed)
    baseline = math.log(len(itos))
    val = history["val_loss"][-1]
    print(f"uniform baseline log({len(itos)}) = {baseline:.4f}; final train loss "
          f"{history['train_loss'][-1]:.4f}, val loss {val:.4f} ({baseline - val:.2f} nats "
          f"below the baseline), test loss {mean_loss(model, *data['test']):.4f} "
          f"({model.num_parameters()} parameters)")
    rng = np.random.default_rng(args.seed + 1)
    names = [sample(model, itos, args.block_size, rng) for _ in range(args.samples)]
    print("sampled names:", ", ".join(names))
    if not args.no_plot:
        plot(history, baseline, args.plot)
    return {"baseline": baseline, "val_loss": val, "names": names}


if __name__ == "__main__":
    main()
