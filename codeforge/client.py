"""Typed HTTP client of the platform, built on the catalog.

The CLI, the language server and the bridge reach platform state only through this.

There is one client, `_Exchanges`: it knows where the platform is, builds each request and
parses each answer (an operation's output type, a job, a problem as a `CodeForgeError`),
and does no I/O. `PlatformClient` (blocking, for the CLI and scripts) and
`AsyncPlatformClient` (for the language server and the bridge) are two thin transports
that send its requests; a new endpoint is one `_Exchanges` method and one line in each.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Generic, TypeVar, overload

import httpx
from httpx_sse import aconnect_sse, connect_sse
from pydantic import BaseModel, ValidationError

from codeforge.catalog import JobRef, Operation, operation
from codeforge.catalog.errors import BadInput, CodeForgeError, PlatformUnavailable, Unauthenticated
from codeforge.catalog.jobs import TERMINAL, Job, JobEvent
from codeforge.config import ClientConfig, load_client_config

__all__ = ["AsyncPlatformClient", "PlatformClient", "validate_input"]

API = "/api/v1"
DEFAULT_URL = "http://127.0.0.1:8470"

T = TypeVar("T")
In = TypeVar("In", bound=BaseModel)
Out = TypeVar("Out", bound=BaseModel)


def validate_input(op: Operation[Any, Any], data: BaseModel | dict[str, Any]) -> BaseModel:
    """Check input against the operation's model before it leaves the machine."""
    if isinstance(data, op.input):
        return data
    raw = data.model_dump() if isinstance(data, BaseModel) else data
    try:
        return op.input.model_validate(raw)
    except ValidationError as exc:
        raise BadInput.from_validation(exc, model=op.input) from None


def _check(response: httpx.Response) -> Any:
    """The answer's JSON, or the platform's problem as a CodeForgeError."""
    if response.is_success:
        return response.json()
    try:
        body = response.json()
    except ValueError:
        body = {"detail": response.text or response.reason_phrase}
    if not isinstance(body, dict):
        body = {"detail": str(body)}
    raise CodeForgeError.from_problem(body, response.status_code)


def _event(sse_data: str) -> JobEvent:
    return JobEvent.model_validate(json.loads(sse_data))


@dataclass(frozen=True)
class _Exchange(Generic[T]):
    """One request, and how to read its answer."""

    method: str
    path: str
    body: Any
    parse: Callable[[httpx.Response], T]


class _Exchanges:
    """Where the platform is and what to send it: the part both transports share."""

    def __init__(self, url: str | None, token: str | None) -> None:
        cfg = load_client_config() if url is None or token is None else ClientConfig()
        self.base_url = (url or cfg.url or DEFAULT_URL).rstrip("/")
        self.token = token or cfg.token

    def headers(self) -> dict[str, str]:
        if not self.token:
            raise Unauthenticated("no API token configured", fix="run `codeforge up` once, or set CODEFORGE_TOKEN")
        return {"Authorization": f"Bearer {self.token}"}

    def unavailable(self, exc: Exception) -> PlatformUnavailable:
        return PlatformUnavailable(
            f"cannot reach the platform at {self.base_url} ({type(exc).__name__})",
            fix="start it with `codeforge up`, or set CODEFORGE_URL to where it runs",
        )

    @staticmethod
    def call(op: Operation[Any, Any] | str, data: BaseModel | dict[str, Any]) -> _Exchange[Any]:
        resolved: Operation[Any, Any] = operation(op) if isinstance(op, str) else op
        body = validate_input(resolved, data).model_dump(mode="json")

        def parse(response: httpx.Response) -> Any:
            answer = _check(response)
            if resolved.long_running and response.status_code == 202:
                return JobRef.model_validate(answer)
            return resolved.output.model_validate(answer)

        return _Exchange("POST", resolved.path, body, parse)

    @staticmethod
    def catalog() -> _Exchange[list[dict[str, Any]]]:
        return _Exchange("GET", "/catalog", None, lambda r: list(_check(r)))

    @staticmethod
    def job(job_id: str) -> _Exchange[Job]:
        return _Exchange("POST", "/jobs/get", {"id": job_id}, lambda r: Job.model_validate(_check(r)))

    @staticmethod
    def cancel(job_id: str) -> _Exchange[Job]:
        return _Exchange("POST", "/jobs/cancel", {"id": job_id}, lambda r: Job.model_validate(_check(r)))

    @staticmethod
    def events_path(job_id: str) -> str:
        return f"{API}/jobs/{job_id}/events"


