"""The workspaces' journal and ports against a real platform database on each backend: an
operation that fails undoes what it made, newest first; a killed process's intent is undone
by the next boot's sweep (another instance's once its lease passed); an undo that fails keeps
the intent; host ports are never given twice, never one something else listens on, all or
none; a clone's environment follows its new ports."""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from codeforge.catalog.errors import BadInput, Conflict
from codeforge.platform.auth.models import Organization, Project
from codeforge.platform.db import Database, utcnow
from codeforge.platform.manifest import Runtime
from codeforge.platform.settings import Settings
from codeforge.platform.workspaces.access import workspaces_root
from codeforge.platform.workspaces.cleanup import sweep
from codeforge.platform.workspaces.files import FileStore
from codeforge.platform.workspaces.journal import Journal
from codeforge.platform.workspaces.models import Workspace, WorkspaceIntent
from codeforge.platform.workspaces.network import PortPool, parse_range, remap_env
from codeforge.platform.workspaces.records import PortMap
from tests.platform.conftest import state_url  # noqa: F401  (the fixture: a fresh database per backend)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def db(state_url: str) -> Iterator[Database]:  # noqa: F811
    database = Database(state_url)
    database.migrate()
    with database.session() as session:
        org = Organization(slug="o")
        session.add(org)
        session.flush()
        session.add(Project(id="p" * 32, org_id=org.id, slug="p", name="p"))
        session.add(Workspace(id="w" * 32, project_id="p" * 32, name="w", runtime="local", created_by="t"))
        session.add(Workspace(id="v" * 32, project_id="p" * 32, name="v", runtime="local", created_by="t"))
    yield database
    database.dispose()


def _intents(db: Database) -> list[WorkspaceIntent]:
    with db.session() as session:
        return list(session.query(WorkspaceIntent))


def test_a_failing_operation_undoes_what_it_made_newest_first(db: Database) -> None:
    undone: list[tuple[str, str]] = []
    journal = Journal(db, "a:1")
    with journal.intent("clone", "p" * 32, lambda k, r: undone.append((k, r))) as intent:
        intent.making("tree", "/t/1")
        intent.making("branch", "db1")
    assert undone == [] and _intents(db) == []  # success: nothing undone, no intent left
    with (
        pytest.raises(RuntimeError, match="engine down"),
        journal.intent("clone", "p" * 32, lambda k, r: undone.append((k, r))) as intent,
    ):
        intent.making("tree", "/t/2")
        intent.making("branch", "db2")
        raise RuntimeError("engine down")
    assert undone == [("branch", "db2"), ("tree", "/t/2")] and _intents(db) == []


def test_an_undo_that_fails_keeps_the_intent_for_the_sweep(db: Database) -> None:
    journal = Journal(db, "a:1")

    def broken(kind: str, ref: str) -> None:
        raise OSError("busy")

    with pytest.raises(ValueError), journal.intent("snapshot", "p" * 32, broken) as intent:
        intent.making("mount", "/m")
        raise ValueError("bad")
    [kept] = _intents(db)
    assert kept.made == [["mount", "/m"]]
    swept: list[tuple[str, str]] = []
    assert journal.sweep(lambda k, r: swept.append((k, r))) == ["snapshot: mount /m"]
    assert swept == [("mount", "/m")] and _intents(db) == []


