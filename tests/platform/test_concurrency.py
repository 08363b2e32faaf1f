"""Concurrent writers of one resource against a real `codeforge up` process, on SQLite and
PostgreSQL: one winner and clean answers for the rest (an upsert where every writer may
win, a 409 problem where only one may), never a 500, and never a dropped connection."""

from __future__ import annotations

import socket
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from codeforge.catalog.jobs import JobState
from codeforge.platform.app import create_app
from codeforge.platform.auth.service import create_organization
from codeforge.platform.db import Database
from codeforge.platform.jobs.signals import JobSignals
from codeforge.platform.jobs.store import JobStore
from codeforge.platform.settings import Settings
from tests.conftest import RunningPlatform, free_port

WRITERS = 20


@pytest.fixture
def platform(state_url: str, platform_factory: Callable[..., RunningPlatform]) -> RunningPlatform:
    """`codeforge up`'s defaults (SQLite in the data dir), or its state on PostgreSQL."""
    return platform_factory(**({} if state_url.startswith("sqlite") else {"CODEFORGE_DATABASE_URL": state_url}))


def api(platform: RunningPlatform) -> httpx.Client:
    return httpx.Client(base_url=platform.url, headers={"Authorization": f"Bearer {platform.token}"}, timeout=60)


def at_once(platform: RunningPlatform, calls: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    """Each call from its own client and connection, all released together by a barrier, then
    one more request on each connection: a server that drops a connection after an answer
    fails that second request."""
    barrier = threading.Barrier(len(calls))
    answers: list[httpx.Response | None] = [None] * len(calls)
    follow_ups: list[int] = [0] * len(calls)
    errors: list[BaseException] = []

    def run(i: int, op: str, body: dict[str, Any]) -> None:
        try:
            with api(platform) as client:
                client.post("/api/v1/auth/whoami", json={}).raise_for_status()  # connect before the race
                barrier.wait(timeout=60)
                answers[i] = client.post("/api/v1/" + op.replace(".", "/"), json=body)
                follow_ups[i] = client.post("/api/v1/auth/whoami", json={}).status_code
        except BaseException as exc:  # reported below, with the thread's call
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i, op, body)) for i, (op, body) in enumerate(calls)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert follow_ups == [200] * len(calls), "a connection was dropped after its answer"
    return [a for a in answers if a is not None]


def statuses(answers: list[httpx.Response]) -> Counter[int]:
    return Counter(a.status_code for a in answers)


def assert_one_winner(answers: list[httpx.Response]) -> None:
    assert statuses(answers) == {200: 1, 409: len(answers) - 1}, [a.text for a in answers if a.status_code != 200]
    for refused in (a for a in answers if a.status_code == 409):
        problem = refused.json()
        assert refused.headers["content-type"] == "application/problem+json"
        assert problem["type"].endswith("/conflict") and problem["fix"], problem


def test_first_writes_of_one_variable_all_succeed_and_the_last_wins(platform: RunningPlatform) -> None:
    values = [f"value-{i}" for i in range(WRITERS)]
    answers = at_once(platform, [("env.set", {"project": "demo", "name": "RACE", "value": v}) for v in values])
    assert statuses(answers) == {200: WRITERS}, [a.text for a in answers if a.status_code != 200]
    with api(platform) as client:
        listed = client.post("/api/v1/env/list", json={"project": "demo"}).json()["items"]
    assert [i["name"] for i in listed] == ["RACE"]  # one variable, not one per writer
    assert listed[0]["value"] in values


def test_first_writes_of_one_secret_stay_secret(platform: RunningPlatform) -> None:
    calls = [("env.set", {"project": "demo", "name": "KEY", "value": f"s-{i}", "secret": True}) for i in range(WRITERS)]
    answers = at_once(platform, calls)
    assert statuses(answers) == {200: WRITERS}
    assert all(a.json()["value"] is None for a in answers)


def test_concurrent_imports_of_one_variable_all_succeed(platform: RunningPlatform) -> None:
    calls = [("env.import", {"project": "demo", "content": f"SHARED={i}\nOWN_{i}=x"}) for i in range(8)]
    answers = at_once(platform, calls)
    assert statuses(answers) == {202: 8}
    with api(platform) as client:
        for answer in answers:
            events = client.get(answer.json()["events_url"]).text
            assert "succeeded" in events, events
        names = {i["name"] for i in client.post("/api/v1/env/list", json={"project": "demo"}).json()["items"]}
    assert names == {"SHARED"} | {f"OWN_{i}" for i in range(8)}


