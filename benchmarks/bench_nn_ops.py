"""Issue 22's layer ops, forward and rule, against the same ops at an earlier commit (and the
fused ops against the ops they replace: "A | B" rows time B against A).

Each op's forward plus its rule, run on float32 arrays of the size a model step uses
(the BatchNorm CNN's second convolution, the char GPT's GELU and attention, the LSTM
LM's step), in one process: the earlier commit's functions are read from git
(`git show REV:ops_builtin/gradledger_builtin/nn*.py`) and loaded beside today's,
then interleaved round by round (benchmarks/timing.py), medians. BLAS on one thread.

Run: `python benchmarks/bench_nn_ops.py [--before ae7e0b1] [--rounds N]` (`--before 81b381b`,
0.5.0, for the lstm_seq and attention rows of issue 22's second stop).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # read when numpy loads OpenBLAS, below

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

import gradledger as gl  # noqa: E402

gl.nn  # noqa: B018  (malloc tuned as in a model step: gl.nn.malloc)
import gradledger_builtin.nn as nn_now  # noqa: E402
import gradledger_builtin.nn_fused as fused_now  # noqa: E402
import numpy as np  # noqa: E402
from timing import interleaved  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


def load_before(rev: str, name: str) -> types.ModuleType:
    """ops_builtin/gradledger_builtin/NAME.py as it was at `rev`, as a module of today's
    package (its relative imports find today's siblings)."""
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:ops_builtin/"
                             f"gradledger_builtin/{name}.py"], check=True, capture_output=True,
                            text=True).stdout
    module = types.ModuleType(f"gradledger_builtin._before_{name}")
    module.__package__ = "gradledger_builtin"
    exec(compile(source, f"{rev}:{name}.py", "exec"), module.__dict__)
    return module


def _op(module, name):
    return next(op for op in module.OPS if op.name == name)


def forward_and_rule(module, name, arrays, params=None, out_grad=None):
    """One call of the op's forward then its rule, as the tape makes them (a saving
    forward's values handed to the rule)."""
    op, params = _op(module, name), params or {}
    saves = getattr(op, "saves", False)

    def run():
        result = op.saving_forward(*arrays, **params) if saves else op.forward(*arrays,
                                                                                 **params)
        out, saved = result if saves else (result, None)
        extra = {"saved": saved} if saves else {}
        if op.local_grad is not None:
            return op.local_grad(*arrays, out=out, **extra, **params)
        return op.vjp(out_grad if out_grad is not None else np.ones_like(out), *arrays,
                      out=out, **extra, **params)

    return run


