"""Every number in "Backpropagation as Sensitivity Accounting", computed with gradledger
and printed beside the seed's claim.

    python examples/seed_walkthrough.py

Each line reads `claim   seed: N   gradledger: N   ok`. Where the seed states no
number (one SGD step, the nudge's tiny error) the column says `check:` and holds
the value worked out by hand. The script exits with status 1 if any disagrees.
"""

from __future__ import annotations

import sys
import textwrap

import gradledger as gl
import numpy as np

failures: list[str] = []


def section(title: str) -> None:
    print(f"\n== {title} ==")


def check(claim: str, seed, ours, tol: float = 1e-9, source: str = "seed") -> None:
    """Print the seed's number (or a hand-worked `check:`) beside ours; remember mismatches."""
    if isinstance(seed, str):
        agree = seed == ours
    else:
        agree = bool(np.allclose(ours, seed, rtol=tol, atol=tol))
    print(f"  {claim:<46} {source + ':':<6} {_text(seed):<9} gradledger: {_text(ours):<9} "
          f"{'ok' if agree else 'MISMATCH'}")
    if not agree:
        failures.append(claim)


def _text(value) -> str:
    if isinstance(value, str):
        return value
    value = np.asarray(value)
    return f"{value.item():.8g}" if value.size == 1 else f"{value.shape} array"


def explain(loss):
    """gl.explain, its lines indented under the section."""
    ledger = gl.explain(loss, show=False)
    print(textwrap.indent(ledger.text, "    "))
    return ledger


def the_meaning_of_grad() -> None:
    section("1. The meaning of .grad: x = 5, loss = x * x")
    x = gl.tensor(5.0, requires_grad=True, name="x")
    loss = x * x
    check("loss = x * x at x = 5", 25, loss.item())
    nudged = (gl.tensor(5.01) * gl.tensor(5.01)).item()
    check("nudged to x = 5.01, the loss is", 25.1001, nudged)
    check("the loss changed by", 0.1001, nudged - loss.item())
    ratio = (nudged - loss.item()) / 0.01
    check("ratio 0.1001 / 0.01 (seed: '≈ 10')", 10.01, ratio)
    (nudged,) = gl.verify.nudge_grad(lambda t: t * t, 5.0, step=0.01)
    check("the same by gl.verify.nudge_grad(step=0.01)", 10.01, nudged)
    loss.backward()
    check("x.grad, by one backward pass", 10, x.grad)
    print("  The ratio is ≈ 10 because a nudge of 0.01 is not infinitely small; the")
    print("  gradient is the limit, exactly 10 = 2 * x.")


def the_nudge_method() -> None:
    section("2. The naive way: one forward pass per parameter")
    calls = 0

    def forward(w):
        nonlocal calls
        calls += 1
        return gl.sum(w * w)

    for n in (1, 1000):
        calls = 0
        (grad,) = gl.verify.nudge_grad(forward, np.ones(n))
        plural = "s" if n > 1 else ""
        check(f"nudge: forward passes for {n} parameter{plural}", n, calls - 1)
    w = gl.tensor(np.ones(1000), requires_grad=True)
    calls = 0
    forward(w).backward()
    check("backprop: forward passes for 1000 parameters", 1, calls)
    check("same grads: largest |nudge - backprop|", 0, np.max(np.abs(grad - w.grad)), tol=1e-4,
          source="check")
    print("  (the nudge also runs one forward pass at the start, to know the loss it nudges)")
    print("  Timings from 10 to 100,000 parameters: python examples/nudge_vs_backprop.py")


def local_rules() -> None:
    section("3. Local rules: z = a * b")
    a = gl.tensor(4.0, requires_grad=True, name="a")
    b = gl.tensor(10.0, requires_grad=True, name="b")
    z = a * b
    z.backward()
    check("sensitivity of z to a is b", 10, a.grad)
    check("sensitivity of z to b is a", 4, b.grad)
    a1 = (gl.tensor(5.0) * 10.0).item() - (gl.tensor(4.0) * 10.0).item()
    check("z = a * 10: nudging a by 1 changes z by", 10, a1)


