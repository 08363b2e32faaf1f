"""The domains tests run against a real BIND (tests/servers/bind.py); the migration test on
each state backend (tests/platform/conftest.py's `state_url`: SQLite and PostgreSQL)."""

from tests.platform.conftest import state_url  # noqa: F401
from tests.servers.bind import bind_server  # noqa: F401
