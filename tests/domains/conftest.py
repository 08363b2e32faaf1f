"""The domains tests run against a real BIND (tests/servers/bind.py)."""

from tests.servers.bind import bind_server  # noqa: F401
