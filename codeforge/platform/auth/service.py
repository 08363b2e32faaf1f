"""The organization's projects, members and API tokens."""

from __future__ import annotations

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from codeforge import catalog
from codeforge.catalog import Permission, Role
from codeforge.catalog.errors import Conflict, NotFound, PermissionDenied
from codeforge.platform.auth.models import ApiToken, Organization, Project, User
from codeforge.platform.auth.tokens import issue_token
from codeforge.platform.context import Context
from codeforge.platform.db import utcnow
from codeforge.platform.registry import implements

__all__ = ["create_organization", "find_project"]


def create_organization(session: Session, slug: str, owner: str) -> tuple[Organization, User]:
    """A new organization with its first owner (used by bootstrap and admin tooling)."""
    if session.scalar(select(Organization).where(Organization.slug == slug)):
        raise Conflict(f"organization {slug!r} exists already", fix="pick another slug")
    _ensure_username_free(session, owner)
    org = Organization(slug=slug)
    session.add(org)
    session.flush()
    user = User(org_id=org.id, username=owner, role=Role.OWNER.value)
    session.add(user)
    session.flush()
    return org, user


# Built once: every project-scoped request looks its project up, and building the expression
# cost more than running it.
_PROJECT = select(Project).where(Project.org_id == bindparam("org_id"), Project.slug == bindparam("slug"))


def find_project(session: Session, org_id: str, slug: str) -> Project:
    project = session.scalar(_PROJECT, {"org_id": org_id, "slug": slug})
    if project is None:
        # The same answer whether the project is elsewhere or nowhere: no probing other orgs.
        raise NotFound(
            f"project {slug!r} does not exist in your organization",
            fix="check codeforge.yaml's `project:` or list projects with `codeforge projects list`",
        )
    return project


def _ensure_username_free(session: Session, username: str) -> None:
    if session.scalar(select(User).where(User.username == username)):
        raise Conflict(f"username {username!r} is taken", fix="pick another username")


# viewer < developer < admin < owner: nobody acts on a member above them or grants more than they hold.
_RANK = {role: rank for rank, role in enumerate(Role)}


def _outranks(actor_role: Role, role: Role | str) -> bool:
    """Whether `role` is above the actor's own."""
    return _RANK[Role(role)] > _RANK[actor_role]


def _reachable_roles(ctx: Context) -> list[str]:
    """The roles whose members' tokens a manager may see and revoke: up to their own."""
    return [r.value for r in Role if not _outranks(ctx.actor.role, r)]


def _member(ctx: Context, username: str) -> User:
    user = ctx.session.scalar(select(User).where(User.org_id == ctx.actor.org_id, User.username == username))
    if user is None:
        raise NotFound(f"no member {username!r} in your organization", fix="list members with `codeforge members list`")
    return user


def _project_out(p: Project) -> catalog.projects.Project:
    return catalog.projects.Project(slug=p.slug, name=p.name, created_at=p.created_at)


def _member_out(u: User) -> catalog.members.Member:
    return catalog.members.Member(username=u.username, role=Role(u.role), created_at=u.created_at)


def _token_out(t: ApiToken) -> catalog.tokens.Token:
    return catalog.tokens.Token(
        id=t.id,
        name=t.name,
        username=t.user.username,
        prefix=t.prefix,
        created_at=t.created_at,
        expires_at=t.expires_at,
        revoked=t.revoked_at is not None,
        last_used_at=t.last_used_at,
    )


@implements(catalog.auth.WHOAMI)
def whoami(ctx: Context, data: catalog.Empty) -> catalog.auth.WhoAmI:
    return catalog.auth.WhoAmI(
        username=ctx.actor.username,
        role=ctx.actor.role,
        organization=ctx.actor.org_slug,
        token_name=ctx.actor.token_name,
        permissions=sorted(p.value for p in ctx.actor.permissions),
    )


@implements(catalog.projects.CREATE)
def create_project(ctx: Context, data: catalog.projects.ProjectCreateInput) -> catalog.projects.Project:
    exists = ctx.session.scalar(select(Project).where(Project.org_id == ctx.actor.org_id, Project.slug == data.slug))
    if exists:
        raise Conflict(f"project {data.slug!r} exists already", fix="pick another slug, or use the existing project")
    project = Project(org_id=ctx.actor.org_id, slug=data.slug, name=data.name or data.slug)
    ctx.session.add(project)
    ctx.session.flush()
    return _project_out(project)


@implements(catalog.projects.LIST)
def list_projects(ctx: Context, data: catalog.Empty) -> catalog.projects.ProjectList:
    rows = ctx.session.scalars(select(Project).where(Project.org_id == ctx.actor.org_id).order_by(Project.slug))
    return catalog.projects.ProjectList(items=[_project_out(p) for p in rows])


