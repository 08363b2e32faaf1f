"""Roles on the databases operations, on both platform state backends (SQLite and PostgreSQL),
with the in-process platform: the side sessions that make pending rows durable work on each."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg

from tests.platform.conftest import Org, PlatformUnderTest
from tests.platform.databases.conftest import stop_servers_under


def _wait(org: Org, who: str, job: dict[str, object]) -> dict[str, object]:
    response = org.api.get(str(job["events_url"]), headers={"Authorization": f"Bearer {org.tokens[who]}"})
    events = [json.loads(line[5:]) for line in response.text.splitlines() if line.startswith("data:")]
    return events[-1]


def test_roles_and_both_state_backends(put: PlatformUnderTest, org: Org, tmp_path: Path) -> None:
    try:
        made = org.ok("developer", "databases.create", {"project": "demo", "name": "main"})
        assert made["engine"] == "local"
        denied = org.call("viewer", "databases.create", {"project": "demo", "name": "other"})
        assert denied.status_code == 403
        assert [d["name"] for d in org.ok("viewer", "databases.list", {"project": "demo"})["items"]] == ["main"]
        # Secrets: the URL variable is a secret, revealed only to roles that may.
        assert org.call("viewer", "databases.reveal", {"project": "demo", "name": "main"}).status_code == 403
        url = org.ok("developer", "databases.reveal", {"project": "demo", "name": "main"})["url"]
        with psycopg.connect(url) as c:
            c.execute("CREATE TABLE t (i int)")
        job = org.ok("developer", "databases.branch", {"project": "demo", "source": "main", "name": "dev"})
        last = _wait(org, "developer", job)
        assert last["state"] == "succeeded", last
        assert last["result"]["method"] == "template-copy"  # type: ignore[index]
        # A folder on the platform host is an admin's business; files are anyone's who may edit.
        by_path = org.call("developer", "migrations.status", {"project": "demo", "name": "main", "path": "/tmp"})
        assert by_path.status_code == 403 and "send the migration files" in by_path.text
        files = [{"name": "001.sql", "content": "CREATE TABLE a (i int);"}]
        status = org.ok("developer", "migrations.status", {"project": "demo", "name": "main", "files": files})
        assert status["pending"] == ["001.sql"]
        assert org.call("admin", "engines.register", {"name": "x", "kind": "mysql"}).status_code == 202
        assert org.call("developer", "engines.register", {"name": "y"}).status_code == 403
        org.ok("developer", "databases.delete", {"project": "demo", "name": "main", "cascade": True})
    finally:
        stop_servers_under(put.platform.settings.data_dir)
