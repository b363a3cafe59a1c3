"""The plugin contract: the hooks gradledger calls, and the markers to implement them."""

from __future__ import annotations

import pluggy

PROJECT = "gradledger"

hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def gradledger_register_ops(registry) -> None:
    """Register this plugin's ops.

    Called once per plugin, the first time any op is looked up (or at once, for a
    plugin passed to `gradledger.register_plugin` after loading happened).

    :param registry: a `gradledger.registry.PluginRegistrar`. Call
        `registry.register(Op(...))` once per op; the registrar stamps each op with
        this plugin's name, distribution and version. `registry.get(name)` returns an
        op registered so far.

    Return nothing. A malformed op, or a name another plugin already holds (without
    `override=True`), is reported naming this plugin and the op; the plugin's other
    ops and other plugins still load. An exception raised here marks the plugin
    failed and withdraws the ops it had registered.
    """
