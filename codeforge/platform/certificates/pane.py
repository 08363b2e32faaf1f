"""The `certificates` pane: a project's certificates with their names, issuer, expiry (days
left, drawn as bars), state and the last renewal error. Never a private key."""

from __future__ import annotations

from sqlalchemy import select

from codeforge.catalog.errors import scrub_secrets
from codeforge.platform.certificates.access import certificate_info
from codeforge.platform.certificates.models import Certificate
from codeforge.platform.certificates.settings import acme_settings
from codeforge.platform.context import Context
from codeforge.platform.panes.content import Bars, PaneContent, Section, Table
from codeforge.platform.panes.registry import pane

__all__ = ["certificates_pane"]

_COLORS = {"valid": "#2e7d32", "expiring": "#f9a825", "renewing": "#1565c0", "failed": "#c62828", "expired": "#6d0000"}


@pane("certificates", "Certificates")
def certificates_pane(ctx: Context) -> PaneContent:
    project = ctx.require_project()
    rows = ctx.session.scalars(
        select(Certificate).where(Certificate.project_id == project.id).order_by(Certificate.not_after)
    )
    infos = [certificate_info(r, project.slug) for r in rows]
    settings = acme_settings()
    sections: list[Section] = [
        Table(
            "Certificates (soonest expiry first)",
            ["certificate", "names", "state", "issuer", "expires (UTC)", "days left", "renews from", "challenge"],
            [
                [
                    i.name,
                    ", ".join(i.names),
                    i.state,
                    i.issuer,
                    f"{i.not_after:%Y-%m-%d %H:%M}",
                    str(i.days_left),
                    f"{i.renew_after:%Y-%m-%d}",
                    i.challenge,
                ]
                for i in infos
            ],
            empty="no certificates yet: CodeForge: Issue a TLS certificate",
        ),
        Bars(
            "Days left",
            [(i.name, float(max(i.days_left, 0)), f"{i.days_left} d ({i.state})") for i in infos],
            empty="no certificates yet",
            colors={i.name: _COLORS.get(i.state, "#1565c0") for i in infos},
        ),
        Table(
            "Renewal problems",
            ["certificate", "failures in a row", "last error"],
            [[i.name, str(i.renewal_failures), scrub_secrets(i.renewal_error)] for i in infos if i.renewal_failures],
            empty="none: every renewal so far succeeded",
        ),
    ]
    expiring = sum(1 for i in infos if i.state in ("expiring", "failed", "expired"))
    subtitle = (
        f"{len(infos)} certificate(s) · {expiring} need attention · renewed {settings.renew_days:g} days "
        f"before expiry · CA {settings.directory_url}"
    )
    return PaneContent(title=f"Certificates of {project.slug}", subtitle=subtitle, sections=sections)
