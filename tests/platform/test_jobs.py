"""Jobs over real HTTP: progress as SSE, history replayed to late readers, cancellation, and a
platform restart while a job runs."""

from __future__ import annotations

import signal
import threading

import httpx
import pytest

from codeforge.catalog.jobs import JobState
from codeforge.client import PlatformClient
from tests.conftest import RunningPlatform

BIG = "\n".join(f"VAR_{i}=value-{i}" for i in range(200_000))


def start_import(client: PlatformClient, content: str) -> str:
    ref = client.call("env.import", {"project": "demo", "content": content})
    return ref.job_id  # type: ignore[attr-defined]


def test_progress_streams_to_the_end(live_platform: RunningPlatform) -> None:
    with live_platform.client() as client:
        job_id = start_import(client, "\n".join(f"K{i}={i}" for i in range(50)))
        events = list(client.events(job_id))
    kinds = [e.kind for e in events]
    assert [e.seq for e in events] == sorted(e.seq for e in events)
    assert events[0].state == JobState.QUEUED and events[-1].state == JobState.SUCCEEDED
    assert "progress" in kinds and "log" in kinds
    assert events[-1].result == {"imported": 50, "skipped": 0, "names": sorted(f"K{i}" for i in range(50))}


def test_late_reader_gets_history_first(live_platform: RunningPlatform) -> None:
    with live_platform.client() as client:
        job_id = start_import(client, "LATE=1")
        first = list(client.events(job_id))
        again = list(client.events(job_id))  # the job ended long ago
    assert [e.model_dump() for e in again] == [e.model_dump() for e in first]


def test_resume_with_last_event_id(live_platform: RunningPlatform) -> None:
    with live_platform.client() as client:
        job_id = start_import(client, "RESUME=1")
        all_events = list(client.events(job_id))
    response = httpx.get(
        f"{live_platform.url}/api/v1/jobs/{job_id}/events",
        headers={"Authorization": f"Bearer {live_platform.token}", "Last-Event-ID": "2"},
    )
    assert response.text.count("data:") == len(all_events) - 2


def test_cancel_a_running_job(live_platform: RunningPlatform) -> None:
    with live_platform.client() as client:
        job_id = start_import(client, BIG)
        for event in client.events(job_id):
            if event.kind == "progress":
                client.cancel(job_id)
                break
        final = client.wait(job_id)
        assert final.state == JobState.CANCELLED
        names = {v.name for v in client.call("env.list", {"project": "demo"}).items}  # type: ignore[attr-defined]
    assert not any(n.startswith("VAR_") for n in names), "a cancelled import must change nothing"


def test_cancel_finished_job_is_harmless(live_platform: RunningPlatform) -> None:
    with live_platform.client() as client:
        job_id = start_import(client, "DONE=1")
        client.wait(job_id)
        assert client.cancel(job_id).state == JobState.SUCCEEDED


def test_unknown_job(live_platform: RunningPlatform) -> None:
    from codeforge.catalog.errors import NotFound

    with live_platform.client() as client, pytest.raises(NotFound, match="no job"):
        list(client.events("does-not-exist"))


def test_restart_while_a_job_runs(platform_factory) -> None:  # type: ignore[no-untyped-def]
    running: RunningPlatform = platform_factory()
    with running.client() as client:
        job_id = start_import(client, BIG)
        for event in client.events(job_id):
            if event.kind == "progress":
                break
    running.kill()
    running.start()
    with running.client() as client:
        job = client.job(job_id)
        events = list(client.events(job_id))
        names = {v.name for v in client.call("env.list", {"project": "demo"}).items}  # type: ignore[attr-defined]
    assert job.state == JobState.FAILED
    assert job.error and "restarted" in job.error
    assert events[-1].state == JobState.FAILED
    assert not any(n.startswith("VAR_") for n in names)


def test_concurrent_readers_see_the_same_stream(live_platform: RunningPlatform) -> None:
    with live_platform.client() as client:
        job_id = start_import(client, "\n".join(f"C{i}=x" for i in range(20_000)))
    seen: list[list[int]] = []

    def read() -> None:
        with live_platform.client() as reader:
            seen.append([e.seq for e in reader.events(job_id)])

    threads = [threading.Thread(target=read) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert len(seen) == 3 and seen[0] == seen[1] == seen[2]


def test_sigterm_drains_then_interrupts_running_jobs(platform_factory) -> None:  # type: ignore[no-untyped-def]
    """SIGTERM with a 300,000-line import running and its stream open: new operations get 503
    with Retry-After at once, the job gets the grace period, then is cancelled saying why, its
    stream ends, and the process exits (the import alone runs far longer than the timeout)."""
    running: RunningPlatform = platform_factory(CODEFORGE_SHUTDOWN_GRACE_SECONDS="3")
    assert running.process is not None
    content = "\n".join(f"VAR_{i}=value-{i}" for i in range(300_000))
    auth = {"Authorization": f"Bearer {running.token}"}
    with running.client() as client:
        job_id = start_import(client, content)
        stream = iter(client.events(job_id))
        next(e for e in stream if e.kind == "progress")
        running.process.send_signal(signal.SIGTERM)
        warned = next(e for e in stream if e.kind == "log" and "shutting down" in e.message)
        refused = httpx.post(f"{running.url}/api/v1/env/list", json={"project": "demo"}, headers=auth)
        health = httpx.get(f"{running.url}/healthz")  # a load balancer stops sending work here
        rest = list(stream)  # ends when the job does
    assert "3 s" in warned.message
    assert refused.status_code == 503, refused.text
    assert int(refused.headers["Retry-After"]) > 0
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "shutting down" in refused.json()["detail"]
    assert health.status_code == 503, health.text
    final = rest[-1]
    assert final.state == JobState.CANCELLED and "interrupted by shutdown" in final.message
    running.process.wait(timeout=30)  # exits on its own: grace + cancel, not the import's ~40 s
    running.process = None
    running.start()
    with running.client() as client:
        job = client.job(job_id)
        names = {v.name for v in client.call("env.list", {"project": "demo"}).items}  # type: ignore[attr-defined]
    assert job.state == JobState.CANCELLED and "interrupted by shutdown" in job.message
    assert not any(n.startswith("VAR_") for n in names), "an interrupted import keeps nothing"
