"""Domains: the host names a project owns, how it proved it, and the DNS records the platform
keeps for them on its authoritative server (docs/domains.md)."""

from __future__ import annotations

import ipaddress
import re
from datetime import datetime
from enum import StrEnum
from typing import Annotated

import idna
from pydantic import AfterValidator, BaseModel, Field, ValidationInfo, field_validator
from pydantic.json_schema import JsonDict

from codeforge.catalog.base import Operation, Permission, ProjectInput, declare

__all__ = [
    "ADD",
    "DELETE_RECORD",
    "LIST",
    "RECORDS",
    "REMOVE",
    "SET_RECORD",
    "SHOW",
    "VERIFY",
    "RecordType",
    "VerifyMethod",
    "normalize_hostname",
    "normalize_record_name",
    "normalize_values",
]

MIN_TTL = 30
MAX_TTL = 604_800  # a week
_LDH = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")
_LDH_UNDERSCORE = re.compile(r"^(?!-)[a-z0-9_-]{1,63}(?<!-)$")
DOMAIN_VALUES: JsonDict = {"x-codeforge-values": "domains.list#domain"}


class VerifyMethod(StrEnum):
    TXT = "txt"  # _codeforge-challenge.<domain> TXT <token>, looked up in DNS
    HTTP = "http"  # http://<domain>/.well-known/codeforge-verify/<token> answers the token


class RecordType(StrEnum):
    A = "A"
    AAAA = "AAAA"
    CNAME = "CNAME"
    TXT = "TXT"
    MX = "MX"


# -- names and values -----------------------------------------------------------------------------


def _labels(text: str, *, underscore: bool, wildcard: bool = False) -> list[str]:
    """The ASCII (punycode) labels of a host name typed in any form, or ValueError saying why."""
    name = text.strip().rstrip(".")
    if not name:
        raise ValueError("is empty")
    if any(c.isspace() for c in name) or "/" in name or ":" in name or "@" in name:
        raise ValueError("is not a host name: no spaces, '/', ':' or '@' (give the name alone, e.g. shop.example.com)")
    try:
        ascii_name = name.lower() if name.isascii() else idna.encode(name, uts46=True).decode()
    except idna.IDNAError as exc:
        raise ValueError(f"is not a valid internationalized name ({exc})") from None
    labels = ascii_name.split(".")
    pattern = _LDH_UNDERSCORE if underscore else _LDH
    for i, label in enumerate(labels):
        if wildcard and i == 0 and label == "*":
            continue  # a wildcard record (*.example.com, *.www)
        if not label:
            raise ValueError("has an empty label ('..')")
        if len(label) > 63:
            raise ValueError(f"has a label longer than 63 characters ({label[:20]}…)")
        if label.startswith("xn--"):
            try:
                idna.decode(label)
            except (idna.IDNAError, UnicodeError):
                raise ValueError(
                    f"has a label {label!r} that is not a valid internationalized name (punycode)"
                ) from None
        if not pattern.match(label):
            allowed = "letters, digits, '-' and '_'" if underscore else "letters, digits and '-'"
            raise ValueError(
                f"has a label {label!r} with characters other than {allowed} (or starting/ending with '-')"
            )
    if len(ascii_name) > 253:
        raise ValueError("is longer than 253 characters")
    return labels


def normalize_hostname(text: str) -> str:
    """A domain as stored and answered: lower case, punycode for non-ASCII labels, no final dot.
    ValueError (a message for a person) when it is not a registrable-looking host name."""
    labels = _labels(text, underscore=False)
    if len(labels) < 2:
        raise ValueError("needs at least two labels (e.g. example.com): a top-level domain alone cannot be added")
    if labels[-1].isdigit():
        raise ValueError("is an IP address or ends in a number; give a host name")
    return ".".join(labels)


def normalize_record_name(text: str) -> str:
    """A record's name relative to its domain: '@' for the apex, else labels (with '_' allowed,
    for _dmarc and _acme-challenge, and '*' first for a wildcard), lower case and punycode."""
    name = text.strip()
    if name in ("@", ""):
        return "@"
    if name.endswith("."):
        raise ValueError("is relative to the domain: give 'www', not 'www.example.com.' ('@' for the domain itself)")
    return ".".join(_labels(name, underscore=True, wildcard=True))


