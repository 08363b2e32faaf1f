"""The error every DNS provider raises when the platform has none configured (re-exported by
`dns.py`, where other capabilities import it from)."""

from __future__ import annotations

from codeforge.catalog.errors import PlatformUnavailable

__all__ = ["SETUP_FIX", "DnsNotConfigured"]

SETUP_FIX = (
    "set CODEFORGE_DNS_SERVER=host:port of an authoritative DNS server that takes RFC 2136 updates, "
    "CODEFORGE_DNS_TSIG_NAME and CODEFORGE_DNS_TSIG_SECRET (a TSIG key it allows updates with); "
    "read at each operation, no restart needed (docs/domains.md)"
)


class DnsNotConfigured(PlatformUnavailable):
    """This platform has no DNS server to manage records on; the fix says what to set."""
