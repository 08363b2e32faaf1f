"""Domains and DNS (docs/domains.md): a project's domains, their ownership proof (a TXT record
or an HTTP answer), and their records on the platform's authoritative DNS server through
RFC 2136 updates signed with TSIG. `dns.provider_for` and `access.owned_domain` are the API
certificates, the edge and deployments use."""

from __future__ import annotations

from codeforge.platform.manifest import Capability, ProjectSection
from codeforge.projectfile.domains import DomainsSection

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="domains",
    title="Domains and DNS",
    catalog=("codeforge.catalog.domains",),
    models=("models",),
    services=("service",),
    panes=("pane",),
    project_section=ProjectSection(
        "domains",
        DomainsSection,
        "Domains the project wants, by name: `shop.example.com: {verify: txt|http, records}`. Diagnostics say "
        "which are not added or not verified yet (and what to publish); code actions add and verify them.",
    ),
    editor=("codeforge.lsp.capabilities.domains",),
)
