"""Random composed programs: DAGs of registered ops, to fuzz backward against the nudge method.

A `Program` is data — leaves, then steps that each call one registered op on earlier
values (leaves, results, or constants) — and a function of its leaves, ready for
`gradcheck(program, *program.leaves)`. `programs()` is the hypothesis strategy that
draws them: every registered op whose declaration lets it be composed, values reused
on several paths, numpy broadcasting, reductions with axes.

Each step is evaluated as it is drawn, so a step whose inputs would sit within
`KINK_MARGIN` of one of the op's declared kinks or outside its declared domain is
left out (a correct program would otherwise fail at a point where the derivative
does not exist). Inputs of ops whose domain is bounded below go through
`x * x + (low + 1/2)` first, built from the registered `mul` and `add`.
"""

from __future__ import annotations

from copy import deepcopy
from dataclasses import dataclass, field

import numpy as np

from ..errors import GradledgerError
from ..grad_mode import no_grad
from ..loader import host
from ..signature import ANY_SHAPE, shape_mismatch
from ..tape import apply
from ..tensor import Tensor
from . import hints

KINK_MARGIN = 0.05
"""Intermediate values stay this far from declared kinks: nudges move them by ~1e-3 x |J|."""

MAGNITUDE = 1e2
"""Steps whose result exceeds this (or is not finite) are left out: a larger value fed to
a periodic op (sin of a squared 28) turns the nudges' 1e-3 steps into noise."""


@dataclass
class Step:
    """`values.append(op(*operands, **params))`; an operand is a value index or a constant."""

    op: str
    operands: tuple
    params: dict = field(default_factory=dict)


@dataclass
class Program:
    """Leaves and the steps that compose registered ops on them; callable on its leaves."""

    leaves: list
    steps: list

    def __call__(self, *leaves):
        values = list(leaves)
        for step in self.steps:
            op = host.lookup(step.op)
            args = tuple(values[x] if isinstance(x, int) else x for x in step.operands)
            # a copy per call: a Generator among the params starts each call in the state
            # drawn (as the verifier's checks do), so the program is a function of its leaves
            values.append(apply(op, args, deepcopy(step.params)))
        return values[-1]

    def __str__(self) -> str:
        """The program as Python: copy, paste, and call `program(*leaves)`."""
        names = [f"x{i + 1}" for i in range(len(self.leaves))]
        lines = [f"def program({', '.join(names)}):"]
        for n, step in enumerate(self.steps):
            args = [names[x] if isinstance(x, int) else repr(float(x)) for x in step.operands]
            args += [f"{k}={v!r}" for k, v in step.params.items()]
            names.append(f"v{n + 1}")
            lines.append(f"    {names[-1]} = gl.{step.op}({', '.join(args)})")
        lines.append(f"    return {names[-1]}")
        lines += [f"{names[i]} = {np.asarray(leaf).tolist()!r}"
                  for i, leaf in enumerate(self.leaves)]
        return "\n".join(lines)


def composable_ops() -> list:
    """The registered ops a program can call: sampled from their signature and hints
    alone (no `sample` escape hatch) and with every required param declared."""
    host.ensure_loaded()
    ops = []
    for op in host.registry:
        if op.sample is not None or op.sig is None:
            continue
        if op.multi or op.variadic is not None or not op.differentiable:
            continue  # one float output from fixed inputs: what a program step can chain
        if hints.required_params(op) and op.params is None:
            continue
        if ANY_SHAPE in op.sig.inputs and op.nin - len(op.constants) != 1:
            continue
        ops.append(op)
    return ops


def programs(max_steps: int = 30, max_leaves: int = 3, ops=None):
    """A hypothesis strategy of `Program`s with up to `max_steps` op calls."""
    from hypothesis import strategies as st
    from hypothesis.extra import numpy as hnp

    pool = ops if ops is not None else composable_ops()
    if not pool:
        raise ValueError("no registered op can be composed into programs")

    @st.composite
    def draw_program(draw):
        base = draw(hnp.array_shapes(min_dims=0, max_dims=2, min_side=1, max_side=3))
        leaves = [draw(_leaf(st, hnp, base, k)) for k in range(draw(st.integers(1, max_leaves)))]
        values = [Tensor(leaf) for leaf in leaves]
        steps = []
        for _ in range(draw(st.integers(1, max_steps))):
            op = draw(st.sampled_from(pool))
            group, mark = _steps_for(draw, st, op, values), len(values)
            if group and all(_accept(step, values) for step in group):
                steps.extend(group)
            else:
                del values[mark:]
        if not steps:
            fallback = Step("mul", (0, 0)) if "mul" in host.registry else Step(pool[0].name, (0,))
            steps.append(fallback)
            _accept(steps[-1], values)
        return Program(leaves, steps)

    return draw_program()