@implements(catalog.projects.DELETE)
def delete_project(ctx: Context, data: catalog.projects.ProjectSlugInput) -> catalog.projects.Project:
    project = find_project(ctx.session, ctx.actor.org_id, data.slug)
    out = _project_out(project)
    ctx.session.delete(project)
    return out


@implements(catalog.members.ADD)
def add_member(ctx: Context, data: catalog.members.MemberAddInput) -> catalog.members.Member:
    if _outranks(ctx.actor.role, data.role):
        raise PermissionDenied(
            f"your role {ctx.actor.role.value!r} cannot add a member with the higher role {data.role.value!r}",
            fix=f"choose role {ctx.actor.role.value!r} or lower, or ask an owner",
        )
    _ensure_username_free(ctx.session, data.username)
    user = User(org_id=ctx.actor.org_id, username=data.username, role=data.role.value)
    ctx.session.add(user)
    ctx.session.flush()
    return _member_out(user)


@implements(catalog.members.LIST)
def list_members(ctx: Context, data: catalog.Empty) -> catalog.members.MemberList:
    rows = ctx.session.scalars(select(User).where(User.org_id == ctx.actor.org_id).order_by(User.username))
    return catalog.members.MemberList(items=[_member_out(u) for u in rows])


@implements(catalog.members.SET_ROLE)
def set_role(ctx: Context, data: catalog.members.MemberSetRoleInput) -> catalog.members.Member:
    user = _member(ctx, data.username)
    if _outranks(ctx.actor.role, user.role):
        raise PermissionDenied(
            f"{user.username!r} has the role {user.role!r}, above your {ctx.actor.role.value!r}: "
            "only an owner changes an owner's role",
            fix="ask an owner",
        )
    if _outranks(ctx.actor.role, data.role):
        raise PermissionDenied(
            f"your role {ctx.actor.role.value!r} cannot grant the higher role {data.role.value!r}: "
            "only an owner grants ownership",
            fix=f"choose role {ctx.actor.role.value!r} or lower, or ask an owner",
        )
    if Role(user.role) == Role.OWNER and data.role != Role.OWNER:
        owners = ctx.session.scalars(
            select(User).where(User.org_id == ctx.actor.org_id, User.role == Role.OWNER.value)
        ).all()
        if len(owners) == 1:
            raise Conflict("this is the organization's last owner", fix="make someone else owner first")
    user.role = data.role.value
    return _member_out(user)


@implements(catalog.tokens.CREATE)
def create_token(ctx: Context, data: catalog.tokens.TokenCreateInput) -> catalog.tokens.TokenCreated:
    user = ctx.session.get(User, ctx.actor.user_id)
    if data.username and data.username != ctx.actor.username:
        # Acting for someone else is an admin action (audited with the member as its target),
        # and a token for a higher role would hand the caller that role.
        if not ctx.actor.can(Permission.MANAGE):
            raise PermissionDenied(
                "you can create tokens only for yourself", fix="leave `username` empty, or ask an admin"
            )
        user = _member(ctx, data.username)
        if _outranks(ctx.actor.role, user.role):
            raise PermissionDenied(
                f"{user.username!r} has the role {user.role!r}, above your {ctx.actor.role.value!r}: "
                "a token for them would act with more rights than yours",
                fix=f"ask {user.username!r} to create the token, or ask an owner",
            )
    assert user is not None
    token, raw = issue_token(ctx.session, user, data.name, data.expires_in_days)
    return catalog.tokens.TokenCreated(id=token.id, name=token.name, token=raw, expires_at=token.expires_at)


def _visible_tokens(ctx: Context) -> list[ApiToken]:
    query = select(ApiToken).join(User).where(User.org_id == ctx.actor.org_id)
    if ctx.actor.can(Permission.MANAGE):
        query = query.where(or_(ApiToken.user_id == ctx.actor.user_id, User.role.in_(_reachable_roles(ctx))))
    else:
        query = query.where(ApiToken.user_id == ctx.actor.user_id)
    return list(ctx.session.scalars(query.order_by(ApiToken.created_at)))


@implements(catalog.tokens.LIST)
def list_tokens(ctx: Context, data: catalog.Empty) -> catalog.tokens.TokenList:
    return catalog.tokens.TokenList(items=[_token_out(t) for t in _visible_tokens(ctx)])


@implements(catalog.tokens.REVOKE)
def revoke_token(ctx: Context, data: catalog.tokens.TokenRevokeInput) -> catalog.tokens.Token:
    token = next((t for t in _visible_tokens(ctx) if t.id == data.id), None)
    if token is None:
        raise NotFound(f"no token {data.id!r} that you can revoke", fix="list tokens with `codeforge tokens list`")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
    return _token_out(token)
