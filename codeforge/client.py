"""Typed HTTP client of the platform, built on the catalog.

The CLI, the language server and the bridge reach platform state only through this.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
from httpx_sse import aconnect_sse, connect_sse
from pydantic import BaseModel, ValidationError

from codeforge.catalog import JobRef, Operation, operation
from codeforge.catalog.errors import BadInput, CodeForgeError, PlatformUnavailable, Unauthenticated
from codeforge.catalog.jobs import TERMINAL, Job, JobEvent
from codeforge.config import ClientConfig, load_client_config

__all__ = ["AsyncPlatformClient", "PlatformClient", "validate_input"]

API = "/api/v1"


def validate_input(op: Operation[Any, Any], data: BaseModel | dict[str, Any]) -> BaseModel:
    """Check input against the operation's model before it leaves the machine."""
    if isinstance(data, op.input):
        return data
    raw = data.model_dump() if isinstance(data, BaseModel) else data
    try:
        return op.input.model_validate(raw)
    except ValidationError as exc:
        raise BadInput.from_validation(exc, model=op.input) from None


def _dump(data: BaseModel) -> dict[str, Any]:
    return data.model_dump(mode="json")


def _check(response: httpx.Response) -> Any:
    if response.is_success:
        return response.json()
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text or response.reason_phrase}
    if not isinstance(body, dict):
        body = {"detail": str(body)}
    raise CodeForgeError.from_problem(body, response.status_code)


def _parse(op: Operation[Any, Any], status: int, body: Any) -> BaseModel:
    if op.long_running and status == 202:
        return JobRef.model_validate(body)
    return op.output.model_validate(body)


def _unavailable(base_url: str, exc: Exception) -> PlatformUnavailable:
    return PlatformUnavailable(
        f"cannot reach the platform at {base_url} ({type(exc).__name__})",
        fix="start it with `codeforge up`, or set CODEFORGE_URL to where it runs",
    )


def _headers(token: str) -> dict[str, str]:
    if not token:
        raise Unauthenticated("no API token configured", fix="run `codeforge up` once, or set CODEFORGE_TOKEN")
    return {"Authorization": f"Bearer {token}"}


def _event(sse_data: str) -> JobEvent:
    return JobEvent.model_validate(json.loads(sse_data))


class PlatformClient:
    """Blocking client, for the CLI and scripts."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0) -> None:
        cfg = load_client_config() if url is None or token is None else ClientConfig()
        self.base_url = (url or cfg.url or "http://127.0.0.1:8470").rstrip("/")
        self._http = httpx.Client(base_url=self.base_url, headers=_headers(token or cfg.token), timeout=timeout)

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return self._http.request(method, API + path, **kw)
        except httpx.TransportError as exc:
            raise _unavailable(self.base_url, exc) from None

    def catalog(self) -> list[dict[str, Any]]:
        return list(_check(self._request("GET", "/catalog")))

    def call(self, op: Operation[Any, Any] | str, data: BaseModel | dict[str, Any]) -> BaseModel:
        """Run an operation: its output, or a JobRef for a long-running one."""
        op = operation(op) if isinstance(op, str) else op
        body = validate_input(op, data)
        response = self._request("POST", op.path, json=_dump(body))
        return _parse(op, response.status_code, _check(response))

    def events(self, job_id: str) -> Iterator[JobEvent]:
        """A job's events from the first; ends when the job has ended."""
        try:
            with connect_sse(self._http, "GET", f"{API}/jobs/{job_id}/events", timeout=None) as source:
                if not source.response.is_success:
                    source.response.read()
                    _check(source.response)
                for sse in source.iter_sse():
                    # Keep-alive comments (": ping") after an event with an id come out of
                    # httpx-sse as events with empty data (it keeps the last id): skip them.
                    if sse.data:
                        yield _event(sse.data)
        except httpx.TransportError as exc:
            raise _unavailable(self.base_url, exc) from None

    def job(self, job_id: str) -> Job:
        return Job.model_validate(_check(self._request("POST", "/jobs/get", json={"id": job_id})))

    def cancel(self, job_id: str) -> Job:
        return Job.model_validate(_check(self._request("POST", "/jobs/cancel", json={"id": job_id})))

    def wait(self, job_id: str) -> Job:
        for event in self.events(job_id):
            if event.state in TERMINAL:
                break
        return self.job(job_id)


class AsyncPlatformClient:
    """Non-blocking client, for the language server and the bridge."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0) -> None:
        cfg = load_client_config() if url is None or token is None else ClientConfig()
        self.base_url = (url or cfg.url or "http://127.0.0.1:8470").rstrip("/")
        self._token = token or cfg.token
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _request(self, method: str, path: str, **kw: Any) -> httpx.Response:
        try:
            return await self._http.request(method, API + path, headers=_headers(self._token), **kw)
        except httpx.TransportError as exc:
            raise _unavailable(self.base_url, exc) from None

    async def catalog(self) -> list[dict[str, Any]]:
        return list(_check(await self._request("GET", "/catalog")))

    async def call(self, op: Operation[Any, Any] | str, data: BaseModel | dict[str, Any]) -> BaseModel:
        op = operation(op) if isinstance(op, str) else op
        body = validate_input(op, data)
        response = await self._request("POST", op.path, json=_dump(body))
        return _parse(op, response.status_code, _check(response))

    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        try:
            async with aconnect_sse(
                self._http, "GET", f"{API}/jobs/{job_id}/events", headers=_headers(self._token), timeout=None
            ) as source:
                if not source.response.is_success:
                    await source.response.aread()
                    _check(source.response)
                async for sse in source.aiter_sse():
                    if sse.data:  # not a keep-alive (see PlatformClient.events)
                        yield _event(sse.data)
        except httpx.TransportError as exc:
            raise _unavailable(self.base_url, exc) from None

    async def job(self, job_id: str) -> Job:
        return Job.model_validate(_check(await self._request("POST", "/jobs/get", json={"id": job_id})))

    async def cancel(self, job_id: str) -> Job:
        return Job.model_validate(_check(await self._request("POST", "/jobs/cancel", json={"id": job_id})))
