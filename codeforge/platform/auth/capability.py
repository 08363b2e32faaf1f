"""Identity and access: organizations, projects, members, tokens, `auth.whoami`."""

from __future__ import annotations

from codeforge.platform.manifest import Capability

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="access",
    title="Organizations, projects, members and tokens",
    catalog=(
        "codeforge.catalog.auth",
        "codeforge.catalog.projects",
        "codeforge.catalog.members",
        "codeforge.catalog.tokens",
    ),
    models=("models",),
    services=("service",),
)