def workloads(rng):
    f32 = np.float32
    x_conv = rng.standard_normal((64, 16, 8, 8)).astype(f32)
    w_conv = rng.standard_normal((32, 16, 3, 3)).astype(f32)
    x_bn = rng.standard_normal((64, 32, 8, 8)).astype(f32)
    c32 = np.ones(32, f32), np.zeros(32, f32)
    x_ln = rng.standard_normal((32, 12, 64)).astype(f32)
    c64 = np.ones(64, f32), np.zeros(64, f32)
    x_gelu = rng.standard_normal((32, 12, 256)).astype(f32)
    q, k, v = (rng.standard_normal((32, 4, 12, 16)).astype(f32) for _ in range(3))
    gates = rng.standard_normal((32, 512)).astype(f32)
    bias, c = rng.standard_normal(512).astype(f32), rng.standard_normal((32, 128)).astype(f32)
    x_pool = np.maximum(rng.standard_normal((64, 32, 8, 8)).astype(f32), 0)
    return [
        ("conv2d (64,16,8,8)*(32,16,3,3) pad 1", "nn", "conv2d", (x_conv, w_conv),
         {"padding": 1}, rng.standard_normal((64, 32, 8, 8)).astype(f32)),
        ("batch_norm (64,32,8,8)", "nn_fused", "batch_norm", (x_bn, *c32), {},
         rng.standard_normal(x_bn.shape).astype(f32)),
        ("layer_norm (32,12,64)", "nn_fused", "layer_norm", (x_ln, *c64), {},
         rng.standard_normal(x_ln.shape).astype(f32)),
        ("gelu_tanh (32,12,256)", "nn_fused", "gelu_tanh", (x_gelu,), {}, None),
        ("lstm_cell (32,4*128)", "nn_fused", "lstm_cell", (gates, bias, c), {},
         rng.standard_normal((32, 256)).astype(f32)),
        ("max_pool2d (64,32,8,8) k2", "nn", "max_pool2d", (x_pool,), {"kernel_size": 2},
         rng.standard_normal((64, 32, 4, 4)).astype(f32)),
        ("max_pool2d (64,16,8,8) k2 (digits CNN)", "nn", "max_pool2d",
         (np.maximum(rng.standard_normal((64, 16, 8, 8)).astype(f32), 0),), {"kernel_size": 2},
         rng.standard_normal((64, 16, 4, 4)).astype(f32)),
        ("cross_entropy (128,27) (char MLP)", "nn", "cross_entropy",
         (rng.standard_normal((128, 27)).astype(f32), rng.integers(0, 27, 128)), {}, None),
        ("Conv2d (64,16,8,8)*(32,16,3,3)+b: conv2d_bias | conv2d + add", "pair",
         conv2d_bias_pair, (x_conv, w_conv, rng.standard_normal(32).astype(f32)), {},
         rng.standard_normal((64, 32, 8, 8)).astype(f32)),
        ("attention (32,4,12,16) causal: fused op | composite", None, None, (q, k, v), {},
         rng.standard_normal(q.shape).astype(f32)),
        ("attention op, transposed (32,4,12,16) causal", "nn_fused", "attention",
         tuple(np.swapaxes(a, 1, 2).copy().swapaxes(1, 2) for a in (q, k, v)),
         {"is_causal": True}, rng.standard_normal(q.shape).astype(f32)),
        ("embedding rule, (32,16) ids into (27,32)", "nn", "embedding",
         (rng.standard_normal((27, 32)).astype(f32), rng.integers(0, 27, (32, 16))), {},
         rng.standard_normal((32, 16, 32)).astype(f32)),
        ("Linear (32,12,64)->192: linear_bias | linear + add", "pair", linear_pair,
         (x_ln, rng.standard_normal((192, 64)).astype(f32), rng.standard_normal(192).astype(f32)),
         {}, rng.standard_normal((32, 12, 192)).astype(f32)),
        ("LSTM (16,32,4*128): lstm_seq | lstm_step loop", "pair", lstm_pair,
         (rng.standard_normal((16, 32, 512)).astype(f32),
          (rng.standard_normal((512, 128)) * 0.1).astype(f32), bias),
         {}, rng.standard_normal((16, 32, 256)).astype(f32)),
        ("lstm_seq (16,32,4*128)", "nn_fused", "lstm_seq",
         (rng.standard_normal((16, 32, 512)).astype(f32), c, (rng.standard_normal((512, 128))
                                                               * 0.1).astype(f32), bias, c),
         {}, rng.standard_normal((16, 32, 256)).astype(f32)),
        ("GPT attention (32,12,192) 4 heads: attention_qkv | split..join", "pair", qkv_pair,
         (rng.standard_normal((32, 12, 192)).astype(f32),), {},
         rng.standard_normal((32, 12, 64)).astype(f32)),
        ("GPT MLP (32,12,64)->256: linear_gelu | linear_bias + gelu_tanh", "pair",
         linear_gelu_pair, (x_ln, (rng.standard_normal((256, 64)) * 0.1).astype(f32),
                            rng.standard_normal(256).astype(f32)), {},
         rng.standard_normal((32, 12, 256)).astype(f32)),
        ("GPT input (32,12) ids: token_position_embedding | 2 embeddings + add", "pair",
         embedding_pair, (rng.standard_normal((27, 64)).astype(f32),
                          rng.standard_normal((12, 64)).astype(f32),
                          rng.integers(0, 27, (32, 12))), {},
         rng.standard_normal((32, 12, 64)).astype(f32)),
    ]


def conv2d_bias_pair(x, w, b, u):
    """conv2d then the bias added by broadcasting (its grad, the sum over N, P, Q), against
    the op conv2d_bias, forward and rule each."""
    conv, fused = _op(nn_now, "conv2d"), _op(nn_now, "conv2d_bias")

    def composite():
        out, saved = conv.saving_forward(x, w, padding=1)
        out = out + b[:, None, None]
        grads = conv.vjp(u, x, w, out=out, saved=saved, padding=1)
        return grads, np.sum(u, axis=(0, 2, 3))

    def one_op():
        out, saved = fused.saving_forward(x, w, b, padding=1)
        return fused.vjp(u, x, w, b, out=out, saved=saved, padding=1)

    return composite, one_op


def linear_gelu_pair(x, w, b, u):
    """gelu_tanh(x @ w.T + b) as the one op linear_gelu against linear_bias then gelu_tanh."""
    ts = [gl.tensor(a, requires_grad=True) for a in (x, w, b)]
    return (lambda: gl.gelu_tanh(gl.linear_bias(*ts)).backward(u),
            lambda: gl.linear_gelu(*ts).backward(u))


