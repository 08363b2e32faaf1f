"""The typed platform client: one core of requests and answers under the blocking and the
asynchronous transport, which must behave alike, against a live platform."""

from __future__ import annotations

import asyncio

import pytest

from codeforge import catalog
from codeforge.catalog import JobRef
from codeforge.catalog.errors import BadInput, NotFound, PlatformUnavailable, Unauthenticated
from codeforge.catalog.jobs import JobState
from codeforge.client import AsyncPlatformClient, PlatformClient
from tests.conftest import RunningPlatform, free_port


def test_both_transports_answer_with_the_operations_types(live_platform: RunningPlatform) -> None:
    project = live_platform.project
    with PlatformClient(live_platform.url, live_platform.token) as sync:
        made = sync.call(catalog.env.SET, {"project": project, "name": "TYPED", "value": "1"})
        assert isinstance(made, catalog.env.SET.output) and made.name == "TYPED"
        listed = sync.call("env.list", {"project": project})
        job = sync.call(catalog.env.IMPORT, {"project": project, "content": "FROM_JOB=1\n"})
        assert isinstance(job, JobRef)
        assert sync.wait(job.job_id).state == JobState.SUCCEEDED

    async def from_async() -> tuple[object, object]:
        client = AsyncPlatformClient(live_platform.url, live_platform.token)
        try:
            again = await client.call(catalog.env.LIST, {"project": project})
            job = await client.call(catalog.env.IMPORT, {"project": project, "content": "FROM_ASYNC=1\n"})
            assert isinstance(job, JobRef)
            return again, (await client.wait(job.job_id)).state
        finally:
            await client.aclose()

    again, state = asyncio.run(from_async())
    assert type(again) is type(listed) is catalog.env.LIST.output
    assert state == JobState.SUCCEEDED
    assert {"TYPED", "FROM_JOB"} <= {i.name for i in again.items}  # type: ignore[attr-defined]


def test_both_transports_fail_alike(live_platform: RunningPlatform) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    cases: list[tuple[str, str, str, dict[str, str], type[Exception]]] = [
        (live_platform.url, live_platform.token, "env.set", {"name": "1BAD", "value": "x"}, BadInput),
        (live_platform.url, live_platform.token, "env.reveal", {"project": "demo", "name": "ABSENT"}, NotFound),
        (live_platform.url, "", "env.list", {"project": "demo"}, Unauthenticated),
        (down, live_platform.token, "env.list", {"project": "demo"}, PlatformUnavailable),
    ]

    async def failure(url: str, token: str, name: str, data: dict[str, str]) -> type[Exception] | None:
        client = AsyncPlatformClient(url, token)
        try:
            await client.call(name, data)
        except Exception as exc:
            return type(exc)
        finally:
            await client.aclose()
        return None

    for url, token, name, data, error in cases:
        assert asyncio.run(failure(url, token, name, data)) is error
        with PlatformClient(url, token) as client, pytest.raises(error):
            client.call(name, data)