def the_chain() -> None:
    section("4. input.grad += local_grad * output.grad: a = x * 3, loss = a * a at x = 2")
    x = gl.tensor(2.0, requires_grad=True, name="x")
    a = x * 3
    a.name = "a"
    loss = a * a
    loss.name = "loss"
    check("a = x * 3", 6, a.item())
    check("loss = a * a", 36, loss.item())
    print("  The backward pass, entry by entry (gl.explain):")
    ledger = explain(loss)
    check("the backward pass starts with loss.grad", 1, loss.grad)
    check("local sensitivity of loss to a is 2 * a", 12, 2 * a.item())
    check("a.grad", 12, a.grad)
    check("local sensitivity of a to x is", 3, ledger[-1].local)
    check("x.grad = 3 * 12", 36, x.grad)
    print("  loss = a * a uses a twice, so a gets two entries of 6: the next section says why.")


def why_plus_equals() -> None:
    section("Why += and not =: y = x + x")
    x = gl.tensor(3.0, requires_grad=True, name="x")
    y = x + x
    y.name = "y"
    ledger = explain(y)
    first, second = ledger.entries_for("x")
    check("the left x contributed", 1, first.contribution)
    check("the right x contributed", 1, second.contribution)
    check("with +=, x.grad holds both paths", 2, x.grad)
    check("with =, the second would overwrite: x.grad", 1, second.contribution, source="check")
    (nudged,) = gl.verify.nudge_grad(lambda t: t + t, 3.0)
    check("the nudge says (so += is right)", 2, nudged, tol=1e-5, source="check")


def stepping_downhill() -> None:
    section("5. Learning is stepping downhill: w -= learning_rate * w.grad")

    def loss_at(value: float) -> float:
        a = gl.tensor(value) * 3
        return (a * a).item()

    for start in (2.0, -2.0):
        x = gl.tensor(start, requires_grad=True, name="x")
        a = x * 3
        (a * a).backward()
        sign = "positive" if x.grad > 0 else "negative"
        moved = "increases" if loss_at(start + 0.01) > loss_at(start) else "decreases"
        expected = "increases" if x.grad > 0 else "decreases"
        check(f"x = {start:g}: x.grad is {sign}; increasing x", expected, moved)
    x = gl.tensor(2.0, requires_grad=True, name="x")
    a = x * 3
    loss = a * a
    loss.backward()
    optimizer = gl.optim.SGD([x], lr=0.01)
    optimizer.step()
    check("one SGD step (lr 0.01): x = 2 - 0.01 * 36", 1.64, x.item(), source="check")
    check("the loss went downhill, from 36 to", 24.2064, loss_at(x.item()), source="check")
    optimizer.zero_grad()
    check("zero_grad clears the ledger: x.grad", "None", str(x.grad), source="check")


def matrices() -> None:
    section("The blindspot: matrices, every number with its own .grad")
    rng = np.random.default_rng(0)
    W = gl.tensor(rng.normal(size=(2, 3)), requires_grad=True, name="W")
    v = rng.normal(size=3)
    loss = gl.sum(gl.relu(W @ v))
    loss.backward()
    check("W.grad has W's shape", "(2, 3)", str(W.grad.shape), source="check")
    (nudged,) = gl.verify.nudge_grad(lambda w: gl.sum(gl.relu(w @ v)), W)
    check("largest |nudge_grad - backward| over W", 0, np.max(np.abs(nudged - W.grad)),
          tol=1e-5, source="check")


def nudge_vs_backward() -> None:
    section("gl.verify.nudge_grad against backward on the seed's chain")
    x = gl.tensor(2.0, requires_grad=True, name="x")
    a = x * 3
    (a * a).backward()
    (nudged,) = gl.verify.nudge_grad(lambda t: (t * 3) * (t * 3), 2.0)
    check("x.grad by nudging (≈, within 1e-4)", 36, nudged, tol=1e-4)
    check("x.grad by backward (exact)", 36, x.grad)


def main() -> int:
    print('Every number in "Backpropagation as Sensitivity Accounting", computed by gradledger')
    the_meaning_of_grad()
    the_nudge_method()
    local_rules()
    the_chain()
    why_plus_equals()
    stepping_downhill()
    matrices()
    nudge_vs_backward()
    if failures:
        print(f"\n{len(failures)} number(s) disagree with the seed: {', '.join(failures)}")
        return 1
    print("\nEvery number agrees with the seed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
