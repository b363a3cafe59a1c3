"""gradledger's built-in ops: a plugin like any other, reached through the entry point
`builtin = "gradledger_builtin"` of the gradledger distribution.

One module per family; each holds its ops as data in a list `OPS`.
"""

from gradledger.extend import hookimpl

from . import (
    casting,
    comparisons,
    complexes,
    elementwise,
    fft,
    indexing,
    joining,
    linalg,
    nn,
    nn_fused,
    numpy_more,
    numpy_stats,
    reductions,
    shape,
    special,
    ufuncs,
)

FAMILIES = (elementwise, comparisons, reductions, shape, indexing, joining, casting, linalg, nn,
            nn_fused, ufuncs, numpy_more, numpy_stats, special, fft)
OPTIONAL = (special,)
"""Families registered only when their `available()` says what they need is installed
(special: scipy)."""


@hookimpl
def gradledger_register_ops(registry):
    for family in FAMILIES:
        if family in OPTIONAL and not family.available():
            continue
        for op in family.OPS:
            registry.register(complexes.declared(op))
