"""Deployments (docs/deployments.md): releases, instances, strategies, rollout and rollback."""
