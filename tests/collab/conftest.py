"""The bridge fixtures (tests/bridge/conftest.py) for collaboration tests: a real bridge
process on a temporary workspace against the live platform, more bridges per test, and a
second organization's token. Imported, not copied, so both suites start bridges the same way."""

from __future__ import annotations

from tests.bridge.conftest import (  # noqa: F401  (pytest finds fixtures by name in this module)
    bridge_factory,
    bridge_folder,
    live_bridge,
    other_org_token,
)
