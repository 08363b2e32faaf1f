"""Workspaces' faults and bad input through a real `codeforge up` (docs/workspaces.md, issue
#15 "Faults and bad input"): a devcontainer.json with several errors (each with its line,
column and JSON path), a full workspaces volume, a disk limit smaller than the folder, a
post-create command that fails, wrong and unicode names for snapshot, restore, clone and
delete_snapshot, restoring a snapshot whose workspace is gone, cloning onto a name in use. After
each failure nothing is half-made: no workspace row, no tree (no `*.partial`), no host port,
no runtime folder, no process, no intent left. A password-bearing URL in a workspace's
environment appears in no job error, job event, `workspaces.show`/`list` answer or log line."""

from __future__ import annotations

import os
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from codeforge.catalog import JobRef, operation
from codeforge.catalog.errors import BadInput, CodeForgeError, NotFound
from codeforge.catalog.jobs import JobEvent, JobState
from codeforge.client import API, PlatformClient
from codeforge.platform.workspaces.runtimes.local_cgroups import detect_cgroups
from tests.conftest import RunningPlatform, require, start_platform
from tests.conftest import run_operation as run

ENV = {"CODEFORGE_WORKSPACES_PORT_RANGE": "24600-24749", "CODEFORGE_WORKSPACES_MAX_PER_PROJECT": "8"}
PASSWORD = "Pa55-w0rd-never-shown"
SECRET_URL = f"postgresql://app:{PASSWORD}@db.internal:5432/app"
MARKER = "987654"  # `sleep 987654`: a process a failed post-create command left behind


# -- helpers ---------------------------------------------------------------------------------------


def failed_job(client: PlatformClient, op: str, body: dict[str, Any]) -> tuple[str, list[JobEvent]]:
    """A long-running call that must fail in its job: the job's error and all its events."""
    ref = client.call(op, body)
    assert isinstance(ref, JobRef), f"{op} answered at once: {ref}"
    events = list(client.events(ref.job_id))
    assert events[-1].state is JobState.FAILED, f"{op} did not fail: {events[-1]}"
    error = client.job(ref.job_id).error
    assert error
    return error, events


def db_rows(platform: RunningPlatform, table: str) -> int:
    with sqlite3.connect(f"file:{platform.data_dir / 'codeforge.db'}?mode=ro", uri=True, timeout=10) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def marker_pids() -> list[int]:
    pids = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv[:2] == [b"sleep", MARKER.encode()]:
                pids.append(int(proc.name))
    return pids


def assert_nothing_made(platform: RunningPlatform, client: PlatformClient, keep: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """No workspace besides `keep`: no row (pooled or not), no tree or half-made tree, no host
    port, no runtime folder, no intent, no process left by a post-create command."""
    p = platform.project
    assert {w["name"] for w in run(client, "workspaces.list", {"project": p})["items"]} == keep
    assert db_rows(platform, "workspaces") == len(keep)
    held = {w: len(run(client, "workspaces.show", {"project": p, "name": w})["ports"]) for w in keep}
    assert db_rows(platform, "workspace_ports") == sum(held.values())
    deadline = time.monotonic() + 10  # an intent row goes when its step's undo has finished
    while db_rows(platform, "workspace_intents"):
        assert time.monotonic() < deadline, "an intent was left"
        time.sleep(0.1)
    files = platform.data_dir / "workspaces" / "files"
    assert len(list((files / "ws").iterdir())) == len(keep)
    assert [str(x) for x in files.rglob("*.partial")] == []
    layers = files / ".overlay" / "layers"
    if layers.is_dir() and not keep:
        assert sorted(x.name for x in layers.iterdir()) == ["base", "base-2"]
    runtime = platform.data_dir / "workspaces" / "runtime"
    assert len([d for d in runtime.iterdir() if d.is_dir()] if runtime.is_dir() else []) == len(keep)
    assert marker_pids() == []


def unmount_all(path: Path) -> None:
    """Unmount what is mounted at or under `path` (overlay trees, a tmpfs), innermost first."""
    found = [ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()]
    for m in sorted((m for m in found if m == str(path) or m.startswith(f"{path}/")), key=len, reverse=True):
        if subprocess.run(["umount", m], capture_output=True).returncode:
            subprocess.run(["umount", "-l", m], capture_output=True)


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningPlatform]:
    base = tmp_path_factory.mktemp("ws-faults")
    (base / "projects").mkdir()
    running = start_platform(base, CODEFORGE_PROJECTS_ROOT=str(base / "projects"), **ENV)
    yield running
    with running.client() as c:  # what a failed test left: its services stopped, its trees unmounted
        for w in run(c, "workspaces.list", {"project": running.project})["items"]:
            run(c, "workspaces.delete", {"project": running.project, "name": w["name"]})
    running.stop()
    for pid in marker_pids():
        os.kill(pid, signal.SIGKILL)
    unmount_all(base)


