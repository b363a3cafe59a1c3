"""Shared test set-up: deterministic hypothesis profiles and a clean plugin host."""

import os
import tempfile

import pytest
from gradledger.verify.profiles import register_profiles
from hypothesis import settings

# `ci` (derandomized, the default here) and `thorough` (2,000 random examples), defined
# in gradledger.verify.profiles; pick one with HYPOTHESIS_PROFILE or --hypothesis-profile.
register_profiles()
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
# The verifier's cache folder (op durations, hypothesis's storage) is a throwaway one here.
os.environ.setdefault("GRADLEDGER_CACHE_DIR", tempfile.mkdtemp(prefix="gradledger-tests-"))


@pytest.fixture
def fresh_host(monkeypatch):
    """The global plugin host, reset before and after the test; plugin env vars cleared."""
    from gradledger.loader import host

    for var in ("GRADLEDGER_BLOCK_PLUGINS", "GRADLEDGER_STRICT_PLUGINS",
                "GRADLEDGER_DISABLE_PLUGIN_AUTOLOAD", "GRADLEDGER_ALLOW_OVERRIDE"):
        monkeypatch.delenv(var, raising=False)
    host.reset()
    yield host
    host.reset()


@pytest.fixture
def site(tmp_path, monkeypatch, fresh_host):
    """A throwaway site-packages on sys.path where tests install real plugin distributions."""
    from plugin_fixtures import Site

    site = Site(tmp_path / "site", monkeypatch)
    yield site
    site.cleanup()
