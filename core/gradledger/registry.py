"""The registry: an object the plugin manager fills with ops, looked up by name."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator

from .errors import DuplicateOpError, OpDefinitionError
from .op import Op


class Registry:
    """Every registered op by name. Filled by plugins through `PluginRegistrar`."""

    def __init__(self) -> None:
        self.ops: dict[str, Op] = {}

    def get(self, name: str) -> Op | None:
        return self.ops.get(name)

    def __contains__(self, name: object) -> bool:
        return name in self.ops

    def __iter__(self) -> Iterator[Op]:
        return iter(sorted(self.ops.values(), key=lambda op: op.name))

    def __len__(self) -> int:
        return len(self.ops)

    def add(self, op: Op, plugin: str | None, distribution: str | None, version: str | None) -> Op:
        """Validate `op`, stamp its provenance and store it; raise on a malformed or duplicate op."""
        if not isinstance(op, Op):
            raise OpDefinitionError(
                f"plugin {plugin!r} registered {op!r}; expected a gradledger.Op(name=..., "
                "forward=..., local_grad=... or vjp=..., signature=...)"
            )
        problems = op.problems()
        if problems:
            raise OpDefinitionError(
                f"plugin {plugin!r} registered a malformed op {op.name!r}:\n  - "
                + "\n  - ".join(problems)
            )
        stamped = dataclasses.replace(op, plugin=plugin, distribution=distribution, version=version)
        existing = self.ops.get(op.name)
        if existing is not None:
            if not op.override:
                raise DuplicateOpError(
                    f"op {op.name!r} is registered twice: first by {existing.provenance}, "
                    f"then by {stamped.provenance}. Uninstall or block one "
                    "(GRADLEDGER_BLOCK_PLUGINS=name), or pass override=True in the Op "
                    "that should win."
                )
            stamped = dataclasses.replace(stamped, overrides=existing)
        self.ops[op.name] = stamped
        return stamped

    def remove_plugin(self, plugin: str) -> None:
        """Drop every op a plugin registered, restoring what its overrides replaced."""
        for name, op in list(self.ops.items()):
            while op is not None and op.plugin == plugin:
                op = op.overrides
            if op is None:
                del self.ops[name]
            else:
                self.ops[name] = op


class PluginRegistrar:
    """What a plugin's `gradledger_register_ops` hook receives as `registry`.

    `register(op)` stamps the op with this plugin's provenance. When the plugin was
    discovered through an entry point, a malformed or duplicate op is reported as a
    warning naming the plugin and the op, and the plugin's other ops still load;
    with `strict` (hand registration, `GRADLEDGER_STRICT_PLUGINS=1`) it raises.
    """

    def __init__(
        self,
        registry: Registry,
        plugin: str,
        distribution: str | None = None,
        version: str | None = None,
        strict: bool = True,
    ) -> None:
        self._registry = registry
        self.plugin = plugin
        self.distribution = distribution
        self.version = version
        self.strict = strict
        self.registered: list[str] = []
        self.errors: list[str] = []

    def register(self, op: Op) -> Op | None:
        """Register `op` under this plugin; return the stamped op (None if it was refused)."""
        try:
            stamped = self._registry.add(op, self.plugin, self.distribution, self.version)
        except (OpDefinitionError, DuplicateOpError) as error:
            if self.strict:
                raise
            self.errors.append(str(error))
            warnings.warn(f"gradledger: {error}", RuntimeWarning, stacklevel=2)
            return None
        self.registered.append(stamped.name)
        return stamped

    def get(self, name: str) -> Op | None:
        """An op registered so far (by any plugin), to build on it."""
        return self._registry.get(name)
