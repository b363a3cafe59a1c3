"""The loader: finds op plugins through entry points and lets pluggy hold them.

Loading is lazy (the first op lookup triggers it), happens once even when several
threads ask at the same moment, and survives bad plugins: a plugin that fails to
import, or raises in its hook, is reported in a warning and marked failed, and
every other plugin still loads.

Environment:
    GRADLEDGER_STRICT_PLUGINS=1           a failing plugin is an error, not a warning
    GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD=1  load only gradledger's built-in ops
    GRADLEDGER_BLOCK_PLUGINS=a,b          skip these entry-point names, before import
"""

from __future__ import annotations

import difflib
import os
import threading
import warnings
from dataclasses import dataclass, field
from importlib import metadata

import pluggy

from . import hookspecs
from .errors import OpNotFoundError, PluginLoadError
from .op import Op
from .registry import PluginRegistrar, Registry

ENTRY_POINT_GROUP = "gradledger"
BUILTIN_PLUGIN = "builtin"
BUILTIN_DISTRIBUTION = "gradledger"
_HOOK = "gradledger_register_ops"


@dataclass
class PluginRecord:
    """What became of one plugin: `status` is 'loaded', 'failed' or 'blocked'."""

    name: str
    distribution: str | None
    version: str | None
    status: str
    reason: str | None = None
    ops: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _blocked_names() -> set[str]:
    return {n.strip() for n in os.environ.get("GRADLEDGER_BLOCK_PLUGINS", "").split(",") if n.strip()}


def _entry_points() -> list[metadata.EntryPoint]:
    seen, unique = set(), []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        key = (ep.name, ep.value)
        if key not in seen:
            seen.add(key)
            unique.append(ep)
    return sorted(unique, key=lambda ep: (ep.name != BUILTIN_PLUGIN, ep.name))


class PluginHost:
    """The plugin manager, the registry it fills, and a record of every plugin."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        """Forget every plugin and op; the next lookup loads again (tests use this)."""
        with self._lock:
            self.registry = Registry()
            self.records: dict[str, PluginRecord] = {}
            self.manager = pluggy.PluginManager(hookspecs.PROJECT)
            self.manager.add_hookspecs(hookspecs)
            self.loaded = False

    # -- loading --------------------------------------------------------------

    def ensure_loaded(self) -> None:
        if self.loaded:
            return
        with self._lock:
            if self.loaded:
                return
            self.loaded = True  # set first: a plugin's hook may look ops up while loading
            try:
                self._load_entry_points()
            except BaseException:
                self.reset()
                raise

    def _load_entry_points(self) -> None:
        strict = _flag("GRADLEDGER_STRICT_PLUGINS")
        builtins_only = _flag("GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD")
        blocked = _blocked_names()
        for ep in _entry_points():
            dist = getattr(ep, "dist", None)
            dist_name = dist.metadata["Name"] if dist is not None else None
            version = dist.version if dist is not None else None
            builtin = ep.name == BUILTIN_PLUGIN and dist_name in (BUILTIN_DISTRIBUTION, None)
            reason = None
            if ep.name in blocked:
                reason = "blocked by GRADLEDGER_BLOCK_PLUGINS"
            elif builtins_only and not builtin:
                reason = "not loaded: GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD=1"
            if reason is not None:
                self.records[ep.name] = PluginRecord(ep.name, dist_name, version, "blocked", reason)
                self.manager.set_blocked(ep.name)
                continue
            try:
                plugin = ep.load()
            except Exception as error:
                self._fail(ep.name, dist_name, version, f"import failed: {_describe(error)}", error, strict)
                continue
            self._add(plugin, ep.name, dist_name, version, strict=strict, collect=not strict)

    def _add(self, plugin, name, distribution, version, strict: bool, collect: bool) -> PluginRecord:
        """Register `plugin` with pluggy and run its hook against a scoped registrar."""
        if name in self.records and self.records[name].status == "loaded":
            error = ValueError(f"a plugin named {name!r} is already registered")
            return self._fail(name, distribution, version, str(error), error, strict)
        try:
            self.manager.register(plugin, name=name)
        except Exception as error:
            return self._fail(name, distribution, version, f"rejected by pluggy: {_describe(error)}", error, strict)
        registrar = PluginRegistrar(self.registry, name, distribution, version, strict=not collect)
        try:
            for impl in self.manager.hook.gradledger_register_ops.get_hookimpls():
                if impl.plugin_name == name:
                    impl.function(*[{"registry": registrar}[arg] for arg in impl.argnames])
        except Exception as error:
            self.registry.remove_plugin(name)
            self.manager.unregister(name=name)
            return self._fail(name, distribution, version, f"{_HOOK} raised {_describe(error)}", error, strict)
        record = PluginRecord(name, distribution, version, "loaded", ops=registrar.registered,
                              problems=registrar.errors)
        self.records[name] = record
        return record

    def _fail(self, name, distribution, version, reason, error, strict) -> PluginRecord:
        where = f"{distribution} {version}" if distribution else "registered by hand"
        message = f"gradledger plugin {name!r} ({where}) failed: {reason}"
        if strict:
            raise PluginLoadError(message) from error
        warnings.warn(
            f"{message}. The other plugins are loaded. Block it with "
            f"GRADLEDGER_BLOCK_PLUGINS={name}, or set GRADLEDGER_STRICT_PLUGINS=1 to make "
            "this an error.",
            RuntimeWarning,
            stacklevel=4,
        )
        record = PluginRecord(name, distribution, version, "failed", reason)
        self.records[name] = record
        return record

    # -- by hand --------------------------------------------------------------

    def register_plugin(self, plugin, name: str | None = None) -> PluginRecord:
        """Register a module or object implementing `gradledger_register_ops` by hand.

        Entry-point plugins are loaded first, so that a clash names the right culprit.
        Errors raise at once (nothing is deferred to a warning): you are right here.
        """
        self.ensure_loaded()
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        with self._lock:
            return self._add(plugin, name, None, None, strict=True, collect=False)

    def unregister_plugin(self, name: str) -> None:
        """Withdraw a plugin and every op it registered (restoring what it overrode)."""
        with self._lock:
            self.registry.remove_plugin(name)
            if self.manager.get_plugin(name) is not None:
                self.manager.unregister(name=name)
            self.records.pop(name, None)

    # -- lookup ---------------------------------------------------------------

    def lookup(self, name: str) -> Op:
        op = self.registry.ops.get(name)
        if op is None:
            self.ensure_loaded()
            op = self.registry.ops.get(name)
            if op is None:
                raise OpNotFoundError(self._not_found(name))
        return op

    def _not_found(self, name: str) -> str:
        lines = [f"no op named {name!r} is registered."]
        close = difflib.get_close_matches(name, list(self.registry.ops), n=3)
        if close:
            lines.append(f"Did you mean {', '.join(map(repr, close))}?")
        loaded = [r.name for r in self.records.values() if r.status == "loaded"]
        lines.append(f"Loaded plugins: {', '.join(loaded) if loaded else 'none'}.")
        for record in self.records.values():
            if record.status != "loaded":
                lines.append(f"Plugin {record.name!r} is {record.status}: {record.reason}.")
        lines.append(
            f"To get {name!r}: install a distribution whose '{ENTRY_POINT_GROUP}' entry point "
            "provides it (gradledger's own ops come with the entry point 'builtin'), unblock "
            "or fix the plugins above, or register one with gradledger.register_plugin(...). "
            "`gradledger plugins` lists every plugin and its ops."
        )
        return " ".join(lines)


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


host = PluginHost()
register_plugin = host.register_plugin
unregister_plugin = host.unregister_plugin
