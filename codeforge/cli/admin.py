"""`codeforge admin`: operator commands that act on the platform's own database, like a
framework's `createsuperuser`. They run where `codeforge serve` runs, with its settings."""

from __future__ import annotations

from typing import Annotated

import typer

from codeforge.catalog.errors import CodeForgeError
from codeforge.cli.render import console, show_error

__all__ = ["admin_app"]

admin_app = typer.Typer(help="Operator commands on the platform database (run beside `codeforge serve`).")


@admin_app.command("create-org")
def create_org(
    slug: Annotated[str, typer.Argument(help="Organization slug.")],
    owner: Annotated[str, typer.Option(help="Username of its first owner.")],
    project: Annotated[str, typer.Option(help="A first project to create.")] = "",
) -> None:
    """Create an organization with its first owner, and print the owner's API token once."""
    import re

    from codeforge.catalog.projects import SLUG_PATTERN
    from codeforge.platform.auth.models import Project
    from codeforge.platform.auth.service import create_organization
    from codeforge.platform.auth.tokens import issue_token
    from codeforge.platform.db import Database
    from codeforge.platform.registry import load_models
    from codeforge.platform.settings import Settings

    for value, what in ((slug, "organization slug"), (project or "x", "project slug")):
        if not re.match(SLUG_PATTERN, value):
            show_error(
                CodeForgeError(f"{value!r} is not a valid {what}", fix="use lower-case letters, digits and dashes")
            )
            raise typer.Exit(2)
    load_models()
    db = Database(Settings().resolved_database_url)
    try:
        db.migrate()
        with db.session() as session:
            org, user = create_organization(session, slug, owner)
            if project:
                session.add(Project(org_id=org.id, slug=project, name=project))
            _, raw = issue_token(session, user, "created by codeforge admin", 90)
    except CodeForgeError as err:
        show_error(err)
        raise typer.Exit(1) from None
    finally:
        db.dispose()
    console.print(f"Organization [bold]{slug}[/] with owner [bold]{owner}[/]. Their token (shown once, 90 days):")
    console.print(raw, soft_wrap=True)
