"""The audit log: who did what, on what, with which outcome (`audit.list`)."""

from __future__ import annotations

from codeforge.platform.manifest import Capability

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="audit",
    title="Audit log",
    catalog=("codeforge.catalog.audit",),
    models=("models",),
    services=("service",),
)
