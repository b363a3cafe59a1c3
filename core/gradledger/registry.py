"""The registry: an object the plugin manager fills with ops, looked up by name."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable, Iterator, Mapping

from .errors import DuplicateOpError, OpDefinitionError
from .op import Op

_OP_TEMPLATE = "gradledger.Op(name=..., forward=..., local_grad=... or vjp=..., signature=...)"


def _who(plugin: str | None, distribution: str | None, version: str | None) -> str:
    """`plugin 'example' (gradledger-example-ops 0.1.0)`, or `(registered by hand)`."""
    if distribution is None:
        return f"plugin {plugin!r} (registered by hand)"
    return f"plugin {plugin!r} ({distribution} {version or '(unknown version)'})"


class Registry:
    """Every registered op by name. Filled by plugins through `PluginRegistrar`.

    When two plugins register one name, the op declared with `override=True` wins,
    whichever plugin loaded first; the op it replaced stays reachable as
    `op.overrides` (and comes back if the overriding plugin is withdrawn). Two
    plain ops with one name are an error naming both distributions.
    """

    def __init__(self, shadowed: Callable[[str], str | None] | None = None) -> None:
        self.ops: dict[str, Op] = {}
        self._numpy: dict[str, str] | None = None
        # Which of the host program's own names an op name hides behind, as advice (the
        # package passes gradledger's: gl.NAME, Tensor.NAME); the registry knows neither.
        self.shadowed = shadowed

    def get(self, name: str) -> Op | None:
        return self.ops.get(name)

    def for_numpy(self, name: str) -> Op | None:
        """The op standing for numpy's function or ufunc `name` (`multiply` -> `mul`):
        one that declares it in `numpy_names`, else the op of that very name."""
        if self._numpy is None:
            self._numpy = {alias: op.name for op in self.ops.values() for alias in op.numpy_names}
        return self.ops.get(self._numpy.get(name, name))

    def __contains__(self, name: object) -> bool:
        return name in self.ops

    def __iter__(self) -> Iterator[Op]:
        return iter(sorted(self.ops.values(), key=lambda op: op.name))

    def __len__(self) -> int:
        return len(self.ops)

    def add(self, op: Op, plugin: str | None, distribution: str | None, version: str | None) -> Op:
        """Validate `op`, stamp its provenance and store it; raise if malformed or a duplicate."""
        who = _who(plugin, distribution, version)
        if not isinstance(op, Op):
            raise OpDefinitionError(
                f"{who} registered {type(op).__name__} {op!r}; expected {_OP_TEMPLATE}. "
                "Pass an Op to registry.register()."
            )
        problems = op.problems()
        if problems:
            raise OpDefinitionError(
                f"{who} registered a malformed op {op.name!r}:\n  - "
                + "\n  - ".join(problems)
                + f"\nFix the Op(...) declaration of {op.name!r} in that plugin; "
                "docs/plugins.md lists every field."
            )
        stamped = dataclasses.replace(op, plugin=plugin, distribution=distribution, version=version)
        self._numpy = None
        existing = self.ops.get(op.name)
        if existing is None:
            self.ops[op.name] = stamped
        elif op.override:
            self.ops[op.name] = stamped = dataclasses.replace(stamped, overrides=existing)
        else:
            self.ops[op.name] = _insert_under_overrides(existing, stamped)
        shadow = self.shadowed(op.name) if self.shadowed is not None else None
        if shadow:
            warnings.warn(f"{who} registered op {op.name!r}: {shadow}", RuntimeWarning,
                          stacklevel=4)
        return stamped

    def remove_plugin(self, plugin: str) -> None:
        """Drop every op a plugin registered, restoring what its overrides replaced."""
        self._numpy = None
        for name, op in list(self.ops.items()):
            kept = _without(op, plugin)
            if kept is None:
                del self.ops[name]
            elif kept is not op:
                self.ops[name] = kept


def _insert_under_overrides(top: Op, new: Op) -> Op:
    """Put plain op `new` at the bottom of the chain of overrides headed by `top`.

    An override declared by a plugin that happened to load first still wins; a
    second plain op under the same name is a duplicate.
    """
    if not top.override:
        raise DuplicateOpError(
            f"op {new.name!r} is registered twice: first by {top.provenance}, then by "
            f"{new.provenance}. Uninstall one, block one (GRADLEDGER_BLOCK_PLUGINS="
            f"{new.plugin or top.plugin}), or declare the one that should win with "
            "Op(..., override=True)."
        )
    below = new if top.overrides is None else _insert_under_overrides(top.overrides, new)
    return dataclasses.replace(top, overrides=below)


def _without(op: Op | None, plugin: str) -> Op | None:
    """The chain of overrides headed by `op`, minus every op `plugin` registered."""
    if op is None:
        return None
    below = _without(op.overrides, plugin)
    if op.plugin == plugin:
        return below
    return op if below is op.overrides else dataclasses.replace(op, overrides=below)


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
        announce_overrides: bool = False,
        allowed_overrides: frozenset[str] = frozenset(),
        blocked_modules: Mapping[str, str] | None = None,
    ) -> None:
        self._registry = registry
        self.plugin = plugin
        self.distribution = distribution
        self.version = version
        self.strict = strict
        self.announce_overrides = announce_overrides
        self.allowed_overrides = allowed_overrides
        self.blocked_modules = dict(blocked_modules or {})
        self.registered: list[str] = []
        self.errors: list[str] = []

    def register(self, op: Op) -> Op | None:
        """Register `op` under this plugin; return the stamped op (None if it was refused)."""
        before = self._registry.get(getattr(op, "name", None)) if isinstance(op, Op) else None
        try:
            self._refuse_blocked(op)
            stamped = self._registry.add(op, self.plugin, self.distribution, self.version)
        except (OpDefinitionError, DuplicateOpError) as error:
            return self._refused(error)
        if self.announce_overrides and before is not None and before.plugin != self.plugin:
            winner, loser = (stamped, before) if op.override else (before, stamped)
            if winner.override:
                self._announce_override(winner, loser)  # strict: raises, the plugin fails
        self.registered.append(stamped.name)
        return stamped

    def _refused(self, error: Exception) -> None:
        if self.strict:
            raise error
        self.errors.append(str(error))
        warnings.warn(f"gradledger: {error}", RuntimeWarning, stacklevel=3)
        return None

    def _refuse_blocked(self, op: Op) -> None:
        """An op whose rules live in the module of a blocked plugin (imported anyway by this
        plugin) is refused: it would otherwise run under this plugin's name."""
        if not self.blocked_modules or not isinstance(op, Op):
            return
        for field in ("forward", "local_grad", "vjp"):
            module = getattr(getattr(op, field), "__module__", None) or ""
            for blocked_module, blocked_plugin in self.blocked_modules.items():
                if module == blocked_module or module.startswith(blocked_module + "."):
                    raise OpDefinitionError(
                        f"{_who(self.plugin, self.distribution, self.version)} registered op "
                        f"{op.name!r}, whose {field} rule is defined in module {module!r} of "
                        f"plugin {blocked_plugin!r}, which GRADLEDGER_BLOCK_PLUGINS blocks; the "
                        f"op is refused. Remove {blocked_plugin!r} from GRADLEDGER_BLOCK_PLUGINS "
                        "to use it."
                    )

    def _announce_override(self, winner: Op, loser: Op) -> None:
        """Say at load that `winner` (override=True) replaces the op another plugin
        registered; an error under strict loading unless GRADLEDGER_ALLOW_OVERRIDE allows it."""
        allowed = self.allowed_overrides
        names = {winner.plugin, winner.distribution} - {None}
        if names & allowed or {f"{n}:{winner.name}" for n in names} & allowed:
            return
        message = (
            f"{_who(winner.plugin, winner.distribution, winner.version)} overrides op "
            f"{winner.name!r} of {_who(loser.plugin, loser.distribution, loser.version)} "
            f"(it declares override=True): every call of {winner.name!r} runs its rules. If "
            f"that is intended, allow it with GRADLEDGER_ALLOW_OVERRIDE={winner.plugin} (that "
            f"plugin's every override) or ={winner.plugin}:{winner.name} (this op only); if "
            f"not, block it with GRADLEDGER_BLOCK_PLUGINS={winner.plugin}."
        )
        if self.strict:
            raise DuplicateOpError(f"{message} (GRADLEDGER_STRICT_PLUGINS=1 makes this an error)")
        warnings.warn(f"gradledger: {message}", RuntimeWarning, stacklevel=3)

    def get(self, name: str) -> Op | None:
        """An op registered so far (by any plugin), to build on it."""
        return self._registry.get(name)
