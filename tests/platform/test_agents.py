"""agents.*: the model settings (roles, the key never shown), runs as jobs against a real platform
(`codeforge up`) whose model is a ReplayServer playing scripted turns through the real `openai`
client, the agents working in the bubblewrap sandbox, and the review of their change sets:
accept whole, per file and per hunk, reject, undo, conflicts, cancel, the crash cleanup and the
agent-run pane."""

from __future__ import annotations

import contextlib
import re
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import psycopg
import pytest

from codeforge.platform.agents.replay import ReplayServer, Turn
from codeforge.platform.agents.sandbox import bwrap_problem
from tests.conftest import RunningPlatform, require, start_platform
from tests.platform.conftest import PG_ADMIN, _postgres_up

KEY = "sk-agents-test-key-0123456789abcdef"
UNKNOWN = "0" * 32
TERMINAL = ("succeeded", "failed", "cancelled")

CALC = '''"""Arithmetic."""


def add(a, b):
    return a - b  # add


def double(a):
    return 2 * a


def square(a):
    return a * a


def neg(a):
    return a  # neg
'''
UTIL = 'GREETING = "helo"\n'
OLD = "# nothing uses this any more\n"
CHECK = "import calc\n\nassert calc.add(2, 3) == 5, calc.add(2, 3)\n"
NOTES = "# Notes\n\nadd adds.\n"


def _call(name: str, **arguments: Any) -> Turn:
    return {"tool_calls": [{"name": name, "arguments": arguments}]}


# The Bug Fixer's run: two hunks in calc.py, one in util.py, a new file and a deleted one.
FIX_TURNS: list[Turn] = [
    {"text": "The test fails because add subtracts."},
    _call("edit", path="calc.py", search="return a - b  # add", replace="return a + b  # add"),
    _call("edit", path="calc.py", search="return a  # neg", replace="return -a  # neg"),
    _call("edit", path="util.py", search='"helo"', replace='"hello"'),
    _call("write_file", path="notes.md", content=NOTES),
    _call("run", command="rm old.py"),
    _call("finish", summary="add adds now"),
]


def _fixed(text: str) -> str:
    return text.replace("return a - b  # add", "return a + b  # add").replace("return a  # neg", "return -a  # neg")


@dataclass
class Env:
    platform: RunningPlatform
    projects: Path
    tokens: dict[str, str] = field(default_factory=dict)
    servers: list[ReplayServer] = field(default_factory=list)

    def call(self, who: str, op: str, body: dict[str, Any] | None = None) -> httpx.Response:
        return httpx.post(
            f"{self.platform.url}/api/v1/{op.replace('.', '/')}",
            json=body or {},
            headers={"Authorization": f"Bearer {self.tokens[who]}"},
            timeout=30,
        )

    def ok(self, who: str, op: str, body: dict[str, Any] | None = None) -> Any:
        response = self.call(who, op, body)
        assert response.status_code < 300, response.text
        return response.json()

    def problem(self, who: str, op: str, body: dict[str, Any], status: int) -> dict[str, Any]:
        response = self.call(who, op, body)
        assert response.status_code == status, (op, response.status_code, response.text)
        return dict(response.json())

    def wait(self, job_id: str, until: Callable[[dict[str, Any]], bool] = lambda j: j["state"] in TERMINAL) -> Any:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            job = self.ok("owner", "jobs.get", {"id": job_id})
            if until(job):
                return job
            time.sleep(0.1)
        raise AssertionError(f"job {job_id} did not get there: {job}")

    def serve(self, turns: list[Turn], **kwargs: Any) -> ReplayServer:
        server = ReplayServer(turns, **kwargs)
        server.start()
        self.servers.append(server)
        self.ok("owner", "agents.configure", {"project": "demo", "base_url": server.base_url, "model": "replay-model"})
        return server

    def workspace(self, name: str) -> Path:
        folder = self.projects / name
        folder.mkdir()
        for rel, text in {"calc.py": CALC, "util.py": UTIL, "old.py": OLD, "check.py": CHECK}.items():
            (folder / rel).write_text(text)
        return folder

    def start(self, workspace: Path, who: str = "developer", **body: Any) -> str:
        data = {
            "project": "demo",
            "agent": "bug_fixer",
            "task": "check.py fails: calc.add(2, 3) is -1",
            "workspace": str(workspace),
            "test_command": "python3 check.py",
            **body,
        }
        return str(self.ok(who, "agents.start", data)["job_id"])

    def run(self, name: str, turns: list[Turn] = FIX_TURNS, **body: Any) -> tuple[dict[str, Any], Path]:
        """A finished run of the Bug Fixer on a fresh workspace."""
        self.serve(turns)
        folder = self.workspace(name)
        job = self.wait(self.start(folder, **body))
        assert job["state"] == "succeeded", job
        return job["result"], folder


