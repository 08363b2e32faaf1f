"""Domains and DNS (docs/domains.md): a project's domains, their ownership proof (a TXT record
or an HTTP answer), and their records on the platform's authoritative DNS server through
RFC 2136 updates signed with TSIG. `dns.provider_for` and `access.owned_domain` are the API
certificates, the edge and deployments use."""

from __future__ import annotations

from codeforge.platform.manifest import Capability

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="domains",
    title="Domains and DNS",
    catalog=("codeforge.catalog.domains",),
    models=("models",),
    services=("service",),
    panes=("pane",),
)
