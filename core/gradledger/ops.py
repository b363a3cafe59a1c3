"""`gl.ops`: every registered op as a function, looked up by name when called."""

from __future__ import annotations

from .loader import host
from .tape import apply, bind
from .tensor import Tensor


def call(name: str, *inputs, **params):
    """Call the registered op `name` from inside another op's rule.

    On Tensors (a rule running for `create_graph=True`) the call is recorded like any
    op call, so the rule stays differentiable; on plain arrays it runs the op's forward
    rule directly, with no tape and no Tensor: the first-order path pays nothing.
    getitem's rule is `call("scatter_add", out_grad, index=index, shape=x.shape)`.
    """
    op = host.lookup(name)
    if any(isinstance(x, Tensor) for x in inputs):
        return apply(op, inputs, params)
    if len(inputs) != op.arity:
        inputs, params = bind(op, inputs, params)
    return op.forward(*inputs, **params)


class OpFunction:
    """`gl.ops.NAME`: calls the op registered as NAME now (overrides included)."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, *inputs, **params) -> Tensor:
        # The registry is read at every call (an override registered later is what runs);
        # `host.lookup` loads the plugins first, and says why a name is missing.
        op = host.registry.ops.get(self.name) if host.loaded else None
        return apply(op or host.lookup(self.name), inputs, params)

    @property
    def op(self):
        """The registered `Op` behind this name."""
        return host.lookup(self.name)

    @property
    def __doc__(self) -> str:  # type: ignore[override]
        op = self.op
        takes = sorted(op.param_names) if op.param_names is not None else ["any keyword"]
        positional = [n for n in op.positional if op.param_names is None or n in op.param_names]
        lines = [
            f"gl.{op.name}: {op.doc or op.name}",
            "",
            f"signature: {op.signature!r}" + (" (no gradient)" if not op.differentiable else ""),
            f"params:    {', '.join(takes) or 'none'}"
            + (f" (by position: {', '.join(positional)})" if positional else ""),
            f"from:      {op.provenance}",
        ]
        return "\n".join(lines)

    def __repr__(self) -> str:
        return f"<gradledger op {self.name!r}>"


class OpsNamespace:
    """Attribute access to the registry: `gl.ops.relu(x)`; `dir(gl.ops)` lists every op."""

    def __init__(self) -> None:
        self._functions: dict[str, OpFunction] = {}

    def __getattr__(self, name: str) -> OpFunction:
        function = self._functions.get(name)
        if function is not None and host.loaded and name in host.registry.ops:
            return function  # (a name asked for before, still registered: the common case)
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
        if not host.loaded:
            host.ensure_loaded()
        return name in host.registry.ops


ops = OpsNamespace()