@pytest.fixture(scope="module")
def client(platform: RunningPlatform) -> Iterator[PlatformClient]:
    with PlatformClient(platform.url, platform.token, timeout=120) as c:
        # Every workspace of the project sees it (a plain variable, not even marked secret).
        run(c, "env.set", {"project": platform.project, "name": "DB_URL", "value": SECRET_URL})
        yield c


def project_folder(platform: RunningPlatform, name: str, devcontainer: str | None = None) -> Path:
    folder = Path(platform.env["CODEFORGE_PROJECTS_ROOT"]) / name
    folder.mkdir()
    (folder / "README.md").write_text("a project\n")
    if devcontainer is not None:
        (folder / ".devcontainer").mkdir()
        (folder / ".devcontainer" / "devcontainer.json").write_text(devcontainer)
    return folder


# -- 1. a devcontainer.json with several errors ------------------------------------------------------

BAD_DEVCONTAINER = """{
  // comments and trailing commas are fine; these are not
  "image": 42,
  "forwardPorts": [3000, 70000, true],
  "containerEnv": {"A": 1, "OK": "yes",},
  "postCreateCommand": 7,
}
"""


def test_a_devcontainer_with_errors_reports_each_with_its_line_and_makes_nothing(
    client: PlatformClient, platform: RunningPlatform
) -> None:
    folder = project_folder(platform, "bad-devcontainer", BAD_DEVCONTAINER)
    error, events = failed_job(
        client, "workspaces.create", {"project": platform.project, "name": "bad", "folder": str(folder)}
    )
    expected = {
        "image": "devcontainer.json:3:12:",
        "forwardPorts[1]": "devcontainer.json:4:26:",
        "forwardPorts[2]": "devcontainer.json:4:33:",
        "containerEnv.A": "devcontainer.json:5:25:",
        "postCreateCommand": "devcontainer.json:6:24:",
    }
    for path, where in expected.items():
        assert f"{path}: {where}" in error, f"{path} at {where} is not in: {error}"
    assert "5 problem(s) in devcontainer.json" in error
    assert events[-1].error == error
    assert_nothing_made(platform, client)


def test_an_unknown_template_and_unreadable_or_ambiguous_devcontainers_make_nothing(
    client: PlatformClient, platform: RunningPlatform
) -> None:
    p = platform.project
    latin1 = project_folder(platform, "latin1")
    (latin1 / ".devcontainer.json").write_bytes('{"image": "caf\u00e9"}'.encode("latin-1"))
    several = project_folder(platform, "several", '{"image": "a"}')
    (several / ".devcontainer" / "py").mkdir()
    (several / ".devcontainer" / "py" / "devcontainer.json").write_text('{"image": "b"}')
    for body, says in (
        ({"template": "cobol"}, "no workspace template 'cobol'; the templates are empty, node, python"),
        ({"folder": str(latin1)}, "devcontainer.json is not UTF-8 text"),
        ({"folder": str(several)}, "2 devcontainer.json files: .devcontainer/devcontainer.json, "
         ".devcontainer/py/devcontainer.json"),
        ({"folder": str(several), "devcontainer": "go"}, "no devcontainer.json at 'go'"),
        ({"folder": str(platform.data_dir.parent / "projects" / "missing")}, "is not a folder on the platform's host"),
    ):  # fmt: skip
        error, _ = failed_job(client, "workspaces.create", {"project": p, "name": "nope", **body})
        assert says in error, error
    assert_nothing_made(platform, client)


