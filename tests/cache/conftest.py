"""Varnish nodes and a counting backend app for the cache's tests (tests/servers/varnish.py)."""

from tests.servers.varnish import counting_app, varnish_nodes

__all__ = ["counting_app", "varnish_nodes"]
