"""Everything a plugin author needs: `from gradledger.extend import hookimpl, Op`."""

from .broadcast import unbroadcast
from .hookspecs import hookimpl
from .op import Op
from .registry import PluginRegistrar

__all__ = ["Op", "PluginRegistrar", "hookimpl", "unbroadcast"]