def test_a_devcontainer_that_is_a_link_out_of_the_folder_is_not_read(
    client: PlatformClient, platform: RunningPlatform
) -> None:
    """The platform reads devcontainer.json itself: a link to a file elsewhere on its host
    would have it quote that file's contents in its errors."""
    outside = platform.data_dir / "elsewhere.json"
    outside.write_text('{"forwardPorts": ["TOP-SECRET-VALUE"]}')
    folder = project_folder(platform, "linked")
    (folder / ".devcontainer").mkdir()
    (folder / ".devcontainer" / "devcontainer.json").symlink_to(outside)
    linked_dir = project_folder(platform, "linked-dir")
    (linked_dir / ".devcontainer").symlink_to(platform.data_dir)  # the folder .devcontainer is the link
    (platform.data_dir / "devcontainer.json").write_text('{"forwardPorts": ["TOP-SECRET-VALUE"]}')
    try:
        for f in (folder, linked_dir):
            error, _ = failed_job(
                client, "workspaces.create", {"project": platform.project, "name": "ln", "folder": str(f)}
            )
            assert "TOP-SECRET-VALUE" not in error and "devcontainer" in error, error
            assert_nothing_made(platform, client)
    finally:
        outside.unlink()
        (platform.data_dir / "devcontainer.json").unlink()


# -- 3. a disk limit smaller than the folder -----------------------------------------------------------


def test_a_disk_limit_smaller_than_the_folder_names_disk_mb_and_makes_nothing(
    client: PlatformClient, platform: RunningPlatform
) -> None:
    folder = project_folder(platform, "big-folder")
    (folder / "data.bin").write_bytes(os.urandom(3 * 1024 * 1024))
    body = {"project": platform.project, "name": "small", "folder": str(folder), "disk_mb": 1}
    error, _ = failed_job(client, "workspaces.create", body)
    assert "more than its disk limit of 1 MiB" in error and "disk_mb: 1 MiB is too small (give at least 4)" in error
    assert_nothing_made(platform, client)


# -- 4. a post-create command that fails (and the secrets check) ---------------------------------------

FAILING_POST_CREATE = (
    '{"image": "debian:bookworm", "postCreateCommand": "echo preparing; '
    "for i in $(seq 1 30); do echo line $i; done; echo connecting to $DB_URL; "
    "grep -E ':memory:|^0::' /proc/self/cgroup; echo it broke >&2; exit 7\"}"
)
CGROUPS, WHY_NOT = detect_cgroups()


def test_a_failing_post_create_command_shows_its_exit_code_and_output_and_leaves_nothing(
    client: PlatformClient, platform: RunningPlatform
) -> None:
    folder = project_folder(platform, "post-create-fails", FAILING_POST_CREATE)
    body = {
        "project": platform.project, "name": "pc", "folder": str(folder),
        **({"memory_mb": 256} if CGROUPS else {}),
    }  # fmt: skip
    error, events = failed_job(client, "workspaces.create", body)
    if CGROUPS:  # the command ran in the workspace's cgroup, which is gone with it
        cgroup = re.search(r"^\d+:(?:memory)?:(/codeforge-ws-\w+)$", error, re.MULTILINE)
        assert cgroup, f"the command ran in no cgroup of the workspace: {error}"
        assert not Path(f"/sys/fs/cgroup{'/memory' if CGROUPS == 'v1' else ''}{cgroup[1]}").exists()
    assert "failed with exit code 7" in error and "it broke" in error and "line 30" in error
    assert "line 5\n" not in error  # the tail, not the whole output
    assert "postCreateCommand" in error
    # The command printed the URL; the error shows it with the password masked.
    assert "connecting to postgresql://app:" in error and "@db.internal:5432/app" in error
    assert PASSWORD not in error and all(PASSWORD not in e.model_dump_json() for e in events)
    assert_nothing_made(platform, client)


