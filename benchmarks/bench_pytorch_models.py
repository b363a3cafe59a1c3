"""Issue 22's models: one float32 training step of each new example, gradledger vs PyTorch.

(c) char GPT (examples/char_gpt.py: 2 blocks, 4 heads, embed 64, 104k parameters),
    batch 32 of 12-character names, AdamW;
(d) CNN + BatchNorm2d + Dropout (examples/bn_cnn.py), batch 64 of 8x8 digits, SGD;
(e) LSTM LM (examples/lstm_lm.py: Embedding(27, 32) -> LSTM(32, 128) -> Linear), one
    truncated-BPTT window of 32 x 16 characters, Adam (PyTorch: torch.nn.LSTM, its fused
    C++ kernel);
(e') the same LM with its recurrence written as a Python loop of LSTMCell(32, 128) over
    the 16 steps in both frameworks (issue 22's "same loop" reading);
(f) VAE (examples/vae.py), batch 64 of binarised digits, Adam.

Each PyTorch model is the same architecture with the same names, loaded from the
gradledger model's state dict; the deterministic models' first losses are checked to
agree. Interleaved rounds in one process, medians (benchmarks/timing.py); BLAS and torch
on one thread. Without torch (`pip install torch`) only gradledger's times are printed.

Run: `python benchmarks/bench_pytorch_models.py [--quick] [--rounds N] [--cpu-time]
[--only gpt lstm lstm_cells] [--repeat 3]`.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # read when numpy loads OpenBLAS, below

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gradledger as gl  # noqa: E402
import numpy as np  # noqa: E402
from timing import interleaved  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples"))
import bn_cnn  # noqa: E402
import char_gpt  # noqa: E402
import lstm_lm  # noqa: E402
import vae  # noqa: E402

F = gl.nn.functional
HAS_TORCH = importlib.util.find_spec("torch") is not None


def gl_step(model, loss_fn, opt):
    def step():
        opt.zero_grad()
        loss = loss_fn(model)
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def torch_step(model, loss_fn, opt):
    def step():
        opt.zero_grad()
        loss = loss_fn(model)
        loss.backward()
        opt.step()
        return float(loss.item())

    return step


def load_into_torch(torch_model, gl_model):
    import torch

    state = {k: torch.from_numpy(np.array(v)) for k, v in gl_model.state_dict().items()}
    torch_model.load_state_dict(state)
    return torch_model


# -- (c) char GPT ----------------------------------------------------------------------------


def gpt_workload():
    gl.manual_seed(0)
    words = char_gpt.load_words()
    itos = char_gpt.vocabulary(words)
    stoi = {ch: i for i, ch in enumerate(itos)}
    x, y = char_gpt.sequences(words[:32], stoi, 12)
    model = char_gpt.GPT(len(itos), 12)

    def loss(m):
        logits = m(x)
        return F.cross_entropy(logits.reshape(-1, len(itos)), y.reshape(-1), ignore_index=-100)

    steps = {"gradledger": gl_step(model, loss, gl.optim.AdamW(model, lr=1e-3))}
    if HAS_TORCH:
        import torch
        from torch import nn

        class Block(nn.Module):
            def __init__(self, e, heads):
                super().__init__()
                self.heads = heads
                self.ln1, self.ln2 = nn.LayerNorm(e), nn.LayerNorm(e)
                self.qkv, self.proj = nn.Linear(e, 3 * e), nn.Linear(e, e)
                self.fc, self.fc_out = nn.Linear(e, 4 * e), nn.Linear(4 * e, e)

            def forward(self, h):
                b, t, e = h.shape
                q, k, v = self.qkv(self.ln1(h)).split(e, dim=-1)
                q, k, v = (z.view(b, t, self.heads, -1).transpose(1, 2) for z in (q, k, v))
                a = nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
                h = h + self.proj(a.transpose(1, 2).reshape(b, t, e))
                return h + self.fc_out(nn.functional.gelu(self.fc(self.ln2(h)),
                                                          approximate="tanh"))

        class GPT(nn.Module):
            def __init__(self):
                super().__init__()
                self.tokens, self.positions = nn.Embedding(len(itos), 64), nn.Embedding(12, 64)
                self.blocks = nn.Sequential(Block(64, 4), Block(64, 4))
                self.ln, self.head = nn.LayerNorm(64), nn.Linear(64, len(itos))

            def forward(self, ids):
                h = self.tokens(ids) + self.positions(torch.arange(ids.shape[1]))
                return self.head(self.ln(self.blocks(h)))

        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        theirs = load_into_torch(GPT(), model)

        def torch_loss(m):
            return nn.functional.cross_entropy(m(tx).reshape(-1, len(itos)), ty.reshape(-1),
                                               ignore_index=-100)

        steps["torch"] = torch_step(theirs, torch_loss,
                                    torch.optim.AdamW(theirs.parameters(), lr=1e-3))
    return steps, True


# -- (d) BatchNorm CNN -----------------------------------------------------------------------


def bn_cnn_workload():
    gl.manual_seed(0)
    x_train, _, y_train, _ = bn_cnn.load_digits(seed=0)
    x, y = x_train[:64], y_train[:64]
    model = bn_cnn.build_model()

    def loss(m):
        return F.cross_entropy(m(x), y)

    steps = {"gradledger": gl_step(model, loss, gl.optim.SGD(model, lr=0.05, momentum=0.9))}
    if HAS_TORCH:
        import torch
        from torch import nn

        theirs = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Dropout(0.25), nn.Linear(512, 10))
        load_into_torch(theirs, model)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        steps["torch"] = torch_step(theirs, lambda m: nn.functional.cross_entropy(m(tx), ty),
                                    torch.optim.SGD(theirs.parameters(), lr=0.05, momentum=0.9))
    return steps, False  # dropout masks differ: the losses are not compared


# -- (e) LSTM LM -----------------------------------------------------------------------------


def lstm_workload():
    gl.manual_seed(0)
    words = lstm_lm.load_words()
    itos = lstm_lm.vocabulary(words)
    stoi = {ch: i for i, ch in enumerate(itos)}
    data = lstm_lm.stream(words, stoi, 32)
    x, y = data[:, :16], data[:, 1:17]
    model = lstm_lm.LSTMLM(len(itos))

    def loss(m):
        logits, _ = m(x)
        return F.cross_entropy(logits.reshape(-1, len(itos)), y.reshape(-1))

    steps = {"gradledger": gl_step(model, loss, gl.optim.Adam(model, lr=1e-3))}
    if HAS_TORCH:
        import torch
        from torch import nn

        class LM(nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = nn.Embedding(len(itos), 32)
                self.lstm = nn.LSTM(32, 128, batch_first=True)
                self.head = nn.Linear(128, len(itos))

            def forward(self, ids):
                return self.head(self.lstm(self.embedding(ids))[0])

        theirs = load_into_torch(LM(), model)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        steps["torch"] = torch_step(
            theirs, lambda m: nn.functional.cross_entropy(m(tx).reshape(-1, len(itos)),
                                                          ty.reshape(-1)),
            torch.optim.Adam(theirs.parameters(), lr=1e-3))
    return steps, True


class _CellLM(gl.nn.Module):
    """lstm_lm.LSTMLM with its LSTM unrolled: one LSTMCell stepped over the window."""

    def __init__(self, vocab: int, embed: int = 32, hidden: int = 128, dtype=np.float32):
        self.embedding = gl.nn.Embedding(vocab, embed, dtype=dtype)
        self.cell = gl.nn.LSTMCell(embed, hidden, dtype=dtype)
        self.head = gl.nn.Linear(hidden, vocab, dtype=dtype)

    def forward(self, ids):
        e = self.embedding(ids)  # (B, L, embed)
        h = c = None
        outs = []
        for t in range(e.shape[1]):
            h, c = self.cell(e[:, t], None if h is None else (h, c))
            outs.append(h)
        return self.head(gl.stack(outs, axis=1))


def lstm_cells_workload():
    gl.manual_seed(0)
    words = lstm_lm.load_words()
    itos = lstm_lm.vocabulary(words)
    stoi = {ch: i for i, ch in enumerate(itos)}
    data = lstm_lm.stream(words, stoi, 32)
    x, y = data[:, :16], data[:, 1:17]
    model = _CellLM(len(itos))

    def loss(m):
        return F.cross_entropy(m(x).reshape(-1, len(itos)), y.reshape(-1))

    steps = {"gradledger": gl_step(model, loss, gl.optim.Adam(model, lr=1e-3))}
    if HAS_TORCH:
        import torch
        from torch import nn

        class LM(nn.Module):
            def __init__(self):
                super().__init__()
                self.embedding = nn.Embedding(len(itos), 32)
                self.cell = nn.LSTMCell(32, 128)
                self.head = nn.Linear(128, len(itos))

            def forward(self, ids):
                e = self.embedding(ids)
                h = c = None
                outs = []
                for t in range(e.shape[1]):
                    h, c = self.cell(e[:, t], None if h is None else (h, c))
                    outs.append(h)
                return self.head(torch.stack(outs, dim=1))

        theirs = load_into_torch(LM(), model)
        tx, ty = torch.from_numpy(x), torch.from_numpy(y)
        steps["torch"] = torch_step(
            theirs, lambda m: nn.functional.cross_entropy(m(tx).reshape(-1, len(itos)),
                                                          ty.reshape(-1)),
            torch.optim.Adam(theirs.parameters(), lr=1e-3))
    return steps, True


# -- (f) VAE ---------------------------------------------------------------------------------


def vae_workload():
    gl.manual_seed(0)
    x_train, _ = vae.load_pixels(0)
    x = x_train[:64]
    model = vae.VAE()
    steps = {"gradledger": gl_step(model, lambda m: vae.negative_elbo(m, x),
                                   gl.optim.Adam(model, lr=1e-3))}
    if HAS_TORCH:
        import torch
        from torch import nn

        class VAE(nn.Module):
            def __init__(self):
                super().__init__()
                self.encoder = nn.Linear(64, 128)
                self.mean, self.log_var = nn.Linear(128, 8), nn.Linear(128, 8)
                self.decoder = nn.Sequential(nn.Linear(8, 128), nn.ReLU(), nn.Linear(128, 64))

        theirs = load_into_torch(VAE(), model)
        tx = torch.from_numpy(x)

        def torch_loss(m):
            h = torch.relu(m.encoder(tx))
            mean, log_var = m.mean(h), m.log_var(h)
            z = mean + torch.exp(0.5 * log_var) * torch.randn_like(mean)
            rec = nn.functional.binary_cross_entropy_with_logits(m.decoder(z), tx,
                                                                 reduction="sum")
            kl = -0.5 * torch.sum(1 + log_var - mean * mean - torch.exp(log_var))
            return (rec + kl) / len(tx)

        steps["torch"] = torch_step(theirs, torch_loss, torch.optim.Adam(theirs.parameters(),
                                                                         lr=1e-3))
    return steps, False  # the noise differs


def measure(name: str, steps: dict, compare: bool, rounds: int, clock=time.perf_counter) -> dict:
    if compare and "torch" in steps:
        ours, theirs = steps["gradledger"](), steps["torch"]()
        if not np.isclose(ours, theirs, rtol=1e-4):
            raise SystemExit(f"{name}: first losses differ: gradledger {ours}, torch {theirs}")
    times = interleaved(steps, rounds, clock)
    line = [f"{name}:"] + [f"{k} {v * 1e3:.3f} ms" for k, v in times.items()]
    if "torch" in times:
        line.append(f"| gradledger / torch {times['gradledger'] / times['torch']:.2f}x")
    print("  ".join(line), flush=True)
    return times


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke run")
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by this process's CPU time (time.process_time), not the "
                             "wall clock: for a machine loaded past its cores")
    parser.add_argument("--only", nargs="+", choices=sorted(WORKLOADS), default=None,
                        help="run only these models (default: all)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="measure each model this many times over (each with its load "
                             "average): for a loaded machine")
    args = parser.parse_args(argv)
    rounds = args.rounds or (10 if args.quick else 200)
    if HAS_TORCH:
        import torch

        torch.manual_seed(0)
        torch.set_num_threads(int(os.environ["OPENBLAS_NUM_THREADS"]))
        version = f"torch {torch.__version__} ({torch.get_num_threads()} threads)"
    else:
        version = "torch not installed: no torch column"
    clock = time.process_time if args.cpu_time else time.perf_counter
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}, {version}, "
          f"{rounds} rounds, medians of {'CPU' if args.cpu_time else 'wall-clock'} time")
    results = {}
    for _ in range(args.repeat):
        for key, (name, workload) in WORKLOADS.items():
            if args.only and key not in args.only:
                continue
            steps, compare = workload()
            results[name] = measure(name, steps, compare, rounds, clock)
            if args.repeat > 1 and hasattr(os, "getloadavg"):
                print("  load average: " + ", ".join(f"{x:.2f}" for x in os.getloadavg()),
                      flush=True)
    return results


WORKLOADS = {
    "gpt": ("(c) char GPT step, batch 32", gpt_workload),
    "bn_cnn": ("(d) CNN + BatchNorm + Dropout step, batch 64", bn_cnn_workload),
    "lstm": ("(e) LSTM LM step, 32 x 16 characters", lstm_workload),
    "lstm_cells": ("(e') LSTM LM step, LSTMCell loop, 32 x 16 characters", lstm_cells_workload),
    "vae": ("(f) VAE step, batch 64", vae_workload),
}


if __name__ == "__main__":
    main()
