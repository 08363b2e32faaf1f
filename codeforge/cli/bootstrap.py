"""`codeforge up` for a folder, once its platform has started: the first owner on first start,
the folder's project, and a working token saved where the CLI and editors find it.

This is the CLI's part of `up`, run in its process after the platform's lifespan started;
`codeforge serve` never writes client credentials."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from codeforge.catalog import Role
from codeforge.catalog.errors import Unauthenticated
from codeforge.config import ClientConfig, load_client_config, save_credentials
from codeforge.platform.auth.models import Organization, Project, User
from codeforge.platform.auth.service import create_organization
from codeforge.platform.auth.tokens import authenticate, issue_token

if TYPE_CHECKING:
    from codeforge.platform.core import Platform

__all__ = ["ORG", "OWNER", "bootstrap"]

log = logging.getLogger("codeforge.bootstrap")
ORG = "default"
OWNER = "owner"


def _token_works(session: Session, raw: str) -> bool:
    try:
        authenticate(session, raw, "bootstrap")
    except Unauthenticated:
        return False
    return True


def bootstrap(platform: Platform, project: str, username: str = OWNER) -> Path:
    """Make sure organization `default` has an owner and `project`, and that the saved token
    works (a new one otherwise); returns where the credentials were saved."""
    saved = load_client_config()
    with platform.db.session() as session:
        org = session.scalar(select(Organization).where(Organization.slug == ORG))
        if org is None:
            org, owner = create_organization(session, ORG, username)
            log.info("created the first organization and owner", extra={"owner": owner.username})
        else:
            first_owner = session.scalars(
                select(User).where(User.org_id == org.id, User.role == Role.OWNER.value).order_by(User.created_at)
            ).first()
            if first_owner is None:
                raise RuntimeError(f"organization {ORG!r} has no owner; restore one before `codeforge up`")
            owner = first_owner
        if session.scalar(select(Project).where(Project.org_id == org.id, Project.slug == project)) is None:
            session.add(Project(org_id=org.id, slug=project, name=project))
        token = saved.token
        if not token or not _token_works(session, token):
            _, token = issue_token(session, owner, "codeforge up", None)
            log.info("issued an owner token for this machine", extra={"owner": owner.username})
    path = save_credentials(
        ClientConfig(
            url=platform.settings.resolved_public_url,
            token=token,
            project=project,
            username=owner.username,
            organization=ORG,
        )
    )
    log.info("credentials saved", extra={"path": str(path), "project": project})
    return path
