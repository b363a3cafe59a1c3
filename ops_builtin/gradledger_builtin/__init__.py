"""gradledger's built-in ops: a plugin like any other, reached through the entry point
`builtin = "gradledger_builtin"` of the gradledger distribution.

One module per family; each holds its ops as data in a list `OPS`.
"""

from gradledger.extend import hookimpl

from . import (
    casting,
    comparisons,
    elementwise,
    indexing,
    joining,
    linalg,
    nn,
    reductions,
    shape,
    ufuncs,
)

FAMILIES = (elementwise, comparisons, reductions, shape, indexing, joining, casting, linalg, nn,
            ufuncs)


@hookimpl
def gradledger_register_ops(registry):
    for family in FAMILIES:
        for op in family.OPS:
            registry.register(op)
