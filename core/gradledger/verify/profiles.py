"""The hypothesis profiles gradledger's tests, CI and CLI use.

    ci         deterministic (derandomize): the same examples on every run and machine
    thorough   random, 2,000 examples per test: for a long run now and then
"""

from __future__ import annotations

PROFILES = {
    "ci": {"derandomize": True, "deadline": None, "max_examples": 50, "print_blob": True},
    "thorough": {"deadline": None, "max_examples": 2000, "print_blob": True},
}


def register_profiles() -> None:
    """Register `ci` and `thorough` with hypothesis (it imports hypothesis)."""
    from hypothesis import HealthCheck, settings

    for name, values in PROFILES.items():
        settings.register_profile(name, suppress_health_check=[HealthCheck.too_slow], **values)