def qkv_pair(qkv, u):
    """A GPT block's attention over its packed projection as the one op attention_qkv
    against the ops char_gpt.py recorded before it: split, reshape and transpose of q, k and
    v, attention, transpose and reshape."""
    x = gl.tensor(qkv, requires_grad=True)
    b, t, e = x.shape[0], x.shape[1], x.shape[2] // 3

    def composite():
        q, k, v = gl.split(x, 3, axis=-1)
        q, k, v = (gl.transpose(z.reshape(b, t, 4, e // 4), (0, 2, 1, 3)) for z in (q, k, v))
        out = gl.attention(q, k, v, is_causal=True)
        gl.transpose(out, (0, 2, 1, 3)).reshape(b, t, e).backward(u)

    return composite, lambda: gl.attention_qkv(x, heads=4, is_causal=True).backward(u)


def embedding_pair(tokens, positions, ids, u):
    """tokens[ids] + positions[:L] as the one op token_position_embedding against two
    embeddings and an add."""
    t, p = gl.tensor(tokens, requires_grad=True), gl.tensor(positions, requires_grad=True)
    positions_ids = np.arange(ids.shape[-1])
    return (lambda: (gl.embedding(t, ids) + gl.embedding(p, positions_ids)).backward(u),
            lambda: gl.token_position_embedding(t, p, ids).backward(u))


def linear_pair(x, w, b, u):
    """x @ w.T + b as the one op linear_bias against linear then add, forward and backward."""
    ts = [gl.tensor(a, requires_grad=True) for a in (x, w, b)]
    return (lambda: (gl.linear(ts[0], ts[1]) + ts[2]).backward(u),
            lambda: gl.linear_bias(*ts).backward(u))


def lstm_pair(x_proj, w, b, u):
    """A 16-step LSTM layer's h outputs as the one op lstm_seq (and a split) against the
    loop gl.nn.LSTM recorded before: lstm_step and a split per step, a concatenation."""
    ts = [gl.tensor(a, requires_grad=True) for a in (x_proj, w, b)]
    length, batch, hidden = x_proj.shape[0], x_proj.shape[1], w.shape[1]
    zeros = np.zeros((1, batch, hidden), dtype=x_proj.dtype)
    u = u[..., :hidden]

    def loop():
        h, c, outputs = zeros, zeros, []
        for x_t in gl.split(ts[0], length, axis=0):
            h, c = gl.split(gl.lstm_step(x_t, h, ts[1], ts[2], c), 2, axis=-1)
            outputs.append(h)
        gl.concatenate(outputs, axis=0).backward(u)

    def fused():
        gl.split(gl.lstm_seq(ts[0], zeros[0], ts[1], ts[2], zeros[0]), 2, axis=-1)[0].backward(u)

    return loop, fused


def attention_pair(q, k, v, u):
    """The fused op against the composite F.scaled_dot_product_attention made before it
    (matmul, swapaxes, mul, masked_fill, softmax, matmul), forward and backward."""
    F = gl.nn.functional
    mask = np.tril(np.ones((q.shape[-2], k.shape[-2]), dtype=bool))
    ts = [gl.tensor(a, requires_grad=True) for a in (q, k, v)]

    def fused():
        F.scaled_dot_product_attention(*ts, is_causal=True).backward(u)

    def composite():
        F.scaled_dot_product_attention(*ts, attn_mask=mask).backward(u)

    return composite, fused


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default="ae7e0b1", help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--cpu-time", action="store_true",
                        help="time by this process's CPU time (time.process_time), not the "
                             "wall clock: for a machine loaded past its cores")
    args = parser.parse_args(argv)
    before = {name: load_before(args.before, name) for name in ("nn", "nn_fused")}
    now = {"nn": nn_now, "nn_fused": fused_now}
    print(f"{args.rounds} rounds, medians, float32, OPENBLAS_NUM_THREADS="
          f"{os.environ['OPENBLAS_NUM_THREADS']}; before = {args.before}")
    for label, module, name, arrays, params, out_grad in workloads(np.random.default_rng(0)):
        if module is None:
            old, new = attention_pair(*arrays, out_grad)
        elif module == "pair":
            old, new = name(*arrays, out_grad)
        elif not any(op.name == name for op in before[module].OPS):
            print(f"{label:52s} (no {name} at {args.before})", flush=True)
            continue
        else:
            old = forward_and_rule(before[module], name, arrays, params, out_grad)
            new = forward_and_rule(now[module], name, arrays, params, out_grad)
        times = interleaved({"before": old, "now": new}, args.rounds,
                            time.process_time if args.cpu_time else time.perf_counter)
        print(f"{label:52s} before {times['before'] * 1e6:8.1f} us  now "
              f"{times['now'] * 1e6:8.1f} us  now/before {times['now'] / times['before']:.2f}x",
              flush=True)


if __name__ == "__main__":
    sys.exit(main())
