"""The loader: finds op plugins through entry points and lets pluggy hold them.

Loading is lazy (the first op lookup triggers it) and happens once, even when
several threads ask at the same moment: the others wait until it is done. It
survives bad plugins: a plugin that fails to import, raises in its hook, or
implements no hook is reported in a warning naming it and its distribution,
marked failed, and every other plugin still loads. Each plugin's entry point is
imported on its own, so one failure never aborts the rest (pluggy's stock
`load_setuptools_entrypoints` stops at the first).

Environment (read when loading happens):
    GRADLEDGER_STRICT_PLUGINS=1           a failing plugin or refused op is an error
    GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD=1  load only gradledger's built-in ops
    GRADLEDGER_BLOCK_PLUGINS=a,b          skip these plugins (entry-point or distribution
                                          names) before their module is imported
    GRADLEDGER_ALLOW_OVERRIDE=a,b:op      let plugin a replace any op, and b the op `op`,
                                          with override=True without a warning (or, strict,
                                          an error)

A plugin that replaces another plugin's op (`override=True`) is announced at load with
a warning naming both. A blocked plugin's module that another plugin imports anyway is
recorded (`gradledger plugins` names the importer), and ops whose rules are defined in
it are refused: they never run under the importer's name.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.machinery
import os
import sys
import threading
import warnings
from dataclasses import dataclass, field

import pluggy

from . import hookspecs
from .errors import DuplicateOpError, OpDefinitionError, OpNotFoundError, PluginLoadError
from .op import Op
from .registry import PluginRegistrar, Registry

ENTRY_POINT_GROUP = "gradledger"
BUILTIN_PLUGIN = "builtin"
BUILTIN_DISTRIBUTION = "gradledger"
_HOOK = "gradledger_register_ops"


@dataclass
class PluginRecord:
    """What became of one plugin: `status` is 'loaded', 'failed' or 'blocked'.

    `ops` are the op names it registered; `problems` the ops it tried to register
    and that were refused (malformed, or a name another plugin holds).
    """

    name: str
    distribution: str | None
    version: str | None
    status: str
    reason: str | None = None
    ops: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    imported_by: str | None = None  # a blocked plugin's module, imported anyway: by whom

    @property
    def where(self) -> str:
        """`gradledger-example-ops 0.1.0`, or `registered by hand`."""
        if self.distribution is None:
            return "registered by hand"
        return f"{self.distribution} {self.version or '(unknown version)'}"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in {"1", "true", "yes", "on"}


def _allowed_overrides() -> frozenset[str]:
    names = os.environ.get("GRADLEDGER_ALLOW_OVERRIDE", "").split(",")
    return frozenset(name.strip() for name in names if name.strip())


def _blocked_names() -> set[str]:
    names = os.environ.get("GRADLEDGER_BLOCK_PLUGINS", "").split(",")
    return {name.strip() for name in names if name.strip()}


@dataclass(frozen=True)
class EntryPoint:
    """One `name = module[:attr]` line in the `gradledger` group of a distribution."""

    name: str
    value: str
    distribution: str | None = None
    version: str | None = None

    @property
    def module(self) -> str:
        """The module the entry point names (`my_ops` of `my_ops:plugin`)."""
        return self.value.partition(":")[0].strip()

    def load(self):
        module, _, attr = self.value.partition(":")
        target = importlib.import_module(module.strip())
        for part in filter(None, attr.strip().split(".")):
            target = getattr(target, part)
        return target


def _entry_points() -> list[EntryPoint]:
    """The group's entry points, builtin first, then by name. A distribution found twice
    on sys.path (an editable and a regular install) counts once: the first one found."""
    found = _scan_path() if _plain_path() else _from_importlib_metadata()
    seen, unique = set(), []
    for ep in found:
        key = (ep.name, ep.value)
        if key not in seen:
            seen.add(key)
            unique.append(ep)
    return sorted(unique, key=lambda ep: (ep.name != BUILTIN_PLUGIN, ep.name))


def _plain_path() -> bool:
    """Whether every distribution is a directory on sys.path, as in a plain venv.

    Then reading `*.dist-info/entry_points.txt` directly finds what importlib.metadata
    finds, without importing it (with email, zipfile, csv...: half the cost of
    discovery). A zip file on sys.path, or an import hook that provides distributions,
    needs the real thing.
    """
    for finder in sys.meta_path:
        if hasattr(finder, "find_distributions") and finder is not importlib.machinery.PathFinder:
            return False
    return not any(entry and os.path.isfile(entry) for entry in sys.path)


def _scan_path() -> list[EntryPoint]:
    found, seen = [], set()
    for entry in sys.path:
        try:
            with os.scandir(entry or ".") as children:
                infos = sorted(child.path for child in children
                               if child.name.endswith((".dist-info", ".egg-info")))
        except OSError:
            continue
        for info in infos:
            lines = _read_lines(os.path.join(info, "entry_points.txt"))
            if lines is None:
                continue
            name, version = _name_and_version(info)
            key = _normalize(name or os.path.basename(info).split("-")[0])
            if key in seen:
                continue
            seen.add(key)
            for ep_name, value in _group(lines, ENTRY_POINT_GROUP):
                found.append(EntryPoint(ep_name, value, name, version))
    return found


def _read_lines(path: str) -> list[str] | None:
    try:
        with open(path, encoding="utf-8") as file:
            return file.read().splitlines()
    except OSError:
        return None


def _name_and_version(info: str) -> tuple[str | None, str | None]:
    """`Name` and `Version` from the headers of METADATA (PKG-INFO in an egg-info)."""
    fields = {}
    for filename in ("METADATA", "PKG-INFO"):
        lines = _read_lines(os.path.join(info, filename))
        if lines is not None:
            for line in lines:
                if not line.strip():
                    break
                key, _, value = line.partition(":")
                fields.setdefault(key.strip().lower(), value.strip())
            break
    return fields.get("name"), fields.get("version")


def _group(lines: list[str], group: str):
    """The `(name, value)` pairs of one `[group]` of an entry_points.txt, extras dropped."""
    current = None
    for line in lines:
        line = line.strip()
        if not line or line[0] in "#;":
            continue
        if line[0] == "[" and line[-1] == "]":
            current = line[1:-1].strip()
        elif current == group and "=" in line:
            name, _, value = line.partition("=")
            yield name.strip(), value.split("[", 1)[0].strip()


def _normalize(name: str) -> str:
    return "".join("-" if c in "_." else c for c in name.lower())


def _from_importlib_metadata() -> list[EntryPoint]:
    from importlib import metadata

    found = []
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = getattr(ep, "dist", None)
        name, version = (dist.metadata["Name"], dist.version) if dist is not None else (None, None)
        found.append(EntryPoint(ep.name, ep.value.split("[", 1)[0].strip(), name, version))
    return found


class PluginHost:
    """The plugin manager, the registry it fills, and a record of every plugin."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self.shadowed = None  # advice on names an op hides behind (set by gradledger/__init__)
        self.reset()

    def reset(self) -> None:
        """Forget every plugin and op; the next lookup loads again (tests use this)."""
        with self._lock:
            self.registry = Registry(lambda name: self.shadowed and self.shadowed(name))
            self.records: dict[str, PluginRecord] = {}
            self.manager = pluggy.PluginManager(hookspecs.PROJECT)
            self.manager.add_hookspecs(hookspecs)
            self.loaded = False
            self._loading = False
            self._blocked_modules: dict[str, str] = {}

    # -- loading --------------------------------------------------------------

    def ensure_loaded(self) -> None:
        """Load every entry-point plugin, once; other threads wait until it is done.

        A plugin's own hook may look ops up while loading (the lock is re-entrant):
        it sees the ops registered so far.
        """
        if self.loaded:
            return
        with self._lock:
            if self.loaded or self._loading:
                return
            self._loading = True
            try:
                self._load_entry_points()
            except BaseException:
                self.reset()
                raise
            finally:
                self._loading = False
            self.loaded = True

    def _load_entry_points(self) -> None:
        strict = _flag("GRADLEDGER_STRICT_PLUGINS")
        builtins_only = _flag("GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD")
        blocked = _blocked_names()
        blocked_normal = {_normalize(name) for name in blocked}
        entry_points = _entry_points()
        _warn_unknown_blocked(blocked, entry_points)
        reasons = {}
        for ep in entry_points:
            dist_name = ep.distribution
            builtin = ep.name == BUILTIN_PLUGIN and dist_name in (BUILTIN_DISTRIBUTION, None)
            if ep.name in blocked or (dist_name and _normalize(dist_name) in blocked_normal):
                reasons[ep] = "blocked by GRADLEDGER_BLOCK_PLUGINS"
            elif builtins_only and not builtin:
                reasons[ep] = "GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD=1 loads only the built-ins"
        self._blocked_modules = {ep.module: ep.name for ep in reasons}
        imported_by = {module: "the program, before plugins loaded"
                       for module in self._blocked_modules if module in sys.modules}
        for ep in entry_points:
            dist_name, version = ep.distribution, ep.version
            reason = reasons.get(ep)
            if reason is not None:
                if ep.name not in self.records:
                    self.records[ep.name] = PluginRecord(
                        ep.name, dist_name, version, "blocked", reason
                    )
                    self.manager.set_blocked(ep.name)
                continue
            if ep.name in self.records:
                self._name_taken(ep, dist_name, version, strict)
                continue
            try:
                try:
                    plugin = ep.load()
                except (Exception, SystemExit) as error:
                    reason = f"import of {ep.value!r} failed: {_describe(error)}"
                    self._fail(ep.name, dist_name, version, reason, error, strict)
                    continue
                self._add(plugin, ep.name, dist_name, version, strict=strict, collect=not strict)
            finally:
                for module in self._blocked_modules:
                    if module in sys.modules and module not in imported_by:
                        imported_by[module] = f"plugin {ep.name!r}"
        for module, who in imported_by.items():
            record = self.records.get(self._blocked_modules[module])
            if record is not None and record.status == "blocked":
                record.imported_by = who
                record.reason = (f"{record.reason}, but its module {module!r} was imported anyway "
                                 f"by {who}; ops defined in it are refused")

    def _name_taken(self, ep, dist_name, version, strict) -> None:
        """Two distributions declare one entry-point name: the first keeps it, loudly."""
        first = self.records[ep.name]
        message = (
            f"gradledger plugin {ep.name!r} ({dist_name} {version}) was not loaded: the "
            f"entry-point name {ep.name!r} is already taken by {first.where}. Rename one "
            f"of the entry points in the [project.entry-points.{ENTRY_POINT_GROUP}] table of "
            "its pyproject.toml, or uninstall one of the distributions."
        )
        if strict:
            raise PluginLoadError(message)
        warnings.warn(message, RuntimeWarning, stacklevel=4)

    def _add(self, plugin, name, distribution, version, strict: bool, collect: bool):
        """Register `plugin` with pluggy and run its hook against a scoped registrar.

        `collect`: report a malformed or duplicate op as a warning and go on with the
        plugin's other ops (entry points, unless strict); otherwise raise.
        """
        if name in self.records and self.records[name].status == "loaded":
            error = ValueError(
                f"a plugin named {name!r} is already registered ({self.records[name].where}); "
                "pass another name: gradledger.register_plugin(obj, name=...)"
            )
            return self._fail(name, distribution, version, str(error), error, strict)
        try:
            self.manager.register(plugin, name=name)
        except Exception as error:
            reason = f"rejected by pluggy: {_describe(error)}"
            return self._fail(name, distribution, version, reason, error, strict)
        impls = [i for i in self.manager.hook.gradledger_register_ops.get_hookimpls()
                 if i.plugin_name == name]
        if not impls:
            self.manager.unregister(name=name)
            error = PluginLoadError(_no_hook(plugin))
            return self._fail(name, distribution, version, str(error), error, strict)
        by_entry_point = distribution is not None
        registrar = PluginRegistrar(
            self.registry, name, distribution, version, strict=not collect,
            announce_overrides=by_entry_point, allowed_overrides=_allowed_overrides(),
            blocked_modules=self._blocked_modules if by_entry_point else None,
        )
        try:
            for impl in impls:
                impl.function(*[{"registry": registrar}[arg] for arg in impl.argnames])
        except (Exception, SystemExit) as error:  # sys.exit in a hook is a failure, not an exit
            self.registry.remove_plugin(name)
            self.manager.unregister(name=name)
            reason = f"{_HOOK} raised {_describe(error)}"
            if distribution is None and isinstance(error, (OpDefinitionError, DuplicateOpError)):
                raise  # by hand: the registry's own error says it all, as its own type
            return self._fail(name, distribution, version, reason, error, strict)
        record = PluginRecord(name, distribution, version, "loaded", ops=registrar.registered,
                              problems=registrar.errors)
        self.records[name] = record
        return record

    def _fail(self, name, distribution, version, reason, error, strict) -> PluginRecord:
        record = PluginRecord(name, distribution, version, "failed", reason)
        message = f"gradledger plugin {name!r} ({record.where}) failed: {reason.rstrip('.')}"
        if strict:
            raise PluginLoadError(
                f"{message}. Fix or uninstall it, block it with GRADLEDGER_BLOCK_PLUGINS={name}, "
                "or unset GRADLEDGER_STRICT_PLUGINS to load the other plugins without it."
            ) from error
        warnings.warn(
            f"{message}. The other plugins are loaded. Block it with "
            f"GRADLEDGER_BLOCK_PLUGINS={name}, or set GRADLEDGER_STRICT_PLUGINS=1 to make "
            "this an error.",
            RuntimeWarning,
            stacklevel=5,
        )
        if name not in self.records or self.records[name].status != "loaded":
            self.records[name] = record
        return record

    # -- by hand --------------------------------------------------------------

    def register_plugin(self, plugin, name: str | None = None) -> PluginRecord:
        """Register a module or object implementing `gradledger_register_ops` by hand.

        Entry-point plugins are loaded first, so that a clash names the right culprit.
        Errors raise at once (nothing is deferred to a warning): you are right here.
        A malformed op raises OpDefinitionError, a name already taken DuplicateOpError,
        and the plugin's other ops are withdrawn with it.
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

    def plugins_named(self, name: str) -> list[PluginRecord]:
        """The plugins `name` stands for: the one with that entry-point (or by-hand) name,
        else every plugin of the distribution of that name (`-`, `_` and `.` alike, any
        case). Loads the plugins first; blocked and failed plugins are included."""
        self.ensure_loaded()
        if name in self.records:
            return [self.records[name]]
        wanted = _normalize(name)
        return [r for r in self.records.values()
                if r.distribution is not None and _normalize(r.distribution) == wanted]

    def unknown_plugin(self, name: str) -> str:
        """Why no plugin is called `name`: the known names, and a close match if any."""
        names = sorted(set(self.records) | {r.distribution for r in self.records.values()
                                            if r.distribution})
        close = difflib.get_close_matches(name, names, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return (f"no plugin or distribution named {name!r} is installed.{hint} Plugins (and "
                f"their distributions): {_listing(self.records.values())}. "
                "`gradledger plugins` lists every plugin and its ops.")

    def lookup(self, name: str) -> Op:
        if not self.loaded:
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


def _listing(records) -> str:
    return ", ".join(f"{r.name} ({r.where}, {r.status})" for r in records) or "none"


def _warn_unknown_blocked(blocked: set[str], entry_points) -> None:
    """A name in GRADLEDGER_BLOCK_PLUGINS that no plugin or distribution has: say so."""
    known = {ep.name for ep in entry_points} | {ep.distribution for ep in entry_points
                                                if ep.distribution}
    normal = {_normalize(name) for name in known}
    for name in sorted(blocked):
        if name in known or _normalize(name) in normal:
            continue
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        warnings.warn(
            f"GRADLEDGER_BLOCK_PLUGINS names {name!r}, which is neither an installed gradledger "
            f"plugin (entry-point name) nor a distribution providing one{hint}. Installed: "
            f"{', '.join(sorted(known)) or 'none'}.", RuntimeWarning, stacklevel=5)


def _no_hook(plugin) -> str:
    """Why a plugin registered with pluggy brings no hook implementation, and the fix."""
    what = getattr(plugin, "__name__", None) or type(plugin).__name__
    fix = (
        f"expected `@hookimpl def {_HOOK}(registry): ...` with "
        "`from gradledger.extend import hookimpl`"
    )
    if callable(getattr(plugin, _HOOK, None)):
        return f"{what}.{_HOOK} is not marked as a hook implementation; {fix}"
    near = [n for n in dir(plugin) if n.startswith("gradledger_")]
    if near:
        return f"{what} defines {', '.join(near)}, which is not a gradledger hook; {fix}"
    return f"{what} implements no gradledger hook; {fix}"


def _describe(error: BaseException) -> str:
    return f"{type(error).__name__}: {error}"


host = PluginHost()
register_plugin = host.register_plugin
unregister_plugin = host.unregister_plugin