def _leaf(st, hnp, base, k):
    """Values in +-[0.3, 2], nudged apart so that no two elements tie; shaped to broadcast
    against `base`, or to multiply it as a matrix from either side."""
    shapes = [base, base[-1:], tuple(1 for _ in base), ()]
    if base:
        shapes += [(base[-1], 2), (2, base[0])]
    shape = st.sampled_from(shapes)

    def build(shape):
        size = int(np.prod(shape))
        magnitudes = hnp.arrays(np.float64, shape, elements=st.floats(0.3, 2.0))
        signs = hnp.arrays(np.float64, shape, elements=st.sampled_from([-1.0, 1.0]))
        jitter = 0.0137 * (k + 1) + 0.0071 * np.arange(size).reshape(shape)
        return st.tuples(magnitudes, signs).map(lambda ms: ms[0] * ms[1] + jitter)

    return shape.flatmap(build)


def _steps_for(draw, st, op, values):
    """The steps that call `op` (after any positivity wrappers its domain needs)."""
    operands, steps, shapes = [], [], []
    first = draw(st.integers(0, len(values) - 1))
    for i in range(op.nin):
        if i in op.constants:
            low, high = hints.interval(op, i)
            low, high = (-3.0 if low is None else low), (3.0 if high is None else high)
            operands.append(np.float64(draw(st.floats(low + 0.1, high - 0.1)).__round__(2)))
            continue
        index = first if i == 0 else _partner(draw, st, op, values, shapes, i)
        if index is None:
            return []
        shapes.append(np.shape(values[index].data))
        low, _ = hints.interval(op, i)
        outside = low is not None and np.any(np.asarray(values[index].data) <= low + 0.5)
        if outside and {"mul", "add"} <= set(host.registry.ops):
            square = Step("mul", (index, index))
            positive = Step("add", (len(values) + len(steps), np.float64(low + 0.5)))
            steps += [square, positive]
            index = len(values) + len(steps) - 1
        operands.append(index)
    params = _params(draw, st, op, shapes)
    return [*steps, Step(op.name, tuple(operands), params)]


def _partner(draw, st, op, values, shapes, i):
    """A value whose shape fits beside the operands drawn so far (None if none does)."""
    fitting = [k for k, v in enumerate(values)
               if shape_mismatch(op.sig, [*shapes, np.shape(v.data)] + [()] * (op.nin - i - 1))
               is None]
    if fitting and draw(st.booleans()):
        return draw(st.sampled_from(fitting))
    if fitting:
        return fitting[-1]
    return None


def _params(draw, st, op, shapes):
    if op.params is None:
        return {}
    if callable(op.params):
        return {name: draw(s) for name, s in op.params(shapes).items()}
    return {name: draw(st.sampled_from(list(options))) for name, options in op.params.items()}


def _accept(step, values) -> bool:
    """Evaluate `step`; keep it (appending its value) if it is finite, moderate and its
    inputs keep clear of the op's kinks and domain edges."""
    op = host.lookup(step.op)
    args = [values[x] if isinstance(x, int) else x for x in step.operands]
    for i, arg in enumerate(args):
        if i in op.constants:
            continue
        data = np.asarray(arg.data)
        low, high = hints.interval(op, i)
        if low is not None and np.any(data <= low + KINK_MARGIN):
            return False
        if high is not None and np.any(data >= high - KINK_MARGIN):
            return False
        if any(np.any(np.abs(data - k) < KINK_MARGIN) for k in hints.kinks(op, i)):
            return False
    try:
        with no_grad(), np.errstate(over="raise", invalid="raise", divide="raise"):
            result = apply(op, tuple(args), dict(step.params))
    except (ArithmeticError, ValueError, TypeError, GradledgerError):
        return False
    data = np.asarray(result.data, dtype=np.float64)
    if data.size == 0 or not np.all(np.isfinite(data)) or np.any(np.abs(data) > MAGNITUDE):
        return False
    if any(isinstance(a, Tensor) and np.result_type(a.data).itemsize
           > np.result_type(result.data).itemsize for a in args):
        return False  # a narrowing cast: a step function at float32's 1e-7, noise to nudges
    values.append(result)
    return True
