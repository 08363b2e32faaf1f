"""The sshkeys capability: each member's SSH public keys, for `ssh`, scp, rsync and JetBrains
Gateway through `codeforge connect --ssh` (docs/bridge.md, "SSH")."""

from __future__ import annotations

from codeforge.platform.manifest import Capability

__all__ = ["CAPABILITY"]

CAPABILITY = Capability(
    name="sshkeys",
    title="SSH keys",
    catalog=("codeforge.catalog.sshkeys",),
    models=("models",),
    services=("service",),
)
