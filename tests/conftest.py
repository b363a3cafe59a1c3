"""Shared test set-up: deterministic hypothesis profiles and a clean plugin host."""

import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", derandomize=True, deadline=None, max_examples=50, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
settings.register_profile("thorough", deadline=None, max_examples=2000, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture
def fresh_host(monkeypatch):
    """The global plugin host, reset before and after the test; plugin env vars cleared."""
    from gradledger.loader import host

    for var in ("GRADLEDGER_BLOCK_PLUGINS", "GRADLEDGER_STRICT_PLUGINS",
                "GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(var, raising=False)
    host.reset()
    yield host
    host.reset()
