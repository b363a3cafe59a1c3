"""One row of the sub-check table: what runs, what it compares with."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class SubCheck:
    """A sub-check the engine runs on an example.

    name:       the check named in a report (`Failure.check`)
    family:     contract, nudges, second order, call variants or dtypes
    reference:  what the rule's result is compared with
    run:        `run(checker) -> Failure | None` (the checker holds the example's state)
    float64_only: True when a float32 example skips it (the float64 examples run it)
    """

    name: str
    family: str
    reference: str
    run: Callable
    float64_only: bool = False
