"""The DNS provider other capabilities use (docs/edge.md, "The Python APIs between them"):
certificates publish DNS-01 TXT records, the edge and deployments point host names at nodes.

Names are absolute host names, with or without the final dot, in ASCII (punycode). Values go in
and come out in plain form, the same for every provider:

- A, AAAA: addresses (``192.0.2.10``, ``2001:db8::10``);
- CNAME: a host name, without the final dot;
- MX: ``PRIORITY HOST`` (``10 mail.example.com``);
- TXT: the text itself, unquoted (split into 255-byte strings on the wire and joined back);
- others: DNS presentation format.

Every failure is a catalog error (codeforge.catalog.errors): `DnsNotConfigured` when no server is
set, `ExternalFailure` naming the server and what to check when it cannot be reached or refuses,
`NotFound` when the name is in no zone the server serves. No message holds the TSIG secret.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from codeforge.platform.domains.errors import SETUP_FIX, DnsNotConfigured

if TYPE_CHECKING:
    from codeforge.platform.settings import Settings

__all__ = ["DnsNotConfigured", "DnsProvider", "managed_zone", "provider_for"]


@runtime_checkable
class DnsProvider(Protocol):
    """A DNS service whose records the platform manages. RFC 2136 is the first; cloud APIs add
    classes."""

    name: str

    def replace(self, fqdn: str, rtype: str, values: Sequence[str], ttl: int = 300) -> None:
        """Make `values` the whole record set (fqdn, rtype); no values deletes it."""
        ...

    def delete(self, fqdn: str, rtype: str) -> None:
        """Delete the record set (fqdn, rtype); nothing there is no error."""
        ...

    def query(self, fqdn: str, rtype: str) -> list[str]:
        """The values the authoritative server answers now, sorted ([] when there are none)."""
        ...


def provider_for(settings: Settings) -> DnsProvider:
    """The DNS provider this platform is configured with (`CODEFORGE_DNS_*`), or
    DnsNotConfigured saying what to set."""
    del settings  # the DNS settings are read from the environment at each use (settings.py)
    from codeforge.platform.domains.adapters.rfc2136 import Rfc2136Provider
    from codeforge.platform.domains.settings import dns_settings

    config = dns_settings()
    if not config.server.strip():
        raise DnsNotConfigured("no DNS server is configured on this platform", fix=SETUP_FIX)
    missing = [
        var
        for var, value in (
            ("CODEFORGE_DNS_TSIG_NAME", config.tsig_name.strip()),
            ("CODEFORGE_DNS_TSIG_SECRET", config.tsig_secret.get_secret_value() if config.tsig_secret else ""),
        )
        if not value
    ]
    if missing:
        raise DnsNotConfigured(
            f"the DNS server {config.server} is set but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
            "not: updates must be signed with a TSIG key",
            fix=SETUP_FIX,
        )
    return Rfc2136Provider.from_settings(config)


def managed_zone(provider: DnsProvider, fqdn: str) -> str | None:
    """The zone of `provider` that holds `fqdn`, or None when it serves none (or cannot say)."""
    zone_of = getattr(provider, "zone_of", None)
    return zone_of(fqdn) if callable(zone_of) else None
