"""Who owns a host name (docs/edge.md, "The Python APIs between them"): other capabilities ask
`owned_domain` before they issue a certificate for a name or route it at the edge."""

from __future__ import annotations

import idna
from sqlalchemy import select
from sqlalchemy.orm import Session

from codeforge.platform.domains.models import DomainRow

__all__ = ["covering_names", "owned_domain"]


def covering_names(hostname: str) -> list[str]:
    """`hostname` and every parent of it with at least two labels, longest first:
    a.shop.example.com → [a.shop.example.com, shop.example.com, example.com]."""
    labels = hostname.strip().lower().rstrip(".").split(".")
    return [".".join(labels[i:]) for i in range(len(labels) - 1)] if len(labels) > 1 else []


def owned_domain(session: Session, project_id: str, hostname: str) -> DomainRow | None:
    """The verified domain of this project that `hostname` is, or is under (the closest one),
    or None. `hostname` may be given in Unicode or punycode, with or without the final dot."""
    text = hostname.strip().rstrip(".")
    try:  # a wildcard or an underscore label (_acme-challenge.x) is under its domain too
        name = (
            text.lower()
            if text.isascii()
            else ".".join(idna.encode(label, uts46=True).decode() for label in text.split("."))
        )
    except idna.IDNAError:
        return None
    names = covering_names(name)
    if not names:
        return None
    rows = session.scalars(
        select(DomainRow).where(
            DomainRow.project_id == project_id, DomainRow.owner_name.in_(names), DomainRow.verified_at.is_not(None)
        )
    ).all()
    return max(rows, key=lambda r: len(r.name)) if rows else None
