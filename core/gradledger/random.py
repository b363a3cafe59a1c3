"""The global generator: reproducible by default, as PyTorch's `torch.manual_seed`.

Every random draw that is given no `rng` — a layer's initial weights, `gl.rand` and
`gl.randn`, a Dropout mask — comes from one generator, `gl.default_generator`. It is
seeded at import with a fixed number (PyTorch's own default seed, 67280421310721), so a
script gives the same numbers every run; `gl.manual_seed(n)` reseeds it.

An explicit `rng=` still wins: an int seed (a generator of its own, the same numbers
for the same seed whatever the global state) or a `np.random.Generator` (drawn from,
and advanced).
"""

from __future__ import annotations

import numpy as np

__all__ = ["DEFAULT_SEED", "Generator", "default_generator", "initial_seed", "manual_seed",
           "resolve"]

DEFAULT_SEED = 67280421310721
"""The seed the global generator starts from at import (PyTorch's default seed)."""


class Generator:
    """A seedable source of random numbers: a `np.random.Generator` (`.numpy`) and its seed.

    `manual_seed(n)` reseeds it in place, so that code holding `.numpy` draws the new
    sequence too.
    """

    def __init__(self, seed: int = DEFAULT_SEED) -> None:
        self.numpy = np.random.Generator(np.random.PCG64(0))
        self.manual_seed(seed)

    def manual_seed(self, seed: int) -> Generator:
        """Restart the sequence from `seed` (an int >= 0); returns the generator."""
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise TypeError(f"manual_seed: expected an int >= 0; got {seed!r}")
        self.numpy.bit_generator.state = np.random.PCG64(int(seed)).state
        self._seed = int(seed)
        return self

    def initial_seed(self) -> int:
        """The seed the current sequence started from."""
        return self._seed

    def get_state(self) -> dict:
        """The generator's state (a dict), to put back with `set_state`."""
        return self.numpy.bit_generator.state

    def set_state(self, state: dict) -> None:
        self.numpy.bit_generator.state = state

    def __repr__(self) -> str:
        return f"gl.Generator(seed={self._seed})"


default_generator = Generator()


def manual_seed(seed: int) -> Generator:
    """Reseed the global generator (`gl.default_generator`): `gl.manual_seed(0)` at the top
    of a script makes every draw without an `rng` reproducible. Returns the generator."""
    return default_generator.manual_seed(seed)


def initial_seed() -> int:
    """The seed the global generator's current sequence started from."""
    return default_generator.initial_seed()


def resolve(rng, owner: str = "rng") -> np.random.Generator:
    """The numpy generator to draw from: the global one for None, a fresh one seeded by an
    int, the generator itself for a `np.random.Generator` or a `gl.Generator`."""
    if rng is None:
        return default_generator.numpy
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, Generator):
        return rng.numpy
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(
        f"{owner}: expected None (the global generator, gl.manual_seed), an int seed, a "
        f"np.random.Generator or a gl.Generator; got {type(rng).__name__}"
    )
