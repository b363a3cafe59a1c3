"""Everything a plugin author needs: `from gradledger.extend import hookimpl, Op`."""

from .broadcast import unbroadcast
from .hookspecs import hookimpl
from .op import Op
from .ops import call
from .registry import PluginRegistrar

__all__ = ["Op", "PluginRegistrar", "call", "hookimpl", "unbroadcast"]
