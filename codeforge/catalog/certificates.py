"""Certificates: TLS certificates for a project's verified domains, issued and renewed through
ACME (Let's Encrypt by default; Pebble in tests), proved with HTTP-01 or DNS-01
(docs/certificates.md). Private keys never leave the platform through an operation."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field
from pydantic.json_schema import JsonDict

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare
from codeforge.catalog.domains import normalize_hostname

__all__ = [
    "DELETE",
    "ISSUE",
    "LIST",
    "MAX_NAMES",
    "RENEW",
    "SHOW",
    "ChallengeType",
    "normalize_names",
]

MAX_NAMES = 20
CERT_VALUES: JsonDict = {"x-codeforge-values": "certificates.list#name"}


class ChallengeType(StrEnum):
    HTTP_01 = "http-01"  # the CA fetches http://<name>/.well-known/acme-challenge/<token> from the platform
    DNS_01 = "dns-01"  # a TXT record _acme-challenge.<name> on the platform's DNS server


def _one_name(text: str) -> str:
    name = text.strip().lower()
    if name.startswith("*."):
        return "*." + normalize_hostname(name[2:])
    if "*" in name:
        raise ValueError("has a '*' that is not a leading '*.' (a wildcard looks like *.example.com)")
    return normalize_hostname(name)


def normalize_names(text: str) -> list[str]:
    """The host names of `domain` ("a.example.com, b.example.com"), normalized, in order, once
    each; ValueError saying what is wrong."""
    parts = [p for p in text.replace(",", " ").split() if p]
    if not parts:
        raise ValueError("names no host name")
    names: list[str] = []
    for part in parts:
        try:
            name = _one_name(part)
        except ValueError as exc:
            raise ValueError(f"{part!r} {exc}") from None
        if name not in names:
            names.append(name)
    if len(names) > MAX_NAMES:
        raise ValueError(f"names {len(names)} host names; a certificate holds at most {MAX_NAMES}")
    return names


def _names(value: str) -> str:
    return ", ".join(normalize_names(value))


def _name(value: str) -> str:
    return _one_name(value)


Names = Annotated[str, AfterValidator(_names)]
CertName = Annotated[str, AfterValidator(_name)]


# -- inputs ---------------------------------------------------------------------------------------


class IssueInput(ProjectInput):
    domain: Names = Field(
        max_length=6000,
        description="The host names the certificate is for, comma-separated (e.g. example.com, www.example.com); "
        "each must be a verified domain of the project or under one. The first names the certificate. "
        "A wildcard (*.example.com) needs dns-01.",
    )
    challenge: ChallengeType = Field(
        default=ChallengeType.HTTP_01,
        description="http-01: the CA fetches a token from the platform over plain HTTP (the names must reach it); "
        "dns-01: a TXT record on the platform's DNS server (wildcards too).",
    )


class ListInput(ProjectInput):
    pass


class NameInput(ProjectInput):
    domain: CertName = Field(
        max_length=300,
        description="The certificate, by its first host name.",
        json_schema_extra=CERT_VALUES,
    )


# -- outputs --------------------------------------------------------------------------------------


class CertificateInfo(BaseModel):
    name: str = Field(description="Its first host name, which names it.")
    names: list[str] = Field(description="Every host name it holds.")
    project: str
    challenge: str = Field(description="How the CA checks control of the names: http-01 or dns-01.")
    state: str = Field(description="valid, expiring (within the renewal window), renewing, expired or failed.")
    issuer: str = Field(description="The issuing CA's name, as written in the certificate.")
    serial: str = Field(description="The serial number, in hex.")
    fingerprint_sha256: str
    not_before: datetime
    not_after: datetime
    days_left: int = Field(description="Whole days until it expires (negative once expired).")
    renew_after: datetime = Field(description="When automatic renewal starts trying.")
    renewal_error: str = Field(default="", description="Why the last renewal failed, until one succeeds.")
    renewal_failures: int = Field(default=0, description="Renewals failed in a row.")
    chain_pem: str = Field(default="", description="The certificate and its chain (PEM; public). `show` only.")
    created_at: datetime
    created_by: str
    renewed_at: datetime | None = None


class CertificateList(BaseModel):
    items: list[CertificateInfo]


class CertificateDeleted(BaseModel):
    name: str
    names: list[str]


# -- operations -----------------------------------------------------------------------------------

ISSUE = declare(
    Operation(
        name="certificates.issue",
        title="Issue a TLS certificate",
        input=IssueInput,
        output=CertificateInfo,
        permission=Permission.EDIT,
        long_running=True,
        target="{project}/{domain}",
    )
)
LIST = declare(
    Operation(
        name="certificates.list",
        title="List TLS certificates",
        input=ListInput,
        output=CertificateList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
SHOW = declare(
    Operation(
        name="certificates.show",
        title="Show a TLS certificate",
        input=NameInput,
        output=CertificateInfo,
        permission=Permission.VIEW,
        target="{project}/{domain}",
    )
)
RENEW = declare(
    Operation(
        name="certificates.renew",
        title="Renew a TLS certificate now",
        input=NameInput,
        output=CertificateInfo,
        permission=Permission.EDIT,
        long_running=True,
        target="{project}/{domain}",
    )
)
DELETE = declare(
    Operation(
        name="certificates.delete",
        title="Delete a TLS certificate",
        input=NameInput,
        output=CertificateDeleted,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{domain}",
    )
)