class PlatformClient:
    """Blocking transport, for the CLI and scripts."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0) -> None:
        self._x = _Exchanges(url, token)
        self.base_url = self._x.base_url
        self._http = httpx.Client(base_url=self.base_url, timeout=timeout)

    def __enter__(self) -> PlatformClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, exchange: _Exchange[T]) -> T:
        try:
            response = self._http.request(
                exchange.method, API + exchange.path, json=exchange.body, headers=self._x.headers()
            )
        except httpx.TransportError as exc:
            raise self._x.unavailable(exc) from None
        return exchange.parse(response)

    @overload
    def call(self, op: Operation[In, Out], data: In | dict[str, Any]) -> Out | JobRef: ...
    @overload
    def call(self, op: str, data: BaseModel | dict[str, Any]) -> Any: ...
    def call(self, op: Operation[Any, Any] | str, data: BaseModel | dict[str, Any]) -> Any:
        """Run an operation: its output (the operation's output type), or a JobRef for a
        long-running one. Input is checked against the operation's model before it is sent."""
        return self._send(self._x.call(op, data))

    def catalog(self) -> list[dict[str, Any]]:
        return self._send(self._x.catalog())

    def job(self, job_id: str) -> Job:
        return self._send(self._x.job(job_id))

    def cancel(self, job_id: str) -> Job:
        return self._send(self._x.cancel(job_id))

    def events(self, job_id: str) -> Iterator[JobEvent]:
        """A job's events from the first; ends when the job has ended."""
        try:
            with connect_sse(
                self._http, "GET", self._x.events_path(job_id), headers=self._x.headers(), timeout=None
            ) as source:
                if not source.response.is_success:
                    source.response.read()
                    _check(source.response)
                for sse in source.iter_sse():
                    # Keep-alive comments (": ping") after an event with an id come out of
                    # httpx-sse as events with empty data (it keeps the last id): skip them.
                    if sse.data:
                        yield _event(sse.data)
        except httpx.TransportError as exc:
            raise self._x.unavailable(exc) from None

    def wait(self, job_id: str) -> Job:
        for event in self.events(job_id):
            if event.state in TERMINAL:
                break
        return self.job(job_id)


class AsyncPlatformClient:
    """Non-blocking transport, for the language server and the bridge."""

    def __init__(self, url: str | None = None, token: str | None = None, *, timeout: float = 30.0) -> None:
        self._x = _Exchanges(url, token)
        self.base_url = self._x.base_url
        self._http = httpx.AsyncClient(base_url=self.base_url, timeout=timeout)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, exchange: _Exchange[T]) -> T:
        try:
            response = await self._http.request(
                exchange.method, API + exchange.path, json=exchange.body, headers=self._x.headers()
            )
        except httpx.TransportError as exc:
            raise self._x.unavailable(exc) from None
        return exchange.parse(response)

    @overload
    async def call(self, op: Operation[In, Out], data: In | dict[str, Any]) -> Out | JobRef: ...
    @overload
    async def call(self, op: str, data: BaseModel | dict[str, Any]) -> Any: ...
    async def call(self, op: Operation[Any, Any] | str, data: BaseModel | dict[str, Any]) -> Any:
        """Run an operation: its output (the operation's output type), or a JobRef for a
        long-running one. Input is checked against the operation's model before it is sent."""
        return await self._send(self._x.call(op, data))

    async def catalog(self) -> list[dict[str, Any]]:
        return await self._send(self._x.catalog())

    async def job(self, job_id: str) -> Job:
        return await self._send(self._x.job(job_id))

    async def cancel(self, job_id: str) -> Job:
        return await self._send(self._x.cancel(job_id))

    async def events(self, job_id: str) -> AsyncIterator[JobEvent]:
        """A job's events from the first; ends when the job has ended."""
        try:
            async with aconnect_sse(
                self._http, "GET", self._x.events_path(job_id), headers=self._x.headers(), timeout=None
            ) as source:
                if not source.response.is_success:
                    await source.response.aread()
                    _check(source.response)
                async for sse in source.aiter_sse():
                    if sse.data:  # not a keep-alive (see PlatformClient.events)
                        yield _event(sse.data)
        except httpx.TransportError as exc:
            raise self._x.unavailable(exc) from None

    async def wait(self, job_id: str) -> Job:
        async for event in self.events(job_id):
            if event.state in TERMINAL:
                break
        return await self.job(job_id)