def test_post_start_commands_run_at_every_start_and_a_failing_one_fails_the_start(
    client: PlatformClient, platform: RunningPlatform
) -> None:
    text = '{"image": "debian:bookworm", "postStartCommand": "echo started >> starts.log; test ! -e broken"}'
    folder = project_folder(platform, "post-start", text)
    p = platform.project
    made = run(client, "workspaces.create", {"project": p, "name": "ps", "folder": str(folder)})
    log = Path(made["folder"], "starts.log")
    assert log.read_text() == "started\n"
    run(client, "workspaces.stop", {"project": p, "name": "ps"})
    run(client, "workspaces.start", {"project": p, "name": "ps"})
    assert log.read_text() == "started\nstarted\n"
    Path(made["folder"], "broken").write_text("")
    with pytest.raises(CodeForgeError, match=r"the postStartCommand .* failed with exit code 1"):
        run(client, "workspaces.start", {"project": p, "name": "ps"})
    assert run(client, "workspaces.show", {"project": p, "name": "ps"})["state"] == "failed"
    run(client, "workspaces.delete", {"project": p, "name": "ps"})


@pytest.mark.parametrize("limits", [{}, {"memory_mb": 256}], ids=["no-limits", "a-memory-limit"])
def test_a_failed_post_create_command_leaves_no_process(
    client: PlatformClient, platform: RunningPlatform, limits: dict[str, int]
) -> None:
    if limits and not CGROUPS:
        pytest.skip(f"no cgroups for a memory limit here: {WHY_NOT}")
    text = '{"image": "debian:bookworm", "postCreateCommand": "sleep ' + MARKER + ' >/dev/null 2>&1 & exit 3"}'
    folder = project_folder(platform, f"post-create-daemon-{len(limits)}", text)
    try:
        error, _ = failed_job(
            client, "workspaces.create", {"project": platform.project, "name": "pcd", "folder": str(folder), **limits}
        )
        assert "failed with exit code 3" in error
        assert marker_pids() == []
    finally:
        for pid in marker_pids():
            os.kill(pid, signal.SIGKILL)
    assert_nothing_made(platform, client)


def test_a_password_in_a_workspace_url_is_never_shown(client: PlatformClient, platform: RunningPlatform) -> None:
    p = platform.project
    made = run(client, "workspaces.create", {"project": p, "name": "secretive", "template": "python"})
    assert PASSWORD not in str(made)
    Path(made["folder"], "app.py").write_text("print('hi')\n")
    assert PASSWORD not in str(run(client, "workspaces.show", {"project": p, "name": "secretive"}))
    assert PASSWORD not in str(run(client, "workspaces.list", {"project": p}))
    snap = run(client, "workspaces.snapshot", {"project": p, "name": "secretive", "snapshot": "secretive-s"})
    assert PASSWORD not in str(snap) and PASSWORD not in str(run(client, "workspaces.snapshots", {"project": p}))
    copy = run(client, "workspaces.clone", {"project": p, "source": "secretive", "name": "secretive-copy"})
    assert PASSWORD not in str(copy)
    lines = run(client, "workspaces.logs", {"project": p, "name": "secretive-copy"})["lines"]
    assert PASSWORD not in str(lines)
    for name in ("secretive", "secretive-copy"):
        run(client, "workspaces.delete", {"project": p, "name": name})
    run(client, "workspaces.delete_snapshot", {"project": p, "snapshot": "secretive-s"})
    jobs = run(client, "jobs.list", {"project": p, "limit": 500})
    assert PASSWORD not in str(jobs)
    assert PASSWORD not in platform.logs()
    assert_nothing_made(platform, client)


