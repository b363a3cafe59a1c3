"""Everything a plugin author needs: `from gradledger.extend import hookimpl, Op`."""

from .broadcast import unbroadcast
from .errors import OpCallError
from .hookspecs import hookimpl
from .op import Closed, Op
from .ops import call
from .registry import PluginRegistrar

__all__ = ["Closed", "Op", "OpCallError", "PluginRegistrar", "call", "hookimpl", "unbroadcast"]
