"""The plugin contract: the hooks gradledger calls, and the markers to implement them.

A plugin is a module (or object) named by an entry point in the group `gradledger`,
implementing the hooks below with `@hookimpl`. Today there is one,
`gradledger_register_ops`. What each op it registers must declare (its forward rule,
exactly one gradient rule unless it has no gradient, its signature, its params and
the verifier's hints) is the docstring of `gradledger.Op`; docs/plugins.md teaches it
with examples, and docs/ops.md lists the built-in plugin's ops.

What a plugin may rely on: its hook is called once, lazily, with a registrar; its
ops are called with numpy arrays (numpy scalars for 0-d values) and the params the
call gave; its rules' results are checked (count, shapes, dtypes) and any breach is
reported naming the op and this plugin; under `create_graph=True` its rules are
called with `gradledger.Tensor`s instead, unless the op declares `order=1`.
"""

from __future__ import annotations

import pluggy

PROJECT = "gradledger"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def gradledger_register_ops(registry) -> None:
    """Register this plugin's ops.

    Implement it in the module your entry point names, marked with `@hookimpl`
    (`from gradledger.extend import hookimpl`)::

        [project.entry-points.gradledger]
        my_ops = "my_ops"          # plugin name = module holding this hook

    Called once per plugin, the first time any op is looked up (never at
    `import gradledger`), or at once for a plugin passed to
    `gradledger.register_plugin` after loading happened. Plugins load one by one,
    gradledger's `builtin` first, then by entry-point name.

    :param registry: a `gradledger.registry.PluginRegistrar`. Call
        `registry.register(Op(...))` once per op; the registrar stamps each op with
        this plugin's name, distribution and version, and returns the stamped op
        (None if it was refused). `registry.get(name)` returns an op registered so
        far, by any plugin, to build on it.

    Return nothing. A malformed op, or a name another plugin already holds without
    `override=True` on either side, is refused with a warning naming this plugin,
    its distribution and the op; the plugin's other ops and other plugins still
    load (`GRADLEDGER_STRICT_PLUGINS=1` makes it an error). An exception raised
    here (`SystemExit` included) marks the plugin failed and withdraws every op it
    had registered. An op declared with `override=True` replaces the op of that
    name whichever plugin loads first; the replaced op stays reachable as
    `op.overrides`. Replacing another plugin's op is announced with a warning
    naming both plugins (an error under `GRADLEDGER_STRICT_PLUGINS=1`) unless the
    user allows it with `GRADLEDGER_ALLOW_OVERRIDE=plugin` or `=plugin:op`. An op
    whose rules are defined in the module of a plugin the user blocked is refused.
    """
