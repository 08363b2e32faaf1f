"""`codeforge up` for a folder: the first owner on first start, the folder's project, and a
working token saved where the CLI and editors find it."""

from __future__ import annotations

import logging
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

__all__ = ["bootstrap"]

log = logging.getLogger("codeforge.bootstrap")
ORG = "default"


def _token_works(session: Session, raw: str) -> bool:
    try:
        authenticate(session, raw, "bootstrap")
    except Unauthenticated:
        return False
    return True


def bootstrap(platform: Platform) -> None:
    s = platform.settings
    saved = load_client_config()
    with platform.db.session() as session:
        org = session.scalar(select(Organization).where(Organization.slug == ORG))
        if org is None:
            org, owner = create_organization(session, ORG, s.bootstrap_username)
            log.info("created the first organization and owner", extra={"owner": owner.username})
        else:
            first_owner = session.scalars(
                select(User).where(User.org_id == org.id, User.role == Role.OWNER.value).order_by(User.created_at)
            ).first()
            if first_owner is None:
                raise RuntimeError(f"organization {ORG!r} has no owner; restore one before `codeforge up`")
            owner = first_owner
        project = session.scalar(select(Project).where(Project.org_id == org.id, Project.slug == s.bootstrap_project))
        if project is None:
            session.add(Project(org_id=org.id, slug=s.bootstrap_project, name=s.bootstrap_project))
        token = saved.token
        if not token or not _token_works(session, token):
            _, token = issue_token(session, owner, "codeforge up", None)
            log.info("issued an owner token for this machine", extra={"owner": owner.username})
    path = save_credentials(
        ClientConfig(
            url=s.resolved_public_url,
            token=token,
            project=s.bootstrap_project,
            username=owner.username,
            organization=ORG,
        )
    )
    log.info("credentials saved", extra={"path": str(path), "project": s.bootstrap_project})