def test_a_folder_in_the_platforms_own_data_is_refused(client: PlatformClient, platform: RunningPlatform) -> None:
    """The data dir holds the platform's secret key, database and every project's trees: a
    member who may create workspaces must not get a copy of it (or of another project's tree)."""
    p = platform.project
    other = run(client, "workspaces.create", {"project": p, "name": "other"})
    for folder in (platform.data_dir, Path(other["folder"]), platform.data_dir / "workspaces"):
        with pytest.raises(CodeForgeError, match="folder is outside the folders this platform may use"):
            run(client, "workspaces.create", {"project": p, "name": "thief", "folder": str(folder)})
    run(client, "workspaces.delete", {"project": p, "name": "other"})
    assert_nothing_made(platform, client)


def test_a_workspaces_commands_cannot_read_the_platforms_data(
    client: PlatformClient, platform: RunningPlatform
) -> None:
    peek = (
        '{"image": "debian:bookworm", "postCreateCommand": '
        '"for f in ../../../../secret.key ../../../../codeforge.db; do test -r $f && echo READABLE $f; done; exit 9"}'
    )
    folder = project_folder(platform, "peek", peek)
    error, _ = failed_job(
        client, "workspaces.create", {"project": platform.project, "name": "peek", "folder": str(folder)}
    )
    assert "failed with exit code 9" in error
    assert_nothing_made(platform, client)
    assert "READABLE ../../../../secret.key" not in error and "READABLE ../../../../codeforge.db" not in error


# -- 5. snapshots, restore, clone and delete_snapshot with wrong names --------------------------------


