"""Foundation benchmarks (issue 2): the tape's per-op cost and its overhead over numpy.

Each workload runs gradledger and the same computation written by hand with numpy
(forward and backward), interleaved in one process; the figure is the median of
several rounds. Run: `python benchmarks/bench_foundation.py [--quick]`.

(a) micrograd-style MLP 2-16-16-1 on 0-d tensors, forward+backward of one sample,
    µs per recorded op, garbage collector on; beside it a micrograd-style reference
    (Python floats, closures, recursive topological sort) run in the same process.
(b) one SGD training step of a batch MLP (batch 128, 784-512-512-10, relu, mean
    squared error), float32 and float64, as a ratio to hand-written numpy.
(c) a chain of 200,000 ops, forward+backward, µs per op.
"""

from __future__ import annotations

import argparse
import gc
import sys

import gradledger as gl
import numpy as np
from timing import interleaved, median_time, mlp_steps

# -- (a) scalar MLP -----------------------------------------------------------------


def scalar_mlp(sizes, rng):
    layers = []
    for fan_in, fan_out in zip(sizes, sizes[1:], strict=False):
        layers.append([
            ([gl.tensor(rng.uniform(-1, 1), requires_grad=True) for _ in range(fan_in)],
             gl.tensor(0.0, requires_grad=True))
            for _ in range(fan_out)
        ])
    return layers


def scalar_forward(layers, xs):
    for depth, layer in enumerate(layers):
        last = depth == len(layers) - 1
        outs = []
        for weights, bias in layer:
            act = bias
            for w, x in zip(weights, xs, strict=False):
                act = act + w * x
            outs.append(act if last else gl.relu(act))
        xs = outs
    return xs[0]


def count_nodes(root) -> int:
    seen, stack = set(), [root._node]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen or not hasattr(node, "parents"):
            continue
        seen.add(id(node))
        stack.extend(p for p in node.parents if p is not None and hasattr(p, "parents"))
    return len(seen)


def numpy_scalar_mlp(layers):
    """The same MLP by hand with numpy scalars: forward, then the backward sweep."""
    ws = [[(np.array([w.data for w in ws_]), b.data) for ws_, b in layer] for layer in layers]

    def step(x0):
        xs = x0
        cache = []
        for depth, layer in enumerate(ws):
            last = depth == len(ws) - 1
            pre = np.array([b + sum(w[i] * xs[i] for i in range(len(xs))) for w, b in layer])
            cache.append((xs, pre))
            xs = pre if last else np.maximum(pre, 0.0)
        grad = np.ones(1)
        for depth in reversed(range(len(ws))):
            xs_in, pre = cache[depth]
            if depth != len(ws) - 1:
                grad = grad * (pre > 0)
            gx = np.zeros(len(xs_in))
            for j, (w, _) in enumerate(ws[depth]):
                for i in range(len(xs_in)):
                    gx[i] += w[i] * grad[j]
            grad = gx
        return grad

    return step


class Scalar:
    """A micrograd-style reference on Python floats: closures and a recursive topo sort."""

    __slots__ = ("data", "grad", "_backward", "_prev")

    def __init__(self, data, prev=()):
        self.data, self.grad, self._backward, self._prev = data, 0.0, None, prev

    def __add__(self, other):
        out = Scalar(self.data + other.data, (self, other))

        def backward():
            self.grad += out.grad
            other.grad += out.grad

        out._backward = backward
        return out

    def __mul__(self, other):
        out = Scalar(self.data * other.data, (self, other))

        def backward():
            self.grad += other.data * out.grad
            other.grad += self.data * out.grad

        out._backward = backward
        return out

    def relu(self):
        out = Scalar(self.data if self.data > 0 else 0.0, (self,))

        def backward():
            self.grad += (out.data > 0) * out.grad

        out._backward = backward
        return out

    def backward(self):
        order, seen = [], set()

        def visit(v):
            if v not in seen:
                seen.add(v)
                for child in v._prev:
                    visit(child)
                order.append(v)

        visit(self)
        self.grad = 1.0
        for v in reversed(order):
            if v._backward is not None:
                v._backward()


