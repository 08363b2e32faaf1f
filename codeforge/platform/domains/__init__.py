"""Domains and DNS (docs/domains.md, docs/edge.md): the host names a project owns, their
ownership proof, and the records kept on the platform's authoritative DNS server through
RFC 2136 updates signed with TSIG. Other capabilities use `dns.provider_for` and
`access.owned_domain`."""
