"""The platform's own Prometheus metrics, on a registry per app (tests run several apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

__all__ = ["PlatformMetrics"]


class PlatformMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.operations = Counter(
            "codeforge_operations", "Operations performed", ["operation", "outcome"], registry=self.registry
        )
        self.latency = Histogram(
            "codeforge_operation_seconds",
            "Time to perform an operation",
            ["operation"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.requests = Counter(
            "codeforge_http_requests", "HTTP requests", ["method", "status"], registry=self.registry
        )

        self.auth_failures = Counter(
            "codeforge_auth_failures",
            "Failed authentications, by reason (missing, unknown, revoked, expired token)",
            ["reason"],
            registry=self.registry,
        )
        self.auth_rate_limited = Counter(
            "codeforge_auth_rate_limited",
            "Requests refused because their address failed to authenticate too often",
            registry=self.registry,
        )

    def observe(self, operation: str, outcome: str, seconds: float) -> None:
        self.operations.labels(operation, outcome).inc()
        self.latency.labels(operation).observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
