"""Opening panes: a signed, short-lived link per user and project, and rendering it."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from codeforge import catalog
from codeforge.catalog import Permission
from codeforge.catalog.errors import BadInput, CodeForgeError, FieldProblem, NotFound, PermissionDenied, Unauthenticated
from codeforge.platform.auth.service import find_project
from codeforge.platform.auth.tokens import actor_of
from codeforge.platform.context import Context
from codeforge.platform.db import utcnow
from codeforge.platform.panes.registry import PANES
from codeforge.platform.panes.render import render_html, render_text
from codeforge.platform.registry import implements

if TYPE_CHECKING:
    from codeforge.platform.core import Platform

__all__ = ["Page", "render_page"]

LINK_TTL = timedelta(minutes=30)


@dataclass(frozen=True)
class Page:
    body: str
    media_type: str
    status: int = 200


@implements(catalog.panes.OPEN)
def open_pane(ctx: Context, data: catalog.panes.PaneOpenInput) -> catalog.panes.PaneLink:
    found = PANES.get(data.pane)
    if found is None:
        raise NotFound(f"there is no pane {data.pane!r}", fix=f"use one of: {', '.join(sorted(PANES))}")
    payload = {"t": ctx.actor.token_id, "p": ctx.require_project().slug, "n": data.pane}
    title = f"{found.title} — {data.project}"
    if found.item:
        if not data.item and not found.item_optional:
            raise BadInput(
                f"pane {data.pane!r} shows one {found.item}: say which",
                errors=[FieldProblem("item", "missing", f"give the id of the {found.item} to show")],
            )
        found.content(ctx, data.item or "")  # an unknown item is refused now, not when the link is opened
        payload["i"] = data.item or ""
        if data.item:
            title = f"{found.title} {data.item} — {data.project}"
    elif data.item:
        raise BadInput(
            f"pane {data.pane!r} shows the whole project and takes no item",
            errors=[FieldProblem("item", "not taken by this pane", "leave item out")],
        )
    signed = ctx.cipher.encrypt(json.dumps(payload))
    return catalog.panes.PaneLink(
        title=title,
        url=f"{ctx.settings.resolved_public_url}/panes/{data.pane}?t={signed}",
        expires_at=utcnow() + LINK_TTL,
    )


def _error_page(err: CodeForgeError, fmt: str) -> Page:
    if fmt == "text":
        return Page(err.message, "text/plain; charset=utf-8", err.status)
    from html import escape

    body = (
        f"<!doctype html><meta charset=utf-8><title>{escape(err.title)}</title>"
        f"<body style='font:15px system-ui;margin:40px'><h1>{escape(err.title)}</h1>"
        f"<p>{escape(err.detail)}</p><p><b>What to do:</b> {escape(err.fix)}</p>"
    )
    return Page(body, "text/html; charset=utf-8", err.status)


def render_page(platform: Platform, name: str, signed: str, fmt: str, source: str) -> Page:
    """The page behind a signed link; expired or revoked links explain how to get a new one."""
    reopen = "open the pane again from the editor (CodeForge: Open a pane) for a fresh link"
    try:
        try:
            payload = json.loads(platform.cipher.decrypt(signed, ttl=int(LINK_TTL.total_seconds())))
        except (CodeForgeError, ValueError):
            raise Unauthenticated("this pane link has expired or is not valid", fix=reopen) from None
        if payload.get("n") != name or name not in PANES:
            raise NotFound(f"this link is not for pane {name!r}", fix=reopen)
        with platform.db.session() as session:
            actor = actor_of(session, payload["t"], source)
            if actor is None:
                raise Unauthenticated("the token behind this link no longer exists", fix=reopen)
            if not actor.can(Permission.VIEW):
                raise PermissionDenied("your role cannot view panes", fix="ask an admin for the viewer role")
            ctx = Context(session=session, actor=actor, settings=platform.settings, cipher=platform.cipher)
            ctx.project = find_project(session, actor.org_id, payload["p"])
            content = PANES[name].content(ctx, payload.get("i"))
    except CodeForgeError as err:
        return _error_page(err, fmt)
    if fmt == "text":
        return Page(render_text(content), "text/plain; charset=utf-8")
    return Page(render_html(content), "text/html; charset=utf-8")
