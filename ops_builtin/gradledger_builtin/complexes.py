"""Which built-ins take complex tensors without a rule of their own for them.

The ops that only move, pick, repeat or add numbers (reshape, transpose, indexing,
concatenation, padding, sums) are linear with real coefficients: the rule they have
for real numbers, applied to a complex out_grad, is already the complex gradient of
docs/plugins.md ("Complex numbers"), and nothing in them needs a conjugate. They are
declared complex here, in one list, when the built-in plugin registers them
(`gradledger_builtin.gradledger_register_ops`), rather than row by row in their
families' modules. Ops with complex arithmetic of their own (mul, exp, abs, the
transforms) declare their dtypes where they are written.

The products (matmul, dot, einsum, ...) and the linear-algebra functions whose real
vjp is an analytic formula, J^T g written with products, sums and inverses, are
holomorphic: their complex vjp is J^H g = conj(J^T conj(g)), the real rule applied to
the conjugated cotangent, conjugated (`holomorphic`). They are declared here too (list
HOLOMORPHIC), with that rule; on real numbers it is the real rule itself.
"""

import functools
from dataclasses import replace

import numpy as np

COMPLEX = ("float64", "float32", "complex128", "complex64")

MOVERS = frozenset({
    # shape
    "reshape", "transpose", "squeeze", "expand_dims", "broadcast_to", "flip", "swapaxes",
    "moveaxis", "flatten", "pad", "tile", "repeat", "ravel", "roll", "fliplr", "flipud",
    "rot90", "atleast_1d", "atleast_2d", "atleast_3d", "diff", "take", "take_along_axis",
    "tril", "triu", "trace", "diagonal", "diag", "matrix_transpose",
    # indexing and joining
    "getitem", "scatter_add", "concatenate", "stack", "split",
    # sums
    "sum", "mean", "cumsum",
})
"""Names of the built-ins whose real rules serve complex numbers as they are."""

SPREADS = frozenset({"var", "std"})
"""var and std of complex numbers are real: mean |x - mean|^2 (and its root). Their real
rules, g (x - mean) times a real factor, are the complex grads as they stand (the grad
of |d|^2 is 2 g d)."""


HOLOMORPHIC = frozenset({
    "matmul", "dot", "outer", "inner", "einsum", "tensordot", "kron", "multi_dot",
    "solve", "inv", "det", "prod",
})
"""Names of the built-ins whose real vjp, applied as `holomorphic` does, is their complex
rule (each checked by the verifier's complex examples)."""


def holomorphic(vjp):
    """The complex vjp of a holomorphic op from its real one: conj(vjp(conj(g), ...)).
    On real numbers (a real cotangent and real inputs) the real vjp is called as it is."""

    @functools.wraps(vjp)
    def complex_vjp(out_grad, *arrays, **params):
        for value in (out_grad, *arrays):
            if _kind(value) == "c":
                break
        else:  # real numbers: the real rule
            return vjp(out_grad, *arrays, **params)
        grads = vjp(np.conj(out_grad), *arrays, **params)
        return tuple(None if g is None else np.conj(g) for g in grads)

    return complex_vjp


def _kind(value) -> str:
    try:
        return value.dtype.kind
    except AttributeError:  # a Python number
        return "f"


def declared(op):
    """`op` as registered: with complex dtypes when it is one of MOVERS or HOLOMORPHIC."""
    if op.complex or tuple(op.dtypes) != COMPLEX[:2]:
        return op
    if op.name in MOVERS or op.name in SPREADS:
        return replace(op, dtypes=COMPLEX)
    if op.name in HOLOMORPHIC and op.vjp is not None:
        return replace(op, dtypes=COMPLEX, vjp=holomorphic(op.vjp))
    return op
