"""Comparisons: elementwise, with boolean results that carry no gradient.

Their results work as masks: `gl.where(x > 0, x, 0.0)`, `x[x > 0]`.
"""

import numpy as np
from gradledger.extend import Op

BINARY = "(),()->()"


def _compare(name, ufunc, symbol):
    return Op(name, ufunc, signature=BINARY, differentiable=False,
              doc=f"a {symbol} b, elementwise; a boolean tensor without grad")


OPS = [
    _compare("less", np.less, "<"),
    _compare("less_equal", np.less_equal, "<="),
    _compare("greater", np.greater, ">"),
    _compare("greater_equal", np.greater_equal, ">="),
    _compare("equal", np.equal, "=="),
    _compare("not_equal", np.not_equal, "!="),
]