def test_wrong_names_unicode_names_a_deleted_source_and_a_taken_name(
    client: PlatformClient, platform: RunningPlatform
) -> None:
    p = platform.project
    origin = run(client, "workspaces.create", {"project": p, "name": "origin"})
    Path(origin["folder"], "file.txt").write_text("origin's\n")
    run(client, "workspaces.create", {"project": p, "name": "taken"})

    # Long-running operations fail in their job, whose error is the message (no type).
    with pytest.raises(CodeForgeError, match="has no workspace 'nope'"):
        run(client, "workspaces.snapshot", {"project": p, "name": "nope"})
    with pytest.raises(CodeForgeError, match="has no snapshot 'nope'"):
        run(client, "workspaces.restore", {"project": p, "snapshot": "nope"})
    with pytest.raises(NotFound, match="has no snapshot 'nope'"):
        run(client, "workspaces.delete_snapshot", {"project": p, "snapshot": "nope"})
    with pytest.raises(CodeForgeError, match="has no workspace or snapshot 'nope'"):
        run(client, "workspaces.clone", {"project": p, "source": "nope", "name": "x"})

    # Unicode and path-like names: refused by the client, and by the platform when sent raw.
    for op, body in (
        ("workspaces.snapshot", {"name": "origin", "snapshot": "snäp"}),
        ("workspaces.snapshot", {"name": "örigin"}),
        ("workspaces.restore", {"snapshot": "../etc"}),
        ("workspaces.delete_snapshot", {"snapshot": "snap\u200b"}),
        ("workspaces.clone", {"source": "origin", "name": "klön"}),
        ("workspaces.clone", {"source": "origin", "name": "a/b"}),
    ):
        with pytest.raises(BadInput):
            client.call(op, {"project": p, **body})
        raw = httpx.post(
            f"{platform.url}{API}{operation(op).path}",
            json={"project": p, **body},
            headers={"Authorization": f"Bearer {platform.token}"},
            timeout=10,
        )
        assert raw.status_code in (400, 422), (op, body, raw.status_code, raw.text)

    run(client, "workspaces.snapshot", {"project": p, "name": "origin", "snapshot": "s1"})
    with pytest.raises(CodeForgeError, match="has a snapshot 's1' already"):
        run(client, "workspaces.snapshot", {"project": p, "name": "taken", "snapshot": "s1"})
    with pytest.raises(CodeForgeError, match="has a workspace 'taken' already"):
        run(client, "workspaces.clone", {"project": p, "source": "origin", "name": "taken"})
    with pytest.raises(CodeForgeError, match="has a workspace 'taken' already"):
        run(client, "workspaces.clone", {"project": p, "source": "s1", "name": "taken"})
    with pytest.raises(CodeForgeError, match="has no workspace 'elsewhere'"):
        run(client, "workspaces.restore", {"project": p, "snapshot": "s1", "name": "elsewhere"})

    # The workspace a snapshot was taken of is deleted: restore says to clone it instead.
    run(client, "workspaces.delete", {"project": p, "name": "origin"})
    snaps = run(client, "workspaces.snapshots", {"project": p})["items"]
    assert [(s["name"], s["workspace"]) for s in snaps] == [("s1", None)]
    with pytest.raises(CodeForgeError, match=r"was taken of is gone.*clone the snapshot"):
        run(client, "workspaces.restore", {"project": p, "snapshot": "s1"})
    back = run(client, "workspaces.clone", {"project": p, "source": "s1", "name": "origin-again"})
    assert back["state"] == "running" and Path(back["folder"], "file.txt").read_text() == "origin's\n"
    into = run(client, "workspaces.restore", {"project": p, "snapshot": "s1", "name": "taken"})  # another: fine
    assert Path(into["folder"], "file.txt").read_text() == "origin's\n"

    for name in ("taken", "origin-again"):
        run(client, "workspaces.delete", {"project": p, "name": name})
    run(client, "workspaces.delete_snapshot", {"project": p, "snapshot": "s1"})
    assert run(client, "workspaces.snapshots", {"project": p})["items"] == []
    assert not list((platform.data_dir / "workspaces" / "files" / "snap").iterdir())
    assert_nothing_made(platform, client)


def test_restore_into_another_workspace_gives_the_snapshots_services_their_ports(
    client: PlatformClient, platform: RunningPlatform
) -> None:
    p = platform.project
    web = run(client, "workspaces.create", {"project": p, "name": "pyweb", "template": "python"})
    Path(web["folder"], "mark.txt").write_text("web's\n")
    run(client, "workspaces.snapshot", {"project": p, "name": "pyweb", "snapshot": "pyweb-s"})
    run(client, "workspaces.create", {"project": p, "name": "plain"})
    into = run(client, "workspaces.restore", {"project": p, "snapshot": "pyweb-s", "name": "plain"})
    try:
        assert Path(into["folder"], "mark.txt").read_text() == "web's\n"
        ports = {q["service"]: q["host"] for q in into["ports"]}
        assert set(ports) == {"web"}, into["ports"]
        assert 24600 <= ports["web"] <= 24749 and ports["web"] != web["ports"][0]["host"]
        assert httpx.get(f"http://127.0.0.1:{ports['web']}/mark.txt", timeout=5).text == "web's\n"
    finally:
        for name in ("pyweb", "plain"):
            run(client, "workspaces.delete", {"project": p, "name": name})
        run(client, "workspaces.delete_snapshot", {"project": p, "snapshot": "pyweb-s"})
    assert_nothing_made(platform, client)


