"""The edge (docs/edge.md, docs/edge-asbuilt.md): Caddy nodes the platform runs and
configures through their admin API, the routes projects publish to them, load balancing,
health checks, TLS from the certificates capability, and traffic counted into monitoring."""
