"""The tape: record who called whom on the way forward, then walk back and book.

The tape knows no math. It calls each op's own rules, looked up in the registry,
and does the bookkeeping the seed describes: `input.grad += local * output.grad`.
Read it in the order it runs:

- `gradledger.record`: `apply` runs an op's forward and, when an input requires grad,
  keeps a `Node` of the call (what its rules read, what its forward saved);
- `gradledger.walk`: `backward` and `walk` play the recorded calls backward, once each,
  latest first; one walk serves five passes (plain, anomaly, traced, gl.grad,
  create_graph), each a named `Pass`;
- `gradledger.rules`: asks a call's rule for its contributions and checks them;
- `gradledger.book`: the ledger entries, `input.grad += contribution` (`Booking`);
- `gradledger.recorded`: the rules run on Tensors, for `create_graph=True`.

This module gathers the names the rest of gradledger (and its tests) use.
"""

from __future__ import annotations

from .book import Booking, Waiting, _seed
from .record import KEEP_KIND, NODES, LockingNode, Node, Output, _noted, apply, bind
from .walk import Pass, backward, walk

__all__ = [
    "KEEP_KIND",
    "NODES",
    "Booking",
    "LockingNode",
    "Node",
    "Output",
    "Pass",
    "Waiting",
    "_noted",
    "_seed",
    "apply",
    "backward",
    "bind",
    "walk",
]
