"""gradledger-example-ops: four ops gradledger does not ship, as a third-party plugin.

gradledger finds this module through the entry point in pyproject.toml,

    [project.entry-points.gradledger]
    example = "gradledger_example_ops"

and calls the hook below once, the first time any op is looked up. The ops
themselves are data, in `gradledger_example_ops.ops`.
"""

from gradledger.extend import hookimpl

from .ops import OPS

__version__ = "0.1.0"


@hookimpl
def gradledger_register_ops(registry):
    for op in OPS:
        registry.register(op)
