"""A platform killed in the middle of a branch leaves nothing behind once it is back; and
the database pane shows databases, the branch tree, backups and pools."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest
from sqlalchemy import select

from codeforge.client import PlatformClient
from codeforge.platform.crypto import Cipher
from codeforge.platform.databases.engines import branching
from codeforge.platform.databases.engines.cluster import LocalCluster, free_port
from codeforge.platform.databases.models import DatabaseRow, EngineRow
from codeforge.platform.db import Database, utcnow
from codeforge.platform.settings import Settings
from tests.conftest import RunningPlatform
from tests.platform.databases.conftest import platform_in
from tests.platform.databases.test_api import reveal, run


@pytest.fixture
def platform(work_dir: Path) -> Iterator[RunningPlatform]:
    """A platform of its own per test: these kill and restart it."""
    with platform_in(work_dir) as running:
        yield running


def test_killed_mid_branch_is_swept_on_restart(platform: RunningPlatform, btrfs_dir: Path) -> None:
    p = platform.project
    with PlatformClient(platform.url, platform.token, timeout=120) as client:
        run(client, "engines.register", {"name": "crash", "data_dir": str(btrfs_dir / f"crash-{secrets.token_hex(2)}")})
        run(client, "databases.create", {"project": p, "name": "main", "engine": "crash"})
    platform.kill()
    # What a kill in the middle of a branch leaves: a `creating` row, a branch instance
    # running on a snapshot still marked incomplete, and a TEMPLATE copy under its temporary name.
    settings = Settings(data_dir=platform.data_dir)
    db = Database(settings.resolved_database_url)
    cipher = Cipher(settings.fernet_key())
    with db.session() as s:
        engine = s.scalars(select(EngineRow)).one()
        main = s.scalars(select(DatabaseRow)).one()
        cluster = LocalCluster(
            Path(engine.root), port=engine.port, password=cipher.decrypt(engine.admin_secret_encrypted)
        )
        cluster.start()
        row_id = secrets.token_hex(16)
        root = Path(engine.root) / "branches" / row_id
        inst = branching.branch_instance(cluster, root, database=main.physical, role=main.role)
        (root / branching.INCOMPLETE).touch()
        s.add(
            DatabaseRow(
                id=row_id,
                project_id=main.project_id,
                engine_id=engine.id,
                name="half",
                parent_id=main.id,
                physical=main.physical,
                role=main.role,
                password_encrypted=main.password_encrypted,
                host="127.0.0.1",
                port=inst.cluster.port,
                instance_dir=str(root),
                method="btrfs-snapshot",
                state="creating",
                created_by="owner",
                created_at=utcnow() - timedelta(minutes=1),
            )
        )
        with cluster.engine().admin() as conn:
            conn.execute('CREATE DATABASE "cfpartial_demo_half2"')
        # And an instance directory no row knows at all.
        stray = branching.branch_instance(
            cluster, Path(engine.root) / "branches" / "stray", database=main.physical, role=main.role
        )
    db.dispose()
    assert inst.cluster.status().running and stray.cluster.status().running
    platform.start()
    with PlatformClient(platform.url, platform.token, timeout=120) as client:
        # The supervisor sweeps at once on start (a listing itself changes nothing).
        deadline = time.monotonic() + 90
        while (
            root.exists()
            or stray.cluster.root.exists()
            or "cfpartial_demo_half2" in {d.name for d in cluster.engine().list_databases()}
        ):
            assert time.monotonic() < deadline, "the restarted platform never swept"
            time.sleep(0.05)
        names = [d["name"] for d in run(client, "databases.list", {"project": p})["items"]]
        assert names == ["main"]
        assert inst.cluster._pid() is None and stray.cluster._pid() is None
        assert "cfpartial_demo_half2" not in {d.name for d in cluster.engine().list_databases()}
        # The name is free again, and branching works as before.
        made = run(client, "databases.branch", {"project": p, "source": "main", "name": "half"})
        assert made["method"] == "btrfs-snapshot"
        run(client, "databases.delete", {"project": p, "name": "main", "cascade": True})
        run(client, "engines.remove", {"name": "crash"})


def test_database_pane(platform: RunningPlatform, work_dir: Path) -> None:
    p = platform.project
    with PlatformClient(platform.url, platform.token, timeout=120) as client:
        run(client, "engines.register", {"name": "pane", "data_dir": str(work_dir / f"pane-{free_port()}")})
        run(client, "databases.create", {"project": p, "name": "shop"})
        with psycopg.connect(reveal(client, p, "DATABASE_URL")) as c:
            c.execute("CREATE TABLE t (i int)")
        run(client, "databases.branch", {"project": p, "source": "shop", "name": "shop-feature"})
        backup = run(client, "backups.create", {"project": p, "name": "shop"})
        run(client, "backups.schedule", {"project": p, "name": "shop", "cron": "30 2 * * *"})
        link = run(client, "panes.open", {"project": p, "pane": "databases"})
    parts = urlsplit(link["url"])
    html = httpx.get(f"{platform.url}{parts.path}?{parts.query}", timeout=30)
    assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
    for text in ("Branch tree", "shop-feature", "template-copy", backup["id"], "30 2 * * *", "PgBouncer"):
        assert text in html.text, text
    assert "***" not in html.text and "postgresql://" not in html.text  # no URLs, let alone passwords
    plain = httpx.get(f"{platform.url}{parts.path}?{parts.query}&format=text", timeout=30)
    assert plain.status_code == 200 and "shop-feature" in plain.text