def test_a_killed_process_is_swept_by_the_next_boot_and_others_after_their_lease(db: Database) -> None:
    # A real process makes two things under an intent and is killed before it ends.
    script = textwrap.dedent(
        f"""
        import os, signal
        from codeforge.platform.db import Database
        from codeforge.platform.workspaces.journal import Journal
        journal = Journal(Database({db.url!r}), "a:1", boot="old")
        with journal.intent("clone", "{"p" * 32}", lambda k, r: None) as intent:
            intent.making("tree", "/t/half")
            intent.making("ports", "{"w" * 32}")
            os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.returncode == -9, done.stderr
    [left] = _intents(db)
    assert left.made == [["tree", "/t/half"], ["ports", "w" * 32]]
    undone: list[tuple[str, str]] = []
    # Another instance leaves it alone while the lease holds; this instance's next boot does not.
    assert Journal(db, "b:2").sweep(lambda k, r: undone.append((k, r))) == []
    assert Journal(db, "a:1", boot="new").sweep(lambda k, r: undone.append((k, r))) == [
        f"clone: ports {'w' * 32}, tree /t/half"
    ]
    assert undone == [("ports", "w" * 32), ("tree", "/t/half")] and _intents(db) == []
    # Another instance's intent, its lease passed: swept by anyone.
    other = Journal(db, "c:3", lease_s=60)
    with pytest.raises(KeyboardInterrupt), other.intent("snapshot", "p" * 32, lambda k, r: 1 / 0) as intent:
        intent.making("tree", "/t/x")
        raise KeyboardInterrupt  # its undo fails: kept, abandoned
    assert Journal(db, "b:2").sweep(lambda k, r: None, now=utcnow() + timedelta(seconds=1)) == ["snapshot: tree /t/x"]


def test_ports_are_never_given_twice_or_taken_by_others(db: Database) -> None:
    with socket.socket() as busy:
        busy.bind(("0.0.0.0", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        pool = PortPool(db, taken, taken + 3)
        first = pool.allocate("w" * 32, [("web", 8000), ("api", 9000)])
        assert [p.host for p in first] == [taken + 1, taken + 2]  # the busy one skipped
        assert first[0] == PortMap("web", 8000, taken + 1)
        # Two would not fit: none given, the one tried is back.
        with pytest.raises(Conflict, match=f"no free host port left in {taken}-{taken + 3}"):
            PortPool(db, taken, taken + 3).allocate("v" * 32, [("a", 1), ("b", 2)])
        assert pool.held("v" * 32) == []
        assert pool.release("w" * 32) == 2 and pool.held("w" * 32) == []


def test_port_range_setting_and_env_remapping() -> None:
    assert parse_range(" 42000-42999 ") == (42000, 42999)
    for bad in ("42000", "80-90", "50000-40000", "1-70000", "a-b", ""):
        with pytest.raises(BadInput, match="not a port range"):
            parse_range(bad)
    env = {
        "API_URL": "http://127.0.0.1:42001/v1?x=42001",
        "DB": "postgresql://app:42001@localhost:42002/db",
        "WEB_PORT": "42003",
        "HOSTS": "localhost:42001,[::1]:42002",
        "OTHER": "42001 and port 42001 stays",
        "UNICODE": "café:42001 ✓",
    }
    moved = {42001: 43001, 42002: 43002, 42003: 43003}
    assert remap_env(env, moved) == {
        "API_URL": "http://127.0.0.1:43001/v1?x=42001",
        "DB": "postgresql://app:42001@localhost:43002/db",  # the password is not a port
        "WEB_PORT": "43003",
        "HOSTS": "localhost:43001,[::1]:43002",
        "OTHER": "42001 and port 42001 stays",
        "UNICODE": "café:42001 ✓",
    }
    assert remap_env(env, {}) == env


def test_the_crash_cleanup_undoes_ports_and_trees_and_keeps_what_it_cannot(db: Database, tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, instance_id="a:1")
    rt = Runtime(db=db, settings=settings, cipher=cast(Any, None), jobs=cast(Any, None))
    PortPool(db, 43100, 43199).allocate("w" * 32, [("web", 8000)])
    tree = FileStore(workspaces_root(rt.settings) / "files").make("half")
    (tree / "file.txt").write_text("made before the crash")
    dead = Journal(db, "a:1", boot="old")
    with pytest.raises(SystemExit), dead.intent("create", "p" * 32, lambda k, r: 1 / 0) as intent:
        intent.making("tree", str(tree))
        intent.making("ports", "w" * 32)
        raise SystemExit  # its own undo fails: left for the cleanup, as a killed process's is
    assert sweep(rt) == [f"create: ports {'w' * 32}, tree {tree}"]
    assert not tree.exists() and PortPool(db).held("w" * 32) == []
    with pytest.raises(SystemExit), dead.intent("clone", "p" * 32, lambda k, r: 1 / 0) as intent:
        intent.making("container", "abc")
        raise SystemExit
    assert sweep(rt) == [] and [i.made for i in _intents(db)] == [[["container", "abc"]]]  # kept for a later version
