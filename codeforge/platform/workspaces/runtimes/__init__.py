"""Where workspaces run: local processes, the Docker engine, Kubernetes (docs/workspaces.md)."""
