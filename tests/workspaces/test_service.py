"""Workspaces through a real `codeforge up` and the HTTP client (docs/workspaces.md): create
from a template with a running HTTP service and a database, clone it (its own files, database
branch and ports), snapshot and restore, the warm pool, the bridge inside, bad input, quotas,
roles, and a platform killed mid-clone and mid-snapshot leaving nothing behind."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import httpx
import psycopg
import pytest

from codeforge.catalog.errors import BadInput, CodeForgeError, NotFound, PermissionDenied
from codeforge.client import PlatformClient
from codeforge.platform.db import Database
from codeforge.platform.manifest import Runtime
from codeforge.platform.settings import Settings
from codeforge.platform.workspaces.cleanup import over_disk_limit
from tests.conftest import RunningPlatform, start_platform
from tests.conftest import run_operation as run

ENV = {
    "CODEFORGE_WORKSPACES_PORT_RANGE": "24100-24299",
    "CODEFORGE_WORKSPACES_MAX_PER_PROJECT": "6",
    "CODEFORGE_WORKSPACES_SNAPSHOTS_KEEP_LAST": "2",
}


@pytest.fixture(scope="module")
def platform(btrfs_volume: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    """On the btrfs volume: workspace trees are subvolume snapshots, database branches too."""
    base = btrfs_volume / f"ws-platform-{os.getpid()}"
    running = start_platform(base, **ENV)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def client(platform: RunningPlatform) -> Iterator[PlatformClient]:
    with PlatformClient(platform.url, platform.token, timeout=120) as c:
        yield c


def http_get(port: int) -> int:
    return httpx.get(f"http://127.0.0.1:{port}/", timeout=5).status_code


def rows(url: str) -> int:
    with psycopg.connect(url) as conn:
        found = conn.execute("SELECT count(*) FROM notes").fetchone()
    assert found is not None
    return int(found[0])


def web_port(info: dict[str, Any]) -> int:
    return int(next(p["host"] for p in info["ports"] if p["service"] == "web"))


def test_clone_a_running_workspace_with_its_database_and_service(
    client: PlatformClient, platform: RunningPlatform
) -> None:
    p = platform.project
    run(client, "databases.create", {"project": p, "name": "main"})
    main_url = run(client, "env.reveal", {"project": p, "name": "DATABASE_URL"})["value"]
    with psycopg.connect(main_url) as conn:
        conn.execute("CREATE TABLE notes (body text)")
        conn.execute("INSERT INTO notes VALUES ('first')")

    web = run(client, "workspaces.create", {"project": p, "name": "web", "template": "python"})
    assert web["state"] == "running" and web["runtime"] == "local" and "copy-on-write" in web["files"]
    assert http_get(web_port(web)) == 200
    tree = Path(web["folder"])
    (tree / "notes.txt").write_text("original\n")

    copy = run(client, "workspaces.clone", {"project": p, "source": "web", "name": "web-copy"})
    assert copy["state"] == "running" and copy["databases"] == [
        {"env_var": "DATABASE_URL", "database": "web-copy-main"}
    ]
    assert web_port(copy) != web_port(web) and http_get(web_port(copy)) == 200
    copy_tree = Path(copy["folder"])
    assert (copy_tree / "notes.txt").read_text() == "original\n"

    # Isolation: files, database rows and ports.
    (copy_tree / "notes.txt").write_text("changed in the clone\n")
    assert (tree / "notes.txt").read_text() == "original\n"
    branch_url = run(client, "databases.reveal", {"project": p, "name": "web-copy-main"})["url"]
    with psycopg.connect(branch_url) as conn:
        conn.execute("INSERT INTO notes VALUES ('only in the clone')")
    assert rows(branch_url) == 2 and rows(main_url) == 1
    run(client, "workspaces.stop", {"project": p, "name": "web-copy"})
    assert http_get(web_port(web)) == 200  # stopping the clone leaves the source running

    # Snapshot, change, restore.
    snap = run(client, "workspaces.snapshot", {"project": p, "name": "web", "snapshot": "before"})
    assert snap["files"] and snap["databases"][0]["env_var"] == "DATABASE_URL"
    assert snap["processes"] != "checkpointed" and any("running processes" in m for m in snap["missing"])
    (tree / "notes.txt").write_text("after the snapshot\n")
    restored = run(client, "workspaces.restore", {"project": p, "snapshot": "before"})
    assert Path(restored["folder"], "notes.txt").read_text() == "original\n"
    assert restored["state"] == "running" and http_get(web_port(restored)) == 200
    names = [s["name"] for s in run(client, "workspaces.snapshots", {"project": p})["items"]]
    assert names == ["before"]

    # A clone of the snapshot is another independent workspace.
    from_snap = run(client, "workspaces.clone", {"project": p, "source": "before", "name": "from-snap"})
    assert Path(from_snap["folder"], "notes.txt").read_text() == "original\n"

    # Delete: nothing of them is left (trees, branches, ports).
    for name in ("web", "web-copy", "from-snap"):
        gone = run(client, "workspaces.delete", {"project": p, "name": name})
        assert gone["name"] == name
    run(client, "workspaces.delete_snapshot", {"project": p, "snapshot": "before"})
    assert run(client, "workspaces.list", {"project": p})["items"] == []
    left = [d["name"] for d in run(client, "databases.list", {"project": p})["items"]]
    assert left == ["main"]
    files = platform.data_dir / "workspaces" / "files"
    assert not any((files / "ws").iterdir()) and not any((files / "snap").iterdir())


def test_bad_input_quotas_and_roles(client: PlatformClient, platform: RunningPlatform, tmp_path: Path) -> None:
    p = platform.project
    with pytest.raises(CodeForgeError, match="no workspace template 'cobol'; the templates are empty, node, python"):
        run(client, "workspaces.create", {"project": p, "name": "x", "template": "cobol"})
    with pytest.raises(CodeForgeError, match="devcontainer names a file in the folder"):
        run(client, "workspaces.create", {"project": p, "name": "x", "devcontainer": "a/devcontainer.json"})
    with pytest.raises(CodeForgeError, match="folder is outside the folders this platform may use"):
        run(client, "workspaces.create", {"project": p, "name": "x", "folder": "/etc"})
    with pytest.raises(BadInput):
        run(client, "workspaces.create", {"project": p, "name": "Ünïcode"})
    with pytest.raises(NotFound, match="no workspace"):
        run(client, "workspaces.start", {"project": p, "name": "nothing-here"})
    with pytest.raises(CodeForgeError, match="no workspace or snapshot 'nothing-here'"):
        run(client, "workspaces.clone", {"project": p, "source": "nothing-here", "name": "y"})

    run(client, "workspaces.create", {"project": p, "name": "one"})
    with pytest.raises(CodeForgeError, match="has a workspace 'one' already"):
        run(client, "workspaces.create", {"project": p, "name": "one"})
    with pytest.raises(PermissionDenied, match="quota exceeded"):
        run(client, "workspaces.pool", {"project": p, "template": "empty", "size": 6})
    made = ["one"]
    with pytest.raises(CodeForgeError, match=r"quota exceeded: .* the most CODEFORGE_WORKSPACES_MAX_PER_PROJECT=6"):
        for n in range(6):
            run(client, "workspaces.create", {"project": p, "name": f"q{n}"})
            made.append(f"q{n}")
    assert len(made) == 6
    for name in made:
        run(client, "workspaces.delete", {"project": p, "name": name})


def test_a_viewer_sees_and_cannot_change(client: PlatformClient, platform: RunningPlatform) -> None:
    p = platform.project
    run(client, "members.add", {"username": "ws-viewer", "role": "viewer"})
    token = run(client, "tokens.create", {"username": "ws-viewer", "name": "t"})["token"]
    with PlatformClient(platform.url, token) as as_viewer:
        assert run(as_viewer, "workspaces.list", {"project": p})["items"] == []
        with pytest.raises(PermissionDenied):
            run(as_viewer, "workspaces.create", {"project": p, "name": "nope"})
        with pytest.raises(PermissionDenied):
            run(as_viewer, "workspaces.pool", {"project": p, "template": "empty", "size": 1})


def test_warm_pool_hands_out_and_refills(client: PlatformClient, platform: RunningPlatform) -> None:
    p = platform.project
    run(client, "workspaces.pool", {"project": p, "template": "empty", "size": 1})

    def ready() -> int:
        items = run(client, "workspaces.templates", {"project": p})["items"]
        return int(next(t["pool_ready"] for t in items if t["name"] == "empty"))

    deadline = time.monotonic() + 60
    while ready() < 1:
        assert time.monotonic() < deadline, "the pool did not fill within 60 s"
        time.sleep(0.2)
    got = run(client, "workspaces.create", {"project": p, "name": "quick", "template": "empty"})
    assert got["from_pool"] and got["name"] == "quick" and got["state"] == "running"
    assert [w["name"] for w in run(client, "workspaces.list", {"project": p})["items"]] == ["quick"]
    deadline = time.monotonic() + 60
    while ready() < 1:
        assert time.monotonic() < deadline, "the pool did not refill within 60 s"
        time.sleep(0.2)
    metrics = httpx.get(f"{platform.url}/metrics", timeout=10).text
    assert f'codeforge_workspaces_pool_ready{{project="{p}",template="empty"}} 1.0' in metrics
    assert f'codeforge_workspaces_pool_claims_total{{project="{p}",template="empty"}}' in metrics
    run(client, "workspaces.pool", {"project": p, "template": "empty", "size": 0})
    run(client, "workspaces.delete", {"project": p, "name": "quick"})
    deadline = time.monotonic() + 60
    while ready() > 0:
        assert time.monotonic() < deadline, "the pool did not shrink within 60 s"
        time.sleep(0.2)


def test_snapshots_beyond_the_newest_two_go(client: PlatformClient, platform: RunningPlatform) -> None:
    p = platform.project
    run(client, "workspaces.create", {"project": p, "name": "kept"})
    for _n in range(3):
        run(client, "workspaces.snapshot", {"project": p, "name": "kept"})
    names = [s["name"] for s in run(client, "workspaces.snapshots", {"project": p, "name": "kept"})["items"]]
    assert names == ["kept-2", "kept-3"]  # CODEFORGE_WORKSPACES_SNAPSHOTS_KEEP_LAST=2
    run(client, "workspaces.delete", {"project": p, "name": "kept"})
    for name in names:  # a snapshot outlives its workspace until deleted
        run(client, "workspaces.delete_snapshot", {"project": p, "snapshot": name})


def test_a_workspace_over_its_disk_limit_is_stopped(client: PlatformClient, platform: RunningPlatform) -> None:
    p = platform.project
    big = run(client, "workspaces.create", {"project": p, "name": "big", "template": "python", "disk_mb": 1})
    assert big["limits"]["disk_mb"] == 1 and http_get(web_port(big)) == 200
    Path(big["folder"], "blob.bin").write_bytes(os.urandom(2 * 1024 * 1024))
    # The platform's sweeper does this every minute; here, at once, on the platform's state.
    settings = Settings(data_dir=platform.data_dir, instance_id=f"test-{platform.port}")
    db = Database(settings.resolved_database_url)
    try:
        done = over_disk_limit(Runtime(db=db, settings=settings, cipher=cast(Any, None), jobs=cast(Any, None)))
    finally:
        db.dispose()
    assert done == ["workspace big over its disk limit"]
    shown = run(client, "workspaces.show", {"project": p, "name": "big"})
    assert shown["state"] == "stopped" and "over its disk limit of 1 MiB" in shown["error"]
    assert shown["disk_bytes"] > 2 * 1024 * 1024
    with pytest.raises(httpx.TransportError):
        http_get(web_port(big))
    run(client, "workspaces.delete", {"project": p, "name": "big"})


def test_the_bridge_runs_inside_and_editors_connect(client: PlatformClient, platform: RunningPlatform) -> None:
    p = platform.project
    run(client, "workspaces.create", {"project": p, "name": "edit"})
    conn = run(client, "workspaces.connect", {"project": p, "name": "edit"})
    assert conn["bridge_url"].startswith("ws://127.0.0.1:") and conn["folder"]
    again = run(client, "workspaces.connect", {"project": p, "name": "edit"})
    assert again["bridge_url"] == conn["bridge_url"]  # running already: the same bridge
    bridges = run(client, "bridges.list", {"project": p})["bridges"]
    deadline = time.monotonic() + 20
    while not any(b["id"] == conn["bridge_id"] and b["state"] == "live" for b in bridges):
        assert time.monotonic() < deadline, f"the workspace's bridge never reported: {bridges}"
        time.sleep(0.3)
        bridges = run(client, "bridges.list", {"project": p})["bridges"]
    lines = run(client, "workspaces.logs", {"project": p, "name": "edit", "service": "bridge"})["lines"]
    assert any(f"serving {conn['folder']}" in line for line in lines)
    assert not any("cf_" in line for line in lines)  # its token is in no log line
    run(client, "workspaces.delete", {"project": p, "name": "edit"})
    with pytest.raises(httpx.TransportError):
        httpx.get(conn["bridge_url"].replace("ws://", "http://"), timeout=2)


@pytest.mark.parametrize("operation", ["clone:runtime", "clone:branch", "snapshot:snapshot-row"])
def test_killed_mid_operation_leaves_nothing(btrfs_volume: Path, operation: str) -> None:
    base = btrfs_volume / f"ws-crash-{os.getpid()}-{operation.replace(':', '-')}"
    platform = start_platform(base, **ENV)
    try:
        with platform.client() as client:
            p = platform.project
            run(client, "databases.create", {"project": p, "name": "main"})
            run(client, "workspaces.create", {"project": p, "name": "src", "template": "python"})
        platform.stop()
        platform.extra_env["CODEFORGE_WORKSPACES_CRASH_AT"] = f"workspaces.{operation}"
        platform.start()
        with platform.client() as client:
            verb = operation.split(":")[0]
            body = {"project": p, "source": "src", "name": "dst"} if verb == "clone" else {"project": p, "name": "src"}
            with pytest.raises((CodeForgeError, httpx.HTTPError)) as died:  # the platform dies under the call
                run(client, f"workspaces.{verb}", body)
        assert platform.process is not None
        try:
            assert platform.process.wait(30) == -9
        except subprocess.TimeoutExpired:
            pytest.fail(f"the platform did not die at {operation}; the call ended with: {died.value}")
        platform.process = None
        # And a runtime's state for a workspace that has no row (as a crash between a delete's
        # steps could leave): swept too.
        stray = platform.data_dir / "workspaces" / "runtime" / "0123456789abcdef"
        stray.mkdir()
        (stray / "workspace.json").write_text('{"tree": "/nowhere", "cgroups": [], "env": {}}')
        del platform.extra_env["CODEFORGE_WORKSPACES_CRASH_AT"]
        platform.start()  # the crash cleanup runs before it serves
        with platform.client() as client:
            assert [w["name"] for w in run(client, "workspaces.list", {"project": p})["items"]] == ["src"]
            assert run(client, "workspaces.snapshots", {"project": p})["items"] == []
            assert [d["name"] for d in run(client, "databases.list", {"project": p})["items"]] == ["main"]
        files = platform.data_dir / "workspaces" / "files"
        assert len(list((files / "ws").iterdir())) == 1 and not list((files / "snap").iterdir())
        runtime_dirs = list((platform.data_dir / "workspaces" / "runtime").iterdir())
        assert len(runtime_dirs) == 1
    finally:
        platform.stop()
