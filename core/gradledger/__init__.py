"""gradledger: reverse-mode autodiff as sensitivity accounting.

The tape records who called whom; every op, the built-ins included, arrives as a
plugin; `backward()` walks the record in reverse and books
`input.grad += local * output.grad`.

Importing gradledger loads no plugin, no hypothesis and no pytest: plugins load on
the first op lookup, the verifier when it is used.
"""

from __future__ import annotations

import importlib

from .errors import (
    AnomalyError,
    BackwardError,
    DuplicateOpError,
    GradledgerError,
    OpCallError,
    OpDefinitionError,
    OpNotFoundError,
    OpRuleError,
    PluginLoadError,
)
from .grad_mode import detect_anomaly, is_anomaly_enabled, is_grad_enabled, no_grad
from .hookspecs import hookimpl
from .loader import register_plugin, unregister_plugin
from .op import Op
from .ops import ops
from .tensor import Tensor, tensor

__version__ = "0.1.0"

__all__ = [
    "AnomalyError",
    "BackwardError",
    "DuplicateOpError",
    "GradledgerError",
    "Op",
    "OpCallError",
    "OpDefinitionError",
    "OpNotFoundError",
    "OpRuleError",
    "PluginLoadError",
    "Tensor",
    "detect_anomaly",
    "hookimpl",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "no_grad",
    "ops",
    "register_plugin",
    "tensor",
    "unregister_plugin",
    "zero_grad",
]

_SUBMODULES = {"verify", "cli", "optim", "nn", "tape"}
# Public functions that live in modules imported on first use, to keep `import gradledger` cheap.
_LAZY_FUNCTIONS = {"explain": "ledger", "to_dot": "graph", "render": "graph",
                   "save": "serialize", "load": "serialize"}


def zero_grad(*tensors: Tensor) -> None:
    """Clear the ledger of each tensor: `t.grad = None`."""
    for t in tensors:
        t.grad = None


def __getattr__(name: str):
    """`gl.verify` and friends import on first use; any other name is a registered op."""
    if name in _SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name in _LAZY_FUNCTIONS:
        return getattr(importlib.import_module(f"{__name__}.{_LAZY_FUNCTIONS[name]}"), name)
    if name.startswith("_"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(ops, name)


def __dir__() -> list[str]:
    return sorted(set(__all__) | _SUBMODULES | set(_LAZY_FUNCTIONS))
