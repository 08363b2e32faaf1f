"""Certificates' settings, read from `CODEFORGE_ACME_*` (docs/certificates.md): the ACME
directory, the account's contact, the CA bundle trusted for the ACME server's own HTTPS, and
when renewal starts."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["LETS_ENCRYPT", "AcmeSettings", "acme_settings"]

LETS_ENCRYPT = "https://acme-v02.api.letsencrypt.org/directory"


class AcmeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CODEFORGE_ACME_", extra="ignore")

    directory_url: str = Field(default=LETS_ENCRYPT, description="The ACME server's directory URL.")
    email: str = Field(default="", description="Contact address of the ACME account (expiry notices); may be empty.")
    ca_bundle: str = Field(
        default="",
        description="A PEM file of CAs trusted for the ACME server's HTTPS (Pebble's own CA in tests); "
        "empty: the system's.",
    )
    renew_days: float = Field(default=30.0, gt=0, description="Renew a certificate this many days before it expires.")
    renew_interval_s: float = Field(default=3600.0, gt=0, description="Seconds between renewal checks.")
    retry_after_s: float = Field(
        default=3600.0, gt=0, description="After a failed renewal, wait this long before the next try (doubling)."
    )
    dns_propagation_s: float = Field(
        default=10.0,
        ge=0,
        description="DNS-01: seconds to wait after the TXT record is served by the platform's DNS server, "
        "for its secondaries to have it, before asking the CA to check.",
    )
    timeout_s: float = Field(default=90.0, gt=0, description="How long an order may wait for the CA's checks.")


def acme_settings() -> AcmeSettings:
    """Read at each use: a change of the environment is seen by the next operation."""
    return AcmeSettings()