def _step(job: dict[str, Any]) -> int:
    """The step a running job's progress message names ("step 3/200 bug_fixer: …"), else 0."""
    match = re.match(r"step (\d+)/", job.get("message") or "")
    return int(match.group(1)) if match else 0


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def _states(run: dict[str, Any]) -> dict[str, str]:
    return {h["id"]: h["state"] for f in run["changes"] for h in f["hunks"]}


def _add_member(env: Env, role: str) -> None:
    username = f"agents-{role}"
    env.ok("owner", "members.add", {"username": username, "role": role})
    env.tokens[role] = env.ok("owner", "tokens.create", {"name": "t", "username": username})["token"]


def _platform(base: Path, database_url: str = "") -> Env:
    projects = base / "projects"
    projects.mkdir(parents=True)
    extra = {"CODEFORGE_DATABASE_URL": database_url} if database_url else {}
    running = start_platform(base / "platform", CODEFORGE_PROJECTS_ROOT=str(projects), **extra)
    env = Env(running, projects, {"owner": running.token})
    for role in ("admin", "developer", "viewer"):
        _add_member(env, role)
    return env


@contextlib.contextmanager
def _database(backend: str) -> Iterator[str]:
    """The platform's state: "" (SQLite in its data folder) or a PostgreSQL database of its own."""
    if backend == "sqlite":
        yield ""
        return
    require("postgresql", _postgres_up(), f"no PostgreSQL at {PG_ADMIN}")
    name = f"cf_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://{PG_ADMIN.rsplit('/', 1)[0].split('://', 1)[1]}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# What keeps state in the platform's database (settings, runs, hunk states, spend) runs on both
# backends; the rest (refusals, the pane, what a run writes) is the same on either: SQLite only.
BOTH_BACKENDS = pytest.mark.parametrize("env", ["sqlite", "postgresql"], indirect=True)


@pytest.fixture(scope="module")
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    """One platform per backend for the module; each test runs on workspaces of its own."""
    require("bwrap", not bwrap_problem(), bwrap_problem() or "")
    with _database(getattr(request, "param", "sqlite")) as url:
        env = _platform(tmp_path_factory.mktemp("agents"), url)
        try:
            yield env
        finally:
            env.platform.stop()
            for server in env.servers:
                server.stop()


# ---- settings ---------------------------------------------------------------------------


