"""codeforge.yaml's `domains:` section: the host names a project wants, by name.

```yaml
domains:
  shop.example.com:            # nothing under it: verified by a TXT record
  bücher.example.com: http     # shorthand for {verify: http}
  example.com:
    verify: txt
    records:
      - {name: www, type: A, values: [192.0.2.10]}
```

Names are checked as `domains.add` checks them (`codeforge.catalog.domains.normalize_hostname`:
Unicode names are punycode on the platform; a name the platform would refuse is an error at
its key). The language server compares the section with `domains.list`
(codeforge/lsp/capabilities/domains.py); this module is only the schema.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, field_validator
from pydantic_core import PydanticCustomError

from codeforge.catalog.domains import (
    MAX_TTL,
    MIN_TTL,
    RecordType,
    VerifyMethod,
    normalize_hostname,
    normalize_record_name,
    normalize_values,
)

__all__ = ["DomainEntry", "DomainName", "DomainRecord", "DomainsSection", "hostname_of"]


class DomainRecord(BaseModel):
    """A record set the platform keeps on its DNS server once the domain is verified."""

    model_config = ConfigDict(extra="forbid", title="DNS record")

    name: str = Field(
        default="@", max_length=300, description="Relative to the domain: '@' for the domain itself, 'www', '_dmarc'."
    )
    type: RecordType = Field(description="A, AAAA, CNAME, TXT or MX.")
    values: list[str] = Field(
        min_length=1,
        max_length=50,
        description="IPv4 (A), IPv6 (AAAA), one host name (CNAME), texts (TXT), 'PRIORITY HOST' (MX).",
    )
    ttl: int = Field(default=300, ge=MIN_TTL, le=MAX_TTL, description=f"Seconds ({MIN_TTL}-{MAX_TTL}).")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return normalize_record_name(value)
        except ValueError as exc:
            raise ValueError(f"the record name {value!r} {exc}: give it relative to the domain") from None

    @field_validator("values")
    @classmethod
    def _values(cls, values: list[str], info: Any) -> list[str]:
        rtype = info.data.get("type")
        if not isinstance(rtype, RecordType):
            return values
        try:
            return normalize_values(rtype, [str(v) for v in values])
        except ValueError as exc:
            raise ValueError(f"{exc}: correct the value") from None


class DomainEntry(BaseModel):
    """One domain the project wants."""

    model_config = ConfigDict(extra="forbid", title="Domain")

    verify: VerifyMethod = Field(
        default=VerifyMethod.TXT,
        description="How ownership is proved: txt (a TXT record `_codeforge-challenge.<domain>` holding the "
        "token) or http (`http://<domain>/.well-known/codeforge-verify/<token>` answering it).",
    )
    records: list[DomainRecord] = Field(
        default_factory=list,
        max_length=100,
        description="DNS records the platform keeps for it (set once the domain is verified).",
    )


def _check_domain(name: str) -> str:
    try:
        normalize_hostname(name)
    except ValueError as exc:
        raise PydanticCustomError(
            "value_error",
            "`{name}` {problem}: give a host name such as shop.example.com",
            {"name": name, "problem": str(exc)},
        ) from None
    return name


def hostname_of(name: str) -> str:
    """The name as the platform stores it (lower case, punycode, no final dot)."""
    return normalize_hostname(name)


def _entry_from_shorthand(value: Any) -> Any:
    # `shop.example.com:` alone takes every default; `shop.example.com: http` names the method.
    if value is None:
        return {}
    if isinstance(value, str):
        return {"verify": value}
    return value


def _no_two_spellings(section: dict[str, DomainEntry]) -> dict[str, DomainEntry]:
    seen: dict[str, str] = {}
    for name in section:
        stored = hostname_of(name)
        if stored in seen:
            raise ValueError(f"`{name}` and `{seen[stored]}` are the same domain ({stored}): keep one of them")
        seen[stored] = name
    return section


def _section_from_none(value: Any) -> Any:
    return {} if value is None else value


DomainName = Annotated[str, AfterValidator(_check_domain)]
DomainField = Annotated[DomainEntry, BeforeValidator(_entry_from_shorthand, json_schema_input_type=DomainEntry)]
DomainsSection = Annotated[
    dict[DomainName, DomainField],
    BeforeValidator(_section_from_none),
    AfterValidator(_no_two_spellings),
    # Editors offer the project's domains (domains.list's items' `unicode` name) as keys.
    Field(json_schema_extra={"x-codeforge-keys": "domains.list#unicode"}),
]