def test_two_at_once_with_one_name_make_one(client: PlatformClient, platform: RunningPlatform) -> None:
    """Two creates (and two snapshots) of one name sent together: the name's uniqueness is the
    database's, so one wins and the other undoes what it made."""
    p = platform.project
    folder = project_folder(platform, "twin-source")
    for i in range(200):
        (folder / f"f{i}.txt").write_text(f"{i}\n")

    def together(op: str, bodies: list[dict[str, Any]]) -> list[str | None]:
        refs = [client.call(op, {"project": p, **b}) for b in bodies]
        errors = []
        for ref in refs:
            assert isinstance(ref, JobRef)
            list(client.events(ref.job_id))
            errors.append(client.job(ref.job_id).error)
        return errors

    errors = together("workspaces.create", [{"name": "twin", "folder": str(folder)}] * 2)
    assert sorted(e is None for e in errors) == [False, True], errors
    assert re.search(r"'twin' already|same name exists already", next(e for e in errors if e) or ""), errors
    twin_b = run(client, "workspaces.create", {"project": p, "name": "twin-b"})
    Path(twin_b["folder"], "b.txt").write_text("b\n")
    errors = together("workspaces.snapshot", [{"name": n, "snapshot": "same"} for n in ("twin", "twin-b")])
    assert sorted(e is None for e in errors) == [False, True], errors
    assert re.search(r"'same' already|same name exists already", next(e for e in errors if e) or ""), errors
    assert [s["name"] for s in run(client, "workspaces.snapshots", {"project": p})["items"]] == ["same"]
    assert len(list((platform.data_dir / "workspaces" / "files" / "snap").iterdir())) == 1
    assert_nothing_made(platform, client, keep={"twin", "twin-b"})
    run(client, "workspaces.delete_snapshot", {"project": p, "snapshot": "same"})
    for name in ("twin", "twin-b"):
        run(client, "workspaces.delete", {"project": p, "name": name})
    assert_nothing_made(platform, client)


# -- 2. a full workspaces volume ------------------------------------------------------------------------


