"""Panes: signed links, rendered as HTML and text, refused when expired, revoked or foreign."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

from sqlalchemy import update

from codeforge.platform.auth.models import ApiToken
from codeforge.platform.db import utcnow
from tests.platform.conftest import Org, PlatformUnderTest


def fetch(put: PlatformUnderTest, url: str, fmt: str = "html"):  # type: ignore[no-untyped-def]
    parts = urlsplit(url)
    return put.api.get(f"{parts.path}?{parts.query}&format={fmt}")


def test_overview_pane_shows_variables_and_jobs(put: PlatformUnderTest, org: Org) -> None:
    org.ok("developer", "env.set", {"project": "demo", "name": "API_URL", "value": "https://x"})
    org.ok("developer", "env.set", {"project": "demo", "name": "TOKEN", "value": "hidden-value", "secret": True})
    job = org.ok("developer", "env.import", {"project": "demo", "content": "A=1"})
    put.api.get(f"/api/v1/jobs/{job['job_id']}/events", headers={"Authorization": f"Bearer {org.tokens['owner']}"})
    link = org.ok("viewer", "panes.open", {"project": "demo"})
    assert link["title"].startswith("Project overview")
    page = fetch(put, link["url"])
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "API_URL" in page.text and "TOKEN" in page.text and "env.import" in page.text and "<svg" in page.text
    assert "hidden-value" not in page.text and "https://x" not in page.text  # panes show names, not values
    text = fetch(put, link["url"], "text")
    assert text.headers["content-type"].startswith("text/plain") and "API_URL" in text.text and "succeeded" in text.text


def test_bad_links_explain_how_to_get_a_new_one(put: PlatformUnderTest, org: Org) -> None:
    link = org.ok("viewer", "panes.open", {"project": "demo"})["url"]
    forged = put.api.get("/panes/overview?t=garbage")
    assert forged.status_code == 401 and "open the pane again" in forged.text
    wrong_name = fetch(put, link.replace("/panes/overview", "/panes/databases"))
    assert wrong_name.status_code == 404
    with put.platform.db.session() as s:
        s.execute(update(ApiToken).values(revoked_at=utcnow() - timedelta(seconds=1)))
    revoked = fetch(put, link, "text")
    assert revoked.status_code == 401 and "revoked" in revoked.text


def test_unknown_pane_and_foreign_project(put: PlatformUnderTest, org: Org) -> None:
    unknown = org.call("viewer", "panes.open", {"project": "demo", "pane": "nope"})
    assert unknown.status_code == 404 and "overview" in unknown.json()["fix"]
    rival = put.new_org("rival", project="other")
    assert rival.call("owner", "panes.open", {"project": "demo"}).status_code == 404
