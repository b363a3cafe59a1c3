"""gradledger: reverse-mode autodiff as sensitivity accounting.

The tape records who called whom; every op, the built-ins included, arrives as a
plugin; `backward()` walks the record in reverse and books
`input.grad += local * output.grad`.

Importing gradledger loads no plugin, no hypothesis and no pytest: plugins load on
the first op lookup, the verifier when it is used.
"""

from __future__ import annotations

import difflib
import importlib

from . import tape as _tape
from . import tensor as _tensor_module
from .dtypes import (
    float16,
    float32,
    float64,
    get_default_dtype,
    get_mixed_dtypes,
    mixed_dtypes,
    set_default_dtype,
    set_mixed_dtypes,
)
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
    RequiresGradError,
)
from .factories import arange, eye, full, ones, ones_like, rand, randn, zeros, zeros_like
from .grad_mode import (
    detect_anomaly,
    enable_grad,
    is_anomaly_enabled,
    is_grad_enabled,
    no_grad,
)
from .hookspecs import hookimpl
from .loader import host as _host
from .loader import register_plugin, unregister_plugin
from .op import Op
from .ops import ops
from .random import Generator, default_generator, initial_seed, manual_seed
from .tensor import Tensor, tensor
from .tensor import doors as _doors

__version__ = "0.7.0"  # the one place; pyproject.toml reads it (hatch)

__all__ = [
    "AnomalyError",
    "BackwardError",
    "DuplicateOpError",
    "Generator",
    "GradledgerError",
    "Op",
    "OpCallError",
    "OpDefinitionError",
    "OpNotFoundError",
    "OpRuleError",
    "PluginLoadError",
    "RequiresGradError",
    "Tensor",
    "arange",
    "default_generator",
    "detect_anomaly",
    "enable_grad",
    "eye",
    "float16",
    "float32",
    "float64",
    "full",
    "get_default_dtype",
    "get_mixed_dtypes",
    "hookimpl",
    "initial_seed",
    "is_anomaly_enabled",
    "is_grad_enabled",
    "manual_seed",
    "mixed_dtypes",
    "no_grad",
    "ones",
    "ones_like",
    "ops",
    "rand",
    "randn",
    "register_plugin",
    "set_default_dtype",
    "set_mixed_dtypes",
    "tensor",
    "unregister_plugin",
    "zero_grad",
    "zeros",
    "zeros_like",
]

_SUBMODULES = {"verify", "cli", "optim", "nn", "tape", "functional"}
# Public functions that live in modules imported on first use, to keep `import gradledger` cheap.
_LAZY_FUNCTIONS = {
    "explain": "ledger", "to_dot": "pictures", "render": "pictures", "graph": "pictures",
    "save": "serialize", "load": "serialize",
    "grad": "autograd", "jacobian": "autograd", "hessian": "autograd", "hvp": "autograd",
    "vjp": "autograd", "jvp": "autograd",
}


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
    if name not in ops:
        own = difflib.get_close_matches(name, _own_names(), n=1)
        if own:  # a typo of gradledger's own API, not an op to install
            raise AttributeError(
                f"module {__name__!r} has no attribute {name!r}. Did you mean {own[0]!r}?"
            )
    return getattr(ops, name)


def _own_names() -> list[str]:
    return sorted(set(__all__) | _SUBMODULES | set(_LAZY_FUNCTIONS))


def _shadowed(name: str) -> str | None:
    """Which of gradledger's own names an op called `name` hides behind, as advice."""
    if name in _own_names() or name in globals():
        return (f"gl.{name} is gradledger's own, so the op is reachable only as "
                f"gl.ops.{name}(...); rename it to make gl.{name} work")
    if hasattr(Tensor, name) and name not in _tensor_module.OP_METHODS:
        return (f"Tensor.{name} is a tensor attribute, so x.{name}(...) is not the op; "
                f"gl.{name}(x) and gl.ops.{name}(x) are")
    return None


# The layers meet here, once. tensor.py sits below the tape (which builds Tensors) and
# the loader (which knows no Tensor) and imports neither: a Tensor's methods reach them
# through `tensor.doors`. The registry knows no Tensor either: it asks `_shadowed`.
_doors.apply, _doors.backward, _doors.host = _tape.apply, _tape.backward, _host
_host.shadowed = _shadowed


def __dir__() -> list[str]:
    """gradledger's own names and every registered op (tab completion finds them)."""
    return sorted(set(_own_names()) | set(dir(ops)))