def test_a_full_volume_and_cpu_and_memory_quotas_name_the_fix_and_leave_nothing(tmp_path: Path) -> None:
    """The workspaces' volume is a 6 MiB tmpfs mounted at data_dir/workspaces/files before the
    platform starts (the platform's database and log stay on the disk: only the trees fill up);
    the project's CPU and memory quotas are set on this platform too."""
    base = tmp_path / "full"
    files = base / "data" / "workspaces" / "files"
    files.mkdir(parents=True)
    (base / "projects").mkdir()
    mount = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6M", "tmpfs", str(files)], capture_output=True)
    require("tmpfs", mount.returncode == 0, f"cannot mount a tmpfs: {mount.stderr.decode()[-300:]}")
    quotas = {
        "CODEFORGE_WORKSPACES_MAX_CPUS_PER_PROJECT": "1.5",
        "CODEFORGE_WORKSPACES_MAX_MEMORY_MB_PER_PROJECT": "512",
    }
    platform = None
    try:
        platform = start_platform(base, CODEFORGE_PROJECTS_ROOT=str(base / "projects"), **ENV, **quotas)
        folder = project_folder(platform, "too-big")
        (folder / "data.bin").write_bytes(os.urandom(10 * 1024 * 1024))
        with platform.client() as client:
            p = platform.project
            body = {"project": p, "name": "big", "folder": str(folder), "cpus": 1, "memory_mb": 256}
            error, _ = failed_job(client, "workspaces.create", body)
            assert f"no space left on the workspaces volume {files}" in error, error
            assert "Fix: free space there (delete old snapshots or workspaces) or grow the volume" in error
            assert_nothing_made(platform, client)
            # A disk limit the folder passes is said as such, before anything is copied onto the volume.
            with pytest.raises(CodeForgeError, match=r"more than its disk limit of 2 MiB; disk_mb: 2 MiB is too small"):
                run(client, "workspaces.create", {**body, "disk_mb": 2})
            assert_nothing_made(platform, client)
            # With room, the same platform works.
            (folder / "data.bin").write_bytes(b"small")
            made = run(client, "workspaces.create", body)
            assert Path(made["folder"], "data.bin").read_bytes() == b"small"
            assert made["limits"] == {"cpus": 1.0, "memory_mb": 256, "disk_mb": None}

            # Quotas: refused before anything is made, with the figures and the fix.
            for extra, says in (
                ({}, "quota exceeded: project 'demo''s workspaces hold 1 CPUs and this one asks no limit; "
                 "CODEFORGE_WORKSPACES_MAX_CPUS_PER_PROJECT is 1.5"),
                ({"cpus": 1, "memory_mb": 128}, "hold 1 CPUs and this one asks 1; "
                 "CODEFORGE_WORKSPACES_MAX_CPUS_PER_PROJECT is 1.5.*give it a smaller limit \\(at most 0.5\\)"),
                ({"cpus": 0.5, "memory_mb": 300}, "hold 256 MiB of memory and this one asks 300; "
                 "CODEFORGE_WORKSPACES_MAX_MEMORY_MB_PER_PROJECT is 512.*at most 256"),
            ):  # fmt: skip
                with pytest.raises(CodeForgeError, match=says):
                    run(client, "workspaces.create", {"project": p, "name": "more", **extra})
            with pytest.raises(CodeForgeError, match=r"hold 1 CPUs and this one asks 1; .*at most 0\.5"):
                run(client, "workspaces.clone", {"project": p, "source": "big", "name": "more"})
            assert_nothing_made(platform, client, keep={"big"})
            run(client, "workspaces.delete", {"project": p, "name": "big"})
            assert_nothing_made(platform, client)

            # A snapshot and a clone of a running workspace (its service holds the tree, so its
            # files are copied into a new layer) on a full volume: refused, nothing half-made.
            limits: dict[str, float] = {"cpus": 0.5, "memory_mb": 128}  # a clone of it fits in the quotas
            web = run(client, "workspaces.create", {"project": p, "name": "web", "template": "python", **limits})
            Path(web["folder"], "big.bin").write_bytes(os.urandom(4 * 1024 * 1024))
            attempts: list[tuple[str, dict[str, str]]] = [
                ("snapshot", {"name": "web", "snapshot": "web-s"}),
                ("clone", {"source": "web", "name": "web-c"}),
            ]
            for op, names in attempts:
                with pytest.raises(CodeForgeError, match=f"no space left on the workspaces volume {files}"):
                    run(client, f"workspaces.{op}", {"project": p, **names})
                assert run(client, "workspaces.snapshots", {"project": p})["items"] == []
                assert_nothing_made(platform, client, keep={"web"})
            assert httpx.get(web["ports"][0]["url"], timeout=5).status_code == 200
            Path(web["folder"], "big.bin").unlink()
            run(client, "workspaces.snapshot", {"project": p, "name": "web", "snapshot": "web-s"})
            run(client, "workspaces.delete", {"project": p, "name": "web"})
            run(client, "workspaces.delete_snapshot", {"project": p, "snapshot": "web-s"})
            assert_nothing_made(platform, client)
    finally:
        if platform is not None:
            with platform.client() as c:  # what a failed check left: its services stopped
                for w in run(c, "workspaces.list", {"project": platform.project})["items"]:
                    run(c, "workspaces.delete", {"project": platform.project, "name": w["name"]})
            platform.stop()
        unmount_all(files)
        shutil.rmtree(base, ignore_errors=True)


def test_a_snapshot_of_a_workspace_never_written(client: PlatformClient, platform: RunningPlatform) -> None:
    p = platform.project
    run(client, "workspaces.create", {"project": p, "name": "blank"})
    try:
        run(client, "workspaces.snapshot", {"project": p, "name": "blank", "snapshot": "blank-s"})
        run(client, "workspaces.delete_snapshot", {"project": p, "snapshot": "blank-s"})
    finally:
        run(client, "workspaces.delete", {"project": p, "name": "blank"})
        assert_nothing_made(platform, client)