@BOTH_BACKENDS
def test_configure_needs_manage_and_the_key_is_never_shown(env: Env) -> None:
    env.problem("developer", "agents.configure", {"project": "demo", "model": "m"}, 403)
    env.problem("viewer", "agents.configure", {"project": "demo", "model": "m"}, 403)
    org = env.ok(
        "admin",
        "agents.configure",
        {
            "project": "demo",
            "scope": "organization",
            "base_url": "http://127.0.0.1:9/v1",
            "model": "org-model",
            "api_key": KEY,
            "prices": {"org-model": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}},
            "run_cap_usd": 5,
        },
    )
    assert org["key_set"] and org["model"] == "org-model" and org["sources"]["api_key"] == "organization"
    assert org["configured"] and org["tools"] and not org["network"]
    project = env.ok("owner", "agents.configure", {"project": "demo", "model": "project-model", "timeout_s": 30})
    assert project["model"] == "project-model" and project["sources"]["model"] == "project"
    assert project["base_url"] == "http://127.0.0.1:9/v1" and project["sources"]["base_url"] == "organization"
    assert project["prices"] == {"org-model": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}
    assert project["run_cap_usd"] == 5 and project["timeout_s"] == 30 and project["sources"]["max_retries"] == "default"
    shown = env.ok("viewer", "agents.settings", {"project": "demo"})
    assert shown == project and shown["key_set"]
    audit = env.ok("owner", "audit.list", {"operation": "agents.configure", "limit": 100})["items"]
    assert {a["target"] for a in audit} >= {"demo/organization", "demo/project"}
    for text in (str(org), str(shown), str(audit), env.platform.logs()):
        assert KEY not in text and KEY[:12] not in text
    # A bad value says which field and what it takes; the settings stay as they were.
    bad = env.problem("owner", "agents.configure", {"project": "demo", "base_url": "ftp://x", "max_retries": 99}, 422)
    assert {e["field"] for e in bad["errors"]} == {"base_url", "max_retries"}
    assert env.ok("viewer", "agents.settings", {"project": "demo"}) == shown
    # reset forgets the scope's key and values: the project falls back to the organization's.
    back = env.ok("owner", "agents.configure", {"project": "demo", "reset": True})
    assert back["model"] == "org-model" and back["key_set"] and back["sources"]["api_key"] == "organization"
    gone = env.ok("owner", "agents.configure", {"project": "demo", "scope": "organization", "api_key": ""})
    assert not gone["key_set"]
    blank = env.ok("owner", "agents.configure", {"project": "demo", "scope": "organization", "reset": True})
    assert not blank["configured"] and set(blank["sources"].values()) == {"default"}


def test_start_without_an_endpoint_says_what_to_run(env: Env) -> None:
    env.ok("owner", "projects.create", {"slug": "bare"})
    folder = env.projects / "bare"
    folder.mkdir()
    env.problem("viewer", "agents.start", {"project": "bare", "agent": "bug_fixer", "task": "x"}, 403)
    job_id = env.ok("developer", "agents.start", {"project": "bare", "agent": "bug_fixer", "task": "fix it"})["job_id"]
    job = env.wait(job_id)
    assert job["state"] == "failed" and "codeforge agents configure" in job["error"], job
    assert "base_url" in job["error"] and "model" in job["error"]
    assert env.ok("viewer", "agents.list", {"project": "bare"})["items"] == []


# ---- runs -------------------------------------------------------------------------------


def test_a_run_proposes_a_change_set_and_writes_nothing(env: Env) -> None:
    run, folder = env.run("whole")
    assert _snapshot(folder) == {
        "calc.py": CALC.encode(),
        "check.py": CHECK.encode(),
        "old.py": OLD.encode(),
        "util.py": UTIL.encode(),
    }
    assert run["state"] == "done" and run["resolved"], run
    assert run["agent"] == "bug_fixer" and run["project"] == "demo" and run["model"] == "replay-model"
    assert run["steps"] >= len(FIX_TURNS) - 1 and run["prompt_tokens"] > 0 and run["completion_tokens"] > 0
    by_path = {f["path"]: f for f in run["changes"]}
    assert {p: f["status"] for p, f in by_path.items()} == {
        "calc.py": "modified",
        "util.py": "modified",
        "notes.md": "added",
        "old.py": "deleted",
    }
    assert [h["id"] for h in by_path["calc.py"]["hunks"]] == ["calc.py#1", "calc.py#2"]
    assert set(_states(run).values()) == {"pending"}
    assert "+    return a + b  # add" in run["diff"] and "--- /dev/null" in run["diff"]
    kinds = [e["kind"] for e in run["transcript"]]
    assert "tool" in kinds and "text" in kinds
    texts = [e for e in run["transcript"] if e["kind"] == "text"]
    assert any("add subtracts" in e["message"] for e in texts)  # streamed pieces coalesced
    assert env.ok("viewer", "agents.show", {"run": run["id"]}) == run
    listed = env.ok("viewer", "agents.list", {"project": "demo"})["items"]
    assert listed[0]["id"] == run["id"] and listed[0]["files"] == 4 and listed[0]["state"] == "done"
    assert not (env.platform.data_dir / "agents" / run["id"]).exists()  # the scratch copy is gone


