"""The exceptions gradledger raises, one class per way things go wrong.

Every message names the culprit (the op and the plugin that registered it),
what was expected, what came, and what to do about it.
"""

from __future__ import annotations


class GradledgerError(Exception):
    """Base class of every error gradledger raises on purpose."""


class OpDefinitionError(GradledgerError, TypeError):
    """An `Op` is malformed: caught when a plugin registers it."""


class DuplicateOpError(GradledgerError, ValueError):
    """Two plugins registered one op name and the later one did not say `override=True`."""


class OpNotFoundError(GradledgerError, LookupError):
    """An op name that no loaded plugin registered."""


class PluginLoadError(GradledgerError, RuntimeError):
    """A plugin failed to import or raised in its hook, under `GRADLEDGER_STRICT_PLUGINS=1`."""


class OpCallError(GradledgerError, TypeError):
    """An op was called with inputs it cannot take (count, shapes, constants, dtypes)."""


class OpRuleError(GradledgerError, RuntimeError):
    """An op's forward rule or gradient rule raised, or broke the contract in what it returned."""


class AnomalyError(GradledgerError, FloatingPointError):
    """Under `detect_anomaly()`: an op's rule produced NaN or infinity."""


class RequiresGradError(GradledgerError, RuntimeError):
    """A tensor that requires grad was asked to become bare numbers (`np.asarray`, a numpy
    function no op stands for), or updated in place while the tape records: either would
    lose its gradient without a word. PyTorch raises here too."""


class BackwardError(GradledgerError, RuntimeError):
    """`backward()` cannot run as asked: no seed for a non-scalar, a freed graph, a bad seed."""


def describe_op(op) -> str:
    """`op 'mul' (plugin 'builtin', gradledger 0.1.0)`: the op and where it came from."""
    return f"op {op.name!r} ({op.provenance})"


def add_note(error: BaseException, note: str) -> None:
    """`error.add_note(note)`; on Python 3.10, which has no add_note, the same list
    (`error.__notes__`), which PEP 678's readers (pytest, the exceptiongroup backport) show."""
    if hasattr(error, "add_note"):
        error.add_note(note)
    else:
        notes = getattr(error, "__notes__", None)
        if not isinstance(notes, list):
            notes = []
            try:
                error.__notes__ = notes
            except AttributeError:  # an exception type that takes no new attributes
                return
        notes.append(note)
