"""A user's script, type-checked in CI by pyright (basic) and mypy: every line is correct
gradledger, so any error the checkers report is a gap in gradledger's static types."""

from __future__ import annotations

import gradledger as gl
import numpy as np

rng = np.random.default_rng(0)
x = gl.tensor(5.0, requires_grad=True)
loss = x * x + 3 * x - x / 2 + x ** 2
loss.backward()
slope: float = float(x.grad)

W = gl.tensor(rng.standard_normal((3, 2)), requires_grad=True)
b = gl.tensor(np.zeros(2), requires_grad=True)
batch = rng.standard_normal((8, 3))
h = gl.relu(batch @ W + b)
y = -h
mse = gl.mean((h - rng.standard_normal((8, 2))) ** 2)
total = gl.sum(h, axis=0)
shape: tuple[int, ...] = total.shape
ledger = gl.explain(mse, show=False)  # books the grads, as mse.backward() does
with gl.no_grad():
    W.data -= 0.1 * W.grad
print(mse.item(), W.grad.shape, len(gl.to_dot(y)), ledger)

net = gl.nn.Sequential(gl.nn.Linear(3, 4, rng=0), gl.nn.ReLU(), gl.nn.Linear(4, 1, rng=1))
optimizer = gl.optim.Adam(net.parameters(), lr=1e-2)
scheduler = gl.optim.lr_scheduler.StepLR(optimizer, step_size=10)
for _ in range(2):
    optimizer.zero_grad()
    out = gl.mean((net(batch) - 1.0) ** 2)
    out.backward()
    optimizer.step()
    scheduler.step()
state = net.state_dict()
net.load_state_dict(state)
(dx,) = gl.grad(gl.sum(gl.tanh(x) * x), [x], create_graph=True)
pieces = gl.split(gl.tensor(np.arange(6.0)), 3)
first: gl.Tensor = pieces[0]
joined = gl.concatenate([first, pieces[1]], axis=0)
print(dx.item(), joined.shape, gl.__version__)
