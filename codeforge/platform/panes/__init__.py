"""Panes: pages the platform serves for editors, rendered from structured content."""
