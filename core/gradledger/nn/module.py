"""`Module`: parameters and sub-modules, found by walking attributes; `Sequential`.

A module's tensors are its attributes (and the items of its list, tuple and dict
attributes), found by walking them: no registration call is needed. `parameters()`
are the tensors that require grad; `state_dict()` holds every tensor, by dotted path.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import NamedTuple

import numpy as np

from ..errors import GradledgerError
from ..optim.optimizer import write
from ..tensor import Tensor

__all__ = ["IncompatibleKeys", "Module", "Sequential", "StateDictError"]


class StateDictError(GradledgerError, ValueError):
    """`load_state_dict` was given a state dict that does not fit the module."""


class IncompatibleKeys(NamedTuple):
    """What `load_state_dict(d, strict=False)` did not match."""

    missing_keys: list[str]
    unexpected_keys: list[str]


class Module:
    """Base class: a callable holding parameters (tensors that require grad) and sub-modules.

    Subclasses set their parameters and sub-modules as attributes (lists, tuples and
    dicts of them too; names starting with `_` are private and not walked) and define
    `forward`; `module(x)` calls `forward(x)`. `training` is True until `eval()`.
    """

    training: bool = True

    def forward(self, *inputs):
        raise NotImplementedError(f"{type(self).__name__} must define forward(self, ...)")

    def __call__(self, *inputs, **kwargs):
        return self.forward(*inputs, **kwargs)

    def _children(self) -> Iterator[tuple[str, object]]:
        """(name, value) of each public attribute; `Sequential` numbers its layers instead."""
        for key, value in vars(self).items():
            if not key.startswith("_"):
                yield key, value

    # -- what a module holds ---------------------------------------------------------

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module ('') and every sub-module once, with its dotted path."""
        return _each_once(_walk(self, prefix), Module)

    def modules(self) -> list[Module]:
        return [m for _, m in self.named_modules()]

    def named_tensors(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Every tensor once (parameters and constants), in attribute order, with its path."""
        return _each_once(_walk(self, prefix), Tensor)

    def named_parameters(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Every parameter once, in attribute order, with a dotted path: ('layers.0.W', W)."""
        for path, value in self.named_tensors(prefix):
            if value.requires_grad:
                yield path, value

    def parameters(self) -> list[Tensor]:
        """Every tensor that requires grad, in this module and its sub-modules, once each."""
        return [w for _, w in self.named_parameters()]

    def register_buffer(self, name: str, value) -> None:
        """Hold `value` (an array or a Tensor; None for none yet) as the tensor `name`: a
        buffer, in `state_dict()` but not a parameter (BatchNorm's running statistics).
        Any tensor attribute that does not require grad is one."""
        if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
            raise KeyError(f"{type(self).__name__}.register_buffer: expected a public attribute "
                           f"name; got {name!r}")
        if value is not None and not isinstance(value, Tensor):
            value = Tensor(np.array(value, copy=True), name=name)
        if value is not None and value.requires_grad:
            raise ValueError(f"{type(self).__name__}.register_buffer({name!r}): a buffer takes "
                             "no gradient; got a tensor that requires grad (a parameter)")
        setattr(self, name, value)

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, Tensor]]:
        """Every tensor that does not require grad once, with its dotted path."""
        for path, value in self.named_tensors(prefix):
            if not value.requires_grad:
                yield path, value

    def buffers(self) -> list[Tensor]:
        return [t for _, t in self.named_buffers()]

    def children(self) -> list[Module]:
        """The direct sub-modules."""
        return [m for path, m in self.named_modules() if path and "." not in path]

    def apply(self, fn) -> Module:
        """Call `fn(module)` on every sub-module, then on this one (as PyTorch: children
        first); returns self. `net.apply(init_weights)` re-initialises a network."""
        for module in reversed(self.modules()):
            fn(module)
        return self

    def to(self, dtype=None) -> Module:
        """Cast every floating tensor (parameters and buffers) to `dtype` in place; returns
        self. `net.to(np.float32)` (or `"float32"`); there is one device, the CPU, so
        `to("cpu")` changes nothing and other devices are refused."""
        if isinstance(dtype, str) and dtype in ("cpu", "cpu:0"):
            return self
        try:
            dtype = np.dtype(dtype)
        except TypeError:
            dtype = None
        if dtype is None or dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: expected a float dtype such as "
                            f"np.float32 (gradledger runs on the CPU only)")
        for _, t in self.named_tensors():
            if np.asarray(t.data).dtype.kind == "f":
                t.data = np.asarray(t.data).astype(dtype)
                t.grad = None
        return self

    def zero_grad(self) -> None:
        """Clear the ledger of every parameter: `w.grad = None`."""
        for w in self.parameters():
            w.grad = None

    def num_parameters(self) -> int:
        """How many numbers the parameters hold."""
        return sum(int(w.size) for w in self.parameters())

    # -- modes -----------------------------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Set `training` on this module and every sub-module (Dropout drops only in training)."""
        for module in self.modules():
            module.training = bool(mode)
        return self

    def eval(self) -> Module:
        """`train(False)`: evaluation mode (Dropout passes its input through)."""
        return self.train(False)

    # -- state -----------------------------------------------------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """A snapshot of every tensor: {dotted path: a copy of its data as a numpy array}.

        Copies, so that later training steps do not change a snapshot already taken;
        `gl.save(module.state_dict(), "model.npz")` writes one to disk.
        """
        return {path: np.array(t.data, copy=True) for path, t in self.named_tensors()}

    def load_state_dict(self, state_dict: Mapping, strict: bool = True) -> IncompatibleKeys:
        """Copy each array of `state_dict` into the tensor at its path (in its dtype).

        The module never shares memory with `state_dict` afterwards (as in PyTorch), even
        while a graph holds its parameters read-only: editing either leaves the other be.

        Every key and shape is checked before anything is written: a missing key, an
        unexpected key (with `strict=True`, the default) or a wrong shape raises
        StateDictError naming the key, and leaves the module unchanged. With
        `strict=False` missing and unexpected keys are returned instead.
        """
        name = type(self).__name__
        if not isinstance(state_dict, Mapping):
            raise TypeError(
                f"{name}.load_state_dict: expected a mapping of names to arrays (from "
                f"state_dict() or gl.load); got {type(state_dict).__name__}"
            )
        tensors = dict(self.named_tensors())
        missing = [key for key in tensors if key not in state_dict]
        unexpected = [key for key in state_dict if key not in tensors]
        problems = []
        if strict and missing:
            problems.append(f"missing key(s) {', '.join(map(repr, missing))}")
        if strict and unexpected:
            problems.append(f"unexpected key(s) {', '.join(map(repr, unexpected))}")
        arrays = {}
        for key, t in tensors.items():
            if key not in state_dict:
                continue
            value = state_dict[key]
            array = np.asarray(value.data if isinstance(value, Tensor) else value)
            if array.dtype.kind not in "biuf":
                problems.append(f"key {key!r}: expected real numbers; got dtype {array.dtype}")
            elif array.shape != t.shape:
                problems.append(
                    f"key {key!r}: expected shape {t.shape} (the module's); got {array.shape}"
                )
            else:
                arrays[key] = array
        if problems:
            raise StateDictError(
                f"{name}.load_state_dict: " + "; ".join(problems)
                + f". The module's keys are: {', '.join(tensors) or 'none'}."
            )
        for key, array in arrays.items():  # always a copy: never share the caller's arrays
            write(tensors[key], array.astype(tensors[key].dtype, copy=True))
        return IncompatibleKeys(missing, unexpected)

    def __repr__(self) -> str:
        children = [(k, v) for k, v in self._children() if isinstance(v, Module)]
        if not children:
            return f"{type(self).__name__}()"
        lines = [f"{type(self).__name__}("]
        for key, child in children:
            lines.append(f"  ({key}): " + repr(child).replace("\n", "\n  "))
        return "\n".join(lines) + "\n)"


def _each_once(walked, kind) -> Iterator[tuple[str, object]]:
    """The (path, value) pairs of `walked` whose value is a `kind`, each value once."""
    seen: set[int] = set()
    for path, value in walked:
        if isinstance(value, kind) and id(value) not in seen:
            seen.add(id(value))
            yield path, value


def _walk(value, path: str):
    """(path, value) for each Module and Tensor reachable from `value`, depth first."""
    if isinstance(value, Tensor):
        yield path, value
    elif isinstance(value, Module):
        yield path, value
        for key, attribute in value._children():
            yield from _walk(attribute, f"{path}.{key}" if path else key)
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}.{i}" if path else str(i))
    elif isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str):
                yield from _walk(item, f"{path}.{key}" if path else key)


class Sequential(Module):
    """Modules (or callables on tensors) applied in order: `Sequential(Conv2d(1, 8, 3), ReLU())`.

    Its layers' paths are their positions, as PyTorch's: '0.weight', '0.bias'.
    `seq[i]`, `len(seq)`, iteration and `append` work as on a list.
    """

    def __init__(self, *layers) -> None:
        self._layers = []
        for layer in layers:
            self.append(layer)

    def append(self, layer) -> Sequential:
        if not callable(layer):
            raise TypeError(
                f"Sequential layer {len(self._layers)}: expected a Module or a callable on "
                f"tensors; got {type(layer).__name__}"
            )
        self._layers.append(layer)
        return self

    def _children(self):
        for i, layer in enumerate(self._layers):
            yield str(i), layer

    def forward(self, x):
        for layer in self._layers:
            x = layer(x)
        return x

    def __getitem__(self, index):
        if isinstance(index, slice):
            return Sequential(*self._layers[index])
        return self._layers[index]

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self):
        return iter(self._layers)