@BOTH_BACKENDS
def test_accept_all_then_undo_restores(env: Env) -> None:
    run, folder = env.run("accept-all")
    before = _snapshot(folder)
    env.problem("viewer", "agents.accept", {"run": run["id"]}, 403)
    accepted = env.ok("developer", "agents.accept", {"run": run["id"]})
    assert sorted(accepted["written"]) == ["calc.py", "notes.md", "old.py", "util.py"]
    assert set(_states(accepted["run"]).values()) == {"accepted"}
    assert (folder / "calc.py").read_text() == _fixed(CALC)
    assert (folder / "util.py").read_text() == 'GREETING = "hello"\n'
    assert (folder / "notes.md").read_text() == NOTES and not (folder / "old.py").exists()
    again = env.ok("developer", "agents.accept", {"run": run["id"]})  # nothing left to apply
    assert again["hunks"] == [] and again["written"] == []
    undone = env.ok("developer", "agents.undo", {"run": run["id"]})
    assert sorted(undone["written"]) == ["calc.py", "notes.md", "old.py", "util.py"]
    assert set(_states(undone["run"]).values()) == {"undone"}
    assert _snapshot(folder) == before
    audit = env.ok("owner", "audit.list", {"operation": "agents.undo", "limit": 10})["items"]
    assert audit[0]["target"] == run["id"] and audit[0]["outcome"] == "succeeded"


@BOTH_BACKENDS
def test_accept_per_file_and_per_hunk_and_reject(env: Env) -> None:
    run, folder = env.run("per-hunk")
    rid = run["id"]
    one = env.ok("developer", "agents.accept", {"run": rid, "files": ["util.py"]})
    assert one["written"] == ["util.py"] and one["hunks"] == ["util.py#1"]
    assert (folder / "util.py").read_text() == 'GREETING = "hello"\n' and (folder / "calc.py").read_text() == CALC
    two = env.ok("developer", "agents.accept", {"run": rid, "hunks": ["calc.py#2"]})
    assert two["written"] == ["calc.py"] and two["hunks"] == ["calc.py#2"]
    assert (folder / "calc.py").read_text() == CALC.replace("return a  # neg", "return -a  # neg")
    rejected = env.ok("developer", "agents.reject", {"run": rid})
    assert rejected["written"] == [] and sorted(rejected["hunks"]) == ["calc.py#1", "notes.md#1", "old.py#1"]
    assert _states(rejected["run"]) == {
        "calc.py#1": "rejected",
        "calc.py#2": "accepted",
        "util.py#1": "accepted",
        "notes.md#1": "rejected",
        "old.py#1": "rejected",
    }
    assert not (folder / "notes.md").exists() and (folder / "old.py").read_text() == OLD
    refused = env.problem("developer", "agents.reject", {"run": rid, "hunks": ["calc.py#2"]}, 409)
    assert "undo" in refused["fix"]
    # A rejected hunk may still be accepted later.
    late = env.ok("developer", "agents.accept", {"run": rid, "hunks": ["calc.py#1"]})
    assert late["written"] == ["calc.py"] and (folder / "calc.py").read_text() == _fixed(CALC)
    undone = env.ok("developer", "agents.undo", {"run": rid})
    assert sorted(undone["hunks"]) == ["calc.py#1", "calc.py#2", "util.py#1"]
    assert (folder / "calc.py").read_text() == CALC and (folder / "util.py").read_text() == UTIL


def test_reject_writes_nothing(env: Env) -> None:
    run, folder = env.run("reject")
    before = _snapshot(folder)
    out = env.ok("developer", "agents.reject", {"run": run["id"]})
    assert out["written"] == [] and set(_states(out["run"]).values()) == {"rejected"}
    assert _snapshot(folder) == before
    assert env.ok("developer", "agents.undo", {"run": run["id"]})["hunks"] == []  # nothing was accepted
    assert _snapshot(folder) == before


def test_write_false_records_what_the_editor_applied(env: Env) -> None:
    run, folder = env.run("editor")
    before = _snapshot(folder)
    out = env.ok("developer", "agents.accept", {"run": run["id"], "hunks": ["calc.py#1"], "write": False})
    assert out["written"] == [] and out["hunks"] == ["calc.py#1"] and _snapshot(folder) == before
    assert _states(out["run"])["calc.py#1"] == "accepted"
    undone = env.ok("developer", "agents.undo", {"run": run["id"], "write": False})
    assert undone["hunks"] == ["calc.py#1"] and undone["written"] == [] and _snapshot(folder) == before


