"""Which built-ins take complex tensors without a rule of their own for them.

The ops that only move, pick, repeat or add numbers (reshape, transpose, indexing,
concatenation, padding, sums) are linear with real coefficients: the rule they have
for real numbers, applied to a complex out_grad, is already the complex gradient of
docs/plugins.md ("Complex numbers"), and nothing in them needs a conjugate. They are
declared complex here, in one list, when the built-in plugin registers them
(`gradledger_builtin.gradledger_register_ops`), rather than row by row in their
families' modules. Ops with complex arithmetic of their own (mul, exp, abs, the
transforms) declare their dtypes where they are written.
"""

from dataclasses import replace

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


def declared(op):
    """`op` as registered: with complex dtypes when it is one of MOVERS."""
    if op.name in MOVERS and not op.complex and tuple(op.dtypes) == COMPLEX[:2]:
        return replace(op, dtypes=COMPLEX)
    return op
