"""Workspaces and instant environment cloning (docs/workspaces.md)."""