def _host_value(text: str) -> str:
    labels = _labels(text, underscore=True)
    return ".".join(labels)


def _txt_value(text: str) -> str:
    if not text:
        raise ValueError("is empty")
    if len(text.encode()) > 2048:
        raise ValueError("is longer than 2048 bytes")
    if any(ord(c) < 32 and c != "\t" for c in text):
        raise ValueError("holds control characters")
    return text


def normalize_value(rtype: RecordType, text: str) -> str:
    """One value of a record of type `rtype`, normalized, or ValueError saying the form wanted."""
    value = text.strip() if rtype is not RecordType.TXT else text
    if rtype is RecordType.A:
        try:
            return str(ipaddress.IPv4Address(value))
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv4 address (e.g. 192.0.2.10)") from None
    if rtype is RecordType.AAAA:
        try:
            return str(ipaddress.IPv6Address(value))
        except ValueError:
            raise ValueError(f"{value!r} is not an IPv6 address (e.g. 2001:db8::10)") from None
    if rtype is RecordType.CNAME:
        try:
            return _host_value(value)
        except ValueError as exc:
            raise ValueError(f"the target host name {exc}") from None
    if rtype is RecordType.MX:
        parts = value.split()
        if len(parts) != 2 or not parts[0].isdigit() or int(parts[0]) > 65535:
            raise ValueError(f"{value!r} is not 'PRIORITY HOST' (e.g. '10 mail.example.com', priority 0-65535)")
        try:
            return f"{int(parts[0])} {_host_value(parts[1])}"
        except ValueError as exc:
            raise ValueError(f"the mail host name {exc}") from None
    return _txt_value(value)


def normalize_values(rtype: RecordType, values: list[str]) -> list[str]:
    out: list[str] = []
    for i, value in enumerate(values):
        try:
            normalized = normalize_value(rtype, value)
        except ValueError as exc:
            raise ValueError(f"value {i + 1}: {exc}") from None
        if normalized not in out:
            out.append(normalized)
    if rtype is RecordType.CNAME and len(out) > 1:
        raise ValueError("a CNAME record has exactly one value (the host name it points to)")
    return out


def _domain(value: str) -> str:
    return normalize_hostname(value)


def _record_name(value: str) -> str:
    return normalize_record_name(value)


Domain = Annotated[str, AfterValidator(_domain)]
RecordName = Annotated[str, AfterValidator(_record_name)]


# -- inputs ---------------------------------------------------------------------------------------


class DomainInput(ProjectInput):
    domain: Domain = Field(
        max_length=300,
        description="The domain, e.g. shop.example.com (non-ASCII names are stored in punycode).",
        json_schema_extra=DOMAIN_VALUES,
    )


class AddInput(ProjectInput):
    domain: Domain = Field(
        max_length=300,
        description="The domain to add, e.g. shop.example.com (non-ASCII names are stored in punycode).",
    )


class ListInput(ProjectInput):
    pass


class VerifyInput(DomainInput):
    method: VerifyMethod = Field(
        default=VerifyMethod.TXT,
        description="txt: a TXT record _codeforge-challenge.<domain> holding the token; "
        "http: http://<domain>/.well-known/codeforge-verify/<token> answering the token.",
    )


class RemoveInput(DomainInput):
    force: bool = Field(
        default=False,
        description="Remove it even when its records cannot be deleted from the DNS server (they stay there).",
    )


class RecordKey(DomainInput):
    name: RecordName = Field(
        default="@",
        max_length=300,
        description="Record name relative to the domain: '@' for the domain itself, 'www' for www.<domain>.",
    )
    type: RecordType = Field(description="A, AAAA, CNAME, TXT or MX.")


