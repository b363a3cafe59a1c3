"""The optimiser base: parameter groups, per-parameter state, and writing the step back.

An optimiser holds `param_groups`, a list of dicts as PyTorch's: each has its
`params` (a list of tensors) and every hyperparameter (`lr`, ...), the group's own
values or the optimiser's defaults. Learning-rate schedulers and users change a
group's hyperparameters between steps (`opt.param_groups[0]["lr"] = 0.01`).

A step writes each parameter's new value into its array in place, unless the array
is read-only: a live graph saved it for its backward pass (see gradledger.locks), or
it was read-only before gradledger saw it. Then the parameter gets a new array, and
the graph keeps the value it saw.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping

import numpy as np

from ..tensor import Tensor, as_data

__all__ = ["Optimizer"]


class Optimizer:
    """Base class of gl.optim's optimisers.

    params:  the tensors to learn, a `gl.nn.Module` (its `parameters()`), or a list
             of parameter groups: dicts `{"params": [...], "lr": ..., ...}` whose keys
             override the optimiser's defaults for those tensors
             (`Adam([{"params": net.body.parameters()}, {"params": head, "lr": 1e-2}],
             lr=1e-3)`).

    Subclasses set `defaults` (every hyperparameter with its value) and define
    `_step_group(group)`. `state` maps `id(param)` to that parameter's dict of running
    quantities (momentum buffer, moment estimates, step count).
    """

    _checks: dict = {}  # hyperparameter -> (test, what is expected), set by subclasses

    def __init__(self, params, defaults: dict) -> None:
        self.defaults = dict(defaults)
        for name, value in self.defaults.items():
            self._check(name, value)
        self.param_groups: list[dict] = []
        self.state: dict[int, dict] = {}
        groups = _groups(params, type(self).__name__)
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: Mapping) -> None:
        """Add a group of parameters with their own hyperparameters (missing ones: defaults)."""
        name = type(self).__name__
        if not isinstance(group, Mapping) or "params" not in group:
            raise TypeError(
                f"{name} parameter group: expected a dict with a 'params' key; got {group!r}"
            )
        allowed = set(self.defaults) | {"params", "initial_lr"}
        unknown = sorted(set(group) - allowed)
        if unknown:
            raise ValueError(
                f"{name} parameter group: unknown key(s) {', '.join(map(repr, unknown))}; "
                f"expected 'params' and any of {', '.join(map(repr, sorted(self.defaults)))}"
            )
        params = _parameter_list(group["params"], name)
        taken = {id(w) for g in self.param_groups for w in g["params"]}
        for w in params:
            if id(w) in taken:
                raise ValueError(
                    f"{name}: parameter {w.name or 'unnamed'} (shape {w.shape}) is in more than "
                    "one parameter group; give each tensor to one group only"
                )
        full = {**self.defaults, **group, "params": params}
        for key, value in full.items():
            if key not in ("params", "initial_lr"):
                full[key] = self._check(key, value)
        self._check_group(full)
        self.param_groups.append(full)

    def _check(self, key, value):
        test, expected = self._checks.get(key, (None, None))
        if test is None:
            return value
        return test(type(self).__name__, key, value, expected)

    def _check_group(self, group: dict) -> None:
        """Checks that need several hyperparameters at once (nesterov needs momentum)."""

    def step(self) -> None:
        """Move every parameter that has a grad; a parameter whose grad is None is left alone."""
        for group in self.param_groups:
            self._step_group(group)

    def _step_group(self, group: dict) -> None:
        raise NotImplementedError(f"{type(self).__name__} must define _step_group(group)")

    @property
    def lr(self) -> float:
        """The first group's learning rate (`param_groups[0]["lr"]`)."""
        return self.param_groups[0]["lr"]

    def zero_grad(self) -> None:
        """Clear the ledger of every parameter: `w.grad = None`."""
        for group in self.param_groups:
            for w in group["params"]:
                w.grad = None

    # -- state, as a flat mapping of arrays (gl.save writes it) ---------------------------

    def state_dict(self) -> dict[str, np.ndarray]:
        """The optimiser's state as a flat mapping of names to arrays, so that
        `gl.save(opt.state_dict(), path)` writes it: `param_groups.G.KEY` for each group's
        hyperparameters (`param_groups.G.params`: the indices of its parameters, counted
        across groups) and `state.I.KEY` for parameter I's running quantities (copies)."""
        out: dict[str, np.ndarray] = {}
        index = 0
        for g, group in enumerate(self.param_groups):
            for key, value in group.items():
                if key == "params":
                    value = np.arange(index, index + len(value))
                    index += len(value)
                out[f"param_groups.{g}.{key}"] = np.array(value)
        for i, w in enumerate(self.params):
            for key, value in self.state.get(id(w), {}).items():
                out[f"state.{i}.{key}"] = np.array(value, copy=True)
        return out

    def load_state_dict(self, state_dict: Mapping) -> None:
        """Restore hyperparameters and running state saved by `state_dict()` (or read back
        by `gl.load`) into an optimiser made over the same parameters, group by group."""
        name = type(self).__name__
        groups: dict[int, dict] = {}
        states: dict[int, dict] = {}
        for key, value in state_dict.items():
            kind, number, field_name = _state_key(name, key)
            (groups if kind == "param_groups" else states).setdefault(number, {})[field_name] = \
                value
        if sorted(groups) != list(range(len(self.param_groups))):
            raise ValueError(
                f"{name}.load_state_dict: the saved state has {len(groups)} parameter group(s); "
                f"this optimiser has {len(self.param_groups)}"
            )
        params = self.params
        for g, group in enumerate(self.param_groups):
            saved = groups[g]
            count = np.size(saved.get("params", ()))
            if count != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: parameter group {g} was saved with {count} "
                    f"parameter(s); this optimiser's has {len(group['params'])}"
                )
        restored_state = {}
        for i, fields in states.items():
            if not 0 <= i < len(params):
                raise ValueError(f"{name}.load_state_dict: state for parameter {i}, but this "
                                 f"optimiser has {len(params)} parameters")
            entry = {}
            for key, value in fields.items():
                array = np.array(value, copy=True)
                if key == "step":
                    entry[key] = int(array)
                elif array.shape != np.shape(params[i].data):
                    raise ValueError(
                        f"{name}.load_state_dict: key 'state.{i}.{key}': expected shape "
                        f"{np.shape(params[i].data)} (parameter {i}'s); got {array.shape}"
                    )
                else:
                    entry[key] = array.astype(params[i].dtype, copy=False)
            restored_state[id(params[i])] = entry
        for g, group in enumerate(self.param_groups):
            for key, value in groups[g].items():
                if key == "params":
                    continue
                value = np.asarray(value)
                value = tuple(value.tolist()) if value.ndim else value.item()
                group[key] = value if key == "initial_lr" else self._check(key, value)
        self.state = restored_state

    @property
    def params(self) -> list[Tensor]:
        """Every parameter, group by group."""
        return [w for group in self.param_groups for w in group["params"]]

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            settings = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} parameters, {settings}")
        return "\n".join(lines) + "\n)"