def test_concurrent_creates_of_one_project_have_one_winner(platform: RunningPlatform) -> None:
    assert_one_winner(at_once(platform, [("projects.create", {"slug": "race"})] * WRITERS))


def test_concurrent_adds_of_one_member_have_one_winner(platform: RunningPlatform) -> None:
    assert_one_winner(at_once(platform, [("members.add", {"username": "racer", "role": "developer"})] * WRITERS))


def test_concurrent_tokens_for_one_member_are_all_made(platform: RunningPlatform) -> None:
    answers = at_once(platform, [("tokens.create", {"name": "same-name"})] * WRITERS)
    assert statuses(answers) == {200: WRITERS}
    assert len({a.json()["token"] for a in answers}) == WRITERS


def test_a_variable_set_while_its_project_is_deleted_is_a_conflict_or_gone(platform: RunningPlatform) -> None:
    with api(platform) as client:
        client.post("/api/v1/projects/create", json={"slug": "doomed"}).raise_for_status()
    calls = [("projects.delete", {"slug": "doomed"})]
    calls += [("env.set", {"project": "doomed", "name": f"V{i}", "value": "x"}) for i in range(WRITERS - 1)]
    answers = at_once(platform, calls)
    assert set(statuses(answers)) <= {200, 404, 409}, [a.text for a in answers if a.status_code >= 500]


# --- after an internal error the connection stays open -------------------------------------


@pytest.fixture
def server_with_a_bug(tmp_path: Any) -> Iterator[str]:
    """The platform's app under a real uvicorn, with one route that fails unexpectedly, as a
    defect in any operation would."""
    app = create_app(Settings(data_dir=tmp_path / "data", instance_id="test"))

    @app.get("/bug")
    def bug() -> None:
        raise RuntimeError("an unexpected failure")

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    started = threading.Event()
    while not started.wait(0.05):
        if server.started:
            started.set()
        assert thread.is_alive(), "the server did not start"
    yield f"127.0.0.1:{port}"
    server.should_exit = True
    thread.join(30)


def _exchange(sock: socket.socket, path: str) -> tuple[bytes, bytes]:
    """One GET on a kept-alive connection: the status line and the body."""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: test\r\n\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection after {path}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(h.split(b":")[1]) for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection within the answer to {path}"
        body += chunk
    return head.split(b"\r\n")[0], body


def test_an_internal_error_keeps_the_connection(server_with_a_bug: str) -> None:
    host, port = server_with_a_bug.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        status, body = _exchange(sock, "/bug")
        assert status.endswith(b"500 Internal Server Error") and b"internal error" in body
        assert b"unexpected failure" not in body  # the message of an unexpected error is not the user's
        status, _ = _exchange(sock, "/healthz")  # the same connection still serves
        assert status.endswith(b"200 OK")


# --- the end of a job: one writer decides it ------------------------------------------------


@pytest.fixture
def job_store(state_url: str) -> Iterator[JobStore]:
    db = Database(state_url)
    db.migrate()
    yield JobStore(db, JobSignals())
    db.dispose()


def _end_at_once(store: JobStore, job_id: str, states: tuple[JobState, ...]) -> list[JobState]:
    """Each state from its own thread at the same moment; the ones whose transition won."""
    barrier = threading.Barrier(len(states))
    won: list[JobState] = []

    def end(state: JobState) -> None:
        barrier.wait(timeout=30)
        if store.transition(job_id, state, only_from=frozenset({JobState.RUNNING})):
            won.append(state)

    threads = [threading.Thread(target=end, args=(state,)) for state in states]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return won


def test_a_job_ends_once_when_finish_and_cancel_race(job_store: JobStore) -> None:
    """A job that finishes while a shutdown cancels it ends one way, with one final event,
    however the two writers interleave (select-then-update let both win on SQLite)."""
    with job_store.db.session() as session:
        org, _ = create_organization(session, "racing", "racing-owner")
    ends = (JobState.SUCCEEDED, JobState.CANCELLED)
    for _ in range(15):
        job = job_store.create(org_id=org.id, project=None, operation="test.race", created_by="t", instance_id="t")
        job_store.transition(job.id, JobState.RUNNING)
        won = _end_at_once(job_store, job.id, ends)
        assert len(won) == 1, won
        finals = [e.state for e in job_store.events_after(job.id, 0) if e.state in ends]
        assert finals == won
        row = job_store.get(job.id)
        assert row is not None and row.state == won[0].value