class SetRecordInput(RecordKey):
    values: list[str] = Field(
        min_length=1,
        max_length=50,
        description="The values: IPv4 addresses (A), IPv6 addresses (AAAA), one host name (CNAME), "
        "texts (TXT) or 'PRIORITY HOST' (MX, e.g. '10 mail.example.com').",
    )
    ttl: int = Field(default=300, ge=MIN_TTL, le=MAX_TTL, description=f"Time to live in seconds ({MIN_TTL}-{MAX_TTL}).")

    @field_validator("values")
    @classmethod
    def _values_of_type(cls, values: list[str], info: ValidationInfo) -> list[str]:
        rtype = info.data.get("type")
        return normalize_values(rtype, values) if isinstance(rtype, RecordType) else values


class DeleteRecordInput(RecordKey):
    pass


# -- outputs --------------------------------------------------------------------------------------


class Challenge(BaseModel):
    method: str
    name: str = Field(description="Where the proof goes: the TXT record's name, or the URL.")
    value: str = Field(description="What it must hold: the token.")
    instructions: str


class DomainInfo(BaseModel):
    domain: str = Field(description="As stored: lower case, punycode.")
    unicode: str = Field(description="The same name as people read it.")
    project: str
    verified: bool
    verified_at: datetime | None
    method: str | None = Field(description="How it was verified (txt or http), None while it is not.")
    token: str = Field(description="The verification token (not a secret: it is published to prove ownership).")
    challenges: list[Challenge] = Field(description="How to verify it, one way per method.")
    managed: bool = Field(description="Its zone is served by this platform's DNS server: records are managed here.")
    zone: str | None = Field(default=None, description="The zone on this platform's DNS server that holds it.")
    records: int = Field(default=0, description="How many record sets the platform keeps for it.")
    notes: list[str] = Field(default_factory=list)
    created_at: datetime
    created_by: str


class DomainList(BaseModel):
    items: list[DomainInfo]


class DomainRemoved(BaseModel):
    domain: str
    records_deleted: int
    notes: list[str] = Field(default_factory=list)


class RecordInfo(BaseModel):
    domain: str
    name: str = Field(description="Relative to the domain ('@': the domain itself).")
    fqdn: str
    type: str
    values: list[str]
    ttl: int
    served: list[str] | None = Field(
        default=None, description="What the DNS server answers now (None when it could not be asked)."
    )
    updated_at: datetime | None = None
    updated_by: str = ""


class RecordList(BaseModel):
    domain: str
    items: list[RecordInfo]
    notes: list[str] = Field(default_factory=list)


class RecordDeleted(BaseModel):
    domain: str
    name: str
    type: str


# -- operations -----------------------------------------------------------------------------------

ADD = declare(
    Operation(
        name="domains.add",
        title="Add a domain",
        input=AddInput,
        output=DomainInfo,
        permission=Permission.EDIT,
        target="{project}/{domain}",
    )
)
LIST = declare(
    Operation(
        name="domains.list",
        title="List domains",
        input=ListInput,
        output=DomainList,
        permission=Permission.VIEW,
        target="{project}",
    )
)
SHOW = declare(
    Operation(
        name="domains.show",
        title="Show a domain",
        input=DomainInput,
        output=DomainInfo,
        permission=Permission.VIEW,
        target="{project}/{domain}",
    )
)
VERIFY = declare(
    Operation(
        name="domains.verify",
        title="Verify a domain's ownership",
        input=VerifyInput,
        output=DomainInfo,
        permission=Permission.EDIT,
        target="{project}/{domain}",
    )
)
REMOVE = declare(
    Operation(
        name="domains.remove",
        title="Remove a domain",
        input=RemoveInput,
        output=DomainRemoved,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{domain}",
    )
)
RECORDS = declare(
    Operation(
        name="domains.records",
        title="List a domain's DNS records",
        input=DomainInput,
        output=RecordList,
        permission=Permission.VIEW,
        target="{project}/{domain}",
    )
)
SET_RECORD = declare(
    Operation(
        name="domains.set_record",
        title="Set a DNS record",
        input=SetRecordInput,
        output=RecordInfo,
        permission=Permission.EDIT,
        target="{project}/{domain}/{name} {type}",
    )
)
DELETE_RECORD = declare(
    Operation(
        name="domains.delete_record",
        title="Delete a DNS record",
        input=DeleteRecordInput,
        output=RecordDeleted,
        permission=Permission.EDIT,
        destructive=True,
        target="{project}/{domain}/{name} {type}",
    )
)