@BOTH_BACKENDS
def test_a_conflict_writes_nothing(env: Env) -> None:
    run, folder = env.run("conflict")
    # The user changed the very line the first hunk changes, after the run.
    (folder / "calc.py").write_text(CALC.replace("return a - b  # add", "return b - a  # add (mine)"))
    before = _snapshot(folder)
    conflict = env.problem("developer", "agents.accept", {"run": run["id"]}, 409)
    assert "calc.py" in conflict["detail"] and "nothing was written" in conflict["detail"]
    assert "calc.py" in conflict["fix"]
    assert _snapshot(folder) == before  # util.py, notes.md, old.py untouched too
    assert set(_states(env.ok("viewer", "agents.show", {"run": run["id"]})).values()) == {"pending"}
    # The hunks whose lines are intact still apply on their own.
    fine = env.ok("developer", "agents.accept", {"run": run["id"], "hunks": ["calc.py#2", "util.py#1"]})
    assert sorted(fine["written"]) == ["calc.py", "util.py"]
    assert "return -a  # neg" in (folder / "calc.py").read_text()
    assert "return b - a  # add (mine)" in (folder / "calc.py").read_text()


@BOTH_BACKENDS
def test_cost_from_the_price_table_and_the_project_cap(env: Env) -> None:
    prices = {"replay-model": {"input_per_mtok": 1.0, "output_per_mtok": 2.0}}
    env.ok("owner", "agents.configure", {"project": "demo", "prices": prices})
    try:
        run, _ = env.run("costed")
        expected = (run["prompt_tokens"] * 1.0 + run["completion_tokens"] * 2.0) / 1_000_000
        assert run["cost_usd"] == pytest.approx(expected, abs=1e-6) and run["cost_usd"] > 0
        spent = env.ok("viewer", "agents.settings", {"project": "demo"})["project_spent_usd"]
        assert spent == pytest.approx(run["cost_usd"], abs=1e-5)  # the other runs were free
        # A cap the project has spent already: the next run stops before its first model call.
        env.ok("owner", "agents.configure", {"project": "demo", "project_cap_usd": spent})
        capped, folder = env.run("capped")
        assert capped["state"] == "done" and not capped["resolved"] and capped["changes"] == []
        assert "project's spending cap" in capped["reason"] and capped["cost_usd"] == 0
        assert _snapshot(folder)["calc.py"] == CALC.encode()
    finally:
        env.ok("owner", "agents.configure", {"project": "demo", "reset": True})


def test_cancel_mid_run_keeps_nothing(env: Env) -> None:
    turns = [
        _call("edit", path="calc.py", search="return a - b  # add", replace="return a + b  # add"),
        _call("run", command="sleep 0.2"),
    ]
    env.serve(turns, repeat_last=True)
    folder = env.workspace("cancel")
    before = _snapshot(folder)
    job_id = env.start(folder, max_steps=200)

    assert env.wait(job_id, lambda j: j["state"] in TERMINAL or _step(j) >= 3)["state"] == "running"
    run = env.ok("viewer", "agents.list", {"project": "demo", "state": "running"})["items"][0]
    env.problem("viewer", "agents.cancel", {"run": run["id"]}, 403)
    env.ok("developer", "agents.cancel", {"run": run["id"]})
    job = env.wait(job_id)
    assert job["state"] == "cancelled", job
    shown = env.ok("viewer", "agents.show", {"run": run["id"]})
    assert shown["state"] == "cancelled" and shown["changes"] == [] and shown["finished_at"]
    assert _snapshot(folder) == before
    assert not (env.platform.data_dir / "agents" / run["id"]).exists()
    again = env.problem("developer", "agents.cancel", {"run": run["id"]}, 409)
    assert "cancelled" in again["detail"]