def _state_key(name: str, key) -> tuple[str, int, str]:
    parts = key.split(".", 2) if isinstance(key, str) else []
    if len(parts) != 3 or parts[0] not in ("param_groups", "state") or not parts[1].isdigit():
        raise ValueError(
            f"{name}.load_state_dict: unexpected key {key!r}; expected 'param_groups.G.KEY' or "
            "'state.I.KEY' as written by state_dict()"
        )
    return parts[0], int(parts[1]), parts[2]


def write(w: Tensor, value) -> None:
    """Store a parameter's new value: in its own array when that may be written, else anew."""
    data = w.data
    if data.__class__ is np.ndarray and data.flags.writeable:
        np.copyto(data, value, casting="same_kind")
    else:
        w.data = as_data(np.asarray(value, dtype=data.dtype))


def _groups(params, name: str) -> list[dict]:
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Tensor) or not isinstance(params, Iterable):
        raise TypeError(
            f"{name} expected an iterable of gl.Tensor parameters (or a gl.nn.Module, or a list "
            f"of parameter-group dicts); got {type(params).__name__}. "
            f"Pass a list: {name}([w, b], lr=0.1)."
        )
    params = list(params)
    if not params:
        raise ValueError(f"{name} got an empty parameter list; expected at least one gl.Tensor")
    if all(isinstance(p, Mapping) for p in params):
        return params
    return [{"params": params}]


def _parameter_list(params, name: str) -> list[Tensor]:
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    if isinstance(params, Tensor):
        params = [params]
    if not isinstance(params, Iterable):
        raise TypeError(
            f"{name} expected an iterable of gl.Tensor parameters; got {type(params).__name__}"
        )
    params = list(params)
    if not params:
        raise ValueError(f"{name} got an empty parameter list; expected at least one gl.Tensor")
    for i, w in enumerate(params):
        if not isinstance(w, Tensor):
            raise TypeError(
                f"{name} parameter {i}: expected a gl.Tensor; got {type(w).__name__}"
            )
        if not w.requires_grad:
            raise ValueError(
                f"{name} parameter {i} ({w.name or 'unnamed'}, shape {w.shape}) does not require "
                "grad, so backward never books its gradient; create it with "
                "gl.tensor(..., requires_grad=True)"
            )
        if w.dtype.kind != "f":
            raise TypeError(f"{name} parameter {i}: expected a float tensor; got {w.dtype}")
    return params


# -- hyperparameter checks: (test, expected) pairs for Optimizer._checks ------------------


def non_negative(name: str, key: str, value, expected: str) -> float:
    """A finite float >= 0."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} {key}: expected {expected}; got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(number) or number < 0:
        raise ValueError(f"{name} {key}: expected {expected}; got {value!r}")
    return number


def flag(name: str, key: str, value, expected: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} {key}: expected {expected}; got {value!r}")
    return bool(value)


def betas(name: str, key: str, value, expected: str) -> tuple[float, float]:
    try:
        beta1, beta2 = (float(b) for b in value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} {key}: expected {expected}; got {value!r}") from None
    if not (0.0 <= beta1 < 1.0 and 0.0 <= beta2 < 1.0):
        raise ValueError(f"{name} {key}: expected {expected}; got {value!r}")
    return beta1, beta2


LR = (non_negative, "a finite number >= 0, e.g. 0.1")
