"""Certificates (docs/certificates.md): TLS certificates for a project's verified domains,
issued and renewed through ACME with HTTP-01 or DNS-01, renewed automatically before expiry
with failures alerting through monitoring; `store.pem_for` hands them to the edge."""

from __future__ import annotations

from collections.abc import Sequence

from codeforge.platform.manifest import Background, BackgroundService, Capability, CrashCleanup, Runtime

__all__ = ["CAPABILITY"]


def _renewer(rt: Runtime) -> BackgroundService:
    from codeforge.platform.certificates.renewal import Renewer

    return Renewer(rt)


def _sweep(rt: Runtime) -> Sequence[str]:
    from codeforge.platform.certificates.issuance import sweep_challenges

    return sweep_challenges(rt.db, rt.settings)


CAPABILITY = Capability(
    name="certificates",
    title="Certificates",
    catalog=("codeforge.catalog.certificates",),
    models=("models",),
    services=("service",),
    panes=("pane",),
    background=(Background("renewal", _renewer),),
    cleanup=(CrashCleanup("challenges of interrupted orders", _sweep, every=60.0),),
    api=("api",),
)
