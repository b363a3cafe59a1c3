"""The example's CI set-up: gradledger's deterministic hypothesis profile for the verifier.

`pytest` here also runs `--gradledger-verify --gradledger-plugin example` (see addopts
in pyproject.toml): one test `gradledger::verify[OP]` per op of this plugin, checked
against the nudge method on inputs drawn from the op's declaration.
"""

import os

from gradledger.verify.profiles import register_profiles
from hypothesis import settings

register_profiles()  # `ci`: derandomized, the same examples on every run; `thorough`: 2,000
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