def test_bad_inputs(env: Env) -> None:
    env.problem("viewer", "agents.show", {"run": UNKNOWN}, 404)
    env.problem("developer", "agents.accept", {"run": UNKNOWN}, 404)
    bad_id = env.problem("viewer", "agents.show", {"run": "nope"}, 422)
    assert bad_id["errors"][0]["field"] == "run"
    run, folder = env.run("bad")
    malformed = env.problem("developer", "agents.accept", {"run": run["id"], "hunks": ["calc.py"]}, 422)
    assert malformed["errors"][0]["field"].startswith("hunks")
    unknown = env.problem(
        "developer", "agents.accept", {"run": run["id"], "hunks": ["calc.py#9"], "files": ["nope.py"]}, 422
    )
    assert {e["field"] for e in unknown["errors"]} == {"hunks.0", "files.0"}
    assert "agents show" in unknown["errors"][0]["fix"]
    assert _snapshot(folder)["calc.py"] == CALC.encode()
    env.problem("developer", "agents.start", {"project": "demo", "agent": "wizard", "task": "x"}, 422)
    env.problem("developer", "agents.start", {"project": "demo", "agent": "bug_fixer", "task": ""}, 422)
    env.problem(
        "developer", "agents.start", {"project": "demo", "agent": "bug_fixer", "task": "x", "max_steps": 0}, 422
    )
    outside = env.wait(env.start(env.projects.parent))
    assert outside["state"] == "failed" and "outside the folders" in outside["error"], outside
    dots = env.wait(env.start(Path("../")))
    assert dots["state"] == "failed" and "outside the folders" in dots["error"], dots
    env.problem("owner", "panes.open", {"project": "demo", "pane": "agent-run"}, 422)
    env.problem("owner", "panes.open", {"project": "demo", "pane": "agent-run", "item": UNKNOWN}, 404)
    env.problem("owner", "panes.open", {"project": "demo", "pane": "overview", "item": run["id"]}, 422)


def test_the_pane_shows_the_run(env: Env) -> None:
    run, _ = env.run("pane")
    link = env.ok("viewer", "panes.open", {"project": "demo", "pane": "agent-run", "item": run["id"]})
    assert run["id"] in link["title"]
    parts = urlsplit(link["url"])
    page = httpx.get(f"{env.platform.url}{parts.path}?{parts.query}", timeout=30)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "check.py fails" in page.text and "Transcript" in page.text and "add subtracts" in page.text
    assert '<span class="a">+    return a + b  # add</span>' in page.text and "calc.py" in page.text
    text = httpx.get(f"{env.platform.url}{parts.path}?{parts.query}&format=text", timeout=30)
    assert text.status_code == 200 and text.headers["content-type"].startswith("text/plain")
    assert "+    return a + b  # add" in text.text and "[text bug_fixer] The test fails" in text.text
    assert "resolved" in text.text and "$0.0000" in text.text


# ---- crash cleanup ----------------------------------------------------------------------


def test_a_killed_platform_leaves_no_running_run(tmp_path: Path) -> None:
    require("bwrap", not bwrap_problem(), bwrap_problem() or "")
    env = _platform(tmp_path)
    try:
        env.serve([_call("run", command="sleep 0.2")], repeat_last=True)
        folder = env.workspace("crash")
        before = _snapshot(folder)
        job_id = env.start(folder, max_steps=200)
        assert env.wait(job_id, lambda j: j["state"] in TERMINAL or _step(j) >= 2)["state"] == "running"
        run = env.ok("viewer", "agents.list", {"project": "demo"})["items"][0]
        assert run["state"] == "running"
        scratch = env.platform.data_dir / "agents" / run["id"]
        assert scratch.is_dir()
        orphan = env.platform.data_dir / "agents" / ("f" * 32)  # a folder no run owns
        orphan.mkdir()
        env.platform.kill()
        env.platform.start()
        shown = env.ok("viewer", "agents.show", {"run": run["id"]})
        assert shown["state"] == "failed" and "platform stopped" in shown["reason"] and shown["changes"] == []
        assert not scratch.exists() and not orphan.exists()
        assert _snapshot(folder) == before
        assert env.ok("owner", "jobs.get", {"id": job_id})["state"] == "failed"
    finally:
        env.platform.stop()
        for server in env.servers:
            server.stop()
        shutil.rmtree(tmp_path / "projects", ignore_errors=True)