def reference_scalar_mlp(layers):
    weights = [[([Scalar(float(w.data)) for w in ws], Scalar(float(b.data))) for ws, b in layer]
               for layer in layers]
    params = [p for layer in weights for ws, b in layer for p in (*ws, b)]
    xs = [Scalar(0.5), Scalar(-1.5)]

    def step():
        h = xs
        for depth, layer in enumerate(weights):
            last = depth == len(weights) - 1
            outs = []
            for ws, b in layer:
                act = b
                for w, x in zip(ws, h, strict=False):
                    act = act + w * x
                outs.append(act if last else act.relu())
            h = outs
        h[0].backward()
        for p in params:
            p.grad = 0.0

    return step


def bench_scalar_mlp(rounds: int) -> dict:
    rng = np.random.default_rng(0)
    layers = scalar_mlp([2, 16, 16, 1], rng)
    x = [gl.tensor(0.5), gl.tensor(-1.5)]
    params = [p for layer in layers for ws, b in layer for p in (*ws, b)]
    ops = count_nodes(scalar_forward(layers, x))

    def run():
        out = scalar_forward(layers, x)
        out.backward()
        for p in params:
            p.grad = None

    hand = numpy_scalar_mlp(layers)
    x_np = np.array([0.5, -1.5])
    gc.enable()
    reference = reference_scalar_mlp(layers)
    t = interleaved({"gradledger": run, "numpy": lambda: hand(x_np), "micrograd": reference},
                    rounds)
    return {"ops": ops, "us_per_op": t["gradledger"] / ops * 1e6,
            "numpy_us_per_op": t["numpy"] / ops * 1e6,
            "micrograd_us_per_op": t["micrograd"] / ops * 1e6}


# -- (b) batch MLP training step ------------------------------------------------------


def bench_batch_mlp(dtype, rounds: int) -> dict:
    gradledger_step, numpy_step = mlp_steps(dtype)

    t = interleaved({"gradledger": gradledger_step, "numpy": numpy_step}, rounds)
    return {"gradledger_ms": t["gradledger"] * 1e3, "numpy_ms": t["numpy"] * 1e3,
            "ratio": t["gradledger"] / t["numpy"]}


# -- (c) a long chain -------------------------------------------------------------------


def bench_chain(length: int, rounds: int) -> dict:
    def run():
        x = gl.tensor(1.0, requires_grad=True)
        y = x
        for _ in range(length // 2):
            y = y * 1.0000001
            y = y + 0.5
        y.backward()
        return x.grad

    return {"ops": length, "us_per_op": median_time(run, rounds) / length * 1e6}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="few rounds, for a smoke run")
    args = parser.parse_args(argv)
    rounds = 3 if args.quick else 15
    print(f"python {sys.version.split()[0]}, numpy {np.__version__}")
    a = bench_scalar_mlp(rounds * 4)
    print(f"(a) scalar MLP 2-16-16-1: {a['ops']} ops, {a['us_per_op']:.2f} µs/op "
          f"(target <= 2); micrograd-style Python floats {a['micrograd_us_per_op']:.2f} µs/op; "
          f"hand-written numpy scalars {a['numpy_us_per_op']:.2f} µs/op")
    for dtype in (np.float32, np.float64):
        b = bench_batch_mlp(dtype, rounds)
        print(f"(b) batch MLP step, {dtype.__name__}: gradledger {b['gradledger_ms']:.2f} ms, "
              f"numpy {b['numpy_ms']:.2f} ms, ratio {b['ratio']:.3f} (target <= 1.05)")
    c = bench_chain(200_000, max(1, rounds // 5))
    print(f"(c) chain of {c['ops']} ops: {c['us_per_op']:.2f} µs/op (target <= 3)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
