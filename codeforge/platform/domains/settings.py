"""DNS settings, read from `CODEFORGE_DNS_*` (docs/domains.md): the authoritative server that
takes RFC 2136 updates, the TSIG key that signs them, its zones, and the resolver ownership
checks ask."""

from __future__ import annotations

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["DnsSettings", "dns_settings", "split_host_port"]


class DnsSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CODEFORGE_DNS_", extra="ignore")

    server: str = Field(
        default="",
        description="host:port of the authoritative DNS server taking RFC 2136 updates (port 53 when left out); "
        "empty: records cannot be managed here.",
    )
    tsig_name: str = Field(default="", description="Name of the TSIG key that signs updates (as in named.conf).")
    tsig_algorithm: str = Field(default="hmac-sha256", description="The TSIG key's algorithm.")
    tsig_secret: SecretStr | None = Field(default=None, description="The TSIG key's secret, base64 (as in named.conf).")
    zones: str = Field(
        default="",
        description="Zones on that server, comma-separated; empty: found by asking it for each name's SOA.",
    )
    transport: str = Field(default="tcp", pattern=r"^(tcp|udp)$", description="tcp or udp, to the server.")
    timeout: float = Field(default=5.0, gt=0, le=120, description="Seconds to wait for a DNS answer.")
    resolver: str = Field(
        default="",
        description="host:port of the resolver ownership checks (TXT, the HTTP method's address) ask; "
        "empty: the system's resolvers.",
    )
    verify_http_port: int = Field(
        default=80, ge=1, le=65535, description="Port the HTTP ownership check fetches from (80 in production)."
    )

    @property
    def zone_list(self) -> tuple[str, ...]:
        return tuple(z.strip().lower().rstrip(".") for z in self.zones.split(",") if z.strip())


def split_host_port(value: str, default_port: int = 53) -> tuple[str, int]:
    """'127.0.0.1:5353' → ('127.0.0.1', 5353); '[::1]:53' and a bare host work too.
    ValueError when the port is not a number."""
    text = value.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port = rest.removeprefix(":")
    elif text.count(":") == 1:
        host, _, port = text.partition(":")
    else:  # a bare IPv6 address or a host name
        host, port = text, ""
    if not port:
        return host, default_port
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{value!r}: the port must be a number from 1 to 65535")
    return host, int(port)


def dns_settings() -> DnsSettings:
    """Read at each use: a changed environment is seen by the next operation."""
    return DnsSettings()
