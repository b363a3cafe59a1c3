"""`gl.ops`: every registered op as a function, looked up by name when called."""

from __future__ import annotations

from .loader import host
from .tape import apply
from .tensor import Tensor


class OpFunction:
    """`gl.ops.NAME`: calls the op registered as NAME now (overrides included)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *inputs, **params) -> Tensor:
        return apply(host.lookup(self.name), inputs, params)

    @property
    def op(self):
        """The registered `Op` behind this name."""
        return host.lookup(self.name)

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        op = self.op
        return f"{op.doc or op.name} — signature {op.signature!r}, {op.provenance}"

    def __repr__(self) -> str:
        return f"<gradledger op {self.name!r}>"


class OpsNamespace:
    """Attribute access to the registry: `gl.ops.relu(x)`; `dir(gl.ops)` lists every op."""

    def __init__(self) -> None:
        self._functions: dict[str, OpFunction] = {}

    def __getattr__(self, name: str) -> OpFunction:
        if name.startswith("_"):
            raise AttributeError(name)
        if name not in host.registry.ops:
            try:
                host.lookup(name)
            except LookupError as error:
                raise AttributeError(str(error)) from None
        function = self._functions.get(name)
        if function is None:
            function = self._functions[name] = OpFunction(name)
        return function

    def __dir__(self) -> list[str]:
        host.ensure_loaded()
        return sorted(host.registry.ops)

    def __contains__(self, name: str) -> bool:
        host.ensure_loaded()
        return name in host.registry.ops


ops = OpsNamespace()
